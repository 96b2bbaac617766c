"""The strength of a batch as made (issue 11, section 1): the drug delivered per unit from the
recorded weighings, carried through every dilution, against the labelled strength.

Hand-worked cases in the comments; a property test recomputes the chain independently (by
the position of the weighings, in exact fractions) for random weighings inside the ±5% step
tolerance.
"""

from decimal import Decimal as D
from fractions import Fraction as F
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from compounding import units as u
from compounding.errors import PlanError
from compounding.formulas import Active, Registry
from compounding.plan import Order, as_made_strength, make_plan
from compounding.plan.as_made import latest_recorded
from compounding.settings import Balance, Settings

ROOT = Path(__file__).resolve().parent.parent
REG = Registry.load(ROOT / "formulas")
CAT = REG.catalogue


#: The hand-worked chains below are the plans of a balance with no uncertainty budget (the
#: weighings of issue 11's example: 120 mg of drug, 1 in 10); the default budget sizes them up.
LOOSE = Settings(balance=Balance(uncertainty_budget="50%"))


def plan(fid, formula=None, settings=LOOSE, **text):
    f = formula or REG.get(fid)
    return make_plan(f, CAT, settings, Order.from_text(f, **text))


def scaled(p, devs):
    """Every step recorded at planned x (1 + dev%)."""
    return {w.step: u.q(w.amount.value * (1 + D(d) / 100), w.amount.unit)
            for w, d in zip(p.weighings, devs)}


BASE_FORMULA = REG.get("ldn-capsules").model_copy(update={
    "active": Active(ingredient="naltrexone-hcl", strength_basis="naltrexone-base")})

CASES = [
    # issue 11: 30 x 1.5 mg, 31 made; 120 mg drug + 1,080 mg MCC (1 in 10), take 465 mg,
    # filler 3,875 mg (31 x 140 mg - 465; MCC at 0.28 g/mL, size #1). As weighed: 125.796 mg
    # drug in 125.796 + 1,028.052 = 1,153.848 mg; the take 487.785 mg carries
    # 125.796 x 487.785 / 1,153.848 = 53.1798 mg; the blend is 487.785 + 3,686.2875
    # = 4,174.0725 mg, filled at 140 mg: 53.1798 x 140 / 4,174.0725 = 1.7837 mg per capsule
    # (+18.9%).
    ("issue example", dict(fid="ldn-capsules", quantity="30", strength="1.5 mg"),
     ["4.83", "-4.81", "4.9", "-4.87"], "1.78 mg per capsule, +18.9%; tolerance ±10%", False),
    # 90 x 1.5 mg direct: drug 138 mg recorded as 140 mg, filler 12,742 mg as planned;
    # 140 x 140 / 12,882 = 1.52150 mg (+1.4%).
    ("direct weighing", dict(fid="ldn-capsules", quantity="90", strength="1.5 mg"),
     [D(2) / D(138) * 100, "0"], "1.52 mg per capsule, +1.4%; tolerance ±10%", True),
    # the same, drug 3 mg over on 138: 141 x 140 / 12,883 = 1.53225 (+2.1%); filler 10% less:
    # 138 x 140 / (138 + 11,467.8) = 1.66468 mg (+11%): outside.
    ("filler short", dict(fid="ldn-capsules", quantity="90", strength="1.5 mg"),
     ["0", "-10"], "1.66 mg per capsule, +11%; tolerance ±10%", False),
    # 102 mL oral liquid: 121 mg dissolved to 5 mL, 4.3 mL taken, made up to 101 mL:
    # 121 x 4.3 / 5 = 104.06 mg in 101 mL = 1.0303 mg/mL (+3%).
    ("oral liquid", dict(fid="ldn-oral-liquid", quantity="100 mL"),
     [D(1) / D(120) * 100, "0", D("0.05") / D("4.25") * 100, "0", "0", "0", "0", "0",
      D(-1) / D(102) * 100], "1.03 mg/mL, +3%; tolerance ±10%", True),
    # 30 g cream (30.9 g made): 120 mg in 1,200 mg, take 155 mg = 15.5 mg in 30.9 g
    # = 0.50162 mg/g (+0.3%).
    ("cream", dict(fid="ldn-cream", quantity="30 g"), ["0", "0", "0", "0"],
     "0.502 mg/g, +0.3%; tolerance ±10%", True),
    # base-strength formula, 90 x 1.5 mg base: weigh 138 x 1.10680 = 152.738 -> 153 mg HCl,
    # as planned: 153 / 1.10680 = 138.2364 mg base in 153 + 12,727 = 12,880 mg blend,
    # x 140 / 12,880 = 1.50257 mg base (+0.2%).
    ("salt factor", dict(fid="ldn-capsules", formula=BASE_FORMULA, quantity="90",
                         strength="1.5 mg"), ["0", "0"], "1.5 mg per capsule, +0.2%; "
     "tolerance ±10%", True),
    # potency 98%: 138 / 0.98 = 140.816 -> 141 mg weighed = 138.18 mg HCl in 12,880 mg blend;
    # x 140 / 12,880 = 1.50196 mg (+0.1%).
    ("potency", dict(fid="ldn-capsules", quantity="90", strength="1.5 mg", potency="98%"),
     ["0", "0"], "1.5 mg per capsule, +0.1%; tolerance ±10%", True),
]


@pytest.mark.parametrize("name,order,devs,text,within", CASES, ids=[c[0] for c in CASES])
def test_as_made_strength(name, order, devs, text, within):
    p = plan(**order)
    res = as_made_strength(p, scaled(p, devs), D(10))
    assert res.text() == text
    assert res.within is within
    assert res.complete
    # the store keeps the plan as JSON: the same figure from it
    again = as_made_strength(p.as_json(), scaled(p, devs), D(10))
    assert again.as_json() == res.as_json()


def test_unweighed_steps_are_taken_as_planned():
    p = plan("ldn-capsules", quantity="30", strength="1.5 mg")
    res = as_made_strength(p, {1: u.q("125.796", "mg")}, D(10))
    assert res.unweighed_steps == (2, 3, 4) and not res.complete
    # 125.796 x 465 / (125.796 + 1,080) = 48.5114 mg in 4,340 mg -> x 140 / 4,340 = 1.56488
    assert res.text() == "1.56 mg per capsule, +4.3%; tolerance ±10%"
    assert "steps 2, 3, 4 not recorded yet" in res.notes[-1]


def test_latest_recorded_takes_the_reweigh():
    rows = [{"step": 1, "quantity": "121", "unit": "mg"},
            {"step": 2, "quantity": "1080", "unit": "mg"},
            {"step": 1, "quantity": "120", "unit": "mg"}]
    assert latest_recorded(rows) == {1: u.q(120, "mg"), 2: u.q(1080, "mg")}


@pytest.mark.parametrize("recorded,message", [
    ({1: u.q(5, "mL")}, "step 1: recorded 5 mL but the step is planned as 120 mg"),
    ({1: u.q(0, "mg")}, "step 1: recorded 0 mg must be greater than zero"),
    ({9: u.q(1, "mg")}, "recorded step 9 is not in the plan (steps 1 to 4)"),
    ({1: "1e3 mg"}, "step 1"),
    ({1: "NaN mg"}, "step 1"),
])
def test_bad_recorded_amounts(recorded, message):
    p = plan("ldn-capsules", quantity="30", strength="1.5 mg")
    with pytest.raises(Exception) as exc:
        as_made_strength(p, recorded, D(10))
    assert message in str(exc.value)


# ---------------------------------------------------------------- property

def independent(p, actual):
    """Recompute by position, in exact fractions: [drug, (diluent, take) x k, filler]."""
    w = [F(str(actual[s.step].to("mg").value)) for s in p.weighings]
    drug = w[0] * F(str(p.potency_percent)) / 100 / F(str(p.drug.salt_factor))
    into = w[0]
    for i in range(len(p.dilution_steps)):
        diluent, take = w[1 + 2 * i], w[2 + 2 * i]
        drug = drug * take / (into + diluent)
        into = take
    blend = into + w[-1]
    return drug * F(str(p.capsule["fill_weight"].to("mg").value)) / blend


PLANS = [plan("ldn-capsules", quantity=q, strength=s, settings=c) for q, s in
         [("30", "1.5 mg"), ("30", "0.1 mcg"), ("90", "1.5 mg"), ("45", "50 mcg"),
          ("100", "4.5 mg")] for c in (LOOSE, Settings())]


@hsettings(max_examples=150, deadline=None)
@given(st.sampled_from(PLANS), st.lists(st.integers(-5000, 5000), min_size=8, max_size=8))
def test_property_as_made_equals_independent_recomputation(p, per_mille):
    devs = [D(x) / 1000 for x in per_mille]  # -5% .. +5%, inside the step tolerance
    actual = scaled(p, devs)
    res = as_made_strength(p, actual, D(10))
    expected = independent(p, actual)
    assert abs(F(str(res.strength.value)) - expected) <= expected * F(1, 10 ** 20)
    label = F(str(p.strength.to("mg").value))
    dev = (expected - label) / label * 100
    assert res.within is (abs(dev) <= 10)
