"""`inventory list` pages (issue 18): the 50 earliest-expiring lots by default, --limit N,
--no-limit (--all keeps meaning 'include lots with nothing on hand'); a note on stderr says
how many were left out; hostile limits are one usage line."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.cli import inventory as inventory_cli
from compounding.errors import InputError
from compounding.store import Store, stock
from signoff_support import ENV, PASS, add_users

NOTE = ("Showing the {n} earliest-expiring of {total} lots; --limit N for more, --no-limit "
        "for every one.\n")


def inv(db, *args):
    return CliRunner().invoke(cli, ["inventory", "list", *args, "--db", str(db)], env=ENV)


@pytest.fixture(scope="module")
def stocked(tmp_path_factory):
    """Four sucrose lots expiring a month apart (S1 first), and S4 written off to nothing."""
    path = tmp_path_factory.mktemp("inventory") / "i.db"
    with Store.open(path) as s:
        add_users(s, "ana")
        for k, month in enumerate((3, 1, 4, 2)):
            s.receive_lot("sucrose", f"S{k}", date(2099, month, 1), u.parse(f"{k + 1} g"), "ana")
        s.receive_lot("sucrose", "S4", date(2098, 1, 1), u.parse("0.5 g"), "ana")
        stock.adjust(s, "S4", amount="-0.5 g", reason="spilled", by="pharm", passphrase=PASS)
    return path


def lots_of(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines()[2:]]


@pytest.mark.parametrize(("args", "lots", "note"), [
    ([], ["S1", "S3", "S0", "S2"], ""),
    (["--limit", "2"], ["S1", "S3"], NOTE.format(n=2, total=4)),
    (["--limit", "4"], ["S1", "S3", "S0", "S2"], ""),
    (["--limit", "5"], ["S1", "S3", "S0", "S2"], ""),
    (["--no-limit"], ["S1", "S3", "S0", "S2"], ""),
    (["--all", "--limit", "1"], ["S4"], NOTE.format(n=1, total=5)),   # the emptied lot
    (["--all", "--no-limit"], ["S4", "S1", "S3", "S0", "S2"], ""),
    (["--expiring-within", "99999", "--limit", "1"], ["S4"], NOTE.format(n=1, total=5)),
    (["--ingredient", "glycerol"], [], ""),
])
def test_inventory_list_pages(stocked, args, lots, note):
    r = inv(stocked, *args)
    assert r.exit_code == 0, r.output
    assert lots_of(r.stdout) == lots
    assert r.stderr == note


def test_the_written_off_lot_shows_nothing_on_hand(stocked):
    r = inv(stocked, "--all", "--limit", "1", "--json")
    (lot,) = json.loads(r.stdout)
    assert (lot["lot_number"], lot["received"], lot["adjusted"], lot["on_hand"]) == \
        ("S4", "500", "-500", "0")


def test_fifty_by_default(stocked, monkeypatch):
    assert inventory_cli.LIST_DEFAULT == 50
    monkeypatch.setattr(inventory_cli, "LIST_DEFAULT", 3)
    r = inv(stocked, "--json")
    assert [x["lot_number"] for x in json.loads(r.stdout)] == ["S1", "S3", "S0"]
    assert r.stderr == NOTE.format(n=3, total=4)


#: What every paged listing's --limit refuses, in the same words (attack s4 finding 11: one
#: type, cli.types.PageSize); tests/test_store_listing.py runs them on batch list.
RANGE = "is not from 1 to 1,000,000,000 (--no-limit shows every one)"
PAGE_SIZE_REFUSALS = [
    (["--limit", "0"], f"Error: Invalid value for '--limit': 0 {RANGE}"),
    (["--limit", "000"], f"Error: Invalid value for '--limit': 000 {RANGE}"),
    (["--limit", "1e3"], "'1e3' is not a whole number written with the digits 0-9"),
    (["--limit", "NaN"], "'NaN' is not a whole number written with the digits 0-9"),
    (["--limit", "-5"], "'-5' is not a whole number written with the digits 0-9"),
    (["--limit", "+3"], "'+3' is not a whole number written with the digits 0-9"),
    (["--limit", "1.5"], "'1.5' is not a whole number written with the digits 0-9"),
    (["--limit", "0x10"], "'0x10' is not a whole number written with the digits 0-9"),
    (["--limit", "1_000"], "'1_000' is not a whole number written with the digits 0-9"),
    (["--limit", " 5"], "' 5' is not a whole number written with the digits 0-9"),
    (["--limit", "5 "], "'5 ' is not a whole number written with the digits 0-9"),
    (["--limit", ""], "'' is not a whole number written with the digits 0-9"),
    (["--limit", "\u0663"], "'\u0663' is not a whole number written with the digits 0-9"),
    (["--limit", "\uff15"], "'\uff15' is not a whole number written with the digits 0-9"),
    # invisible characters are shown escaped, so the line says what was typed
    (["--limit", "5\u200b"], "'5\\u200b' is not a whole number written with the digits 0-9"),
    (["--limit", "\u202e5"], "'\\u202e5' is not a whole number written with the digits 0-9"),
    (["--limit", "9" * 300], f"99999999999999999999... (300 digits) {RANGE}"),
    (["--limit", "9" * 5000], "Error: Invalid value for '--limit': 99999999999999999999... "
                              f"(5,000 digits) {RANGE}"),
    (["--limit", "1000000001"], f"Error: Invalid value for '--limit': 1000000001 {RANGE}"),
]


@pytest.mark.parametrize(("args", "message"), [
    (["--limit", "2", "--no-limit"], "Error: give --limit N or --no-limit, not both"),
    (["--low", "--limit", "2"], "Error: --low lists every ingredient at or below its "
                                "reorder point; --limit and --no-limit do not apply to it"),
    *PAGE_SIZE_REFUSALS,
])
def test_bad_limits_are_one_usage_line(stocked, args, message):
    r = inv(stocked, *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output and r.stdout == ""
    assert r.stderr.splitlines()[-1].startswith("Error: ")


def test_library_limit_and_count(stocked):
    with Store.open(stocked) as s:
        assert s.count_lots() == 5 and s.count_lots(include_empty=False) == 4
        assert [x["lot_number"] for x in s.lots(limit=2, include_empty=False)] == ["S1", "S3"]
        assert s.lots(lot_number="S4")[0]["on_hand"] == Decimal(0)
        for bad in (0, -1, True, 2.0, "3"):
            with pytest.raises(InputError, match="^limit: "):
                s.lots(limit=bad)
