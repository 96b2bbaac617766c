"""Code 128 for the internal lot ID: modules from python-barcode, checked by our own decoder.

Why our own decoder: the barcode is the one thing on a label a person cannot proof-read.
python-barcode (0.16 and earlier) silently drops a leading "99" when it starts in code set C
(it mistakes the data value 99 for a "switch to code C"), so ``99123`` would scan as
``123``. Every symbol is therefore decoded back from the exact bars that will be drawn,
using the symbol table of ISO/IEC 15417 typed out below (not python-barcode's), and
compared with what it must carry; a mismatch is a :class:`LabelError`, never a print.

Geometry (ISO/IEC 15417, GS1 General Specifications): every symbol character is 11 modules
(3 bars, 3 spaces), the stop 13; quiet zones at least 10 modules each side. On a thermal
head a module must be a whole number of dots, so bars are laid out in integer dots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import LabelError

#: ISO/IEC 15417 symbol table: bar/space widths (in modules) of values 0..106 (106 = stop).
PATTERNS = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)
START_A, START_B, START_C, STOP = 103, 104, 105, 106
_BY_PATTERN = {p: v for v, p in enumerate(PATTERNS)}
#: the same table keyed by the six widths as integers (a symbol read from its bars)
_BY_WIDTHS = {tuple(map(int, p)): v for v, p in enumerate(PATTERNS) if v != STOP}
_STOP_WIDTHS = tuple(map(int, PATTERNS[STOP]))
_RUN = re.compile("1+|0+")
_BAR = re.compile("1+")

#: Minimum quiet zone each side, in modules (ISO/IEC 15417).
MIN_QUIET_MODULES = 10


class _Code128Fixed:
    """python-barcode's Code128 with its start-code optimisation made safe.

    ``Code128._try_to_optimize`` replaces ``[START_C, x]`` by the start code of set ``x``
    when ``x`` is 99, 100 or 101. In code set C the value 99 is the data "99", not a
    switch, so it is dropped. Only 100 (to B) and 101 (to A) may be folded into the start.
    """

    _cls = None
    errors: tuple = ()

    @classmethod
    def get(cls):
        if cls._cls is None:
            from barcode.codex import Code128
            from barcode.errors import BarcodeError

            class SafeCode128(Code128):
                def _try_to_optimize(self, encoded):
                    if len(encoded) > 1 and encoded[0] == START_C and encoded[1] in (100, 101):
                        return super()._try_to_optimize(encoded)
                    return encoded

            cls._cls = SafeCode128
            cls.errors = (BarcodeError, RuntimeError, KeyError, ValueError)
        return cls._cls


def modules(text: str) -> str:
    """The module string ('1' bar, '0' space) of ``text``, start to stop, from python-barcode."""
    if not text or not (text.isascii() and text.isprintable()):  # characters 32 to 126
        raise LabelError(f"barcode: {text!r} must be printable ASCII for Code 128", field="barcode")
    code128 = _Code128Fixed.get()
    try:
        # a writer is only needed to draw; passing one spares making python-barcode's SVG one
        return code128(text, writer=_NO_WRITER).build()[0]
    except _Code128Fixed.errors as exc:
        raise LabelError(f"barcode: python-barcode cannot encode {text!r}: {exc}",
                         field="barcode") from None


class _NoWriter:
    """Stands in for python-barcode's writer, which only ``render`` uses."""


_NO_WRITER = _NoWriter()


def runs(module_string: str) -> list[int]:
    """Widths of alternating bars and spaces, starting with a bar."""
    _check_modules(module_string)
    return [len(r) for r in _RUN.findall(module_string)]


def _check_modules(module_string: str) -> None:
    if not module_string or module_string[0] != "1" or set(module_string) - {"0", "1"}:
        raise LabelError("barcode: a Code 128 symbol must start with a bar", field="barcode")


def decode_values(module_string: str) -> list[int]:
    """Symbol values (start .. check) of a module string; raise if any pattern is invalid."""
    return _values(runs(module_string))


def _values(widths: list[int]) -> list[int]:
    """Symbol values (start .. check) from the widths of the bars and spaces."""
    if len(widths) % 6 != 1 or len(widths) < 6 * 3 + 7:
        raise LabelError("barcode: wrong number of bars and spaces for Code 128", field="barcode")
    values = []
    for i in range(0, len(widths) - 7, 6):
        v = _BY_WIDTHS.get(tuple(widths[i:i + 6]))
        if v is None:
            pat = "".join(str(w) for w in widths[i:i + 6])
            raise LabelError(f"barcode: pattern {pat} is not a Code 128 symbol", field="barcode")
        values.append(v)
    if tuple(widths[-7:]) != _STOP_WIDTHS:
        raise LabelError("barcode: no Code 128 stop pattern", field="barcode")
    return values


def decode(module_string: str) -> str:
    """Decode a Code 128 module string to its text (FNC characters are refused here).

    Checks the start code, the mod-103 check symbol, and the code-set rules (A, B, C,
    shift), per ISO/IEC 15417.
    """
    return _text(decode_values(module_string))


def _text(values: list[int]) -> str:
    """The text of a symbol's values (start .. check): :func:`decode`'s checks."""
    start, data, check = values[0], values[1:-1], values[-1]
    if start not in (START_A, START_B, START_C):
        raise LabelError("barcode: no Code 128 start code", field="barcode")
    total = start + sum(i * v for i, v in enumerate(data, start=1))
    if total % 103 != check:
        raise LabelError("barcode: Code 128 check symbol does not match", field="barcode")
    cset = {START_A: "A", START_B: "B", START_C: "C"}[start]
    out: list[str] = []
    shift = False
    for v in data:
        current = ("B" if cset == "A" else "A") if shift else cset
        shift = False
        if current == "C":
            if v < 100:
                out.append(f"{v:02d}")
            elif v == 100:
                cset = "B"
            elif v == 101:
                cset = "A"
            else:
                raise LabelError("barcode: FNC1 is not expected in a lot barcode", field="barcode")
            continue
        if v < 64 or (current == "B" and v < 96):
            out.append(chr(32 + v))
        elif current == "A" and v < 96:
            out.append(chr(v - 64))
        elif v == 98:
            shift = True
        elif v == 99:
            cset = "C"
        elif (current == "A" and v == 100) or (current == "B" and v == 101):
            cset = "B" if current == "A" else "A"
        else:
            raise LabelError(f"barcode: function character {v} is not expected in a lot barcode",
                             field="barcode")
    return "".join(out)


@dataclass(frozen=True)
class Bars:
    """A Code 128 symbol laid out in printer dots, relative to the symbol's left edge.

    ``bars`` are ``(x, width)`` in dots from the left edge of the first bar; the quiet zones
    (``quiet`` dots each side) are outside that range and must stay empty.
    """

    text: str
    module_dots: int
    quiet: int  # dots each side
    bars: tuple[tuple[int, int], ...]
    width: int  # dots from first bar's left edge to last bar's right edge

    @property
    def total_width(self) -> int:
        """Dots including both quiet zones."""
        return self.width + 2 * self.quiet


def layout_bars(text: str, module_dots: int, quiet_modules: int = MIN_QUIET_MODULES) -> Bars:
    """Lay out ``text`` as bars: one (x, width) per bar, every edge on the dot grid."""
    if module_dots < 1 or int(module_dots) != module_dots:
        raise LabelError("barcode: module width must be a whole number of dots", field="barcode")
    if quiet_modules < MIN_QUIET_MODULES:
        raise LabelError(f"barcode: quiet zone must be at least {MIN_QUIET_MODULES} modules",
                         field="barcode")
    mods = modules(text)
    _check_modules(mods)
    bars = tuple((m.start() * module_dots, (m.end() - m.start()) * module_dots)
                 for m in _BAR.finditer(mods))
    return Bars(text, module_dots, quiet_modules * module_dots, bars, len(mods) * module_dots)


def read_bars(b: Bars) -> str:
    """Rebuild the module string from the drawn bars (dots) and decode it.

    Independent of how the bars were made: every edge must fall on a module boundary.
    """
    m = b.module_dots
    widths: list[int] = []
    pos = 0
    for x, w in b.bars:
        if x % m or w % m or x < pos or w <= 0:
            raise LabelError("barcode: a bar is off the module grid", field="barcode")
        if x > pos:
            widths.append((x - pos) // m)
        elif widths:  # two bars touching read as one wider bar
            widths[-1] += w // m
            pos = x + w
            continue
        widths.append(w // m)
        pos = x + w
    if pos != b.width:
        raise LabelError("barcode: symbol width does not match its bars", field="barcode")
    if not widths or b.bars[0][0] != 0:
        raise LabelError("barcode: a Code 128 symbol must start with a bar", field="barcode")
    return _text(_values(widths))


def verify(b: Bars, expected: str) -> None:
    """Raise :class:`LabelError` unless the drawn bars decode to exactly ``expected``."""
    got = read_bars(b)
    if got != expected:
        raise LabelError(f"barcode: the Code 128 symbol reads {got!r}, not {expected!r}; "
                         "refusing to print it", field="barcode", expected=expected, got=got)
    if b.quiet < MIN_QUIET_MODULES * b.module_dots:
        raise LabelError("barcode: quiet zone below 10 modules", field="barcode")
