"""PostgreSQL connection strings as people type them (issue 20; attack s4 findings 3 and 6).

- A password in a URL (``user:PW@``, ``?password=``, however written) never reaches any
  output: messages, stdout, ``--json``, the anchor file, the audit log. One function
  (``store.pg_url.redact``) shows a URL everywhere; each place that prints one is run here
  with a password in the URL.
- A libpq keyword/value string (``host=... dbname=...``) given where a database goes is
  refused in one line showing the URL to type, password redacted, and nothing is created
  (it used to become a new SQLite file named after it)."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.store import Store, postgres
from compounding.store.pg_url import (parse_keyword_value, redact, refuse_keyword_value,
                                      url_for)
from conftest import fresh_pg_url
from signoff_support import ENV, add_users

SECRET = "s3cret-Pw"


@pytest.mark.parametrize("given, shown", [
    ("postgresql://svc:s3cret-Pw@db:5432/ldn", "postgresql://svc:***@db:5432/ldn"),
    ("postgres://:s3cret-Pw@db/ldn", "postgres://:***@db/ldn"),
    ("POSTGRESQL://svc:s3cret-Pw@db/ldn", "POSTGRESQL://svc:***@db/ldn"),
    ("postgresql://svc@db/ldn?password=s3cret-Pw", "postgresql://svc@db/ldn?password=***"),
    ("postgresql://svc@db/ldn?sslmode=require&PASSWORD=s3cret-Pw&application_name=x",
     "postgresql://svc@db/ldn?sslmode=require&PASSWORD=***&application_name=x"),
    # libpq decodes a parameter's name: %70assword is password
    ("postgresql://svc@db/ldn?%70assword=s3cret-Pw", "postgresql://svc@db/ldn?%70assword=***"),
    ("postgresql://svc@db/ldn?sslpassword=s3cret-Pw", "postgresql://svc@db/ldn?sslpassword=***"),
    # a password holding @ or / is hidden whole
    ("postgresql://svc:s3c@ret/Pw@db/ldn", "postgresql://svc:***@db/ldn"),
    ("postgresql://svc@db:5432/ldn", "postgresql://svc@db:5432/ldn"),
    ("host=db user=svc password=s3cret-Pw", "host=db user=svc password=***"),
    ("host=db password = 's3cret Pw\\' x' user=svc", "host=db password = *** user=svc"),
    ("connection failed: password=s3cret-Pw\"", "connection failed: password=***\""),
])
def test_redact(given, shown):
    assert redact(given) == shown
    assert postgres.redact(given) == shown  # the backend shows URLs with the same function
    assert SECRET not in shown and "s3cret" not in shown


def cli_run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env={**ENV, **(env or {})})


def _no_secret(*texts):
    for text in texts:
        assert SECRET not in text, text


@pytest.fixture
def with_pw(pg_cluster):
    """A migrated store's URL carrying a password (trust authentication: it is never asked
    for, only carried), and the same URL with it in the query."""
    url = fresh_pg_url(pg_cluster)
    with Store.open(url) as s:
        add_users(s, "ana")
    return (url.replace("postgres@", f"postgres:{SECRET}@"),
            url + f"&password={SECRET}")


def test_every_command_that_shows_the_url_hides_the_password(with_pw, tmp_path):
    for url in with_pw:
        for args in (["db", "migrate"], ["db", "migrate", "--json"], ["db", "anchor"],
                     ["db", "verify"], ["db", "verify", "--json"], ["batch", "list"],
                     ["inventory", "list", "--json"]):
            r = cli_run(*args, "--db", url)
            assert r.exit_code == 0, r.output
            _no_secret(r.output)
        anchor = tmp_path / "a.anchor"
        r = cli_run("db", "anchor", "--db", url, "--output", str(anchor))
        assert r.exit_code == 0, r.output
        _no_secret(r.output, anchor.read_text())
        assert json.loads(anchor.read_text())["database"] == redact(url)
        anchor.unlink()
        # through $COMPOUNDING_DB and the settings' database as well
        r = cli_run("db", "anchor", env={"COMPOUNDING_DB": url})
        assert r.exit_code == 0 and json.loads(r.output)["database"] == redact(url)
        (tmp_path / "s.toml").write_text(f'database = "{url}"\n')
        r = cli_run("--settings", str(tmp_path / "s.toml"), "db", "anchor")
        assert r.exit_code == 0 and json.loads(r.output)["database"] == redact(url)


def test_db_copy_hides_it_in_output_json_and_the_audit_entry(with_pw, pg_cluster, tmp_path):
    src_url = with_pw[1]
    out_db = tmp_path / "out.db"
    r = cli_run("db", "copy", "--from", src_url, "--to", str(out_db), "--json")
    assert r.exit_code == 0, r.output
    _no_secret(r.output)
    assert json.loads(r.output)["from"] == redact(src_url)
    # and back into a new PostgreSQL schema whose URL carries the password
    dst = fresh_pg_url(pg_cluster).replace("postgres@", f"postgres:{SECRET}@")
    r = cli_run("db", "copy", "--from", str(out_db), "--to", dst)
    assert r.exit_code == 0, r.output
    _no_secret(r.output)
    for store_at in (out_db, dst):
        with Store.open(store_at) as s:
            _no_secret(" ".join(s.column("SELECT details FROM audit_log")))


@pytest.mark.parametrize("url, message", [
    (f"postgresql://postgres:{SECRET}@127.0.0.1:{{port}}/no_such_db",
     "cannot open database postgresql://postgres:***@127.0.0.1:{port}/no_such_db"),
    (f"postgresql://postgres@127.0.0.1:{{port}}/no_such_db?password={SECRET}",
     "cannot open database postgresql://postgres@127.0.0.1:{port}/no_such_db?password=***"),
])
def test_a_refused_connection_hides_it(pg_cluster, url, message):
    for args in (["db", "verify"], ["users", "add", "zed", "--role", "technician",
                                    "--by", "ana"]):
        r = cli_run(*args, "--db", url.format(port=pg_cluster.port))
        assert r.exit_code != 0
        assert r.output.startswith("Error: " + message.format(port=pg_cluster.port))
        _no_secret(r.output)


def test_the_wait_for_another_writer_hides_it(with_pw, monkeypatch):
    url = with_pw[0]
    monkeypatch.setattr(postgres, "WAIT_NOTICE_S", 0.2)
    holder = psycopg.connect(url.replace(f":{SECRET}@", "@"), autocommit=True)
    holder.execute("BEGIN")
    holder.execute("SELECT pg_advisory_xact_lock(%s)", [postgres.WRITE_LOCK_KEY])
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    said = []
    with Store.open(url) as store:
        store.on_wait = said.append
        started = time.monotonic()
        with store.write():
            pass
    release.join()  # its COMMIT answered before the connection is closed
    holder.close()
    assert time.monotonic() - started >= 0.2
    assert said == [f"waiting for another process to finish writing {redact(url)}, up to "
                    f"{postgres.BUSY_TIMEOUT_S} s"]


def test_the_bench_banner_hides_it():
    from compounding.cli.serve import _shown_db
    assert _shown_db(f"postgresql://svc:{SECRET}@db/ldn") == "postgresql://svc:***@db/ldn"


# ---------------------------------------------------------------- keyword/value strings

DSN = f"host=127.0.0.1 port=5432 dbname=ldn user=ldn_service password={SECRET}"
TOLD = ("is a libpq keyword/value connection string, not a database file; give it as a URL: "
        "postgresql://ldn_service@127.0.0.1:5432/ldn (the password in ~/.pgpass, $PGPASSFILE "
        "or $PGPASSWORD, never in the URL)")
SHOWN = repr(DSN.replace(SECRET, "***"))


@pytest.mark.parametrize("args", [
    ["users", "add", "pat", "--role", "pharmacist"],   # writes: used to create a file
    ["batch", "list"],                                  # reads
    ["db", "migrate"],
    ["db", "verify"],
    ["plan", "ldn-capsules", "-q", "100", "-s", "1.5 mg"],
])
def test_a_keyword_value_string_as_db_is_refused(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    r = cli_run(*args, "--db", DSN)
    assert (r.exit_code, r.output) == (2, f"Error: --db: {SHOWN} {TOLD}\n")
    assert list(tmp_path.iterdir()) == []


def test_a_keyword_value_string_in_the_environment_or_settings_is_refused(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli_run("users", "add", "pat", "--role", "pharmacist",
                env={"COMPOUNDING_DB": DSN})
    assert (r.exit_code, r.output) == (2, f"Error: $COMPOUNDING_DB: {SHOWN} {TOLD}\n")
    settings = tmp_path / "site.toml"
    settings.write_text(f'database = "{DSN}"\n')
    r = cli_run("--settings", str(settings), "users", "add", "pat", "--role", "pharmacist")
    assert (r.exit_code, r.output) == (2, f"Error: {settings}: database: {SHOWN} {TOLD}\n")
    assert list(tmp_path.iterdir()) == [settings]


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_a_keyword_value_string_as_a_copy_end_is_refused(tmp_path, monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    Store.open(tmp_path / "a.db").close()
    ends = {"--from": str(tmp_path / "a.db"), "--to": str(tmp_path / "b.db"), option: DSN}
    r = cli_run("db", "copy", "--from", ends["--from"], "--to", ends["--to"])
    assert (r.exit_code, r.output) == (2, f"Error: {option}: {SHOWN} {TOLD}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db"]


@pytest.mark.parametrize("text, url", [
    ("dbname=ldn", "postgresql://USER@HOST/ldn"),
    ("host=/var/run/postgresql dbname=ldn user=svc sslmode=disable",
     "postgresql://svc@/ldn?host=/var/run/postgresql&sslmode=disable"),
    ("host = db.example  dbname = 'my db' user=svc", "postgresql://svc@db.example/my%20db"),
    ("HOST=db user=svc password='a b'", "postgresql://svc@db/NAME"),
    ("host=db 'unclosed", "postgresql://USER@HOST/NAME"),
])
def test_the_url_shown_instead(text, url):
    assert url_for(parse_keyword_value(text)) == url
    with pytest.raises(Exception) as err:
        refuse_keyword_value(text, "--db")
    assert f"give it as a URL: {url} " in str(err.value)
    assert "a b" not in str(err.value)


@pytest.mark.parametrize("name", ["compounding.db", "a=b.db", "hostname.db", "dbname.db",
                                  "site/host.db", "postgresql.db"])
def test_file_names_are_still_file_names(name):
    assert refuse_keyword_value(name, "--db") is None  # no error
