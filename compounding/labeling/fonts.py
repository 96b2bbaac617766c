"""The fonts shipped with the package, and the rule that no character is drawn as a box.

The PDF base-14 fonts have no glyphs for ``Zoë Nguyễn``'s ``ễ``, Greek or Cyrillic, and a
missing glyph prints as an empty box or nothing: a wrong patient name. Labels therefore use
DejaVu Sans (regular and bold, Bitstream Vera licence, ``compounding/fonts/``), which covers
Latin, Vietnamese, Greek and Cyrillic, and every string is checked against the font's
character map before it is laid out: a character the font cannot draw is a
:class:`LabelError` naming the field, never a box. Right-to-left scripts (Arabic, Hebrew...)
are refused the same way (issue 12): DejaVu has the glyphs, but labels neither shape nor
reorder text, so they would print reversed and unjoined.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from ..errors import LabelError

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}

#: Vertical metrics as a fraction of the font size (DejaVu Sans hhea: ascender 0.928,
#: descender 0.236). Glyph ink, accents on capitals included, stays inside these.
ASCENT = 0.93
DESCENT = 0.24

NBSP = "\u00a0"  # used between a number and its unit so a line never breaks there


@lru_cache(maxsize=None)
def register() -> dict:
    """Register the shipped TTFs with reportlab once; return ``{name: TTFont}``."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    fonts = {}
    for name, file in FILES.items():
        path = FONT_DIR / file
        if not path.exists():
            raise LabelError(f"font file {path} is missing from the package", field="font")
        font = TTFont(name, str(path))
        pdfmetrics.registerFont(font)
        fonts[name] = font
    return fonts


@lru_cache(maxsize=None)
def _cmap(name: str) -> frozenset:
    return frozenset(register()[name].face.charToGlyph)


@lru_cache(maxsize=4096)
def clean(text: str, field: str, font: str = REGULAR) -> str:
    """NFC-normalise ``text`` and refuse control characters and characters the font lacks."""
    # any other space character (thin, em...) is an ordinary space on a label
    s = "".join(" " if unicodedata.category(c) == "Zs" and c != NBSP else c
                for c in unicodedata.normalize("NFC", text))
    # Issue 12: right-to-left scripts (Arabic, Hebrew, Syriac, Thaana, N'Ko...; bidi classes
    # R, AL and AN, Unicode UAX #9) would be drawn left to right with unjoined letters,
    # which reads as a different name. Labels do not shape or reorder text, so refuse.
    rtl = [c for c in s if unicodedata.bidirectional(c) in ("R", "AL", "AN")]
    if rtl:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in list(dict.fromkeys(rtl))[:3])
        raise LabelError(f"{field}: right-to-left script ({shown}) is not supported on labels "
                         "yet (it would print reversed and unjoined); write the name in a "
                         "left-to-right script as on the prescription record", field=field)
    cmap = _cmap(font)
    bad = []
    for ch in s:
        if ch in (" ", NBSP):
            continue
        if unicodedata.category(ch)[0] in "CZ" or ord(ch) not in cmap:
            bad.append(ch)
    if bad:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in dict.fromkeys(bad))
        raise LabelError(f"{field}: no shipped font can draw {shown}; refusing to print a "
                         f"label with a missing character", field=field)
    return s


class Widths:
    """Cached string widths at 1 pt (multiply by the size)."""

    def __init__(self):
        fonts = register()
        self._fonts = fonts
        self._cache: dict[tuple[str, str], float] = {}

    def __call__(self, text: str, font: str, size: float) -> float:  # float-ok: geometry (points), not a dose
        key = (font, text)
        w = self._cache.get(key)
        if w is None:
            w = self._fonts[font].stringWidth(text, 1.0)
            self._cache[key] = w
        return w * size


@lru_cache(maxsize=None)
def widths() -> Widths:
    return Widths()
