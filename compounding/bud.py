"""Beyond-use dates (BUD): the policies as data tables, and one pure function.

Why this module exists: every batch and label carries a BUD, and a wrong one either harms
a patient (too late) or wastes a batch (too early). :func:`compute_bud` takes everything as
arguments (the formula, the compounding date, the storage, every component lot's expiry,
the policy, an optional hand-set shorter date) and returns a :class:`BudResult` that says
not only the date but which limit bound it and every limit that was considered.

How a BUD is decided (issue 4; shared/DOMAIN.md):

1. The policy's rule limit: a preparation-specific stability study for this storage
   condition when the formula has one (capped when the policy caps studies), else the
   default for the formula's category.
2. The formula's own BUD limit (``[bud_limit]``, e.g. the cream's 28 days), whatever the policy.
3. The expiry of every component lot used (never later than the earliest).
4. The earliest of these is the computed BUD; a hand-set date may then only shorten it.

Adding a jurisdiction is adding a :class:`Policy` table to :data:`POLICIES` (and its name to
``Settings.bud_policy``); the function does not change.

Counting (USP <795> (2023) 10.3): the day of compounding is day 1, so an N-day BUD ends on
compounded + N - 1 days (14 days from 01 MAR 2026 end on 14 MAR 2026). A duration in
calendar months ends the day before the same date N months later; when that date does not
exist (31 JAN + 1 month) it is first clamped to the month's last day, then one day is taken
off, which never runs past a month end (conservative): 12 months from 01 MAR 2026 end on
28 FEB 2027; 1 month from 31 JAN 2026 ends on 27 FEB 2026.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from .dates import add_days, add_months, format_date, inclusive_days
from .errors import BudError, InputError, RefusedError

if TYPE_CHECKING:  # pragma: no cover - the formula model is only needed for type hints
    from .formulas import Formula

#: Every kind of candidate limit, in the order they are listed and tie-broken.
KINDS = ("category-default", "study", "study-capped", "formula-limit", "component-lot",
         "hand-set")

#: How each kind reads in an explanation.
KIND_TEXT = {
    "category-default": "category default",
    "study": "stability study",
    "study-capped": "stability study, capped",
    "formula-limit": "formula BUD limit",
    "component-lot": "component lot expiry",
    "hand-set": "hand-set by the pharmacist",
}

#: Storage conditions as read in an explanation (USP <659> ranges).
STORAGE_WORDS = {
    "refrigerated": "in a refrigerator (2 °C to 8 °C)",
    "room": "at room temperature (20 °C to 25 °C)",
}


# ---------------------------------------------------------------- durations and counting

@dataclass(frozen=True)
class Span:
    """A duration as a formula or a policy states it: ``60 days`` or ``12 months``."""

    count: int
    unit: str  # "days" | "months"

    _RE = re.compile(r"([1-9][0-9]*) (day|days|month|months)")

    @classmethod
    def parse(cls, text: str) -> "Span":
        m = cls._RE.fullmatch(str(text).strip())
        if not m:
            raise BudError(f"duration {text!r} must be 'N days' or 'N months'")
        unit = m[2] if m[2].endswith("s") else m[2] + "s"
        return cls(int(m[1]), unit)

    def __str__(self) -> str:
        word = self.unit if self.count != 1 else self.unit[:-1]
        return f"{self.count} {word}"


def period_end(start: dt.date, span: Span, first_day: int = 1) -> dt.date:
    """The last day of a period of ``span`` beginning on ``start``.

    ``first_day=1`` (USP <795> (2023) 10.3): ``start`` is day 1, so N days end on
    ``start + N - 1`` and N months end the day before ``add_months(start, N)`` (which clamps
    to the month's last day). ``first_day=0`` (USP <797>: day 0) ends on ``start + N`` and
    on ``add_months(start, N)``.
    """
    try:
        if span.unit == "days":
            return add_days(start, span.count - first_day)
        return add_days(add_months(start, span.count), -first_day)
    except InputError:  # issue 11: one clear line, never an OverflowError traceback
        raise BudError(f"compounded: a period of {span} from {format_date(start)} runs past "
                       f"{format_date(dt.date.max)}, the last date the calendar has; check "
                       "the compounding date") from None


# ---------------------------------------------------------------- the policy tables

@dataclass(frozen=True)
class CategoryDefault:
    """A default maximum BUD for one category, with the storage it assumes."""

    days: int
    storage: frozenset
    description: str
    citation: str


@dataclass(frozen=True)
class Policy:
    """One jurisdiction's BUD rules, as data."""

    name: str
    title: str
    #: category (formulas.Category) -> default maximum, used when no study applies
    category_defaults: Mapping[str, CategoryDefault]
    #: whether a preparation-specific stability study for the storage replaces the default
    follows_studies: bool
    #: longest BUD a study may give (None: the study's own duration)
    study_cap: Span | None
    study_cap_citation: str | None
    #: 1: compounding day is day 1 (USP <795>); 0: day 0 (USP <797>)
    first_day: int
    counting_citation: str
    #: caution printed when a study extends an aqueous preparation past its default
    aqueous_extension_caution: str | None = None
    #: caution printed with every result under this policy
    caution: str | None = None
    #: USP <795> (2023): a study extends an aqueous preparation past its category default
    #: only with antimicrobial effectiveness testing (USP <51>) on file (issue 11)
    aqueous_study_needs_aet: bool = False


# USP <795> (2023 revision, official 1 Nov 2023), its default BUD table (the table number is
# not confirmed from a primary source, so it is not cited), as in shared/DOMAIN.md: default
# maximum BUDs when there is no USP-NF compounded monograph and no preparation-specific
# stability study. Creams, gels, emulsions, solutions and suspensions count as aqueous;
# aw exactly 0.6 is aqueous.
USP795_TABLE_4 = MappingProxyType({
    # USP <795> (2023) default BUD table: aqueous, non-preserved (aw >= 0.6): 14 days, refrigerator.
    "aqueous-non-preserved": CategoryDefault(
        14, frozenset({"refrigerated"}), "aqueous, non-preserved (aw >= 0.6)",
        "USP <795> (2023) default BUD table"),
    # USP <795> (2023) default BUD table: aqueous, preserved (aw >= 0.6): 35 days, room temperature or fridge.
    "aqueous-preserved": CategoryDefault(
        35, frozenset({"room", "refrigerated"}), "aqueous, preserved (aw >= 0.6)",
        "USP <795> (2023) default BUD table"),
    # USP <795> (2023) default BUD table: nonaqueous oral liquids (aw < 0.6): 90 days, room temperature or fridge.
    "nonaqueous-oral-liquid": CategoryDefault(
        90, frozenset({"room", "refrigerated"}), "nonaqueous oral liquid (aw < 0.6)",
        "USP <795> (2023) default BUD table"),
    # USP <795> (2023) default BUD table: other nonaqueous (capsules, powders, nonaqueous topicals; aw < 0.6):
    # 180 days, room temperature or fridge.
    "nonaqueous-other": CategoryDefault(
        180, frozenset({"room", "refrigerated"}),
        "other nonaqueous: capsules, powders, nonaqueous topicals (aw < 0.6)",
        "USP <795> (2023) default BUD table"),
})

USP795 = Policy(
    name="usp795",
    title="USP <795> (2023)",
    category_defaults=USP795_TABLE_4,
    # USP <795> (2023): a preparation-specific stability study (stability-indicating method,
    # same container-closure) may set the BUD, at most 180 days.
    follows_studies=True,
    study_cap=Span(180, "days"),
    study_cap_citation="USP <795> (2023): a study-based BUD is at most 180 days",
    # USP <795> (2023) 10.3: the day the preparation is compounded is Day 1.
    first_day=1,
    counting_citation="USP <795> (2023) 10.3: the day of compounding is day 1",
    # USP <795> (2023): extending an aqueous preparation past its default on a study also
    # needs antimicrobial effectiveness testing, USP <51> (shared/DOMAIN.md, round 2 table;
    # issue 11): without it on the formula the category default applies.
    aqueous_study_needs_aet=True,
)

STABILITY_DATA = Policy(
    name="stability-data",
    title="stability data (jurisdictions that follow the study, e.g. UK specials)",
    # Issue 4: no study for the storage -> the USP <795> category default still applies.
    category_defaults=USP795_TABLE_4,
    # Issue 4 / DOMAIN.md: other jurisdictions (e.g. UK specials) may follow the study's
    # duration for the storage condition, without the USP 180-day cap.
    follows_studies=True,
    study_cap=None,
    study_cap_citation=None,
    # Kept as USP <795> (2023) 10.3 (day 1): counting from day 1 is never later than day 0.
    first_day=1,
    counting_citation="USP <795> (2023) 10.3: the day of compounding is day 1",
    caution=("The stability-data policy follows the study beyond the USP <795> 180-day cap: "
             "use it only where the jurisdiction allows it, and only when this batch matches "
             "the study's formulation, container and storage."),
)

#: Every known policy by name. Adding a jurisdiction = adding a table here.
POLICIES: Mapping[str, Policy] = MappingProxyType({p.name: p for p in (USP795, STABILITY_DATA)})


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except (KeyError, TypeError):
        raise BudError(f"unknown BUD policy {name!r}; known: {', '.join(sorted(POLICIES))}",
                       policy=name) from None


# ---------------------------------------------------------------- the result

@dataclass(frozen=True)
class Candidate:
    """One limit on the BUD: what kind, where it comes from, the date it gives."""

    kind: str
    source: str
    date: dt.date
    days: int
    rule: str = ""
    note: str | None = None

    def as_json(self) -> dict:
        return {"kind": self.kind, "source": self.source, "date": self.date.isoformat(),
                "days": self.days, "rule": self.rule, "note": self.note}

    def describe(self) -> str:
        return f"{KIND_TEXT.get(self.kind, self.kind)}: {self.source}"


@dataclass(frozen=True)
class BudResult:
    """The BUD, the limit that bound it, and every limit considered (earliest binds)."""

    bud: dt.date
    days: int
    policy: str
    storage: str
    binding: Candidate
    candidates: list
    compounded: dt.date
    formula_id: str = ""
    formula_version: int | None = None
    notes: tuple = ()

    def as_json(self) -> dict:
        return {
            "bud": self.bud.isoformat(),
            "days": self.days,
            "policy": self.policy,
            "storage": self.storage,
            "binding": self.binding.as_json(),
            "candidates": [c.as_json() for c in self.candidates],
        }

    def explain(self) -> list[str]:
        """Lines for a person: the date (month names), what bound it, every limit, cautions."""
        pol = POLICIES.get(self.policy)
        title = pol.title if pol else self.policy
        formula = (f"{self.formula_id} version {self.formula_version}"
                   if self.formula_version is not None else self.formula_id)
        lines = [
            f"Beyond-use date: {format_date(self.bud)} ({_days(self.days)}; compounded "
            f"{format_date(self.compounded)} is day 1)",
            f"Formula {formula}, stored {STORAGE_WORDS.get(self.storage, self.storage)}, "
            f"policy {self.policy}: {title}",
            f"Binding limit: {self.binding.describe()}",
            "Limits considered (the earliest binds):",
        ]
        width = max(len(_days(c.days)) for c in self.candidates)
        for c in self.candidates:
            mark = "  <- binding" if c is self.binding else ""
            lines.append(f"  {format_date(c.date)}  {_days(c.days).rjust(width)}  "
                         f"{c.describe()}{mark}")
            if c.rule:
                lines.append(f"      rule: {c.rule}")
            if c.note:
                lines.append(f"      note: {c.note}")
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"  - {n}" for n in self.notes)
        return lines


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


# ---------------------------------------------------------------- the function

def _check_date(value, what: str) -> dt.date:
    # a datetime is a date subclass; refuse it so no time of day sneaks into the arithmetic
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be a datetime.date, not {type(value).__name__}")
    return value


def compute_bud(formula: "Formula", compounded: dt.date, storage: str,
                component_expiries: Mapping[str, dt.date] | None = None,
                policy: str = "usp795", shorten_to: dt.date | None = None,
                reason: str | None = None, filler: str | None = None,
                base: str | None = None) -> BudResult:
    """The beyond-use date of one batch, with the limit that bound it and every candidate.

    ``component_expiries`` maps a label (an ingredient id, or e.g. ``"naltrexone-hcl lot
    ABC123"``) to that lot's expiry date (a month-only expiry already resolved to its last
    day, see :func:`compounding.dates.parse_expiry`). Pure: no clock, no files.

    ``filler`` is the capsule filler used (default: the formula's default filler); a study
    that lists the fillers it covered applies only to batches made with one of them.
    ``base`` is the cream base used (default: the formula's default base); its water
    content gives the USP <795> category (issue 11: an anhydrous base is nonaqueous).

    Raises :class:`BudError` for an unknown policy, a storage the formula (or its category)
    does not allow, an expired component, a hand-set date without a reason, later than the
    computed BUD, or before the compounding date.

    The steps are the module docstring's: :func:`_storage_default` (the storage and the
    category default), then the candidates of :func:`_rule_limit` (1), :func:`_formula_limit`
    (2) and :func:`_component_limits` (3); the earliest is the computed BUD (4);
    :func:`_hand_set` may shorten it (5); :func:`_closing_notes` explains ties and counting.
    """
    pol = get_policy(policy)
    compounded = _check_date(compounded, "compounded")
    component_expiries = dict(component_expiries or {})
    category, default = _storage_default(formula, pol, storage, base)
    if filler is None and formula.capsule is not None:
        filler = formula.capsule.default_filler

    notes: list[str] = []
    if category != formula.stability.category:  # issue 11: a cream made in another base
        notes.append(f"Made in base {base}: USP <795> (2023) category {category}, not the "
                     f"formula's default {formula.stability.category}.")
    candidates = _rule_limit(formula, pol, compounded, storage, category, default, filler,
                             notes)
    candidates += _formula_limit(formula, pol, compounded)
    candidates += _component_limits(component_expiries, pol, compounded, notes)

    # 4. The computed BUD: the earliest candidate; ties go to the first listed.
    computed = min(candidates, key=lambda c: c.date)

    candidates += _hand_set(shorten_to, reason, computed, pol, compounded, notes)
    binding = min(candidates, key=lambda c: c.date)
    _closing_notes(pol, binding, candidates, notes)
    return BudResult(bud=binding.date, days=inclusive_days(compounded, binding.date),
                     policy=pol.name, storage=storage, binding=binding,
                     candidates=candidates, compounded=compounded, formula_id=formula.id,
                     formula_version=formula.version, notes=tuple(notes))


def _end(pol: Policy, compounded: dt.date, span: Span) -> dt.date:
    """The last day of ``span`` counted from ``compounded`` under the policy's counting."""
    return period_end(compounded, span, pol.first_day)


def _storage_default(formula: "Formula", pol: Policy, storage: str,
                     base: str | None = None) -> tuple[str, CategoryDefault]:
    """The formula's category and the policy's default for it, after checking ``storage``
    is allowed by the formula and by the category."""
    # Storage: the formula's own conditions (the guide keeps the liquid in the fridge).
    allowed = tuple(formula.storage.conditions)
    if storage not in allowed:
        raise BudError(f"storage {storage!r} is not allowed for {formula.id}; allowed: "
                       f"{', '.join(allowed)}", storage=storage, allowed=allowed)
    category = base_category(formula, base)
    default = pol.category_defaults.get(category)
    if default is None:
        raise BudError(f"policy {pol.name} has no default BUD for category {category!r}")
    # USP <795> (2023) default BUD table: each category's default assumes a storage (non-preserved: fridge).
    if storage not in default.storage:
        raise BudError(f"storage {storage!r} is not allowed for category {category} "
                       f"({default.citation}); allowed: {', '.join(sorted(default.storage))}",
                       storage=storage, allowed=tuple(sorted(default.storage)))
    return category, default


def base_category(formula: "Formula", base: str | None) -> str:
    """The USP <795> category of a batch of ``formula`` made in cream ``base`` (issue 11):
    the base's own category from the formula's ``[cream]`` table, else the formula's.
    Raises :class:`BudError` for a base the formula does not list."""
    spec = getattr(formula, "cream", None)
    if base is None or (spec is None and base == next(
            (c.ingredient for c in formula.components if c.qs), None)):
        return formula.stability.category
    option = spec.base(base) if spec is not None else None
    if option is None:
        allowed = ", ".join(spec.ids()) if spec is not None else "none (not a cream formula)"
        raise BudError(f"--base: {base!r} is not a base of {formula.id}; allowed: {allowed}")
    return option.category


def _rule_limit(formula: "Formula", pol: Policy, compounded: dt.date, storage: str,
                category: str, default: CategoryDefault, filler: str | None,
                notes: list[str]) -> list[Candidate]:
    """1. The rule limit: a study for this storage replaces the category default (in both
    directions: a study shorter than the default binds too), else the default."""
    default_end = _end(pol, compounded, Span(default.days, "days"))
    default_text = f"{default.description}: {default.days} days"
    studies, uncovered = [], []
    for s in formula.stability.studies:
        if s.storage != storage:
            continue
        # A study speaks only for the formulation it tested (shared/DOMAIN.md: "same
        # preparation"); with another filler fall back to the category default (conservative).
        (studies if not s.fillers or filler in s.fillers else uncovered).append(s)
    for s in uncovered:
        notes.append(f"The stability study ({s.reference}) covered only {', '.join(s.fillers)}; "
                     f"this batch uses {filler}, so the study does not apply (conservative).")
    if not (pol.follows_studies and studies):
        # USP <795> (2023) default BUD table default, no study for this storage.
        why = ("the stability study does not cover this batch's filler" if uncovered and not studies
               else "no stability study for this storage" if not studies
               else "this policy does not use stability studies")
        return [Candidate(
            "category-default", f"{default.citation}: {default_text}", default_end,
            inclusive_days(compounded, default_end),
            rule=f"{pol.title}: default maximum BUD ({why})")]
    dated = sorted(((_end(pol, compounded, Span.parse(s.duration)), i, s)
                    for i, s in enumerate(studies)), key=lambda t: (t[0], t[1]))
    study_end, _, study = dated[0]
    if len(studies) > 1:
        notes.append(f"{len(studies)} studies cover storage {storage}; the shortest "
                     f"({study.duration}) is used (conservative).")
    span = Span.parse(study.duration)
    extra = [f"replaces the {default.citation} default ({default_text})"]
    if span.unit == "months":
        extra.append(f"{span} counted as calendar months: ends the day before "
                     f"{format_date(add_months(compounded, span.count))}")
    if study.notes:
        extra.append(f"study note: {study.notes}")
    cap_end = _end(pol, compounded, pol.study_cap) if pol.study_cap is not None else None
    if cap_end is not None and study_end > cap_end:
        # USP <795> (2023): a study-based BUD is at most 180 days.
        out = Candidate(
            "study-capped", study.reference, cap_end, inclusive_days(compounded, cap_end),
            rule=pol.study_cap_citation or "",
            note=f"the study supports {study.duration} ({format_date(study_end)}); "
                 f"capped at {pol.study_cap}; " + "; ".join(extra))
    else:
        rule = (f"{pol.title}: preparation-specific stability study for {storage} storage"
                + (f", at most {pol.study_cap}" if pol.study_cap else ""))
        out = Candidate("study", study.reference, study_end,
                        inclusive_days(compounded, study_end), rule=rule,
                        note="; ".join(extra))
    if category.startswith("aqueous") and out.date > default_end:
        aet = formula.stability.antimicrobial_effectiveness
        if aet is not None:
            notes.append(f"Antimicrobial effectiveness testing (USP <51>) on file: "
                         f"{aet.reference}.")
        elif pol.aqueous_study_needs_aet:
            # issue 11: no USP <51> testing on the formula -> the category default
            notes.append(f"The stability study ({study.reference}) supports "
                         f"{format_date(out.date)}, but USP <795> (2023) extends an aqueous "
                         f"preparation past its {default.days}-day default only with "
                         "antimicrobial effectiveness testing (USP <51>) on file; this formula "
                         "records none, so the category default applies (conservative).")
            return [Candidate(
                "category-default", f"{default.citation}: {default_text}", default_end,
                inclusive_days(compounded, default_end),
                rule=f"{pol.title}: default maximum BUD (the study is not used: no "
                     "antimicrobial effectiveness testing, USP <51>, on file)")]
        else:
            notes.append(f"This policy follows the study to {format_date(out.date)}; USP <795> "
                         f"(2023) would also need antimicrobial effectiveness testing (USP <51>) "
                         f"to go past the {default.days}-day default ({format_date(default_end)})"
                         ", and this formula records none.")
    return [out]


def _formula_limit(formula: "Formula", pol: Policy, compounded: dt.date) -> list[Candidate]:
    """2. The formula's own limit, whatever the policy (issue 4: the cream's 28 days)."""
    if formula.bud_limit is None:
        return []
    lim = formula.bud_limit
    lim_end = _end(pol, compounded, Span(lim.days, "days"))
    return [Candidate(
        "formula-limit", f"{lim.source}: {lim.reason}", lim_end,
        inclusive_days(compounded, lim_end),
        rule=f"formula {formula.id} [bud_limit]: {lim.days} days")]


def _component_limits(component_expiries: dict, pol: Policy, compounded: dt.date,
                      notes: list[str]) -> list[Candidate]:
    """3. Component lots: the BUD may never be later than any component's expiry (USP <795>;
    shared/DOMAIN.md). An expired component is refused, not dated."""
    out = []
    for label, expiry in component_expiries.items():
        if not isinstance(label, str) or not label.strip():
            raise BudError("a component expiry needs a label (an ingredient id or lot)")
        expiry = _check_date(expiry, f"expiry of {label}")
        if expiry < compounded:
            raise BudError(f"expired component: {label} expired on {format_date(expiry)}, "
                           f"before the compounding date {format_date(compounded)}",
                           component=label, expiry=expiry)
        note = None
        if expiry == compounded:
            note = "expires on the compounding day"
        out.append(Candidate(
            "component-lot", label.strip(), expiry, inclusive_days(compounded, expiry),
            rule="USP <795>: the BUD may not be later than the expiry of any component",
            note=note))
    if not component_expiries:
        notes.append("No component lot expiries were given: the BUD must not be later than "
                     "any component's expiry; check every lot used.")
    return out


def _hand_set(shorten_to: dt.date | None, reason: str | None, computed: Candidate,
              pol: Policy, compounded: dt.date, notes: list[str]) -> list[Candidate]:
    """5. Hand-set: it may only shorten (shared/DOMAIN.md: never lengthened by hand)."""
    if shorten_to is None and reason is not None and str(reason).strip():
        raise BudError("a reason was given but no hand-set BUD date")
    if shorten_to is None:
        return []
    shorten_to = _check_date(shorten_to, "shorten_to")
    if reason is None or not str(reason).strip():
        raise BudError("a hand-set BUD needs a reason")
    if shorten_to > computed.date:
        raise BudError(f"hand-set BUD {format_date(shorten_to)} is later than the computed "
                       f"BUD {format_date(computed.date)}: a BUD can only be shortened by "
                       "hand, never lengthened", shorten_to=shorten_to,
                       computed=computed.date)
    if shorten_to < compounded:
        raise BudError(f"hand-set BUD {format_date(shorten_to)} is before the compounding "
                       f"date {format_date(compounded)}")
    hand = Candidate(
        "hand-set", str(reason).strip(), shorten_to, inclusive_days(compounded, shorten_to),
        rule="a BUD may be shortened by hand, never lengthened "
             "(best practice, shared/DOMAIN.md)",
        note=f"computed BUD was {format_date(computed.date)} ({computed.describe()})")
    if shorten_to == computed.date:
        notes.append("The hand-set date equals the computed BUD; it does not shorten it.")
    return [hand]


def _closing_notes(pol: Policy, binding: Candidate, candidates: list[Candidate],
                   notes: list[str]) -> None:
    """Ties with the binding limit, the policy's caution, and how days are counted."""
    ties = [c for c in candidates if c.date == binding.date and c is not binding]
    if ties:
        notes.append("Also reached on the same day by: "
                     + "; ".join(c.describe() for c in ties) + ".")
    if pol.caution:
        notes.append(pol.caution)
    after = "N - 1 days" if pol.first_day == 1 else f"N - {pol.first_day - 1} days" \
        if pol.first_day > 1 else "N days"
    notes.append(f"Counting: {pol.counting_citation}, so an N-day BUD ends {after} after "
                 "the compounding date.")


# ---------------------------------------------------------------- in date (issue 11)

#: Default for ``settings.bud_warning_days``: warn when fewer days than this remain.
BUD_WARNING_DAYS = 7


def check_in_date(bud, today: dt.date, *, lot_id: str, action: str,
                  warn_days: int = BUD_WARNING_DAYS) -> str | None:
    """Refuse ``action`` (e.g. ``"labels print"``) for a batch past its beyond-use date.

    ``bud``: a date or ISO text; ``today``: the pharmacy's date (the caller's clock). The BUD
    day itself is still in date (USP <795> (2023) 10.3 counts the BUD as the last day of
    use). Returns a warning line when fewer than ``warn_days`` days remain after today (the
    setting ``bud_warning_days``), else None. Raises :class:`RefusedError` naming the BUD.
    """
    if isinstance(bud, str):
        bud = dt.date.fromisoformat(bud)
    today = _check_date(today, "today")
    if today > bud:
        raise RefusedError(f"batch {lot_id} is past its beyond-use date {format_date(bud)} "
                           f"(today is {format_date(today)}): {action} refused")
    left = (bud - today).days
    if left == 0:
        return (f"batch {lot_id}: today, {format_date(bud)}, is its beyond-use date, the last "
                "day it may be used")
    if left < warn_days:
        return (f"batch {lot_id} reaches its beyond-use date {format_date(bud)} in "
                f"{_days(left)} (fewer than {warn_days}; setting bud_warning_days)")
    return None
