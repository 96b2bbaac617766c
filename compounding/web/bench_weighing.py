"""The batch page's weighing form (issues 15 and 16): typed amounts, the "Read balance"
button and the scan field at each weighing.

One form per plan step posts to ``/batches/LOT/weigh``:

- "Record step N" (``action=record``) records the amount typed;
- "Read balance" (``action=balance``) asks the balance chosen in the form (the only one
  configured needs no choice) for one stable reading and records it with the balance's
  name, serial number, protocol and the raw line: :func:`compounding.weighing.weigh`, the
  function behind ``compounding batch weigh --from-balance NAME``; the typed amount field
  must then be empty;
- the scan field ("Scan the container, step N"; at an aliquot step, the batch's own label)
  is checked by the same function before anything is read or recorded: a lot of another
  ingredient, expired, never received, another batch's label are refused with the CLI's
  message.

Errors (the balance unstable, overloaded, silent, not configured; the scan refused; the
weighing out of tolerance without a reason) re-render the batch page with one line and the
form as it was typed; nothing is recorded.
"""


from ..errors import CompoundingError
from . import actions
from .common import status_for


def register(app, bench, kit) -> None:
    from fastapi import Form, Request
    from fastapi.responses import HTMLResponse

    from ..store import lotid

    @app.post("/batches/{lot}/weigh", response_class=HTMLResponse)
    def weigh(request: Request, lot: str, csrf_token: str = Form(""), step: str = Form(""),
              amount: str = Form(""), component_lot: str = Form(""), scan: str = Form(""),
              balance: str = Form(""), action: str = Form("record"),
              deviation_reason: str = Form(""), reweigh_reason: str = Form("")):
        s, user = kit.signed_in(request)
        kit.check_csrf(s, csrf_token)
        lot = lotid.validate_lot_id(lot)
        form = {"step": step, "amount": amount, "component_lot": component_lot, "scan": scan,
                "balance": balance, "deviation_reason": deviation_reason,
                "reweigh_reason": reweigh_reason}
        try:
            if action not in ("record", "balance"):
                from ..errors import InputError
                raise InputError(f"action: {action!r} is not one of record, balance")
            with bench.store() as store:
                done = actions.weigh(bench, store, user["name"], lot, step=step, amount=amount,
                                     component_lot=component_lot, scan=scan, balance=balance,
                                     from_balance=action == "balance",
                                     deviation_reason=deviation_reason,
                                     reweigh_reason=reweigh_reason)
        except CompoundingError as exc:
            return kit.batch_page(request, s, user, lot, status=status_for(exc),
                                  error=str(exc), form=form)
        return kit.done(s, message(done), f"/batches/{lot}#step-{done.weighing['step']}")


def message(done) -> str:
    """The line shown after a weighing: what was recorded, against what, and where the
    amount and the lot came from."""
    from ..cli.inventory import show_amount
    from ..dates import format_date
    w, reading, match = done.weighing, done.reading, done.match
    msg = (f"Step {w['step']} recorded: {show_amount(w['quantity'], w['unit'])} against "
           f"{show_amount(w['planned_quantity'], w['planned_unit'])} planned "
           f"({w['deviation_percent']}%)")
    if reading is not None:
        msg += (f"; read from balance {reading.balance} (serial {reading.serial_number}, "
                f"{reading.protocol}): {reading.line}")
    if match is not None:
        msg += f"; lot confirmed by scan: {match.text}"
    if w["bud_changed"]:
        msg += f"; BUD recomputed from the lots weighed: {format_date(w['bud'])}"
    if w["complete"]:
        msg += "; every step weighed: batch is now compounded"
    return msg
