"""Cream for patients who react to excipients (issue 11, part 7): an anhydrous,
preservative-free base free of parabens and cetostearyl alcohol, chosen per batch (`--base`,
or `--avoid parabens` / `--avoid cetostearyl-alcohol` picks it); its USP <795> category is
nonaqueous (180 days) while the guide's 28 days still binds; the plan names the base and
what it contains; mg per click follows the base's density."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from compounding import units as u
from compounding.bud import compute_bud
from compounding.errors import BudError, PlanError
from compounding.formulas import Registry
from compounding.plan import Order, make_plan, render_plan_text
from compounding.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REG = Registry.load(ROOT / "formulas")
CREAM = REG.get("ldn-cream")
ANHYDROUS, PRESERVED = "cream-base-anhydrous", "cream-base-preserved"


def plan(fid="ldn-cream", **text):
    f = REG.get(fid)
    return make_plan(f, REG.catalogue, Settings(), Order.from_text(f, **text))


def test_the_anhydrous_base_carries_neither_parabens_nor_cetostearyl_alcohol():
    ing = REG.catalogue.ingredients[ANHYDROUS]
    assert ing.kind == "base" and ing.tags == ()
    assert {"parabens", "cetostearyl-alcohol"} <= set(REG.catalogue.ingredients[PRESERVED].tags)
    assert CREAM.cream.ids() == [PRESERVED, ANHYDROUS]
    assert CREAM.cream.base(ANHYDROUS).category == "nonaqueous-other"


@pytest.mark.parametrize("text,base,why", [
    (dict(), PRESERVED, None),
    (dict(avoid=["parabens"]), ANHYDROUS,
     "Base cream-base-anhydrous (Anhydrous base, preservative-free (white soft paraffin and "
     "liquid paraffin)) chosen for --avoid parabens: the default base cream-base-preserved "
     "contains parabens"),
    (dict(avoid=["cetostearyl-alcohol", "lactose"]), ANHYDROUS,
     "Base cream-base-anhydrous (Anhydrous base, preservative-free (white soft paraffin and "
     "liquid paraffin)) chosen for --avoid cetostearyl-alcohol: the default base "
     "cream-base-preserved contains cetostearyl-alcohol"),
    (dict(base=ANHYDROUS), ANHYDROUS, None),
    (dict(base=ANHYDROUS, avoid=["parabens"]), ANHYDROUS, None),
])
def test_the_base_is_chosen_per_batch(text, base, why):
    p = plan(quantity="100 g", **text)
    assert p.cream["base"] == base
    assert [w.ingredient for w in p.weighings if w.ingredient not in (None, "naltrexone-hcl")] \
        and all(w.ingredient == base for w in p.weighings
                if w.ingredient not in (None, "naltrexone-hcl"))
    assert [i.id for i in p.ingredients] == ["naltrexone-hcl", base]
    assert (why in p.warnings) if why else not any(w.startswith("Base ") for w in p.warnings)
    parabens_warned = any("carries parabens" in w for w in p.warnings)
    assert parabens_warned == (base == PRESERVED)


def test_the_plan_names_the_base_and_what_it_contains():
    p = plan(quantity="100 g", avoid=["parabens"])
    c = p.cream
    assert (c["base_name"], c["base_category"], c["base_water_activity"], c["base_tags"]) == (
        "Anhydrous base, preservative-free (white soft paraffin and liquid paraffin)",
        "nonaqueous-other", "aw < 0.6", [])
    assert ("  Base: Anhydrous base, preservative-free (white soft paraffin and liquid "
            "paraffin) (nonaqueous-other); Contains white soft paraffin and liquid paraffin "
            "only: no water, no preservative (no parabens), no cetostearyl alcohol, dye-free, "
            "fragrance-free (check the supplier's certificate).") in render_plan_text(p)


def test_mg_per_click_follows_the_bases_density():
    # 0.5 mg/g x 1.00 g/mL x 0.25 mL = 0.125 mg a click (preserved base);
    # 0.5 mg/g x 0.87 g/mL x 0.25 mL = 0.10875 mg a click (anhydrous base)
    assert plan(quantity="100 g").device["mg_per_click"] == u.q("0.125", "mg")
    assert plan(quantity="100 g", base=ANHYDROUS).device["mg_per_click"] == u.q("0.10875", "mg")
    assert plan(quantity="100 g", base=ANHYDROUS).cream["density"] == u.q("0.87", "g/mL")


@pytest.mark.parametrize("fid,text,msg", [
    ("ldn-cream", dict(quantity="100 g", base=PRESERVED, avoid=["parabens"]),
     "--avoid parabens: cream-base-preserved (Preserved oil-in-water cream base) contains "
     "parabens; use --base cream-base-anhydrous"),
    ("ldn-cream", dict(quantity="100 g", base="purified-water"),
     "--base: 'purified-water' is not a base of ldn-cream; allowed: cream-base-preserved, "
     "cream-base-anhydrous"),
    ("ldn-cream", dict(quantity="100 g", base="cream-base-\u200banhydrous"),
     # repr shows the invisible character
     "--base: 'cream-base-\\u200banhydrous' is not a base of ldn-cream; allowed: "
     "cream-base-preserved, cream-base-anhydrous"),
    ("ldn-capsules", dict(quantity="30", strength="1 mg", base=ANHYDROUS),
     "--base is only for cream formulas, not ldn-capsules (capsule)"),
    # a volume was converted with the formula's 1 g/mL; the anhydrous base is 0.87 g/mL
    ("ldn-cream", dict(quantity="100 mL", avoid=["parabens"]),
     "--quantity/--strength: give the batch as a mass (g) and the strength per g with base "
     "cream-base-anhydrous: its density (0.87 g/mL) is not the formula's (1 g/mL) the volume "
     "was converted with"),
    ("ldn-cream", dict(quantity="100 g", strength="0.5 mg/mL", base=ANHYDROUS),
     "--quantity/--strength: give the batch as a mass (g) and the strength per g with base "
     "cream-base-anhydrous: its density (0.87 g/mL) is not the formula's (1 g/mL) the volume "
     "was converted with"),
])
def test_refusals(fid, text, msg):
    with pytest.raises(PlanError) as e:
        plan(fid, **text)
    assert str(e.value) == msg


@pytest.mark.parametrize("base,category_days,category_end", [
    # USP <795> (2023): aqueous preserved 35 days; other nonaqueous 180 days; day 1 = the day
    # compounded (25 NOV 2026): 35 days end 29 DEC 2026, 180 days 23 MAY 2027
    (None, 35, dt.date(2026, 12, 29)),
    (PRESERVED, 35, dt.date(2026, 12, 29)),
    (ANHYDROUS, 180, dt.date(2027, 5, 23)),
])
def test_bud_category_follows_the_base_and_the_guides_28_days_binds(base, category_days,
                                                                    category_end):
    r = compute_bud(CREAM, dt.date(2026, 11, 25), "room", base=base)
    # the guide: "lasts for 28 days only": 25 NOV + 27 days = 22 DEC 2026
    assert r.bud == dt.date(2026, 12, 22)
    default = next(c for c in r.candidates if c.kind == "category-default")
    assert default.date == category_end and default.days == category_days


def test_bud_refuses_a_base_the_formula_does_not_list():
    with pytest.raises(BudError) as e:
        compute_bud(CREAM, dt.date(2026, 11, 25), "room", base="purified-water")
    assert str(e.value) == ("--base: 'purified-water' is not a base of ldn-cream; allowed: "
                            "cream-base-preserved, cream-base-anhydrous")


# ---------------------------------------------------------------- a batch in the base

def test_batch_create_avoid_parabens_records_the_base_its_bud_and_label(tmp_path, monkeypatch):
    import json
    from datetime import datetime, timezone

    from click.testing import CliRunner

    from compounding.cli import cli
    from compounding.labeling.content import from_batch
    from compounding.settings import Settings as S
    from compounding.store import Store, core
    from signoff_support import ENV, setup_db

    for var in ("COMPOUNDING_SETTINGS", "COMPOUNDING_FORMULAS", "COMPOUNDING_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(core, "_system_clock",
                        lambda: datetime(2026, 11, 25, 12, tzinfo=timezone.utc))
    db = tmp_path / "c.db"
    setup_db(db, "ana")

    def run(*args):
        return CliRunner().invoke(cli, ["--formulas", str(ROOT / "formulas"), *args, "--db",
                                        str(db)], env=ENV)
    for ing, lot, qty in (("naltrexone-hcl", "NX1", "10 g"), (ANHYDROUS, "AB1", "1000 g"),
                          (PRESERVED, "PB1", "1000 g")):
        assert run("inventory", "receive", ing, "--lot", lot, "--expires", "2030-01-31",
                   "--quantity", qty, "--by", "ana").exit_code == 0
    r = run("batch", "create", "ldn-cream", "--quantity", "100 g", "--avoid", "parabens",
            "--by", "ana", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output)
    assert rec["order"]["base"] == ANHYDROUS and rec["order"]["avoid"] == ["parabens"]
    assert sorted(c["ingredient"] for c in rec["components"]) == [ANHYDROUS, "naltrexone-hcl"]
    assert rec["bud"] == "2026-12-22"  # the guide's 28 days, not the 180 of the category
    s = Store.open(db)
    try:
        label = from_batch(s.get_batch(rec["lot_id"]), S())
    finally:
        s.close()
    # 0.5 mg/g x 0.87 g/mL x 0.25 mL = 0.10875 -> 0.1088 mg a click; no paraben statement
    assert "0.1088\u00a0mg per Topi-CLICK click; 4 clicks = 1 mL" in label.auxiliary
    assert label.excipients == ""
    # the worksheet names the base used and what it contains
    import io

    import pdfplumber

    from compounding.labeling.worksheet import render_worksheet
    s = Store.open(db)
    try:
        pdf = render_worksheet(s.get_batch(rec["lot_id"]), S())
    finally:
        s.close()
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        text = " ".join(" ".join(p.extract_text().split()) for p in doc.pages)
    assert ("Base used: Anhydrous base, preservative-free (white soft paraffin and liquid "
            "paraffin) (nonaqueous-other); Contains white soft paraffin and liquid paraffin "
            "only") in text
    r = run("batch", "create", "ldn-cream", "--quantity", "100 g", "--base", PRESERVED,
            "--avoid", "parabens", "--by", "ana")
    assert (r.exit_code, r.output) == (2, "Error: --avoid parabens: cream-base-preserved "
                                          "(Preserved oil-in-water cream base) contains "
                                          "parabens; use --base cream-base-anhydrous\n")
