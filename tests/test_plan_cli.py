"""`compounding plan`: refusals are one line and exit 2; the worksheet and --json work."""

import json

import pytest
from click.testing import CliRunner

from compounding.cli import cli


def run(*args):
    return CliRunner().invoke(cli, ["plan", *args])


REFUSALS = [
    (["ldn-capsules", "--quantity", "100 mg", "--strength", "1 mg"],
     "Error: --quantity: '100 mg' is a mass; capsules are counted (e.g. '100' or "
     "'100 capsules')"),
    (["ldn-capsules", "--quantity", "100", "--strength", "5 mg"],
     "Error: --strength: 5 mg is outside the range for ldn-capsules: 0.1 mcg to 4.5 mg per "
     "capsule"),
    (["ldn-capsules", "--quantity", "100", "--strength", "0.05 mcg"],
     "Error: --strength: 0.05 mcg is outside the range for ldn-capsules: 0.1 mcg to 4.5 mg "
     "per capsule"),
    (["ldn-capsules", "--quantity", "0", "--strength", "1 mg"],
     "Error: --quantity: '0': must be greater than zero"),
    (["ldn-capsules", "--quantity", "5000", "--strength", "1 mg"],
     "Error: --quantity: 5,000 capsules is outside the batch range for ldn-capsules: "
     "10 capsules to 2,000 capsules"),
    (["ldn-oral-liquid", "--quantity", "5 L"],
     "Error: --quantity: 5 L is outside the batch range for ldn-oral-liquid: 10 mL to 2,000 mL"),
    (["ldn-capsules", "--quantity", "100"],
     "Error: --strength is required for ldn-capsules: 0.1 mcg to 4.5 mg per capsule"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg/mL"],
     "Error: --strength: '1 mg/mL' is a concentration; a capsule strength is a mass per "
     "capsule (e.g. '1.5 mg' or '0.1 mcg')"),
    (["ldn-oral-liquid", "--quantity", "100"],
     "Error: --quantity: '100': a unit is required (e.g. mg, mcg, mL, mg/mL)"),
    (["ldn-nope", "--quantity", "100"],
     "Error: unknown formula 'ldn-nope'; known: ldn-capsules, ldn-cream, ldn-oral-liquid, "
     "ldn-sublingual-drops"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg", "--filler",
      "calcium-carbonate"],
     "Error: --filler: 'calcium-carbonate' is not allowed for ldn-capsules (the LDN "
     "compounding literature advises against calcium carbonate as an LDN filler); allowed: "
     "microcrystalline-cellulose, lactose-monohydrate, sucrose"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg", "--filler",
      "lactose-monohydrate", "--avoid", "lactose"],
     "Error: --avoid lactose: lactose-monohydrate (Lactose monohydrate) contains lactose; "
     "use --filler microcrystalline-cellulose"),
    (["ldn-sublingual-drops", "--quantity", "30 mL", "--strength", "1 mg/mL", "--avoid",
      "lactose"],
     "Error: --avoid lactose: ldn-sublingual-drops contains lactose-monohydrate (Lactose "
     "monohydrate), which carries lactose, and has no alternative; choose another formula"),
    (["ldn-oral-liquid", "--quantity", "100 mL", "--strength", "2 mg/mL"],
     "Error: --strength: ldn-oral-liquid is made only at 1 mg/mL; 2 mg/mL needs a different "
     "formula"),
    (["ldn-sublingual-drops", "--quantity", "30 mL", "--strength", "0.25 mg/mL"],
     "Error: --strength: 0.25 mg/mL is outside the range for ldn-sublingual-drops: "
     "0.5 mg/mL to 10 mg/mL"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg", "--potency", "20"],
     "Error: --potency: '20': must be between 50% and 150%"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg", "--min-weighable", "10 mg"],
     "Error: --min-weighable: 10 mg is outside 50 mg to 1,000 mg (at least 50 x the balance "
     "readability 1 mg, so rounding stays within 1%)"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg", "--capsule-size", "00"],
     "Error: --capsule-size: '00' is not allowed for ldn-capsules; allowed: 0, 1, 2, 3, 4"),
    (["ldn-oral-liquid", "--quantity", "100 mL", "--capsule-size", "1"],
     "Error: --capsule-size is only for capsule formulas, not ldn-oral-liquid (oral-liquid)"),
    (["ldn-cream", "--quantity", "30 capsules"],
     "Error: --quantity: '30 capsules' is a count of capsules; a cream batch is a mass "
     "(e.g. '100 g'), or a volume when the formula gives a density"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg", "--avoid", "nuts"],
     "Error: --avoid: unknown tag 'nuts'; known: lactose, sucrose, glycerol, dyes, parabens, "
     "benzoate, gluten, cetostearyl-alcohol, propylene-glycol, sorbitol, alcohol, fragrance"),
    (["ldn-capsules", "--quantity", "100", "--strength", "1 mg", "--overage", "80"],
     "Error: --overage: '80': must be between 0% and 50%"),
]


@pytest.mark.parametrize("args,line", REFUSALS, ids=[" ".join(a) for a, _ in REFUSALS])
def test_refusals_are_one_line_exit_2(args, line):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert r.output.splitlines() == [line]


def test_worksheet():
    r = run("ldn-capsules", "--quantity", "30", "--strength", "0.5 mg")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "BATCH PLAN: Naltrexone HCl immediate-release capsules  [ldn-capsules v1]"
    assert "Drug:           target 15.5 mg, delivered 15.5 mg (error 0%)" in lines
    assert ("Balance error:  worst case +5% / -5% from the drug's weighings (sensitivity 6 mg; "
            "budget 5%)") in lines
    assert "     1  weigh   Naltrexone hydrochloride for dilution 1" in r.output


def test_json():
    r = run("ldn-capsules", "--quantity", "100 capsules", "--strength", "0.1 mcg", "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.output)
    assert j["units_to_make"] == {"amount": "102", "unit": "capsules"}
    assert [w["step"] for w in j["weighings"]] == list(range(1, 9))
    assert j["drug"]["delivered"] == {"amount": "0.0102", "unit": "mg"}
    assert len(j["dilution_steps"]) == 3


def test_help_lists_options():
    r = CliRunner().invoke(cli, ["plan", "--help"])
    assert r.exit_code == 0
    for opt in ("--quantity", "--strength", "--filler", "--capsule-size", "--potency",
                "--overage", "--min-weighable", "--avoid", "--json"):
        assert opt in r.output
