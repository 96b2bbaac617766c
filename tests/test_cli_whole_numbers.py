"""Whole-number options of every command group take the ASCII digits 0-9 only
(``cli/types.py``): found while attacking the store's rooms (issue 13)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from signoff_support import ENV

@pytest.mark.parametrize("args, option", [
    (["inventory", "list", "--expiring-within", "{}"], "--expiring-within"),
    (["batch", "weigh", "2603010011", "--step", "{}", "--amount", "1 mg", "--by", "ana"],
     "--step"),
    (["rx", "show", "RX1", "--version", "{}"], "--version"),
    (["labels", "dispense", "2603010011", "--rx", "RX1", "--fill", "{}", "--by", "ana"],
     "--fill"),
])
@pytest.mark.parametrize("number", ["٣", "３", " 3", "1_0", "3.0", "1e3", "NaN"])
def test_whole_number_options_take_the_digits_0_to_9_only(tmp_path, args, option, number):
    # int() reads Arabic-Indic and full-width digits and '1_0'; a count, step, day number,
    # version or fill number typed with them must be refused, not silently read.
    r = CliRunner().invoke(cli, [a.format(number) for a in args]
                           + ["--db", str(tmp_path / "w.db")], env=ENV)
    assert r.exit_code == 2
    assert r.output.splitlines()[-1] == (f"Error: Invalid value for '{option}': {number!r} is "
                                         "not a whole number written with the digits 0-9")
    assert not (tmp_path / "w.db").exists()
