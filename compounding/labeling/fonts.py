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
    """Register the shipped TTFs with reportlab once; return ``{name: TTFont}``.

    Parsing a TrueType file's character map and metrics costs tens of milliseconds a font
    on every command; the parsed tables are kept in the on-disk cache (:mod:`..cache`),
    keyed by the font file's SHA-256 and the ReportLab version, and read back in about a
    millisecond (issue 18).
    """
    from reportlab.pdfbase import pdfmetrics

    fonts = {}
    for name, file in FILES.items():
        path = FONT_DIR / file
        try:
            data = path.read_bytes()
        except OSError:
            raise LabelError(f"font file {path} is missing from the package", field="font") \
                from None
        font = _cached_font(name, path, data) or _parse_font(name, path, data)
        pdfmetrics.registerFont(font)
        fonts[name] = font
    return fonts


#: Bump when the cached font state changes shape.
_FONT_CACHE_FORMAT = "1"
#: The parsed face's attributes that are ReportLab name strings (a ``bytes`` subclass).
_NAME_ATTRS = ("name", "familyName", "styleName", "fullName", "uniqueFontID")


def _font_key(data: bytes) -> str:
    from reportlab import Version

    from .. import cache
    return cache.key("font", _FONT_CACHE_FORMAT, Version, data)


def _parse_font(name: str, path: Path, data: bytes):
    """Parse the font with ReportLab and store its tables in the cache."""
    import marshal

    from reportlab.pdfbase.ttfonts import TTFont

    from .. import cache

    font = TTFont(name, str(path))
    state = {k: v for k, v in vars(font.face).items() if k not in ("_ttf_data", "_pdfScale")}
    for k in _NAME_ATTRS:
        state[k] = bytes(state[k])
    try:
        payload = marshal.dumps(state)
    except ValueError:  # a ReportLab version with state marshal cannot hold: no cache
        return font
    cache.save("font", _font_key(data), payload)
    return font


def _cached_font(name: str, path: Path, data: bytes):
    """The font rebuilt from the cache, or None. Does what ``TTFont.__init__`` does, with
    the face's parsed tables read back instead of parsed (tests/test_labels_speed.py checks
    the rebuilt font equals a parsed one, attribute by attribute, and draws the same PDF)."""
    import marshal
    from weakref import WeakKeyDictionary

    from reportlab import rl_config
    from reportlab.pdfbase.ttfonts import TTEncoding, TTFont, TTFontFace, TTFNameBytes

    from .. import cache

    payload = cache.load("font", _font_key(data))
    if payload is None:
        return None
    try:
        state = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(state, dict) or not all(k in state for k in _NAME_ATTRS + ("unitsPerEm",)):
        return None
    face = TTFontFace.__new__(TTFontFace)
    face.__dict__.update(state)
    for k in _NAME_ATTRS:
        setattr(face, k, TTFNameBytes(state[k]))
    face._ttf_data = data
    face.filename = str(path)
    per_em = face.unitsPerEm
    face._pdfScale = (lambda x: x) if per_em == 1000 else (lambda x, m=1000 / per_em: x * m)
    font = TTFont.__new__(TTFont)
    font.fontName = name
    font.face = face
    font.encoding = TTEncoding()
    font.state = WeakKeyDictionary()
    font._asciiReadable = rl_config.ttfAsciiReadable
    from fnmatch import fnmatch
    font.shapable = not any(fnmatch(name, g) for g in (rl_config.unShapedFontGlob or ()))
    return font


@lru_cache(maxsize=None)
def _cmap(name: str) -> frozenset:
    return frozenset(register()[name].face.charToGlyph)


@lru_cache(maxsize=None)
def _plain(font: str) -> frozenset:
    """Characters up to U+00FF that :func:`clean` passes unchanged with ``font``: drawn by
    the font, not a control or format character, not right-to-left, and the only spaces
    the space and the no-break space. Text made of them alone, already in NFC, is returned
    as it is (none of them composes with another under NFC)."""
    cmap = _cmap(font)
    return frozenset(chr(c) for c in range(0x20, 0x100)
                     if c in cmap and (chr(c) in (" ", NBSP) or (
                         unicodedata.category(chr(c))[0] not in "CZ"
                         and unicodedata.bidirectional(chr(c)) not in ("R", "AL", "AN"))))


@lru_cache(maxsize=4096)
def clean(text: str, field: str, font: str = REGULAR) -> str:
    """NFC-normalise ``text`` and refuse control characters and characters the font lacks."""
    if unicodedata.is_normalized("NFC", text) and _plain(font).issuperset(text):
        return text  # what the checks below would return (issue 18: most label text)
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
