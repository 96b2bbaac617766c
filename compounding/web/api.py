"""The bench's JSON API, ``/api/v1`` (OpenAPI document at ``/api/v1/openapi.json``).

Shapes are the CLI's ``--json`` shapes (the same functions build them; Decimal amounts as
exact text, dates ISO). Errors are ``{"error": "<the CLI's message>"}`` with the status of
:func:`compounding.web.app.status_for`.

Who may call:
- a script with a per-user API token (``compounding users token NAME``) in
  ``Authorization: Bearer <token>``: read-only, unless the JSON body also carries that
  user's ``passphrase``, which is checked like a signature (wrong ones count toward lockout);
- the bench's own pages with the session cookie: reads, and writes that carry the session's
  CSRF token in the ``X-CSRF-Token`` header (signatures still need ``passphrase``).
No secret is ever taken from the URL.
"""



from dataclasses import dataclass
from typing import Optional

from ..errors import CompoundingError, InputError, RefusedError
from . import actions
from .common import SESSION_COOKIE, dumps, status_for, validation_message
from .loop import on_loop

TOKEN_SCHEME = "Bearer"


@dataclass
class Caller:
    name: str
    role: str
    via: str  # "token" or "session"
    csrf: str | None = None


def create_api(bench):
    from fastapi import Body, FastAPI, Request
    from fastapi.responses import Response
    from pydantic import BaseModel, ConfigDict, Field

    from ..store import approvals, dispensing, lotid, signoff, users

    api = FastAPI(title="Compounding bench API", version="1", openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="The CLI's --json shapes over HTTP. Amounts are exact decimal "
                              "text with their unit; no float is ever used for a dose.")

    class JSON(Response):
        media_type = "application/json"

        def render(self, content) -> bytes:
            return dumps(content)

    def error(status: int, message: str) -> JSON:
        return JSON({"error": message}, status_code=status)

    @api.exception_handler(CompoundingError)
    async def _library_error(request, exc: CompoundingError):
        return error(status_for(exc), str(exc))

    class Unauthorized(Exception):
        def __init__(self, message: str):
            self.message = message

    @api.exception_handler(Unauthorized)
    async def _unauthorized(request, exc: Unauthorized):
        resp = error(401, exc.message)
        resp.headers["WWW-Authenticate"] = TOKEN_SCHEME
        return resp

    from fastapi.exceptions import RequestValidationError

    from starlette.exceptions import HTTPException

    @api.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        # no such endpoint or method: the same {"error": ...} shape as every other refusal
        path = request.url.path
        if exc.status_code == 404:
            message = f"no API endpoint at {path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed at {path}"
        else:
            message = str(exc.detail)
        return error(exc.status_code, message)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        return error(400, validation_message(exc.errors()))

    # ------------------------------------------------------------ who is calling

    def caller(request: Request) -> Caller:
        auth = request.headers.get("authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme != TOKEN_SCHEME or not token.strip():
                raise Unauthorized("Authorization: use 'Bearer <token>' (compounding users "
                                   "token NAME makes one)")
            try:
                from ..store import tokens
            except ImportError:
                raise Unauthorized("API tokens are not available in this version") from None
            with bench.store() as store:
                try:
                    user = tokens.user_for_token(store, token.strip())
                except CompoundingError as exc:
                    raise Unauthorized(str(exc)) from None
            return Caller(user["name"], user["role"], "token")
        s = bench.sessions.get(request.cookies.get(SESSION_COOKIE))
        if s is None or s.user is None:
            raise Unauthorized("sign in at the bench, or send an API token "
                               "(Authorization: Bearer <token>)")
        with bench.store() as store:
            user = users.get_user(store, s.user)
        if user is None or users.user_state(user) != "active":
            bench.sessions.drop(s.sid)
            raise Unauthorized("your session ended (user no longer active); sign in again")
        return Caller(user["name"], user["role"], "session", s.csrf)

    def writer(request: Request, passphrase: str | None, purpose: str) -> Caller:
        """A caller allowed to write: a session with its CSRF header, or a token with the
        user's passphrase (checked now, counted toward lockout)."""
        from .sessions import same
        c = caller(request)
        if c.via == "session":
            if not same(request.headers.get("x-csrf-token"), c.csrf):
                raise RefusedError("write refused: the X-CSRF-Token header is missing or "
                                   "wrong")
            return c
        if not passphrase:
            raise RefusedError(f"API tokens are read-only: send the passphrase of {c.name} "
                               "in the JSON body to write")
        with bench.store() as store:
            users.authenticate(store, c.name, passphrase, f"api: {purpose}")
        return c

    # ------------------------------------------------------------ request bodies

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class BatchIn(Strict):
        formula: str = Field(description="Formula id, e.g. ldn-capsules")
        quantity: str = Field(description="Batch size with its unit: '100' capsules, '100 mL'")
        strength: Optional[str] = Field(None, description="e.g. '1.5 mg', '1 mg/mL'")
        filler: Optional[str] = None
        capsule_size: Optional[str] = None
        storage: Optional[str] = Field(None, description="refrigerated or room")
        component_lots: dict[str, str] = Field(default_factory=dict,
                                               description="ingredient id -> supplier lot")
        confirm_strength: bool = Field(False, description="--confirm-strength: a strength "
                                       "that reads like the usual one in the other unit "
                                       "(1.5 mcg beside 1.5 mg) is meant")
        passphrase: Optional[str] = Field(None, description="Required with an API token")

    class WeighIn(Strict):
        step: Optional[int] = Field(None, ge=1)
        ingredient: Optional[str] = None
        amount: Optional[str] = Field(None, description="Amount weighed with its unit, e.g. "
                                      "'121.5 mg' (or from_balance)")
        from_balance: Optional[str] = Field(None, description="Read the amount from this "
                                            "balance of the settings' [balances] (a stable "
                                            "reading; its serial number is recorded)")
        scan: Optional[str] = Field(None, description="What the scanner typed at the "
                                    "container (checked before anything is recorded)")
        component_lot: Optional[str] = None
        deviation_reason: Optional[str] = None
        reweigh_reason: Optional[str] = None
        passphrase: Optional[str] = None

    class SignIn(Strict):
        passphrase: str = Field(description="The signer's passphrase (asked at every "
                                            "signature)")
        reason: Optional[str] = None

    class LabelsIn(Strict):
        template: Optional[str] = "batch-thermal"
        copies: Optional[int] = Field(1, ge=1, le=10000)
        start_position: Optional[int] = Field(1, ge=1, le=10000)
        printer: Optional[str] = Field(None, description="A printer of the settings' "
                                                         "[printers]; none: a PDF")
        passphrase: Optional[str] = None

    class ReceiveIn(Strict):
        ingredient: str
        lot: str
        expires: str = Field(description="YYYY-MM-DD, or YYYY-MM for the month's last day")
        quantity: str = Field(description="with its unit, e.g. '25 g'")
        potency: Optional[str] = Field(None, description="e.g. '99.2%'")
        manufacturer: Optional[str] = None
        passphrase: Optional[str] = None

    # ------------------------------------------------------------ reads

    @api.get("/me", summary="Who is calling")
    @on_loop  # bounded reads (.loop)
    def me(request: Request):
        c = caller(request)
        return JSON({"name": c.name, "role": c.role, "via": c.via})

    @api.get("/batches", summary="compounding batch list --json")
    def batches(request: Request, status: Optional[str] = None):
        caller(request)
        with bench.store() as store:
            return JSON(store.list_batches(status))

    @api.get("/batches/{lot}", summary="compounding batch show LOT --json")
    @on_loop
    def batch(request: Request, lot: str):
        caller(request)
        with bench.store() as store:
            return JSON(store.get_batch(lot))

    @api.get("/batches/{lot}/steps/{step}/check",
             summary="Dry run of a weighing: where the amount stands (nothing stored)")
    def check(request: Request, lot: str, step: int, amount: str = "",
              component_lot: str = "", deviation_reason: str = "", scan: str = ""):
        c = caller(request)
        with bench.store() as store:
            return JSON(actions.check_weighing(bench, store, c.name, lot, step=str(step),
                                               amount=amount, component_lot=component_lot,
                                               deviation_reason=deviation_reason, scan=scan))

    @api.get("/batches/{lot}/steps/{step}/scan",
             summary="What a scan at this step identifies, checked as the weighing will "
                     "check it (nothing stored)")
    def scan_check(request: Request, lot: str, step: int, code: str = ""):
        caller(request)
        with bench.store() as store:
            return JSON(actions.check_scan(bench, store, lot, step=str(step), code=code))

    @api.get("/balances", summary="The balances of the settings ([balances.NAME])")
    def balances(request: Request):
        caller(request)
        from .. import units as u
        return JSON([{"name": name, "protocol": b.protocol, "model": b.model,
                      "serial_number": b.serial_number, "readability": u.fmt(b.readability),
                      "min_weighable": u.fmt(b.min_weighable)}
                     for name, b in sorted(bench.settings.balances.items())])

    @api.get("/plan", summary="compounding plan --json, plus the plan as text")
    def plan(request: Request, formula: str = "", quantity: str = "", strength: str = "",
             filler: str = "", capsule_size: str = "", confirm_strength: bool = False):
        caller(request)
        from ..plan import render_plan_text
        result = actions.plan_preview(bench, formula, quantity, strength, filler, capsule_size,
                                      confirm_strength)
        return JSON({**result.as_json(), "text": render_plan_text(result)})

    @api.get("/inventory", summary="compounding inventory list --json")
    def inventory(request: Request, ingredient: Optional[str] = None,
                  expiring_within: Optional[int] = None, all: bool = False):
        caller(request)
        from ..shapes import lot_json
        with bench.store() as store:
            lots = store.lots(ingredient=ingredient, expiring_within=expiring_within,
                              include_empty=all or expiring_within is not None)
        return JSON([lot_json(x) for x in lots])

    @api.get("/recall", summary="compounding recall LOT --json (or batch=LOT)")
    def recall(request: Request, lot: Optional[str] = None, batch: Optional[str] = None,
               ingredient: Optional[str] = None):
        caller(request)
        if (lot is None) == (batch is None):
            raise InputError("give a supplier lot (lot=) or a batch (batch=), not both")
        with bench.store() as store:
            if batch is not None:
                return JSON(dispensing.recall_batch(store, batch))
            return JSON(dispensing.recall_component(store, actions.typed(lot, "recall lot")
                                                    or "", ingredient))

    @api.get("/audit", summary="compounding audit --json")
    def audit(request: Request, batch: Optional[str] = None, user: Optional[str] = None,
              since: Optional[str] = None):
        caller(request)
        from ..dates import parse_date
        if batch is not None:
            batch = lotid.validate_lot_id(batch, "batch")
        start = parse_date(since, "since").isoformat() if since else None
        with bench.store() as store:
            return JSON(store.audit_log(lot_id=batch, actor=user, since=start))

    # ------------------------------------------------------------ writes

    @api.post("/batches", status_code=201, summary="compounding batch create --json")
    def create(request: Request, body: BatchIn):
        c = writer(request, body.passphrase, "create batch")
        with bench.store() as store:
            rec = actions.create_batch(bench, store, c.name, formula_id=body.formula,
                                       quantity=body.quantity, strength=body.strength,
                                       filler=body.filler, capsule_size=body.capsule_size,
                                       storage=body.storage,
                                       component_lots=body.component_lots,
                                       confirm_strength=body.confirm_strength)
        return JSON(rec, status_code=201)

    @api.post("/batches/{lot}/weighings", status_code=201,
              summary="compounding batch weigh --json")
    def weigh(request: Request, lot: str, body: WeighIn):
        c = writer(request, body.passphrase, f"weigh for batch {lot}")
        with bench.store() as store:
            done = actions.weigh(bench, store, c.name, lot, step=body.step,
                                 amount=body.amount, ingredient=body.ingredient,
                                 component_lot=body.component_lot,
                                 deviation_reason=body.deviation_reason,
                                 reweigh_reason=body.reweigh_reason, scan=body.scan,
                                 balance=body.from_balance,
                                 from_balance=body.from_balance is not None)
        return JSON(done.weighing, status_code=201)

    @api.post("/batches/{lot}/labels", status_code=201,
              summary="compounding labels print --json (the PDF at output)")
    def labels(request: Request, lot: str, body: LabelsIn):
        c = writer(request, body.passphrase, f"print labels for batch {lot}")
        with bench.store() as store:
            result = actions.print_labels(bench, store, c.name, lot, template_id=body.template,
                                          copies=str(body.copies or 1),
                                          start_position=str(body.start_position or 1),
                                          printer=body.printer)
        out = result.as_json()
        if not getattr(result, "printer", None):
            out["download"] = (f"/batches/{result.record['lot_id']}/prints/"
                               f"{result.record['id']}.pdf")
        return JSON(out, status_code=201)

    @api.post("/inventory", status_code=201, summary="compounding inventory receive --json")
    def receive(request: Request, body: ReceiveIn):
        c = writer(request, body.passphrase, "receive stock")
        with bench.store() as store:
            return JSON(actions.receive(bench, store, c.name, ingredient=body.ingredient,
                                        lot_number=body.lot, expires=body.expires,
                                        quantity=body.quantity, potency=body.potency,
                                        manufacturer=body.manufacturer), status_code=201)

    def signature(meaning: str):
        def route(request: Request, lot: str, body: SignIn):
            from .sessions import same
            c = caller(request)
            if c.via == "session" and not same(request.headers.get("x-csrf-token"), c.csrf):
                raise RefusedError("write refused: the X-CSRF-Token header is missing or "
                                   "wrong")
            with bench.store() as store:
                # the library checks the passphrase: a signature is an act, not a session
                return JSON(actions.sign(store, c.name, body.passphrase, lot, meaning,
                                         reason=body.reason))
        route.__name__ = f"batch_{meaning}"
        return route

    for meaning in ("verify", "release", "reject", "quarantine"):
        api.post(f"/batches/{{lot}}/{meaning}",
                 summary=f"compounding batch {meaning} --json (signed)")(signature(meaning))

    return api
