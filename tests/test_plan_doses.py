"""Doses the patient measures (issue 11, section 5): whole drops within half the strength
tolerance, a drop limit derived from a maximum dose (below the guide's 12 mg ceiling), and
1000-fold look-alike strengths that need --confirm-strength."""

from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.errors import PlanError
from compounding.formulas import Formula, Registry
from compounding.plan import Order, make_plan
from compounding.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REG = Registry.load(ROOT / "formulas")


def plan(fid, formula=None, **text):
    f = formula or REG.get(fid)
    return make_plan(f, REG.catalogue, Settings(), Order.from_text(f, **text))


@pytest.mark.parametrize("strength,limit,largest,warned", [
    # 0.15 mg a drop: 0.5 mg = 3.33 drops -> 3 drops = 0.45 mg (-10%), over ±5%: warned;
    # 1 mg = 6.67 -> 7 drops = 1.05 mg (+5%), within; limit min(30, 4.5 / 0.15 = 30) = 30
    ("3 mg/mL", 30, "4.5", ["A 0.5 mg dose is 3.333 drops: 3 drops give 0.45 mg (-10%), more "
                           "than ±5% (half the strength tolerance: the dropper itself may be "
                           "15% off, USP <1101>)"]),
    # 0.5 mg a drop (the UK formulation): limit 4.5 / 0.5 = 9 drops = 4.5 mg, not 30 = 15 mg
    ("10 mg/mL", 9, "4.5", []),
    # 0.075 mg a drop: 3 mg = 40 drops and 4.5 mg = 60 drops are past the 30-drop count limit
    ("1.5 mg/mL", 30, "2.25", ["A 3 mg dose needs 40 drops, outside 1 to 30 drops per dose "
                               "(at most 4.5 mg a dose: drops.max_dose)",
                               "A 4.5 mg dose needs 60 drops, outside 1 to 30 drops per dose "
                               "(at most 4.5 mg a dose: drops.max_dose)"]),
    # 0.35 mg a drop: 4.5 / 0.35 = 12.86 -> 12 drops = 4.2 mg; 4.5 mg = 12.86 -> 13 drops is
    # past the limit; 0.5 mg = 1.43 -> 1 drop = 0.35 mg (-30%); 1 mg = 2.86 -> 3 = 1.05 (+5%);
    # 3 mg = 8.57 -> 9 drops = 3.15 mg (+5%, on the edge: within)
    ("7 mg/mL", 12, "4.2", ["A 0.5 mg dose is 1.429 drops: 1 drops give 0.35 mg (-30%), more "
                            "than ±5% (half the strength tolerance: the dropper itself may be "
                            "15% off, USP <1101>)",
                            "A 1.5 mg dose is 4.286 drops: 4 drops give 1.4 mg (-6.667%), more "
                            "than ±5% (half the strength tolerance: the dropper itself may be "
                            "15% off, USP <1101>)",
                            "A 4.5 mg dose needs 13 drops, outside 1 to 12 drops per dose (at "
                            "most 4.5 mg a dose: drops.max_dose)"]),
])
def test_drop_doses(strength, limit, largest, warned):
    p = plan("ldn-sublingual-drops", quantity="30 mL", strength=strength)
    assert p.drops["drop_limit"] == limit
    assert p.drops["largest_dose"].to("mg").value == D(largest)
    assert p.drops["largest_dose"].to("mg").value < 12  # the guide's ceiling
    assert [w for w in p.warnings if w.startswith("A ")] == warned


def test_max_dose_must_stay_below_the_ceiling():
    data = REG.get("ldn-sublingual-drops").spec_json()
    data["drops"]["max_dose"] = "12 mg"
    with pytest.raises(Exception, match="drops.max_dose: must be below the 12 mg"):
        Formula.model_validate(data, context={"catalogue": REG.catalogue})
    data["drops"]["max_dose"] = "3 mg"
    f = Formula.model_validate(data, context={"catalogue": REG.catalogue})
    p = plan(None, formula=f, quantity="30 mL", strength="10 mg/mL")
    assert (p.drops["drop_limit"], str(p.drops["largest_dose"])) == (6, "3 mg")


@pytest.mark.parametrize("fid,strength,message", [
    ("ldn-capsules", "4.5 mcg", "--strength: 4.5 mcg looks like the usual 4.5 mg (1000-fold: "
                                "4.5 mcg is 1/1000 of 4.5 mg); if 4.5 mcg is meant, give "
                                "--confirm-strength"),
    ("ldn-capsules", "1.5 mcg", "--strength: 1.5 mcg looks like the usual 1.5 mg"),
    ("ldn-capsules", "0.5 mcg", "--strength: 0.5 mcg looks like the usual 0.5 mg"),
    ("ldn-capsules", "3 mcg", "--strength: 3 mcg looks like the usual 3 mg"),
    ("ldn-capsules", "4500 mcg", None),   # = 4.5 mg: not a look-alike
    ("ldn-capsules", "0.1 mcg", None),    # the guide's ultra-low dose
    ("ldn-capsules", "2 mcg", None),
])
def test_look_alike_strengths(fid, strength, message):
    if message is None:
        plan(fid, quantity="30", strength=strength)
        return
    with pytest.raises(PlanError) as exc:
        plan(fid, quantity="30", strength=strength)
    assert str(exc.value).startswith(message)
    p = make_plan(REG.get(fid), REG.catalogue, Settings(),
                  Order.from_text(REG.get(fid), quantity="30", strength=strength,
                                  confirm_strength=True))
    assert any(w.startswith(f"Strength {strength} confirmed (--confirm-strength)")
               for w in p.warnings)


def test_cli_confirm_strength():
    r = CliRunner().invoke(cli, ["plan", "ldn-capsules", "-q", "30", "-s", "4.5 mcg"])
    assert r.exit_code == 2
    assert r.output.splitlines() == [
        "Error: --strength: 4.5 mcg looks like the usual 4.5 mg (1000-fold: 4.5 mcg is 1/1000 "
        "of 4.5 mg); if 4.5 mcg is meant, give --confirm-strength"]
    r = CliRunner().invoke(cli, ["plan", "ldn-capsules", "-q", "30", "-s", "4.5 mcg",
                                 "--confirm-strength"])
    assert r.exit_code == 0, r.output
    assert ("  ! Strength 4.5 mcg confirmed (--confirm-strength): it reads like the usual "
            "4.5 mg, 1000 times more") in r.output.splitlines()
