"""Titration arithmetic (issue 17): parsing schedules, the guide's dose ceilings, what the
patient measures per form, the back-off half dose, fills under the BUD, and directions.

The hand-worked examples are worked out in the comments beside each table, from the
formulas shipped in formulas/ and the default [rx] settings (0.1 mL syringe graduation,
2 mL loss per liquid fill, 1 mL per drops fill, 3 g per cream fill)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from compounding import units as u
from compounding.errors import InputError, RefusedError
from compounding.formulas import Formula, Registry
from compounding.rx import fills as F
from compounding.rx import measure as M
from compounding.rx import schedule as S
from compounding.settings import Settings, Titration

ROOT = Path(__file__).resolve().parent.parent
START = date(2026, 12, 1)
RX = Settings().rx


@pytest.fixture(scope="module")
def reg():
    return Registry.load(ROOT / "formulas")


def mg(text):
    return u.parse(text, u.MASS)


# ---------------------------------------------------------------- parsing

@pytest.mark.parametrize("text, expected", [
    ("0.5 mg x 7 d, 1 mg x 7 d, 1.5 mg x 14 d", "0.5 mg x 7 d, 1 mg x 7 d, 1.5 mg x 14 d"),
    ("0.5mg x 7d; 1 mg x 1 week", "0.5 mg x 7 d, 1 mg x 7 d"),
    ("500 mcg for 2 weeks", "0.5 mg x 14 d"),
    ("50 mcg X 3 days", "50 mcg x 3 d"),
    ("1.5 mg \u00d7 14 d", "1.5 mg x 14 d"),
    ("  0.5   mg  x  7  d  ", "0.5 mg x 7 d"),
])
def test_steps_parse(text, expected):
    assert S.build(START, steps=text).written == expected


@pytest.mark.parametrize("text, message", [
    ("0.5 mg x 7 d,", "steps: an empty step (two separators in a row, or one at the end); "
                      "write e.g. '0.5 mg x 7 d, 1 mg x 7 d'"),
    ("0.5 mg for a week", "steps: step 1 '0.5 mg for a week' is not '<dose> x <days>'; write "
                          "e.g. '0.5 mg x 7 d'"),
    ("0.5 x 7 d", "steps step 1: '0.5': a unit is required (e.g. mg, mcg, mL, mg/mL)"),
    ("0.5 mL x 7 d", "steps step 1: '0.5 mL': is a volume; expected a mass (e.g. '1.5 mg')"),
    ("NaN mg x 7 d", "steps step 1: 'NaN mg': does not start with a number; write e.g. "
                     "'1.5 mg'"),
    ("1e3 mcg x 7 d", "steps step 1: '1e3 mcg': scientific notation is not accepted; write the "
                      "number in full"),
    (".5 mg x 7 d", "steps step 1: '.5 mg': missing leading zero: write 0.5"),
    ("0.5 mg x 7 months", "steps step 1: '7 months' is not a duration; write e.g. '7 d', "
                          "'14 days' or '2 weeks' (ASCII digits)"),
    ("0.5 mg x \u0667 d", "steps: step 1 '0.5 mg x \u0667 d' is not '<dose> x <days>'; write "
                          "e.g. '0.5 mg x 7 d'"),
    ("\u0660.5 mg x 7 d", "steps step 1: '\u0660.5 mg': does not start with a number; write "
                          "e.g. '1.5 mg'"),
    ("0.5 mg x 0 d", "steps step 1: '0 d' must be 1 to 366 days"),
    ("0.5\u200b mg x 7 d", "steps: contains an invisible or control character (U+200B); "
                           "retype it"),
    ("\u202e0.5 mg x 7 d", "steps: contains an invisible or control character (U+202E); "
                           "retype it"),
    ("0.5 mg x 7 d\x00", "steps: contains an invisible or control character (U+0000); "
                         "retype it"),
    ("", "steps: is empty"),
    ("0 mg x 7 d", "steps step 1: '0 mg': must be greater than zero"),
    ("-1 mg x 7 d", "steps step 1: '-1 mg': negative amounts are not accepted"),
])
def test_steps_refused(text, message):
    with pytest.raises(InputError) as exc:
        S.build(START, steps=text)
    assert str(exc.value) == message


def test_rule_form_expands_to_steps():
    s = S.build(START, rule=dict(start="0.5 mg", step="0.5 mg", every="7 d", target="4.5 mg",
                                 hold="30 d"))
    assert s.written == ("0.5 mg x 7 d, 1 mg x 7 d, 1.5 mg x 7 d, 2 mg x 7 d, 2.5 mg x 7 d, "
                         "3 mg x 7 d, 3.5 mg x 7 d, 4 mg x 7 d, 4.5 mg x 30 d")
    assert s.total_days == 8 * 7 + 30 == 86
    assert s.end == date(2027, 2, 24)


@pytest.mark.parametrize("rule, message", [
    (dict(start="0.5 mg", step="1 mg", every="7 d", target="4 mg", hold="30 d"),
     "target: 4 mg is not reached from 0.5 mg in whole steps of 1 mg; write the schedule "
     "with --steps"),
    (dict(start="3 mg", step="0.5 mg", every="7 d", target="1 mg", hold="30 d"),
     "target: 1 mg is below the start dose 3 mg; a taper is written with --steps"),
    (dict(start="0.5 mg", step="0.5 mg", every="7 d", target="4.5 mg"),
     "rule: hold missing; the rule form needs start dose, step, every, target and hold"),
])
def test_rule_refused(rule, message):
    with pytest.raises(InputError) as exc:
        S.build(START, rule=rule)
    assert str(exc.value) == message


def test_both_or_neither_form_refused():
    with pytest.raises(InputError, match="give either --steps or the rule"):
        S.build(START, steps="1 mg x 7 d", rule={"start": "1 mg"})
    with pytest.raises(InputError, match="give either --steps or the rule"):
        S.build(START)


# ---------------------------------------------------------------- ceilings (the guide)

@pytest.mark.parametrize("steps, confirm, message", [
    ("4.5 mg x 7 d", False, None),
    ("4.6 mg x 7 d", False, "dose 4.6 mg (step 1) is above the usual LDN maximum of 4.5 mg "
                            "(LDN 2026 Prescriber Guide); check with the prescriber, then "
                            "repeat with --confirm-dose"),
    ("4.5 mg x 7 d, 6 mg x 7 d", True, None),
    ("11.9 mg x 7 d", True, None),
    ("1 mg x 7 d, 12 mg x 7 d", True, "dose 12 mg (step 2) is refused: LDN must stay below the "
                                      "'high-low dose' limit of 12 mg (LDN 2026 Prescriber "
                                      "Guide)"),
    ("12000 mcg x 7 d", True, "dose 12 mg (step 1) is refused: LDN must stay below the "
                              "'high-low dose' limit of 12 mg (LDN 2026 Prescriber Guide)"),
    ("1 mg x 200 d, 1 mg x 200 d", False, "schedule: 400 days is longer than one prescription "
                                          "may run (366 days); write a new prescription for "
                                          "the rest"),
])
def test_dose_ceilings(steps, confirm, message):
    if message is None:
        S.build(START, steps=steps, confirm_dose=confirm)
        return
    with pytest.raises(RefusedError) as exc:
        S.build(START, steps=steps, confirm_dose=confirm)
    assert str(exc.value) == message


def test_days_and_segments():
    s = S.build(date(2026, 12, 30), steps="1 mg x 2 d, 1 mg x 1 d, 2 mg x 2 d")
    assert [(d.on.isoformat(), str(d.dose)) for d in s.days()] == [
        ("2026-12-30", "1 mg"), ("2026-12-31", "1 mg"), ("2027-01-01", "1 mg"),
        ("2027-01-02", "2 mg"), ("2027-01-03", "2 mg")]
    assert [(g.first.isoformat(), g.days, str(g.dose)) for g in s.segments()] == [
        ("2026-12-30", 3, "1 mg"), ("2027-01-02", 2, "2 mg")]


# ---------------------------------------------------------------- measuring

@pytest.mark.parametrize("formula, strength, dose, text, note", [
    # 1 mg/mL liquid: mL = mg / 1
    ("ldn-oral-liquid", None, "0.5 mg", "0.5 mL (0.5 mg)", ""),
    ("ldn-oral-liquid", None, "4.5 mg", "4.5 mL (4.5 mg)", ""),
    ("ldn-oral-liquid", None, "1500 mcg", "1.5 mL (1.5 mg)", ""),
    # drops 10 mg/mL at 20 drops/mL: 0.5 mg a drop (LDN Research Trust formulation)
    ("ldn-sublingual-drops", "10 mg/mL", "0.5 mg", "1 drop (0.5 mg)", ""),
    ("ldn-sublingual-drops", "10 mg/mL", "1.5 mg", "3 drops (1.5 mg)", ""),
    ("ldn-sublingual-drops", "10 mg/mL", "4.5 mg", "9 drops (4.5 mg)", ""),
    # 1 mg/mL at 20 drops/mL: 0.05 mg a drop; 1.02 mg -> 20 drops = 1 mg, 2% off (within 10%)
    ("ldn-sublingual-drops", "1 mg/mL", "1.02 mg", "20 drops (1 mg)",
     "1.02 mg is not a whole number of drops: 2% below, within the formula's 10%"),
    # capsules: one capsule of the dose's strength
    ("ldn-capsules", None, "1.5 mg", "1 capsule (1.5 mg)", ""),
    ("ldn-capsules", None, "50 mcg", "1 capsule (50 mcg)", ""),
    # cream 0.5 mg/g, 1 g/mL, 0.25 mL a click: 0.125 mg a click
    ("ldn-cream", None, "0.5 mg", "4 clicks (0.5 mg)", ""),
    ("ldn-cream", "1 mg/g", "1.5 mg", "6 clicks (1.5 mg)", ""),
])
def test_measure(reg, formula, strength, dose, text, note):
    m = M.Measurer(reg.get(formula), u.parse(strength) if strength else None, RX)
    got = m.measure(mg(dose))
    assert (got.text(), got.note) == (text, note)


@pytest.mark.parametrize("formula, strength, dose, message", [
    ("ldn-oral-liquid", None, "0.25 mg",
     "dose 0.25 mg is 0.25 mL of 1 mg/mL, not on the oral syringe's 0.1 mL graduation; "
     "prescribe a dose on it (0.2 mg or 0.3 mg), or set [rx] off_graduation = \"round-down\""),
    ("ldn-oral-liquid", None, "50 mcg",
     "dose 50 mcg is 0.05 mL of 1 mg/mL, not on the oral syringe's 0.1 mL graduation; "
     "prescribe a dose on it (0.1 mg), or set [rx] off_graduation = \"round-down\""),
    # 0.75 mg at 0.5 mg a drop: 1.5 drops; nearest 2 drops = 1 mg, 33.3% off
    ("ldn-sublingual-drops", "10 mg/mL", "0.75 mg",
     "dose 0.75 mg is not a whole number of drops: 1.5 drops at 0.5 mg each (10 mg/mL); the "
     "nearest, 2 drops = 1 mg, is 33.3% off and the formula allows 10%"),
    ("ldn-sublingual-drops", "10 mg/mL", "0.2 mg",
     "dose 0.2 mg is less than one drop (0.5 mg each at 10 mg/mL); it cannot be measured"),
    # 4.5 mg at 0.05 mg a drop = 90 drops: over the formula's 30
    ("ldn-sublingual-drops", "1 mg/mL", "4.5 mg",
     "dose 4.5 mg is 90 drops; the formula allows 1 to 30 drops a dose (choose another "
     "concentration)"),
    ("ldn-capsules", None, "6 mg", "capsule strength 6 mg is outside what ldn-capsules allows "
                                   "(0.1 mcg to 4.5 mg)"),
    ("ldn-cream", None, "0.2 mg",
     "dose 0.2 mg is not a whole number of clicks: 1.6 clicks at 0.125 mg each (0.5 mg/g); "
     "the nearest, 2 clicks = 0.25 mg, is 25% off and the formula allows 10%"),
])
def test_measure_refused(reg, formula, strength, dose, message):
    m = M.Measurer(reg.get(formula), u.parse(strength) if strength else None, RX)
    with pytest.raises(RefusedError) as exc:
        m.measure(mg(dose))
    assert str(exc.value) == message


def test_round_down_setting_states_the_difference(reg):
    rx = Titration(off_graduation="round-down")
    m = M.Measurer(reg.get("ldn-oral-liquid"), None, rx)
    got = m.measure(mg("0.25 mg"))
    assert (got.text(), got.note) == (
        "0.2 mL (0.2 mg)", "0.25 mL is not on the 0.1 mL graduation: rounded down (50 mcg less)")


@pytest.mark.parametrize("strength, message", [
    ("2 mg/mL", "strength: ldn-oral-liquid is made at 1 mg/mL only, not 2 mg/mL"),
    ("1 mg/g", "strength: 1 mg/g is not a w/v concentration for ldn-oral-liquid"),
])
def test_liquid_strength_refused(reg, strength, message):
    with pytest.raises(InputError) as exc:
        M.Measurer(reg.get("ldn-oral-liquid"), u.parse(strength), RX)
    assert str(exc.value) == message


@pytest.mark.parametrize("formula, strength, kit, dose, text", [
    # the guide: "reducing the dose by 50% for 7 days"; same graduation, rounded down
    ("ldn-oral-liquid", None, (), "3 mg", "1.5 mL (1.5 mg)"),
    ("ldn-oral-liquid", None, (), "0.5 mg",
     "0.2 mL (0.2 mg); 0.25 mL is not on the 0.1 mL graduation: rounded down (50 mcg less)"),
    ("ldn-sublingual-drops", "10 mg/mL", (), "1 mg", "1 drop (0.5 mg)"),
    ("ldn-sublingual-drops", "10 mg/mL", (), "1.5 mg",
     "1 drop (0.5 mg); 0.75 mg is not a whole number of drops: rounded down"),
    ("ldn-sublingual-drops", "10 mg/mL", (), "0.5 mg",
     "0.25 mg is less than one drop (0.5 mg each at 10 mg/mL); ask the prescriber or "
     "pharmacist"),
    ("ldn-capsules", None, ("1.5 mg", "3 mg", "4.5 mg"), "3 mg", "1 capsule (1.5 mg)"),
    ("ldn-capsules", None, ("1.5 mg", "3 mg", "4.5 mg"), "4.5 mg",
     "2.25 mg: no 2.25 mg capsules in this kit; ask the pharmacy (do not open or split "
     "capsules)"),
    ("ldn-cream", None, (), "1 mg", "4 clicks (0.5 mg)"),
])
def test_half_dose(reg, formula, strength, kit, dose, text):
    m = M.Measurer(reg.get(formula), u.parse(strength) if strength else None, RX,
                   kit=tuple(mg(k) for k in kit))
    assert m.half_dose(mg(dose)).text() == text


# ---------------------------------------------------------------- fills (hand-worked)

def _fills(reg, formula, strength, schedule, storage, rx=RX, policy="usp795"):
    f = reg.get(formula)
    m = M.Measurer(f, u.parse(strength) if strength else None, rx, kit=tuple(schedule.doses()))
    return F.plan_fills(schedule, m, storage=storage, policy=policy)


def _summary(fills):
    return [(f.number, f.first.isoformat(), f.last.isoformat(),
             [(str(s.strength), str(s.used), str(s.quantity)) for s in f.supplies])
            for f in fills]


LIQUID_RULE = dict(start="0.5 mg", step="0.5 mg", every="7 d", target="4.5 mg", hold="30 d")


def test_liquid_titration_fills_under_the_bud(reg):
    # 1 mg/mL liquid, 0.5 mg up by 0.5 mg every 7 days to 4.5 mg, then 30 days: 86 days from
    # 01 DEC 2026 to 24 FEB 2027. The liquid's Fawcett 60-day study is not used to size fills
    # without AET on file, so each fill gets the USP <795> aqueous-preserved 35 days.
    # Fill 1: days 1-35 (01 DEC - 04 JAN): 7 x (0.5 + 1 + 1.5 + 2 + 2.5) = 52.5 mL + 2 = 54.5
    #   -> 55 mL. Fill 2: days 36-70 (05 JAN - 08 FEB): 7 x (3 + 3.5 + 4) + 14 x 4.5 = 136.5 mL
    #   + 2 -> 139 mL. Fill 3: days 71-86 (09 FEB - 24 FEB): 16 x 4.5 = 72 mL + 2 = 74 mL.
    s = S.build(START, rule=LIQUID_RULE)
    fills = _fills(reg, "ldn-oral-liquid", None, s, "refrigerated")
    assert _summary(fills) == [
        (1, "2026-12-01", "2027-01-04", [("1 mg/mL", "52.5 mL", "55 mL")]),
        (2, "2027-01-05", "2027-02-08", [("1 mg/mL", "136.5 mL", "139 mL")]),
        (3, "2027-02-09", "2027-02-24", [("1 mg/mL", "72 mL", "74 mL")]),
    ]
    assert [f.bud.isoformat() for f in fills] == ["2027-01-04", "2027-02-08", "2027-03-15"]
    assert fills[0].bud_basis.startswith("aqueous, preserved (aw >= 0.6): 35 days (fills sized "
                                         "to the USP <795> (2023) category default")
    assert [(ln.first.isoformat(), ln.days, ln.measure.text()) for ln in fills[1].lines] == [
        ("2027-01-05", 7, "3 mL (3 mg)"), ("2027-01-12", 7, "3.5 mL (3.5 mg)"),
        ("2027-01-19", 7, "4 mL (4 mg)"), ("2027-01-26", 14, "4.5 mL (4.5 mg)")]
    assert [F.directions(f, "oral-liquid", "bedtime") for f in fills] == [
        "Follow the dose chart. Start with 0.5 mL (0.5 mg) by mouth at bedtime on 01 DEC 2026.",
        "Follow the dose chart. Start with 3 mL (3 mg) by mouth at bedtime on 05 JAN 2027.",
        "Take 4.5 mL (4.5 mg) by mouth at bedtime for 16 days.",
    ]


def test_liquid_with_aet_on_file_follows_the_60_day_study(reg):
    # with AET on file the Fawcett study's 60 days stand: fill 1 days 1-60 (01 DEC - 29 JAN):
    # 52.5 + 7 x (3 + 3.5 + 4) + 4 x 4.5 = 52.5 + 73.5 + 18 = 144 mL + 2 = 146 mL;
    # fill 2 days 61-86: 26 x 4.5 = 117 mL + 2 = 119 mL.
    # (issue 11: the formula records the USP <51> test; compute_bud then follows the study)
    s = S.build(START, rule=LIQUID_RULE)
    data = reg.get("ldn-oral-liquid").spec_json()
    data["stability"]["antimicrobial_effectiveness"] = {"reference": "USP <51> report T-1"}
    f = Formula.model_validate(data, context={"catalogue": reg.catalogue})
    m = M.Measurer(f, None, RX, kit=tuple(s.doses()))
    fills = F.plan_fills(s, m, storage="refrigerated", policy="usp795")
    assert _summary(fills) == [
        (1, "2026-12-01", "2027-01-29", [("1 mg/mL", "144 mL", "146 mL")]),
        (2, "2027-01-30", "2027-02-24", [("1 mg/mL", "117 mL", "119 mL")]),
    ]


def test_two_step_liquid_directions(reg):
    s = S.build(START, steps="0.5 mg x 7 d, 1 mg x 21 d")
    (fill,) = _fills(reg, "ldn-oral-liquid", None, s, "refrigerated")
    # 7 x 0.5 + 21 x 1 = 24.5 mL + 2 = 26.5 -> 27 mL
    assert _summary([fill]) == [(1, "2026-12-01", "2026-12-28", [("1 mg/mL", "24.5 mL",
                                                                   "27 mL")])]
    assert F.directions(fill, "oral-liquid", "bedtime") == (
        "Take 0.5 mL (0.5 mg) by mouth at bedtime for 7 days, then 1 mL (1 mg) at bedtime for "
        "21 days.")
    assert F.directions(fill, "oral-liquid", "morning") == (
        "Take 0.5 mL (0.5 mg) by mouth in the morning for 7 days, then 1 mL (1 mg) in the "
        "morning for 21 days.")


def test_second_step_continues_into_the_next_fill(reg):
    # 0.5 mg x 7 d then 1 mg x 60 d: the second step runs past fill 1 (35 days), so its
    # duration is not stated on fill 1's label (the next fill continues it).
    s = S.build(START, steps="0.5 mg x 7 d, 1 mg x 60 d")
    fills = _fills(reg, "ldn-oral-liquid", None, s, "refrigerated")
    assert F.directions(fills[0], "oral-liquid", "bedtime") == (
        "Take 0.5 mL (0.5 mg) by mouth at bedtime for 7 days, then 1 mL (1 mg) at bedtime.")
    assert F.directions(fills[1], "oral-liquid", "bedtime") == (
        "Take 1 mL (1 mg) by mouth at bedtime for 32 days.")


def test_capsule_kit_one_fill_per_strength(reg):
    # capsule kit 1.5, 3 and 4.5 mg: 14 + 14 + 28 days = 56 days, all inside the capsules'
    # 180-day BUD (Cote 360-day study, capped by USP <795>): one fill, capsules per strength.
    s = S.build(START, steps="1.5 mg x 14 d, 3 mg x 14 d, 4.5 mg x 28 d")
    (fill,) = _fills(reg, "ldn-capsules", None, s, "room")
    assert _summary([fill]) == [(1, "2026-12-01", "2027-01-25", [
        ("1.5 mg", "14 capsules", "14 capsules"), ("3 mg", "14 capsules", "14 capsules"),
        ("4.5 mg", "28 capsules", "28 capsules")])]
    assert fill.bud == date(2027, 5, 29)
    assert [F.directions(fill, "capsule", "bedtime", strength=mg(x))
            for x in ("1.5 mg", "3 mg", "4.5 mg")] == [
        "Take 1 capsule (1.5 mg) by mouth at bedtime for 14 days, 01 DEC 2026 to 14 DEC 2026. "
        "Follow the dose chart.",
        "Take 1 capsule (3 mg) by mouth at bedtime for 14 days, 15 DEC 2026 to 28 DEC 2026. "
        "Follow the dose chart.",
        "Take 1 capsule (4.5 mg) by mouth at bedtime for 28 days, 29 DEC 2026 to 25 JAN 2027. "
        "Follow the dose chart."]


def test_capsule_kit_past_180_days_splits(reg):
    # 1.5 mg x 30 d then 4.5 mg x 200 d = 230 days: fill 1 days 1-180 (01 DEC - 29 MAY),
    # 30 x 1.5 mg and 150 x 4.5 mg; fill 2 days 181-230: 50 x 4.5 mg.
    s = S.build(START, steps="1.5 mg x 30 d, 4.5 mg x 200 d")
    fills = _fills(reg, "ldn-capsules", None, s, "room")
    assert _summary(fills) == [
        (1, "2026-12-01", "2027-05-29", [("1.5 mg", "30 capsules", "30 capsules"),
                                         ("4.5 mg", "150 capsules", "150 capsules")]),
        (2, "2027-05-30", "2027-07-18", [("4.5 mg", "50 capsules", "50 capsules")])]


def test_drops_at_half_a_mg_per_drop(reg):
    # 10 mg/mL at 20 drops/mL: 0.5 mg a drop. Non-preserved aqueous: 14-day BUD.
    # 0.5 mg x 7 d (1 drop), 1 mg x 7 d (2 drops), 1.5 mg x 14 d (3 drops): 28 days.
    # Fill 1 days 1-14: 7 x 1 + 7 x 2 = 21 drops = 1.05 mL + 1 mL -> 3 mL.
    # Fill 2 days 15-28: 14 x 3 = 42 drops = 2.1 mL + 1 mL -> 4 mL.
    s = S.build(START, steps="0.5 mg x 7 d, 1 mg x 7 d, 1.5 mg x 14 d")
    fills = _fills(reg, "ldn-sublingual-drops", "10 mg/mL", s, "refrigerated")
    assert _summary(fills) == [
        (1, "2026-12-01", "2026-12-14", [("10 mg/mL", "1.05 mL", "3 mL")]),
        (2, "2026-12-15", "2026-12-28", [("10 mg/mL", "2.1 mL", "4 mL")])]
    assert [F.directions(f, "sublingual-drops", "bedtime") for f in fills] == [
        "Place 1 drop (0.5 mg) under the tongue at bedtime for 7 days, then 2 drops (1 mg) at "
        "bedtime.",
        "Place 3 drops (1.5 mg) under the tongue at bedtime for 14 days."]


def test_cream_clicks_and_its_28_days(reg):
    # 0.5 mg/g cream, 1 g/mL, 0.25 mL a click: 0.125 mg a click. The guide's 28 days bind.
    # 0.5 mg x 14 d (4 clicks), 1 mg x 28 d (8 clicks) = 42 days.
    # Fill 1 days 1-28: 14 x 4 + 14 x 8 = 168 clicks = 42 mL = 42 g + 3 g = 45 g.
    # Fill 2 days 29-42: 14 x 8 = 112 clicks = 28 g + 3 g = 31 g.
    s = S.build(START, steps="0.5 mg x 14 d, 1 mg x 28 d")
    fills = _fills(reg, "ldn-cream", None, s, "room")
    assert _summary(fills) == [
        (1, "2026-12-01", "2026-12-28", [("0.5 mg/g", "42 g", "45 g")]),
        (2, "2026-12-29", "2027-01-11", [("0.5 mg/g", "28 g", "31 g")])]
    assert F.directions(fills[1], "cream", "bedtime") == (
        "Apply 8 clicks (1 mg) to the skin at bedtime for 14 days.")


def test_an_unmeasurable_dose_refuses_the_whole_plan(reg):
    s = S.build(START, steps="0.5 mg x 7 d, 0.75 mg x 7 d")
    with pytest.raises(RefusedError, match="dose 0.75 mg is not a whole number of drops"):
        _fills(reg, "ldn-sublingual-drops", "10 mg/mL", s, "refrigerated")


def test_a_leap_day_inside_a_fill():
    s = S.build(date(2028, 2, 27), steps="1 mg x 4 d")
    assert [d.on.isoformat() for d in s.days()] == ["2028-02-27", "2028-02-28", "2028-02-29",
                                                   "2028-03-01"]
