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
    (["--limit", "2"], 2, "Showing the newest 2 of 5 batches; --limit N for more, --all for "
                          "every one.\n"),
    (["--limit", "5"], 5, ""),
    (["--limit", "9"], 5, ""),
    (["--all"], 5, ""),
    (["--status", "planned", "--limit", "1"], 1,
     "Showing the newest 1 of 5 planned batches; --limit N for more, --all for every one.\n"),
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
    (["--limit", "2", "--all"], "give --limit N or --all, not both"),
    (["--limit", "0"], "'0' is not a whole number of at least 1 (digits 0-9)"),
    (["--limit", "1e3"], "'1e3' is not a whole number"),
    (["--limit", "NaN"], "'NaN' is not a whole number"),
    (["--limit", "-5"], "'-5' is not a whole number"),
    (["--limit", "1_000"], "'1_000' is not a whole number"),
    (["--limit", "\u0663"], "'\u0663' is not a whole number"),  # Arabic-Indic 3: int() takes it
    (["--limit", "5\u200b"], "is not a whole number"),  # zero-width space
    (["--limit", "9" * 300], "Error: Invalid value for '--limit': 99999999999999999999... is "
                             "more than 1,000,000,000 (use --all for every batch)"),
    (["--limit", "9" * 5000], "is more than 1,000,000,000"),  # past int()'s 4,300 digits
    (["--limit", "1000000001"], "1000000001 is more than 1,000,000,000"),
])
def test_batch_list_refuses_bad_limits(db, args, message):
    path, _ = db
    r = run(path, *args)
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_library_lists_every_batch_unless_limited(db):
    path, lots = db
    with Store.open(path) as s:
        assert [b["lot_id"] for b in s.list_batches()] == lots[::-1]
        assert [b["lot_id"] for b in s.list_batches(limit=2)] == lots[::-1][:2]
        assert s.count_batches() == 5 and s.count_batches("released") == 0
        for bad in (0, -1, True, 2.0, "2"):
            with pytest.raises(InputError, match="limit"):
                s.list_batches(limit=bad)
