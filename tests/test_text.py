"""Issue 12, class 8: one normaliser for identifiers and free text; right-to-left text refused
on labels; plausible bounds for settings and formula numbers."""

from __future__ import annotations

import json
import unicodedata

import pytest

from compounding.errors import InputError, LabelError, SpecError
from compounding.labeling.fonts import clean
from compounding.text import fold, normalize
from test_labels_cli import lot, run  # noqa: F401  (fixture)
from test_labels_cli import clean_env  # noqa: F401  (autouse fixture)

DECOMPOSED = unicodedata.normalize("NFD", "LÉ-2401")


@pytest.mark.parametrize("value, kind, expected", [
    ("  NX-2401 ", "identifier", "NX-2401"),
    (DECOMPOSED, "identifier", "LÉ-2401"),
    ("Zoë\u00a0 Nguyễn", "name", "Zoë Nguyễn"),
    ("Take  one\u2009capsule", "text", "Take one capsule"),
    ("Ελένη Παπαδοπούλου", "name", "Ελένη Παπαδοπούλου"),
])
def test_normalize_accepts(value, kind, expected):
    assert normalize(value, "f", kind=kind) == expected


@pytest.mark.parametrize("value, kind, message", [
    ("NX\x1d2401", "identifier",
     "lot: character U+001D (GROUP SEPARATOR) at position 3 is a control character or line "
     "break"),
    (" NX\u200b2401", "identifier",
     "lot: character U+200B (ZERO WIDTH SPACE) at position 3 is an invisible formatting "
     "character (zero-width or direction mark)"),
    ("Ann\u202eeoJ", "name",
     "lot: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 4 is an invisible formatting "
     "character (zero-width or direction mark)"),
    ("A\u2066B", "name",
     "lot: character U+2066 (LEFT-TO-RIGHT ISOLATE) at position 2 is an invisible formatting "
     "character (zero-width or direction mark)"),
    ("line\nbreak", "text",
     "lot: character U+000A (LINE FEED) at position 5 is a control character or line break"),
    ("x\u2028y", "text",
     "lot: character U+2028 (LINE SEPARATOR) at position 2 is a control character or line "
     "break"),
    ("soft\u00adhyphen", "name",
     "lot: character U+00AD (SOFT HYPHEN) at position 5 is an invisible formatting character "
     "(zero-width or direction mark)"),
    ("x\ue000", "name",
     "lot: character U+E000 (private-use character) at position 2 is a private-use or unassigned "
     "character"),
    ("NX٢٤٠١", "identifier",
     "lot: character U+0662 (ARABIC-INDIC DIGIT TWO) at position 3 is a digit of another "
     "script; write digits as 0-9"),
    ("   ", "identifier", "lot: must not be empty"),
    ("x" * 65, "identifier", "lot: 65 characters; at most 64"),
    ("y" * 300, "name", "lot: 300 characters; at most 200"),
])
def test_normalize_refuses(value, kind, message):
    with pytest.raises(InputError) as e:
        normalize(value, "lot", kind=kind)
    assert str(e.value) == message


def test_fold_is_case_only():
    assert fold("nx-2401") == fold("NX-2401") == fold("Nx-2401")
    assert fold("STRASSE") == fold("straße")
    assert fold("NX-2401") != fold("NX-2402")


@pytest.mark.parametrize("text", ["محمد علي", "דוד כהן", "Ali ١٢"])
def test_right_to_left_refused_on_labels(text):
    with pytest.raises(LabelError) as e:
        clean(text, "patient")
    assert str(e.value).startswith("patient: right-to-left script (")
    assert str(e.value).endswith(") is not supported on labels yet (it would print reversed "
                                 "and unjoined); write the name in a left-to-right script as "
                                 "on the prescription record")


def _receive(tmp_path, lot_no, *extra):
    return run(tmp_path, "inventory", "receive", "naltrexone-hcl", "--lot", lot_no,
               "--expires", "2030-01-31", "--quantity", "1 g", "--by", "alice", *extra)


def test_cli_lot_with_group_separator_refused(tmp_path, lot):
    r = _receive(tmp_path, "NX\x1d2401")
    assert (r.exit_code, r.output) == (2, "Error: lot: character U+001D (GROUP SEPARATOR) at "
                                          "position 3 is a control character or line break\n")


def test_cli_decomposed_lot_is_refused_and_recall_normalises(tmp_path, lot):
    # Supplier lots are printable ASCII (store.inventory, GS1 AI (10)); the normaliser makes
    # the decomposed and the composed form one text first, so both get the same answer.
    for form in ("LÉ-2401", DECOMPOSED):
        r = _receive(tmp_path, form)
        assert (r.exit_code, r.output.splitlines()[-1]) == (
            2, "Error: lot: character U+00C9 (LATIN CAPITAL LETTER E WITH ACUTE) at position "
               "2 is not ASCII; only printable ASCII is accepted here")
    r = run(tmp_path, "recall", "\u00a0NX1 ")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].startswith("Lot NX1: 1 batch")


def test_cli_decomposed_and_composed_manufacturer_are_one_text(tmp_path, lot):
    r = run(tmp_path, "inventory", "receive", "naltrexone-hcl", "--lot", "NX9", "--expires",
            "2030-01-31", "--quantity", "1 g", "--manufacturer", "Société A", "--by", "alice")
    assert r.exit_code == 0, r.output
    r = run(tmp_path, "inventory", "receive", "naltrexone-hcl", "--lot", "NX9", "--expires",
            "2030-01-31", "--quantity", "1 g", "--manufacturer",
            unicodedata.normalize("NFD", "Société A") + " ", "--by", "alice", "--json")
    assert r.exit_code == 0, r.output  # same lot, same manufacturer: more of a known lot
    got = json.loads(r.stdout)
    assert got["manufacturer"] == "Société A" and got["received"] == "2000"


def test_cli_case_only_difference_needs_confirmation(tmp_path, lot):
    r = _receive(tmp_path, "nx1")
    assert (r.exit_code, r.output) == (1, "Error: lot: nx1 differs from recorded lot NX1 of "
                                          "naltrexone-hcl only by case; check the container "
                                          "and repeat with --confirm-case if it is a "
                                          "different lot\n")
    r = _receive(tmp_path, "nx1", "--confirm-case")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Received 1 g of naltrexone-hcl lot nx1 ")


@pytest.mark.parametrize("patient, line", [
    ("محمد علي", "Error: patient: right-to-left script ('م' (U+0645), 'ح' (U+062D), 'د' "
                 "(U+062F)) is not supported on labels yet (it would print reversed and "
                 "unjoined); write the name in a left-to-right script as on the prescription "
                 "record"),
    ("Jo\u200dhn", "Error: patient: character U+200D (ZERO WIDTH JOINER) at position 3 is an "
                   "invisible formatting character (zero-width or direction mark)"),
    ("P" * 300, "Error: patient: 300 characters; at most 200"),
])
def test_cli_dispense_refuses_and_records_nothing(tmp_path, lot, patient, line):
    r = run(tmp_path, "labels", "dispense", lot, "--patient", patient, "--directions",
            "Take one capsule at bedtime", "--prescriber", "Dr A", "--rx", "RX-1",
            "--quantity", "30", "--by", "bob", "--output", str(tmp_path / "d.pdf"))
    assert r.exit_code != 0
    assert r.output.splitlines()[-1] == line
    assert not (tmp_path / "d.pdf").exists()
    assert "No dispensing labels printed" in run(tmp_path, "recall", "--batch", lot).output


# ---------------------------------------------------------------- settings and formulas

@pytest.mark.parametrize("gtin, message", [
    ("00000000000000", "GTIN '00000000000000' is all zeros, which identifies no trade item"),
    ("00000000", "GTIN '00000000' is all zeros, which identifies no trade item"),
    ("٠٠٦١٤١٤١٠٠٠٠١٢", "GTIN '٠٠٦١٤١٤١٠٠٠٠١٢' must be 8, 12, 13 or 14 digits"),
])
def test_settings_gtin_refused(tmp_path, gtin, message):
    from compounding.settings import load_settings
    p = tmp_path / "s.toml"
    p.write_text(f'[gtins]\nldn-capsules = "{gtin}"\n', encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_settings(p)
    assert message in str(e.value)


def _drops_formula(tmp_path, value):
    import shutil

    from test_labels_support import ROOT
    d = tmp_path / "f"
    shutil.copytree(ROOT / "formulas", d)
    p = d / "ldn-sublingual-drops.toml"
    p.write_text(p.read_text().replace('drops_per_ml = "20"', f"drops_per_ml = {value}"))
    return d


@pytest.mark.parametrize("value, fragment", [
    ('"2e1"', "'2e1' is not a plain decimal number"),
    ('"20E0"', "'20E0' is not a plain decimal number"),
    ('"NaN"', "'NaN' is not a plain decimal number"),
    ('"٢٠"', "'٢٠' is not a plain decimal number"),
    ("2e1", "a TOML float is not exact"),
    ("20.0", "a TOML float is not exact"),
    ('"5"', "greater than or equal to 17"),
    ('"1000"', "less than or equal to 60"),
])
def test_formula_drops_per_ml_refused(tmp_path, value, fragment):
    from compounding.formulas import Registry
    with pytest.raises(SpecError) as e:
        Registry.load(_drops_formula(tmp_path, value))
    assert "drops.drops_per_ml" in str(e.value) and fragment in str(e.value)


@pytest.mark.parametrize("value", ['"20"', "20", '"17"', '"60"', '"22.5"'])
def test_formula_drops_per_ml_accepted(tmp_path, value):
    from compounding.formulas import Registry
    Registry.load(_drops_formula(tmp_path, value))


def test_cli_supplier_lot_limit_is_the_stores():
    from compounding.cli import params
    from compounding.store.inventory import LOT_CHARS
    assert params.supplier_lot("lot").max_length == LOT_CHARS


def test_every_control_character_is_named_by_its_unicode_alias():
    """Attack s4 finding 14: control characters were 'U+0000 (unnamed character)'. Each of
    the 65 (category Cc) now has its formal alias from NameAliases.txt, which Python's
    unicodedata.lookup knows (so the table is checked against the UCD, not against itself)."""
    import unicodedata

    from compounding.text import CONTROL_NAMES, describe
    controls = [cp for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Cc"]
    assert sorted(CONTROL_NAMES) == controls
    for cp, name in CONTROL_NAMES.items():
        assert unicodedata.lookup(name) == chr(cp), (hex(cp), name)
    assert describe("\x00") == "U+0000 (NULL)"
    assert describe("\x1d") == "U+001D (GROUP SEPARATOR)"
    assert describe("\x85") == "U+0085 (NEXT LINE)"
    assert describe("\u200b") == "U+200B (ZERO WIDTH SPACE)"
    assert describe("\U000f0000") == "U+F0000 (private-use character)"
    assert describe("\u0378") == "U+0378 (unassigned character)"
