"""What to dispense for a schedule: fills that never run past the BUD, their quantities,
and the dispensing label's directions.

A fill is sized for a batch compounded on the fill's first dose day, with the BUD that
batch would get from :func:`compounding.bud.compute_bud` (USP <795> (2023): day 1 is the
day of compounding, so a 35-day BUD covers 35 dose days). The next fill starts the day
after. A study-based BUD longer than an aqueous category default is used only when the
formula has antimicrobial effectiveness testing on file (setting ``[rx] aet_on_file``;
USP <795> (2023), shared/DOMAIN.md); otherwise the fills follow the category default
(conservative; the output says so). When a fill is dispensed the lot's own BUD is checked
against the fill's last day.

Quantities: the exact amount the doses use, plus the pharmacy's loss per fill (syringe
adapter, dropper, dispenser priming: ``[rx]`` settings), rounded UP to a whole mL or g
(never short). Capsules: one per dose day, per strength (a titration kit). Drops: the
drops used divided by the calibrated drops per mL.

Directions follow ISMP and NCPDP practice: the amount in the patient's unit with the mg
beside it ("Take 0.5 mL (0.5 mg) by mouth at bedtime for 7 days, then 1 mL (1 mg) at
bedtime"); "Follow the dose chart" when a fill has more than two dose steps.

Pure: the schedule, formula, settings and policy are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

from .. import units as u
from ..bud import compute_bud, get_policy, period_end, Span
from ..dates import format_date
from ..errors import InputError
from .measure import Measure, Measurer
from .schedule import Schedule, dose_text

#: Dose times a prescription may name, and how directions say them. Default bedtime (issue
#: 17); the guide notes night-time doses can cause vivid dreams or insomnia, so a prescriber
#: may move the dose to the morning.
DOSE_TIMES = {"bedtime": "at bedtime", "morning": "in the morning",
              "evening": "in the evening"}

#: How the patient takes each form (the verb and the route words of the directions).
ROUTE_TEXT = {"oral-liquid": ("Take", "by mouth"), "capsule": ("Take", "by mouth"),
              "sublingual-drops": ("Place", "under the tongue"),
              "cream": ("Apply", "to the skin")}

#: Dispensed liquids and creams are rounded UP to this step (a patient is never short).
ROUND_UP = {"mL": Decimal("1"), "g": Decimal("1")}


@dataclass(frozen=True)
class DoseLine:
    """Consecutive days of one dose within a fill, with what to measure."""

    first: date
    last: date
    measure: Measure

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def as_json(self) -> dict:
        return {"first": self.first.isoformat(), "last": self.last.isoformat(),
                "days": self.days, **self.measure.as_json()}


@dataclass(frozen=True)
class Supply:
    """What to dispense of one strength in a fill."""

    strength: u.Quantity      # concentration, or the capsule strength
    dose_days: int
    used: u.Quantity          # what the doses use, exactly
    loss: u.Quantity | None   # the loss setting added (liquids, drops, cream)
    quantity: u.Quantity      # to dispense

    def as_json(self) -> dict:
        return {"strength": self.strength.as_json(), "dose_days": self.dose_days,
                "used": self.used.as_json(),
                "loss": self.loss.as_json() if self.loss else None,
                "quantity": self.quantity.as_json()}


@dataclass(frozen=True)
class Fill:
    number: int
    first: date
    last: date
    bud: date          # the BUD a batch compounded on ``first`` would get
    bud_basis: str     # how that BUD was found
    lines: tuple[DoseLine, ...]
    supplies: tuple[Supply, ...]
    course_ends: bool  # the schedule's last day is in this fill

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def as_json(self) -> dict:
        return {"fill": self.number, "first": self.first.isoformat(),
                "last": self.last.isoformat(), "days": self.days,
                "bud": self.bud.isoformat(), "bud_basis": self.bud_basis,
                "lines": [ln.as_json() for ln in self.lines],
                "supplies": [s.as_json() for s in self.supplies]}


def fill_bud(formula, compounded: date, storage: str, policy: str,
             aet_on_file=()) -> tuple[date, str]:
    """The BUD a batch of ``formula`` compounded on ``compounded`` would get (no component
    lots known yet), and a line saying how it was found."""
    result = compute_bud(formula, compounded, storage, policy=policy)
    basis = f"{result.binding.describe()} ({result.days}-day BUD)"
    category = formula.stability.category
    pol = get_policy(policy)
    default = pol.category_defaults.get(category)
    reason = ("fills sized to the USP <795> (2023) category default: no antimicrobial "
              "effectiveness testing (USP <51>) on file for this formula")
    if result.binding.kind == "category-default" and "USP <51>" in result.binding.rule:
        # issue 11: compute_bud itself falls back when the formula records no USP <51> test
        basis = f"{default.description}: {default.days} days ({reason})"
    aet = formula.stability.antimicrobial_effectiveness
    if (category.startswith("aqueous") and default is not None and aet is None
            and formula.id not in set(aet_on_file)):
        default_end = period_end(compounded, Span(default.days, "days"), pol.first_day)
        if result.bud > default_end:
            result = compute_bud(formula, compounded, storage, policy=policy,
                                 shorten_to=default_end, reason=reason)
            basis = f"{default.description}: {default.days} days ({reason})"
    return result.bud, basis


def plan_fills(schedule: Schedule, measurer: Measurer, *, storage: str, policy: str
) -> list[Fill]:
    """Split ``schedule`` into fills, each within the BUD of a batch made on its first day.

    Raises :class:`RefusedError` (from the measurer) when any dose cannot be measured.
    """
    formula = measurer.formula
    rx = measurer.rx
    measures = {d: measurer.measure(d) for d in schedule.doses()}
    fills: list[Fill] = []
    start = schedule.start
    while start <= schedule.end:
        bud, basis = fill_bud(formula, start, storage, policy, rx.aet_on_file)
        last = min(bud, schedule.end)
        lines = tuple(DoseLine(seg.first, seg.last, measures[seg.dose])
                      for seg in schedule.segments(start, last))
        fills.append(Fill(len(fills) + 1, start, last, bud, basis, lines,
                          _supplies(lines, measurer), last == schedule.end))
        start = last + timedelta(days=1)
    return fills


def _supplies(lines, measurer: Measurer) -> tuple[Supply, ...]:
    form = measurer.form
    rx = measurer.rx
    f = measurer.formula
    if form == "capsule":
        per: dict = {}
        for ln in lines:
            key = ln.measure.strength
            per[key] = per.get(key, 0) + ln.days
        return tuple(Supply(s, n, u.q(n, "capsules"), None, u.q(n, "capsules"))
                     for s, n in sorted(per.items(), key=lambda kv: kv[0].base))
    days = sum(ln.days for ln in lines)
    total = sum((ln.measure.amount.value * ln.days for ln in lines), Decimal(0))
    if form == "oral-liquid":
        used, loss = u.q(total, "mL"), rx.liquid_loss.to("mL")
    elif form == "sublingual-drops":
        used = u.q(total / f.drops.drops_per_ml, "mL")
        loss = rx.drops_loss.to("mL")
    else:  # cream: clicks -> mL -> g through the cream's density
        ml = total * f.device.ml_per_click.to("mL").value
        used = u.q(ml * f.density.to("mg/mL").value / 1000, "g")
        loss = rx.cream_loss.to("g")
    step = ROUND_UP[used.unit]
    need = used.value + loss.value
    qty = (need / step).to_integral_value(rounding=ROUND_CEILING) * step
    return (Supply(measurer.strength, days, _norm(used), loss, u.q(qty, used.unit)),)


def _norm(q: u.Quantity) -> u.Quantity:
    return u.q(q.value.normalize() if q.value else q.value, q.unit)


def directions(fill: Fill, form: str, dose_time: str, *,
               strength: u.Quantity | None = None) -> str:
    """The dispensing label's directions for ``fill`` (for a capsule kit: the bottle of
    ``strength``), in the ISMP style with mL and mg together."""
    if dose_time not in DOSE_TIMES:
        raise InputError(f"dose time: {dose_time!r}; allowed: {', '.join(DOSE_TIMES)}",
                         field="dose_time")
    verb, route = ROUTE_TEXT[form]
    when = DOSE_TIMES[dose_time]
    lines = fill.lines
    if form == "capsule" and strength is not None:
        mine = [ln for ln in lines if ln.measure.strength == strength]
        if not mine:
            raise InputError(f"strength: fill {fill.number} has no {dose_text(strength)} "
                             "capsules", field="strength")
        if len(lines) > 1:
            days = sum(ln.days for ln in mine)
            span = (f"on {_days(days)} from {format_date(mine[0].first)} to "
                    f"{format_date(mine[-1].last)}" if len(mine) > 1 else
                    f"for {_days(days)}, {format_date(mine[0].first)} to "
                    f"{format_date(mine[0].last)}")
            return (f"{verb} {mine[0].measure.text()} {route} {when} {span}. "
                    "Follow the dose chart.")
    first = lines[0]
    if len(lines) > 2:
        return (f"Follow the dose chart. Start with {first.measure.text()} {route} {when} "
                f"on {format_date(first.first)}.")
    if len(lines) == 1:
        tail = f" for {_days(first.days)}" if fill.course_ends else ""
        return f"{verb} {first.measure.text()} {route} {when}{tail}."
    second = lines[1]
    tail = f" for {_days(second.days)}" if fill.course_ends else ""
    return (f"{verb} {first.measure.text()} {route} {when} for {_days(first.days)}, "
            f"then {second.measure.text()} {when}{tail}.")


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"
