"""Figures that mean one thing (issue 11, section 8): ``theoretical`` is the ingredient in its
own form for the ordered quantity, before potency and overage; a person never reads more
precision than the balance (or measure) can give."""

from decimal import Decimal as D
from pathlib import Path

import pytest

from compounding import units as u
from compounding.formulas import Active, Registry
from compounding.plan import Order, make_plan, render_plan_text
from compounding.settings import Settings

REG = Registry.load(Path(__file__).resolve().parent.parent / "formulas")
BASE = REG.get("ldn-capsules").model_copy(update={
    "active": Active(ingredient="naltrexone-hcl", strength_basis="naltrexone-base")})


def plan(formula, **text):
    return make_plan(formula, REG.catalogue, Settings(), Order.from_text(formula, **text))


@pytest.mark.parametrize("formula,order,drug,other", [
    # 100 x 4.5 mg of base = 450 mg base = 450 x 377.86 / 341.40 = 498.058 mg of the HCl,
    # whatever the potency (98%) or overage; filler 100 x 140 mg (size 1 at 0.28 g/mL)
    # - 498.058 = 13,501.942 mg
    (BASE, dict(quantity="100", strength="4.5 mg", potency="98"), "498.058", "13501.942"),
    # strength as the HCl: 100 x 4.5 mg = 450 mg; filler 14,000 - 450 = 13,550 mg
    (REG.get("ldn-capsules"), dict(quantity="100", strength="4.5 mg", potency="98"), "450",
     "13550"),
    # 100 mL of 1 mg/mL: 100 mg (the 2% overage and the 102 mL made are not theoretical)
    (REG.get("ldn-oral-liquid"), dict(quantity="100 mL", potency="98.5"), "100", None),
    # 100 g of 0.5 mg/g cream: 50 mg; base 100,000 - 50 = 99,950 mg
    (REG.get("ldn-cream"), dict(quantity="100 g"), "50", "99950"),
])
def test_theoretical_is_the_own_form_before_potency_and_overage(formula, order, drug, other):
    p = plan(formula, **order)
    assert p.ingredients[0].theoretical == u.q(D(drug), "mg")
    if other is not None:
        assert p.ingredients[1].theoretical == u.q(D(other), "mg")


def test_worksheet_precision_stops_at_the_readability():
    out = render_plan_text(plan(REG.get("ldn-capsules"), quantity="30", strength="0.1 mcg"))
    rows = [line for line in out.splitlines() if "Microcrystalline cellulose (Avicel PH-102)  "
            "filler" in line]
    # 30 x 140 mg - 3 mcg = 4,199.997 mg and 31 x 140 mg - 3.1 mcg = 4,339.9969 mg are
    # derived figures: shown to the 1 mg readability
    assert len(rows) == 1 and "  4,200 mg  " in rows[0] and rows[0].endswith("  4,340 mg")
    assert "4,199.99" not in out and "4,339.99" not in out
    # a drug amount below the readability keeps its figures (never rounded to 0 mg)
    assert "3.1 mcg" in out
    base = render_plan_text(plan(BASE, quantity="100", strength="4.5 mg"))
    assert "498.058" not in base and " 498 mg " in base
