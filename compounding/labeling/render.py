"""Render labels to PDF bytes with ReportLab: the only module here that draws.

``render(template, items, start_position=1, copies=1) -> bytes`` is pure (no files, no
clock; the PDF is made with ReportLab's ``invariant`` mode so the same input gives the same
bytes and the same SHA-256). Every label is laid out and every barcode decoded back from
the exact bars that will be drawn before the first page is drawn; any problem raises a
:class:`LabelError` and no PDF comes out.

Barcodes are vector rectangles, one per Code 128 bar (one per run of dark DataMatrix
modules), with every edge on the template's printer-dot grid counted from the page's top-left
corner (a thermal head's dots start at the label edge; a laser page's at the page edge).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from ..errors import InputError
from .content import LabelData
from .fonts import register
from .layout import LabelLayout, layout_label, verify
from .templates import LabelTemplate


def layouts_for(template: LabelTemplate, items: Sequence[LabelData]) -> list[LabelLayout]:
    """Lay out and verify each distinct item once (copies reuse the layout)."""
    cache: dict[int, LabelLayout] = {}
    out = []
    for item in items:
        key = id(item)
        lay = cache.get(key)
        if lay is None:
            lay = layout_label(template, item)
            verify(lay, item)
            cache[key] = lay
        out.append(lay)
    return out


def check_position(template: LabelTemplate, start_position: int) -> None:
    per = template.stock.per_page
    if not isinstance(start_position, int) or not 1 <= start_position <= per:
        where = ("a roll template prints from position 1" if per == 1
                 else f"template {template.id!r} has positions 1 to {per}")
        raise InputError(f"start position: {start_position!r} is out of range; {where}",
                         field="start_position")


def render(template: LabelTemplate, items: Sequence[LabelData], start_position: int = 1,
           copies: int = 1) -> bytes:
    """PDF bytes: each item ``copies`` times, in order, from ``start_position`` (1-based,
    sheets: left to right, top to bottom) on the first page."""
    return render_with_layouts(template, items, start_position, copies)[0]


def render_with_layouts(template: LabelTemplate, items: Sequence[LabelData],
                        start_position: int = 1, copies: int = 1
                        ) -> tuple[bytes, list[LabelLayout]]:
    """:func:`render`, also returning each item's layout (sizes used, statements omitted)."""
    from reportlab.pdfgen.canvas import Canvas

    check_position(template, start_position)
    if not isinstance(copies, int) or copies < 1:
        raise InputError(f"copies: {copies!r} must be a whole number of at least 1",
                         field="copies")
    if not items:
        raise InputError("nothing to print: no labels given", field="items")
    lays = layouts_for(template, items)
    register()
    from reportlab import rl_config
    rl_config.useA85 = 0  # binary (Flate) streams: smaller files, no ASCII85 pass
    stock = template.stock
    page_w, page_h = stock.page_size
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(page_w, page_h), invariant=1, pageCompression=1)
    c.setTitle(f"{template.name} ({template.id} v{template.version})")
    c.setCreator("compounding labels")
    c.setSubject(f"template {template.id} version {template.version}")
    pos = start_position - 1
    per = stock.per_page
    started = False
    for lay in lays:
        for _ in range(copies):
            if pos == per:
                c.showPage()
                pos = 0
            ox, oy = stock.position(pos)
            _draw(c, template, lay, ox, oy, page_h)
            started = True
            pos += 1
    if started:
        c.showPage()
    c.save()
    return buf.getvalue(), lays


def _draw(c, template: LabelTemplate, lay: LabelLayout, ox: float, oy: float,  # float-ok: geometry (points), not a dose
          page_h: float) -> None:  # float-ok: geometry (points), not a dose
    dot = template.dot
    # text
    t = c.beginText()
    cur = None
    for ln in lay.lines:
        if (ln.font, ln.size) != cur:
            t.setFont(ln.font, ln.size)
            cur = (ln.font, ln.size)
        t.setTextOrigin(ox + ln.x, page_h - (oy + ln.baseline))
        t.textOut(ln.text)
    c.drawText(t)
    # barcodes, snapped to the page's dot grid (at most one dot of shift, reserved in layout)
    gx = math.ceil(ox / dot - 1e-9)
    gy = math.ceil(oy / dot - 1e-9)
    p = c.beginPath()
    x0 = gx + lay.bars_x
    top = gy + lay.bars_top
    h = lay.bars_height * dot
    y_pdf = page_h - (top + lay.bars_height) * dot
    for x, w in lay.bars.bars:
        p.rect((x0 + x) * dot, y_pdf, w * dot, h)
    if lay.matrix is not None:
        m = lay.matrix_module
        mx, mt = gx + lay.matrix_x, gy + lay.matrix_top
        for r, row in enumerate(lay.matrix.rows):
            y = page_h - (mt + (r + 1) * m) * dot
            c0 = None
            for col, dark in enumerate(row + (False,)):
                if dark and c0 is None:
                    c0 = col
                elif not dark and c0 is not None:
                    p.rect((mx + c0 * m) * dot, y, (col - c0) * m * dot, m * dot)
                    c0 = None
    c.drawPath(p, stroke=0, fill=1)
