"""The strength of a batch as made: the drug actually delivered per unit, computed from the
*recorded* weighings and measurements, carried through every dilution step.

Why this module exists (issue 11, section 1): each weighing may be inside its own step
tolerance (±5%) while the errors multiply along an aliquot chain; four steps at +4.83%,
-4.81%, +4.9% and -4.87% put a 1.5 mg capsule at 1.78 mg (+18.9%). Verification compares
this figure with the labelled strength using the formula's ``strength_tolerance``.

The arithmetic (the aliquot method, USP <1176>; shared/DOMAIN.md "Weighing and dilution"):

- drug weighed (basis) = weighed mass x potency / 100 / salt factor, where the salt factor is
  the mass of the weighed form carrying one mass unit of the strength basis (HCl weighed for a
  base strength: 377.86 / 341.40 = 1.1068);
- a solid dilution's total = what went in (the recorded drug weighing, or the recorded take of
  the previous dilution) + the recorded diluent weighing; a solution's total = the recorded
  make-up volume;
- drug in a take = drug in the dilution x recorded take / total of the dilution;
- capsules: the blend = what went in + the recorded filler weighing; the capsules are filled
  to the plan's fill weight, so drug per capsule = drug in the blend x fill weight / blend
  (over-weighed filler dilutes every capsule);
- liquids and drops: drug per mL = drug in the batch / the recorded final (q.s.) volume;
- cream: drug per g = drug in the cream / (what went in + the recorded base weighing).

:func:`as_made_strength` is pure (no store, no clock). Steps with no recorded amount are
taken at their planned amount and listed in ``AsMade.unweighed_steps`` (``complete`` is then
False), so a bench can show the figure while a batch is being weighed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Mapping

from .. import units as u
from ..errors import PlanError
from ..units import Quantity

__all__ = ["AsMade", "ChainStep", "as_made_strength", "latest_recorded"]

#: Significant figures of the strength as shown to a person ("1.78 mg"); the JSON keeps more.
SHOWN_DIGITS = 3


@dataclass(frozen=True)
class ChainStep:
    """One dilution as made: drug (strength basis, mg) in, the total, the take, drug out."""

    number: int
    action: str  # "dilute" | "dissolve" | "dilute-volume"
    drug_in: Decimal  # mg (basis) in this dilution
    total: Quantity  # mg (solid) or mL (solution), as made
    take: Quantity  # as recorded (or planned when not yet weighed)
    drug_in_take: Decimal  # mg (basis)

    def as_json(self) -> dict:
        return {"number": self.number, "action": self.action,
                "drug_in": u.q(_tidy(self.drug_in), "mg").as_json(),
                "total": self.total.as_json(), "take": self.take.as_json(),
                "drug_in_take": u.q(_tidy(self.drug_in_take), "mg").as_json()}


@dataclass(frozen=True)
class AsMade:
    """The as-made strength of one batch and how it compares with the label.

    ``strength`` is per capsule (mg), per mL (mg/mL) or per g (mg/g), on the strength basis;
    ``deviation_percent`` = (as made - labelled) / labelled x 100; ``within`` is
    ``abs(deviation_percent) <= tolerance_percent``.
    """

    strength: Quantity
    labelled: Quantity
    deviation_percent: Decimal
    tolerance_percent: Decimal
    within: bool
    drug_in_batch: Quantity  # mg, strength basis
    per: str  # "capsule" | "mL" | "g"
    chain: tuple[ChainStep, ...] = ()
    unweighed_steps: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return not self.unweighed_steps

    def text(self) -> str:
        """One line for a person: ``1.78 mg per capsule, +18.9%; tolerance ±10%``."""
        shown = u.readable(u.q(_sig(self.strength.value), self.strength.unit))
        shown = u.q(_sig(shown.value), shown.unit)
        what = u.fmt(shown) + (" per capsule" if self.per == "capsule" else "")
        dev = self.deviation_percent.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
        sign = "+" if dev > 0 else ""
        return (f"{what}, {sign}{u.number(dev)}%; tolerance "
                f"\u00b1{u.number(self.tolerance_percent)}%")

    def as_json(self) -> dict:
        return {"strength": u.q(_tidy(self.strength.value), self.strength.unit).as_json(),
                "labelled": self.labelled.as_json(),
                "deviation_percent": u.plain(self.deviation_percent.quantize(
                    Decimal("0.001"), rounding=ROUND_HALF_EVEN)),
                "tolerance_percent": u.plain(self.tolerance_percent),
                "within": self.within, "per": self.per,
                "drug_in_batch": u.q(_tidy(self.drug_in_batch.value), "mg").as_json(),
                "chain": [c.as_json() for c in self.chain],
                "complete": self.complete, "unweighed_steps": list(self.unweighed_steps),
                "notes": list(self.notes), "text": self.text()}


def _sig(value: Decimal, digits: int = SHOWN_DIGITS) -> Decimal:
    return u.sig(value, digits) if value else value


def _tidy(value: Decimal) -> Decimal:
    """Ten significant figures for JSON: far below any balance, never an exponent."""
    return u.sig(value, 10).normalize() if value else value


def latest_recorded(rows) -> dict[int, Quantity]:
    """Step -> the amount recorded last for it (a re-weigh replaces the earlier weighing).

    ``rows``: dicts with ``step``, ``quantity`` (Decimal text) and ``unit``, in the order
    recorded (the store's ``weighings`` rows)."""
    out: dict[int, Quantity] = {}
    for r in rows:
        out[int(r["step"])] = u.q(Decimal(str(r["quantity"])), r["unit"])
    return out


def _plan_dict(plan) -> dict:
    return plan if isinstance(plan, dict) else plan.as_json()


def _qty(d: dict | None) -> Quantity | None:
    return None if d is None else u.q(Decimal(d["amount"]), d["unit"])


def as_made_strength(plan, recorded: Mapping[int, Any], tolerance_percent) -> AsMade:
    """The drug delivered per unit by the batch as made, against the labelled strength.

    ``plan``: a :class:`~compounding.plan.BatchPlan` or its ``as_json()`` dict (what the store
    keeps as ``plan_json``). ``recorded``: plan step number -> the amount recorded for that
    step (a :class:`~compounding.units.Quantity`, or text such as ``"125.8 mg"``); a step that
    is missing is taken at its planned amount and listed in ``unweighed_steps``.
    ``tolerance_percent``: the formula's ``strength_tolerance`` (e.g. ``Decimal("10")``).

    Returns :class:`AsMade` (strength in mg per capsule, mg/mL or mg/g on the strength basis).
    Raises :class:`~compounding.errors.PlanError` when a recorded amount is of the wrong
    kind for its step (a volume for a weighing), zero or negative, or when the plan lacks
    the step the arithmetic needs.
    """
    p = _plan_dict(plan)
    tol = Decimal(str(tolerance_percent))
    steps = {int(w["step"]): w for w in p["weighings"]}
    amounts: dict[int, Quantity] = {}
    unweighed = []
    for n, w in steps.items():
        planned = u.q(Decimal(w["amount"]), w["unit"])
        got = recorded.get(n)
        if got is None:
            amounts[n] = planned
            unweighed.append(n)
            continue
        if not isinstance(got, Quantity):
            got = u.parse(str(got), {u.MASS, u.VOLUME}, field=f"step {n}")
        if got.dim != planned.dim:
            raise PlanError(f"step {n}: recorded {u.fmt(got)} but the step is planned as "
                            f"{u.fmt(planned)}")
        if got.value <= 0:
            raise PlanError(f"step {n}: recorded {u.fmt(got)} must be greater than zero")
        amounts[n] = got
    extra = sorted(set(int(k) for k in recorded) - set(steps))
    if extra:
        raise PlanError(f"recorded step {extra[0]} is not in the plan (steps 1 to "
                        f"{len(steps)})")

    def base(n: int) -> Decimal:  # mg or mL
        return amounts[n].base

    drug = p["drug"]
    drug_id = drug["ingredient"]
    c0 = Decimal(drug["potency_percent"]) / 100 / Decimal(drug["salt_factor"])
    form = p["formula"]["dosage_form"]
    dils = sorted((d for d in p.get("dilution_steps") or [] if d["ingredient"] == drug_id),
                  key=lambda d: d["number"])

    def find(pred, what: str) -> int:
        hits = [n for n, w in sorted(steps.items()) if pred(w)]
        if len(hits) != 1:
            raise PlanError(f"the plan has {len(hits)} steps for {what}; expected one")
        return hits[0]

    first = dils[0]["number"] if dils else None
    drug_step = find(lambda w: w["ingredient"] == drug_id and w["action"] == "weigh"
                     and w.get("dilution") == first, f"weighing {drug_id}")
    carried = base(drug_step) * c0  # mg of the basis
    into = drug_step  # the step whose material goes on (into the next dilution or the batch)
    chain = []
    for d in dils:
        n = d["number"]
        take_step = find(lambda w, n=n: w["ingredient"] is None and w.get("dilution") == n,
                         f"the take of dilution {n}")
        if d["action"] == "dilute":
            dil_step = find(lambda w, n=n, dl=d["diluent"]: w["ingredient"] == dl
                            and w.get("dilution") == n, f"the diluent of dilution {n}")
            total = u.q(base(into) + base(dil_step), "mg")
        else:
            mk = find(lambda w, n=n: w["action"] == "make-up" and w.get("dilution") == n,
                      f"the make-up of dilution {n}")
            total = u.q(base(mk), "mL")
        out = carried * base(take_step) / total.value
        chain.append(ChainStep(n, d["action"], carried, total, amounts[take_step], out))
        carried, into = out, take_step

    labelled = _qty(p["strength"])
    notes = []
    if form == "capsule":
        cap = p["capsule"]
        filler = cap["filler"]
        fstep = find(lambda w: w["ingredient"] == filler and w.get("dilution") is None,
                     "the filler brought to the blend")
        blend = base(into) + base(fstep)
        fill = _qty(cap["fill_weight"]).base
        per_unit = carried * fill / blend
        strength, per = u.q(per_unit, "mg"), "capsule"
        notes.append(f"capsules filled to the planned fill weight {u.fmt(_qty(cap['fill_weight']))}"
                     f" from a blend of {u.fmt(u.q(_tidy(blend), 'mg'))} as made")
    elif form in ("oral-liquid", "sublingual-drops"):
        qs = find(lambda w: w["action"] == "make-up" and w.get("dilution") is None,
                  "the final volume (q.s.)")
        strength, per = u.q(carried / base(qs), "mg/mL"), "mL"
    elif form == "cream":
        base_id = p["cream"]["base"]
        bstep = find(lambda w: w["ingredient"] == base_id and w.get("dilution") is None,
                     "the cream base brought to the batch mass")
        total = base(into) + base(bstep)
        strength, per = u.q(carried / total * 1000, "mg/g"), "g"
    else:
        raise PlanError(f"no as-made strength for dosage form {form!r}")
    if labelled is None or labelled.base == 0:
        raise PlanError("the plan states no strength to compare with")
    labelled_base = labelled.to(strength.unit).value
    dev = (strength.value - labelled_base) / labelled_base * 100
    within = abs(dev) <= tol
    if unweighed:
        notes.append(f"steps {', '.join(map(str, unweighed))} not recorded yet: taken at "
                     "their planned amounts")
    return AsMade(strength=strength, labelled=labelled, deviation_percent=dev,
                  tolerance_percent=tol, within=within,
                  drug_in_batch=u.q(carried, "mg"), per=per, chain=tuple(chain),
                  unweighed_steps=tuple(unweighed), notes=tuple(notes))
