"""Pharmacy settings: where they come from, defaults, validation with file and key."""

from pathlib import Path

import pytest
from compounding.cli import App
from compounding.errors import SpecError
from compounding.settings import Settings, load_settings, resolve_path, validate_gtin
from compounding.units import q

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_a_class_iii_balance():
    s = Settings()
    assert s.balance.min_weighable == q("120", "mg")
    assert s.bud_policy == "usp795"
    assert s.max_dilution_ratio == 100


def test_resolution_order(tmp_path):
    explicit = tmp_path / "x.toml"
    assert resolve_path(str(explicit), {"COMPOUNDING_SETTINGS": "/env.toml"}, tmp_path) == explicit
    assert resolve_path(None, {"COMPOUNDING_SETTINGS": "/env.toml"}, tmp_path) == Path("/env.toml")
    assert resolve_path(None, {}, tmp_path) is None
    (tmp_path / "pharmacy.toml").write_text("")
    assert resolve_path(None, {}, tmp_path) == tmp_path / "pharmacy.toml"


def test_example_file_is_valid():
    s = load_settings(ROOT / "pharmacy.example.toml")
    assert s.pharmacy.name == "Sample Compounding Pharmacy"


def test_load_values(tmp_path):
    p = tmp_path / "pharmacy.toml"
    p.write_text('bud_policy = "stability-data"\n[balance]\nmin_weighable = "10 mg"\n'
                 '[gtins]\nldn-capsules = "00312345678906"\n')
    s = load_settings(p)
    assert s.bud_policy == "stability-data"
    assert s.balance.min_weighable == q("10", "mg")
    assert s.gtins["ldn-capsules"] == "00312345678906"


@pytest.mark.parametrize("body, expected", [
    ('colour = "red"\n', "colour: unknown key"),
    ('bud_policy = "uk"\n', "bud_policy: Input should be 'usp795' or 'stability-data'"),
    ('[balance]\nmin_weighable = "120"\n', "balance.min_weighable: '120': a unit is required"),
    ('[balance]\nmin_weighable = "120 mL"\n', "balance.min_weighable: '120 mL': is a volume; expected a mass"),
    ('[gtins]\nldn-capsules = "00312345678907"\n', "gtins: GTIN '00312345678907' has a wrong check digit (expected 6)"),
    ('bud_policy = \n', "malformed TOML"),
])
def test_bad_settings_name_file_and_key(tmp_path, body, expected):
    p = tmp_path / "pharmacy.toml"
    p.write_text(body)
    with pytest.raises(SpecError) as exc:
        load_settings(p)
    assert expected in str(exc.value)
    assert str(exc.value).startswith(str(p))


def test_gtin_forms():
    assert validate_gtin("0312345678906") == "00312345678906"
    with pytest.raises(ValueError):
        validate_gtin("12345")


def test_app_reads_settings_from_env(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[pharmacy]\nname = "Env Pharmacy"\n')
    app = App(None, None, environ={"COMPOUNDING_SETTINGS": str(p)}, cwd=tmp_path)
    assert app.settings.pharmacy.name == "Env Pharmacy"


def test_missing_settings_file_is_one_line(tmp_path):
    with pytest.raises(SpecError, match="settings file not found"):
        App(str(tmp_path / "nope.toml"), None).settings
