"""The balance uncertainty budget (issue 11, section 1): the worst-case error a balance can
put into the drug's weighings, reported (``drug.uncertainty_percent``, the worksheet) and
kept within a budget by sizing the intermediate weighings, or the plan is refused.

Worst case: each drug-carrying weighing may be off by the balance sensitivity, and the errors
multiply along the chain: high = prod(1 + s/w) - 1, low = 1 - prod(1 - s/w).
"""

from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.errors import PlanError, SpecError
from compounding.formulas import Registry
from compounding.plan import Order, make_plan, render_plan_text
from compounding.plan.dilution import worst_case
from compounding.settings import Balance, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
REG = Registry.load(ROOT / "formulas")
LOOSE = Settings(balance=Balance(uncertainty_budget="50%"))
ANALYTICAL = Settings(balance=Balance(sensitivity="0.1 mg", min_weighable="20 mg",
                                      readability="0.1 mg"))


def plan(fid, settings=None, **text):
    f = REG.get(fid)
    return make_plan(f, REG.catalogue, settings or Settings(), Order.from_text(f, **text))


def drug_weighings(p):
    return [u.plain(w.amount.value) for w in p.weighings
            if w.action == "weigh" and w.ingredient in ("naltrexone-hcl", None)]


@pytest.mark.parametrize("amounts,s,high,low", [
    # issue 11: 120, 120, 120 and 310 mg on a 6 mg balance: 1.05^3 x (1 + 6/310) = 1.180031;
    # 0.95^3 x (1 - 6/310) = 0.840781
    (["120", "120", "120", "310"], "6", "18.003", "15.922"),
    (["120"], "6", "5", "5"),                       # one weighing at the MWQ: 6 / 120
    (["138"], "6", "4.348", "4.348"),               # 6 / 138
    (["20", "20", "31"], "0.1", "1.328", "1.317"),  # 1.005^2 x 1.0032258 = 1.013283
])
def test_worst_case(amounts, s, high, low):
    h, lo = worst_case([D(a) for a in amounts], D(s))
    assert (h.quantize(D("0.001")), lo.quantize(D("0.001"))) == (D(high), D(low))


CASES = [
    # issue 11's example, with the budget lifted: today's chain, +18% / -15.9%
    ("0.1 mcg, no budget", "ldn-capsules", dict(quantity="30", strength="0.1 mcg"), LOOSE,
     ["120", "120", "120", "310"], "18.003", "15.922"),
    # default budget 5% (half of ±10%): 3 x s/B intermediate weighings + the 3,100 mg take:
    # (1 + 6/382)^3 x (1 + 6/3,100) = 1.049885; 381 mg would give 1.050026 (over)
    ("0.1 mcg, default budget", "ldn-capsules", dict(quantity="30", strength="0.1 mcg"),
     None, ["382", "382", "382", "3100"], "4.989", "4.823"),
    # 15.5 mg of drug: 131 mg in 13.1 g (1 in 100), take 1,550 mg:
    # (1 + 6/131)(1 + 6/1,550) = 1.049850; 130 mg gives 1.050204
    ("0.5 mg", "ldn-capsules", dict(quantity="30", strength="0.5 mg"), None,
     ["131", "1550"], "4.985", "4.95"),
    # weighed directly: 138 mg, 6/138
    ("direct", "ldn-capsules", dict(quantity="90", strength="1.5 mg"), None, ["138"],
     "4.348", "4.348"),
    # analytical balance (sensitivity 0.1 mg, MWQ 20 mg): 20, 20, then 31 mg
    ("analytical", "ldn-capsules", dict(quantity="30", strength="0.1 mcg"), ANALYTICAL,
     ["20", "20", "31"], "1.328", "1.317"),
    # a liquid: only the drug weighing is on the balance (the stock is measured by volume)
    ("oral liquid", "ldn-oral-liquid", dict(quantity="100 mL"), None, ["120"], "5", "5"),
]


@pytest.mark.parametrize("name,fid,order,settings,amounts,high,low", CASES,
                         ids=[c[0] for c in CASES])
def test_plan_reports_and_keeps_the_budget(name, fid, order, settings, amounts, high, low):
    p = plan(fid, settings, **order)
    assert drug_weighings(p) == amounts
    j = p.as_json()["drug"]
    assert (j["uncertainty_percent"], j["uncertainty_below_percent"]) == (high, low)
    budget = (settings or Settings()).balance.uncertainty_budget
    assert j["uncertainty_budget_percent"] == ("50" if budget else "5")


def test_worksheet_line():
    out = render_plan_text(plan("ldn-capsules", LOOSE, quantity="30", strength="0.1 mcg"))
    assert ("Balance error:  worst case +18% / -15.9% from the drug's weighings (sensitivity "
            "6 mg; budget 50%)") in out.splitlines()


def test_refused_when_the_balance_is_too_coarse():
    sett = Settings(balance=Balance(uncertainty_budget="1%"))
    with pytest.raises(PlanError) as exc:
        plan("ldn-capsules", sett, quantity="30", strength="0.1 mcg")
    assert str(exc.value) == (
        "Naltrexone hydrochloride 3.1 mcg: this batch needs a more sensitive balance: on a "
        "balance of sensitivity 6 mg the weighings can be off by up to +18% / -15.9%, above "
        "the 1% budget (settings balance.uncertainty_budget; set balance.sensitivity for a "
        "more sensitive balance, or make a larger batch)")


def test_cli_json_and_refusal(tmp_path):
    r = CliRunner().invoke(cli, ["plan", "ldn-capsules", "--quantity", "30", "--strength",
                                 "0.5 mg", "--json"])
    assert r.exit_code == 0, r.output
    import json
    assert json.loads(r.output)["drug"]["uncertainty_percent"] == "4.985"
    s = tmp_path / "pharmacy.toml"
    s.write_text('[balance]\nuncertainty_budget = "1%"\n')
    r = CliRunner().invoke(cli, ["--settings", str(s), "plan", "ldn-capsules", "--quantity",
                                 "30", "--strength", "0.1 mcg"])
    assert r.exit_code == 2
    assert r.output.startswith("Error: Naltrexone hydrochloride 3.1 mcg: this batch needs a "
                               "more sensitive balance")
    assert len(r.output.splitlines()) == 1


@pytest.mark.parametrize("text,message", [
    ('uncertainty_budget = "0%"', "must be greater than zero"),
    ('uncertainty_budget = "60%"', "give a plain percent above 0% and at most 50%"),
    ('uncertainty_budget = "5% w/v"', "give a plain percent"),
    ('uncertainty_budget = "NaN%"', "does not start with a number"),
    ('uncertainty_budget = "1e1%"', "balance.uncertainty_budget"),
    ('sensitivity = "6"', "balance.sensitivity"),
    ('sensitivity = "-6 mg"', "balance.sensitivity"),
    ('sensitivity = "6 mL"', "balance.sensitivity"),
    ('sensitivity = "500 mg"', "sensitivity: 500 mg must be below min_weighable 120 mg"),
])
def test_settings_refused(tmp_path, text, message):
    s = tmp_path / "pharmacy.toml"
    s.write_text(f"[balance]\n{text}\n")
    with pytest.raises(SpecError) as exc:
        load_settings(s)
    assert message in "\n".join(exc.value.lines())


def test_sensitivity_defaults_to_five_percent_of_the_mwq():
    # USP <1176>: MWQ = sensitivity / 5%, so a 200 mg MWQ means a 10 mg sensitivity
    assert Balance(min_weighable="200 mg").sensitivity_mg() == D(10)
    assert Balance(sensitivity="2 mg").sensitivity_mg() == D(2)
