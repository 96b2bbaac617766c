"""`db copy`'s source (issue 20; attack s4 findings 5, 8, 9, 13): only read (a read-only
file or session works), verified once before anything is made at the target, readable out
of PostgreSQL with a site's service role (its schema "not compared" is a warning for a
source), an empty file named as empty; and docs/deploy.md's example counts what a copy
prints."""

from __future__ import annotations

import json
import re
import subprocess
import uuid

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.store import Store, copy as copy_module, postgres
from conftest import fresh_pg_url
from signoff_support import ENV, ROOT
from test_store_copy_pg import rich_store, rows_of


def run(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.fixture
def verified(monkeypatch):
    """Every store `verify` is run on during the test, by path, in order."""
    seen = []
    real = copy_module.verify

    def counting(store):
        seen.append(str(store.path))
        return real(store)
    monkeypatch.setattr(copy_module, "verify", counting)
    return seen


@pytest.mark.parametrize("target", ["new file", "empty store", "postgresql"])
def test_the_source_is_verified_once(tmp_path, verified, target, request):
    """Finding 13: a copy into a new SQLite file verified the source twice."""
    src = tmp_path / "a.db"
    rich_store(src)
    if target == "postgresql":
        dst = fresh_pg_url(request.getfixturevalue("pg_cluster"))
    else:
        dst = str(tmp_path / "b.db")
        if target == "empty store":
            Store.open(dst).close()
    r = run("db", "copy", "--from", str(src), "--to", dst)
    assert r.exit_code == 0, r.output
    assert verified.count(str(src)) == 1
    assert len(verified) == 2  # the source once, the target once (before its commit)


def test_a_refused_source_leaves_a_new_postgresql_target_untouched(tmp_path, pg_cluster):
    """The source is verified before the target is migrated: refused, nothing is made."""
    import sqlite3
    src = tmp_path / "a.db"
    rich_store(src)
    con = sqlite3.connect(src)
    con.execute("DROP TRIGGER component_lots_no_update")
    con.commit()
    con.close()
    dst = fresh_pg_url(pg_cluster)
    r = run("db", "copy", "--from", str(src), "--to", dst)
    assert r.exit_code == 1 and "does not verify" in r.output
    with Store.open(dst, migrate=False) as store:
        assert store.scalar("SELECT COUNT(*) FROM pg_tables "
                            "WHERE schemaname = current_schema()") == 0


def _psql(cluster, sql: str):
    out = subprocess.run(cluster.prefix + [str(cluster.bin / "psql"), "-X", "-q", "-v",
                                           "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                           str(cluster.port), "-U", "postgres", "-d",
                                           "postgres", "-f", "-"],
                         input=sql, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_a_site_copies_the_group_store_out_with_its_service_role(tmp_path, pg_cluster):
    """Finding 8: the service role may not make the scratch schema verify compares the
    schema in; for a source, which is only read, that is a warning: the records, the audit
    chain and the triggers are verified, and the copy is verified in full at the target."""
    tag = uuid.uuid4().hex[:8]
    names = {"database": f"cs_{tag}", "owner": f"csown_{tag}", "service": f"cssvc_{tag}"}
    _psql(pg_cluster, postgres.roles_sql(**names))
    owner = pg_cluster.url(names["database"], names["owner"])
    service = pg_cluster.url(names["database"], names["service"])
    rich_store(owner)
    out = tmp_path / "site.db"
    r = run("db", "copy", "--from", service, "--to", str(out))
    assert r.exit_code == 0, r.output
    assert r.stderr == (
        f"Warning: --from {service}: schema not compared (this role may not create a scratch "
        "schema to run the migrations in (permission denied for database "
        f"{names['database']})); its records, audit chain and triggers were verified, and "
        "the copy is verified in full, schema included, at the target\n")
    warning = r.stderr
    assert r.stdout.startswith(f"Copied {service} to {out} (site NYC): ")
    assert rows_of(out) == {t: rows for t, rows in rows_of(owner).items()} | {
        "audit_log": rows_of(out)["audit_log"]}
    assert run("db", "verify", "--db", str(out)).exit_code == 0
    r = run("db", "copy", "--from", service, "--to", str(tmp_path / "again.db"), "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["warnings"] == [warning[len("Warning: "):].strip()]
    # the service role still may not copy INTO the group's database (it cannot suspend
    # the history triggers): unchanged, one line
    fresh = tmp_path / "fresh.db"
    rich_store(fresh, site="BOS")
    r = run("db", "copy", "--from", str(fresh), "--to", service)
    assert r.exit_code == 1 and "already holds records" in r.output
    # a damaged source is still refused with the service role: a trigger gone
    with Store.open(owner) as o:
        o.execute("DROP TRIGGER lot_receipts_no_update ON lot_receipts")
    r = run("db", "copy", "--from", service, "--to", str(tmp_path / "third.db"))
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: --from {service} does not verify (1 problem; the "
                               "first: integrity_check: trigger lot_receipts_no_update on "
                               "lot_receipts is missing)")
    assert not (tmp_path / "third.db").exists()


def test_a_read_only_postgresql_session_is_enough(tmp_path, pg_cluster):
    """Finding 5 on PostgreSQL: the source session is read-only (the server refuses any
    write); the copy works."""
    url = fresh_pg_url(pg_cluster)
    rich_store(url)
    before = rows_of(url)
    read_only = url.replace("?options=", "?options=-cdefault_transaction_read_only%3Don%20")
    assert read_only != url
    with Store.open(read_only, migrate=False) as probe:  # the session is read-only indeed
        assert probe.scalar("SHOW default_transaction_read_only") == "on"
    r = run("db", "copy", "--from", read_only, "--to", str(tmp_path / "b.db"))
    assert r.exit_code == 0, r.output
    assert rows_of(url) == before


def test_an_empty_source_is_named_as_empty(tmp_path):
    """Finding 9: an empty file was told to be migrated (which would make it an empty
    store); it is named as empty, as db verify names it, and left as it is."""
    (tmp_path / "empty.db").write_bytes(b"")
    for to in (tmp_path / "out.db", tmp_path / "out2.db"):
        r = run("db", "copy", "--from", str(tmp_path / "empty.db"), "--to", str(to))
        assert (r.exit_code, r.output) == (
            2, f"Error: --from: database {tmp_path / 'empty.db'} is empty (0 bytes), not a "
               "compounding database; it was not changed\n")
        assert not to.exists()
    assert (tmp_path / "empty.db").stat().st_size == 0


def test_docs_deploy_counts_the_tables_a_copy_prints(tmp_path):
    """Finding 14: deploy.md said 31 tables while a copy printed 37."""
    src = tmp_path / "a.db"
    rich_store(src)
    r = run("db", "copy", "--from", str(src), "--to", str(tmp_path / "b.db"), "--json")
    tables = len(json.loads(r.stdout)["counts"])
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    found = re.search(r"Copied old/compounding\.db to new/compounding\.db \(site MAIN\): "
                      r"[\d,]+ rows in (\d+) tables", text)
    assert found and int(found[1]) == tables
