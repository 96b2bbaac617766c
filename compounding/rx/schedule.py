"""LDN titration schedules: parse the two ways a prescriber writes one, check the dose
ceilings, and answer "what dose on which day".

A schedule is a start date and a list of steps (a dose in mg or mcg taken once a day for a
number of days). Prescribers write it either as the steps themselves::

    0.5 mg x 7 d, 1 mg x 7 d, 1.5 mg x 14 d

or as a rule (start low, step up every so often to a target, then hold there)::

    start 0.5 mg, step 0.5 mg, every 7 d, target 4.5 mg, hold 30 d

Sources of the rules (see docs/titration.md):

- LDN 2026 Prescriber Guide: the dose "must be lower than the 'high-low dose' LDN range of
  12mg, though many patients' optimal dose ranges between 0.5mg-4.5mg". So 12 mg or more
  is refused and a dose above 4.5 mg needs an explicit confirmation.
- LDN Research Trust pharmacist interviews (shared/DOMAIN.md): steps of 0.5-1.5 mg every 3
  days to 4 weeks, to 4.5 mg or lower.

Pure: the start date is an argument; no clock, no database, no files. Amounts are
``Quantity`` (Decimal) from the one units parser.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from .. import units as u
from ..errors import InputError, RefusedError
from ..formulas import HIGH_LOW_DOSE_LIMIT

#: Prescriber guide: "many patients' optimal dose ranges between 0.5mg-4.5mg". A dose above
#: this is not refused (the guide allows up to the 12 mg limit) but must be confirmed.
USUAL_MAX_DOSE = u.q("4.5", "mg")
#: Prescriber guide: the dose "must be lower than the 'high-low dose' LDN range of 12mg".
DOSE_LIMIT = HIGH_LOW_DOSE_LIMIT
#: Longest schedule one prescription may carry, in days. Conservative house limit
#: (unconfirmed: prescription validity varies by jurisdiction; in many US states a
#: non-controlled prescription is valid for one year). A longer course is a new prescription.
MAX_SCHEDULE_DAYS = 366
#: Most steps one schedule may have (a longer list is almost certainly a typing error).
MAX_STEPS = 60
#: Guide: "reducing the dose by 50% for 7 days, before increasing it again".
BACK_OFF_DAYS = 7
BACK_OFF_FRACTION = Decimal("0.5")

_DAYS_WORDS = {"d": 1, "day": 1, "days": 1, "w": 7, "wk": 7, "wks": 7, "week": 7, "weeks": 7}
_DURATION = re.compile(r"([0-9]+)\s*([a-z]+)")
_STEP = re.compile(r"(?P<dose>.+?)\s+(?:[xX]|for)\s*(?P<dur>[0-9]+\s*[A-Za-z]+)")


@dataclass(frozen=True)
class Step:
    """One step: ``dose`` (a mass) once a day for ``days`` days."""

    dose: u.Quantity
    days: int

    def as_json(self) -> dict:
        return {"dose": self.dose.as_json(), "days": self.days}

    def text(self) -> str:
        return f"{dose_text(self.dose)} x {self.days} d"


@dataclass(frozen=True)
class Day:
    """One dose day: the date, which step (0-based) and the dose."""

    on: date
    step: int
    dose: u.Quantity


@dataclass(frozen=True)
class Segment:
    """Consecutive days of one dose (steps of equal dose next to each other are merged)."""

    first: date
    last: date
    dose: u.Quantity

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Schedule:
    """A start date and its steps. ``written`` is the schedule as the prescriber wrote it
    (normalised text), kept on the record."""

    start: date
    steps: tuple[Step, ...]
    written: str

    @property
    def total_days(self) -> int:
        return sum(s.days for s in self.steps)

    @property
    def end(self) -> date:
        """The last dose day."""
        return self.start + timedelta(days=self.total_days - 1)

    def days(self, first: date | None = None, last: date | None = None) -> list[Day]:
        """Every dose day from ``first`` to ``last`` (inclusive; default: the whole course)."""
        out, on = [], self.start
        for i, s in enumerate(self.steps):
            for _ in range(s.days):
                if (first is None or on >= first) and (last is None or on <= last):
                    out.append(Day(on, i, s.dose))
                on += timedelta(days=1)
        return out

    def segments(self, first: date | None = None, last: date | None = None) -> list[Segment]:
        """Runs of the same dose between ``first`` and ``last``."""
        out: list[Segment] = []
        for d in self.days(first, last):
            if out and out[-1].dose == d.dose and out[-1].last + timedelta(days=1) == d.on:
                out[-1] = Segment(out[-1].first, d.on, out[-1].dose)
            else:
                out.append(Segment(d.on, d.on, d.dose))
        return out

    def doses(self) -> list[u.Quantity]:
        """The distinct doses, in the order they first occur."""
        seen: list[u.Quantity] = []
        for s in self.steps:
            if s.dose not in seen:
                seen.append(s.dose)
        return seen

    def as_json(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "total_days": self.total_days, "written": self.written,
                "steps": [s.as_json() for s in self.steps]}


def dose_text(dose: u.Quantity) -> str:
    """A dose as a person reads it: mg, or mcg below 0.1 mg (``0.5 mg``, ``50 mcg``)."""
    return u.fmt(u.readable_mass(dose))


# ---------------------------------------------------------------- parsing

def _clean(text, field: str) -> str:
    if not isinstance(text, str):
        raise InputError(f"{field}: expected text, got {text!r}", field=field)
    bad = [c for c in text if unicodedata.category(c)[0] == "C" and c not in "\t"]
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(bad))
        raise InputError(f"{field}: contains an invisible or control character ({shown}); "
                         "retype it", field=field)
    text = " ".join(text.split())
    if not text:
        raise InputError(f"{field}: is empty", field=field)
    if len(text) > 2000:
        raise InputError(f"{field}: is {len(text)} characters long; at most 2000", field=field)
    return text


def parse_duration(text, field: str = "duration") -> int:
    """``7 d``, ``7d``, ``7 days``, ``2 weeks``, ``1 w`` -> a number of days (1 to 366)."""
    s = _clean(text, field).lower()
    m = _DURATION.fullmatch(s)
    if not m or m[2] not in _DAYS_WORDS:
        raise InputError(f"{field}: {text!r} is not a duration; write e.g. '7 d', '14 days' "
                         "or '2 weeks' (ASCII digits)", field=field)
    days = int(m[1]) * _DAYS_WORDS[m[2]]
    if not 1 <= days <= MAX_SCHEDULE_DAYS:
        raise InputError(f"{field}: {text!r} must be 1 to {MAX_SCHEDULE_DAYS} days",
                         field=field)
    return days


def parse_dose(text, field: str = "dose") -> u.Quantity:
    """A dose: a mass with its unit (``0.5 mg``, ``500 mcg``), through the one units parser."""
    return u.parse(_clean(text, field), u.MASS, field=field)


def parse_steps(text, field: str = "steps") -> tuple[Step, ...]:
    """``0.5 mg x 7 d, 1 mg x 7 d, 1.5 mg x 14 d`` -> steps. Items are separated by commas
    or semicolons; each is ``<dose> x <duration>`` (``for`` may replace ``x``)."""
    s = _clean(text, field)
    items = [i.strip() for i in re.split(r"[;,]", s)]
    if any(not i for i in items):
        raise InputError(f"{field}: an empty step (two separators in a row, or one at the "
                         "end); write e.g. '0.5 mg x 7 d, 1 mg x 7 d'", field=field)
    if len(items) > MAX_STEPS:
        raise InputError(f"{field}: {len(items)} steps; at most {MAX_STEPS}", field=field)
    steps = []
    for n, item in enumerate(items, 1):
        m = _STEP.fullmatch(" x ".join(item.split("\u00d7")).strip())
        if not m:
            raise InputError(f"{field}: step {n} {item!r} is not '<dose> x <days>'; write e.g. "
                             "'0.5 mg x 7 d'", field=field)
        where = f"{field} step {n}"
        steps.append(Step(parse_dose(m["dose"], where), parse_duration(m["dur"], where)))
    return tuple(steps)


def rule_steps(start: u.Quantity, step: u.Quantity, every: int, target: u.Quantity,
               hold: int) -> tuple[Step, ...]:
    """The steps of the rule form: ``start``, ``start + step``, ... each for ``every`` days
    until ``target``, then ``target`` for ``hold`` days.

    The target must be reached in whole steps (``0.5 mg`` up by ``1 mg`` never lands on
    ``4 mg``): an uneven last step is refused rather than guessed; write it with ``--steps``.
    """
    for name, q in (("start", start), ("step", step), ("target", target)):
        if not isinstance(q, u.Quantity) or q.dim != "mass" or q.value <= 0:
            raise InputError(f"{name}: must be a dose greater than zero", field=name)
    if target < start:
        raise InputError(f"target: {dose_text(target)} is below the start dose "
                         f"{dose_text(start)}; a taper is written with --steps", field="target")
    n = (target - start) / step
    if n != n.to_integral_value():
        raise InputError(f"target: {dose_text(target)} is not reached from {dose_text(start)} "
                         f"in whole steps of {dose_text(step)}; write the schedule with --steps",
                         field="target")
    n = int(n)
    if n + 1 > MAX_STEPS:
        raise InputError(f"step: {n + 1} steps from {dose_text(start)} to {dose_text(target)}; "
                         f"at most {MAX_STEPS}", field="step")
    unit = start.unit
    steps = [Step((start + step * k).to(unit), every) for k in range(n)]
    steps.append(Step(target, hold))
    return tuple(steps)


def build(start: date, *, steps: str | None = None, rule: dict | None = None,
          confirm_dose: bool = False) -> Schedule:
    """A checked schedule from ``steps`` text, or from ``rule`` (``start``, ``step``,
    ``every``, ``target``, ``hold`` as text, e.g. ``{"start": "0.5 mg", "every": "7 d"}``).

    Raises :class:`InputError` for malformed text or both/neither forms; :class:`RefusedError`
    for a dose at or above the guide's 12 mg limit, above 4.5 mg without ``confirm_dose``, or
    a course longer than :data:`MAX_SCHEDULE_DAYS`.
    """
    if not isinstance(start, date):
        raise InputError("start: a start date is required", field="start")
    if (steps is None) == (rule is None):
        raise InputError("schedule: give either --steps or the rule (--start-dose, --step, "
                         "--every, --target, --hold), not both", field="steps")
    if steps is not None:
        parsed = parse_steps(steps)
    else:
        missing = [k for k in ("start", "step", "every", "target", "hold") if not rule.get(k)]
        if missing:
            raise InputError(f"rule: {', '.join(missing)} missing; the rule form needs start "
                             "dose, step, every, target and hold", field=missing[0])
        parsed = rule_steps(parse_dose(rule["start"], "start dose"),
                            parse_dose(rule["step"], "step"),
                            parse_duration(rule["every"], "every"),
                            parse_dose(rule["target"], "target"),
                            parse_duration(rule["hold"], "hold"))
    check_doses(parsed, confirm_dose)
    total = sum(s.days for s in parsed)
    if total > MAX_SCHEDULE_DAYS:
        raise RefusedError(f"schedule: {total} days is longer than one prescription may run "
                           f"({MAX_SCHEDULE_DAYS} days); write a new prescription for the rest")
    written = ", ".join(s.text() for s in parsed)
    return Schedule(start, parsed, written)


def check_doses(steps, confirm_dose: bool) -> None:
    """The prescriber guide's ceilings: 12 mg or more refused; above 4.5 mg only confirmed."""
    for n, s in enumerate(steps, 1):
        if s.dose >= DOSE_LIMIT:
            raise RefusedError(
                f"dose {dose_text(s.dose)} (step {n}) is refused: LDN must stay below the "
                f"'high-low dose' limit of {dose_text(DOSE_LIMIT)} (LDN 2026 Prescriber Guide)")
    if not confirm_dose:
        for n, s in enumerate(steps, 1):
            if s.dose > USUAL_MAX_DOSE:
                raise RefusedError(
                    f"dose {dose_text(s.dose)} (step {n}) is above the usual LDN maximum of "
                    f"{dose_text(USUAL_MAX_DOSE)} (LDN 2026 Prescriber Guide); check with the "
                    "prescriber, then repeat with --confirm-dose")


def steps_from_json(data: list[dict]) -> tuple[Step, ...]:
    """Steps back from :meth:`Step.as_json` records."""
    return tuple(Step(u.q(d["dose"]["amount"], d["dose"]["unit"]), int(d["days"])) for d in data)
