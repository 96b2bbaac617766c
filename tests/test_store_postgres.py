"""The PostgreSQL backend (issue 20): what only it has, and that it mirrors SQLite.

The store's behaviour on both backends is tested by the store tests themselves, through the
parametrised ``store_path`` fixture (conftest.py); this file covers the backend's own parts:
the migration set mirroring SQLite's, placeholders, the URL, the roles and grants, errors.
"""

from __future__ import annotations

import pytest

from compounding.store import postgres, resolve_db_path
from compounding.store.pg_migrations import MIGRATIONS
from compounding.store.sqlite import known_migrations


def test_the_postgresql_migrations_mirror_the_sqlite_ones_by_name_in_order():
    from conftest import pg_mirror_lag
    if pg_mirror_lag():
        pytest.skip(f"not mirrored yet: {', '.join(pg_mirror_lag())}")
    assert [n for n, _ in MIGRATIONS] == known_migrations()


@pytest.mark.parametrize("sql, params, out", [
    ("SELECT * FROM t WHERE a = ? AND b = ?", True, "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("INSERT INTO t (a) VALUES (:a)", True, "INSERT INTO t (a) VALUES (%(a)s)"),
    ("SELECT 'is it? :no' WHERE x LIKE '5%' AND y = ?", True,
     "SELECT 'is it? :no' WHERE x LIKE '5%%' AND y = %s"),
    ("SELECT x::numeric, 10 % 3 FROM t WHERE a = ?", True,
     "SELECT x::numeric, 10 %% 3 FROM t WHERE a = %s"),
    ("SELECT 'it''s ?' , ?", True, "SELECT 'it''s ?' , %s"),
    ("SELECT '5%' FROM t", False, "SELECT '5%' FROM t"),
])
def test_placeholders_are_translated_outside_literals(sql, params, out):
    assert postgres.translate(sql, params) == out


@pytest.mark.parametrize("given, expected", [
    ("postgresql://svc@db.example:5432/ldn", "postgresql://svc@db.example:5432/ldn"),
    ("postgres://svc@db/ldn", "postgres://svc@db/ldn"),
    ("POSTGRESQL://svc@db/ldn", "POSTGRESQL://svc@db/ldn"),
])
def test_a_url_stays_text_and_a_path_is_a_path(given, expected, tmp_path):
    assert resolve_db_path(given, {}, tmp_path) == expected
    assert resolve_db_path(None, {"COMPOUNDING_DB": given}, tmp_path) == expected
    assert str(resolve_db_path("postgresql.db", {}, tmp_path)) == "postgresql.db"


@pytest.mark.parametrize("url, shown", [
    ("postgresql://svc:s3cret@db:5432/ldn", "postgresql://svc:***@db:5432/ldn"),
    ("postgresql://svc@db:5432/ldn", "postgresql://svc@db:5432/ldn"),
    ("postgres://:pw@db/ldn", "postgres://:***@db/ldn"),
])
def test_a_password_in_the_url_is_never_shown(url, shown):
    assert postgres.redact(url) == shown


# ---------------------------------------------------------------- roles and grants (a server)

def _run_script(cluster, sql: str, tmp_path):
    import subprocess
    out = subprocess.run(cluster.prefix + [str(cluster.bin / "psql"), "-X", "-q", "-v",
                                           "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                           str(cluster.port), "-U", "postgres", "-d",
                                           "postgres", "-f", "-"],
                         input=sql, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.fixture
def group_db(pg_cluster, tmp_path):
    """A database set up exactly as ``db init-roles`` prints, migrated by its owner."""
    import uuid

    from compounding.store import Store
    tag = uuid.uuid4().hex[:8]
    names = {"database": f"ldn_{tag}", "owner": f"own_{tag}", "service": f"svc_{tag}"}
    _run_script(pg_cluster, postgres.roles_sql(**names), tmp_path)
    owner_url = pg_cluster.url(names["database"], names["owner"])
    Store.open(owner_url).close()
    return pg_cluster, names, owner_url, pg_cluster.url(names["database"], names["service"])


def test_the_service_role_writes_records_but_never_rewrites_history(group_db):
    from datetime import date

    from compounding import units as u
    from compounding.errors import StoreError
    from compounding.store import Store
    from signoff_support import add_users
    cluster, names, owner_url, service_url = group_db
    with Store.open(owner_url) as o:  # in a group the owner role adds users (attack s4, 1)
        add_users(o, "ana")
    with Store.open(service_url) as s:
        s.receive_lot("naltrexone-hcl", "NX1", date(2030, 1, 31), u.parse("5 g"), "ana")
        # the service role may not make the scratch schema verify compares with: told, so
        # never a pass; the owner's verify compares the schema and passes
        assert s.verify() == [
            "schema: not compared: this role may not create a scratch schema to run the "
            f"migrations in (permission denied for database {names['database']}); run db "
            "verify as the owner role"]
        with Store.open(owner_url) as owner:
            assert owner.verify() == []
        for sql in ("UPDATE lot_receipts SET quantity = '1'", "DELETE FROM audit_log",
                    "TRUNCATE audit_log", "UPDATE users SET role = 'pharmacist'",
                    "DROP TRIGGER lot_receipts_no_update ON lot_receipts",
                    "ALTER TABLE audit_log DISABLE TRIGGER ALL", "DELETE FROM dispensings",
                    "TRUNCATE pending_outputs", "UPDATE pending_outputs SET pid = 1"):
            with pytest.raises(StoreError, match="permission denied|must be owner"):
                s.execute(sql)
        # the print queue is a work queue: a recorded print's row is deleted
        s.execute("UPDATE pending_outputs SET label_print_id = NULL WHERE id = 0")
        s.execute("DELETE FROM pending_outputs WHERE id = 0")
    # the owner drops a trigger: the service still may not update history, and verify
    # names the missing trigger
    with Store.open(owner_url) as o:
        o.execute("DROP TRIGGER lot_receipts_no_update ON lot_receipts")
    with Store.open(service_url) as s:
        with pytest.raises(StoreError, match="permission denied"):
            s.execute("UPDATE lot_receipts SET quantity = '1'")
        assert s.verify() == [
            "integrity_check: trigger lot_receipts_no_update on lot_receipts is missing",
            "schema: not compared: this role may not create a scratch schema to run the "
            f"migrations in (permission denied for database {names['database']}); run db "
            "verify as the owner role"]
    with Store.open(owner_url) as o:  # the owner's verify names it in the schema too
        assert o.verify() == [
            "integrity_check: trigger lot_receipts_no_update on lot_receipts is missing",
            "schema: trigger lot_receipts_no_update on lot_receipts is missing (a migration "
            "made it)"]


def test_a_service_role_cannot_migrate_and_says_who_can(group_db):
    from compounding.errors import StoreError
    from compounding.store import Store
    cluster, names, owner_url, service_url = group_db
    with Store.open(owner_url) as o:  # pretend the last migration is new: forget it
        o.execute("DELETE FROM _pg_migrations WHERE name = 'm015_one_signature_per_act'")
        o.execute("DROP TRIGGER batches_status_once ON batches")
        o.execute("DROP FUNCTION trg_batches_status_once()")
    with pytest.raises(StoreError) as err:
        Store.open(service_url)
    assert str(err.value) == (
        f"database {service_url}: migrations pending (m015_one_signature_per_act) and this "
        "role may not apply them (permission denied for schema public); run "
        "'compounding db migrate' as the owner role (docs/deploy.md)")
    Store.open(owner_url).close()
    Store.open(service_url).close()


@pytest.mark.parametrize("args, message", [
    (["--owner", "Bad-Name"], "--owner: 'Bad-Name' is not a plain PostgreSQL name"),
    (["--service", "x;drop"], "--service: 'x;drop' is not a plain PostgreSQL name"),
    (["--database", "1db"], "--database: '1db' is not a plain PostgreSQL name"),
    (["--database", "d" * 64], "--database: '" + "d" * 64 + "' is not a plain PostgreSQL"),
    (["--owner", "o\u200b"], "--owner: 'o\\u200b' is not a plain PostgreSQL name"),
    (["--owner", "own\n"], "--owner: 'own\\n' is not a plain PostgreSQL name"),
    (["--owner", "x", "--service", "x"], "--owner and --service must be two different roles"),
])
def test_init_roles_refuses_names_it_cannot_write_into_sql(args, message):
    from click.testing import CliRunner

    from compounding.cli import cli
    res = CliRunner().invoke(cli, ["db", "init-roles", *args])
    assert res.exit_code != 0 and res.exception is None or isinstance(res.exception,
                                                                        SystemExit)
    assert res.output.startswith(f"Error: {message}"), res.output
    assert len(res.output.strip().splitlines()) == 1


# ---------------------------------------------------------------- every command, the same

def test_the_readme_workflow_runs_on_postgresql_with_the_same_output(pg_cluster, tmp_path):
    """Issue 20: 'every command works the same with the same messages'. The README's
    workflow (test_readme_runs.py: users, approvals, receiving, a batch weighed, verified,
    released, labels, dispensing, recall), each command a real process with
    ``$COMPOUNDING_DB`` naming a PostgreSQL database, must print what the README shows."""
    import re
    import shutil

    import test_readme_runs as readme
    from conftest import fresh_pg_url
    from compounding.store import Store
    if shutil.which("faketime") is None or not (readme.BIN / "compounding").exists():
        pytest.skip("needs faketime and the installed compounding script")
    url = fresh_pg_url(pg_cluster)
    (tmp_path / ".venv").symlink_to(readme.BIN.parent)
    readme.quickstart_block(tmp_path, readme.env_for(tmp_path, path_with_program=False))
    env = readme.env_for(tmp_path, path_with_program=True)
    env["COMPOUNDING_DB"] = url
    ran = 0
    for command, expected in readme.console_steps():
        if re.search(r"\bserve\b", command):
            continue  # the bench section serves quickstart's SQLite sample
        r = readme.sh(command, tmp_path, env, clock=readme.README_CLOCK)
        got = [readme.mask(x, tmp_path) for x in (r.stdout + r.stderr).splitlines()]
        want = [readme.mask(x, tmp_path) for x in expected]
        assert (r.returncode != 0) == any(x.startswith("Error: ") for x in want), (
            command, got)
        readme.assert_shown_in_order(want, got, command)
        ran += 1
    assert ran > 20
    assert not (tmp_path / "compounding.db").exists()  # it all went to the server
    with Store.open(url) as s:
        assert s.verify() == []
        assert s.column("SELECT status FROM batches") == ["released"]


# ---------------------------------------------------------------- both backends alike

def test_a_refused_statement_leaves_the_transaction_usable_on_both_backends(store_path):
    """SQLite undoes only the refused statement; PostgreSQL would abort the transaction:
    the core's ``refusing`` keeps them alike (a savepoint on PostgreSQL)."""
    from datetime import datetime, timezone

    from compounding.errors import RefusedError
    from compounding.store import Store
    with Store.open(store_path, clock=lambda: datetime(2026, 3, 1, tzinfo=timezone.utc)) as s:
        with s.write():
            with pytest.raises(RefusedError, match="^x: audit_log: an entry must chain"):
                with s.refusing("x: "):
                    s.execute("INSERT INTO audit_log (id, at, actor, action, details, "
                              "prev_hash, hash) VALUES (7, '2026-03-01T00:00:00Z', 'a', 'b', "
                              "'{}', ?, ?)", ["0" * 64, "1" * 64])
            s.audit("note", "ana", {"after": "a refusal"})
        assert [e["action"] for e in s.audit_log()] == ["note"]
        assert s.verify() == []


def test_a_read_only_role_reads_and_is_refused_writes_in_one_line(group_db):
    from compounding.errors import StoreError
    from compounding.store import Store
    cluster, names, owner_url, service_url = group_db
    out = cluster.psql(f"CREATE ROLE rd_{names['owner'][4:]} LOGIN IN ROLE compounding_reader")
    assert out.returncode == 0, out.stderr
    with Store.open(cluster.url(names["database"], f"rd_{names['owner'][4:]}")) as s:
        assert s.list_batches() == []
        with pytest.raises(StoreError) as err:
            s.audit("note", "ana", {})
    reader = cluster.url(names["database"], f"rd_{names['owner'][4:]}")
    # the first write keys the audit chain (issue 12): refused at audit_keys
    assert str(err.value) == (f"database {reader}: permission denied (permission denied for "
                              "table audit_keys)")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- hostile URLs (no server needed)

@pytest.mark.parametrize("url, message", [
    ("postgresql://u@127.0.0.1:1/x\n",
     "database URL: character U+000A (LINE FEED) at position 29 is a control "
     "character or line break; type the URL again"),
    ("postgresql://\u200bu@127.0.0.1:1/x",
     "database URL: character U+200B (ZERO WIDTH SPACE) at position 14 is an invisible "
     "formatting character; type the URL again"),
    ("postgresql://u@127.0.0.1:1/\u202ex",
     "database URL: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 28 is an "
     "invisible formatting character; type the URL again"),
    ("postgresql://u:pw@[::1:5432/x?password=zz",
     'cannot open database postgresql://u:***@[::1:5432/x?password=***: end of string '
     'reached when looking for matching "]" in IPv6 host address in URI: '
     '"postgresql://u:***@[::1:5432/x?password=***"'),
    ("postgresql://u@127.0.0.1:99999/x",
     'cannot open database postgresql://u@127.0.0.1:99999/x: connection is bad: invalid '
     'port number: "99999"'),
])
def test_a_bad_url_is_one_line_and_never_shows_a_password(url, message):
    from compounding.errors import StoreError
    from compounding.store import Store
    with pytest.raises(StoreError) as err:
        Store.open(url)
    assert str(err.value) == message


# ---------------------------------------------------------------- which store: option, env, settings

@pytest.mark.parametrize("option, env, settings, expected", [
    ("a.db", "postgresql://e@h/d", "postgresql://s@h/d", "a.db"),
    (None, "postgresql://e@h/d", "postgresql://s@h/d", "postgresql://e@h/d"),
    (None, None, "postgresql://s@h/d", "postgresql://s@h/d"),
    (None, None, None, "CWD/compounding.db"),
])
def test_the_store_is_the_option_else_the_environment_else_the_settings(option, env, settings,
                                                                         expected, tmp_path):
    environ = {"COMPOUNDING_DB": env} if env else {}
    got = resolve_db_path(option, environ, tmp_path, settings)
    assert str(got) == expected.replace("CWD", str(tmp_path))


@pytest.mark.parametrize("line, result", [
    ('database = "postgresql://svc@db:5432/ldn"', "postgresql://svc@db:5432/ldn"),
    ('database = "stores/site.db"', "DIR/stores/site.db"),
    ('site = "NYC"', None),
    ('database = 5', "Error: SETTINGS: database: must be a postgresql:// URL or a file path"),
    ('database = ""', "Error: SETTINGS: database: must be a postgresql:// URL or a file path"),
    ('database = "a\\u200bb.db"', "Error: SETTINGS: database: character U+200B (ZERO WIDTH "
                                  "SPACE) at position 2 is a control or invisible character"),
    ('database = "a\\nb.db"', "Error: SETTINGS: database: character U+000A (LINE FEED) at "
                              "position 2 is a control or invisible character"),
    ('database = "host=db dbname=ldn user=svc password=pw"',
     "Error: SETTINGS: database: 'host=db dbname=ldn user=svc password=***' is a libpq "
     "keyword/value connection string, not a database file; give it as a URL: "
     "postgresql://svc@db/ldn (the password in ~/.pgpass, $PGPASSFILE or $PGPASSWORD, never "
     "in the URL)"),
])
def test_the_settings_database_key(line, result, tmp_path):
    from compounding.cli import App
    from compounding.cli.db import settings_database
    from compounding.errors import InputError
    from compounding.settings import Settings
    path = tmp_path / "s.toml"
    path.write_text(line + "\n", encoding="utf-8")
    app = App(str(path), None, environ={}, cwd=tmp_path)
    if result and result.startswith("Error: "):
        with pytest.raises(InputError) as err:
            settings_database(app)
        assert f"Error: {err.value}" == result.replace("SETTINGS", str(path))
        return
    got = settings_database(app)
    assert (None if got is None else str(got)) == (
        result.replace("DIR", str(tmp_path)) if result else None)
    if got is not None:  # the full settings models accept the key too
        assert Settings.model_validate({"database": line.split('"')[1]}).database


@pytest.mark.parametrize("db", ["postgresql://svc@db.example:5432/ldn", "stores/site.db"])
def test_serve_workers_get_the_same_store(db):
    """``serve --workers N`` hands its configuration to the workers as text: a URL must
    come back a URL (a Path would fold its '//'), a file a Path."""
    from pathlib import Path

    from compounding.web.app import BenchConfig
    config = BenchConfig(db_path=db if db.startswith("postgresql") else Path(db),
                         settings_path=None, formulas_dir=Path("f"), templates_dir=Path("t"),
                         labels_dir=Path("l"))
    back = BenchConfig.from_environment(config.to_environment())
    assert back.db_path == config.db_path and type(back.db_path) is type(config.db_path)
