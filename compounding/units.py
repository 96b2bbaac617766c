"""The one strict quantity parser and the one ISMP-safe formatter.

Every dose or amount that enters the system goes through :func:`parse`, and everything a
person reads goes through :func:`fmt`. Arithmetic is ``Decimal`` only.

Why a whitelist parser and not pint: pint accepts misreadings that have hurt patients
(``Mg``, ``1000 units``, ``2.5 mg / 5 mL``); here a unit is either in the table below or
refused with a reason. The exact input value is kept (``Decimal("1.50")`` stays as typed;
equality is numeric).

Printing rules (ISMP list of error-prone abbreviations, see shared/DOMAIN.md):
``mcg`` never the micro sign; ``mL`` never ``cc``; no trailing zero (``1 mg``); always a leading
zero (``0.5 mg``); a space between number and unit; commas in numbers >= 1,000.

Input notes:
- ``1,000 mg`` (thousands grouped by three) is accepted because the formatter prints it;
  any other comma (``1,5 mg``) is refused as a decimal comma.
- ``.5 mg`` is refused (write ``0.5 mg``): a missing leading zero is how 5 mg becomes .5 mg.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, ROUND_HALF_EVEN, ROUND_HALF_UP

from .errors import UnitError

# kind -> dimension; ``dim`` lets w/v and w/w concentrations be kept apart.
MASS, VOLUME, CONCENTRATION, COUNT, PERCENT, DENSITY = (
    "mass", "volume", "concentration", "count", "percent", "density")

KINDS = (MASS, VOLUME, CONCENTRATION, COUNT, PERCENT)


@dataclass(frozen=True)
class UnitDef:
    symbol: str  # canonical printed symbol
    kind: str
    dim: str  # quantities convert only within the same dim
    factor: Decimal  # value in this unit x factor = value in the dim's base unit


_U = UnitDef
# Canonical units. Base units: mass mg, volume mL, w/v mg/mL, w/w mg/g.
UNITS: dict[str, UnitDef] = {
    "mcg": _U("mcg", MASS, "mass", Decimal("0.001")),
    "mg": _U("mg", MASS, "mass", Decimal("1")),
    "g": _U("g", MASS, "mass", Decimal("1000")),
    "mL": _U("mL", VOLUME, "volume", Decimal("1")),
    "L": _U("L", VOLUME, "volume", Decimal("1000")),
    "mcg/mL": _U("mcg/mL", CONCENTRATION, "w/v", Decimal("0.001")),
    "mg/mL": _U("mg/mL", CONCENTRATION, "w/v", Decimal("1")),
    "g/mL": _U("g/mL", CONCENTRATION, "w/v", Decimal("1000")),
    "mcg/g": _U("mcg/g", CONCENTRATION, "w/w", Decimal("0.001")),
    "mg/g": _U("mg/g", CONCENTRATION, "w/w", Decimal("1")),
    "capsules": _U("capsules", COUNT, "capsules", Decimal("1")),
    "drops": _U("drops", COUNT, "drops", Decimal("1")),
    "clicks": _U("clicks", COUNT, "clicks", Decimal("1")),
    "%": _U("%", PERCENT, "%", Decimal("1")),
    "% w/w": _U("% w/w", PERCENT, "% w/w", Decimal("1")),
    "% w/v": _U("% w/v", PERCENT, "% w/v", Decimal("1")),
    "% v/v": _U("% v/v", PERCENT, "% v/v", Decimal("1")),
}

# Accepted spellings -> canonical symbol. Input only: nothing prints these.
_MASS_ALIASES = {"mcg": "mcg", "\u00b5g": "mcg", "\u03bcg": "mcg", "ug": "mcg",
                 "mg": "mg", "g": "g"}
_VOL_ALIASES = {"mL": "mL", "ml": "mL", "L": "L"}
ALIASES: dict[str, str] = {**_MASS_ALIASES, **_VOL_ALIASES}
for _num in ("mcg", "\u00b5g", "\u03bcg", "ug", "mg", "g"):
    for _den, _cden in (("mL", "mL"), ("ml", "mL"), ("g", "g")):
        _canon = f"{_MASS_ALIASES[_num]}/{_cden}"
        if _canon in UNITS:
            ALIASES[f"{_num}/{_den}"] = _canon
for _c, _words in (("capsules", ("capsules", "capsule", "caps", "cap")),
                   ("drops", ("drops", "drop")), ("clicks", ("clicks", "click"))):
    for _w in _words:
        ALIASES[_w] = _c
ALIASES.update({"%": "%", "%w/w": "% w/w", "%w/v": "% w/v", "%v/v": "% v/v"})

# Refused spellings and why (ISMP, and the misreadings that have hurt patients).
_REFUSED = {
    "cc": "'cc' is not accepted (misread as 'u' or '00'); write mL",
    "iu": "international units are not accepted: naltrexone is dosed by mass (mg or mcg)",
    "u": "'U'/'units' are not accepted: naltrexone is dosed by mass (mg or mcg)",
    "units": "'U'/'units' are not accepted: naltrexone is dosed by mass (mg or mcg)",
    "unit": "'U'/'units' are not accepted: naltrexone is dosed by mass (mg or mcg)",
    "gr": "grains ('gr') are not accepted (confused with grams); write mg or g",
    "gm": "'gm' is not accepted; write g",
    "kg": "kilograms are not accepted for compounding amounts; write g",
    "ng": "nanograms are not accepted; write mcg (0.001 mcg = 1 ng)",
    "l": "lower-case 'l' is not accepted (looks like 1); write L or mL",
}

_VULGAR = set("\u00bc\u00bd\u00be\u2150\u2151\u2152\u2153\u2154\u2155\u2156\u2157\u2158"
              "\u2159\u215a\u215b\u215c\u215d\u215e\u215f\u2189")
_NUMBER = re.compile(r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")
#: Digits a typed amount may have before and after the point. Decimal arithmetic keeps 28
#: significant digits: an amount past these (``99999999999999999999999999999 mg``) would be
#: rounded in a sum or break a quantize, so it is refused as a typing slip (issue 11 attack).
MAX_WHOLE_DIGITS = 12
MAX_DECIMAL_PLACES = 12

_SPLIT = re.compile(r"^(?P<num>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?P<unit>.*)$")


@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact amount with an explicit unit. Equality and ordering are numeric within a
    dimension (``Quantity('1000', 'mcg') == Quantity('1', 'mg')``)."""

    value: Decimal
    unit: str

    def __post_init__(self):
        if not isinstance(self.value, Decimal):
            object.__setattr__(self, "value", Decimal(str(self.value)))
        if self.unit not in UNITS:
            raise UnitError(self.unit, f"unknown unit; allowed: {', '.join(UNITS)}")

    # --- facts
    @property
    def kind(self) -> str:
        return UNITS[self.unit].kind

    @property
    def dim(self) -> str:
        return UNITS[self.unit].dim

    @property
    def base(self) -> Decimal:
        """Value in the dimension's base unit (mg, mL, mg/mL, mg/g, count, %)."""
        return self.value * UNITS[self.unit].factor

    # --- conversion and arithmetic (Decimal only)
    def to(self, unit: str) -> "Quantity":
        target = UNITS.get(ALIASES.get(unit, unit))
        if target is None or target.dim != self.dim:
            raise UnitError(str(self), f"cannot be expressed in {unit}")
        return Quantity(self.base / target.factor, target.symbol)

    def _same(self, other: "Quantity") -> "Quantity":
        if not isinstance(other, Quantity):
            return NotImplemented
        if other.dim != self.dim:
            raise UnitError(str(other), f"is not comparable with {self}")
        return other

    def __add__(self, other):
        other = self._same(other)
        return Quantity(self.value + other.to(self.unit).value, self.unit)

    def __sub__(self, other):
        other = self._same(other)
        return Quantity(self.value - other.to(self.unit).value, self.unit)

    def __mul__(self, k):
        if isinstance(k, (Decimal, int)):
            return Quantity(self.value * Decimal(k), self.unit)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, k):
        if isinstance(k, Quantity):
            return self.base / self._same(k).base
        if isinstance(k, (Decimal, int)):
            return Quantity(self.value / Decimal(k), self.unit)
        return NotImplemented

    def __eq__(self, other):
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.dim == other.dim and self.base == other.base

    def __hash__(self):
        return hash((self.dim, self.base.normalize()))

    def __lt__(self, other):
        return self.base < self._same(other).base

    def __le__(self, other):
        return self.base <= self._same(other).base

    def __gt__(self, other):
        return self.base > self._same(other).base

    def __ge__(self, other):
        return self.base >= self._same(other).base

    def __str__(self) -> str:
        return fmt(self)

    def __repr__(self) -> str:
        return f"Quantity({str(self.value)!r}, {self.unit!r})"

    def as_json(self) -> dict:
        """``{"amount": "<Decimal string>", "unit": "<symbol>"}`` (plain, no grouping)."""
        return {"amount": plain(self.value), "unit": self.unit}


def q(value, unit: str) -> Quantity:
    """Build a Quantity from code (not from user text): value is str/int/Decimal."""
    if isinstance(value, float):  # float-ok: refusing floats is the point
        raise TypeError("Quantity values must be Decimal, int or str, never float")
    return Quantity(Decimal(str(value)) if not isinstance(value, Decimal) else value,
                    ALIASES.get(unit, unit))


# ---------------------------------------------------------------- parsing

def _fail(text, reason, field):
    raise UnitError(text, reason, field)


def parse(text, kinds=None, *, field: str | None = None, positive: bool = True,
          default_unit: str | None = None, dims=None) -> Quantity:
    """Parse user text into a Quantity or raise a one-line ``UnitError``.

    ``kinds``: a kind or set of kinds that is acceptable (``"mass"``, ``{"mass","volume"}``).
    ``dims``: optionally restrict further by dimension (``{"w/v"}``).
    ``default_unit``: the unit a bare number means (only for counts, e.g. ``capsules``).
    ``positive``: refuse zero (negatives are always refused).
    """
    if isinstance(text, Quantity):
        qty = text
    else:
        if not isinstance(text, str):
            _fail(repr(text), "expected text such as '1.5 mg'", field)
        qty = _parse_text(text, field, default_unit)
    if kinds is not None:
        allowed = {kinds} if isinstance(kinds, str) else set(kinds)
        if qty.kind not in allowed:
            _fail(str(text), f"is a {qty.kind}; expected a {' or '.join(sorted(allowed))}"
                  f"{_examples(allowed)}", field)
    if dims is not None and qty.dim not in set(dims):
        _fail(str(text), f"expected units of {', '.join(sorted(dims))}", field)
    if positive and qty.value == 0:
        _fail(str(text), "must be greater than zero", field)
    return qty


_EXAMPLES = {MASS: "1.5 mg", VOLUME: "100 mL", CONCENTRATION: "1 mg/mL",
             COUNT: "100 capsules", PERCENT: "98.5%"}


def _examples(kinds) -> str:
    return " (e.g. " + ", ".join(repr(_EXAMPLES[k]) for k in sorted(kinds)) + ")"


def _parse_text(raw: str, field, default_unit) -> Quantity:
    text = raw.strip()
    if not text:
        _fail(raw, "is empty; give an amount with a unit such as '1.5 mg'", field)
    if any(ch in _VULGAR for ch in text) or re.search(r"\d\s*/\s*\d", text):
        _fail(raw, "fractions are not accepted; write a decimal such as 0.5", field)
    if text[0] in "-\u2212":
        _fail(raw, "negative amounts are not accepted", field)
    if text[0] == "+":
        _fail(raw, "a sign is not accepted; write the amount alone", field)
    if text.startswith("."):
        _fail(raw, f"missing leading zero: write 0{text.split()[0]}", field)
    if re.match(r"^\d+(?:\.\d+)?[eE][+-]?\d", text):
        _fail(raw, "scientific notation is not accepted; write the number in full", field)
    m = _SPLIT.match(text)
    if not m:
        _fail(raw, "does not start with a number; write e.g. '1.5 mg'", field)
    num, unit = m.group("num"), m.group("unit").strip()
    if "," in num and not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", num):
        _fail(raw, "decimal comma is not accepted; use a point (1.5 mg)", field)
    if num.endswith(".") or ".." in num:
        _fail(raw, "malformed number", field)
    whole, _, frac = num.replace(",", "").partition(".")
    if len(whole.lstrip("0")) > MAX_WHOLE_DIGITS:
        _fail(raw, f"too large: at most {MAX_WHOLE_DIGITS} digits before the decimal point; "
              "check the figure and the unit", field)
    if len(frac) > MAX_DECIMAL_PLACES:
        _fail(raw, f"too many decimal places: at most {MAX_DECIMAL_PLACES}; check the figure "
              "and the unit", field)
    try:
        value = Decimal(num.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - regex guarantees digits
        _fail(raw, "malformed number", field)
    if not unit:
        if default_unit is not None:
            if value != value.to_integral_value():
                _fail(raw, f"a count of {default_unit} must be a whole number", field)
            return Quantity(value, default_unit)
        _fail(raw, "a unit is required (e.g. mg, mcg, mL, mg/mL)", field)
    canon = _canonical_unit(unit, raw, field)
    if UNITS[canon].kind == COUNT and value != value.to_integral_value():
        _fail(raw, f"a count of {canon} must be a whole number", field)
    return Quantity(value, canon)


def _canonical_unit(unit: str, raw: str, field) -> str:
    squeezed = re.sub(r"\s+", "", unit)
    if squeezed.startswith("%"):
        key = "%" + squeezed[1:].lower()
        if key in ALIASES:
            return ALIASES[key]
        _fail(raw, "percent may be followed only by w/w, w/v or v/v", field)
    if squeezed in ALIASES:
        return ALIASES[squeezed]
    low = squeezed.lower()
    if low in _REFUSED:
        _fail(raw, _REFUSED[low], field)
    if "/" in squeezed:
        num, _, den = squeezed.partition("/")
        if re.search(r"\d", den):
            _fail(raw, "a number in the denominator is not accepted; give the concentration"
                  " per 1 mL or per 1 g (e.g. 0.5 mg/mL)", field)
        if low in {k.lower() for k in ALIASES if "/" in k}:
            _fail(raw, f"unit {unit!r} is ambiguous by its capitals; write mg/mL, mcg/mL or mg/g",
                  field)
        _fail(raw, "unknown concentration unit; allowed: mg/mL, mcg/mL, mg/g, mcg/g", field)
    if low in {"mg", "mcg", "ml", "g"} or low in {"µg", "μg", "ug"}:  # input aliases typed in the wrong case
        _fail(raw, f"unit {unit!r} is ambiguous by its capitals; write mg, mcg, g or mL", field)
    _fail(raw, "unknown unit; allowed: mcg, mg, g, mL, L, mg/mL, mcg/mL, mg/g, %, "
          "capsules, drops", field)


# ---------------------------------------------------------------- formatting

def plain(value: Decimal) -> str:
    """Decimal as a plain string: no exponent, no trailing zeros, leading zero kept."""
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    if value == 0:
        return "0"
    s = format(value, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def number(value: Decimal) -> str:
    """ISMP number: plain, with thousands grouped by commas (``1,234.5``)."""
    s = plain(value)
    sign = ""
    if s.startswith("-"):
        sign, s = "-", s[1:]
    whole, dot, frac = s.partition(".")
    if len(whole) > 3:
        whole = f"{int(whole):,}"
    return sign + whole + (dot + frac if dot else "")


_SINGULAR = {"capsules": "capsule", "drops": "drop", "clicks": "click"}


def fmt(qty: Quantity) -> str:
    """The one formatter for anything a person reads."""
    n = number(qty.value)
    unit = qty.unit
    if unit in _SINGULAR and qty.value == 1:
        unit = _SINGULAR[unit]
    if unit.startswith("%"):
        return f"{n}{unit}"
    return f"{n} {unit}"


def readable_mass(qty: Quantity) -> Quantity:
    """Choose the unit a person reads a mass in: mcg below 0.1 mg, g from 10,000 mg, else mg.

    The value is unchanged, only re-expressed; it never rounds.
    """
    mg = qty.to("mg").value
    if mg == 0:
        return qty.to("mg")
    if mg < Decimal("0.1"):
        return qty.to("mcg")
    if mg >= Decimal("10000"):
        return qty.to("g")
    return qty.to("mg")


def readable(qty: Quantity) -> Quantity:
    """The unit a person reads any quantity in: masses as :func:`readable_mass`,
    concentrations in mcg/mL or mcg/g below 0.1 mg/mL (mg/g); others unchanged."""
    if qty.kind == MASS:
        return readable_mass(qty)
    if qty.dim in ("w/v", "w/w") and qty.unit not in ("g/mL",):
        small = "mcg/mL" if qty.dim == "w/v" else "mcg/g"
        big = "mg/mL" if qty.dim == "w/v" else "mg/g"
        return qty.to(small if 0 < qty.base < Decimal("0.1") else big)
    return qty


def round_to(qty: Quantity, step: Quantity, *, rounding=ROUND_HALF_UP) -> Quantity:
    """Round to a multiple of ``step`` (e.g. the balance readability 1 mg), in step's unit."""
    v = qty.to(step.unit).value
    n = (v / step.value).quantize(Decimal("1"), rounding=rounding)
    return Quantity(n * step.value, step.unit)


def sig(value: Decimal, digits: int = 4) -> Decimal:
    """Round to ``digits`` significant figures (for display of derived concentrations)."""
    if value == 0:
        return value
    exp = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_EVEN)


def parse_percent(text, *, field=None, low=None, high=None) -> Decimal:
    """Parse a percent (``98.5%``, bare numbers refused) and return it as a Decimal."""
    qty = parse(text, PERCENT, field=field, positive=False)
    v = qty.value
    if low is not None and v < low or high is not None and v > high:
        _fail(str(text), f"must be between {number(low)}% and {number(high)}%", field)
    return v


_PLAIN = re.compile(r"[0-9]+(\.[0-9]+)?")


def plain_decimal(v) -> Decimal:
    """A number written out in plain ASCII digits (``"20"``, ``"377.86"``), as Decimal.

    Issue 12: refuse what a person would not read as the number on the label: exponents
    (``"2e1"``, ``1e3``), NaN and infinity, non-ASCII digits, and TOML floats (binary
    fractions: write the number as a string so it stays exact).
    """
    if isinstance(v, bool) or isinstance(v, float):
        raise ValueError("write the number as a string of digits (e.g. \"20\"); "
                         "a TOML float is not exact")
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, Decimal):
        v = str(v)
    if not isinstance(v, str) or not _PLAIN.fullmatch(v.strip()):
        raise ValueError(f"{v!r} is not a plain decimal number; write digits 0-9 with an "
                         "optional decimal point (no exponent, no sign, no NaN)")
    return Decimal(v.strip())
