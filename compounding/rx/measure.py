"""What the patient measures for a dose, in the unit they use with the preparation.

- oral liquid: mL at the concentration, on the oral syringe's graduation (a setting, default
  0.1 mL). A dose off the graduation is refused, or (setting) rounded down with the
  difference stated. Issue 17; NCPDP and ISMP: mL with the mg beside it, leading zeros.
- sublingual drops: whole drops at the calibrated drops per mL (USP <1101>: a calibrated
  dropper is within 15%; the figure is the formula's). A dose that is not a whole number of
  drops within the formula's strength tolerance (USP <795>: typically 10%) is refused.
- capsules: one capsule of the step's strength (a titration kit holds one strength per step).
- cream: whole clicks of the metered dispenser (Topi-CLICK vendor figure: 4 clicks = 1 mL,
  a formula's ``[device] ml_per_click``), at the cream's concentration and density, within
  the same tolerance as drops.

The back-off half dose (prescriber guide: "reducing the dose by 50% for 7 days") is measured
on the same graduation and always rounded DOWN (the point of backing off is a lower dose);
when it cannot be measured (less than one drop, no capsule of that strength) the result
says so and who to ask, never a guess.

Pure: the formula, the strength and the settings are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from .. import units as u
from ..errors import InputError, RefusedError
from .schedule import BACK_OFF_FRACTION, dose_text

FORMS = ("oral-liquid", "sublingual-drops", "capsule", "cream")


@dataclass(frozen=True)
class Measure:
    """One dose as measured: ``amount`` in the patient's unit and the dose it delivers."""

    dose: u.Quantity        # the dose asked for (a mass)
    amount: u.Quantity      # mL, drops, capsules or clicks
    delivered: u.Quantity   # the mass ``amount`` delivers (equals ``dose`` unless noted)
    strength: u.Quantity    # concentration, or the capsule's strength
    note: str = ""          # why ``delivered`` differs from ``dose``

    def text(self) -> str:
        """``0.5 mL (0.5 mg)``, ``1 capsule (1.5 mg)``, ``3 drops (1.5 mg)``: mL with mg."""
        return f"{u.fmt(self.amount)} ({dose_text(self.delivered)})"

    def as_json(self) -> dict:
        return {"dose": self.dose.as_json(), "amount": self.amount.as_json(),
                "delivered": self.delivered.as_json(), "strength": self.strength.as_json(),
                "note": self.note or None}


@dataclass(frozen=True)
class HalfDose:
    """The back-off dose: ``measure`` or, when it cannot be measured, ``None`` and why."""

    of: u.Quantity
    half: u.Quantity
    measure: Measure | None
    note: str = ""

    def text(self) -> str:
        if self.measure is None:
            return self.note
        out = self.measure.text()
        return f"{out}; {self.measure.note}" if self.measure.note else out

    def as_json(self) -> dict:
        return {"of": self.of.as_json(), "half": self.half.as_json(),
                "measure": self.measure.as_json() if self.measure else None,
                "note": self.note or None}


class Measurer:
    """Measures doses of one preparation: ``formula`` (a Formula), ``strength`` (its
    concentration; ``None`` for capsules, whose strength is the dose) and the pharmacy's
    ``rx`` settings (:class:`compounding.settings.Titration`)."""

    def __init__(self, formula, strength: u.Quantity | None, rx_settings,
                 kit: tuple[u.Quantity, ...] = ()):
        self.formula = formula
        self.form = formula.dosage_form
        self.rx = rx_settings
        self.kit = tuple(kit)
        if self.form not in FORMS:  # pragma: no cover - the Formula model allows only these
            raise InputError(f"preparation: dosage form {self.form!r} has no titration rule")
        if self.form == "capsule":
            self.strength = None
        else:
            if strength is None:
                strength = formula.strength.fixed or formula.strength.default
            if strength is None:
                raise InputError(f"strength: {formula.id} is made in several strengths; give "
                                 f"the concentration ({formula.strength.describe()})",
                                 field="strength")
            expected = "w/w" if self.form == "cream" else "w/v"
            if strength.dim != expected:
                raise InputError(f"strength: {u.fmt(strength)} is not a {expected} "
                                 f"concentration for {formula.id}", field="strength")
            check_strength(formula, strength)
            self.strength = strength
        self.tolerance = formula.strength_tolerance.value / Decimal(100)

    # ---------------------------------------------------------------- per form
    @property
    def unit_mg(self) -> Decimal | None:
        """mg in one drop or one click (``None`` for liquid and capsules)."""
        if self.form == "sublingual-drops":
            return self.strength.to("mg/mL").value / self.formula.drops.drops_per_ml
        if self.form == "cream":
            dev = self.formula.device
            density = self.formula.density
            if dev is None or density is None:
                raise InputError(f"preparation: {self.formula.id} has no metered device or "
                                 "density; clicks cannot be worked out", field="formula")
            g_per_ml = density.to("mg/mL").value / 1000
            return self.strength.to("mg/g").value * g_per_ml * dev.ml_per_click.to("mL").value
        return None

    def measure(self, dose: u.Quantity, *, half: bool = False) -> Measure:
        """The amount for ``dose``; raises :class:`RefusedError` when it cannot be measured
        (``half``: round down instead, the back-off rule)."""
        mg = dose.to("mg").value
        if self.form == "oral-liquid":
            conc = self.strength.to("mg/mL").value
            grad = self.rx.syringe_graduation.to("mL").value
            exact = mg / conc
            n = (exact / grad).to_integral_value(rounding=ROUND_DOWN)
            ml = n * grad
            note = ""
            if ml != exact:
                if not half and self.rx.off_graduation == "refuse":
                    near = [x for x in (ml, ml + grad) if x > 0]
                    raise RefusedError(
                        f"dose {dose_text(dose)} is {u.plain(exact)} mL of "
                        f"{u.fmt(self.strength)}, not on the oral syringe's "
                        f"{u.fmt(self.rx.syringe_graduation)} graduation; prescribe a dose on "
                        f"it ({' or '.join(_mg_text(x * conc) for x in near)}), or set [rx] "
                        "off_graduation = \"round-down\"")
                note = (f"{u.plain(exact)} mL is not on the {u.fmt(self.rx.syringe_graduation)}"
                        f" graduation: rounded down ({_mg_text((exact - ml) * conc)} less)")
            if ml <= 0:
                raise RefusedError(_less_than_one(dose, half, "graduation",
                                                  f"{u.fmt(self.rx.syringe_graduation)} of "
                                                  f"{u.fmt(self.strength)}"))
            return Measure(dose, u.q(ml, "mL"), _mg(ml * conc), self.strength, note)
        if self.form == "capsule":
            return self._capsule(dose)
        # drops and clicks: whole units within the formula's strength tolerance
        word = "drops" if self.form == "sublingual-drops" else "clicks"
        per = self.unit_mg
        exact = mg / per
        if half:
            n = exact.to_integral_value(rounding=ROUND_DOWN)
        else:
            n = exact.to_integral_value(rounding=ROUND_HALF_UP)
        delivered = n * per
        if n < 1:
            raise RefusedError(_less_than_one(dose, half, word[:-1],
                                              f"{_mg_text(per)} each at {u.fmt(self.strength)}"))
        off = abs(delivered - mg) / mg
        note = ""
        if delivered != mg:
            if not half and off > self.tolerance:
                raise RefusedError(
                    f"dose {dose_text(dose)} is not a whole number of {word}: "
                    f"{u.plain(exact.normalize())} {word} at {_mg_text(per)} each "
                    f"({u.fmt(self.strength)}); the nearest, {u.plain(n)} {word} = "
                    f"{_mg_text(delivered)}, is {_pct(off)} off and the formula allows "
                    f"{_pct(self.tolerance)}")
            note = (f"{dose_text(dose)} is not a whole number of {word}: "
                    + ("rounded down" if half else
                       f"{_pct(off)} {'below' if delivered < mg else 'above'}, within the "
                       f"formula's {_pct(self.tolerance)}"))
        if self.form == "sublingual-drops" and not half:
            spec = self.formula.drops
            if not spec.min_drops_per_dose <= n <= spec.max_drops_per_dose:
                raise RefusedError(
                    f"dose {dose_text(dose)} is {u.plain(n)} drops; the formula allows "
                    f"{spec.min_drops_per_dose} to {spec.max_drops_per_dose} drops a dose "
                    f"(choose another concentration)")
        return Measure(dose, u.q(n, word), _mg(delivered), self.strength, note)

    def _capsule(self, dose: u.Quantity) -> Measure:
        check_strength(self.formula, dose)
        return Measure(dose, u.q(1, "capsules"), dose, dose)

    def half_dose(self, dose: u.Quantity) -> HalfDose:
        """The guide's back-off dose (50% of ``dose``), measured and rounded down."""
        half = _mg(dose.to("mg").value * BACK_OFF_FRACTION)
        half = u.readable_mass(half)
        if self.form == "capsule":
            if any(k == half for k in self.kit):
                return HalfDose(dose, half, self._capsule(half))
            return HalfDose(dose, half, None,
                            f"{dose_text(half)}: no {dose_text(half)} capsules in this kit; "
                            "ask the pharmacy (do not open or split capsules)")
        try:
            return HalfDose(dose, half, self.measure(half, half=True))
        except RefusedError as exc:
            return HalfDose(dose, half, None, str(exc))


def check_strength(formula, strength: u.Quantity) -> None:
    """The strength (a capsule's mass, or a concentration) is one the formula allows."""
    s = formula.strength
    if s.fixed is not None:
        if strength != s.fixed:
            raise InputError(f"strength: {formula.id} is made at {u.fmt(s.fixed)} only, not "
                             f"{u.fmt(strength)}", field="strength")
        return
    if strength.dim != s.min.dim or not s.min <= strength <= s.max:
        what = "capsule strength" if formula.dosage_form == "capsule" else "strength"
        raise RefusedError(f"{what} {u.fmt(u.readable(strength))} is outside what "
                           f"{formula.id} allows ({s.describe()})")


def _mg(value: Decimal) -> u.Quantity:
    return u.q(value.normalize() if value != 0 else value, "mg")


def _mg_text(value: Decimal) -> str:
    return dose_text(_mg(value))


def _pct(frac: Decimal) -> str:
    return f"{u.plain((frac * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP))}%"


def _less_than_one(dose: u.Quantity, half: bool, what: str, detail: str) -> str:
    if half:
        return (f"{dose_text(dose)} is less than one {what} ({detail}); ask the prescriber or "
                "pharmacist")
    return f"dose {dose_text(dose)} is less than one {what} ({detail}); it cannot be measured"
