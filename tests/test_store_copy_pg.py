"""`compounding db copy` between SQLite and PostgreSQL (issue 20), both directions and
PostgreSQL to PostgreSQL: every row the same, both ends verify, identity sequences moved
past the copied ids, refusals that copy nothing, kill -9 mid-copy leaves no half copy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store
from compounding.store.copy import holds_records
from conftest import fresh_pg_url
from signoff_support import ENV, ROOT, add_users, approve_formulas, release

pytestmark = pytest.mark.usefixtures("pg_cluster")


class Clock:
    def __call__(self):
        return datetime(2026, 5, 23, 12, 0, tzinfo=timezone.utc)


def rich_store(path, site="NYC"):
    """Users, approved formulas, stock and a released batch of ``site``: rows in most
    record tables, sign-offs, the derived stock totals, a site lot ID."""
    reg = Registry.load(ROOT / "formulas")
    with Store.open(path, clock=Clock()) as store:
        store.site = site
        add_users(store, "ana")
        approve_formulas(store, reg)
        store.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("5 g"), "ana")
        store.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 12, 31),
                          u.parse("500 g"), "ana")
        f = reg.get("ldn-capsules")
        order = Order.from_text(f, quantity="100", strength="1.5 mg")
        rec = store.create_batch(f, reg.catalogue, Settings(), order, by="ana",
                                 formula_sha256=reg.hashes[f.id])
        release(store, rec["lot_id"])
        return rec["lot_id"]


def rows_of(path) -> dict[str, list]:
    """Every copied table's rows, as the store reads them (backend-neutral), in key order."""
    from compounding.store.copy import NOT_COPIED, backend_ops
    with Store.open(path, migrate=False) as store:
        out = {}
        for table in backend_ops(store).load_order(store.db):
            if table in NOT_COPIED:
                continue
            cols = [c for c, _ in store.backend.columns(store.db, table)]
            rows = [tuple(r[c] for c in sorted(cols)) for r in store.rows(
                f"SELECT * FROM {table}")]
            out[table] = sorted(rows, key=repr)
        return out


def run(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


def end(kind, tmp_path, pg_cluster, name):
    return str(tmp_path / f"{name}.db") if kind == "sqlite" else fresh_pg_url(pg_cluster)


@pytest.mark.parametrize("source, target", [("sqlite", "postgresql"),
                                            ("postgresql", "sqlite"),
                                            ("postgresql", "postgresql")])
def test_copy_between_backends(tmp_path, pg_cluster, source, target):
    src, dst = end(source, tmp_path, pg_cluster, "a"), end(target, tmp_path, pg_cluster, "b")
    lot = rich_store(src)
    before = rows_of(src)
    r = run("db", "copy", "--from", src, "--to", dst, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["sites"] == ["NYC"]
    assert data["counts"] == {t: len(rows) for t, rows in before.items()}
    assert data["counts"]["weighings"] > 0 and data["counts"]["signatures"] > 0
    after = rows_of(dst)
    audit = after.pop("audit_log")
    assert after == {t: v for t, v in before.items() if t != "audit_log"}
    assert set(before["audit_log"]) <= set(audit)
    assert len(audit) == len(before["audit_log"]) + 1
    for path in (src, dst):
        v = run("db", "verify", "--db", path)
        assert v.exit_code == 0, v.output
    # the target works on: the next id of every table follows the copied ones
    with Store.open(dst, clock=Clock()) as store:
        store.site = "NYC"
        lot_row = store.receive_lot("naltrexone-hcl", "NX2", date(2027, 5, 31),
                                    u.parse("1 g"), "ana")
        assert store.scalar("SELECT MAX(id) FROM component_lots") == 3
        assert store.scalar("SELECT lot_id FROM batches") == lot
        assert store.verify() == []
    assert lot_row is not None


def test_a_copy_into_postgresql_leaves_planner_statistics(tmp_path, pg_cluster):
    """Every copied table is analyzed before the commit (reltuples is -1 on a table never
    analyzed): the first queries after a copy are planned from the real sizes, not read
    whole on default guesses (a recall read every label print, bench/bench_pg.py)."""
    src, dst = str(tmp_path / "a.db"), fresh_pg_url(pg_cluster)
    rich_store(src)
    with Store.open(dst) as store:
        never = store.column("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON "
                             "n.oid = c.relnamespace WHERE n.nspname = current_schema() AND "
                             "c.relkind = 'r' AND c.reltuples < 0")
    assert "weighings" in never  # a new database: nothing analyzed yet
    assert run("db", "copy", "--from", src, "--to", dst).exit_code == 0
    with Store.open(dst) as store:
        counts = {r["relname"]: r["reltuples"] for r in store.rows(
            "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND c.relname <> '_pg_migrations'")}
        assert {t for t, n in counts.items() if n < 0} == set()
        assert counts["weighings"] == store.scalar("SELECT COUNT(*) FROM weighings") > 0


def test_copy_of_the_copy_is_the_same_store(tmp_path, pg_cluster):
    """SQLite -> PostgreSQL -> SQLite: every record comes back as it was."""
    a, pg, b = str(tmp_path / "a.db"), fresh_pg_url(pg_cluster), str(tmp_path / "b.db")
    rich_store(a)
    assert run("db", "copy", "--from", a, "--to", pg).exit_code == 0
    r = run("db", "copy", "--from", pg, "--to", b)
    assert r.exit_code == 0, r.output
    first, back = rows_of(a), rows_of(b)
    assert set(first["audit_log"]) <= set(back["audit_log"])
    for table in first:
        if table != "audit_log":
            assert back[table] == first[table], table
    assert len(back["audit_log"]) == len(first["audit_log"]) + 2  # one db.copy per hop
    assert run("db", "verify", "--db", b).exit_code == 0


def test_refused_into_a_postgresql_store_holding_the_same_site(tmp_path, pg_cluster):
    src, dst = str(tmp_path / "a.db"), fresh_pg_url(pg_cluster)
    rich_store(src)
    rich_store(dst)
    before = rows_of(dst)
    r = run("db", "copy", "--from", src, "--to", dst)
    assert r.exit_code == 1
    assert r.output == (f"Error: --to {dst} already holds records of site NYC; copying would "
                        "double them (nothing was copied)\n")
    assert rows_of(dst) == before


def test_a_password_in_the_url_is_never_shown(tmp_path, pg_cluster):
    src = str(tmp_path / "a.db")
    rich_store(src)
    dst = fresh_pg_url(pg_cluster).replace("postgres@", "postgres:s3cret@")
    r = run("db", "copy", "--from", src, "--to", dst)
    assert r.exit_code == 0, r.output
    assert "s3cret" not in r.output and "postgres:***@" in r.output.splitlines()[0]
    with Store.open(dst) as store:
        assert "s3cret" not in store.scalar("SELECT details FROM audit_log "
                                            "ORDER BY id DESC LIMIT 1")


def test_a_role_that_may_not_suspend_triggers_copies_nothing(tmp_path, pg_cluster):
    """The service role (compounding_writer) owns no table: it cannot disable the history
    triggers, so the copy is refused in one line and the target stays empty."""
    src, dst = str(tmp_path / "a.db"), fresh_pg_url(pg_cluster)
    rich_store(src)
    Store.open(dst).close()  # migrated by the owner (postgres here)
    schema = dst.split("search_path%3D")[1].split("%2C")[0]
    for sql in ("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                "'copy_service') THEN CREATE ROLE copy_service LOGIN; END IF; END$$",
                f"GRANT USAGE ON SCHEMA {schema} TO copy_service",
                f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {schema} TO copy_service",
                "GRANT CONNECT ON DATABASE store_tests TO copy_service"):
        out = pg_cluster.psql(sql, dbname="store_tests")
        assert out.returncode == 0, out.stderr
    service = dst.replace("postgres@", "copy_service@")
    r = run("db", "copy", "--from", src, "--to", service)
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: --to {service}: this role may not suspend the "
                               "history triggers for the copy (must be owner of table ")
    assert r.output.endswith("); copy into PostgreSQL as the owner role that ran 'db "
                             "migrate' (docs/deploy.md; nothing was copied)\n")
    assert len(r.output.splitlines()) == 1
    with Store.open(dst) as store:
        assert not holds_records(store)


# ------------------------------------------------------------------ kill -9 (real processes)

def start_copy(src, dst):
    return subprocess.Popen([sys.executable, "-m", "compounding", "db", "copy", "--from",
                             str(src), "--to", str(dst)], cwd=ROOT, env={**os.environ, **ENV},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def big(tmp_path_factory, pg_cluster):
    """A SQLite store of 10,000 audit entries, and how long a whole copy of it into
    PostgreSQL takes here now."""
    from compounding.store.core import StoreCore
    folder = tmp_path_factory.mktemp("bigpg")
    path = folder / "big.db"
    rich_store(path)
    store = StoreCore.open(path)
    with store.write():
        for i in range(10000):
            store.audit("test.note", "ana", {"n": i})
    store.close()
    started = time.monotonic()
    proc = start_copy(path, fresh_pg_url(pg_cluster))
    out = proc.communicate()
    assert proc.returncode == 0, out
    return path, time.monotonic() - started


@pytest.mark.parametrize("share", [0.2, 0.5, 0.8, 0.95])
def test_kill_9_mid_copy_into_postgresql_leaves_no_half_copy(tmp_path, pg_cluster, big,
                                                             share):
    big, took = big
    dst = fresh_pg_url(pg_cluster)
    Store.open(dst).close()
    proc = start_copy(big, dst)
    time.sleep(took * share)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store.open(dst) as store:  # the server rolled the dead session's transaction back
        for _ in range(100):  # until the server has noticed the closed connection
            if not store.rows("SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                              "AND application_name = 'compounding' AND state <> 'idle' "
                              "AND datname = current_database() AND query LIKE 'COPY%'"):
                break
            time.sleep(0.1)
        assert store.verify() == []
        entries = store.scalar("SELECT COUNT(*) FROM audit_log")
        assert entries in (0, audit_entries(big) + 1), entries  # nothing, or the whole copy
    r = run("db", "copy", "--from", str(big), "--to", dst)  # done again, or refused whole
    assert r.exit_code in (0, 1), r.output
    assert run("db", "verify", "--db", dst).exit_code == 0
    with Store.open(dst) as store:
        assert store.scalar("SELECT COUNT(*) FROM audit_log") == audit_entries(big) + 1


def audit_entries(path) -> int:
    with Store.open(path, migrate=False) as store:
        return store.scalar("SELECT COUNT(*) FROM audit_log")


def test_a_database_that_does_not_sort_in_byte_order_is_refused(tmp_path, pg_cluster):
    """Lot IDs must list in SQLite's order at both ends: an ICU-collated database is not
    copied into (nor from)."""
    out = pg_cluster.psql("CREATE DATABASE icu_sorted TEMPLATE template0 "
                          "LOCALE_PROVIDER icu ICU_LOCALE 'en'")
    if out.returncode:
        pytest.skip(f"this PostgreSQL cannot create an ICU database: {out.stderr.strip()}")
    try:
        pg_cluster.psql("CREATE EXTENSION IF NOT EXISTS citext", dbname="icu_sorted")
        src, dst = str(tmp_path / "a.db"), pg_cluster.url("icu_sorted")
        rich_store(src)
        r = run("db", "copy", "--from", src, "--to", dst)
        assert r.exit_code == 1
        assert r.output == (f"Error: --to {dst}: the database sorts text by collation "
                            "'icu:en', not byte order as SQLite does (lot IDs would list in "
                            "another order); create it with LC_COLLATE 'C' as 'compounding db "
                            "init-roles' prints (nothing was copied)\n")
        with Store.open(dst) as store:
            assert not holds_records(store)
    finally:
        pg_cluster.psql("DROP DATABASE icu_sorted WITH (FORCE)")


def test_a_postgresql_store_into_itself_is_refused(tmp_path, pg_cluster):
    url = fresh_pg_url(pg_cluster)
    Store.open(url).close()
    r = run("db", "copy", "--from", url, "--to", url)
    assert r.exit_code == 1
    assert r.output == (f"Error: --to {url} is the same database and schema as --from; "
                        "choose another target (nothing was copied)\n")
    with Store.open(url) as store:
        assert store.scalar("SELECT COUNT(*) FROM audit_log") == 0


@pytest.mark.parametrize("url, message", [
    ("postgresql://postgres\u200b@127.0.0.1:1/x",
     "Error: --from: database URL: character U+200B (ZERO WIDTH SPACE) at position 22 is an "
     "invisible formatting character; type the URL again"),
    ("postgresql://postgres\u202e@127.0.0.1:1/x",
     "Error: --from: database URL: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 22 "
     "is an invisible formatting character; type the URL again"),
    ("postgresql://postgres:s3cret@127.0.0.1:1/x",
     "Error: --from: cannot open database postgresql://postgres:***@127.0.0.1:1/x: connection "
     "failed: connection to server at \"127.0.0.1\", port 1 failed: Connection refused"),
])
def test_hostile_source_urls_are_one_line(tmp_path, url, message):
    r = run("db", "copy", "--from", url, "--to", str(tmp_path / "b.db"))
    assert r.exit_code == 2
    assert r.output.splitlines()[0] == message and "s3cret" not in r.output
    assert not (tmp_path / "b.db").exists()
