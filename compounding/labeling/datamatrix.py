"""GS1 DataMatrix (ECC 200) carrying (01) GTIN, (17) BUD and (10) lot, with a read-back check.

Why not reportlab's ``ECC200DataMatrix`` widget: it encodes only one fixed 44 x 44 symbol in
C40 with no FNC1, so it cannot make a GS1 DataMatrix (which must start with FNC1 so scanners
report ``]d2``), and it pads the bottom-right corner differently from ISO/IEC 16022.
reportlab's ``dmtx`` widget needs pylibdmtx (a C library). Rather than add a dependency, this
module implements the small part of ISO/IEC 16022 needed here: ASCII encodation (digit pairs,
FNC1), square symbols 10 x 10 to 48 x 48 (one Reed-Solomon block each), the Annex F module
placement, and a decoder used to read every symbol back before a PDF is written.
zxing-cpp decodes every shipped template's symbols in the tests.

GS1 rules (GS1 General Specifications): (01) is 14 digits with a mod-10 check digit; (17)
is YYMMDD; (10) is up to 20 characters of GS1 character set 82, variable length, so it is
put last (no FNC1 separator needed after it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from itertools import chain

from ..errors import LabelError
from ..gs1 import validate_gtin

FNC1 = 232
PAD = 129
GS = "\x1d"

#: Square ECC 200 symbols with a single Reed-Solomon block:
#: (modules per side, data regions per side, data codewords, error-correction codewords).
SIZES = (
    (10, 1, 3, 5), (12, 1, 5, 7), (14, 1, 8, 10), (16, 1, 12, 12), (18, 1, 18, 14),
    (20, 1, 22, 18), (22, 1, 30, 20), (24, 1, 36, 24), (26, 1, 44, 28), (32, 2, 62, 36),
    (36, 2, 86, 42), (40, 2, 114, 48), (44, 2, 144, 56), (48, 2, 174, 68),
)

#: GS1 AI (10) characters: GS1 "character set 82".
_CSET82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")

# ---------------------------------------------------------------- GF(256), poly 0x12D

_EXP = [0] * 512
_LOG = [0] * 256
_v = 1
for _i in range(255):
    _EXP[_i] = _v
    _LOG[_v] = _i
    _v <<= 1
    if _v & 0x100:
        _v ^= 0x12D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def _mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


_GEN: dict[int, list[int]] = {}


def _generator(n: int) -> list[int]:
    """Coefficients of prod_{i=1..n} (x - a^i), highest degree first (leading 1)."""
    if n not in _GEN:
        g = [1]
        for i in range(1, n + 1):
            nxt = g + [0]
            for j, c in enumerate(g):
                nxt[j + 1] ^= _mul(c, _EXP[i])
            g = nxt
        _GEN[n] = g
    return _GEN[n]


def rs_ecc(data: list[int], n: int) -> list[int]:
    """Reed-Solomon check codewords (ISO/IEC 16022 5.7): long division by the generator.

    The remainder is kept as one integer of ``n`` bytes (its first coefficient in the top
    byte), so each data codeword is a shift and one XOR with the generator multiplied by the
    feedback codeword, read from a table of the 256 products (issue 18: the division cost
    a list comprehension of ``n`` table look-ups per codeword).
    """
    table = _feedback_table(n)
    top, mask = 8 * (n - 1), (1 << 8 * n) - 1
    rem = 0
    for d in data:
        rem = ((rem << 8) & mask) ^ table[(rem >> top) ^ d]
    return list(rem.to_bytes(n, "big"))


@lru_cache(maxsize=None)
def _feedback_table(n: int) -> tuple[int, ...]:
    """``f`` -> the generator's coefficients after the leading 1, each multiplied by ``f``,
    packed big-endian into one integer. Products in GF(256) are linear in ``f`` over GF(2),
    so the table is built from the 8 single-bit values."""
    g = _generator(n)[1:]
    basis = [0] * 8
    for b in range(8):
        for c in g:
            basis[b] = basis[b] << 8 | _mul(1 << b, c)
    return _span(basis)


def _span(basis) -> tuple[int, ...]:
    """The XOR of ``basis[b]`` for every bit ``b`` set in ``v``, for ``v`` in
    ``range(2 ** len(basis))``."""
    out = [0] * (1 << len(basis))
    for v in range(1, len(out)):
        low = v & -v
        out[v] = out[v ^ low] ^ basis[low.bit_length() - 1]
    return tuple(out)


def _syndromes_zero(codewords: list[int], n: int) -> bool:
    """Every syndrome S_i = C(alpha^i), i = 1..n, is zero: the codewords evaluated at the
    generator's roots, independently of the division :func:`rs_ecc` makes.

    S_i is linear over GF(2) in the codewords' bits, so a table per codeword position holds
    what its value adds to all n syndromes at once (packed one byte each): a codeword costs
    two look-ups instead of n steps of Horner's rule (issue 18).
    """
    table = _syndrome_table(len(codewords), n)
    s = 0
    for (high, low), c in zip(table, codewords):
        s ^= high[c >> 4] ^ low[c & 15]
    return s == 0


@lru_cache(maxsize=None)
def _syndrome_table(length: int, n: int) -> tuple:
    """Per codeword position k (of ``length``; the first is the highest power of x): nibble
    tables of ``c * alpha^(i * (length - 1 - k))`` for i = 1..n, packed. alpha is 2 for the
    field's polynomial 0x12D, so bit b of c stands for alpha^b."""
    out = []
    for k in range(length):
        e = length - 1 - k
        basis = []
        for b in range(8):
            v = 0
            for i in range(1, n + 1):
                v = v << 8 | _EXP[(b + i * e) % 255]
            basis.append(v)
        out.append(_nibbles(basis))
    return tuple(out)


def _nibbles(basis8: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Tables for a byte's high and low nibble from what each of its 8 bits stands for
    (``basis8[b]`` for bit ``b``, 0 = least significant)."""
    return _span(basis8[4:]), _span(basis8[:4])


# ---------------------------------------------------------------- encodation

def gs1_element_string(gtin: str, bud: date, lot: str) -> str:
    """``01<gtin>17<yymmdd>10<lot>`` after validating each element."""
    try:
        g = validate_gtin(gtin)
    except ValueError as exc:
        raise LabelError(f"gtin: {exc}", field="gtin") from None
    if not isinstance(bud, date) or not 2000 <= bud.year <= 2099:
        raise LabelError(f"bud: {bud!r} cannot be written as GS1 YYMMDD", field="bud")
    if not _CSET82.fullmatch(lot):
        raise LabelError(f"lot: {lot!r} is not a valid GS1 AI (10) value (1 to 20 characters "
                         "of GS1 character set 82)", field="lot")
    return f"01{g}17{bud:%y%m%d}10{lot}"


#: ASCII encodation of one token: a digit pair, or one ASCII character (GS is FNC1)
_ASCII_CODEWORD = {f"{n:02d}": 130 + n for n in range(100)}
_ASCII_CODEWORD.update({chr(c): c + 1 for c in range(128)})
_ASCII_CODEWORD[GS] = FNC1
#: left to right, a digit pair wherever two digits follow each other, else one character
_ASCII_TOKEN = re.compile(r"[0-9]{2}|.", re.DOTALL)


def encode_ascii(element_string: str) -> list[int]:
    """ASCII encodation with a leading FNC1 (GS1) and digit pairs; GS becomes FNC1."""
    if element_string.isascii():  # every GS1 element string (a table look-up per token)
        return [FNC1, *map(_ASCII_CODEWORD.__getitem__, _ASCII_TOKEN.findall(element_string))]
    out = [FNC1]
    s, i = element_string, 0
    while i < len(s):
        ch = s[i]
        if ch.isdigit() and i + 1 < len(s) and s[i + 1].isdigit():
            out.append(130 + int(s[i:i + 2]))
            i += 2
            continue
        if ch == GS:
            out.append(FNC1)
        elif ord(ch) < 128:
            out.append(ord(ch) + 1)
        else:
            raise LabelError(f"DataMatrix: character {ch!r} is not ASCII", field="datamatrix")
        i += 1
    return out


def _pad(codewords: list[int], capacity: int) -> list[int]:
    out = list(codewords)
    if len(out) < capacity:
        out.append(PAD)
    while len(out) < capacity:
        k = len(out) + 1  # 1-based position of this pad codeword
        v = PAD + (149 * k) % 253 + 1
        out.append(v - 254 if v > 254 else v)
    return out


# ---------------------------------------------------------------- placement (Annex F)

_PLACEMENT: dict[tuple[int, int], list[list[int]]] = {}


def placement(nrow: int, ncol: int) -> list[list[int]]:
    """Map of the data area: ``10 * codeword + bit`` (codeword 1-based, bit 1 = MSB),
    or 1 / 0 for the fixed bottom-right pattern (dark / light). ISO/IEC 16022 Annex F."""
    key = (nrow, ncol)
    if key in _PLACEMENT:
        return _PLACEMENT[key]
    arr = [[-1] * ncol for _ in range(nrow)]

    def module(row, col, chr_, bit):
        if row < 0:
            row += nrow
            col += 4 - ((nrow + 4) % 8)
        if col < 0:
            col += ncol
            row += 4 - ((ncol + 4) % 8)
        arr[row][col] = 10 * chr_ + bit

    def utah(row, col, c):
        for bit, (dr, dc) in enumerate(((-2, -2), (-2, -1), (-1, -2), (-1, -1), (-1, 0),
                                        (0, -2), (0, -1), (0, 0)), start=1):
            module(row + dr, col + dc, c, bit)

    def corner(c, cells):
        for bit, (r, co) in enumerate(cells, start=1):
            module(r, co, c, bit)

    n, r_ = nrow, ncol  # short names for the corner tables below
    chr_, row, col = 1, 4, 0
    while True:
        if row == nrow and col == 0:
            corner(chr_, ((n - 1, 0), (n - 1, 1), (n - 1, 2), (0, r_ - 2), (0, r_ - 1),
                          (1, r_ - 1), (2, r_ - 1), (3, r_ - 1)))
            chr_ += 1
        if row == nrow - 2 and col == 0 and ncol % 4:
            corner(chr_, ((n - 3, 0), (n - 2, 0), (n - 1, 0), (0, r_ - 4), (0, r_ - 3),
                          (0, r_ - 2), (0, r_ - 1), (1, r_ - 1)))
            chr_ += 1
        if row == nrow - 2 and col == 0 and ncol % 8 == 4:
            corner(chr_, ((n - 3, 0), (n - 2, 0), (n - 1, 0), (0, r_ - 2), (0, r_ - 1),
                          (1, r_ - 1), (2, r_ - 1), (3, r_ - 1)))
            chr_ += 1
        if row == nrow + 4 and col == 2 and not ncol % 8:
            corner(chr_, ((n - 1, 0), (n - 1, r_ - 1), (0, r_ - 3), (0, r_ - 2), (0, r_ - 1),
                          (1, r_ - 3), (1, r_ - 2), (1, r_ - 1)))
            chr_ += 1
        while True:
            if row < nrow and col >= 0 and arr[row][col] == -1:
                utah(row, col, chr_)
                chr_ += 1
            row -= 2
            col += 2
            if not (row >= 0 and col < ncol):
                break
        row += 1
        col += 3
        while True:
            if row >= 0 and col < ncol and arr[row][col] == -1:
                utah(row, col, chr_)
                chr_ += 1
            row += 2
            col -= 2
            if not (row < nrow and col >= 0):
                break
        row += 3
        col += 1
        if not (row < nrow or col < ncol):
            break
    if arr[nrow - 1][ncol - 1] == -1:
        arr[nrow - 1][ncol - 1] = arr[nrow - 2][ncol - 2] = 1
        arr[nrow - 1][ncol - 2] = arr[nrow - 2][ncol - 1] = 0
    for r in range(nrow):
        for c in range(ncol):
            if arr[r][c] == -1:  # pragma: no cover - Annex F fills every module
                raise LabelError("DataMatrix: placement left a module empty", field="datamatrix")
    _PLACEMENT[key] = arr
    return arr


# ---------------------------------------------------------------- symbol

@dataclass(frozen=True)
class Symbol:
    """A DataMatrix symbol: ``modules``, one byte per module (1 dark, 0 light), row after
    row from the top left: what is drawn and what is read back (issue 18: bytes are made,
    sliced and read without a Python step per module); ``rows[r][c]`` True = dark, the same
    modules as tuples, made when first asked for."""

    size: int
    modules: bytes
    element_string: str

    @cached_property
    def rows(self) -> tuple[tuple[bool, ...], ...]:
        n, m = self.size, self.modules
        return tuple(tuple(map(bool, m[i:i + n])) for i in range(0, n * n, n))

    def row(self, r: int) -> bytes:
        """Row ``r``'s modules (bytes, 1 dark)."""
        return self.modules[r * self.size:(r + 1) * self.size]

    def dark_modules(self):
        n = self.size
        for i, dark in enumerate(self.modules):
            if dark:
                yield divmod(i, n)


def _size_for(n: int):
    for spec in SIZES:
        if spec[2] >= n:
            return spec
    raise LabelError(f"DataMatrix: {n} codewords do not fit a 48 x 48 symbol", field="datamatrix")


@lru_cache(maxsize=None)
def _module_map(size: int):
    """For one symbol size: the finder and timing pattern (a grid with every other module
    light) and, for each data module, (row, column, codeword index, bit shift) or the fixed
    value of the bottom-right corner modules. Computed once per size."""
    spec = next(s for s in SIZES if s[0] == size)
    regions = spec[1]
    rs = size // regions - 2  # data modules per region side
    area = regions * rs
    grid = [[False] * size for _ in range(size)]
    finder = []
    for rr in range(regions):
        for rc in range(regions):
            top, left = rr * (rs + 2), rc * (rs + 2)
            for k in range(rs + 2):
                for r, c, dark in ((top + rs + 1, left + k, True),      # bottom: solid
                                   (top + k, left, True),                # left: solid
                                   (top, left + k, k % 2 == 0),          # top: alternating
                                   (top + k, left + rs + 1, k % 2 == 1)):  # right: alternating
                    grid[r][c] = dark
                    finder.append((r, c, dark))
    pmap = placement(area, area)
    data_modules, fixed = [], []
    for i in range(area):
        for j in range(area):
            v = pmap[i][j]
            r, c = i + 1 + 2 * (i // rs), j + 1 + 2 * (j // rs)
            if v < 10:
                fixed.append((r, c, bool(v)))
            else:
                data_modules.append((r, c, v // 10 - 1, 8 - v % 10))
    for r, c, dark in fixed:
        grid[r][c] = dark
    return spec, tuple(tuple(row) for row in grid), tuple(finder), tuple(data_modules)


@dataclass(frozen=True)
class _Bits:
    """One symbol size's modules as bits of one integer: module (r, c) is bit
    ``size * size - 1 - (r * size + c)``, so the integer written in binary is the rows one
    after another, top row first. Tables (issue 18) put a codeword's eight modules in place,
    or read them back, with two look-ups per byte instead of one step per module."""

    size: int
    n_data: int
    n_ecc: int
    base: int                    # the finder pattern's and fixed corner's dark modules
    finder_mask: int             # every finder module
    finder_dark: int             # the dark ones among them
    place: tuple                 # per codeword: (high nibble table, low nibble table)
    gather: tuple                # per byte of the modules: (high, low) -> codeword bits


@lru_cache(maxsize=None)
def _bits(size: int) -> _Bits:
    """Built from :func:`_module_map` once per size (about a millisecond for the sizes a
    label uses)."""
    spec, base_rows, finder, data_modules = _module_map(size)
    n_data, n_ecc = spec[2], spec[3]
    n_cw, top = n_data + n_ecc, size * size - 1
    base = int("".join("1" if d else "0" for row in base_rows for d in row), 2)
    mask = dark = 0
    for r, c, d in finder:
        bit = 1 << top - (r * size + c)
        mask |= bit
        dark |= bit if d else 0
    place = [[0] * 8 for _ in range(n_cw)]
    n_bytes = (size * size + 7) // 8
    gather = [[0] * 8 for _ in range(n_bytes)]
    for r, c, k, shift in data_modules:
        pos = top - (r * size + c)
        place[k][shift] |= 1 << pos
        gather[n_bytes - 1 - pos // 8][pos % 8] |= 1 << (8 * (n_cw - 1 - k) + shift)
    return _Bits(size, n_data, n_ecc, base, mask, dark, tuple(map(_nibbles, place)),
                 tuple(map(_nibbles, gather)))


#: a byte per module (0 light, anything else dark) -> '0' / '1', and back
_AS_BINARY = b"0" + b"1" * 255
_FROM_BINARY = bytes.maketrans(b"01", b"\x00\x01")


def encode(element_string: str) -> Symbol:
    """Build the GS1 DataMatrix symbol for an element string (from :func:`gs1_element_string`)."""
    data = encode_ascii(element_string)
    size, regions, n_data, n_ecc = _size_for(len(data))
    data = _pad(data, n_data)
    t = _bits(size)
    acc = t.base
    for (high, low), v in zip(t.place, data + rs_ecc(data, n_ecc)):
        acc |= high[v >> 4] | low[v & 15]
    modules = format(acc, f"0{size * size}b").encode("ascii").translate(_FROM_BINARY)
    return Symbol(size, modules, element_string)


def read(sym_rows) -> str:
    """Decode a symbol back to its GS1 element string (GS for FNC1 separators).

    Checks the finder patterns, that the Reed-Solomon syndromes are zero (no error at all
    is tolerated in a freshly made symbol), and the ASCII encodation.
    """
    size = len(sym_rows)
    spec = next((s for s in SIZES if s[0] == size), None)
    if spec is None or any(len(r) != size for r in sym_rows):
        raise LabelError(f"DataMatrix: {size} x {size} is not a supported size", field="datamatrix")
    try:
        flat = bytes(chain.from_iterable(sym_rows))
    except (TypeError, ValueError):  # values other than booleans and small integers
        flat = bytes(map(bool, chain.from_iterable(sym_rows)))
    return read_modules(size, flat)


def read_modules(size: int, flat: bytes) -> str:
    """:func:`read` of the modules as drawn: one byte per module (any value but 0 dark),
    row after row (:attr:`Symbol.modules`)."""
    if not any(s[0] == size for s in SIZES) or len(flat) != size * size:
        raise LabelError(f"DataMatrix: {size} x {size} is not a supported size", field="datamatrix")
    t = _bits(size)
    n_data, n_ecc = t.n_data, t.n_ecc
    modules = int(flat.translate(_AS_BINARY), 2)
    if modules & t.finder_mask != t.finder_dark:
        raise LabelError("DataMatrix: finder pattern damaged", field="datamatrix")
    packed = 0
    for (high, low), x in zip(t.gather, modules.to_bytes(len(t.gather), "big")):
        if x:
            packed |= high[x >> 4] | low[x & 15]
    cw = list(packed.to_bytes(n_data + n_ecc, "big"))
    if not _syndromes_zero(cw, n_ecc):
        raise LabelError("DataMatrix: Reed-Solomon check failed", field="datamatrix")
    data = cw[:n_data]
    if not data or data[0] != FNC1:
        raise LabelError("DataMatrix: does not start with FNC1 (not GS1)", field="datamatrix")
    out = []
    for c in data[1:]:
        if c == PAD:
            break
        if 1 <= c <= 128:
            out.append(chr(c - 1))
        elif 130 <= c <= 229:
            out.append(f"{c - 130:02d}")
        elif c == FNC1:
            out.append(GS)
        else:
            raise LabelError(f"DataMatrix: unexpected codeword {c}", field="datamatrix")
    return "".join(out)


def parse_gs1(element_string: str) -> dict[str, str]:
    """Split ``01...17...10...`` into ``{"01": ..., "17": ..., "10": ...}`` (only these AIs)."""
    fixed = {"01": 14, "17": 6}
    out: dict[str, str] = {}
    s = element_string
    while s:
        ai = s[:2]
        if ai in fixed:
            n = fixed[ai]
            if len(s) < 2 + n:
                raise LabelError(f"DataMatrix: AI ({ai}) is short", field="datamatrix")
            out[ai], s = s[2:2 + n], s[2 + n:]
        elif ai == "10":
            value, _, s = s[2:].partition(GS)
            out[ai] = value
        else:
            raise LabelError(f"DataMatrix: unexpected AI ({ai})", field="datamatrix")
    return out


def verify(sym: Symbol, gtin: str, bud: date, lot: str) -> None:
    """Raise unless the symbol reads back exactly (01) gtin, (17) bud, (10) lot."""
    got = parse_gs1(read_modules(sym.size, sym.modules))
    want = {"01": validate_gtin(gtin), "17": f"{bud:%y%m%d}", "10": lot}
    if got != want:
        raise LabelError(f"DataMatrix reads {got}, not {want}; refusing to print it",
                         field="datamatrix")
