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
import re
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
    marks = _Marks(c, dot)
    forms: dict[int, tuple[str, str]] = {}
    if copies > 1:
        for k, lay in enumerate({id(x): x for x in lays}.values()):
            forms[id(lay)] = names = (f"label{k}text", f"label{k}codes")
            for name, draw in zip(names, (marks.text, marks.codes)):
                c.beginForm(name, *_form_box(lay))
                draw(lay)
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
            for (tx, ty), draw, name in (((ox, page_h - oy), marks.text, form and form[0]),
                                         ((gx, page_h - gy), marks.codes, form and form[1])):
                marks.at(tx, ty)  # saveState() and translate(tx, ty)
                if name:
                    c.doForm(name)
                else:
                    draw(lay)
                marks.done()  # restoreState()
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


class _Marks:
    """Writes a label's text and barcodes as PDF operators, the same bytes ReportLab's
    drawing calls write (``beginText``/``setFont``/``setTextOrigin``/``textOut`` and
    ``beginPath``/``rect``/``drawPath``), with what repeats kept (issue 18):

    - every number is a whole number of dots times the dot size (or a text position), so
      each is formatted once (``fp_str``, as ReportLab formats it);
    - a text line already written with the same font, size and subset state is the same
      operators again: the font's subset assignment (``splitString``) is only asked for the
      first time a line appears in this document, in the same order as ReportLab would,
      so the font subsets and their names come out the same.

    One per canvas (the subsets belong to the document). The labels use the shipped
    TrueType fonts only (:func:`.fonts.register`), which ReportLab draws this way.
    tests/test_labels_digest.py compares the PDFs with those of ReportLab's own calls.
    """

    def __init__(self, c, dot: float):  # float-ok: geometry (points), not a dose
        from reportlab.lib.rl_accel import escapePDF, fp_str
        from reportlab.pdfbase.pdfmetrics import getFont
        from reportlab.pdfgen.pathobject import PDFPathObject

        self.c, self.doc = c, c._doc
        self.fp_str, self.escape, self.get_font = fp_str, escapePDF, getFont
        self.path = PDFPathObject
        self.dots = _Dots(dot, fp_str)
        self.text_origin = "1 0 0 1 %s Tm" % fp_str(0, 0)  # beginText() at the origin
        self.lines: dict = {}
        self.origins: dict = {}
        self.rects: dict = {}
        self.rows: dict = {}
        self.moves: dict = {}

    def at(self, tx: float, ty: float) -> None:  # float-ok: geometry (points), not a dose
        """What ``saveState()`` then ``translate(tx, ty)`` write (``q``, then the ``cm``
        operator); the drawing changes no canvas state, so ``Q`` alone ends it (what
        ``restoreState()`` writes)."""
        cm = self.moves.get((tx, ty))
        if cm is None:
            cm = self.moves[(tx, ty)] = "%s cm" % self.fp_str(1, 0, 0, 1, tx, ty)
        self.c.addLiteral("q")
        self.c.addLiteral(cm)

    def done(self) -> None:
        self.c.addLiteral("Q")

    def text(self, lay: LabelLayout) -> None:
        """The label's text lines, in label coordinates (origin top-left, y up)."""
        code = ["BT", self.text_origin]
        lines, origins = self.lines, self.origins
        cur, subset = None, -1
        for ln in lay.lines:
            if (ln.font, ln.size) != cur:  # setFont: a TrueType font starts a new subset run
                cur, subset = (ln.font, ln.size), -1
            where = (ln.x, ln.baseline)
            tm = origins.get(where)
            if tm is None:
                tm = origins[where] = "1 0 0 1 %s Tm" % self.fp_str(ln.x, -ln.baseline)
            key = (ln.font, ln.size, ln.text, subset)
            got = lines.get(key)
            if got is None:
                got = lines[key] = self._show(ln.font, ln.size, ln.text, subset)
            code.append(tm)
            code.append(got[0])
            subset = got[1]
        code.append("ET")
        self.c.addLiteral(" ".join(code))

    def _show(self, font_name: str, size: float, text: str, subset: int):  # float-ok: geometry (points), not a dose
        """What ``textOut(text)`` writes for a TrueType font after ``setFont(font_name,
        size)`` (leading 1.2 x size) with ``subset`` current; and the subset after it."""
        font, doc = self.get_font(font_name), self.doc
        out, head = [], None
        for sub, chunk in font.splitString(text, doc):
            if sub != subset:
                if head is None:
                    head = f"{self.fp_str(size)} Tf {self.fp_str(size * 1.2)} TL"
                out.append(f"{font.getSubsetInternalName(sub, doc)} {head}")
                subset = sub
            out.append(f"({self.escape(chunk)}) Tj")
        return " ".join(out), subset

    def codes(self, lay: LabelLayout) -> None:
        """The Code 128 bars and the DataMatrix modules as filled rectangles (one per run
        of dark modules in a row), in whole dots from the label's top-left corner (origin
        there, y up)."""
        rect = self.rects.get((lay.bars_top, lay.bars_height, lay.bars_x))
        if rect is None:
            y, h = -(lay.bars_top + lay.bars_height), lay.bars_height
            rect = self.rects[(lay.bars_top, lay.bars_height, lay.bars_x)] = \
                _Rects(self.dots, lambda x, w, x0=lay.bars_x: (x0 + x, y, w, h))
        rects = [rect[bar] for bar in lay.bars.bars]
        if lay.matrix is not None:
            m, mx, mt, d = lay.matrix_module, lay.matrix_x, lay.matrix_top, self.dots
            rows = self.rows.get((m, mx))
            if rows is None:
                rows = self.rows[(m, mx)] = _Rows(d, m, mx)
            # a row's rectangles with its y left open; rows repeat between symbols (the
            # finder pattern, data that starts alike), so most are found rather than made
            size, modules = lay.matrix.size, lay.matrix.modules  # what verify() read back
            for r in range(size):
                runs, n = rows[modules[r * size:(r + 1) * size]]
                if n:
                    rects.append(runs % ((d[-(mt + (r + 1) * m)],) * n))
        self.c.drawPath(self.path(["n", " ".join(rects)]), stroke=0, fill=1)


class _Rows(dict):
    """A DataMatrix row's modules (bytes: 0 light, else dark) -> its runs of dark modules
    as ``re`` operators joined by spaces, each y a ``%s`` for the row's, and how many."""

    def __init__(self, dots: "_Dots", m: int, mx: int):
        super().__init__()
        self.dots, self.m, self.mx = dots, m, mx

    def __missing__(self, modules: bytes) -> tuple[str, int]:
        d, m, mx = self.dots, self.m, self.mx
        runs = [f"{d[mx + c0 * m]} %s {d[(c1 - c0) * m]} {d[m]} re"
                for c0, c1 in (run.span() for run in _DARK_RUN.finditer(modules))]
        v = self[modules] = (" ".join(runs), len(runs))
        return v


class _Rects(dict):
    """A key -> ``x y w h re`` for the rectangle ``where(*key)`` gives in dots: a bar or a
    run of modules at the same place in another label is the same text again."""

    def __init__(self, dots: "_Dots", where):
        super().__init__()
        self.dots, self.where = dots, where

    def __missing__(self, key) -> str:
        d = self.dots
        x, y, w, h = self.where(*key)
        v = self[key] = f"{d[x]} {d[y]} {d[w]} {d[h]} re"
        return v


#: a run of dark modules in a DataMatrix row (its modules as bytes: 1 dark, 0 light)
_DARK_RUN = re.compile(rb"[^\x00]+")


class _Dots(dict):
    """``k`` -> ReportLab's formatting of ``k`` dots in points (``fp_str(k * dot)``)."""

    def __init__(self, dot: float, fp_str):  # float-ok: geometry (points), not a dose
        super().__init__()
        self.dot, self.fp_str = dot, fp_str

    def __missing__(self, k: int) -> str:
        v = self[k] = self.fp_str(k * self.dot)
        return v
