"""Issue 12 part 4: tamper evidence that deserves the name.

The three attacks of the issue, each reproduced: a record edit followed by recomputing the
(unkeyed) hash chain, deleting the newest audit entry with its record (caught only with an
anchor), dropped or defanged triggers. Then the key file (mode, damage, loss, a second key),
the move of an existing unkeyed database to the keyed chain, and hostile anchor files.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.errors import InputError, StoreError
from compounding.store import Store, audit, audit_key, users
from compounding.store.core import audit_hash, canonical, chain_hash
from compounding.store.migrations import migrations
from signoff_support import ENV, ROOT, add_users

LAST_UNKEYED = "m015_one_signature_per_act"


@pytest.fixture
def key(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "audit.key"
    monkeypatch.setenv(audit_key.ENV_VAR, str(path))
    return path


def receive(store, lot="S1", qty="500 g"):
    return store.receive_lot("sucrose", lot, date(2099, 1, 1), u.parse(qty), "ana")


def make(tmp_path, key) -> Path:
    db = tmp_path / "c.db"
    with Store.open(db) as store:
        add_users(store, "ana")
        receive(store)
    return db


def triggers(con, *names) -> dict[str, str]:
    return {n: con.execute("SELECT sql FROM sqlite_master WHERE name = ?", [n]).fetchone()[0]
            for n in names}


def rechain(con, key_bytes=None) -> None:
    """What an attacker with the file (and without the key) does after an edit: recompute
    every hash of the chain with the published algorithm."""
    prev = "0" * 64
    for row in con.execute("SELECT id, at, actor, action, lot_id, details FROM audit_log "
                           "ORDER BY id").fetchall():
        entry = dict(zip(("id", "at", "actor", "action", "lot_id", "details"), row),
                     prev_hash=prev)
        h = chain_hash(entry, key_bytes)
        con.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?",
                    [prev, h, row[0]])
        prev = h


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env={**ENV, **(env or {})})


# ---------------------------------------------------------------- the key file

def test_key_made_on_first_use_private_and_only_its_id_in_the_database(tmp_path, key):
    db = make(tmp_path, key)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert oct(key.parent.stat().st_mode & 0o777) == "0o700"
    secret = audit_key.read_key(key)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT keyed_from, key_id, scheme FROM audit_keys").fetchall()
    assert rows == [(1, audit_key.key_id(secret), "hmac-sha256")]
    assert secret.hex() not in Path(db).read_bytes().decode("latin-1")
    first = con.execute("SELECT id, at, actor, action, lot_id, details, prev_hash, hash "
                        "FROM audit_log WHERE id = 1").fetchone()
    entry = dict(zip(("id", "at", "actor", "action", "lot_id", "details", "prev_hash"),
                     first[:7]))
    assert first[7] == chain_hash(entry, secret) != audit_hash(entry)
    with Store.open(db) as store:
        assert store.verify() == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_key_file_others_may_read_is_refused(tmp_path, key, mode):
    db = make(tmp_path, key)
    key.chmod(mode)
    with Store.open(db) as store, pytest.raises(StoreError) as err:
        receive(store, "S2")
    assert str(err.value) == (f"audit key {key}: others may read or write it (mode "
                              f"{mode:04o}); allowed: 0600 or 0400 (chmod 600 {key})")
    key.chmod(0o400)
    with Store.open(db) as store:
        receive(store, "S2")
        assert store.verify() == []


@pytest.mark.parametrize("content", [b"", b"abc\n", b"g" * 64 + b"\n", b"A" * 64 + b"\n",
                                     b"\x00" * 64, "٠".encode() * 64])
def test_damaged_key_file_is_refused_and_never_replaced(tmp_path, key, content):
    db = make(tmp_path, key)
    key.write_bytes(content)
    key.chmod(0o600)
    with Store.open(db) as store, pytest.raises(StoreError, match=r"not an audit key \(64 "):
        receive(store, "S2")
    assert key.read_bytes() == content
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM component_lots").fetchone() == (1,)


def test_lost_key_stops_writes_and_verify_says_what_it_could_not_check(tmp_path, key):
    db = make(tmp_path, key)
    kid = audit_key.key_id(audit_key.read_key(key))
    n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    saved = key.read_bytes()
    key.unlink()
    with Store.open(db) as store:
        with pytest.raises(StoreError) as err:
            receive(store, "S2")
        assert str(err.value) == (f"audit key {key} is missing: this database's audit log "
                                  f"is keyed from entry 1 with key {kid}; restore that key "
                                  "file from its backup (nothing was written)")
        assert store.verify() == [f"audit_log 1-{n}: keyed with key {kid}, which could not "
                                  f"be checked: there is no key file at {key}"]
    assert not key.exists()  # a missing key is never silently made anew for a keyed chain
    key.write_bytes(saved)
    key.chmod(0o600)
    with Store.open(db) as store:
        assert store.verify() == []


def test_another_key_is_refused(tmp_path, key, monkeypatch):
    db = make(tmp_path, key)
    kid = audit_key.key_id(audit_key.read_key(key))
    other = tmp_path / "other.key"
    monkeypatch.setenv(audit_key.ENV_VAR, str(other))
    audit_key.create_key(other)
    okid = audit_key.key_id(audit_key.read_key(other))
    with Store.open(db) as store:
        with pytest.raises(StoreError, match=rf"audit key {other} \(key {okid}\) is not this "
                                             rf"database's audit key \({kid}\)"):
            receive(store, "S2")
        problems = store.verify()
    assert len(problems) == 1 and problems[0].endswith(
        f"keyed with key {kid}, which could not be checked: the key at {other} is key {okid}")


def test_two_processes_making_the_key_at_once_agree(tmp_path):
    # a fresh key path, two new databases written at the same moment by two processes
    keyfile = tmp_path / "k" / "audit.key"
    script = ("import sys; from datetime import date; from compounding import units as u; "
              "from compounding.store import Store\n"
              "s = Store.open(sys.argv[1])\n"
              "s.receive_lot('sucrose', 'S1', date(2099, 1, 1), u.parse('1 g'), 'ana')\n")
    env = {**os.environ, audit_key.ENV_VAR: str(keyfile), "PYTHONPATH": str(ROOT)}
    for _ in range(3):
        keyfile.unlink(missing_ok=True)
        audit_key.registry_path(keyfile).unlink(missing_ok=True)
        dbs = [tmp_path / f"r{i}.db" for i in range(2)]
        for d in dbs:
            d.unlink(missing_ok=True)
            with Store.open(d) as s:
                s.db.execute("INSERT INTO users (name, full_name, role, passphrase_hash, "
                             "created_by, created_at) VALUES ('ana', 'Ana', 'technician', "
                             "'scrypt$x', 'ana', '2026-01-01T00:00:00Z')")
                s.db.conn.commit()
        procs = [subprocess.Popen([sys.executable, "-c", script, str(d)], env=env)
                 for d in dbs]
        assert [p.wait(60) for p in procs] == [0, 0]
        kids = {sqlite3.connect(d).execute("SELECT key_id FROM audit_keys").fetchone()[0]
                for d in dbs}
        assert kids == {audit_key.key_id(audit_key.read_key(keyfile))}
        assert sorted(p.name for p in keyfile.parent.iterdir()) == [
            "audit.key", "audit.key.databases"]  # no leftovers: the key and its registry
        assert len(audit_key.registry_path(keyfile).read_text().splitlines()) == len(dbs)


# ---------------------------------------------------------------- attack 1: edit + rechain

def test_record_edit_then_recomputed_chain_is_caught(tmp_path, key):
    db = make(tmp_path, key)
    con = sqlite3.connect(db)
    saved = triggers(con, "lot_receipts_no_update", "audit_log_no_update")
    for name in saved:
        con.execute(f"DROP TRIGGER {name}")
    con.execute("UPDATE lot_receipts SET quantity = '5000000' WHERE id = 1")
    con.commit()
    # the audit entry that vouches for the receipt gets the edited record's digest
    eid, details = con.execute("SELECT id, details FROM audit_log WHERE action = "
                               "'inventory.receive'").fetchone()
    with Store.open(db, migrate=False) as s:
        forged = json.loads(details)
        for ref in forged["records"]:
            ref["sha256"] = s.record_digest(ref["table"], tuple(ref["key"]))
    con.execute("UPDATE audit_log SET details = ? WHERE id = ?", [canonical(forged), eid])
    rechain(con)  # unkeyed SHA-256, the published algorithm
    for sql in saved.values():
        con.execute(sql)
    con.commit()
    n = con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    with Store.open(db) as store:
        assert store.verify() == [f"audit_log {i}: content does not match its hash"
                                  for i in range(1, n + 1)]
    # with a key of the attacker's own: the same
    for name in saved:
        con.execute(f"DROP TRIGGER {name}")
    rechain(con, b"k" * 32)
    for sql in saved.values():
        con.execute(sql)
    con.commit()
    with Store.open(db) as store:
        assert store.verify() == [f"audit_log {i}: content does not match its hash"
                                  for i in range(1, n + 1)]


def _strip_key_and_rechain(db: Path) -> int:
    """The downgrade: edit a record, delete the audit_keys row (and its reference in the
    entry that vouched for it), re-digest, recompute the whole chain as plain SHA-256:
    the database then reads as one from before the chain was keyed."""
    con = sqlite3.connect(db)
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = "
                                       "'trigger' AND tbl_name IN ('lot_receipts', "
                                       "'audit_log', 'audit_keys')")]
    saved = triggers(con, *names)
    for name in saved:
        con.execute(f"DROP TRIGGER {name}")
    con.execute("UPDATE lot_receipts SET quantity = '5000000' WHERE id = 1")
    con.execute("DELETE FROM audit_keys")
    con.commit()
    with Store.open(db, migrate=False) as s:
        for eid, details in con.execute("SELECT id, details FROM audit_log").fetchall():
            body = json.loads(details)
            refs = [r for r in body.get("records", []) if r["table"] != "audit_keys"]
            for ref in refs:
                ref["sha256"] = s.record_digest(ref["table"], tuple(ref["key"]))
            if "records" in body:
                body["records"] = refs
            con.execute("UPDATE audit_log SET details = ? WHERE id = ?",
                        [canonical(body), eid])
    rechain(con)
    for sql in saved.values():
        con.execute(sql)
    con.commit()
    n = con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    con.close()
    return n


def test_keyed_chain_stripped_to_unkeyed_and_recomputed_is_caught(tmp_path, key):
    """Found by attack: without the registry beside the key, deleting the audit_keys row
    and recomputing every hash as plain SHA-256 gave 'OK' (entries 1-N unkeyed)."""
    db = make(tmp_path, key)
    lines = audit_key.registry_path(key).read_text().splitlines()
    assert [json.loads(x)["database"] for x in lines] == [str(db.resolve())]
    assert (key.parent.stat().st_mode & 0o777, audit_key.registry_path(key).stat().st_mode
            & 0o777) == (0o700, 0o600)
    n = _strip_key_and_rechain(db)
    with Store.open(db) as store:
        report = audit.verify_report(store)
    assert report["unkeyed"] == [1, n] and report["keyed"] == []
    assert report["problems"] == [
        f"audit_keys: {audit_key.registry_path(key)} records this database as keyed from "
        f"entry 1 with key {json.loads(lines[0])['key_id']}, but its audit_keys no longer "
        "say so: the keyed chain was removed and recomputed without the key"]
    r = run("db", "verify", "--db", str(db))
    assert r.exit_code != 0 and "the keyed chain was removed" in r.output


def test_registry_backfilled_by_verify_and_a_new_database_at_the_path_is_its_own(
        tmp_path, key):
    """A database keyed before the registry existed is listed by its first clean verify;
    another database later made at the same path (its entry 1 at another time) is not
    taken for the first one."""
    db = make(tmp_path, key)
    reg = audit_key.registry_path(key)
    reg.unlink()
    with Store.open(db) as store:
        assert store.verify() == []
    assert len(reg.read_text().splitlines()) == 1
    with Store.open(db) as store:
        assert store.verify() == []
    assert len(reg.read_text().splitlines()) == 1  # listed once
    db.unlink()
    make(tmp_path, key)
    with Store.open(db) as store:
        assert store.verify() == []
    assert len(reg.read_text().splitlines()) == 2
    _strip_key_and_rechain(db)
    with Store.open(db) as store:
        assert [p.split(":")[0] for p in store.verify()] == ["audit_keys"]


# ---------------------------------------------------------------- attack 2: remove the newest

def test_newest_entry_removed_with_its_record_is_caught_by_an_anchor(tmp_path, key):
    db = make(tmp_path, key)
    anchor_file = tmp_path / "anchor.json"
    r = run("db", "anchor", "--output", str(anchor_file), "--db", str(db))
    assert r.exit_code == 0, r.output
    head = sqlite3.connect(db).execute("SELECT id, hash FROM audit_log ORDER BY id DESC "
                                       "LIMIT 1").fetchone()
    assert r.output == (f"Anchor written to {anchor_file}: {head[0]} audit entries, head "
                        f"{head[1]}\n")
    assert json.loads(anchor_file.read_text())["entries"] == head[0]
    with Store.open(db) as store:
        receive(store, "S2")
    con = sqlite3.connect(db)
    saved = triggers(con, "audit_log_no_delete", "component_lots_no_delete",
                     "lot_receipts_no_delete")
    for name in saved:
        con.execute(f"DROP TRIGGER {name}")
    # the newest receipt, its lot and its audit entry go, and the one anchored before too
    con.execute("DELETE FROM lot_receipts WHERE component_lot_id IN "
                "(SELECT id FROM component_lots WHERE lot_number IN ('S1', 'S2'))")
    con.execute("DELETE FROM component_lots WHERE lot_number IN ('S1', 'S2')")
    con.execute("DELETE FROM audit_log WHERE id >= ?", [head[0]])
    for sql in saved.values():
        con.execute(sql)
    con.commit()
    with Store.open(db) as store:
        assert store.verify() == []  # what the database alone cannot show (docs/records.md)
    r = run("db", "verify", "--anchor", str(anchor_file), "--db", str(db))
    taken = json.loads(anchor_file.read_text())["taken_at"]
    assert r.exit_code == 1
    assert r.output == (f"anchor: the audit log has {head[0] - 1} entries; the anchor taken "
                        f"at {taken} recorded {head[0]}: entries were removed\n")


def test_anchor_catches_a_rewrite_up_to_it_and_passes_a_longer_log(tmp_path, key):
    db = make(tmp_path, key)
    anchor_file = tmp_path / "a.json"
    assert run("db", "anchor", "--output", str(anchor_file), "--db", str(db)).exit_code == 0
    with Store.open(db) as store:
        receive(store, "S2")
    r = run("db", "verify", "--anchor", str(anchor_file), "--db", str(db))
    assert r.exit_code == 0, r.output
    a = json.loads(anchor_file.read_text())
    n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    kid = audit_key.key_id(audit_key.read_key(key))
    assert r.output.splitlines() == [
        f"OK: integrity check passed, schema as migrated, {n} audit entries chain, every "
        "record matches the audit log",
        f"Entries 1-{n}: keyed HMAC-SHA256 chain (key {kid}, {key})",
        f"Anchor: the {a['entries']} entries anchored at {a['taken_at']} are all there, "
        "unchanged"]
    # an anchor whose head is not what the log has at that position
    a["head"] = "f" * 64
    anchor_file.write_text(json.dumps(a))
    r = run("db", "verify", "--anchor", str(anchor_file), "--db", str(db))
    assert r.exit_code == 1 and r.output == (
        f"anchor: audit entry {a['entries']} does not have the hash anchored at "
        f"{a['taken_at']}: the log was rewritten up to there\n")


def test_db_anchor_prints_json_and_output_never_replaces_the_database(tmp_path, key):
    db = make(tmp_path, key)
    r = run("db", "anchor", "--db", str(db))
    got = json.loads(r.output)
    assert sorted(got) == ["database", "entries", "format", "head", "taken_at", "version"]
    assert got["format"] == "compounding-audit-anchor" and got["database"] == str(db)
    before = db.read_bytes()
    for target in (db, Path(f"{db}-wal")):
        r = run("db", "anchor", "--output", str(target), "--force", "--db", str(db))
        assert r.exit_code != 0 and r.output.startswith("Error: output: ")
    assert db.read_bytes()[:100] == before[:100]
    out = tmp_path / "a.json"
    out.write_text("keep")
    r = run("db", "anchor", "--output", str(out), "--db", str(db))
    assert r.exit_code != 0 and out.read_text() == "keep"
    assert run("db", "anchor", "--output", str(out), "--force", "--db", str(db)).exit_code == 0


GOOD = {"format": "compounding-audit-anchor", "version": 1, "database": "x", "entries": 3,
        "head": "a" * 64, "taken_at": "2026-12-01T00:00:00.000000Z"}


@pytest.mark.parametrize("content, message", [
    (b"", "not an anchor file (JSON from `compounding db anchor` expected)"),
    (b"\xff\xfe{}", "not an anchor file (JSON from `compounding db anchor` expected)"),
    (b"[1, 2]", "format: not 'compounding-audit-anchor' (make one with `compounding db "
                "anchor --output FILE`)"),
    (json.dumps({**GOOD, "entries": "3"}).encode(), "entries: '3' is not a whole number of "
                                                    "entries (0 or more)"),
    (json.dumps({**GOOD, "entries": 1e3}).encode(), "entries: 1000.0 is not a whole number "
                                                    "of entries (0 or more)"),
    (json.dumps({**GOOD, "entries": -1}).encode(), "entries: -1 is not a whole number of "
                                                   "entries (0 or more)"),
    (json.dumps({**GOOD, "entries": True}).encode(), "entries: True is not a whole number of "
                                                     "entries (0 or more)"),
    (json.dumps(GOOD).replace('"entries": 3', '"entries": NaN').encode(),
     "not an anchor file (JSON from `compounding db anchor` expected)"),
    (json.dumps({**GOOD, "entries": "٣"}).encode(), "entries: '٣' is not a whole number of "
                                                     "entries (0 or more)"),
    (json.dumps({**GOOD, "head": "A" * 64}).encode(), "head: not a digest (64 lowercase hex "
                                                      "digits)"),
    (json.dumps({**GOOD, "head": "a" * 63 + "\u200b"}).encode(),
     "head: not a digest (64 lowercase hex digits)"),
    (json.dumps({**GOOD, "version": 2}).encode(), "version: 2; this version reads 1"),
    (b" " * (65 * 1024), "larger than 65,536 bytes; not an anchor file (make one with "
                         "`compounding db anchor --output FILE`)"),
])
def test_hostile_anchor_files_are_one_line(tmp_path, key, content, message):
    f = tmp_path / "anchor.json"
    f.write_bytes(content)
    with pytest.raises(InputError) as err:
        audit.read_anchor(f)
    assert str(err.value) == f"anchor {f}: {message}"
    db = make(tmp_path, key)
    r = run("db", "verify", "--anchor", str(f), "--db", str(db))
    assert r.exit_code == 2 and r.output == f"Error: anchor {f}: {message}\n"


def test_missing_anchor_file_is_one_line(tmp_path, key):
    db = make(tmp_path, key)
    f = tmp_path / "nope.json"
    r = run("db", "verify", "--anchor", str(f), "--db", str(db))
    assert r.exit_code == 2
    assert r.output == f"Error: anchor {f}: cannot read it (No such file or directory)\n"


# ---------------------------------------------------------------- attack 3: the triggers

def test_dropped_changed_and_extra_triggers_and_views_are_reported(tmp_path, key):
    db = make(tmp_path, key)
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER weighings_no_update")
    con.execute("DROP TRIGGER audit_log_chain")
    con.execute("CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log WHEN 0 "
                "BEGIN SELECT RAISE(ABORT, 'x'); END")
    con.execute("DROP VIEW stock_on_hand")
    con.execute("CREATE VIEW stock_on_hand AS SELECT 1 AS id")
    con.execute("CREATE TRIGGER sneaky AFTER INSERT ON weighings BEGIN "
                "UPDATE batches SET status = 'released'; END")
    con.commit()
    with Store.open(db) as store:
        assert store.verify() == [
            "schema: trigger audit_log_chain differs from what its migration made",
            "schema: trigger weighings_no_update is missing (a migration made it)",
            "schema: view stock_on_hand differs from what its migration made",
            "schema: trigger sneaky was not made by any migration",
        ]
    r = run("db", "verify", "--db", str(db))
    assert r.exit_code == 1 and r.output.splitlines()[0] == (
        "schema: trigger audit_log_chain differs from what its migration made")


# ---------------------------------------------------------------- an unkeyed database moves on

def old_database(path: Path) -> None:
    """A database as the version before the keyed chain left it: migrations up to m015,
    an unkeyed chain (users added), a user locked by wrong passphrases."""
    from sqlite_utils import Database
    db = Database(path)
    migrations.apply(db, stop_before="m018_audit_key_and_lockout")
    db.close()
    with Store.open(path, migrate=False) as store:
        add_users(store, "ana", "bob")
        store.db.execute("UPDATE users SET failed_attempts = 5, locked_at = "
                         "'2026-03-01T12:00:00.000000Z' WHERE name = 'bob'")
        store.db.conn.commit()


def test_unkeyed_database_is_keyed_from_a_marked_point_without_rewriting(tmp_path, key):
    db = tmp_path / "old.db"
    old_database(db)
    con = sqlite3.connect(db)
    before = con.execute("SELECT * FROM audit_log ORDER BY id").fetchall()
    assert all(r[7] == audit_hash(dict(zip(("id", "at", "actor", "action", "lot_id",
                                            "details", "prev_hash"), r[:7]))) for r in before)
    with Store.open(db) as store:
        assert store.verify() == []
        receive(store, "S2")
        assert store.verify() == []
    assert con.execute("SELECT * FROM audit_log ORDER BY id LIMIT ?",
                       [len(before)]).fetchall() == before  # history untouched
    assert con.execute("SELECT keyed_from FROM audit_keys").fetchall() == [(len(before) + 1,)]
    assert con.execute("SELECT name, locked_until, lockouts FROM users ORDER BY name"
                       ).fetchall() == [("ana", None, 0), ("bob", "2026-03-01T12:15:00.000Z", 1),
                                        ("pharm", None, 0), ("phil", None, 0)]
    n = con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    r = run("db", "verify", "--db", str(db))
    kid = audit_key.key_id(audit_key.read_key(key))
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        f"OK: integrity check passed, schema as migrated, {n} audit entries chain, every "
        "record matches the audit log",
        f"Entries 1-{len(before)}: unkeyed SHA-256 chain (written before the chain was keyed; "
        "anyone with the file could have recomputed it: only an anchor taken before proves "
        "it)",
        f"Entries {len(before) + 1}-{n}: keyed HMAC-SHA256 chain (key {kid}, {key})",
        "No anchor given: removing the newest entries is not detectable without one (db "
        "anchor)"]


def test_an_edit_in_the_unkeyed_part_is_caught_by_the_keyed_entry_after_it(tmp_path, key):
    db = tmp_path / "old.db"
    old_database(db)
    with Store.open(db) as store:
        receive(store, "S2")
    con = sqlite3.connect(db)
    first_keyed = con.execute("SELECT keyed_from FROM audit_keys").fetchone()[0]
    saved = triggers(con, "audit_log_no_update")
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    rechain(con)
    con.execute(saved["audit_log_no_update"])
    con.commit()
    with Store.open(db) as store:
        problems = store.verify()
    # the unkeyed part verifies as recomputed; the first keyed entry covers the old head
    assert f"audit_log {first_keyed}: content does not match its hash" in problems
    assert not any(p.startswith("audit_log 2:") for p in problems)


def test_a_key_cannot_be_declared_for_entries_already_written(tmp_path, key):
    db = make(tmp_path, key)
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="a key starts at the next audit entry"):
        con.execute("INSERT INTO audit_keys (keyed_from, key_id, scheme, created_at) VALUES "
                    "(1, '0123456789abcdef', 'hmac-sha256', '2026-01-01T00:00:00Z')")
    for sql in ("UPDATE audit_keys SET keyed_from = 5", "DELETE FROM audit_keys"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)


@pytest.mark.parametrize("kind", ["fifo", "directory", "long-name", "folder-is-a-file"])
def test_key_path_that_cannot_be_a_key_is_one_line(tmp_path, monkeypatch, kind):
    path = tmp_path / "k" / "audit.key"
    path.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(path, 0o600)
        expected = f"audit key {path}: not a regular file"
    elif kind == "directory":
        path.mkdir(mode=0o700)
        expected = f"audit key {path}: not a regular file"
    elif kind == "long-name":
        path = tmp_path / "k" / ("k" * 300)
        expected = f"audit key {path}: cannot read it (File name too long)"
    else:
        (tmp_path / "k" / "f").write_text("x")
        path = tmp_path / "k" / "f" / "audit.key"
        expected = f"audit key {path}: cannot read it (Not a directory)"
    monkeypatch.setenv(audit_key.ENV_VAR, str(path))
    db = tmp_path / "c.db"
    with Store.open(db) as store, pytest.raises(StoreError) as err:
        users.add_user(store, "pharm", "pharmacist", "correct horse battery")
    assert str(err.value) == expected
    con = sqlite3.connect(db)
    assert con.execute("SELECT (SELECT COUNT(*) FROM audit_log), (SELECT COUNT(*) FROM "
                       "users)").fetchone() == (0, 0)  # nothing half-written
    r = run("db", "anchor", "--db", str(db))  # a read: no key needed
    assert r.exit_code == 0 and json.loads(r.output)["entries"] == 0
