"""The recall report (issue 19): one PDF for the pharmacy's file: what was recalled and
why, the batches it put on hold, every patient with every contact, the closure and the
signatures. Pure input (the dict of :func:`compounding.store.recalls.show_recall`), bytes
out; the shipped DejaVu fonts, month names in dates."""

from __future__ import annotations

import io

from ..dates import format_date
from . import fonts


def _when(stamp: str | None) -> str:
    return f"{format_date(stamp[:10])} {stamp[11:16]} UTC" if stamp else "-"


def render_recall_report(rec: dict, pharmacy_name: str, page_size: str = "letter") -> bytes:
    """PDF bytes of the recall report for ``rec`` (see module docstring). ``page_size``:
    ``letter`` or ``a4``. Text a shipped font cannot draw is a :class:`LabelError` naming
    the field (as on labels)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, LETTER
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from xml.sax.saxutils import escape

    fonts.register()
    body = ParagraphStyle("body", fontName=fonts.REGULAR, fontSize=9, leading=12)
    head = ParagraphStyle("head", fontName=fonts.BOLD, fontSize=14, leading=18)
    sub = ParagraphStyle("sub", fontName=fonts.BOLD, fontSize=10.5, leading=14, spaceBefore=8)

    def p(text, field="recall", style=body):
        return Paragraph(escape(fonts.clean(str(text), field)), style)

    def grid(rows, widths):
        t = Table(rows, colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([
            ("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    subject = (f"{rec['ingredient']} lot {rec['lot']}" if rec["kind"] == "component-lot"
               else f"batch {rec['lot']}")
    story = [p(f"Recall {rec['recall_id']}: {subject}", style=head),
             p(f"{pharmacy_name}. Status: {rec['status'].upper()}."),
             p(f"Reason: {rec['reason']}", "reason"),
             p(f"Opened by {rec['opened_by']} at {_when(rec['opened_at'])} (signed)."),
             Spacer(1, 3 * mm), p("Batches", style=sub)]
    rows = [[p("Batch"), p("Formula"), p("Strength"), p("Status before"), p("Action")]]
    for b in rec["batches"]:
        rows.append([p(b["lot_id"]), p(b["formula_id"]), p(b["strength"] or "-"),
                     p(b["status_before"]), p(b["action"])])
    story.append(grid(rows, [28 * mm, 40 * mm, 28 * mm, 30 * mm, 40 * mm]) if rec["batches"]
                 else p("No batch used it."))
    story.append(p("Patients and contacts", style=sub))
    if rec["patients"]:
        rows = [[p("Rx"), p("Patient"), p("Batch"), p("Dispensed"), p("Contacts")]]
        for x in rec["patients"]:
            calls = "; ".join(f"{c['outcome']} ({c['contacted_by']}, "
                              f"{_when(c['contacted_at'])})" + (f": {c['note']}" if c["note"]
                                                                else "")
                              for c in x["contacts"]) or "NOT YET CONTACTED"
            rows.append([p(x["rx_number"], "rx"), p(x["patient"] or "-", "patient"),
                         p(x["lot_id"]),
                         p(f"{format_date(x['dispensed_on'])}, "
                           f"{x['dispensed_quantity'] or '-'}"),
                         p(calls, "contacts")])
        story.append(grid(rows, [22 * mm, 36 * mm, 24 * mm, 34 * mm, 60 * mm]))
    else:
        story.append(p("No patient had been dispensed from these batches."))
    story.append(p("Closure", style=sub))
    c = rec["closure"]
    if c:
        story.append(p(f"Closed by {c['closed_by']} at {_when(c['closed_at'])} (signed): "
                       f"{c['note']}", "note"))
        if c["incomplete_reason"]:
            story.append(p(f"Closed with patients without an outcome: "
                           f"{c['incomplete_reason']}", "incomplete reason"))
    else:
        story.append(p(f"Open. Still to reach: {len(rec['to_reach'])} of "
                       f"{len(rec['patients'])} patients."))
    buf = io.BytesIO()
    size = A4 if page_size == "a4" else LETTER
    doc = SimpleDocTemplate(buf, pagesize=size, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm,
                            title=f"Recall {rec['recall_id']}", author=pharmacy_name,
                            invariant=1)
    doc.build(story)
    return buf.getvalue()
