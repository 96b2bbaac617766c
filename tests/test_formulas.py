"""Formula specs: the four shipped formulas load, and every kind of bad file gives one
clear line naming the file and key path (exit 1 from `formulas validate`)."""

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.errors import SpecError
from compounding.formulas import Formula, Registry, validate_paths
from compounding.units import q

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = ROOT / "formulas"


@pytest.fixture(scope="module")
def registry():
    return Registry.load(FORMULAS)


def test_the_four_formulas_load(registry):
    assert sorted(registry.formulas) == ["ldn-capsules", "ldn-cream", "ldn-oral-liquid",
                                         "ldn-sublingual-drops"]
    for fid, h in registry.hashes.items():
        assert len(h) == 64


def test_formula_facts(registry):
    liquid = registry.get("ldn-oral-liquid")
    assert liquid.strength.fixed == q("1", "mg/mL")
    assert liquid.storage.conditions == ("refrigerated",)
    assert liquid.storage.protect_from_light
    assert liquid.stability.category == "aqueous-preserved"
    assert liquid.stability.studies[0].duration == "60 days"
    assert "Fawcett" in liquid.stability.studies[0].reference

    caps = registry.get("ldn-capsules")
    assert caps.strength.min == q("0.1", "mcg") and caps.strength.max == q("4.5", "mg")
    assert caps.capsule.default_filler == "microcrystalline-cellulose"
    assert set(caps.capsule.fillers) == {"microcrystalline-cellulose", "lactose-monohydrate",
                                         "sucrose"}
    assert caps.stability.category == "nonaqueous-other"
    assert caps.stability.studies[0].duration == "360 days"

    drops = registry.get("ldn-sublingual-drops")
    assert drops.stability.category == "aqueous-non-preserved"
    assert drops.storage.conditions == ("refrigerated",)
    assert drops.drops.drops_per_ml == Decimal("20")
    tags = {t for c in drops.components for t in registry.ingredient(c.ingredient).tags}
    assert {"lactose", "glycerol"} <= tags

    cream = registry.get("ldn-cream")
    assert cream.stability.category == "aqueous-preserved"
    assert cream.bud_limit.days == 28
    assert "For external use only" in cream.label.auxiliary
    assert cream.device.ml_per_click == q("0.25", "mL")


def test_salt_factor(registry):
    f = registry.catalogue.salt_factor("naltrexone-base", "naltrexone-hcl")
    assert f.quantize(Decimal("0.0001")) == Decimal("1.1068")
    assert registry.catalogue.salt_factor("naltrexone-hcl", "naltrexone-base").quantize(
        Decimal("0.0001")) == Decimal("0.9035")


def test_excipient_notes_from_the_guide_sit_with_their_formulas(registry):
    assert any("trace lactose" in n for n in registry.get("ldn-sublingual-drops").excipient_notes)
    assert any("colorants" in n for n in registry.get("ldn-cream").excipient_notes)
    assert any("hypersensitivity" in n for n in registry.get("ldn-oral-liquid").excipient_notes)
    assert any("calcium carbonate" in n for n in registry.get("ldn-capsules").excipient_notes)


def test_specs_are_frozen(registry):
    with pytest.raises(Exception):
        registry.get("ldn-cream").version = 2


def test_spec_json_round_trips(registry, tmp_path):
    for f in registry.formulas.values():
        again = Formula.model_validate(f.spec_json(), context={"catalogue": registry.catalogue})
        assert again == f


# ---------------------------------------------------------------- bad files

@pytest.fixture
def workdir(tmp_path):
    d = tmp_path / "formulas"
    shutil.copytree(FORMULAS, d)
    return d


def _edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


BAD = [
    ("ldn-capsules.toml", 'route = "oral"', 'route = "oral"\ncolour = "blue"',
     "ldn-capsules.toml: colour: unknown key"),
    ("ldn-capsules.toml", 'description = "Hard gelatin or HPMC-shell capsules, uniformly filled '
     'with a white powder blend"\n', '',
     "ldn-capsules.toml: description: required key is missing"),
    ("ldn-capsules.toml", 'max = "4.5 mg"', 'max = "5 mg"',
     "ldn-capsules.toml: strength: 5 mg is outside the capsule range 0.1 mcg to 4.5 mg"),
    ("ldn-capsules.toml", 'min = "0.1 mcg"', 'min = "0.05 mcg"',
     "ldn-capsules.toml: strength: 0.05 mcg is outside the capsule range"),
    ("ldn-capsules.toml", 'max = "4.5 mg"', 'max = "12 mg"',
     "ldn-capsules.toml: strength: 12 mg is at or above the 12 mg 'high-low dose' limit"),
    ("ldn-capsules.toml", 'max = "4.5 mg"', 'max = "4.5"',
     "ldn-capsules.toml: strength.max: '4.5': a unit is required"),
    ("ldn-capsules.toml", 'max = "4.5 mg"', 'max = "4.5 Mg"',
     "ldn-capsules.toml: strength.max: '4.5 Mg': unit 'Mg' is ambiguous"),
    ("ldn-oral-liquid.toml", 'ingredient = "sodium-benzoate"', 'ingredient = "sodium-benzoat"',
     "ldn-oral-liquid.toml: components.1.ingredient: unknown ingredient 'sodium-benzoat'"),
    ("ldn-capsules.toml", '"lactose-monohydrate", "sucrose"]',
     '"lactose-monohydrate", "sucrose", "calcium-carbonate"]',
     "ldn-capsules.toml: capsule.fillers.3: 'calcium-carbonate' is not allowed as an LDN filler"),
    ("ldn-capsules.toml", '"lactose-monohydrate", "sucrose"]',
     '"lactose-monohydrate", "hypromellose"]',
     "ldn-capsules.toml: capsule.fillers.2: 'hypromellose' is not allowed as an LDN filler: "
     "slow-release filler"),
    ("ldn-sublingual-drops.toml", 'conditions = ["refrigerated"]', 'conditions = ["room"]',
     "ldn-sublingual-drops.toml: storage.conditions: an aqueous non-preserved preparation must "
     "be refrigerated"),
    ("ldn-oral-liquid.toml", 'water_activity = "aw >= 0.6"', 'water_activity = "aw < 0.6"',
     "ldn-oral-liquid.toml: stability: category aqueous-preserved does not match water_activity"),
    ("ldn-oral-liquid.toml", 'fixed = "1 mg/mL"', 'fixed = "1 mg"',
     "ldn-oral-liquid.toml: strength: 1 mg is the wrong kind for a oral-liquid"),
    ("ldn-oral-liquid.toml", 'id = "ldn-oral-liquid"', 'id = "ldn-liquid"',
     "ldn-oral-liquid.toml: id: 'ldn-liquid' must match the file name"),
    ("ldn-cream.toml", 'days = 28', 'days = "twenty-eight"',
     "ldn-cream.toml: bud_limit.days: Input should be a valid integer"),
]


@pytest.mark.parametrize("fname, old, new, expected", BAD, ids=[b[3][:50] for b in BAD])
def test_bad_formula_gives_one_clear_line(workdir, fname, old, new, expected):
    _edit(workdir / fname, old, new)
    lines = validate_paths([workdir])
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert lines[0].startswith(str(workdir / fname))


def test_malformed_toml_names_the_line(workdir):
    (workdir / "ldn-cream.toml").write_text('id = "ldn-cream"\nversion = 1\nname = "oops\n')
    lines = validate_paths([workdir / "ldn-cream.toml"])
    assert len(lines) == 1
    assert "malformed TOML" in lines[0] and "line 3" in lines[0]


def test_registry_refuses_to_load_bad_folder(workdir):
    _edit(workdir / "ldn-capsules.toml", 'route = "oral"', 'route = "rectal"')
    with pytest.raises(SpecError) as exc:
        Registry.load(workdir)
    assert "ldn-capsules.toml: route: Input should be" in str(exc.value)


# ---------------------------------------------------------------- CLI

def run(*args, **kw):
    return CliRunner().invoke(cli, [*args], catch_exceptions=False, **kw)


def test_cli_list():
    r = run("--formulas", str(FORMULAS), "formulas", "list")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split() == ["ID", "VERSION", "NAME", "FORM", "STRENGTH"]
    assert any(line.startswith("ldn-capsules") and line.endswith("0.1 mcg to 4.5 mg")
               for line in lines)


def test_cli_list_json():
    r = run("--formulas", str(FORMULAS), "formulas", "list", "--json")
    rows = json.loads(r.output)
    assert {"id": "ldn-oral-liquid", "version": 2, "name": "Naltrexone HCl 1 mg/mL oral liquid",
            "dosage_form": "oral-liquid", "strength": "1 mg/mL"} in rows


def test_cli_show_text_and_json():
    r = run("--formulas", str(FORMULAS), "formulas", "show", "ldn-cream")
    assert r.exit_code == 0
    assert "Formula BUD limit: 28 days" in r.output
    assert "µg" not in r.output
    r = run("--formulas", str(FORMULAS), "formulas", "show", "ldn-cream", "--json")
    spec = json.loads(r.output)
    assert spec["bud_limit"]["days"] == 28 and spec["strength"]["min"] == "0.5 mg/g"


def test_cli_show_unknown_formula():
    r = run("--formulas", str(FORMULAS), "formulas", "show", "ldn-syrup")
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        "Error: unknown formula 'ldn-syrup'; known: ldn-capsules, ldn-cream, ldn-oral-liquid, "
        "ldn-sublingual-drops"]


def test_cli_validate_ok_and_bad(workdir):
    r = run("--formulas", str(workdir), "formulas", "validate")
    assert r.exit_code == 0 and r.output == "4 formula files valid\n"
    _edit(workdir / "ldn-capsules.toml", 'route = "oral"', 'route = "oral"\ncolour = "blue"')
    _edit(workdir / "ldn-cream.toml", 'days = 28', 'dayz = 28')
    r = CliRunner().invoke(cli, ["--formulas", str(workdir), "formulas", "validate"])
    assert r.exit_code == 1
    assert len(r.output.strip().splitlines()) == 3  # unknown colour; days missing; dayz unknown
    assert "Traceback" not in r.output


def test_cli_schema():
    r = run("formulas", "schema")
    schema = json.loads(r.output)
    assert schema["title"] == "Formula"
    assert "strength" in schema["properties"]
    assert schema["additionalProperties"] is False


def test_catalogue_change_changes_the_hash_of_formulas_that_use_it(workdir):
    # Change control covers the ingredient facts a formula relies on (density, tags, MW):
    # editing the MCC density must invalidate the capsule formula's approval, not the cream's.
    before = Registry.load(workdir).hashes
    _edit(workdir / "ingredients.toml", 'density = "0.28 g/mL"', 'density = "0.50 g/mL"')
    after = Registry.load(workdir)
    assert after.hashes["ldn-capsules"] != before["ldn-capsules"]
    assert after.hashes["ldn-cream"] == before["ldn-cream"]
    assert b"microcrystalline-cellulose" in after.contents["ldn-capsules"]
    assert after.contents["ldn-capsules"].startswith((workdir / "ldn-capsules.toml").read_bytes())
