"""docs/deploy.md's backup check on PostgreSQL (issue 20; attack s4 finding 2): pg_dump,
createdb, pg_restore --no-owner, then `db verify` on the restored copy. A restored schema
prints some definitions differently from the migrations' own (an AND chain grouped another
way, a view's constant column named); `db verify` compares both after the same round trip
on the server, so a good backup verifies and a changed one still does not."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.store import Store, postgres
from conftest import fresh_pg_url
from signoff_support import ENV, add_users


def _tool(cluster, name, *args, user="postgres"):
    out = subprocess.run(cluster.prefix + [str(cluster.bin / name), "-h", "127.0.0.1", "-p",
                                           str(cluster.port), "-U", user, *args],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


def _script(cluster, sql):
    out = subprocess.run(cluster.prefix + [str(cluster.bin / "psql"), "-X", "-q", "-v",
                                           "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                           str(cluster.port), "-U", "postgres", "-d",
                                           "postgres", "-f", "-"],
                         input=sql, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def cli_run(*args):
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.fixture
def group(pg_cluster):
    """A group set up as deploy.md says: init-roles' script, migrated by the owner, with
    records written by the service role."""
    tag = uuid.uuid4().hex[:8]
    names = {"database": f"bk_{tag}", "owner": f"bown_{tag}", "service": f"bsvc_{tag}"}
    _script(pg_cluster, postgres.roles_sql(**names))
    owner = pg_cluster.url(names["database"], names["owner"])
    assert cli_run("db", "migrate", "--db", owner).exit_code == 0
    with Store.open(owner) as s:
        add_users(s, "ana")
    return pg_cluster, names, owner


def test_the_backup_recipe_of_docs_deploy_verifies(group, tmp_path):
    cluster, names, owner = group
    anchor = tmp_path / "ldn.anchor"
    r = cli_run("db", "anchor", "--db", owner, "--output", str(anchor))
    assert r.exit_code == 0, r.output
    dump = cluster.folder / f"{names['database']}.dump"  # a folder postgres may write in
    # pg_dump --format=custom --file=ldn-2026-11-30.dump ldn   (as the owner)
    _tool(cluster, "pg_dump", "--format=custom", f"--file={dump}", names["database"],
          user=names["owner"])
    # createdb ldn_check && pg_restore --dbname=ldn_check --no-owner ldn-2026-11-30.dump
    check = f"{names['database']}_check"
    _tool(cluster, "createdb", check)
    _tool(cluster, "pg_restore", f"--dbname={check}", "--no-owner", str(dump))
    # compounding db verify --db postgresql://postgres@localhost/ldn_check
    restored = cluster.url(check)
    r = cli_run("db", "verify", "--db", restored, "--anchor", str(anchor))
    assert r.exit_code == 0, r.output
    assert r.output.startswith("OK: integrity check passed, schema as migrated, ")
    assert "Anchor: the " in r.output
    # the database it was dumped from verifies as well, as the owner and as the superuser
    for url in (owner, cluster.url(names["database"])):
        assert cli_run("db", "verify", "--db", url).exit_code == 0
    # and a dump of the restored copy, restored again, still verifies (stable)
    again = cluster.folder / f"{check}.dump"
    _tool(cluster, "pg_dump", "--format=custom", f"--file={again}", check)
    _tool(cluster, "createdb", f"{check}2")
    _tool(cluster, "pg_restore", f"--dbname={check}2", "--no-owner", str(again))
    assert cli_run("db", "verify", "--db", cluster.url(f"{check}2")).exit_code == 0


#: Changes of meaning made in a restored-looking way: each is still found.
CHANGED = [
    ("a check loosened, written as a restore writes it",
     "ALTER TABLE users DROP CONSTRAINT users_name_check, ADD CONSTRAINT users_name_check "
     "CHECK (((length((name)::text) >= 1) AND (length((name)::text) <= 40) AND "
     "((name)::text ~ '^[A-Za-z][A-Za-z0-9._-]*$'::text)))",
     "schema: table users differs from what its migration made"),
    ("a default changed", "ALTER TABLE batches ALTER COLUMN status SET DEFAULT 'released'",
     "schema: table batches differs from what its migration made"),
    ("a view's constant changed", None,  # its own text with 'weighing' made 'weighed'
     "schema: view stock_movements differs from what its migration made"),
    ("a trigger's condition changed",
     "DROP TRIGGER weighings_stock ON weighings; CREATE TRIGGER weighings_stock AFTER INSERT "
     "ON weighings FOR EACH ROW WHEN (NEW.component_lot_id IS NULL) EXECUTE FUNCTION "
     "{fn}()",
     "schema: trigger weighings_stock on weighings differs from what its migration made"),
]


@pytest.fixture
def pg_store(pg_cluster):
    url = fresh_pg_url(pg_cluster)
    with Store.open(url) as store:
        add_users(store, "ana")
    return url


def _problems(url):
    r = cli_run("db", "verify", "--db", url, "--json")
    return r.exit_code, json.loads(r.output)["problems"]


def test_the_same_definitions_written_as_a_restore_writes_them_verify(pg_store):
    """The users name check and the stock_movements view, replaced by the text a
    dump/restore gives them (same meaning): no problem."""
    with Store.open(pg_store) as store:
        view = store.scalar("SELECT pg_get_viewdef('stock_movements'::regclass)")
        store.db.pg.execute(
            "ALTER TABLE users DROP CONSTRAINT users_name_check, ADD CONSTRAINT "
            "users_name_check CHECK (((length((name)::text) >= 2) AND "
            "(length((name)::text) <= 40) AND ((name)::text ~ "
            "'^[A-Za-z][A-Za-z0-9._-]*$'::text)))")
        restored_view = view.replace("'weighing'::text,", "'weighing'::text AS text,")
        assert restored_view != view
        store.db.pg.execute(f"CREATE OR REPLACE VIEW stock_movements AS {restored_view}")
    assert _problems(pg_store) == (0, [])


@pytest.mark.parametrize("case, sql, problem", CHANGED, ids=[c[0] for c in CHANGED])
def test_a_change_of_meaning_is_still_found(pg_store, case, sql, problem):
    with Store.open(pg_store) as store:
        fn = store.scalar("SELECT p.proname FROM pg_trigger t JOIN pg_proc p "
                          "ON p.oid = t.tgfoid JOIN pg_class c ON c.oid = t.tgrelid "
                          "WHERE c.relname = 'weighings' AND t.tgname = 'weighings_stock' "
                          "AND c.relnamespace = to_regnamespace(current_schema())")
        if sql is None:
            view = store.scalar("SELECT pg_get_viewdef('stock_movements'::regclass)")
            changed = view.replace("'weighing'::text", "'weighed'::text", 1)
            assert changed != view
            sql = f"CREATE OR REPLACE VIEW stock_movements AS {changed}"
        for statement in sql.format(fn=fn).split("; "):
            store.db.pg.execute(statement)
    code, problems = _problems(pg_store)
    assert (code, problems) == (1, [problem])
