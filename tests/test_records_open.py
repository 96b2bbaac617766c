"""Opening the database (issue 12, part 6): commands that only read open it read-only and
work on a read-only file or folder; a mistyped --db for a read command is one line naming
the path and creates nothing; only writing commands create a database, and say so; a
truncated or foreign file is one line and is never modified; a write waiting on another
process's lock says so after about 2 s. Real processes where permissions or locks matter
(as root, the read-only cases run as the user nobody: root ignores file modes)."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from signoff_support import ENV, ROOT, setup_db

READS = [
    ["batch", "list"],
    ["batch", "show", "2603010011"],
    ["inventory", "list"],
    ["audit"],
    ["db", "verify"],
    ["db", "anchor"],
    ["db", "schema"],
    ["capsules", "list"],
    ["recall", "NX1"],
    ["users", "list"],
    ["rx", "list"],
]


def run(*args, db):
    return CliRunner().invoke(cli, ["--formulas", str(ROOT / "formulas"), *args, "--db",
                                    str(db)], env=ENV)


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_mistyped_db_for_a_read_command_creates_nothing(tmp_path, args):
    db = tmp_path / "compunding.db"
    r = run(*args, db=db)
    assert r.exit_code == 1
    assert r.output == (f"Error: no database at {db}; a command that only reads never "
                        "creates one (check --db or $COMPOUNDING_DB)\n")
    assert list(tmp_path.iterdir()) == []


def test_only_a_writing_command_creates_and_says_so(tmp_path):
    db = tmp_path / "new.db"
    r = run("db", "migrate", db=db)
    assert r.exit_code == 0, r.output
    assert r.stderr == f"Created new database {db}\n"
    r = run("db", "migrate", db=db)
    assert r.stderr == "" and r.stdout == "Schema up to date\n" \
        f"{db}: {r.stdout.split(': ')[1]}"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "Error: database {db} is empty (0 bytes), not a compounding database; it was not "
          "changed"),
    (b"PK\x03\x04" + b"\x00" * 200, "Error: database {db} is not an SQLite file (it does not "
                                    "start with the SQLite header); it was not changed"),
    (b"SQLite format 3\x00" + b"\x10\x00", "Error: database {db} is truncated (18 bytes, "
                                           "shorter than the 100-byte header); it was not "
                                           "changed"),
])
def test_foreign_or_empty_files_for_reads(tmp_path, content, message):
    db = tmp_path / "c.db"
    db.write_bytes(content)
    for args in READS:
        r = run(*args, db=db)
        assert (r.exit_code, r.output) == (1, message.format(db=db) + "\n"), args
    assert db.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]


@pytest.mark.parametrize("command", [["db", "migrate"], ["users", "list"]],
                         ids=["write", "read"])
@pytest.mark.parametrize("kind", ["fifo", "device link", "dangling link"])
def test_a_database_path_that_is_no_file_is_one_line_and_never_created(tmp_path, kind,
                                                                       command):
    db = tmp_path / "x.db"
    if kind == "fifo":
        os.mkfifo(db)
        message = f"database {db} is not a regular file (a device, FIFO or socket); it was " \
                  "not changed"
    elif kind == "device link":
        db.symlink_to("/dev/null")
        message = f"database {db} is not a regular file (a device, FIFO or socket); it was " \
                  "not changed"
    else:
        db.symlink_to(tmp_path / "gone" / "y.db")
        message = f"database {db} is a link to {tmp_path / 'gone' / 'y.db'}, which does not " \
                  "exist; nothing was created"
    r = run(*command, db=db)
    assert (r.exit_code, r.output) == (1, f"Error: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]


def test_truncated_copy_is_one_line_and_never_modified(tmp_path):
    good = tmp_path / "good.db"
    setup_db(good)
    db = tmp_path / "cut.db"
    data = good.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    size = db.stat().st_size
    for args in [*READS, ["users", "add", "x", "--role", "technician", "--by", "pharm"],
                 ["db", "migrate"]]:
        r = run(*args, db=db)
        assert r.exit_code == 1, (args, r.output)
        assert r.output.startswith(f"Error: database {db} is truncated or damaged ({size:,} "
                                   "bytes; its header says "), (args, r.output)
        assert r.output.endswith("; it was not changed; restore it from a backup "
                                 "(compounding db backup)\n")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.db", "good.db"]


def _as_reader(tmp_root: Path):
    """A prefix that runs a command as a user without write access (nobody when root)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root without setpriv cannot drop write access")
    os.chmod(tmp_root, 0o755)
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.mark.parametrize("what", ["file", "folder"])
def test_reads_work_on_a_read_only_database(what):
    root = Path(tempfile.mkdtemp(prefix="ro12-"))
    try:
        prefix = _as_reader(root)
        folder = root / "store"
        folder.mkdir()
        db = folder / "c.db"
        setup_db(db)
        s = subprocess.run([sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect("
                            "sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); "
                            "c.execute('PRAGMA journal_mode=DELETE')", str(db)], check=True)
        assert s.returncode == 0
        anchor = root / "anchor.json"
        r = run("db", "anchor", "--output", str(anchor), db=db)
        assert r.exit_code == 0, r.output
        os.chmod(anchor, 0o644)
        os.chmod(db, 0o444)
        if what == "folder":
            os.chmod(folder, 0o555)
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOUNDING_")}
        env.update(ENV, HOME=str(root), XDG_CACHE_HOME=str(root / "cache"))
        # db verify checks the keyed audit chain: the reader has the audit key (its own
        # file, 0400), which is not the database (that one stays read-only)
        key = root / "key" / "audit.key"
        key.parent.mkdir()
        shutil.copyfile(os.environ["COMPOUNDING_AUDIT_KEY"], key)
        os.chmod(key, 0o400)
        if prefix:
            nobody = pwd.getpwnam("nobody")
            for p in (key.parent, key):
                os.chown(p, nobody.pw_uid, nobody.pw_gid)
        env["COMPOUNDING_AUDIT_KEY"] = str(key)
        for args in [*READS, ["db", "verify", "--anchor", str(anchor)]]:
            p = subprocess.run([*prefix, sys.executable, "-m", "compounding", "--formulas",
                                str(ROOT / "formulas"), *args, "--db", str(db)], cwd=root,
                               env=env, capture_output=True, text=True, timeout=120)
            if args[:2] == ["batch", "show"] or args[0] == "recall":
                assert p.returncode == 2 and p.stderr.startswith("Error: no "), (args, p)
            else:
                assert p.returncode == 0, (args, p.stderr)
                assert "Traceback" not in p.stderr
        p = subprocess.run([*prefix, sys.executable, "-m", "compounding", "users", "add", "x",
                            "--role", "technician", "--by", "pharm", "--db", str(db)],
                           cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert (p.returncode, p.stderr) == (1, f"Error: database {db} is read-only (the file "
                                               "or its directory); this command writes, so "
                                               "it needs write access (commands that only "
                                               "read work on a read-only database)\n")
        after = {p.name: p.read_bytes() for p in folder.iterdir()}
        if what == "folder" or prefix:
            assert after == before
    finally:
        for p in (root / "store", root / "store" / "c.db"):
            if p.exists():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(root)


def test_a_write_waiting_on_a_lock_says_so(tmp_path):
    """The lock is held until the waiting command has said so; then released: the command
    goes on and succeeds (nothing timed but the 2 s notice itself)."""
    db = tmp_path / "c.db"
    setup_db(db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], "
         "isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('held', flush=True); "
         "sys.stdin.readline(); c.execute('COMMIT')", str(db)],
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOUNDING_")}
        p = subprocess.Popen([sys.executable, "-m", "compounding", "users", "add", "tom",
                              "--role", "technician", "--by", "pharm", "--db", str(db)],
                             env={**env, **ENV}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        line = p.stderr.readline()
        assert line == f"waiting for another process to finish writing {db}, up to 60 s\n"
        assert p.poll() is None  # still waiting
        holder.stdin.write("go\n")
        holder.stdin.flush()
        out, err = p.communicate(timeout=120)
        assert (p.returncode, err) == (0, "")
        assert out.startswith("Added tom")
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- PostgreSQL (issue 20's backend)

def _pg_tables(cluster, url) -> int:
    """Tables in the test's own schema (fresh_pg_url's search_path), counted by psql."""
    schema = url.split("search_path%3D")[1].split("%2C")[0]
    out = subprocess.run(
        cluster.prefix + [str(cluster.bin / "psql"), "-X", "-A", "-t", "-h", "127.0.0.1",
                          "-p", str(cluster.port), "-U", "postgres", "-d", "store_tests",
                          "-c", "SELECT count(*) FROM information_schema.tables WHERE "
                          f"table_schema = '{schema}'"],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@pytest.mark.parametrize("args", [["batch", "list"], ["db", "verify"], ["audit"]],
                         ids=lambda a: " ".join(a))
def test_postgresql_a_read_command_on_a_new_database_creates_nothing(pg_cluster, args):
    from conftest import fresh_pg_url
    url = fresh_pg_url(pg_cluster)
    r = run(*args, db=url)
    assert r.exit_code == 1
    from compounding.store.pg_migrations import MIGRATIONS
    assert r.output == (f"Error: database {url} needs {len(MIGRATIONS)} schema migrations "
                        f"({MIGRATIONS[0][0]}...) and a command that only reads does not "
                        "apply them; run `compounding db migrate` with write access (nothing "
                        "was changed)\n")
    assert _pg_tables(pg_cluster, url) == 0


def test_postgresql_read_commands_open_a_read_only_session(pg_cluster):
    """A read command's session is default_transaction_read_only: the server refuses any
    write, and the store refuses its own write transaction first."""
    from compounding.errors import StoreError
    from compounding.store import Store
    from conftest import fresh_pg_url
    url = fresh_pg_url(pg_cluster)
    setup_db(url)
    not_found = {"batch show 2603010011": (2, "Error: no batch with lot ID 2603010011\n"),
                 "recall NX1": (2, "Error: no component lot NX1 on record\n")}
    for args in READS:
        r = run(*args, db=url)
        got = (r.exit_code, r.output) if " ".join(args) in not_found else r.exit_code
        assert got == not_found.get(" ".join(args), 0), (args, r.output)
        assert "Created new database" not in r.output
    with Store.open(url, read_only=True) as s:
        assert s.db.pg.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(StoreError) as err:
            with s.write():
                pass
        assert str(err.value) == (f"database {url} was opened read-only (a command that "
                                  "only reads); nothing was written")
        with pytest.raises(StoreError) as err:
            s.execute("INSERT INTO users (name, role) VALUES ('x', 'technician')")
        assert str(err.value).startswith(f"database {url} is read-only (")
    with Store.open(url) as s:
        assert s.db.pg.execute("SHOW default_transaction_read_only").fetchone()[0] == "off"


def test_postgresql_a_write_waiting_on_the_lock_says_so(pg_cluster):
    import psycopg

    from compounding.store import postgres
    from conftest import fresh_pg_url
    url = fresh_pg_url(pg_cluster)
    setup_db(url)
    holder = psycopg.connect(url, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", [postgres.WRITE_LOCK_KEY])
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOUNDING_")}
        p = subprocess.Popen([sys.executable, "-m", "compounding", "users", "add", "tom",
                              "--role", "technician", "--by", "pharm", "--db", url],
                             env={**env, **ENV}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        line = p.stderr.readline()
        assert line == f"waiting for another process to finish writing {url}, up to 60 s\n"
        assert p.poll() is None  # still waiting
        holder.execute("SELECT pg_advisory_unlock(%s)", [postgres.WRITE_LOCK_KEY])
        out, err = p.communicate(timeout=120)
        assert (p.returncode, err) == (0, "")
        assert out.startswith("Added tom")
    finally:
        holder.close()


ALLOWED = "give a database file path or a postgresql://USER@HOST:PORT/NAME URL"


@pytest.mark.parametrize("args", [["batch", "list"], ["db", "migrate"]],
                         ids=lambda a: " ".join(a))
@pytest.mark.parametrize("where, value, message", [
    ("--db", "", f"Error: --db: empty; {ALLOWED}"),
    ("--db", ":memory:", "Error: --db: ':memory:' is not allowed (an in-memory database or a "
                         f"file: URI); {ALLOWED}"),
    ("env", "file:foo?mode=rwc", "Error: $COMPOUNDING_DB: 'file:foo?mode=rwc' is not allowed "
                                 f"(an in-memory database or a file: URI); {ALLOWED}"),
])
def test_db_that_is_not_a_file_is_refused(tmp_path, monkeypatch, args, where, value, message):
    """The part 6 attacker: ':memory:' took a new user and lost it when the command ended
    ('Added pat'); a file: URI wrote ./foo but read 'file:foo?mode=rwc'; --db '' fell back
    to ./compounding.db."""
    monkeypatch.chdir(tmp_path)
    env = dict(ENV)
    argv = ["--formulas", str(ROOT / "formulas"), *args]
    if where == "env":
        env["COMPOUNDING_DB"] = value
    else:
        argv += ["--db", value]
    r = CliRunner().invoke(cli, argv, env=env)
    assert (r.exit_code, r.output) == (1, message + "\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["batch", "list"], ["db", "migrate"]],
                         ids=lambda a: " ".join(a))
def test_a_name_the_system_cannot_take_is_one_line(tmp_path, args):
    db = tmp_path / ("b" * 300 + ".db")
    r = run(*args, db=db)
    assert (r.exit_code, r.output) == (1, f"Error: database {db}: File name too long\n")
