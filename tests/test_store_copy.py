"""`compounding db copy` (issue 20): a whole store into a new file or an empty store, the
audit chain verifiable at both ends, refusals that copy nothing, kill -9 at any moment."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.store import Store
from compounding.store.copy import holds_records
from compounding.store.core import StoreCore
from compounding.store.migrations import migrations
from signoff_support import ENV, ROOT, add_users


class Clock:
    def __call__(self):
        return datetime(2026, 5, 23, 12, 0, tzinfo=timezone.utc)


def make_store(path, site="MAIN", lot="NX1"):
    with Store.open(path, clock=Clock()) as store:
        store.site = site
        add_users(store, "ana")
        store.receive_lot("naltrexone-hcl", lot, date(2027, 5, 31), u.parse("5 g"), "ana")
        store.allocate_lot_id("ana", date(2026, 5, 23))


def copy(*args):
    return CliRunner().invoke(cli, ["db", "copy", *args], env=ENV)


def counts(path):
    con = sqlite3.connect(path)
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                       "AND name NOT LIKE 'sqlite_%' AND name != "
                                       "'_sqlite_migrations'")]
    out = {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    con.close()
    return out


def state(path):
    """What a refused copy must leave as it was: the row counts, or the bytes of a file
    that is not a database, or its absence."""
    if not path.exists():
        return None
    try:
        return counts(path)
    except sqlite3.DatabaseError:
        return path.read_bytes()


def verify(path):
    return CliRunner().invoke(cli, ["db", "verify", "--db", str(path)], env=ENV)


def test_copy_to_a_new_file(tmp_path):
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    make_store(src, "NYC")
    before = counts(src)
    r = copy("--from", str(src), "--to", str(dst))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    total = sum(before.values())
    assert lines[0] == f"Copied {src} to {dst} (site NYC): {total} rows in {len(before)} tables"
    assert lines[-1] == (f"Both ends verify: integrity check passed, {before['audit_log']} "
                         "audit entries chain, every record matches the audit log (the copy's "
                         "own entry added at the target)")
    assert {line.split()[0]: int(line.split()[1]) for line in lines[3:-1]} == before
    assert verify(src).exit_code == 0 and verify(dst).exit_code == 0
    after = counts(dst)
    assert after == {**before, "audit_log": before["audit_log"] + 1}
    assert counts(src) == before  # the source is only read
    schema = [CliRunner().invoke(cli, ["db", "schema", "--db", str(p)]).output
              for p in (src, dst)]
    assert schema[0] == schema[1] and "CREATE TRIGGER lot_ids_no_update" in schema[1]
    assert not list(tmp_path.glob("*.partial-*"))
    con = sqlite3.connect(dst)
    assert con.execute("SELECT action, details FROM audit_log ORDER BY id DESC LIMIT 1"
                       ).fetchone()[0] == "db.copy"
    # the same records, byte for byte
    for table in ("lot_ids", "component_lots", "users", "audit_log"):
        a = sqlite3.connect(src).execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
        b = con.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
        assert b[:len(a)] == a


def test_copy_json_and_into_an_empty_store(tmp_path):
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    make_store(src)
    Store.open(dst).close()  # an empty, migrated store
    r = copy("--from", str(src), "--to", str(dst), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["sites"] == ["MAIN"] and data["counts"] == counts(src)
    assert data["audit_entries"] == counts(src)["audit_log"]
    assert verify(dst).exit_code == 0


@pytest.mark.parametrize("case, code, message", [
    ("same-site", 1, "Error: --to {dst} already holds records of site NYC; copying would "
                     "double them (nothing was copied)"),
    ("other-site", 1, "Error: --to {dst} already holds records (site BOS); merging two "
                      "stores is not supported yet: copy into a new file or an empty store "
                      "(nothing was copied)"),
    ("itself", 2, "Error: --to: {src} is the database or one of its files; choose another "
                  "file name"),
    ("its-wal", 2, "Error: --to: {src}-wal is the database or one of its files; choose "
                   "another file name"),
    ("a-dir", 2, "Error: --to: {tmp} is a directory; name a file in it"),
    ("from-dir", 2, "Error: --from {tmp}: not a file (a directory or a device?)"),
    # issue 12 part 6: a foreign or truncated file is found from its header
    ("corrupt-to", 1, "Error: --to: database {dst} is not an SQLite file (it does not start "
                      "with the SQLite header); it was not changed"),
    ("missing", 2, "Error: --from {tmp}/none.db: no such database file"),
    ("truncated", 2, "Error: --from: database {src} is truncated or damaged (100 bytes; its "
                     "header says ...); it was not changed; restore it from a backup "
                     "(compounding db backup)"),
    ("no-dir", 1, "Error: --to: directory {tmp}/nowhere does not exist"),
    ("unverified", 1, "Error: --from {src} does not verify (2 problems; the first: "
                      "schema: trigger component_lots_no_update is missing (a migration made "
                      "it)); "
                      "run compounding db verify (nothing was copied)"),
    ("old-schema", 1, "Error: --from {src}: its schema is not up to date (PENDING "
                      "pending); run compounding db migrate --db {src} first (nothing was "
                      "copied)"),
])
def test_refusals_copy_nothing(tmp_path, case, code, message):
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    to = dst
    if case == "old-schema":
        store = StoreCore.open(src, migrate=False)
        with store.write():
            migrations.apply(store.db, stop_before="m020_sites")
        pending = len(store.pending_migrations())
        store.close()
        message = message.replace("PENDING", f"{pending} migration" + "s" * (pending != 1))
    else:
        make_store(src, "NYC")
    if case == "same-site":
        make_store(dst, "NYC", lot="NX2")
    elif case == "other-site":
        make_store(dst, "BOS", lot="NX2")
    elif case == "itself":
        to = src
    elif case == "its-wal":
        to = tmp_path / "a.db-wal"
    elif case == "a-dir":
        to = tmp_path
    elif case == "from-dir":
        src = tmp_path
    elif case == "corrupt-to":
        dst.write_bytes(b"not a database at all, just some text" * 100)
    elif case == "missing":
        src = tmp_path / "none.db"
    elif case == "truncated":
        src.write_bytes(src.read_bytes()[:100])
        for extra in tmp_path.glob("a.db-*"):
            extra.unlink()
    elif case == "no-dir":
        to = tmp_path / "nowhere" / "b.db"
    elif case == "unverified":
        con = sqlite3.connect(src)
        con.execute("DROP TRIGGER component_lots_no_update")
        con.execute("UPDATE component_lots SET manufacturer = 'edited'")
        con.commit()
        con.close()
    before = state(dst)
    r = copy("--from", str(src), "--to", str(to))
    expected = message.format(src=src, dst=dst, tmp=tmp_path) + "\n"
    if "..." in expected:  # the page count in the header depends on the schema
        start, end = expected.split("...")
        assert r.exit_code == code and r.output.startswith(start) \
            and r.output.endswith(end), r.output
    else:
        assert (r.exit_code, r.output) == (code, expected)
    assert state(dst) == before
    assert not list(tmp_path.glob("*.partial-*"))


def test_a_path_with_a_line_break_stays_one_line(tmp_path):
    r = copy("--from", "a\nb\u202e.db", "--to", str(tmp_path / "b.db"))
    assert (r.exit_code, r.output) == (
        2, "Error: --from 'a\\nb\\u202e.db': no such database file\n")


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_paths_refused(tmp_path, value):
    r = copy("--from", value, "--to", str(tmp_path / "b.db"))
    assert (r.exit_code, r.output) == (2, "Error: --from: give a database path\n")


# ------------------------------------------------------------------ kill -9 (real processes)

def big_store(path, entries=10000):
    make_store(path)
    store = StoreCore.open(path)
    with store.write():
        for i in range(entries):
            store.audit("test.note", "ana", {"n": i})
    store.close()


def start_copy(src, dst):
    return subprocess.Popen([sys.executable, "-m", "compounding", "db", "copy", "--from",
                             str(src), "--to", str(dst)], cwd=ROOT, env={**os.environ, **ENV},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A store of 10,000 audit entries, and how long a whole copy of it takes here now."""
    folder = tmp_path_factory.mktemp("big")
    path = folder / "big.db"
    big_store(path)
    started = time.monotonic()
    proc = start_copy(path, folder / "timed.db")
    proc.communicate()
    assert proc.returncode == 0
    return path, time.monotonic() - started


def whole_or_nothing(dst, src):
    """``dst`` holds nothing, or the whole copy of ``src`` (a kill that landed after the
    commit, while the process was exiting), and verifies either way."""
    with Store.open(dst) as store:
        assert store.verify() == []
        if holds_records(store):
            assert store.scalar("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") \
                == "db.copy"
            assert store.scalar("SELECT COUNT(*) FROM audit_log") == \
                counts(src)["audit_log"] + 1
            return "whole"
    return "nothing"


#: When to kill, as a share of how long a whole copy took in this run (so the kills land
#: during the source's check, the rows, the target's check, whatever the machine's load).
SHARES = [0.15, 0.35, 0.55, 0.75, 0.9]


@pytest.mark.parametrize("share", SHARES)
def test_kill_9_mid_copy_to_a_new_file_leaves_no_target(tmp_path, big, share):
    big, took = big
    dst = tmp_path / "b.db"
    proc = start_copy(big, dst)
    time.sleep(took * share)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if dst.exists():  # the kill came after the file was complete and named
        assert whole_or_nothing(dst, big) == "whole"
        return
    assert proc.returncode != 0
    r = copy("--from", str(big), "--to", str(dst))  # and a second try works
    assert r.exit_code == 0, r.output
    assert verify(dst).exit_code == 0


@pytest.mark.parametrize("share", SHARES)
def test_kill_9_mid_copy_into_an_empty_store_leaves_it_empty(tmp_path, big, share):
    big, took = big
    dst = tmp_path / "b.db"
    Store.open(dst).close()
    proc = start_copy(big, dst)
    time.sleep(took * share)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    whole_or_nothing(dst, big)
    r = copy("--from", str(big), "--to", str(dst))  # a second try: done, or refused whole
    assert r.exit_code in (0, 1) and whole_or_nothing(dst, big) == "whole"


@pytest.mark.parametrize("empty_store", [False, True])
def test_two_copies_racing_to_one_target_make_one_copy(tmp_path, big, empty_store):
    big, _ = big
    dst = tmp_path / "b.db"
    if empty_store:
        Store.open(dst).close()
    procs = [start_copy(big, dst) for _ in range(2)]
    outs = [p.communicate() for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outs
    loser = [o for p, o in zip(procs, outs) if p.returncode == 1][0][1].decode()
    if empty_store:
        assert loser == (f"Error: --to {dst} already holds records of site MAIN; copying "
                         "would double them (nothing was copied)\n")
    else:
        assert loser == (f"Error: copy: {dst} appeared while the copy ran; the copy was not "
                         "kept (choose a new file name)\n")
    assert verify(dst).exit_code == 0
    assert counts(dst)["audit_log"] == counts(big)["audit_log"] + 1
    assert not list(tmp_path.glob("*.partial-*"))


def test_kill_9_while_waiting_for_the_targets_lock(tmp_path, big):
    big, _ = big
    dst = tmp_path / "b.db"
    Store.open(dst).close()
    holder = sqlite3.connect(dst)
    holder.execute("BEGIN IMMEDIATE")
    proc = start_copy(big, dst)
    time.sleep(1.5)
    assert proc.poll() is None  # waiting on the lock
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    holder.rollback()
    holder.close()
    with Store.open(dst) as store:
        assert not holds_records(store) and store.verify() == []
