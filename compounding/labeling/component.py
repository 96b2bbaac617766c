"""A label for a received component lot (``compounding inventory label LOT``, issue 16).

For a container whose supplier barcode is missing or unreadable: the ingredient's full name,
the supplier lot, the expiry with a month name, the certificate potency and a Code 128 of the
lot number, which ``batch weigh --scan`` reads back like the supplier's own lot barcode.

It reuses the label package: the template's stock, dpi and Code 128 settings
(``templates/*.toml``), the shipped fonts and their glyph check (``fonts.clean``), the Code
128 encoder with its read-back check (``code128.verify``: the bars drawn are decoded again
before any PDF comes out), and the dot-grid drawing of ``render``. Pure: the lot's facts in,
PDF bytes out (ReportLab ``invariant`` mode, so the same lot gives the same bytes).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..errors import LabelError
from . import code128
from .fonts import ASCENT, BOLD, DESCENT, REGULAR, clean, register, widths
from .templates import MIN_FONT_PT, LabelTemplate

#: What the label says it is, so nobody takes it for the supplier's own label.
STATEMENT = "Component lot label printed by the pharmacy"


@dataclass(frozen=True)
class ComponentLot:
    """The facts printed: ``potency_percent`` a Decimal (99.2 for 99.2%)."""

    ingredient_id: str
    ingredient_name: str
    lot: str
    expires: date
    potency_percent: Decimal
    received: date | None = None
    manufacturer: str | None = None
    pharmacy_name: str = ""


def text_blocks(c: ComponentLot) -> list[tuple[str, str, float, str]]:  # float-ok: font sizes
    """(field, font, size in pt, text) in reading order; dates with month names, the
    potency with no trailing zero (units layer)."""
    from .. import units as u
    from ..dates import format_date

    blocks = [("ingredient", BOLD, 9.0, c.ingredient_name),
              ("lot", BOLD, 8.5, f"Lot: {c.lot}"),
              ("expires", BOLD, 8.5, f"Exp: {format_date(c.expires)}"),
              ("potency", REGULAR, 7.0, f"Potency: {u.plain(c.potency_percent)}%")]
    origin = []
    if c.received is not None:
        origin.append(f"Received {format_date(c.received)}")
    if c.manufacturer:
        origin.append(c.manufacturer)
    if origin:
        blocks.append(("received", REGULAR, 6.5, " \u00b7 ".join(origin)))
    blocks.append(("statement", REGULAR, 6.0,
                   STATEMENT + (f", {c.pharmacy_name}" if c.pharmacy_name else "")))
    return blocks


def _wrap(text: str, font: str, size: float, width: float) -> list[str] | None:  # float-ok: geometry
    w = widths()
    lines, cur = [], ""
    for word in text.split(" "):
        trial = f"{cur} {word}" if cur else word
        if w(trial, font, size) <= width + 1e-6:
            cur = trial
            continue
        if not cur:
            return None  # one word wider than the line
        lines.append(cur)
        cur = word
        if w(cur, font, size) > width + 1e-6:
            return None
    if cur:
        lines.append(cur)
    return lines


@dataclass(frozen=True)
class ComponentLayout:
    lines: tuple[tuple[float, float, str, float, str], ...]  # float-ok: (x, baseline, font, size, text)
    bars: code128.Bars
    bars_x: int   # dots
    bars_top: int
    bars_height: int


def layout_component(template: LabelTemplate, c: ComponentLot) -> ComponentLayout:
    """Place the text top-down and the Code 128 at the bottom left; shrink the text in
    0.5 pt steps down to 6 pt if it does not fit, else refuse naming the field. Raises
    :class:`LabelError` if the lot cannot be a Code 128 or the symbol is wider than the
    label."""
    import re

    if not re.fullmatch(r"[\x21-\x7e]{1,20}", c.lot):
        raise LabelError(f"lot: {c.lot!r} cannot be printed as a Code 128 lot barcode (1 to "
                         "20 printable ASCII characters without spaces)", field="lot")
    lay, dot = template.layout, template.dot
    W, H = template.stock.label_width, template.stock.label_height
    pad, gap = lay.padding, lay.gap
    bc = lay.barcode
    bars = code128.layout_bars(c.lot, bc.module_dots, bc.quiet_modules)
    code128.verify(bars, c.lot)
    qx = math.ceil(pad / dot)
    if (qx + bars.total_width + 1) * dot > W - pad + 1e-6:
        mm = bars.total_width * dot * 25.4 / 72
        raise LabelError(f"barcode: the Code 128 of lot {c.lot!r} needs {mm:.1f} mm with its "
                         f"quiet zones; template {template.id!r} has "
                         f"{(W - 2 * pad) * 25.4 / 72:.1f} mm (choose a wider --template)",
                         field="barcode")
    h = math.ceil(bc.height / dot)
    bottom = math.floor((H - pad) / dot) - 1
    top = bottom - h
    text_bottom = top * dot - gap
    blocks = [(f, font, size, clean(text, f, font)) for f, font, size, text in text_blocks(c)]
    shrink = 0.0
    while True:
        y, out, failed = pad, [], None
        for f, font, size, text in blocks:
            s = max(size - shrink, MIN_FONT_PT)
            lh = s * lay.line_spacing
            wrapped = _wrap(text, font, s, W - 2 * pad)
            if wrapped is None:
                failed = f
                break
            for ln in wrapped:
                if y + lh > text_bottom + 1e-6:
                    failed = f
                    break
                out.append((pad, y + s * ASCENT + (lh - s * (ASCENT + DESCENT)) / 2, font, s,
                            ln.replace("\u00a0", " ")))
                y += lh
            if failed:
                break
        if failed is None:
            return ComponentLayout(tuple(out), bars, qx + bars.quiet, top, h)
        if all(size - shrink <= MIN_FONT_PT for _, _, size, _ in blocks):
            raise LabelError(f"{failed}: the text does not fit template {template.id!r} even at "
                             f"{MIN_FONT_PT:g} pt; choose a larger --template", field=failed)
        shrink += 0.5


def render_component(template: LabelTemplate, c: ComponentLot, copies: int = 1) -> bytes:
    """PDF bytes: ``copies`` labels of one component lot, from the first position of the
    template's stock (one per page on a roll)."""
    from reportlab.pdfgen.canvas import Canvas

    if not isinstance(copies, int) or not 1 <= copies <= 100:
        raise LabelError(f"copies: {copies!r} must be a whole number from 1 to 100",
                         field="copies")
    lay = layout_component(template, c)
    register()
    stock = template.stock
    page_w, page_h = stock.page_size
    buf = io.BytesIO()
    cv = Canvas(buf, pagesize=(page_w, page_h), invariant=1, pageCompression=1)
    cv.setTitle(f"Component lot {c.lot} ({c.ingredient_id})")
    cv.setCreator("compounding labels")
    cv.setSubject(f"template {template.id} version {template.version}")
    dot = template.dot
    per = stock.per_page
    for i in range(copies):
        pos = i % per
        if i and pos == 0:
            cv.showPage()
        ox, oy = stock.position(pos)
        t = cv.beginText()
        for x, baseline, font, size, text in lay.lines:
            t.setFont(font, size)
            t.setTextOrigin(ox + x, page_h - (oy + baseline))
            t.textOut(text)
        cv.drawText(t)
        gx, gy = math.ceil(ox / dot - 1e-9), math.ceil(oy / dot - 1e-9)
        p = cv.beginPath()
        y_pdf = page_h - (gy + lay.bars_top + lay.bars_height) * dot
        for x, w in lay.bars.bars:
            p.rect((gx + lay.bars_x + x) * dot, y_pdf, w * dot, lay.bars_height * dot)
        cv.drawPath(p, stroke=0, fill=1)
    cv.showPage()
    cv.save()
    return buf.getvalue()
