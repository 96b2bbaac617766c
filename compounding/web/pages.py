"""The bench's pages: server-rendered Jinja2 (autoescaped), plain HTML forms.

Every form post carries the session's CSRF token (checked before anything else); every page
but sign-in needs a live session whose user is still active (checked in the store on every
request, so a deactivated or locked user is signed out at their next click). Signatures ask
for the passphrase in the form itself. Roles are the library's: the pages hide what a role
may not do, and the server refuses it anyway with the CLI's message.
"""



import json
from datetime import date
from pathlib import Path

from ..errors import CompoundingError, InputError, RefusedError
from . import actions
from . import error_pages
from .common import SESSION_COOKIE, status_for
from .error_pages import PageError, Redirect
from .loop import on_loop
from .site_view import site_view

#: Batches shown per open status in the queue (newest first; today's on top).
QUEUE_LIMIT = 50
#: Batches shown per closed status (released, rejected): they are history, not work; the
#: scan field opens any batch. Fewer rows keep the page fast (docs/bench.md, Measured).
QUEUE_CLOSED_LIMIT = 10
#: Lots listed on an inventory page (earliest expiry first; ?page=N for more); each costs
#: three exact sums, so a page stays fast on ten years of records.
INVENTORY_LIMIT = 50
#: Days before expiry at which a component lot is highlighted on the inventory page.
EXPIRY_WARN_DAYS = 30


def register(app, bench) -> None:
    from fastapi import Form, Request
    from fastapi.responses import HTMLResponse, RedirectResponse, Response

    from ..store import approvals, device_records, dispensing, lotid, signoff, users
    from ..weighing import balance_names

    from .rendering import environment
    env = environment()

    # ------------------------------------------------------------ plumbing

    def session_of(request: Request):
        return bench.sessions.get(request.cookies.get(SESSION_COOKIE))

    def render(request, name: str, status: int = 200, session=None, user=None,
               **ctx) -> HTMLResponse:
        flash = []
        if session is not None and session.flash:  # taken (a write) only when there is one
            flash, session.flash = session.flash, []
        html = env.get_template(name).render(
            request=request, user=user, csrf=session.csrf if session else "",
            flash=flash, pharmacy=bench.settings.pharmacy, error=ctx.pop("error", None),
            **ctx)
        return HTMLResponse(html, status_code=status)

    def signed_in(request: Request):
        """(session, user row) of a live session, else a redirect to sign-in."""
        s = session_of(request)
        if s is None and request.cookies.get(SESSION_COOKIE):
            # a session that ended under the person (idle timeout, restart): say so, and that
            # a form they sent did nothing, instead of a bare sign-in page
            raise Redirect("/login?ended=1")
        if s is None or s.user is None:
            raise Redirect("/login")
        with bench.store() as store:
            user = users.get_user(store, s.user)
        if user is None or users.user_state(user) != "active":
            bench.sessions.drop(s.sid)
            raise Redirect("/login")
        return s, user

    def check_csrf(session, token: str) -> None:
        from .sessions import same
        if not same(token, session.csrf):
            raise PageError(403, "form refused: its CSRF token is missing or wrong (reload "
                                 "the page and try again)")

    def pharmacist_only(user, what: str) -> None:
        if user["role"] != "pharmacist":
            raise PageError(403, f"{user['name']} is a {user['role']}; only a pharmacist may "
                                 f"{what}")

    def error_page(request, status: int, message: str):
        s = session_of(request)
        return render(request, "error.html", status=status, session=s,
                      user={"name": s.user} if s and s.user else None, message=message)

    error_pages.install(app, error_page)

    def done(session, message: str, url: str) -> RedirectResponse:
        session.flash.append(("ok", message))
        return RedirectResponse(url, status_code=303)

    # ------------------------------------------------------------ sign-in

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, ended: str = ""):
        s = session_of(request)
        if s is not None and s.user:
            return RedirectResponse("/", status_code=303)
        if s is None:
            s = bench.sessions.new()
        error = None
        if ended:
            minutes = bench.settings.web.session_idle_minutes
            error = (f"your session ended (no request for more than {minutes} minutes, or "
                     "the bench was restarted); nothing was recorded from a form you sent "
                     "after that: sign in and enter it again")
        resp = render(request, "login.html", session=s, error=error)
        _set_cookie(request, resp, s.sid)
        return resp

    @app.post("/login", response_class=HTMLResponse)
    def login(request: Request, user: str = Form(""), passphrase: str = Form(""),
              csrf_token: str = Form("")):
        s = session_of(request)
        if s is None:  # expired or no pre-session: a fresh form
            s = bench.sessions.new()
            resp = render(request, "login.html", status=403, session=s,
                          error="sign-in form expired; type your user name and passphrase "
                                "again")
            _set_cookie(request, resp, s.sid)
            return resp
        check_csrf(s, csrf_token)
        name = user.strip()
        try:
            if not name:
                raise InputError("user: type your user name")
            from ..text import normalize
            name = normalize(user, "user", kind="identifier")  # as the CLI's --by
            with bench.store() as store:
                u = users.authenticate(store, name, passphrase, "bench sign-in")
        except CompoundingError as exc:
            return render(request, "login.html", status=status_for(exc), session=s,
                          error=str(exc), typed_user=name)
        bench.sessions.drop(s.sid)  # a new id after sign-in (no session fixation)
        fresh = bench.sessions.new(u["name"])
        resp = RedirectResponse("/", status_code=303)
        _set_cookie(request, resp, fresh.sid)
        return resp

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")):
        s = session_of(request)
        if s is not None:
            check_csrf(s, csrf_token)
            bench.sessions.drop(s.sid)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # ------------------------------------------------------------ queue and scan

    @app.get("/", response_class=HTMLResponse)
    @on_loop  # bounded reads (.loop)
    def queue(request: Request, all_sites: str = ""):
        s, user = signed_in(request)
        with bench.store() as store:
            today = store.today().isoformat()
            where, params, note = site_view(store, all_sites)
            mine = "".join(" AND " + w for w in where)
            groups = []
            for status in ("planned", "compounded", "quarantine", "released", "rejected"):
                limit = QUEUE_CLOSED_LIMIT if status in ("released", "rejected") else \
                    QUEUE_LIMIT
                # newest first, so today's first (the index batches_status_day serves it);
                # only the columns shown: a batch row is ~10 kB (plan and snapshots) and the
                # columns after the first kilobytes are read through its overflow pages
                rows = store.rows("SELECT lot_id, formula_id, strength, quantity, "
                                  "compounded_on, bud, steps_planned, steps_weighed "
                                  f"FROM batch_summary s WHERE status = ?{mine} "
                                  "ORDER BY compounded_on DESC, lot_id DESC LIMIT ?",
                                  [status, *params, limit])
                groups.append((status, rows, limit))
        return render(request, "queue.html", session=s, user=user, groups=groups, today=today,
                      site_note=note, all_sites=all_sites == "1", site=bench.settings.site)

    @app.get("/scan")
    @on_loop
    def scan(request: Request, code: str = ""):
        s, user = signed_in(request)
        from .scan import lot_from_scan
        try:
            with bench.store() as store:
                today = store.today()
            lot = lot_from_scan(code, today, bench.settings.gtins.values())
        except CompoundingError as exc:
            s.flash.append(("error", str(exc)))
            return RedirectResponse("/", status_code=303)
        return RedirectResponse(f"/batches/{lot}", status_code=303)

    # ------------------------------------------------------------ new batch

    def formulas_ctx():
        reg = bench.registry
        return [{"id": f.id, "name": f.name, "dosage_form": f.dosage_form,
                 "storage": list(f.storage.conditions)} for f in
                sorted(reg.formulas.values(), key=lambda f: f.id)]

    @app.get("/batches/new", response_class=HTMLResponse)
    def new_batch_page(request: Request, formula: str = ""):
        s, user = signed_in(request)
        return render(request, "new_batch.html", session=s, user=user,
                      formulas=formulas_ctx(), form={"formula": formula})

    @app.post("/batches", response_class=HTMLResponse)
    def new_batch(request: Request, csrf_token: str = Form(""), formula: str = Form(""),
                  quantity: str = Form(""), strength: str = Form(""), filler: str = Form(""),
                  capsule_size: str = Form(""), storage: str = Form(""),
                  confirm_strength: str = Form("")):
        s, user = signed_in(request)
        check_csrf(s, csrf_token)
        form = {"formula": formula, "quantity": quantity, "strength": strength,
                "filler": filler, "capsule_size": capsule_size, "storage": storage,
                "confirm_strength": confirm_strength}
        try:
            with bench.store() as store:
                rec = actions.create_batch(bench, store, user["name"], formula_id=formula,
                                           quantity=quantity, strength=strength, filler=filler,
                                           capsule_size=capsule_size, storage=storage,
                                           confirm_strength=confirm_strength)
        except CompoundingError as exc:
            return render(request, "new_batch.html", status=status_for(exc), session=s,
                          user=user, formulas=formulas_ctx(), form=form, error=str(exc))
        return done(s, f"Batch {rec['lot_id']} created: {rec['strength']}, {rec['quantity']}",
                    f"/batches/{rec['lot_id']}")

    # ------------------------------------------------------------ the batch page

    def batch_ctx(store, lot: str) -> dict:
        rec = device_records.with_sources(store, store.get_batch(lot))
        plan_text = store.one("SELECT plan_text FROM batches WHERE lot_id = ?",
                              [rec["lot_id"]])["plan_text"]
        latest = {}
        for w in rec["weighings"]:
            latest[w["step"]] = w
        planned_lot = {c["ingredient"]: c["lot_number"] for c in rec["components"]}
        steps = [{**st, "weighing": latest.get(st["step"]),
                  "planned_lot": planned_lot.get(st["ingredient"])} for st in rec["steps"]]
        templates = bench.templates()
        tpl = [{"id": t.id, "kind": t.kind, "name": t.name,
                "per_page": t.summary().get("labels_per_page")}
               for t in sorted(templates.templates.values(), key=lambda t: t.id)]
        tolerance = rec["formula_snapshot"].get("weighing_tolerance")
        return {"rec": rec, "plan_text": plan_text, "steps": steps, "templates": tpl,
                "printers": actions.printers(bench, "batch-thermal"),
                "tolerance": tolerance, "open": rec["status"] in ("planned", "compounded"),
                "balances": balance_names(bench.settings)}

    def batch_page(request, s, user, lot, status=200, error=None, form=None):
        with bench.store() as store:
            ctx = batch_ctx(store, lot)
        return render(request, "batch.html", status=status, session=s, user=user,
                      error=error, form=form or {}, **ctx)

    @app.get("/batches/{lot}", response_class=HTMLResponse)
    @on_loop
    def batch(request: Request, lot: str):
        s, user = signed_in(request)
        lot = lotid.validate_lot_id(lot)
        return batch_page(request, s, user, lot)

    @app.post("/batches/{lot}/labels", response_class=HTMLResponse)
    def labels(request: Request, lot: str, csrf_token: str = Form(""),
               template: str = Form(""), copies: str = Form(""),
               start_position: str = Form(""), printer: str = Form("")):
        s, user = signed_in(request)
        check_csrf(s, csrf_token)
        lot = lotid.validate_lot_id(lot)
        try:
            with bench.store() as store:
                result = actions.print_labels(bench, store, user["name"], lot,
                                              template_id=template, copies=copies,
                                              start_position=start_position, printer=printer)
        except CompoundingError as exc:
            return batch_page(request, s, user, lot, status=status_for(exc), error=str(exc),
                              form={"template": template, "copies": copies,
                                    "start_position": start_position, "printer": printer})
        pid = result.record["id"]
        where = (f"sent to printer {result.printer} ({result.sent})"
                 if getattr(result, "printer", None) else "printed to PDF")
        s.flash.append(("ok", f"Labels {where} ({result.labels} label"
                              f"{'s' if result.labels != 1 else ''}, template "
                              f"{result.template.id} v{result.template.version}"
                              f"{', recorded as a REPRINT' if result.reprint else ''})"))
        if not getattr(result, "printer", None):
            s.flash.append(("download", f"/batches/{lot}/prints/{pid}.pdf"))
        return RedirectResponse(f"/batches/{lot}#labels", status_code=303)

    @app.post("/batches/{lot}/dispense", response_class=HTMLResponse)
    def dispense(request: Request, lot: str, csrf_token: str = Form(""),
                 patient: str = Form(""), directions: str = Form(""),
                 prescriber: str = Form(""), rx: str = Form(""), quantity: str = Form(""),
                 template: str = Form("")):
        s, user = signed_in(request)
        check_csrf(s, csrf_token)
        lot = lotid.validate_lot_id(lot)
        form = {"patient": patient, "directions": directions, "prescriber": prescriber,
                "rx": rx, "dispense_quantity": quantity, "dispense_template": template}
        try:
            with bench.store() as store:
                result = actions.dispense(bench, store, user["name"], lot, patient=patient,
                                          directions=directions, prescriber=prescriber,
                                          rx_number=rx, quantity=quantity,
                                          template_id=template)
        except CompoundingError as exc:
            return batch_page(request, s, user, lot, status=status_for(exc), error=str(exc),
                              form=form)
        pid = result.record["id"]
        from ..store.dispensing import remaining_text
        again = (", recorded as a REPRINT (this Rx was dispensed from this lot before; not "
                 "counted again)" if result.reprint else "")
        totals = result.record.get("dispensing")
        left = f". {remaining_text(lot, totals)}" if totals else ""
        s.flash.append(("ok", f"Dispensing label printed to PDF for {patient.strip()} "
                              f"(Rx {rx.strip()}){again}{left}"))
        s.flash.append(("download", f"/batches/{lot}/prints/{pid}.pdf"))
        return RedirectResponse(f"/batches/{lot}#dispense", status_code=303)

    def pdf(name: str, data: bytes) -> Response:
        return Response(data, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/batches/{lot}/prints/{print_id}.pdf")
    def printed(request: Request, lot: str, print_id: str):
        signed_in(request)
        with bench.store() as store:
            return pdf(*actions.printed_pdf(store, lot, print_id))

    @app.get("/batches/{lot}/labels/preview.png")
    def label_preview(request: Request, lot: str, template: str = "", printer: str = ""):
        signed_in(request)
        with bench.store() as store:
            png = actions.label_preview(bench, store, lot, template, printer)
        return Response(png, media_type="image/png")

    @app.get("/batches/{lot}/worksheet.pdf")
    def worksheet(request: Request, lot: str):
        signed_in(request)
        with bench.store() as store:
            return pdf(*actions.worksheet_pdf(bench, store, lotid.validate_lot_id(lot)))

    # ------------------------------------------------------------ verification

    def verify_ctx(store, lot: str, user: dict) -> dict:
        ctx = batch_ctx(store, lot)
        rec = ctx["rec"]
        checks = []
        if user["role"] == "pharmacist" and rec["status"] in ("planned", "compounded"):
            # the same checklist `batch verify` signs, shown before signing (no writes)
            checks = [c.as_json() for c in signoff.checklist(store, rec["lot_id"], user)]
        ctx["checks"] = checks
        ctx["strength"] = actions.strength_view(rec)
        return ctx

    def verify_page(request, s, user, lot, status=200, error=None, form=None):
        with bench.store() as store:
            ctx = verify_ctx(store, lot, user)
        return render(request, "verify.html", status=status, session=s, user=user,
                      error=error, form=form or {}, **ctx)

    @app.get("/batches/{lot}/verify", response_class=HTMLResponse)
    @on_loop
    def verify_screen(request: Request, lot: str):
        s, user = signed_in(request)
        lot = lotid.validate_lot_id(lot)
        return verify_page(request, s, user, lot)

    def signature_route(meaning: str, word: str):
        def route(request: Request, lot: str, csrf_token: str = Form(""),
                  passphrase: str = Form(""), reason: str = Form("")):
            s, user = signed_in(request)
            check_csrf(s, csrf_token)
            lot_ok = lotid.validate_lot_id(lot)
            try:
                with bench.store() as store:
                    result = actions.sign(store, user["name"], passphrase, lot_ok, meaning,
                                          reason=reason)
            except CompoundingError as exc:
                return verify_page(request, s, user, lot_ok, status=status_for(exc),
                                   error=str(exc), form={"reason": reason, "meaning": meaning})
            if meaning == "verify" and not result["passed"]:
                failed = sum(1 for c in result["checks"] if not c["passed"])
                s.flash.append(("error", f"verification failed ({failed} check"
                                         f"{'s' if failed != 1 else ''}); batch {lot_ok} "
                                         "cannot be released"))
                return RedirectResponse(f"/batches/{lot_ok}/verify", status_code=303)
            return done(s, f"Batch {lot_ok} {word} (signed by {user['name']})",
                        f"/batches/{lot_ok}/verify")
        route.__name__ = f"sign_{meaning}"
        return route

    for meaning, word in (("verify", "verified"), ("release", "released"),
                          ("reject", "rejected"), ("quarantine", "put on hold"),
                          ("lift", "hold lifted")):
        app.post(f"/batches/{{lot}}/{meaning}", response_class=HTMLResponse)(
            signature_route(meaning, word))

    @app.get("/verification", response_class=HTMLResponse)
    @on_loop
    def verification_queue(request: Request, all_sites: str = ""):
        s, user = signed_in(request)
        with bench.store() as store:
            where, params, note = site_view(store, all_sites)
            mine = "".join(" AND " + w for w in where)
            # the newest lot IDs off the (status, lot_id) index, then only those rows: the
            # page reads 100 batches however many are on hold (ten years: over a thousand)
            rows = store.rows(
                "SELECT b.lot_id, b.formula_id, b.strength, b.quantity, b.status, "
                "b.compounded_on FROM batches b WHERE b.lot_id IN (SELECT s.lot_id FROM "
                f"batches s WHERE s.status IN ('compounded', 'quarantine'){mine} "
                "ORDER BY s.lot_id DESC LIMIT ?) ORDER BY b.lot_id DESC",
                [*params, QUEUE_LIMIT * 2])
            for r in rows:
                v = store.one("SELECT passed, batch_sha256 FROM verifications WHERE lot_id = ? "
                              "ORDER BY id DESC LIMIT 1", [r["lot_id"]])
                r["verified"] = None if v is None else bool(v["passed"])
        return render(request, "verification.html", session=s, user=user, rows=rows,
                      site_note=note, all_sites=all_sites == "1", site=bench.settings.site)

    # ------------------------------------------------------------ inventory

    def inventory_page(request, s, user, status=200, error=None, form=None, page=1):
        with bench.store() as store:
            # the earliest-expiring lots with stock, every site's, exact Decimal totals:
            # the library's listing (`inventory list`), which reads the totals the store
            # keeps per lot (migration m021) instead of summing each lot's records (50
            # lots: 31 ms -> 2 ms of CPU on a tenth of the ten-year store); page N reads
            # the N pages before it too (the listing has no offset: later pages are rare)
            listed = store.lots(include_empty=False, limit=page * INVENTORY_LIMIT + 1)
            lots = listed[(page - 1) * INVENTORY_LIMIT:]
            more = len(lots) > INVENTORY_LIMIT
            lots = lots[:INVENTORY_LIMIT]
        ings = sorted(bench.registry.catalogue.ingredients)
        return render(request, "inventory.html", status=status, session=s, user=user,
                      lots=lots, ingredients=ings, warn_days=EXPIRY_WARN_DAYS, error=error,
                      form=form or {}, more=more, limit=INVENTORY_LIMIT, page=page)

    @app.get("/inventory", response_class=HTMLResponse)
    async def inventory(request: Request, page: str = "1"):
        s, user = signed_in(request)
        if not (page.isascii() and page.isdigit() and 1 <= int(page) <= 100000):
            raise InputError(f"page: {page!r} is not a page number (1, 2, 3...)")
        if int(page) == 1:  # 51 lots: bounded, on the loop (.loop)
            return inventory_page(request, s, user)
        from starlette.concurrency import run_in_threadpool  # page N reads N pages
        return await run_in_threadpool(inventory_page, request, s, user, page=int(page))

    @app.post("/inventory", response_class=HTMLResponse)
    def inventory_receive(request: Request, csrf_token: str = Form(""),
                          ingredient: str = Form(""), lot: str = Form(""),
                          expires: str = Form(""), quantity: str = Form(""),
                          potency: str = Form(""), manufacturer: str = Form("")):
        s, user = signed_in(request)
        check_csrf(s, csrf_token)
        form = {"ingredient": ingredient, "lot": lot, "expires": expires,
                "quantity": quantity, "potency": potency, "manufacturer": manufacturer}
        try:
            with bench.store() as store:
                got = actions.receive(bench, store, user["name"], ingredient=ingredient,
                                      lot_number=lot, expires=expires, quantity=quantity,
                                      potency=potency, manufacturer=manufacturer)
        except CompoundingError as exc:
            return inventory_page(request, s, user, status=status_for(exc), error=str(exc),
                                  form=form)
        return done(s, f"Received {quantity.strip()} of {got['ingredient']} lot "
                       f"{got['lot_number']}", "/inventory")

    # ------------------------------------------------------------ recall and audit

    @app.get("/recall", response_class=HTMLResponse)
    def recall(request: Request, lot: str = "", batch: str = ""):
        s, user = signed_in(request)
        rows, rec, error = None, None, None
        try:
            with bench.store() as store:
                if batch.strip():
                    rec = dispensing.recall_batch(store, batch.strip())
                elif lot.strip():
                    rows = dispensing.recall_component(store,
                                                       actions.typed(lot, "recall lot"))
        except CompoundingError as exc:
            error = str(exc)
        return render(request, "recall.html", status=400 if error else 200, session=s,
                      user=user, rows=rows, rec=rec, lot=lot, batch=batch, error=error)

    @app.get("/batches/{lot}/audit", response_class=HTMLResponse)
    def audit(request: Request, lot: str):
        s, user = signed_in(request)
        lot = lotid.validate_lot_id(lot)
        with bench.store() as store:
            store.get_batch(lot)  # 404 for an unknown batch
            rows = store.audit_log(lot_id=lot)
        return render(request, "audit.html", session=s, user=user, lot=lot, rows=rows,
                      dumps=lambda d: json.dumps({k: v for k, v in d.items()
                                                  if k != "records"},
                                                 ensure_ascii=False, sort_keys=True))

    # ------------------------------------------------------------ change control

    def approvals_ctx(store) -> list[dict]:
        out = []
        reg = bench.fresh_registry()
        for fid in sorted(reg.formulas):
            f = reg.formulas[fid]
            st = approvals.approval_state(store, "formula", fid, f.version, reg.hashes[fid])
            diff = (approvals.diff_to_approved(store, "formula", fid, reg.hashes[fid])
                    if st["state"] != "approved" else [])
            out.append({"kind": "formula", "id": fid, "name": f.name, "version": f.version,
                        "sha": reg.hashes[fid], "state": st["state"], "diff": diff,
                        "submitted_by": (st["submission"] or {}).get("submitted_by")})
        ts = bench.templates()
        for tid in sorted(ts.templates):
            t = ts.templates[tid]
            st = approvals.approval_state(store, "template", tid, t.version, ts.hashes[tid])
            diff = (approvals.diff_to_approved(store, "template", tid, ts.hashes[tid])
                    if st["state"] != "approved" else [])
            out.append({"kind": "template", "id": tid, "name": t.name, "version": t.version,
                        "sha": ts.hashes[tid], "state": st["state"], "diff": diff,
                        "submitted_by": (st["submission"] or {}).get("submitted_by")})
        return out

    def approvals_page(request, s, user, status=200, error=None):
        with bench.store() as store:
            items = approvals_ctx(store)
        return render(request, "approvals.html", status=status, session=s, user=user,
                      items=items, error=error)

    @app.get("/approvals", response_class=HTMLResponse)
    def approvals_list(request: Request):
        s, user = signed_in(request)
        return approvals_page(request, s, user)

    @app.post("/approvals/{kind}/{subject_id}/{act}", response_class=HTMLResponse)
    def approval_act(request: Request, kind: str, subject_id: str, act: str,
                     csrf_token: str = Form(""), passphrase: str = Form(""),
                     note: str = Form("")):
        s, user = signed_in(request)
        check_csrf(s, csrf_token)
        try:
            with bench.store() as store:
                if act == "submit":
                    actions.submit(bench, store, user["name"], kind, subject_id, note)
                elif act == "approve":
                    actions.approve(bench, store, user["name"], passphrase, kind, subject_id)
                else:
                    raise InputError(f"action: {act!r} is not one of submit, approve")
        except CompoundingError as exc:
            return approvals_page(request, s, user, status=status_for(exc), error=str(exc))
        word = "submitted" if act == "submit" else "approved"
        return done(s, f"{kind.capitalize()} {subject_id} {word}", "/approvals")


    from types import SimpleNamespace

    from . import bench_weighing, prescriptions
    kit = SimpleNamespace(signed_in=signed_in, check_csrf=check_csrf, render=render, done=done,
                          batch_page=batch_page, pdf=pdf, Redirect=Redirect,
                          PageError=PageError)
    bench_weighing.register(app, bench, kit)
    prescriptions.register(app, bench, kit)


def _set_cookie(request, response, sid: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure when served over TLS."""
    secure = request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "") == "https"
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=secure,
                        path="/")
