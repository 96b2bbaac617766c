"""compute_bud: the four shipped formulas under both policies, studies per storage, the
180-day cap, formula limits, component lots (month-only expiries), the day-1 rule, calendar
months, leap years, the shorten-only rule, refusals, and the explanation naming the
binding limit."""

import dataclasses
import typing
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from compounding import bud as budmod
from compounding.bud import (KINDS, POLICIES, USP795_TABLE_4, Policy, Span, compute_bud,
                             period_end)
from compounding.dates import parse_expiry
from compounding.errors import BudError
from compounding.formulas import Category, Formula, Registry, StorageSpec

ROOT = Path(__file__).resolve().parent.parent
MADE = date(2026, 3, 1)


@pytest.fixture(scope="module")
def registry():
    return Registry.load(ROOT / "formulas")


def variant(registry, formula_id, **changes):
    """A validated copy of a shipped formula with some top-level keys changed."""
    data = registry.get(formula_id).spec_json()
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Formula.model_validate(data, context={"catalogue": registry.catalogue})


# ---------------------------------------------------------------- the four formulas

FOUR = [
    # formula, policy, storage, days, BUD from 01 MAR 2026, binding kind
    ("ldn-capsules", "usp795", "room", 180, date(2026, 8, 27), "study-capped"),
    ("ldn-capsules", "stability-data", "room", 360, date(2027, 2, 23), "study"),
    # issue 11: no antimicrobial effectiveness testing (USP <51>) on file -> the default
    ("ldn-oral-liquid", "usp795", "refrigerated", 35, date(2026, 4, 4), "category-default"),
    ("ldn-oral-liquid", "stability-data", "refrigerated", 60, date(2026, 4, 29), "study"),
    ("ldn-sublingual-drops", "usp795", "refrigerated", 14, date(2026, 3, 14), "category-default"),
    ("ldn-sublingual-drops", "stability-data", "refrigerated", 14, date(2026, 3, 14),
     "category-default"),
    ("ldn-cream", "usp795", "room", 28, date(2026, 3, 28), "formula-limit"),
    ("ldn-cream", "stability-data", "room", 28, date(2026, 3, 28), "formula-limit"),
]


@pytest.mark.parametrize("fid, policy, storage, days, expected, kind", FOUR,
                         ids=[f"{f}-{p}" for f, p, *_ in FOUR])
def test_four_formulas_under_both_policies(registry, fid, policy, storage, days, expected, kind):
    formula = registry.get(fid)
    assert formula.storage.conditions[0] == storage
    r = compute_bud(formula, MADE, storage, {}, policy=policy)
    assert (r.bud, r.days, r.binding.kind) == (expected, days, kind)
    assert r.policy == policy and r.storage == storage
    assert r.binding in r.candidates
    assert r.binding.date == r.bud == min(c.date for c in r.candidates)
    # day 1 rule: an N-day BUD ends on compounded + N - 1
    assert (r.bud - MADE).days == days - 1


def test_fourteen_days_from_first_of_march_end_on_the_fourteenth(registry):
    r = compute_bud(registry.get("ldn-sublingual-drops"), date(2026, 3, 1), "refrigerated")
    assert r.bud == date(2026, 3, 14)
    assert r.binding.source == "USP <795> (2023) default BUD table: aqueous, non-preserved (aw >= 0.6): 14 days"


def test_capsules_usp795_caps_the_360_day_study_and_says_so(registry):
    r = compute_bud(registry.get("ldn-capsules"), MADE, "room", policy="usp795")
    c = r.binding
    assert c.kind == "study-capped" and c.days == 180
    assert c.source.startswith("Cote B. IJPC 2018;22(3):252")
    assert c.rule == "USP <795> (2023): a study-based BUD is at most 180 days"
    assert c.note.startswith("the study supports 360 days (23 FEB 2027); capped at 180 days")
    assert "Study used microcrystalline cellulose" in c.note   # study conditions surfaced


def test_cream_formula_limit_beats_the_35_day_default(registry):
    r = compute_bud(registry.get("ldn-cream"), MADE, "room")
    kinds = {c.kind: c for c in r.candidates}
    assert kinds["category-default"].days == 35
    assert kinds["formula-limit"].days == 28
    assert kinds["formula-limit"].source == ("LDN 2026 Prescriber Guide, Types of LDN: Cream: "
                                             "the cream lasts for 28 days only")
    assert r.binding is kinds["formula-limit"]


# ---------------------------------------------------------------- storage and studies

def test_storage_the_formula_does_not_allow_is_refused(registry):
    with pytest.raises(BudError) as exc:
        compute_bud(registry.get("ldn-oral-liquid"), MADE, "room")
    assert str(exc.value) == ("storage 'room' is not allowed for ldn-oral-liquid; "
                              "allowed: refrigerated")
    assert exc.value.exit_code == 2
    with pytest.raises(BudError, match=r"^storage 'frozen' is not allowed for ldn-capsules; "
                                       r"allowed: room$"):
        compute_bud(registry.get("ldn-capsules"), MADE, "frozen")


def test_each_storage_has_its_own_study(registry):
    # Fawcett 1997: 60 days at 4 °C, 30 days at 25 °C
    liquid = variant(registry, "ldn-oral-liquid",
                     storage={"conditions": ["refrigerated", "room"]},
                     stability={"studies": [
                         {"storage": "refrigerated", "duration": "60 days", "reference": "Fawcett 4 C"},
                         {"storage": "room", "duration": "30 days", "reference": "Fawcett 25 C"}],
                         "antimicrobial_effectiveness": {"reference": "USP <51> report T-1"}})
    for policy in POLICIES:
        cold = compute_bud(liquid, MADE, "refrigerated", policy=policy)
        warm = compute_bud(liquid, MADE, "room", policy=policy)
        assert (cold.days, cold.binding.source) == (60, "Fawcett 4 C")
        # a study shorter than the 35-day default binds too (conservative)
        assert (warm.days, warm.binding.kind, warm.binding.source) == (30, "study", "Fawcett 25 C")


def test_storage_without_a_study_falls_back_to_the_category_default(registry):
    liquid = variant(registry, "ldn-oral-liquid", storage={"conditions": ["refrigerated", "room"]})
    for policy in POLICIES:
        r = compute_bud(liquid, MADE, "room", policy=policy)
        assert (r.days, r.binding.kind) == (35, "category-default")
        assert r.binding.rule.endswith("(no stability study for this storage)")


def test_shortest_of_several_studies_for_one_storage(registry):
    caps = variant(registry, "ldn-capsules", stability={"studies": [
        {"storage": "room", "duration": "360 days", "reference": "long"},
        {"storage": "room", "duration": "120 days", "reference": "short"}]})
    r = compute_bud(caps, MADE, "room", policy="stability-data")
    assert (r.days, r.binding.source) == (120, "short")
    assert "2 studies cover storage room; the shortest (120 days) is used (conservative)." in r.notes


def test_category_storage_rule_is_checked_even_if_the_formula_slipped_through(registry):
    drops = registry.get("ldn-sublingual-drops")
    bad = drops.model_copy(update={"storage": StorageSpec(conditions=("refrigerated", "room"))})
    with pytest.raises(BudError) as exc:
        compute_bud(bad, MADE, "room")
    assert str(exc.value) == ("storage 'room' is not allowed for category aqueous-non-preserved "
                              "(USP <795> (2023) default BUD table); allowed: refrigerated")


def test_unknown_policy(registry):
    with pytest.raises(BudError) as exc:
        compute_bud(registry.get("ldn-cream"), MADE, "room", policy="uk-specials")
    assert str(exc.value) == "unknown BUD policy 'uk-specials'; known: stability-data, usp795"


# ---------------------------------------------------------------- months

@pytest.mark.parametrize("made, duration, expected", [
    (date(2026, 3, 1), "12 months", date(2027, 2, 28)),    # 365 days, day 1 = 01 MAR
    (date(2026, 3, 15), "12 months", date(2027, 3, 14)),
    (date(2027, 3, 1), "12 months", date(2028, 2, 29)),    # ends on a leap day
    (date(2028, 2, 29), "12 months", date(2029, 2, 27)),   # no 29 FEB 2029: clamp, then -1
    (date(2026, 1, 31), "1 months", date(2026, 2, 27)),    # clamp to 28 FEB, then -1
    (date(2026, 1, 15), "1 months", date(2026, 2, 14)),
    (date(2026, 11, 10), "3 months", date(2027, 2, 9)),
])
def test_calendar_months_with_day_one(registry, made, duration, expected):
    caps = variant(registry, "ldn-capsules", stability={"studies": [
        {"storage": "room", "duration": duration, "reference": "months study"}]})
    r = compute_bud(caps, made, "room", policy="stability-data")
    assert r.bud == expected
    assert r.days == (expected - made).days + 1
    assert r.binding.kind == "study"
    assert "counted as calendar months: ends the day before" in r.binding.note


def test_twelve_months_is_capped_under_usp795(registry):
    caps = variant(registry, "ldn-capsules", stability={"studies": [
        {"storage": "room", "duration": "12 months", "reference": "months study"}]})
    r = compute_bud(caps, MADE, "room", policy="usp795")
    assert (r.bud, r.days, r.binding.kind) == (date(2026, 8, 27), 180, "study-capped")
    assert r.binding.note.startswith("the study supports 12 months (28 FEB 2027)")


def test_six_months_is_longer_than_180_days_and_is_capped(registry):
    # 6 calendar months from 01 MAR 2026 end on 31 AUG 2026 = 184 days > 180
    caps = variant(registry, "ldn-capsules", stability={"studies": [
        {"storage": "room", "duration": "6 months", "reference": "six months"}]})
    r = compute_bud(caps, MADE, "room", policy="usp795")
    assert (r.bud, r.days, r.binding.kind) == (date(2026, 8, 27), 180, "study-capped")
    r2 = compute_bud(caps, MADE, "room", policy="stability-data")
    assert (r2.bud, r2.days, r2.binding.kind) == (date(2026, 8, 31), 184, "study")


@pytest.mark.parametrize("start, span, first_day, expected", [
    (date(2026, 3, 1), Span(14, "days"), 1, date(2026, 3, 14)),
    (date(2026, 3, 1), Span(14, "days"), 0, date(2026, 3, 15)),    # USP <797>-style day 0
    (date(2026, 3, 1), Span(1, "days"), 1, date(2026, 3, 1)),
    (date(2026, 3, 1), Span(12, "months"), 1, date(2027, 2, 28)),
    (date(2026, 3, 1), Span(12, "months"), 0, date(2027, 3, 1)),
])
def test_period_end(start, span, first_day, expected):
    assert period_end(start, span, first_day) == expected


@pytest.mark.parametrize("text, span", [("60 days", Span(60, "days")),
                                        ("12 months", Span(12, "months")),
                                        ("1 month", Span(1, "months"))])
def test_span_parse(text, span):
    assert Span.parse(text) == span


def test_span_refuses_other_units():
    with pytest.raises(BudError, match=r"^duration '2 weeks' must be 'N days' or 'N months'$"):
        Span.parse("2 weeks")


# ---------------------------------------------------------------- leap years

@pytest.mark.parametrize("fid, made, expected", [
    ("ldn-cream", date(2028, 2, 1), date(2028, 2, 28)),             # 28 days in a leap Feb
    ("ldn-cream", date(2028, 2, 2), date(2028, 2, 29)),             # ends on the leap day
    ("ldn-cream", date(2028, 2, 3), date(2028, 3, 1)),
    ("ldn-cream", date(2027, 2, 1), date(2027, 2, 28)),
    ("ldn-cream", date(2027, 2, 2), date(2027, 3, 1)),              # no 29 FEB 2027
    ("ldn-sublingual-drops", date(2028, 2, 16), date(2028, 2, 29)),
    ("ldn-sublingual-drops", date(2028, 2, 29), date(2028, 3, 13)),  # made on the leap day
    ("ldn-capsules", date(2028, 2, 29), date(2028, 8, 26)),
    ("ldn-oral-liquid", date(2028, 1, 27), date(2028, 3, 1)),       # 35 days over a leap day
])
def test_leap_years(registry, fid, made, expected):
    formula = registry.get(fid)
    r = compute_bud(formula, made, formula.storage.conditions[0])
    assert r.bud == expected


# ---------------------------------------------------------------- component lots

def test_component_lot_binds_when_it_expires_first(registry):
    lots = {"naltrexone-hcl lot ABC123": parse_expiry("2026-06"),
            "microcrystalline-cellulose lot M77": date(2027, 1, 31)}
    r = compute_bud(registry.get("ldn-capsules"), MADE, "room", lots)
    assert r.bud == date(2026, 6, 30)          # month-only: the last day of June
    assert r.days == 122
    assert (r.binding.kind, r.binding.source) == ("component-lot", "naltrexone-hcl lot ABC123")
    assert [c.kind for c in r.candidates] == ["study-capped", "component-lot", "component-lot"]
    assert "Binding limit: component lot expiry: naltrexone-hcl lot ABC123" in r.explain()


@pytest.mark.parametrize("fid, expiry, expected", [
    ("ldn-oral-liquid", "2026-04", date(2026, 4, 4)),    # 30 APR is after the 35-day default
    ("ldn-oral-liquid", "2026-03", date(2026, 3, 31)),   # 31 MAR binds
    ("ldn-cream", "2026-03", date(2026, 3, 28)),
    ("ldn-sublingual-drops", "2026-03", date(2026, 3, 14)),
    ("ldn-capsules", "2026-02-28", None),                # expired: refused
])
def test_month_only_expiries(registry, fid, expiry, expected):
    formula = registry.get(fid)
    lots = {"glycerol lot G1": parse_expiry(expiry, field="glycerol")}
    if expected is None:
        with pytest.raises(BudError):
            compute_bud(formula, MADE, formula.storage.conditions[0], lots)
        return
    assert compute_bud(formula, MADE, formula.storage.conditions[0], lots).bud == expected


def test_earliest_of_several_lots_binds_and_ties_go_to_the_rule(registry):
    cream = registry.get("ldn-cream")
    r = compute_bud(cream, MADE, "room", {"a": date(2026, 3, 28), "b": date(2026, 3, 20),
                                          "c": date(2026, 3, 20)})
    assert (r.bud, r.binding.source) == (date(2026, 3, 20), "b")
    assert "Also reached on the same day by: component lot expiry: c." in r.notes
    tie = compute_bud(cream, MADE, "room", {"a": date(2026, 3, 28)})
    assert tie.binding.kind == "formula-limit"
    assert "Also reached on the same day by: component lot expiry: a." in tie.notes


def test_component_expiring_on_the_compounding_day(registry):
    r = compute_bud(registry.get("ldn-cream"), MADE, "room", {"cream-base-preserved": MADE})
    assert (r.bud, r.days, r.binding.kind) == (MADE, 1, "component-lot")
    assert r.binding.note == "expires on the compounding day"


def test_expired_component_is_refused(registry):
    with pytest.raises(BudError) as exc:
        compute_bud(registry.get("ldn-capsules"), MADE, "room",
                    {"naltrexone-hcl lot OLD1": date(2026, 2, 28)})
    assert str(exc.value) == ("expired component: naltrexone-hcl lot OLD1 expired on "
                              "28 FEB 2026, before the compounding date 01 MAR 2026")
    assert exc.value.exit_code == 2


def test_blank_component_label_is_refused(registry):
    with pytest.raises(BudError, match="needs a label"):
        compute_bud(registry.get("ldn-capsules"), MADE, "room", {" ": date(2027, 1, 1)})


def test_no_component_expiries_is_flagged(registry):
    r = compute_bud(registry.get("ldn-capsules"), MADE, "room")
    assert any(n.startswith("No component lot expiries were given") for n in r.notes)
    r2 = compute_bud(registry.get("ldn-capsules"), MADE, "room", {"x": date(2030, 1, 1)})
    assert not any(n.startswith("No component lot expiries") for n in r2.notes)


# ---------------------------------------------------------------- hand-set: shorten only

def test_hand_set_shortens(registry):
    r = compute_bud(registry.get("ldn-capsules"), MADE, "room",
                    shorten_to=date(2026, 5, 31), reason="Patient travelling; short supply")
    assert (r.bud, r.days) == (date(2026, 5, 31), 92)
    assert (r.binding.kind, r.binding.source) == ("hand-set", "Patient travelling; short supply")
    assert r.binding.note.startswith("computed BUD was 27 AUG 2026 (stability study, capped")
    assert r.candidates[-1] is r.binding
    assert "Binding limit: hand-set by the pharmacist: Patient travelling; short supply" in r.explain()


def test_hand_set_can_never_lengthen(registry):
    with pytest.raises(BudError) as exc:
        compute_bud(registry.get("ldn-cream"), MADE, "room",
                    shorten_to=date(2026, 3, 29), reason="wanted a month")
    assert str(exc.value) == ("hand-set BUD 29 MAR 2026 is later than the computed BUD "
                              "28 MAR 2026: a BUD can only be shortened by hand, never lengthened")


def test_hand_set_equal_to_the_computed_date_is_accepted_but_does_not_bind(registry):
    r = compute_bud(registry.get("ldn-cream"), MADE, "room",
                    shorten_to=date(2026, 3, 28), reason="same")
    assert r.binding.kind == "formula-limit"
    assert r.candidates[-1].kind == "hand-set"
    assert "The hand-set date equals the computed BUD; it does not shorten it." in r.notes


@pytest.mark.parametrize("shorten_to, reason, message", [
    (date(2026, 3, 10), None, "a hand-set BUD needs a reason"),
    (date(2026, 3, 10), "   ", "a hand-set BUD needs a reason"),
    (None, "because", "a reason was given but no hand-set BUD date"),
    (date(2026, 2, 27), "typo", "hand-set BUD 27 FEB 2026 is before the compounding date "
                                "01 MAR 2026"),
])
def test_hand_set_refusals(registry, shorten_to, reason, message):
    with pytest.raises(BudError) as exc:
        compute_bud(registry.get("ldn-cream"), MADE, "room", shorten_to=shorten_to,
                    reason=reason)
    assert str(exc.value) == message


def test_hand_set_on_the_compounding_day(registry):
    r = compute_bud(registry.get("ldn-cream"), MADE, "room", shorten_to=MADE, reason="same day")
    assert (r.bud, r.days) == (MADE, 1)


# ---------------------------------------------------------------- result shape

def test_as_json_shape(registry):
    r = compute_bud(registry.get("ldn-oral-liquid"), MADE, "refrigerated",
                    {"naltrexone-hcl lot ABC123": date(2026, 3, 31)})
    j = r.as_json()
    assert list(j) == ["bud", "days", "policy", "storage", "binding", "candidates"]
    assert j["bud"] == "2026-03-31" and j["days"] == 31
    assert j["policy"] == "usp795" and j["storage"] == "refrigerated"
    assert j["binding"] == {"kind": "component-lot", "source": "naltrexone-hcl lot ABC123",
                            "date": "2026-03-31", "days": 31,
                            "rule": "USP <795>: the BUD may not be later than the expiry "
                                    "of any component",
                            "note": None}
    assert [c["kind"] for c in j["candidates"]] == ["category-default", "component-lot"]
    assert j["candidates"][0]["date"] == "2026-04-04" and j["candidates"][0]["days"] == 35
    for c in j["candidates"]:
        assert set(c) >= {"kind", "source", "date", "days"}


def test_result_is_frozen_and_pure(registry):
    f = registry.get("ldn-capsules")
    a = compute_bud(f, MADE, "room", {"x": date(2027, 1, 1)})
    b = compute_bud(f, MADE, "room", {"x": date(2027, 1, 1)})
    assert a == b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.bud = date(2030, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.binding.date = date(2030, 1, 1)


def test_a_datetime_is_not_a_date(registry):
    with pytest.raises(TypeError):
        compute_bud(registry.get("ldn-cream"), datetime(2026, 3, 1, 9, 30), "room")
    with pytest.raises(TypeError):
        compute_bud(registry.get("ldn-cream"), MADE, "room", {"x": datetime(2026, 4, 1)})


# ---------------------------------------------------------------- explanation

def test_explanation_names_the_binding_limit_and_dates_with_month_names(registry):
    r = compute_bud(registry.get("ldn-cream"), MADE, "room",
                    {"cream-base-preserved lot CB9": date(2026, 9, 30)})
    lines = r.explain()
    assert lines[0] == "Beyond-use date: 28 MAR 2026 (28 days; compounded 01 MAR 2026 is day 1)"
    assert lines[1] == ("Formula ldn-cream version 2, stored at room temperature (20 °C to 25 °C), "
                        "policy usp795: USP <795> (2023)")
    assert lines[2] == ("Binding limit: formula BUD limit: LDN 2026 Prescriber Guide, Types of "
                        "LDN: Cream: the cream lasts for 28 days only")
    assert lines[3] == "Limits considered (the earliest binds):"
    assert ("  28 MAR 2026   28 days  formula BUD limit: LDN 2026 Prescriber Guide, Types of "
            "LDN: Cream: the cream lasts for 28 days only  <- binding") in lines
    assert ("  04 APR 2026   35 days  category default: USP <795> (2023) default BUD table: aqueous, "
            "preserved (aw >= 0.6): 35 days") in lines
    assert ("  30 SEP 2026  214 days  component lot expiry: cream-base-preserved lot CB9"
            in lines)
    assert sum("<- binding" in line for line in lines) == 1
    assert not any("2026-" in line for line in lines)      # no all-numeric dates for people


@pytest.mark.parametrize("made, bud", [
    (date(2026, 11, 25), date(2026, 12, 29)),   # issue 11: not 23 JAN 2027 (the 60-day study)
    (date(2026, 3, 1), date(2026, 4, 4)),
])
def test_aqueous_study_needs_antimicrobial_effectiveness_testing(registry, made, bud):
    # USP <795> (2023): a study takes an aqueous preparation past its category default only
    # with USP <51> testing on file; the oral liquid records none (Fawcett 1997 is a chemical
    # stability study), so usp795 gives the 35-day preserved-aqueous default.
    liquid = registry.get("ldn-oral-liquid")
    usp = compute_bud(liquid, made, "refrigerated", policy="usp795")
    assert (usp.bud, usp.days, usp.binding.kind) == (bud, 35, "category-default")
    assert usp.binding.rule == ("USP <795> (2023): default maximum BUD (the study is not used: "
                                "no antimicrobial effectiveness testing, USP <51>, on file)")
    assert any(n.startswith("The stability study (Fawcett JM et al.") and n.endswith(
        "only with antimicrobial effectiveness testing (USP <51>) on file; this formula "
        "records none, so the category default applies (conservative).") for n in usp.notes)
    # the stability-data policy may follow the study, and says what USP <795> would need
    data = compute_bud(liquid, made, "refrigerated", policy="stability-data")
    assert (data.days, data.binding.kind) == (60, "study")
    assert any(n.startswith("This policy follows the study to ") and "would also need "
               "antimicrobial effectiveness testing (USP <51>)" in n for n in data.notes)
    # with the test on file the study stands under usp795 too, and the report is cited
    tested = variant(registry, "ldn-oral-liquid", stability={
        "antimicrobial_effectiveness": {"reference": "USP <51> report T-1, 2026"}})
    ok = compute_bud(tested, made, "refrigerated", policy="usp795")
    assert (ok.days, ok.binding.kind) == (60, "study")
    assert ("Antimicrobial effectiveness testing (USP <51>) on file: USP <51> report T-1, "
            "2026.") in ok.notes
    # capsules are nonaqueous: no AET rule, and a nonaqueous formula cannot record one
    caps = compute_bud(registry.get("ldn-capsules"), made, "room", policy="usp795")
    assert not any("antimicrobial" in n for n in caps.notes)
    with pytest.raises(Exception, match="recorded for aqueous preparations only"):
        variant(registry, "ldn-capsules", stability={
            "antimicrobial_effectiveness": {"reference": "x"}})


@pytest.mark.parametrize("made, message", [
    (date(9999, 12, 31), "compounded: a period of 180 days from 31 DEC 9999 runs past "
                         "31 DEC 9999, the last date the calendar has; check the compounding "
                         "date"),
    (date(9999, 7, 1), "compounded: a period of 360 days from 01 JUL 9999 runs past"),
])
def test_dates_off_the_calendar_are_one_clear_line(registry, made, message):
    with pytest.raises(BudError) as exc:
        compute_bud(registry.get("ldn-capsules"), made, "room")
    assert str(exc.value).startswith(message)


# ---------------------------------------------------------------- the tables

def test_tables_cover_every_category_and_cite_usp795():
    assert set(USP795_TABLE_4) == set(typing.get_args(Category))
    assert {k: v.days for k, v in USP795_TABLE_4.items()} == {
        "aqueous-non-preserved": 14, "aqueous-preserved": 35, "nonaqueous-oral-liquid": 90,
        "nonaqueous-other": 180}
    assert USP795_TABLE_4["aqueous-non-preserved"].storage == frozenset({"refrigerated"})
    for policy in POLICIES.values():
        assert set(policy.category_defaults) == set(typing.get_args(Category))
    assert POLICIES["usp795"].study_cap == Span(180, "days")
    assert POLICIES["stability-data"].study_cap is None


def test_kinds_are_the_documented_ones(registry):
    assert KINDS == ("category-default", "study", "study-capped", "formula-limit",
                     "component-lot", "hand-set")


def test_adding_a_jurisdiction_is_adding_a_table(registry, monkeypatch):
    """A made-up policy: day-0 counting, 90-day study cap; no change to compute_bud."""
    strict = Policy(name="test-day0", title="Test day-0 policy", category_defaults=USP795_TABLE_4,
                    follows_studies=True, study_cap=Span(90, "days"),
                    study_cap_citation="test cap 90 days", first_day=0,
                    counting_citation="test: day 0")
    monkeypatch.setattr(budmod, "POLICIES", MappingProxyType({**POLICIES, strict.name: strict}))
    r = budmod.compute_bud(registry.get("ldn-capsules"), MADE, "room", policy="test-day0")
    assert (r.bud, r.days, r.binding.kind) == (date(2026, 5, 30), 91, "study-capped")
    drops = budmod.compute_bud(registry.get("ldn-sublingual-drops"), MADE, "refrigerated",
                               policy="test-day0")
    assert drops.bud == date(2026, 3, 15)
    assert drops.explain()[1].endswith("policy test-day0: Test day-0 policy")


# ---------------------------------------------------------------- study coverage (lead)

def test_capsule_study_applies_only_to_the_filler_it_tested(registry):
    # Cote 2018 tested microcrystalline cellulose only: a lactose batch must not get 360 days.
    caps = registry.get("ldn-capsules")
    made = date(2026, 3, 1)
    mcc = compute_bud(caps, made, "room", {}, policy="stability-data")
    assert mcc.days == 360 and mcc.binding.kind == "study"
    lac = compute_bud(caps, made, "room", {}, policy="stability-data",
                      filler="lactose-monohydrate")
    assert lac.days == 180 and lac.binding.kind == "category-default"
    assert any("covered only microcrystalline-cellulose" in n for n in lac.notes)
