"""The bench's prescription pages (issue 17): the list, one prescription with its schedule,
doses, fills and versions, the dose chart PDF, and the form that dispenses a fill.

Paths take the Rx number as a query or form field (``/rx/view?rx=RX-1001``), not as a path
segment: an Rx number may contain ``/`` (``rx.prescription.check_rx_number``).

Dispensing a fill is ``compounding labels dispense LOT --rx RX --fill N``
(:func:`compounding.rx.dispensing.dispense_fill` through :func:`.actions.dispense_fill`): the
lot of the right formula and strength, its BUD covering the fill's last day, the fill not
past and not dispensed before; the label (a PDF to download, or a configured printer) and
the fill recorded in one transaction. A refusal re-renders the page with the CLI's message
and records nothing.
"""


from urllib.parse import quote

from ..errors import CompoundingError
from . import actions
from .common import status_for


def register(app, bench, kit) -> None:
    from fastapi import Form, Request
    from fastapi.responses import HTMLResponse, RedirectResponse

    from ..store import prescriptions as records

    def view_url(rx_number: str, anchor: str = "") -> str:
        return f"/rx/view?rx={quote(rx_number, safe='')}" + (f"#{anchor}" if anchor else "")

    @app.get("/rx", response_class=HTMLResponse)
    def rx_list(request: Request, patient: str = ""):
        s, user = kit.signed_in(request)
        with bench.store() as store:
            rows = records.list_latest(store, patient.strip() or None)
        return kit.render(request, "rx_list.html", session=s, user=user, rows=rows,
                          patient=patient)

    def rx_page(request, s, user, rx_number: str, status=200, error=None, form=None):
        with bench.store() as store:
            rec = actions.prescription_view(store, rx_number)
        dispensing = [t for t in sorted(bench.templates().templates.values(),
                                        key=lambda t: t.id) if t.kind == "dispensing"]
        return kit.render(request, "rx.html", status=status, session=s, user=user, rec=rec,
                          error=error, form=form or {}, templates=dispensing,
                          printers=actions.printers(bench, "dispensing-thermal"),
                          rx_q=quote(rec["rx_number"], safe=""))

    @app.get("/rx/view", response_class=HTMLResponse)
    def rx_view(request: Request, rx: str = ""):
        s, user = kit.signed_in(request)
        return rx_page(request, s, user, rx)

    @app.get("/rx/chart.pdf")
    def rx_chart(request: Request, rx: str = "", fill: str = "", page_size: str = "letter"):
        kit.signed_in(request)
        with bench.store() as store:
            return kit.pdf(*actions.chart_pdf(bench, store, rx, fill, page_size))

    @app.post("/rx/dispense", response_class=HTMLResponse)
    def rx_dispense(request: Request, csrf_token: str = Form(""), rx: str = Form(""),
                    fill: str = Form(""), lot: str = Form(""), template: str = Form(""),
                    printer: str = Form("")):
        s, user = kit.signed_in(request)
        kit.check_csrf(s, csrf_token)
        form = {"fill": fill, "lot": lot, "template": template, "printer": printer}
        try:
            with bench.store() as store:
                result, rec, ready = actions.dispense_fill(
                    bench, store, user["name"], lot=lot, rx_number=rx, fill=fill,
                    template_id=template, printer=printer)
        except CompoundingError as exc:
            from ..rx.prescription import check_rx_number
            with bench.store() as store:
                records.get(store, check_rx_number(rx))  # a bad or unknown Rx: its page
            return rx_page(request, s, user, rx, status=status_for(exc), error=str(exc),
                           form=form)
        from ..dates import format_date
        p = ready["prescription"]
        where = (f"sent to printer {result.printer} ({result.sent})"
                 if getattr(result, "printer", None) else "printed to PDF")
        done = ("label printed again from lot" if result.reprint else "dispensed from lot")
        again = (" Recorded as a REPRINT (this fill was dispensed from this lot on "
                 f"{format_date(rec['dispensed_at'])}; not counted again)."
                 if result.reprint else "")
        s.flash.append(("ok", f"Fill {rec['fill']} of Rx {p['rx_number']} {done} "
                              f"{rec['lot_id']}: {rec['quantity']}, "
                              f"{format_date(rec['first_day'])} to "
                              f"{format_date(rec['last_day'])}; label {where}. Directions: "
                              f"{rec['directions']}{again}"))
        for w in getattr(result, "warnings", ()):
            s.flash.append(("error", f"Warning: {w}"))
        if not getattr(result, "printer", None):
            s.flash.append(("download", f"/batches/{rec['lot_id']}/prints/"
                                        f"{result.record['id']}.pdf"))
        return RedirectResponse(view_url(p["rx_number"], "fills"), status_code=303)
