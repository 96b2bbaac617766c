"""The store's rooms (issue 13): a thin facade, SQLite kept in its backend, and the hostile
inputs found while splitting it."""

from __future__ import annotations

import ast
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.errors import InputError
from compounding.store import Store, inventory, users
from compounding.store.core import StoreCore
from signoff_support import ENV, add_users

ROOT = Path(__file__).resolve().parent.parent
STORE_DIR = ROOT / "compounding" / "store"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

#: Every public method ``Store`` had before issue 13: callers (the CLI, the tests, the other
#: engineers' branches) keep using them.
STORE_METHODS = (
    "open", "close", "pending_migrations", "migrate", "applied_migrations", "write", "now",
    "stamp", "today", "rows", "one", "ref", "record_digest", "acting", "audit", "audit_log",
    "verify", "receive_lot", "candidate_lots", "lot", "lots", "find_lot", "allocate_lot_id",
    "create_batch", "get_batch", "batch_components", "batch_steps", "list_batches",
    "set_status", "record_weighing", "weighings", "record_label_print", "label_prints",
    "recall", "schema_sql", "backup")


@pytest.fixture
def store(store_path):
    s = Store.open(store_path, clock=lambda: NOW)
    add_users(s, "ana")
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path):
    """For what only a SQLite file has (pages, the online backup API)."""
    s = Store.open(tmp_path / "t.db", clock=lambda: NOW)
    add_users(s, "ana")
    yield s
    s.close()


def test_store_keeps_every_public_method_it_had():
    missing = [m for m in STORE_METHODS if not callable(getattr(Store, m, None))]
    assert missing == []
    assert issubclass(Store, StoreCore)


def _methods(cls_name: str, path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name)
    return [n for n in cls.body if isinstance(n, ast.FunctionDef)]


def test_the_facade_holds_no_logic_each_method_is_one_delegating_return():
    bad = []
    for fn in _methods("Store", STORE_DIR / "store.py"):
        body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) else fn.body  # docstring
        if not (len(body) == 1 and isinstance(body[0], ast.Return)
                and isinstance(body[0].value, ast.Call)):
            bad.append(fn.name)
    assert bad == []


#: What only SQLite understands; it belongs in sqlite.py (the backend, with its part
#: sqlite_scripts.py) and migrations.py.
SQLITE_ONLY = ("PRAGMA", "BEGIN IMMEDIATE", "sqlite_master", "sqlite_utils", "lastrowid",
               "enable_wal", "table_xinfo")


@pytest.mark.parametrize("path", sorted(p for p in STORE_DIR.glob("*.py")
                                        if p.name not in ("sqlite.py", "sqlite_scripts.py",
                                                          "migrations.py", "postgres.py",
                                                          "pg_migrations.py")),
                         ids=lambda p: p.name)
def test_sqlite_specific_code_lives_in_the_backend_and_the_migrations(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            found += [n for n in names if n.split(".")[0] in ("sqlite3", "sqlite_utils")]
        elif isinstance(node, ast.Attribute) and node.attr in ("lastrowid", "conn"):
            found.append(node.attr)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings and path.name != "schema.py"):
            found += [w for w in SQLITE_ONLY if w in node.value]
    assert found == []


#: What only PostgreSQL understands; it belongs in postgres.py and the pg_*.py modules (#20:
#: pg_migrations, pg_copy for db copy, pg_schema for db verify).
POSTGRES_ONLY = ("plpgsql", "pg_advisory", "pg_catalog", "pg_trigger", "RETURNING",
                 "citext", "::")


@pytest.mark.parametrize("path", sorted(p for p in STORE_DIR.glob("*.py")
                                        if p.name not in ("postgres.py", "schema.py")
                                        and not p.name.startswith("pg_")),
                         ids=lambda p: p.name)
def test_postgresql_specific_code_lives_in_its_backend_and_migrations(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            found += [n for n in names if n.split(".")[0] == "psycopg"]
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings):
            found += [w for w in POSTGRES_ONLY if w in node.value]
    assert found == []


# ---------------------------------------------------------------- expiring within N days

@pytest.mark.parametrize("days, cutoff", [
    (0, date(2026, 3, 1)),
    (30, date(2026, 3, 31)),
    (365, date(2027, 3, 1)),
    (2_912_382, date(9999, 12, 30)),
    (2_912_383, date(9999, 12, 31)),            # the last representable date
    (2_912_384, date.max),                      # past year 9999: every lot
    (10 ** 20, date.max),                       # once an OverflowError traceback (issue 13)
])
def test_expiry_cutoff(days, cutoff):
    assert inventory.expiry_cutoff(date(2026, 3, 1), days) == cutoff


@pytest.mark.parametrize("days", [-1, 1.5, float("nan"), "5", "٣", True, None, 1e3])
def test_expiry_cutoff_refuses_anything_but_a_whole_number(days):
    with pytest.raises(InputError, match=r"^expiring-within: give a whole number of days, "
                                         r"0 or more, not "):
        inventory.expiry_cutoff(date(2026, 3, 1), days)


def test_a_huge_expiring_within_lists_every_lot_instead_of_a_traceback(store, tmp_path):
    store.receive_lot("naltrexone-hcl", "SOON", date(2026, 3, 20), u.parse("1 g"), "ana")
    store.receive_lot("naltrexone-hcl", "LATER", date(2099, 9, 1), u.parse("1 g"), "ana")
    assert [x["lot_number"] for x in store.lots(expiring_within=10 ** 20)] == ["SOON", "LATER"]
    assert [x["lot_number"] for x in store.lots(expiring_within=19)] == ["SOON"]
    r = CliRunner().invoke(cli, ["inventory", "list", "--expiring-within",
                                 "99999999999999999999", "--json", "--db", store.path],
                           env=ENV)
    assert r.exit_code == 0, r.output
    assert [x["lot_number"] for x in json.loads(r.output)] == ["SOON", "LATER"]


# ---------------------------------------------------------------- the scrypt cost's home

def test_the_suite_lowers_the_scrypt_cost_where_users_reads_it(store):
    assert users.SCRYPT_COST == (2 ** 8, 8, 1)
    stored = store.one("SELECT passphrase_hash FROM users WHERE name = 'ana'")
    assert stored["passphrase_hash"].split("$")[:4] == ["scrypt", "256", "8", "1"]


# ---------------------------------------------------------------- a damaged file

def test_a_damaged_page_anywhere_is_one_error_line_never_a_traceback(sqlite_store, tmp_path):
    store = sqlite_store
    # A page damaged after opening (not the schema page) used to surface in the middle of a
    # command as sqlite3.DatabaseError with a traceback; the core now turns any error of the
    # database itself into one StoreError line naming the file.
    for i in range(40):
        store.receive_lot("naltrexone-hcl", f"NX{i:02d}", date(2027, 1, 1), u.parse("1 g"),
                          "ana")
    store.close()
    good = Path(store.path).read_bytes()
    pages = len(good) // 4096
    assert pages > 8
    garbage = bytes(range(256)) * 16
    outcomes = set()
    for page in range(1, pages):
        bad = tmp_path / f"bad{page}.db"
        bad.write_bytes(good[:page * 4096] + garbage + good[(page + 1) * 4096:])
        for args in (["inventory", "list", "--all"], ["db", "verify"], ["audit"]):
            r = CliRunner().invoke(cli, [*args, "--db", str(bad)], env=ENV)
            assert r.exception is None or isinstance(r.exception, SystemExit), \
                (page, args, r.exception)
            if r.exit_code == 1 and args[0] != "db":
                # a damaged data page, or a damaged schema page (m019's triggers made the
                # schema span more pages): either way one line naming the file
                (line,) = r.output.splitlines()
                assert line.startswith(f"Error: {bad} is not a compounding database or is "
                                       "corrupt (") and line.endswith("); it was not changed")
                assert ("database disk image is malformed" in line
                        or "malformed database schema" in line), (page, args)
            outcomes.add(r.exit_code)
    assert outcomes == {0, 1}  # some pages hold data these commands read, some do not


# ---------------------------------------------------------------- what a lot number may be

@pytest.mark.parametrize("lot, error", [
    ("NX\u200b1", "lot: character U+200B (ZERO WIDTH SPACE) at position 3 is an invisible "
                  "formatting character (zero-width or direction mark)"),
    ("\u202eNX1", "lot: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1 is an "
                  "invisible formatting character (zero-width or direction mark)"),
    ("NX\x071", "lot: character U+0007 (ALERT) at position 3 is a control "
                "character or line break"),
    ("NX\u20281", "lot: character U+2028 (LINE SEPARATOR) at position 3 is a control "
                  "character or line break"),
    ("NX\u0663", "lot: character U+0663 (ARABIC-INDIC DIGIT THREE) at position 3 is a digit "
                 "of another script; only printable ASCII is accepted here"),
    ("NXé1", "lot: character U+00E9 (LATIN SMALL LETTER E WITH ACUTE) at position 3 is not "
             "ASCII; only printable ASCII is accepted here"),
    ("A" * 41, "lot: 41 characters; at most 40"),
    (" \t ", "lot: must not be empty"),
])
def test_a_lot_number_is_text_that_prints_as_itself(store, lot, error):
    # Two lot numbers that print alike must be the same lot, or a recall by the number on
    # the container misses one; the database is left unchanged.
    before = store.scalar("SELECT COUNT(*) FROM audit_log")
    with pytest.raises(InputError) as exc:
        store.receive_lot("naltrexone-hcl", lot, date(2027, 1, 1), u.parse("1 g"), "ana")
    assert str(exc.value) == error
    assert store.lots(include_empty=True) == []
    assert store.scalar("SELECT COUNT(*) FROM audit_log") == before


@pytest.mark.parametrize("lot", ["A" * 40, "X'; DROP TABLE batches; --", "NX-2026/001.A_7",
                                 "  NX1  "])
def test_printable_ascii_lot_numbers_are_kept(store, lot):
    got = store.receive_lot("naltrexone-hcl", lot, date(2027, 1, 1), u.parse("1 g"), "ana")
    assert got["lot_number"] == lot.strip()


def test_manufacturer_names_may_be_any_script_but_not_invisible_characters(store):
    lot = store.receive_lot("naltrexone-hcl", "NX1", date(2027, 1, 1), u.parse("1 g"), "ana",
                            manufacturer="Müller Pharma GmbH")
    assert lot["manufacturer"] == "Müller Pharma GmbH"
    with pytest.raises(InputError, match=r"^manufacturer: character U\+200D "):
        store.receive_lot("naltrexone-hcl", "NX2", date(2027, 1, 1), u.parse("1 g"), "ana",
                          manufacturer="Acme\u200dCorp")
    with pytest.raises(InputError, match=r"^manufacturer: 121 characters; at most 120$"):
        store.receive_lot("naltrexone-hcl", "NX2", date(2027, 1, 1), u.parse("1 g"), "ana",
                          manufacturer="M" * 121)


def test_the_cli_refuses_a_look_alike_lot_in_one_line(store):
    r = CliRunner().invoke(cli, ["inventory", "receive", "naltrexone-hcl", "--lot", "NX\u200b1",
                                 "--expires", "2027-12", "--quantity", "1 g", "--by", "ana",
                                 "--db", store.path], env=ENV)
    assert (r.exit_code, r.output) == (2, "Error: lot: character U+200B (ZERO WIDTH SPACE) at "
                                          "position 3 is an invisible formatting character "
                                          "(zero-width or direction mark)\n")


# ---------------------------------------------------------------- a backup killed half-way

SLOW_BACKUP = """
import sqlite3, sys, time
from sqlite_utils import Database
from compounding.store import Store

class SlowConnection(sqlite3.Connection):  # one page at a time, so the kill lands mid-copy
    def backup(self, target, **kw):
        def progress(status, remaining, total):
            print("copied a page", remaining, "left", flush=True)
            time.sleep(0.05)
        return super().backup(target, pages=1, progress=progress)

path, dest = sys.argv[1], sys.argv[2]
store = Store(Database(sqlite3.connect(path, factory=SlowConnection)), path)
store.backup(dest)
print("done", flush=True)
"""


def test_a_backup_killed_half_way_leaves_no_file_that_looks_like_a_backup(sqlite_store, tmp_path):
    store = sqlite_store
    import os
    import signal
    import subprocess
    import sys

    for i in range(30):
        store.receive_lot("naltrexone-hcl", f"NX{i:02d}", date(2027, 1, 1), u.parse("1 g"),
                          "ana")
    store.close()
    dest = tmp_path / "copy.db"
    p = subprocess.Popen([sys.executable, "-c", SLOW_BACKUP, store.path, str(dest)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    first = p.stdout.readline()
    assert first.startswith("copied a page"), (first, p.stderr.read())
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    p.stdout.close()
    p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    assert not dest.exists()
    left = sorted(x.name for x in tmp_path.iterdir() if "partial" in x.name)
    assert left[0] == f"copy.db.partial-{p.pid}"  # (and SQLite's journal of it)
    assert all(x.startswith(f"copy.db.partial-{p.pid}") for x in left)
    again = Store.open(store.path)
    try:
        got = again.backup(dest)
        assert got["integrity_check"] == "ok" and got["counts"]["component_lots"] == 30
        assert again.verify() == []
    finally:
        again.close()
    copy = Store.open(dest, migrate=False)
    try:
        assert len(copy.lots()) == 30
    finally:
        copy.close()

