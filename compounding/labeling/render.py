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
from functools import lru_cache
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
    dot = template.dot
    # Copies (issue 18): a label placed more than once is drawn once, as two form XObjects
    # (its text, its barcodes), and each copy is a translation and a `Do` of each: a few
    # dozen bytes a copy instead of the whole label again. A single label is drawn in place
    # by the same function, so both ways put every mark at the same spot.
    forms: dict[int, tuple[str, str]] = {}
    if copies > 1:
        for k, lay in enumerate({id(x): x for x in lays}.values()):
            forms[id(lay)] = names = (f"label{k}text", f"label{k}codes")
            for name, draw in zip(names, (_draw_text, _draw_codes)):
                c.beginForm(name, *_form_box(lay))
                draw(c, lay, dot)
                c.endForm()
    pos = start_position - 1
    per = stock.per_page
    dirty = False  # the canvas's current page has a label on it
    for lay in lays:
        form = forms.get(id(lay))
        left = copies
        while left:
            if pos == per:
                c.showPage()
                pos, dirty = 0, False
            ox, oy = stock.position(pos)
            # barcodes snap to the page's dot grid (at most one dot of shift, reserved in
            # the layout); text sits at the label's exact position
            gx = math.ceil(ox / dot - 1e-9) * dot
            gy = math.ceil(oy / dot - 1e-9) * dot
            for (tx, ty), draw, name in (((ox, page_h - oy), _draw_text, form and form[0]),
                                         ((gx, page_h - gy), _draw_codes, form and form[1])):
                c.saveState()
                c.translate(tx, ty)
                if name:
                    c.doForm(name)
                else:
                    draw(c, lay, dot)
                c.restoreState()
            pos, dirty, left = pos + 1, True, left - 1
            if per == 1 and left:  # a roll: every further copy is this same page again
                c.showPage()
                _repeat_last_page(c, left)
                pos, dirty, left = 0, False, 0
    if dirty:
        c.showPage()
    c.save()
    return buf.getvalue(), lays


def _repeat_last_page(c, n: int) -> None:
    """Append ``n`` more pages that share the last page's content stream and resources (one
    indirect object each), so a copy on a roll costs one small page dictionary (about 110
    bytes with its cross-reference entry).

    Uses ReportLab's document objects below the canvas (``PDFPage``, ``PDFObject``,
    ``Reference``, stable since ReportLab 2): the canvas has no call for "this page again".
    The tests rasterise every copy and decode its barcodes.
    """
    from reportlab.pdfbase import pdfdoc

    doc = c._doc
    page = doc.Pages.pages[-1]
    page.check_format(doc)  # build its content stream and resources now, to share them
    if not isinstance(page.Resources, pdfdoc.PDFObjectReference):
        page.Resources = doc.Reference(page.Resources)
    again = _page_again_class()
    formatted: list[bytes] = []
    for _ in range(n):
        doc.addPage(again(page, formatted))
    c._pageNumber += n


@lru_cache(maxsize=None)
def _page_again_class():
    from reportlab.pdfbase import pdfdoc

    class PageAgain(pdfdoc.PDFObject):
        """A page dictionary equal to ``page``'s but for its own object number: formatted
        once and the bytes reused (ReportLab's generic formatting costs ~1 ms a page)."""

        def __init__(self, page, formatted: list):
            self.page, self.formatted = page, formatted

        def format(self, document):
            if not self.formatted:
                p = self.page
                ref = lambda obj: document.Reference(obj).format(document)  # noqa: E731
                self.formatted.append(
                    b"<<\n/Contents " + ref(p.Contents) + b" /MediaBox "
                    + p.MediaBox.format(document) + b" /Parent " + ref(document.Pages)
                    + b" /Resources " + p.Resources.format(document)
                    + b" /Rotate " + str(int(p.Rotate or 0)).encode() + b" /Type /Page\n>>")
            return self.formatted[0]

    return PageAgain


def _form_box(lay: LabelLayout) -> tuple[float, float, float, float]:  # float-ok: geometry (points), not a dose
    """A form's bounding box in label coordinates (origin at the label's top-left corner, y
    up), one dot wider than the label each way for the grid snapping."""
    d = lay.dot
    return -d, -lay.height - d, lay.width + d, d


def _draw_text(c, lay: LabelLayout, dot: float) -> None:  # float-ok: geometry (points), not a dose
    """The label's text lines, in label coordinates (origin top-left, y up)."""
    t = c.beginText()
    cur = None
    for ln in lay.lines:
        if (ln.font, ln.size) != cur:
            t.setFont(ln.font, ln.size)
            cur = (ln.font, ln.size)
        t.setTextOrigin(ln.x, -ln.baseline)
        t.textOut(ln.text)
    c.drawText(t)


def _draw_codes(c, lay: LabelLayout, dot: float) -> None:  # float-ok: geometry (points), not a dose
    """The Code 128 bars and the DataMatrix modules as filled rectangles, in whole dots
    from the label's top-left corner (origin there, y up)."""
    p = c.beginPath()
    x0 = lay.bars_x
    h = lay.bars_height * dot
    y_pdf = -(lay.bars_top + lay.bars_height) * dot
    for x, w in lay.bars.bars:
        p.rect((x0 + x) * dot, y_pdf, w * dot, h)
    if lay.matrix is not None:
        m = lay.matrix_module
        mx, mt = lay.matrix_x, lay.matrix_top
        for r, row in enumerate(lay.matrix.rows):
            y = -(mt + (r + 1) * m) * dot
            c0 = None
            for col, dark in enumerate(row + (False,)):
                if dark and c0 is None:
                    c0 = col
                elif not dark and c0 is not None:
                    p.rect((mx + c0 * m) * dot, y, (col - c0) * m * dot, m * dot)
                    c0 = None
    c.drawPath(p, stroke=0, fill=1)
