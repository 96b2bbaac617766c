"""`db verify` on PostgreSQL (issue 20) compares the schema with what the applied migrations
make in a scratch schema (rolled back): tables, columns and constraints, indexes, triggers
(enabled or not), trigger functions, views and the group roles' grants. Each tampering is
found and named; a role that may not make the scratch schema is told so, never passed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.store import Store
from conftest import fresh_pg_url
from signoff_support import ENV, add_users

pytestmark = pytest.mark.usefixtures("pg_cluster")

GRANTS = ("schema: the group roles' privileges differ from what the migrations grant on 1 "
          "object ({}); compounding db migrate as the owner role grants them again")

TAMPERING = [
    ("function body replaced",
     "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS "
     "$$BEGIN RETURN NEW; END$$",
     ["schema: function {fn}() differs from what its migration made"]),
    ("trigger dropped", "DROP TRIGGER users_no_delete ON users",
     ["integrity_check: trigger users_no_delete on users is missing",
      "schema: trigger users_no_delete on users is missing (a migration made it)"]),
    ("trigger disabled", "ALTER TABLE users DISABLE TRIGGER users_no_delete",
     ["integrity_check: trigger users_no_delete on users is disabled",
      "schema: trigger users_no_delete on users differs from what its migration made"]),
    ("table added", "CREATE TABLE notes (x int)",
     ["schema: table notes was not made by any migration"]),
    ("not null dropped", "ALTER TABLE users ALTER COLUMN role DROP NOT NULL",
     ["schema: table users differs from what its migration made"]),
    ("check dropped", "ALTER TABLE lot_ids DROP CONSTRAINT lot_ids_lot_id_form",
     ["schema: table lot_ids differs from what its migration made"]),
    ("index added", "CREATE INDEX users_x ON users(role)",
     ["schema: index users_x was not made by any migration"]),
    ("view replaced", "CREATE OR REPLACE VIEW batch_status_counts AS SELECT "
     "status, COUNT(*) AS batches, MIN(compounded_on) AS oldest, MAX(compounded_on) AS "
     "newest FROM batches WHERE status <> 'rejected' GROUP BY status",
     ["schema: view batch_status_counts differs from what its migration made"]),
    ("update granted on history", "GRANT UPDATE ON weighings TO compounding_writer",
     [GRANTS.format("weighings")]),
    ("delete granted on history", "GRANT DELETE ON audit_log TO compounding_writer",
     [GRANTS.format("audit_log")]),
]


@pytest.fixture
def pg_store(pg_cluster):
    pg_cluster.psql("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                    "'compounding_writer') THEN CREATE ROLE compounding_writer NOLOGIN; "
                    "END IF; END$$")
    url = fresh_pg_url(pg_cluster)
    with Store.open(url) as store:
        add_users(store, "ana")
    return url


def verify(url):
    return CliRunner().invoke(cli, ["db", "verify", "--db", url, "--json"], env=ENV)


@pytest.mark.parametrize("case, sql, expected", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_is_named(pg_store, case, sql, expected):
    import json
    r = verify(pg_store)
    assert r.exit_code == 0, r.output  # as migrated
    with Store.open(pg_store) as store:
        fn = store.scalar("SELECT p.proname FROM pg_trigger t JOIN pg_proc p "
                          "ON p.oid = t.tgfoid JOIN pg_class c ON c.oid = t.tgrelid "
                          "WHERE c.relname = 'weighings' AND t.tgname = 'weighings_no_update' "
                          "AND c.relnamespace = to_regnamespace(current_schema())")
        store.db.pg.execute(sql.format(fn=fn))
    r = verify(pg_store)
    assert r.exit_code == 1
    assert json.loads(r.output)["problems"] == [e.format(fn=fn) for e in expected]
    with Store.open(pg_store) as store:  # the scratch schema is gone
        assert store.scalar("SELECT COUNT(*) FROM pg_namespace "
                            "WHERE nspname LIKE 'compounding_verify_%'") == 0


def test_a_role_that_may_not_make_the_scratch_schema_is_told(pg_store, pg_cluster):
    schema = pg_store.split("search_path%3D")[1].split("%2C")[0]
    for sql in ("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                "'verify_reader') THEN CREATE ROLE verify_reader LOGIN; END IF; END$$",
                f"GRANT USAGE ON SCHEMA {schema} TO verify_reader",
                f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO verify_reader"):
        assert pg_cluster.psql(sql, dbname="store_tests").returncode == 0
    r = CliRunner().invoke(cli, ["db", "verify", "--db",
                                 pg_store.replace("postgres@", "verify_reader@")], env=ENV)
    assert r.exit_code == 1
    assert ("schema: not compared: this role may not create a scratch schema to run the "
            "migrations in (permission denied for database store_tests); run db verify as "
            "the owner role") in r.output


def test_migrate_grants_again_what_a_dba_changed(pg_store):
    with Store.open(pg_store) as store:
        store.db.pg.execute("GRANT UPDATE ON weighings TO compounding_writer")
    assert verify(pg_store).exit_code == 1
    r = CliRunner().invoke(cli, ["db", "migrate", "--db", pg_store])
    assert r.output.splitlines()[:2] == [
        "Schema up to date",
        "Privileges of compounding_writer and compounding_reader granted as the migrations "
        "grant them"]
    assert verify(pg_store).exit_code == 0
