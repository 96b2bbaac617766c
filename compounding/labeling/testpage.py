"""The PDF printer test page (issue 14, ``compounding printers test``): a box on the edges of
every label position of a template's stock, with the label size written in mm and inches, so
a technician sees at once whether the stock (and the driver's page size) matches.

Pure: returns PDF bytes (ReportLab ``invariant`` mode), no files, no clock.
"""

from __future__ import annotations

import io

from .fonts import BOLD, REGULAR, register
from .templates import MM_PER_INCH, LabelTemplate


def size_text(template: LabelTemplate) -> str:
    """'57.2 x 31.8 mm (2.25 x 1.25 in)': the label size in both units."""
    from decimal import ROUND_HALF_UP, Decimal

    s = template.stock

    def rounded(value: float, places: str) -> str:  # float-ok: geometry (points)
        # via a 6-place string so 2.25 in = 57.15 mm rounds half up to 57.2, not 57.1
        d = Decimal(f"{value:.6f}").quantize(Decimal(places), rounding=ROUND_HALF_UP)
        return format(d, "f").rstrip("0").rstrip(".") if "." in format(d, "f") else str(d)

    mm = lambda pt: rounded(pt / 72 * MM_PER_INCH, "0.1")  # noqa: E731
    inch = lambda pt: rounded(pt / 72, "0.001")  # noqa: E731
    return (f"{mm(s.label_width)} x {mm(s.label_height)} mm "
            f"({inch(s.label_width)} x {inch(s.label_height)} in)")


def render_test_page(template: LabelTemplate, printer_name: str, dpi: int) -> bytes:
    """PDF bytes: one page of the template's page size, a 1 pt box on every label's edges."""
    from reportlab.pdfgen.canvas import Canvas

    register()
    s = template.stock
    page_w, page_h = s.page_size
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(page_w, page_h), invariant=1)
    c.setTitle(f"Test page: {template.id} v{template.version} on {printer_name}")
    c.setLineWidth(1)
    lines = [("TEST LABEL", BOLD, 9.0), (size_text(template), REGULAR, 7.0),
             (f"printer {printer_name}, {dpi} dpi", REGULAR, 6.0),
             (f"template {template.id} v{template.version}", REGULAR, 6.0)]
    for pos in range(s.per_page):
        x, y = s.position(pos)
        c.rect(x + 0.5, page_h - y - s.label_height + 0.5, s.label_width - 1,
               s.label_height - 1, stroke=1, fill=0)
        ty = y + 4
        for text, font, size in lines:
            ty += size * 1.2
            if ty + 2 > y + s.label_height - 3:
                break
            c.setFont(font, size)
            c.drawString(x + 5, page_h - ty, text)
    c.showPage()
    c.save()
    return buf.getvalue()
