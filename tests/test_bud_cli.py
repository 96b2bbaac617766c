"""`compounding bud`: exact human output and JSON, defaults (today, first storage, the
settings' policy), warnings on stderr, and every refusal as one `Error:` line with exit 2."""

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

import compounding.cli.bud as bud_cli
from compounding.cli import cli

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = ROOT / "formulas"
TODAY = date(2026, 3, 5)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No pharmacy.toml, no settings/formula env vars, a fixed 'today'."""
    for var in ("COMPOUNDING_SETTINGS", "COMPOUNDING_FORMULAS", "COMPOUNDING_TEMPLATES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bud_cli, "_today", lambda: TODAY)


def run(*args, settings=None):
    pre = ["--formulas", str(FORMULAS)]
    if settings:
        pre += ["--settings", str(settings)]
    return CliRunner().invoke(cli, [*pre, "bud", *args])


def test_human_output_exact():
    r = run("ldn-sublingual-drops", "--compounded", "2026-03-01",
            "--component-expiry", "naltrexone-hcl lot ABC123=2026-03-10",
            "--component-expiry", "glycerol=2027-05")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "Beyond-use date: 10 MAR 2026 (10 days; compounded 01 MAR 2026 is day 1)",
        "Formula ldn-sublingual-drops version 1, stored in a refrigerator (2 °C to 8 °C), "
        "policy usp795: USP <795> (2023)",
        "Binding limit: component lot expiry: naltrexone-hcl lot ABC123",
        "Limits considered (the earliest binds):",
        "  14 MAR 2026   14 days  category default: USP <795> (2023) default BUD table: aqueous, "
        "non-preserved (aw >= 0.6): 14 days",
        "      rule: USP <795> (2023): default maximum BUD (no stability study for this storage)",
        "  10 MAR 2026   10 days  component lot expiry: naltrexone-hcl lot ABC123  <- binding",
        "      rule: USP <795>: the BUD may not be later than the expiry of any component",
        "  31 MAY 2027  457 days  component lot expiry: glycerol",
        "      rule: USP <795>: the BUD may not be later than the expiry of any component",
        "Notes:",
        "  - Counting: USP <795> (2023) 10.3: the day of compounding is day 1, so an N-day "
        "BUD ends N - 1 days after the compounding date.",
    ]
    assert r.stderr == ""


def test_json_output():
    r = run("ldn-capsules", "--compounded", "2026-03-01", "--policy", "stability-data",
            "--component-expiry", "naltrexone-hcl lot ABC123=2027-01", "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert list(j) == ["bud", "days", "policy", "storage", "binding", "candidates"]
    assert (j["bud"], j["days"], j["policy"], j["storage"]) == ("2027-01-31", 337,
                                                               "stability-data", "room")
    assert j["binding"]["kind"] == "component-lot"
    assert j["binding"]["source"] == "naltrexone-hcl lot ABC123"
    assert [(c["kind"], c["date"], c["days"]) for c in j["candidates"]] == [
        ("study", "2027-02-23", 360), ("component-lot", "2027-01-31", 337)]


@pytest.mark.parametrize("fid, policy, bud, days, kind", [
    ("ldn-capsules", "usp795", "2026-08-27", 180, "study-capped"),
    ("ldn-capsules", "stability-data", "2027-02-23", 360, "study"),
    ("ldn-oral-liquid", "usp795", "2026-04-04", 35, "category-default"),  # no USP <51> test
    ("ldn-oral-liquid", "stability-data", "2026-04-29", 60, "study"),
    ("ldn-sublingual-drops", "usp795", "2026-03-14", 14, "category-default"),
    ("ldn-sublingual-drops", "stability-data", "2026-03-14", 14, "category-default"),
    ("ldn-cream", "usp795", "2026-03-28", 28, "formula-limit"),
    ("ldn-cream", "stability-data", "2026-03-28", 28, "formula-limit"),
])
def test_four_formulas_both_policies_via_cli(fid, policy, bud, days, kind):
    r = run(fid, "--compounded", "2026-03-01", "--policy", policy, "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert (j["bud"], j["days"], j["binding"]["kind"]) == (bud, days, kind)


def test_defaults_today_first_storage_and_settings_policy(tmp_path):
    r = run("ldn-oral-liquid", "--json")
    j = json.loads(r.stdout)
    # today (05 MAR 2026) is day 1; storage defaults to the formula's first (refrigerated)
    assert (j["bud"], j["days"], j["storage"], j["policy"]) == ("2026-04-08", 35,
                                                                "refrigerated", "usp795")
    settings = tmp_path / "pharmacy.toml"
    settings.write_text('bud_policy = "stability-data"\n')
    r2 = run("ldn-capsules", "--json", settings=settings)
    j2 = json.loads(r2.stdout)
    assert (j2["policy"], j2["days"], j2["bud"]) == ("stability-data", 360, "2027-02-27")
    r3 = run("ldn-capsules", "--json", "--policy", "usp795", settings=settings)
    assert json.loads(r3.stdout)["days"] == 180       # the option wins over the settings


def test_issue_11_oral_liquid_and_a_date_off_the_calendar():
    r = run("ldn-oral-liquid", "--compounded", "2026-11-25")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == ("Beyond-use date: 29 DEC 2026 (35 days; compounded "
                                        "25 NOV 2026 is day 1)")
    r = run("ldn-capsules", "--compounded", "9999-12-31")
    assert r.exit_code == 2
    assert r.output.splitlines() == [
        "Error: compounded: a period of 180 days from 31 DEC 9999 runs past 31 DEC 9999, the "
        "last date the calendar has; check the compounding date"]


def test_first_line_is_the_date_with_a_month_name():
    r = run("ldn-capsules", "--compounded", "2026-03-01")
    assert r.stdout.splitlines()[0] == ("Beyond-use date: 27 AUG 2026 (180 days; compounded "
                                        "01 MAR 2026 is day 1)")
    assert r.stdout.splitlines()[2].startswith("Binding limit: stability study, capped: "
                                               "Cote B. IJPC 2018;22(3):252")


def test_shorten_with_reason():
    r = run("ldn-capsules", "--compounded", "2026-03-01", "--shorten-to", "2026-06-30",
            "--reason", "Filler lot short-dated per supplier notice", "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert (j["bud"], j["binding"]["kind"], j["binding"]["source"]) == (
        "2026-06-30", "hand-set", "Filler lot short-dated per supplier notice")


@pytest.mark.parametrize("args, message", [
    (["ldn-oral-liquid", "--storage", "room"],
     "Error: storage 'room' is not allowed for ldn-oral-liquid; allowed: refrigerated"),
    (["ldn-capsules", "--compounded", "01/03/2026"],
     "Error: --compounded: '01/03/2026' is not a date; use YYYY-MM-DD (e.g. 2026-03-01)"),
    (["ldn-capsules", "--compounded", "2026-02-30"],
     "Error: --compounded: '2026-02-30' is not a date: FEB 2026 has 28 days"),
    (["ldn-capsules", "--component-expiry", "naltrexone-hcl 2027-05"],
     "Error: --component-expiry: 'naltrexone-hcl 2027-05' must be INGREDIENT=YYYY-MM-DD or "
     "INGREDIENT=YYYY-MM"),
    (["ldn-capsules", "--component-expiry", "=2027-05"],
     "Error: --component-expiry: '=2027-05' must be INGREDIENT=YYYY-MM-DD or "
     "INGREDIENT=YYYY-MM"),
    (["ldn-capsules", "--component-expiry", "naltrexone-hcl=05/2027"],
     "Error: --component-expiry naltrexone-hcl: '05/2027' is not an expiry; use YYYY-MM-DD, "
     "or YYYY-MM for the last day of that month"),
    (["ldn-capsules", "--component-expiry", "sucrose=2027-01",
      "--component-expiry", "sucrose=2027-02"],
     "Error: --component-expiry: 'sucrose' is given twice; give each lot once "
     "(e.g. 'naltrexone-hcl lot ABC123=2027-05')"),
    (["ldn-capsules", "--compounded", "2026-03-01",
      "--component-expiry", "naltrexone-hcl lot OLD1=2026-02"],
     "Error: expired component: naltrexone-hcl lot OLD1 expired on 28 FEB 2026, before the "
     "compounding date 01 MAR 2026"),
    (["ldn-cream", "--compounded", "2026-03-01", "--shorten-to", "2026-04-15",
      "--reason", "longer please"],
     "Error: hand-set BUD 15 APR 2026 is later than the computed BUD 28 MAR 2026: a BUD can "
     "only be shortened by hand, never lengthened"),
    (["ldn-cream", "--shorten-to", "2026-03-10"],
     "Error: --shorten-to needs --reason TEXT (why the BUD is shortened)"),
    (["ldn-cream", "--shorten-to", "2026-03-10", "--reason", "  "],
     "Error: --shorten-to needs --reason TEXT (why the BUD is shortened)"),
    (["ldn-cream", "--reason", "because"],
     "Error: --reason is only used with --shorten-to"),
    (["ldn-cream", "--shorten-to", "10 MAR 2026", "--reason", "x"],
     "Error: --shorten-to: '10 MAR 2026' is not a date; use YYYY-MM-DD (e.g. 2026-03-01)"),
    (["ldn-cream", "--policy", "uk"],
     "Error: unknown BUD policy 'uk'; known: stability-data, usp795"),
    (["ldn-lozenge"],
     "Error: unknown formula 'ldn-lozenge'; known: ldn-capsules, ldn-cream, ldn-oral-liquid, "
     "ldn-sublingual-drops"),
])
def test_refusals(args, message):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.splitlines() == [message]


def test_warnings_go_to_stderr_and_keep_json_clean():
    r = run("ldn-capsules", "--compounded", "2026-03-07", "--json",
            "--component-expiry", "capsule shells lot S1=2027-01")
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)
    assert r.stderr.splitlines() == [
        "Warning: 'capsule shells lot S1' does not start with an ingredient id of ldn-capsules "
        "(lactose-monohydrate, microcrystalline-cellulose, naltrexone-hcl, sucrose); its expiry "
        "still limits the BUD",
        "Warning: the compounding date 07 MAR 2026 is after today (05 MAR 2026); check "
        "--compounded",
    ]


def test_warning_when_the_bud_has_passed():
    r = run("ldn-sublingual-drops", "--compounded", "2026-02-01")
    assert r.exit_code == 0
    assert r.stderr.splitlines() == [
        "Warning: this BUD (14 FEB 2026) has already passed (today is 05 MAR 2026)"]


def test_leap_year_via_cli():
    r = run("ldn-cream", "--compounded", "2028-02-01", "--json")
    assert json.loads(r.stdout)["bud"] == "2028-02-28"
    r = run("ldn-cream", "--compounded", "2028-02-02", "--json")
    assert json.loads(r.stdout)["bud"] == "2028-02-29"


def test_help_is_documented():
    r = run("--help")
    assert r.exit_code == 0
    assert "Compute a batch's beyond-use date and show which limit binds it." in r.stdout
    for opt in ("--compounded", "--storage", "--policy", "--component-expiry", "--shorten-to",
                "--reason", "--json"):
        assert opt in r.stdout
