"""Store schema: documented schema is the real one, migrations upgrade old databases with
data, and bad database files are refused with one line and left untouched."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from compounding.cli import cli
from compounding.errors import StoreError
from compounding.store import Store
from compounding.store import schema as sch
from compounding.store.migrations import APPEND_ONLY, migrations
from compounding.store.sqlite import applied_migrations

ROOT = Path(__file__).resolve().parent.parent


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_docs_schema_md_is_current():
    assert (ROOT / "docs" / "schema.md").read_text(encoding="utf-8") == sch.schema_markdown()


def test_fresh_schema_equals_documented_sql(tmp_path):
    doc = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    documented = re.search(r"## Full schema.*?```sql\n(.*?)```", doc, re.S).group(1)
    store = Store.open(tmp_path / "fresh.db")
    try:
        assert store.schema_sql() == documented
    finally:
        store.close()


def test_every_table_view_and_column_is_described():
    store = Store.open(":memory:")
    conn = store.db.conn
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='view'")}
    assert tables == set(sch.TABLES)
    assert views == set(sch.VIEWS)
    for name, (_, cols) in {**sch.TABLES, **sch.VIEWS}.items():
        real = [c for c, _ in sch.columns(conn, name)]
        assert set(real) == set(cols), name
        assert all(cols[c].strip() for c in real)
    store.close()


def test_append_only_tables_have_both_triggers():
    store = Store.open(":memory:")
    names = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    for t in APPEND_ONLY:
        assert {f"{t}_no_update", f"{t}_no_delete"} <= names
    store.close()


def test_upgrade_from_earlier_migration_set_keeps_data(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    migrations.apply(db, stop_before="m002_immutability_triggers")
    assert [name for name, _ in applied_migrations(db)] == ["m001_records"]
    db.execute("INSERT INTO component_lots (ingredient, lot_number, expires, potency_percent, "
               "unit, created_by, created_at) VALUES ('naltrexone-hcl', 'OLD1', '2099-01-31', "
               "'99.5', 'mg', 'ana', '2026-01-02T03:04:05.000000Z')")
    db.execute("INSERT INTO lot_receipts (component_lot_id, quantity, received_as, received_by, "
               "received_at) VALUES (1, '5000', '5 g', 'ana', '2026-01-02T03:04:05.000000Z')")
    db.conn.commit()
    db.close()

    store = Store.open(path)
    try:
        assert [m["name"] for m in store.applied_migrations()] == migrations.names()
        row = store.db.execute("SELECT lot_number, on_hand, unit FROM stock_on_hand").fetchone()
        assert row == ("OLD1", 5000.0, "mg")
        lot = store.lots()[0]
        assert str(lot["on_hand"]) == "5000" and str(lot["potency_percent"]) == "99.5"
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.db.execute("UPDATE component_lots SET expires = '2100-01-01'")
        assert store.schema_sql() == sch.fresh_schema()
    finally:
        store.close()


def test_newer_schema_is_refused_and_file_untouched(tmp_path):
    path = tmp_path / "new.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('compounding', 'm999_from_the_future', '2030-01-01')")
    conn.commit()
    conn.close()
    before = sha(path)
    with pytest.raises(StoreError, match="newer schema .* m999_from_the_future"):
        Store.open(path)
    assert sha(path) == before
    result = CliRunner().invoke(cli, ["batch", "list", "--db", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: database ") and result.output.count("\n") == 1
    assert sha(path) == before


def test_corrupt_file_is_refused_and_untouched(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite at all, just bytes\n" * 200)
    before = sha(path)
    result = CliRunner().invoke(cli, ["inventory", "list", "--db", str(path)])
    assert result.exit_code == 1
    assert result.output == (f"Error: database {path} is not an SQLite file (it does not "
                             "start with the SQLite header); it was not changed\n")
    assert sha(path) == before
    assert sorted(os.listdir(tmp_path)) == ["bad.db"]


def test_missing_directory(tmp_path):
    target = tmp_path / "nope" / "x.db"
    result = CliRunner().invoke(cli, ["db", "migrate", "--db", str(target)])
    assert result.exit_code == 1
    assert result.output == f"Error: database directory {target.parent} does not exist\n"
    assert not target.parent.exists()


def test_read_only_directory():
    # chmod does not stop root; use a directory on a read-only file system when there is one
    ro = next((Path(p) for p in ("/sys", "/proc/sys") if Path(p).is_dir()
               and not os.access(p, os.W_OK)), None)
    if ro is None:
        pytest.skip("no read-only directory available")
    with pytest.raises(StoreError) as err:
        Store.open(ro / "c.db")
    assert str(err.value) == f"cannot create database {ro}/c.db: directory {ro} is read-only"
    assert not (ro / "c.db").exists()


def test_read_only_file_is_refused_untouched(tmp_path, monkeypatch):
    path = tmp_path / "ro.db"
    Store.open(path).close()
    before = sha(path)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if (mode == os.W_OK and
                        Path(p) == path) else real(p, mode))
    with pytest.raises(StoreError) as err:
        Store.open(path)
    assert str(err.value) == (f"database {path} is read-only (the file or its directory); "
                              "this command writes, so it needs write access (commands that "
                              "only read work on a read-only database)")
    assert sha(path) == before


def test_open_sets_wal_foreign_keys_busy_timeout(tmp_path):
    store = Store.open(tmp_path / "p.db")
    try:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10000
    finally:
        store.close()


def test_db_path_resolution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMPOUNDING_DB", raising=False)
    r = CliRunner().invoke(cli, ["db", "migrate"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "compounding.db").exists()
    env_db = tmp_path / "env.db"
    r = CliRunner().invoke(cli, ["db", "migrate"], env={"COMPOUNDING_DB": str(env_db)})
    assert r.exit_code == 0 and env_db.exists()
    opt_db = tmp_path / "opt.db"
    r = CliRunner().invoke(cli, ["db", "migrate", "--db", str(opt_db)],
                           env={"COMPOUNDING_DB": str(env_db)})
    names = migrations.names()  # m004 and later: issue 7 and on
    assert names[:4] == ["m001_records", "m002_immutability_triggers", "m003_views",
                         "m004_users_and_signoffs"]
    assert r.stdout == "".join(f"Applied {n}\n" for n in names) + \
        f"{opt_db}: {len(names)} migrations applied\n"
    assert r.stderr == f"Created new database {opt_db}\n"  # issue 12
    r = CliRunner().invoke(cli, ["db", "migrate", "--db", str(opt_db)])
    assert r.output == f"Schema up to date\n{opt_db}: {len(names)} migrations applied\n"


def test_db_schema_command_prints_sql(tmp_path):
    CliRunner().invoke(cli, ["db", "migrate", "--db", str(tmp_path / "s.db")])
    r = CliRunner().invoke(cli, ["db", "schema", "--db", str(tmp_path / "s.db")])
    assert r.exit_code == 0
    assert r.output == sch.fresh_schema()
