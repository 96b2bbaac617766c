"""ZPL II for thermal label printers: the laid-out label drawn on the printer's dots.

Layout is computed once (:func:`compounding.labeling.layout.layout_label`) and drawn twice:
the PDF renderer and this module draw the same :class:`LabelLayout`, so a label cannot say
one thing on paper and another on the thermal printer.

- Text: each placed line is drawn with the shipped font (DejaVu Sans, the font the layout
  measured) at the printer's dpi and sent as a ``^GFA`` bitmap. Printer-resident fonts have
  other widths than the font the layout fitted (a line could run into a barcode or off the
  label) and often lack the glyphs of a name such as "Zoë Nguyễn", so no label text is sent
  as printer-font field data. Each glyph sits at the x the layout computed for it (no
  accumulated rounding).
- Barcodes: every Code 128 bar is a filled ``^GB`` box at whole dots, and the GS1 DataMatrix
  is a ``^GFA`` bitmap of its modules at whole dots: exactly the bars and modules the layout
  encoded and read back (GS1 FNC1 included: the symbol is the layout's, not the printer's
  encoder). Not ``^GB`` for modules: a square ``^GB2,2,2`` is drawn 3 x 3 dots by the
  zebrash renderer, and a bitmap leaves no such doubt.
- The label size is set in the job (``^PW`` width, ``^LL`` length, in dots), ``^CI28``
  (UTF-8) is set for the comment line, and all copies of a label are one format with
  ``^PQ`` (one job, printing starts at once for thousands of labels).
- Field data that carries text (the ``^FX`` comment naming the lot and template) is escaped
  the ``^FH`` way (``_5E`` for a caret...), so a caret, tilde or backslash cannot break the job.

Source of the commands: Zebra "ZPL II Programming Guide" (P1012728): ^XA/^XZ, ^PW, ^LL, ^LH,
^CI28, ^FO, ^GB, ^GFA (ASCII hex; ',' ends a row with zeros, ':' repeats the previous row),
^FH, ^FX, ^PQ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from ..errors import InputError, LabelError
from ..labeling.content import LabelData
from ..labeling.fonts import ASCENT, DESCENT, FILES, FONT_DIR, widths
from ..labeling.layout import LabelLayout, Line
from ..labeling.templates import LabelTemplate

#: Largest ^PQ quantity (ZPL II Programming Guide, ^PQ: 1 to 99,999,999).
MAX_PQ = 99_999_999
#: Ink threshold for the anti-aliased glyph raster (0-255): half coverage prints a dot.
INK_THRESHOLD = 128


def fh_escape(text: str) -> str:
    """Text safe inside ZPL field data with ``^FH`` (indicator ``_``): ``^``, ``~``, ``_``,
    ``\\`` and every control or non-ASCII character become ``_XX`` per UTF-8 byte (so with
    ``^CI28`` the printer decodes the original text)."""
    out = []
    for ch in text:
        if 0x20 <= ord(ch) < 0x7F and ch not in "^~_\\":
            out.append(ch)
        else:
            out.extend(f"_{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def template_for_dpi(template: LabelTemplate, dpi: int) -> LabelTemplate:
    """The template laid out for a printer of ``dpi``: barcode modules are re-counted in that
    printer's dots, never narrower than the template's own module (so never below the GS1
    0.25 mm minimum the template was validated against). Same template when dpi matches."""
    if dpi == template.dpi:
        return template

    def dots(n: int) -> int:
        return max(1, math.ceil(n * dpi / template.dpi - 1e-9))

    lay = template.layout
    bc = lay.barcode.model_copy(update={"module_dots": dots(lay.barcode.module_dots)})
    dm = (lay.datamatrix.model_copy(update={"module_dots": dots(lay.datamatrix.module_dots)})
          if lay.datamatrix is not None else None)
    return template.model_copy(update={
        "dpi": dpi, "layout": lay.model_copy(update={"barcode": bc, "datamatrix": dm})})


def label_dots(template: LabelTemplate) -> tuple[int, int]:
    """(^PW, ^LL): the label's width and length in printer dots (rounded to the nearest)."""
    s = template.stock
    return round(s.label_width / template.dot), round(s.label_height / template.dot)


@lru_cache(maxsize=64)
def _pil_font(font: str, px: float):  # float-ok: geometry (pixels), not a dose
    from PIL import ImageFont
    return ImageFont.truetype(str(FONT_DIR / FILES[font]), size=px,
                              layout_engine=ImageFont.Layout.BASIC)


def _line_bitmap(ln: Line, dot: float):  # float-ok: geometry (points), not a dose
    """(left, top, 1-bit PIL image) of one placed text line at the printer's dots."""
    from PIL import Image, ImageDraw

    w = widths()
    px = ln.size / dot
    top = math.floor((ln.baseline - ASCENT * ln.size) / dot) - 1
    bottom = math.ceil((ln.baseline + DESCENT * ln.size) / dot) + 1
    left = math.floor(ln.x / dot) - 1
    right = math.ceil((ln.x + w(ln.text, ln.font, ln.size)) / dot) + 2
    img = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    draw = ImageDraw.Draw(img)
    font = _pil_font(ln.font, px)
    base = ln.baseline / dot - top
    x = ln.x / dot - left
    for ch in ln.text:
        if ch != " ":
            draw.text((x, base), ch, font=font, fill=255, anchor="ls")
        x += w(ch, ln.font, ln.size) / dot
    return left, top, img.point(lambda v: 255 if v >= INK_THRESHOLD else 0).convert("1")


def graphic_field(img) -> str:
    """``^GFA`` for a 1-bit PIL image (ink = 1 bits), rows compressed with ``,`` (rest of
    the row blank) and ``:`` (same as the previous row)."""
    bpr = (img.width + 7) // 8
    raw = img.tobytes()  # ink was drawn as 1 bits (white on black): ZPL's 1 = a dark dot
    rows = []
    prev = None
    for r in range(img.height):
        row = raw[r * bpr:(r + 1) * bpr].hex().upper()
        if row == prev:
            rows.append(":")
            continue
        prev = row
        stripped = row.rstrip("0")
        rows.append(stripped + "," if len(stripped) < len(row) else row)
    total = bpr * img.height
    return f"^GFA,{total},{total},{bpr},{''.join(rows)}"


def _box(x: int, y: int, w: int, h: int) -> str:
    return f"^FO{x},{y}^GB{w},{h},{min(w, h)},B,0^FS"


def _matrix_bitmap(lay: LabelLayout):
    """The layout's DataMatrix modules as a 1-bit image, ``matrix_module`` dots a module."""
    from PIL import Image

    m, n = lay.matrix_module, lay.matrix.size
    img = Image.new("1", (n * m, n * m), 0)
    for r, c in lay.matrix.dark_modules():
        img.paste(1, (c * m, r * m, (c + 1) * m, (r + 1) * m))
    return img


def draw_layout(lay: LabelLayout) -> list[str]:
    """ZPL commands (no ^XA/^XZ) drawing one laid-out label: text bitmaps, bars, modules."""
    out = []
    for ln in lay.lines:
        left, top, img = _line_bitmap(ln, lay.dot)
        bbox = img.getbbox()
        if bbox is None:
            continue
        x0, y0, x1, y1 = bbox
        x0 -= x0 % 8  # keep the crop byte-aligned: the same dots, fewer bytes
        img = img.crop((x0, y0, x1, y1))
        out.append(f"^FO{left + x0},{top + y0}{graphic_field(img)}^FS")
    for x, w in lay.bars.bars:
        out.append(_box(lay.bars_x + x, lay.bars_top, w, lay.bars_height))
    if lay.matrix is not None:
        out.append(f"^FO{lay.matrix_x},{lay.matrix_top}{graphic_field(_matrix_bitmap(lay))}^FS")
    return out


def check_roll(template: LabelTemplate) -> None:
    if template.stock.type != "roll":
        raise InputError(f"format: template {template.id!r} is a {template.stock.type} of "
                         f"{template.stock.per_page} labels for an office printer; ZPL is "
                         f"for thermal roll templates (use --format pdf)", field="format")


def header(template: LabelTemplate, comment: str) -> list[str]:
    pw, ll = label_dots(template)
    return ["^XA", f"^FX{fh_escape(comment)}", "^CI28", f"^PW{pw}", f"^LL{ll}", "^LH0,0",
            "^PON"]


def render_zpl(template: LabelTemplate, items: Sequence[LabelData], copies: int = 1,
               dpi: int | None = None) -> tuple[bytes, list[LabelLayout]]:
    """ZPL II bytes for each item ``copies`` times (one ``^XA...^XZ`` format per distinct
    item, quantity in ``^PQ``), laid out for ``dpi`` (default: the template's); with the
    layouts drawn. Raises :class:`LabelError` / :class:`InputError` before any byte is made
    if a label cannot be laid out, a barcode does not read back, or the template is a sheet.
    """
    from ..labeling.render import layouts_for

    check_roll(template)
    if not isinstance(copies, int) or not 1 <= copies <= MAX_PQ:
        raise InputError(f"copies: {copies!r} must be a whole number from 1 to {MAX_PQ:,}",
                         field="copies")
    if not items:
        raise InputError("nothing to print: no labels given", field="items")
    t = template_for_dpi(template, dpi or template.dpi)
    lays = layouts_for(t, items)
    out = []
    done: dict[int, int] = {}
    for item, lay in zip(items, lays):
        if id(lay) in done:  # the same item twice: more copies of its format
            continue
        done[id(lay)] = 1
        n = copies * sum(1 for other in lays if other is lay)
        out += header(t, f"compounding label: lot {item.lot}, template {t.id} v{t.version}, "
                         f"{t.dpi} dpi")
        out += draw_layout(lay)
        out += [f"^PQ{n},0,1,Y", "^XZ"]
    return ("\n".join(out) + "\n").encode("utf-8"), lays


def render_test_label(template: LabelTemplate, printer_name: str, dpi: int) -> bytes:
    """A ZPL test label: a 2-dot box on the label's edges at the template's label size, and
    the size written in mm and inches, the printer and the dpi. If the box is cut off or
    sits off the label, the stock or the printer's media settings do not match."""
    from ..labeling.fonts import BOLD, REGULAR, clean
    from ..labeling.testpage import size_text

    check_roll(template)
    t = template_for_dpi(template, dpi)
    pw, ll = label_dots(t)
    dot = t.dot
    lines = []
    y = 6 * dot + 2
    for text, font, size in (("TEST LABEL", BOLD, 9.0),
                             (size_text(t), REGULAR, 7.0),
                             (f"printer {printer_name}, {dpi} dpi, {pw} x {ll} dots", REGULAR,
                              6.0),
                             (f"template {t.id} v{t.version}", REGULAR, 6.0)):
        text = clean(text, "test label", font)
        y += size * 1.2
        if y + DESCENT * size > t.stock.label_height - 4 * dot:
            break
        lines.append(Line(6 * dot + 2, y, font, size, text, "test"))
    cmds = header(t, f"compounding test label: printer {printer_name}")
    cmds.append(f"^FO0,0^GB{pw},{ll},2,B,0^FS")
    for ln in lines:
        left, top, img = _line_bitmap(ln, dot)
        cmds.append(f"^FO{left},{top}{graphic_field(img)}^FS")
    cmds += ["^PQ1,0,1,Y", "^XZ"]
    return ("\n".join(cmds) + "\n").encode("utf-8")

