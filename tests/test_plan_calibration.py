"""Capsule fill (issue 11, part 6): the filler density the estimate uses (Avicel PH-102 at the
low end of its maker's loose bulk density), the checks a measured capsule calibration must
pass, plans that use a recorded calibration and say which, and the calibration records
(append-only, audited, corrections linked to the latest of the same filler and size)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from store_backends import commit

from compounding import units as u
from compounding.errors import InputError, NotFoundError, RefusedError
from compounding.formulas import Registry
from compounding.plan import Order, make_plan, render_plan_text
from compounding.plan.calibration import CapsuleCalibration, check_calibration
from compounding.settings import Settings
from compounding.store import Store, calibrations, core
from signoff_support import add_users

ROOT = Path(__file__).resolve().parent.parent
REG = Registry.load(ROOT / "formulas")
CAT = REG.catalogue
MCC = "microcrystalline-cellulose"
NOW = datetime(2026, 11, 30, 23, 40, tzinfo=timezone.utc)


def plan(cals=None, **text):
    f = REG.get("ldn-capsules")
    return make_plan(f, CAT, Settings(), Order.from_text(f, **text), calibrations=cals)


def cal(size, weight, filler=MCC, id=7, **kw):
    return {(filler, size): CapsuleCalibration(id=id, filler=filler, capsule_size=size,
                                               fill_weight=u.parse(weight, u.MASS),
                                               recorded_by="ana",
                                               recorded_at="2026-11-30T23:40:00.000000Z",
                                               **kw)}


def test_mcc_density_is_the_low_end_of_the_makers_loose_bulk_density():
    # IFF product specification, Avicel PH-102: loose bulk density 0.28-0.33 g/mL
    mcc = CAT.ingredients[MCC]
    assert mcc.density == u.q("0.28", "g/mL")
    assert "0.28-0.33 g/mL" in mcc.density_source and "IFF" in mcc.density_source


@pytest.mark.parametrize("filler,size,weight,want", [
    # 151.4 mg in a #1 body (0.50 mL) = 0.3028 g/mL
    (MCC, "1", "151.4 mg", ("1", "151.4", "0.3028")),
    (MCC, "#1", "0.1514 g", ("1", "151.4", "0.3028")),
    (MCC, "size 3", "90 mg", ("3", "90", "0.3")),
    ("lactose-monohydrate", "4", "126 mg", ("4", "126", "0.6")),
    # bounds: #1 takes 0.1 x 500 = 50 mg to 1.6 x 500 = 800 mg
    (MCC, "1", "50 mg", ("1", "50", "0.1")),
    (MCC, "1", "800 mg", ("1", "800", "1.6")),
    (MCC, "1", "312 g", "--fill-weight: 312 g in a size 1 capsule body (0.5 mL) would be 624 "
     "g/mL; a powder fill is 0.1 to 1.6 g/mL, so size 1 takes 50 mg to 800 mg a capsule: "
     "check the unit and the figure"),
    (MCC, "1", "312 mcg", "--fill-weight: 312 mcg in a size 1 capsule body (0.5 mL) would be "
     "0.000624 g/mL; a powder fill is 0.1 to 1.6 g/mL, so size 1 takes 50 mg to 800 mg a "
     "capsule: check the unit and the figure"),
    (MCC, "1", "49.999 mg", "--fill-weight: 49.999 mg in a size 1 capsule body (0.5 mL) would "
     "be 0.1 g/mL; a powder fill is 0.1 to 1.6 g/mL, so size 1 takes 50 mg to 800 mg a "
     "capsule: check the unit and the figure"),
    (MCC, "1", "151.4567 mg", "--fill-weight: 151.4567 mg is finer than 0.001 mg; give the "
     "mean to at most 3 decimal places of a mg"),
    (MCC, "6", "150 mg", "--size: '6' is not a capsule size; sizes: 000, 00, 0, 1, 2, 3, 4, 5"),
    (MCC, "\u0661", "150 mg", "--size: '\u0661' is not a capsule size; sizes: 000, 00, 0, 1, "
     "2, 3, 4, 5"),
    ("calcium-carbonate", "1", "150 mg", "--filler: calcium-carbonate (Calcium carbonate) must "
     "not fill capsules: the LDN compounding literature advises against calcium carbonate as "
     "an LDN filler; fillers: lactose-monohydrate, microcrystalline-cellulose, sucrose"),
    ("glycerol", "1", "150 mg", "--filler: 'glycerol' is not a capsule filler in the "
     "catalogue; fillers: lactose-monohydrate, microcrystalline-cellulose, sucrose"),
    ("no-such", "1", "150 mg", "--filler: 'no-such' is not a capsule filler in the catalogue; "
     "fillers: lactose-monohydrate, microcrystalline-cellulose, sucrose"),
])
def test_check_calibration(filler, size, weight, want):
    qty = u.parse(weight, u.MASS)
    if isinstance(want, str):
        with pytest.raises(InputError) as e:
            check_calibration(CAT, filler, size, qty)
        assert str(e.value) == want
    else:
        got_size, got_mg, density = check_calibration(CAT, filler, size, qty)
        assert (got_size, u.plain(got_mg.value), u.plain(density)) == want


@pytest.mark.parametrize("text", ["NaN mg", "1e3 mg", "inf mg", "\u0661\u0665\u0661 mg",
                                  "151,4 mg", "-151 mg", "151.4", "151.4 mL", "0 mg"])
def test_fill_weight_text_that_is_not_a_plain_mass_is_refused(text):
    with pytest.raises(InputError):
        check_calibration(CAT, MCC, "1", u.parse(text, u.MASS, field="--fill-weight"))


def test_plan_uses_a_recorded_calibration_and_says_which():
    # 90 + 2 = 92 capsules of 1.5 mg; MCC #1 calibrated at 151.4 mg, rounded DOWN to the 1 mg
    # readability = 151 mg (never more powder than was measured to fit).
    # blend = 151 x 92 = 13,892 mg; filler = 13,892 - 138 = 13,754 mg.
    p = plan(cal("1", "151.4 mg", capsules_weighed=10), quantity="90", strength="1.5 mg")
    c = p.capsule
    assert (c["size"], c["fill_weight"], c["total_blend"], c["filler_amount"]) == (
        "1", u.q(151, "mg"), u.q(13892, "mg"), u.q(13754, "mg"))
    assert c["fill_weight_basis"] == "calibration" and c["calibration"]["id"] == 7
    assert c["fill_weight_note"] == (
        "Fill weight from capsule calibration 7: Microcrystalline cellulose (Avicel PH-102) in "
        "size #1, 151.4 mg a capsule (mean of 10 capsules), measured by ana, recorded "
        "2026-11-30T23:40:00Z")
    assert not any("estimate" in w for w in p.warnings)
    out = render_plan_text(p)
    assert ("  Size #1 (chosen by fill weight): body 0.5 mL; Microcrystalline cellulose "
            "(Avicel PH-102) (calibrated fill weight)") in out
    assert "  " + c["fill_weight_note"] in out and "ESTIMATE" not in out


def test_a_calibrated_smaller_size_that_holds_enough_is_chosen():
    # estimate: #2 = 0.37 x 280 = 104 mg < 120 mg, so #1 (140 mg). Calibrated #2 at 125.6 mg
    # -> 125 mg >= 120 mg: size 2. blend 125 x 92 = 11,500 mg; filler 11,500 - 138 = 11,362.
    p = plan(cal("2", "125.6 mg"), quantity="90", strength="1.5 mg")
    assert (p.capsule["size"], p.capsule["fill_weight"], p.capsule["filler_amount"]) == (
        "2", u.q(125, "mg"), u.q(11362, "mg"))
    assert p.capsule["fill_weight_basis"] == "calibration"


@pytest.mark.parametrize("cals", [
    cal("1", "151.4 mg", filler="lactose-monohydrate"),  # another filler
    cal("0", "200 mg"),                                    # another size
    {},
])
def test_without_a_calibration_of_the_filler_and_size_the_fill_is_an_estimate(cals):
    p = plan(cals, quantity="90", strength="1.5 mg")
    c = p.capsule
    assert (c["size"], c["fill_weight"], c["fill_weight_basis"], c["calibration"]) == (
        "1", u.q(140, "mg"), "estimate", None)
    assert c["fill_weight_note"] in p.warnings
    assert c["fill_weight_note"].startswith(
        "Fill weight is an estimate from an assumed density of 0.28 g/mL for Microcrystalline "
        "cellulose (Avicel PH-102) (the low end of the maker's loose bulk density for Avicel "
        "PH-102, 0.28-0.33 g/mL (IFF product specification)")
    assert "Measured fill weight (10 capsules / 10): ____________ mg" in render_plan_text(p)


def test_the_estimate_always_fits_the_capsule_body():
    # the loosest MCC lot (0.28 g/mL) fills every planned capsule: fill <= body x 0.28 + half
    # the readability (the rounding)
    for size, ml in (("0", "0.68"), ("1", "0.5"), ("2", "0.37"), ("3", "0.3"), ("4", "0.21")):
        p = plan(quantity="90", strength="1.5 mg", capsule_size=size)
        assert p.capsule["fill_weight"].value <= D(ml) * 280 + D("0.5")


# ---------------------------------------------------------------- the records

@pytest.fixture
def store(store_path, monkeypatch):
    monkeypatch.setattr(core, "_system_clock", lambda: NOW)
    s = Store.open(store_path)  # SQLite, then PostgreSQL (issue 20)
    add_users(s, "ana", "ben")
    yield s
    s.close()


def rec(store, size="1", weight="151.4 mg", by="ana", **kw):
    return calibrations.record(store, CAT, filler=MCC, capsule_size=size,
                               fill_weight=u.parse(weight, u.MASS), by=by, **kw)


def test_record_history_current_and_correction(store):
    a = rec(store, capsules_weighed=10, filler_lot="MCC-118")
    assert (a["id"], a["fill_weight_mg"], a["capsule_size"], a["current"],
            a["implied_density"]) == (1, "151.4", "1", True, D("0.3028"))
    b = rec(store, size="#1", weight="0.1533 g", by="ben")  # a new lot: a new measurement
    assert b["fill_weight_mg"] == "153.3" and b["corrects"] is None
    c = rec(store, weight="135.3 mg", corrects=2, reason="typed 153.3 for 135.3")
    assert (c["corrects"], c["reason"]) == (2, "typed 153.3 for 135.3")
    h = calibrations.history(store)
    assert [(r["id"], r["current"], r["corrected_by"]) for r in h] == [
        (1, False, None), (2, False, 3), (3, True, None)]
    cur = calibrations.current(store)
    assert list(cur) == [(MCC, "1")] and cur[(MCC, "1")].fill_weight == u.q("135.3", "mg")
    assert store.verify() == []
    actions = store.column("SELECT action FROM audit_log WHERE action LIKE 'capsule%'")
    assert actions == ["capsule-calibration.new"] * 2 + ["capsule-calibration.correct"]


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(corrects=1), InputError, "--reason: a correction needs a reason"),
    (dict(corrects=1, reason="  "), InputError, "--reason: a correction needs a reason"),
    (dict(reason="why"), InputError,
     "--reason: only with --corrects (a new measurement needs no reason)"),
    (dict(corrects=99, reason="x"), NotFoundError, "--corrects: no capsule calibration 99 on "
     "record"),
    (dict(size="2", corrects=1, reason="x"), RefusedError,
     "--corrects: calibration 1 is microcrystalline-cellulose size 1, not "
     "microcrystalline-cellulose size 2"),
    (dict(capsules_weighed=0), InputError, "--capsules: 0 must be 1 to 1000"),
    (dict(filler_lot="MCC\u200b118"), InputError, "--filler-lot: character U+200B (ZERO "
     "WIDTH SPACE) at position 4 is an invisible formatting character (zero-width or "
     "direction mark)"),
    (dict(filler_lot="L" * 300), InputError, "--filler-lot: 300 characters; at most 40"),
    (dict(corrects=1, reason="bad\x1bline"), InputError, "--reason: character U+001B "
     "(ESCAPE) at position 4 is a control character or line break"),
    (dict(by="nobody"), Exception, None),
])
def test_refusals_write_nothing(store, kw, exc, msg):
    rec(store)
    before = store.scalar("SELECT COUNT(*) FROM audit_log")
    with pytest.raises(exc) as e:
        rec(store, **kw)
    if msg is not None:
        assert str(e.value) == msg
    assert store.scalar("SELECT COUNT(*) FROM capsule_calibrations") == 1
    assert store.scalar("SELECT COUNT(*) FROM audit_log") == before


def test_only_the_latest_of_a_filler_and_size_can_be_corrected(store):
    rec(store)
    rec(store, weight="150 mg", by="ben")
    with pytest.raises(RefusedError) as e:
        rec(store, corrects=1, reason="typo")
    assert str(e.value).startswith("--corrects: calibration 1 is no longer the latest of "
                                   "microcrystalline-cellulose size 1: calibration 2 was "
                                   "recorded after it by ben at ")
    # the schema refuses it too, whoever writes
    with pytest.raises(store.backend.IntegrityError, match="must correct the latest calibration"):
        store.db.execute(
            "INSERT INTO capsule_calibrations (filler, capsule_size, fill_weight_mg, corrects,"
            " reason, recorded_by, recorded_at) VALUES (?, '1', '140', 1, 'x', 'ana', "
            "'2026-11-30T23:40:00Z')", [MCC])


@pytest.mark.parametrize("sql", [
    "UPDATE capsule_calibrations SET fill_weight_mg = '999' WHERE id = 1",
    "DELETE FROM capsule_calibrations WHERE id = 1",
    "INSERT INTO capsule_calibrations (filler, capsule_size, fill_weight_mg, recorded_by, "
    "recorded_at) VALUES ('microcrystalline-cellulose', '6', '140', 'ana', "
    "'2026-11-30T23:40:00Z')",
    "INSERT INTO capsule_calibrations (filler, capsule_size, fill_weight_mg, recorded_by, "
    "recorded_at) VALUES ('microcrystalline-cellulose', '1', '1e3', 'ana', "
    "'2026-11-30T23:40:00Z')",
])
def test_the_schema_keeps_records_as_written(store, sql):
    rec(store)
    with pytest.raises(store.backend.IntegrityError):
        store.db.execute(sql)


def test_a_row_written_behind_the_stores_back_is_reported(store):
    rec(store)
    store.db.execute(
        "INSERT INTO capsule_calibrations (filler, capsule_size, fill_weight_mg, recorded_by, "
        "recorded_at) VALUES (?, '1', '400', 'ana', '2026-11-30T23:40:00Z')", [MCC])
    commit(store)
    problems = store.verify()
    assert problems and any("capsule_calibrations" in p for p in problems)
