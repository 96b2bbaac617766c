"""`batch list` pages (issue 18): the newest 50 by default, --limit N, --all; a note on stderr
says how many were left out. The library keeps returning every batch unless asked."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import batch as batch_cli
from compounding.cli import cli
from compounding.errors import InputError
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store
from signoff_support import ENV, add_users, approve_formulas
from test_inventory_list_paging import PAGE_SIZE_REFUSALS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Five capsule batches, made one after another (lot IDs ascending)."""
    path = tmp_path_factory.mktemp("listing") / "l.db"
    reg = Registry.load(ROOT / "formulas")
    with Store.open(path) as s:
        add_users(s, "ana", "bo")
        approve_formulas(s)
        s.receive_lot("naltrexone-hcl", "NX1", date(2099, 1, 31), u.parse("10 g"), "ana")
        s.receive_lot("microcrystalline-cellulose", "MCC1", date(2099, 12, 31),
                      u.parse("500 g"), "ana")
        f = reg.get("ldn-capsules")
        lots = []
        for _ in range(5):
            rec = s.create_batch(f, reg.catalogue, Settings(),
                                 Order.from_text(f, quantity="30", strength="1.5 mg"),
                                 by="ana", formula_sha256=reg.hashes[f.id])
            lots.append(rec["lot_id"])
    return path, lots


def run(db, *args):
    return CliRunner().invoke(cli, ["batch", "list", *args, "--db", str(db)], env=ENV)


def _lots(output):
    return [line.split()[0] for line in output.splitlines()[2:]]


@pytest.mark.parametrize(("args", "shown", "note"), [
    (["--limit", "2"], 2, "Showing the newest 2 of 5 batches; --limit N for more, --no-limit "
                          "for every one.\n"),
    (["--limit", "5"], 5, ""),
    (["--limit", "9"], 5, ""),
    (["--all"], 5, ""),
    (["--no-limit"], 5, ""),
    (["--status", "planned", "--limit", "1"], 1,
     "Showing the newest 1 of 5 planned batches; --limit N for more, --no-limit for every "
     "one.\n"),
])
def test_batch_list_pages(db, args, shown, note):
    path, lots = db
    r = run(path, *args)
    assert r.exit_code == 0, r.output
    assert _lots(r.stdout) == lots[::-1][:shown]
    assert r.stderr == note


def test_batch_list_shows_the_newest_fifty_by_default(db, monkeypatch):
    path, lots = db
    assert batch_cli.LIST_DEFAULT == 50
    monkeypatch.setattr(batch_cli, "LIST_DEFAULT", 3)
    r = run(path)
    assert _lots(r.stdout) == lots[::-1][:3]
    assert r.stderr.startswith("Showing the newest 3 of 5 batches;")
    r = run(path, "--json")
    assert [b["lot_id"] for b in json.loads(r.stdout)] == lots[::-1][:3]
    assert r.stderr.startswith("Showing the newest 3 of 5 batches;")


@pytest.mark.parametrize(("args", "message"), [
    (["--limit", "2", "--all"], "give --limit N or --no-limit (--all), not both"),
    (["--limit", "2", "--no-limit"], "give --limit N or --no-limit (--all), not both"),
    *PAGE_SIZE_REFUSALS,
])
def test_batch_list_refuses_bad_limits(db, args, message):
    path, _ = db
    r = run(path, *args)
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize(("args", "message"), PAGE_SIZE_REFUSALS)
def test_both_listings_refuse_a_limit_in_the_same_words(tmp_path, args, message):
    """Attack s4 finding 11: batch list took ' 5' as 5 where inventory list refused it, and
    the two worded their refusals differently; one type now, one line each, the same."""
    path = tmp_path / "t.db"
    Store.open(path).close()
    got = [CliRunner().invoke(cli, [group, "list", *args, "--db", str(path)], env=ENV)
           for group in ("batch", "inventory")]
    assert [r.exit_code for r in got] == [2, 2]
    assert got[0].output == got[1].output
    assert got[0].output.startswith("Error: Invalid value for '--limit': ")
    assert len(got[0].output.splitlines()) == 1


def test_both_listings_take_leading_zeros_and_show_the_same_help(db):
    path, lots = db
    r = run(path, "--limit", "0" * 30 + "2")
    assert r.exit_code == 0 and _lots(r.stdout) == lots[::-1][:2]
    helps = [" ".join(CliRunner().invoke(cli, [group, "list", "--help"]).output.split())
             for group in ("batch", "inventory")]
    assert ("--limit N Show the newest N batches (default 50; 1 to 1,000,000,000). "
            "--no-limit, --all Show every batch (--all is the same).") in helps[0]
    assert ("--limit N Show the N earliest-expiring lots (default 50; 1 to 1,000,000,000). "
            "--no-limit Show every lot.") in helps[1]


def test_library_lists_every_batch_unless_limited(db):
    path, lots = db
    with Store.open(path) as s:
        assert [b["lot_id"] for b in s.list_batches()] == lots[::-1]
        assert [b["lot_id"] for b in s.list_batches(limit=2)] == lots[::-1][:2]
        assert s.count_batches() == 5 and s.count_batches("released") == 0
        for bad in (0, -1, True, 2.0, "2"):
            with pytest.raises(InputError, match="limit"):
                s.list_batches(limit=bad)
