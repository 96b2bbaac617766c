"""Pure layout: a template and one label's content in, positioned text and barcodes out.

No ReportLab canvas, no files, no clock: :func:`layout_label` returns a
:class:`LabelLayout` that :mod:`render` only has to draw, and that tests can inspect.

Coordinates are in points from the label's top-left corner, y downwards. Barcodes are in
whole printer dots (the template's dpi) so every bar edge lies on the print head's dot grid.

Fitting (issue 6): each block wraps at spaces (never between a number and its unit, which
are joined by a no-break space); if the text does not fit, every block shrinks in 0.5 pt
steps down to its minimum (never below 6 pt); if it still does not fit, the label is refused
with a :class:`LabelError` naming the field. Text is never clipped and never placed in a
barcode's zone (its bars plus quiet zones plus the template's gap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from ..errors import LabelError
from . import code128, datamatrix
from .content import LabelData
from .fonts import ASCENT, BOLD, DESCENT, NBSP, REGULAR, clean, widths
from .templates import REFER_TEXT, LabelTemplate

SEPARATOR = "\u00a0\u00b7 "  # between fields sharing a block (the dot stays with the text before)
SHRINK_STEP = 0.5


@dataclass(frozen=True)
class Line:
    x: float  # float-ok: geometry (points), not a dose
    baseline: float  # float-ok: geometry; from the label's top
    font: str
    size: float  # float-ok: geometry (points), not a dose
    text: str        # as drawn (no-break spaces already turned into spaces)
    field: str       # the block's field names joined by '+'


@dataclass(frozen=True)
class Box:
    x0: float  # float-ok: geometry (points), not a dose
    y0: float  # float-ok: geometry; top
    x1: float  # float-ok: geometry (points), not a dose
    y1: float  # float-ok: geometry; bottom

    def overlaps_rows(self, top: float, bottom: float) -> bool:  # float-ok: geometry (points), not a dose
        return top < self.y1 and bottom > self.y0


_NOWHERE = Box(0.0, -1e9, 0.0, -1e9)


@dataclass(frozen=True)
class LabelLayout:
    width: float  # float-ok: geometry (points), not a dose
    height: float  # float-ok: geometry (points), not a dose
    dot: float                      # float-ok: geometry; one printer dot in points
    lines: tuple[Line, ...]
    bars: code128.Bars
    bars_x: int                     # dots from the label's left to the first bar
    bars_top: int                   # dots from the label's top to the top of the bars
    bars_height: int                # dots
    code_zone: Box                  # bars + quiet zones (points)
    matrix: datamatrix.Symbol | None
    matrix_x: int                   # dots, first module's left edge
    matrix_top: int
    matrix_module: int              # dots per module
    matrix_zone: Box | None         # symbol + quiet zone (points)
    sizes: tuple[tuple[str, float], ...]  # block field -> font size used
    omitted: tuple[str, ...] = ()   # auxiliary statements left to the dispensing label

    def zones(self) -> list[Box]:
        return [z for z in (self.code_zone, self.matrix_zone) if z is not None]


@dataclass(frozen=True)
class _Spans:
    """Free horizontal span of a text line: beside the Code 128 (to its right) and beside the
    DataMatrix (to its left). Hashable, so wrapping the same words in the same place is
    computed once (labels of one template differ mostly in the lot)."""

    pad: float  # float-ok: geometry (points), not a dose
    width: float  # float-ok: geometry (points), not a dose
    gap: float  # float-ok: geometry (points), not a dose
    code_zone: Box
    matrix_zone: Box | None

    def __post_init__(self):
        # the hash is a cache key of every line wrapped: worked out once, not per line
        object.__setattr__(self, "_hash", hash((self.pad, self.width, self.gap,
                                                 self.code_zone, self.matrix_zone)))

    def __hash__(self) -> int:
        return self._hash

    def __call__(self, top: float, bottom: float) -> tuple[float, float]:  # float-ok: geometry (points), not a dose
        left, right = self.pad, self.width - self.pad
        z = self.code_zone
        if z.overlaps_rows(top - self.gap, bottom + self.gap):
            left = max(left, z.x1 + self.gap)
        z = self.matrix_zone
        if z is not None and z.overlaps_rows(top - self.gap, bottom + self.gap):
            right = min(right, z.x0 - self.gap)
        return left, right - left


@lru_cache(maxsize=256)
def _spans(pad: float, width: float, gap: float, code_zone: Box, matrix_zone: Box | None  # float-ok: geometry (points), not a dose
           ) -> _Spans:
    """One :class:`_Spans` object for labels with the same zones, so the wrapping caches
    find their entries by identity instead of comparing field by field."""
    return _Spans(pad, width, gap, code_zone, matrix_zone)


@lru_cache(maxsize=8192)
def _wrap(words: tuple[str, ...], font: str, size: float, span_at, top: float, lh: float,  # float-ok: geometry (points), not a dose
          bottom: float, full: float, field: str, at_min: bool):  # float-ok: geometry (points), not a dose
    """Greedy word wrap; ``span_at(top, bottom)`` is the free (x, width) for a line there.

    A line slot narrowed by a barcode that is too narrow for the next word is skipped.
    Returns (lines as (top, x, text), next top) or None when the text runs past ``bottom``;
    raises when a single word is wider than a full-width line at the minimum size.
    """
    w = widths()
    space = w(" ", font, size)
    out, cur, cur_w = [], [], 0.0
    y = top
    x, avail = span_at(y, y + lh)
    i = 0
    while i < len(words):
        if y + lh > bottom + 1e-6:
            return None
        word = words[i]
        ww = w(word, font, size)
        if not cur:
            x, avail = span_at(y, y + lh)
            if ww > avail + 1e-6:
                if avail < full - 1e-6:  # a narrowed slot: try the next line
                    y += lh
                    continue
                if at_min:
                    shown = word.replace(NBSP, " ")
                    raise LabelError(f"{field}: {shown!r} is too wide for the label even at "
                                     f"{size:g} pt", field=field)
                return None
            cur, cur_w = [word], ww
            i += 1
            continue
        if cur_w + space + ww <= avail + 1e-6:
            cur.append(word)
            cur_w += space + ww
            i += 1
            continue
        out.append((y, x, " ".join(cur)))
        y += lh
        cur, cur_w = [], 0.0
    if cur:
        if y + lh > bottom + 1e-6:
            return None
        out.append((y, x, " ".join(cur)))
        y += lh
    return out, y


def _texts(template: LabelTemplate, item: LabelData, keep: int | None = None):
    """(block, field label, font, words) for every non-empty block, text checked for glyphs.

    ``keep``: how many auxiliary statements a block with ``overflow = "refer"`` shows (the
    rest are replaced by REFER_TEXT); None for all.
    """
    out = []
    for b in template.blocks:
        shown = item
        if keep is not None and b.overflow == "refer" and keep < len(item.auxiliary):
            shown = replace(item, auxiliary=item.auxiliary[:keep] + (REFER_TEXT,))
        fields = b.fields
        got = _block_text(fields, b.bold, tuple(shown.field_text(f, template.statements)
                                                for f in fields))
        if got is not None:
            out.append((b, *got))
    return out


@lru_cache(maxsize=4096)
def _block_text(fields: tuple[str, ...], bold: bool, parts: tuple[str, ...]):
    """A block's (field label, font, words) from its fields' texts, or None when they are
    all blank; kept, as most blocks say the same on every label of a run."""
    fname = "+".join(fields)
    text = SEPARATOR.join(p for p in parts if p.strip())
    if not text.strip():
        return None
    font = BOLD if bold else REGULAR
    if len(fields) > 1:  # a refusal names the field at fault, not the whole block
        for f, p in zip(fields, parts):
            if p.strip():
                clean(p, f, font)
    text = clean(text, fname, font)
    return fname, font, tuple(filter(None, text.split(" ")))


def _place_codes(template: LabelTemplate, item: LabelData):
    lay = template.layout
    dot = template.dot
    W, H = template.stock.label_width, template.stock.label_height
    pad = lay.padding
    bc = lay.barcode
    bars = code128.layout_bars(item.lot, bc.module_dots, bc.quiet_modules)
    # quiet zone starts at the padding; +1 dot of slack each side for snapping to the
    # page's dot grid when the label sits at a fractional dot offset on a sheet.
    qx = math.ceil(pad / dot)
    bars_x = qx + bars.quiet
    h = math.ceil(bc.height / dot)
    bottom = math.floor((H - pad) / dot) - 1
    top = bottom - h
    code_zone = Box(qx * dot, top * dot, (bars_x + bars.width + bars.quiet + 1) * dot,
                    (bottom + 1) * dot)
    if code_zone.x1 > W - pad + 1e-6:
        mm = bars.total_width * dot * 25.4 / 72
        raise LabelError(f"barcode: the Code 128 of lot {item.lot!r} needs {mm:.1f} mm with its "
                         f"quiet zones; template {template.id!r} has "
                         f"{(W - 2 * pad) * 25.4 / 72:.1f} mm", field="barcode")
    sym, mx, mt, mzone, md = None, 0, 0, None, 0
    if item.gtin and lay.datamatrix is not None:
        dm = lay.datamatrix
        sym = datamatrix.encode(datamatrix.gs1_element_string(item.gtin, item.bud, item.lot))
        md = dm.module_dots
        q = dm.quiet_modules * md
        side = sym.size * md
        right = math.floor((W - pad) / dot) - 1
        mx = right - q - side
        if dm.position == "bottom-right":
            mt = bottom - q - side
        else:
            mt = math.ceil(pad / dot) + q + 1
        mzone = Box((mx - q) * dot, (mt - q - 1) * dot, (mx + side + q + 1) * dot,
                    (mt + side + q + 1) * dot)
        if mzone.x0 < pad - 1e-6 or mzone.y0 < pad - 1e-6 or (
                mzone.overlaps_rows(code_zone.y0, code_zone.y1) and mzone.x0 < code_zone.x1):
            raise LabelError(f"datamatrix: the GS1 DataMatrix does not fit beside the Code 128 "
                             f"on template {template.id!r}", field="datamatrix")
    return bars, bars_x, top, h, code_zone, sym, mx, mt, mzone, md


def layout_label(template: LabelTemplate, item: LabelData) -> LabelLayout:
    """Lay out one label; raise :class:`LabelError` naming the field if it cannot fit."""
    lay = template.layout
    W, H = template.stock.label_width, template.stock.label_height
    pad, gap = lay.padding, lay.gap
    bars, bars_x, bars_top, bars_h, code_zone, sym, mx, mt, mzone, md = \
        _place_codes(template, item)
    # Text flows from the top down to the bottom padding, around the barcode zones: beside
    # the Code 128 (to its right) and beside the DataMatrix (to its left).
    text_top, text_bottom = pad, H - pad
    full = W - 2 * pad
    span_at = _spans(pad, W, gap, code_zone, mzone)

    refer = any(b.overflow == "refer" for b in template.blocks)
    n_aux = len(item.auxiliary)
    keeps = [None] + (list(range(n_aux - 1, 0, -1)) if refer else [])
    for n, keep in enumerate(keeps):
        try:
            lines, sizes = _fit(template, _texts(template, item, keep), span_at, text_top,
                                text_bottom, full)
        except LabelError as exc:
            if n + 1 < len(keeps) and getattr(exc, "fits", True) is False:
                continue
            raise
        omitted = item.auxiliary[keep:] if keep is not None else ()
        break
    return LabelLayout(
        width=W, height=H, dot=template.dot, lines=tuple(lines), bars=bars, bars_x=bars_x,
        bars_top=bars_top, bars_height=bars_h, code_zone=code_zone, matrix=sym, matrix_x=mx,
        matrix_top=mt, matrix_module=md, matrix_zone=mzone, sizes=sizes,
        omitted=tuple(omitted))


def _flow(blocks, sizes, span_at, text_top, text_bottom, full, ls, at_min):
    """Place every block at the given sizes; return (lines, None) or (lines, failed block)."""
    y = text_top
    lines: list[Line] = []
    for k, ((b, fname, font, words), size) in enumerate(zip(blocks, sizes)):
        if k:
            y += b.space_before
        got = _lines(words, font, size, span_at, y, size * ls, text_bottom, full, fname, at_min)
        if got is None:
            return lines, fname
        placed, y = got
        lines += placed
    return lines, None


@lru_cache(maxsize=8192)
def _lines(words: tuple[str, ...], font: str, size: float, span_at, top: float, lh: float,  # float-ok: geometry (points), not a dose
           bottom: float, full: float, field: str, at_min: bool):  # float-ok: geometry (points), not a dose
    """:func:`_wrap`'s lines as :class:`Line` objects (frozen, so labels that say the same
    thing in the same place share them), and the next top; None if the text runs out."""
    got = _wrap(words, font, size, span_at, top, lh, bottom, full, field, at_min)
    if got is None:
        return None
    placed, y = got
    return tuple(Line(x, t + lh - DESCENT * size, font, size, text.replace(NBSP, " "), field)
                 for t, x, text in placed), y


def _culprit(blocks, sizes, span_at, text_top, text_bottom, full, ls, failed):
    """The field to name when nothing fits: of the blocks whose removal lets the rest fit,
    the one taking the most lines; else the block where the label ran out of room."""
    best, best_lines = failed, -1
    tall_bottom = text_bottom + 10_000
    for k in range(len(blocks)):
        rest = blocks[:k] + blocks[k + 1:]
        rest_sizes = sizes[:k] + sizes[k + 1:]
        if _flow(rest, rest_sizes, span_at, text_top, text_bottom, full, ls, False)[1] is None:
            lines, _ = _flow([blocks[k]], [sizes[k]], _Spans(0.0, full, 0.0, _NOWHERE, None),
                             0.0, tall_bottom, full, ls, False)
            if len(lines) > best_lines:
                best, best_lines = blocks[k][1], len(lines)
    return best


def _fit(template: LabelTemplate, blocks, span_at, text_top: float, text_bottom: float,  # float-ok: geometry (points), not a dose
         full: float):  # float-ok: geometry (points), not a dose
    """Wrap, then shrink every block in SHRINK_STEP steps to its minimum; else refuse."""
    if not blocks:
        raise LabelError("label: nothing to print", field="label")
    ls = template.layout.line_spacing
    step = 0.0
    while True:
        sizes = [max(b.min_size, b.size - step) for b, *_ in blocks]
        at_min = all(s <= b.min_size for s, (b, *_) in zip(sizes, blocks))
        lines, failed = _flow(blocks, sizes, span_at, text_top, text_bottom, full, ls, at_min)
        if failed is None:
            return lines, tuple((fname, s) for (b, fname, *_), s in zip(blocks, sizes))
        if at_min:
            who = _culprit(blocks, sizes, span_at, text_top, text_bottom, full, ls, failed)
            where = "" if who == failed else f"; the label runs out of room at {failed}"
            raise LabelError(f"{who}: the text does not fit on template {template.id!r} even "
                             f"at {min(sizes):g} pt{where}; refusing to print (shorten it or "
                             f"use a larger label)", field=who, template=template.id,
                             fits=False)
        step += SHRINK_STEP


def verify(layout: LabelLayout, item: LabelData) -> None:
    """Read every barcode back from what will be drawn; raise unless it says exactly what
    it must (the lot; and (01) GTIN, (17) BUD, (10) lot for the DataMatrix)."""
    code128.verify(layout.bars, item.lot)
    if layout.matrix is not None:
        datamatrix.verify(layout.matrix, item.gtin, item.bud, item.lot)
    width, zones = widths(), layout.zones()
    for ln in layout.lines:
        top = ln.baseline - ASCENT * ln.size
        bottom = ln.baseline + DESCENT * ln.size
        if top < -1e-6 or bottom > layout.height + 1e-6:
            raise LabelError(f"{ln.field}: text falls outside the label", field=ln.field)
        w = width(ln.text, ln.font, ln.size)
        if ln.x < -1e-6 or ln.x + w > layout.width + 1e-6:
            raise LabelError(f"{ln.field}: text falls outside the label", field=ln.field)
        for z in zones:
            if z.overlaps_rows(top, bottom) and ln.x < z.x1 and ln.x + w > z.x0:
                raise LabelError(f"{ln.field}: text would overlap a barcode", field=ln.field)
