"""Issue 12 part 5: lockout without a permanent denial of service, passphrases in NFC.

Five wrong passphrases lock a user for a cool-down (default 15 minutes, doubled on each
lockout in a row, at most 24 hours); a pharmacist may unlock sooner; a pharmacy whose every
pharmacist is locked recovers one with the database's audit key. The clock is the store's
(library tests) or faketime (real processes).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding import auth
from compounding.cli import cli
from compounding.errors import InputError, RefusedError
from compounding.store import Store, audit_key, users

ROOT = Path(__file__).resolve().parent.parent
PASS = "correct horse battery"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def store(tmp_path, clock):
    s = Store.open(tmp_path / "l.db", clock=clock)
    users.add_user(s, "pharm", "pharmacist", PASS)
    users.add_user(s, "phil", "pharmacist", PASS, by="pharm", by_passphrase=PASS)
    users.add_user(s, "tina", "technician", PASS, by="pharm", by_passphrase=PASS)
    yield s
    s.close()


def lock(store, name, n=auth.MAX_FAILED_ATTEMPTS) -> str:
    msg = ""
    for _ in range(n):
        with pytest.raises(RefusedError) as err:
            users.authenticate(store, name, "wrong wrong", "test")
        msg = str(err.value)
    return msg


def row(store, name):
    return store.one("SELECT failed_attempts, locked_at, locked_until, lockouts FROM users "
                     "WHERE name = ?", [name])


@pytest.mark.parametrize("base, lockouts, minutes", [
    (15, 1, 15), (15, 2, 30), (15, 3, 60), (15, 4, 120), (15, 5, 240), (15, 6, 480),
    (15, 7, 960), (15, 8, 1440), (15, 9, 1440), (15, 500, 1440), (1, 1, 1), (1, 11, 1024),
    (1440, 1, 1440), (60, 0, 60),
])
def test_cooldown_doubles_up_to_a_day(base, lockouts, minutes):
    assert users.cooldown_minutes(base, lockouts) == minutes


@pytest.mark.parametrize("base", [0, -15, 1441, True, "15", 15.0])
def test_cooldown_setting_out_of_range_is_refused(base):
    with pytest.raises(InputError, match=r"users.lockout_minutes: .*; a whole number of "
                                         r"minutes from 1 to 1440"):
        users.cooldown_minutes(base, 1)


def test_lockout_is_a_cool_down_and_grows_on_repeat(store, clock):
    assert lock(store, "tina") == ("wrong passphrase for tina: 5 wrong in a row, the user is "
                                   "now locked for 15 minutes (until 01 MAR 2026 12:15 UTC); "
                                   "a pharmacist can unlock them sooner")
    assert row(store, "tina") == {"failed_attempts": 5, "locked_at": "2026-03-01T12:00:00.000000Z",
                                  "locked_until": "2026-03-01T12:15:00.000000Z", "lockouts": 1}
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(RefusedError) as err:
        users.authenticate(store, "tina", PASS, "test")  # the right one is not even checked
    assert str(err.value) == ("user tina is locked after 5 wrong passphrases until 01 MAR "
                              "2026 12:15 UTC; a pharmacist can unlock them sooner: "
                              "compounding users unlock tina --by PHARMACIST")
    with pytest.raises(RefusedError, match="user tina is locked"):
        users.acting(store, "tina")
    clock.advance(seconds=1)
    assert users.user_state(store.one("SELECT * FROM users WHERE name = 'tina'"),
                            clock.now) == "active"
    # after the cool-down: five fresh tries; the next lockout lasts twice as long
    assert lock(store, "tina", 4).endswith("(attempt 4; 5 in a row lock the user)")
    assert lock(store, "tina", 1) == ("wrong passphrase for tina: 5 wrong in a row, the user "
                                      "is now locked for 30 minutes (until 01 MAR 2026 12:45 "
                                      "UTC); a pharmacist can unlock them sooner")
    clock.advance(minutes=30)
    assert lock(store, "tina").endswith("locked for 1 hour (until 01 MAR 2026 13:45 UTC); a "
                                        "pharmacist can unlock them sooner")
    clock.advance(hours=1)
    users.authenticate(store, "tina", PASS, "test")  # right: every count starts again
    assert row(store, "tina") == {"failed_attempts": 0, "locked_at": None,
                                  "locked_until": None, "lockouts": 0}
    assert "locked for 15 minutes" in lock(store, "tina")
    actions = [e["action"] for e in store.audit_log(actor="tina")]
    assert actions.count("auth.lock-ended") == 3 and actions.count("auth.refused") == 1
    failed = [e["details"] for e in store.audit_log(action="auth.failed") if e["details"]["locked"]]
    assert [(d["minutes"], d["lockouts"], d["locked_until"]) for d in failed] == [
        (15, 1, "2026-03-01T12:15:00.000000Z"), (30, 2, "2026-03-01T12:45:00.000000Z"),
        (60, 3, "2026-03-01T13:45:00.000000Z"), (15, 1, "2026-03-01T14:00:00.000000Z")]
    assert store.verify() == []


def test_cool_down_from_the_setting_and_capped(store, clock):
    store.lockout_minutes = lambda: 1000
    lock(store, "tina")
    clock.advance(minutes=1000)
    assert "locked for 24 hours (until 03 MAR 2026 04:40 UTC)" in lock(store, "tina")


def test_a_pharmacist_whose_cool_down_ended_signs_again(store, clock):
    # the schema's signatures_signer trigger checks locked_at IS NULL: the store clears an
    # ended lock before the signature, so the two rules agree
    lock(store, "pharm")
    lock(store, "tina")
    with pytest.raises(RefusedError, match="user pharm is locked"):
        users.unlock_user(store, "tina", by="pharm", passphrase=PASS)
    clock.advance(minutes=15)
    store.lockout_minutes = 60  # tina's lock was set at 15 minutes and ends with it too
    assert users.user_state(store.one("SELECT * FROM users WHERE name = 'tina'"),
                            clock.now) == "active"
    with pytest.raises(RefusedError, match="user tina is not locked"):
        users.unlock_user(store, "tina", by="pharm", passphrase=PASS)
    assert "locked for 2 hours" in lock(store, "tina")
    out = users.unlock_user(store, "tina", by="pharm", passphrase=PASS, reason="forgot")
    assert out["state"] == "active" and out["lockouts"] == 2
    sig = store.one("SELECT * FROM signatures WHERE meaning = 'user-unlocked'")
    assert sig["signer"] == "pharm" and sig["reason"] == "forgot"
    # the lockouts in a row stay after an unlock: the next lock is longer still
    assert "locked for 4 hours" in lock(store, "tina")
    assert store.verify() == []


def test_recovery_when_every_pharmacist_is_locked(store, clock, tmp_path):
    lock(store, "tina")
    lock(store, "pharm")
    with pytest.raises(RefusedError) as err:
        users.recover_pharmacist(store, "pharm", reason="all locked", os_user="root")
    assert str(err.value) == ("pharmacist phil is not locked: they unlock pharm with "
                              "`compounding users unlock pharm --by phil`")
    lock(store, "phil")
    with pytest.raises(RefusedError, match="tina is not an active pharmacist"):
        users.recover_pharmacist(store, "tina", reason="x", os_user="root")
    out = users.recover_pharmacist(store, "pharm", reason="all locked", os_user="root")
    assert out["state"] == "active" and out["lockouts"] == 1
    e = store.audit_log(action="user.recover")[0]
    kid = store.one("SELECT key_id FROM audit_keys")["key_id"]
    assert e["actor"] == "root" and e["details"] == {
        "name": "pharm", "reason": "all locked", "os_user": "root", "key_id": kid,
        "locked_until": "2026-03-01T12:15:00.000000Z",
        "locked_pharmacists": ["pharm", "phil"]}
    users.unlock_user(store, "tina", by="pharm", passphrase=PASS)
    assert store.verify() == []


def test_recovery_needs_the_database_audit_key(store, tmp_path, monkeypatch):
    lock(store, "pharm")
    lock(store, "phil")
    key = store.key_file()
    saved = key.read_bytes()
    store._key = None
    key.unlink()
    try:
        with pytest.raises(RefusedError) as err:
            users.recover_pharmacist(store, "pharm", reason="x", os_user="root")
        assert str(err.value) == (f"recovery needs this database's audit key; the key file "
                                  f"{key} is missing (nothing was changed)")
        other = tmp_path / "other.key"
        audit_key.create_key(other)
        store.audit_key_path = other
        with pytest.raises(RefusedError, match="is not this database's key"):
            users.recover_pharmacist(store, "pharm", reason="x", os_user="root")
    finally:
        key.write_bytes(saved)
        key.chmod(0o600)
    assert users.user_state(store.one("SELECT * FROM users WHERE name = 'pharm'"),
                            store.now()) == "locked"


# ---------------------------------------------------------------- NFC

COMPOSED = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)


def test_decomposed_and_composed_are_the_same_passphrase(store):
    assert COMPOSED != DECOMPOSED
    users.add_user(store, "nora", "technician", DECOMPOSED, by="pharm", by_passphrase=PASS)
    stored = row_hash(store, "nora")
    assert stored.endswith("$nfc")
    for typed in (COMPOSED, DECOMPOSED, COMPOSED):
        users.authenticate(store, "nora", typed, "test")
    assert row(store, "nora")["failed_attempts"] == 0
    with pytest.raises(RefusedError, match=r"attempt 1;"):
        users.authenticate(store, "nora", COMPOSED.replace("\u00e9", "e"), "test")


def row_hash(store, name):
    return store.one("SELECT passphrase_hash FROM users WHERE name = ?", [name])[
        "passphrase_hash"]


def legacy_hash(text: str) -> str:
    """A hash as versions before issue 12 made it: of the characters as typed, untagged."""
    salt = bytes(range(16))
    return f"scrypt$256$8$1${salt.hex()}${auth._scrypt(text, salt, 256, 8, 1)}"


@pytest.mark.parametrize("made_from, typed", [
    (DECOMPOSED, COMPOSED), (DECOMPOSED, DECOMPOSED), (COMPOSED, DECOMPOSED),
    (COMPOSED, COMPOSED), ("plain ascii words", "plain ascii words"),
])
def test_a_hash_from_before_normalisation_is_accepted_and_upgraded(store, made_from, typed):
    users.add_user(store, "olga", "technician", "temporary words", by="pharm",
                   by_passphrase=PASS)
    with store.write():
        store.execute("UPDATE users SET passphrase_hash = ? WHERE name = 'olga'",
                      [legacy_hash(made_from)])
    assert auth.check_passphrase(typed, legacy_hash(made_from)) == (True, True)
    users.authenticate(store, "olga", typed, "sign in")
    upgraded = row_hash(store, "olga")
    assert upgraded.endswith("$nfc") and auth.check_passphrase(
        unicodedata.normalize("NFC", made_from), upgraded) == (True, False)
    assert [e["action"] for e in store.audit_log(actor="olga")][-1] == "auth.rehash"
    users.authenticate(store, "olga", unicodedata.normalize("NFD", made_from), "again")
    assert store.verify() == []


@pytest.mark.parametrize("stored", [
    "", "scrypt$", "bcrypt$256$8$1$00$00", "scrypt$x$8$1$00$00", "scrypt$256$8$1$zz$00",
    "scrypt$256$8$1$00$00$nfd", "scrypt$256$8$1$00$00$nfc$more",
])
def test_malformed_hashes_match_nothing(stored):
    assert auth.check_passphrase(PASS, stored) == (False, False)


def test_new_passphrase_length_counts_characters_as_composed():
    with pytest.raises(InputError, match="at least 8 characters"):
        auth.check_new_passphrase(unicodedata.normalize("NFD", "\u00e9\u00e9\u00e9\u00e9"
                                                               "\u00e9\u00e9\u00e9"))


# ---------------------------------------------------------------- real processes, faketime

def cmd(tmp_path, when, *args, passphrase=PASS):
    env = {**os.environ, "COMPOUNDING_PASSPHRASE": passphrase, "TZ": "UTC",
           "PYTHONPATH": str(ROOT)}
    return subprocess.run(["faketime", when, sys.executable, "-m", "compounding", *args,
                           "--db", str(tmp_path / "f.db")], env=env, capture_output=True,
                          text=True, timeout=120)


def test_cool_down_with_the_clock_moved(tmp_path):
    r = cmd(tmp_path, "2026-12-01 10:00:00", "users", "add", "pharm", "--role", "pharmacist")
    assert r.returncode == 0, r.stderr
    env_new = {"COMPOUNDING_NEW_PASSPHRASE": "tina passphrase"}
    r = subprocess.run(["faketime", "2026-12-01 10:00:00", sys.executable, "-m",
                        "compounding", "users", "add", "tina", "--role", "technician", "--by",
                        "pharm", "--db", str(tmp_path / "f.db")],
                       env={**os.environ, "COMPOUNDING_PASSPHRASE": PASS, **env_new,
                            "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    receive = ("inventory", "receive", "sucrose", "--lot", "S1", "--expires", "2099-01-01",
               "--quantity", "1 g", "--by", "tina")
    for n in range(1, 6):
        r = cmd(tmp_path, "2026-12-01 10:00:00", *receive, passphrase="wrong wrong")
    assert r.returncode == 1 and r.stderr == (
        "Error: wrong passphrase for tina: 5 wrong in a row, the user is now locked for 15 "
        "minutes (until 01 DEC 2026 10:15 UTC); a pharmacist can unlock them sooner\n")
    r = cmd(tmp_path, "2026-12-01 10:14:30", *receive, passphrase="tina passphrase")
    assert r.returncode == 1 and r.stderr.startswith("Error: user tina is locked after 5 "
                                                     "wrong passphrases until 01 DEC 2026 "
                                                     "10:15 UTC")
    r = cmd(tmp_path, "2026-12-01 10:14:30", "users", "list")
    assert "locked until 01 DEC 2026 10:15 UTC" in r.stdout
    # the clock set back does not end a lock sooner; forward past the end does
    r = cmd(tmp_path, "2026-12-01 09:00:00", *receive, passphrase="tina passphrase")
    assert r.returncode == 1 and "is locked" in r.stderr
    # (a minute past: the lock ends 15 minutes after the fifth wrong passphrase, which a
    # loaded machine reaches some seconds after the faked 10:00:00)
    r = cmd(tmp_path, "2026-12-01 10:16:00", *receive, passphrase="tina passphrase")
    assert r.returncode == 0, r.stderr
    r = cmd(tmp_path, "2026-12-01 10:16:01", "db", "verify")
    assert r.returncode == 0, r.stderr


def test_cli_recover_and_unlock(tmp_path):
    db = tmp_path / "c.db"

    def run(*args, passphrase=PASS, new=None):
        env = {"COMPOUNDING_PASSPHRASE": passphrase}
        if new:
            env["COMPOUNDING_NEW_PASSPHRASE"] = new
        return CliRunner().invoke(cli, [*args, "--db", str(db)], env=env)

    assert run("users", "add", "pharm", "--role", "pharmacist").exit_code == 0
    for _ in range(5):
        r = run("inventory", "receive", "sucrose", "--lot", "S1", "--expires", "2099-01-01",
            "--quantity", "1 g", "--by", "pharm", passphrase="nope nope")
    assert "now locked for 15 minutes" in r.output
    r = run("users", "recover", "pharm")
    assert r.exit_code == 2 and "Missing option '--reason'" in r.output
    r = run("users", "recover", "pharm", "--reason", "only pharmacist locked out")
    assert r.exit_code == 0, r.output
    assert r.output == ("Recovered pharm: unlocked without a signature (recorded on the audit "
                        "log with the OS account); they can sign in and unlock the others\n")
    r = run("users", "recover", "pharm", "--reason", "again")
    assert r.exit_code == 1 and r.output == (
        "Error: pharmacist pharm is not locked: they unlock pharm with `compounding users "
        "unlock pharm --by pharm`\n")
    assert run("inventory", "receive", "sucrose", "--lot", "S1", "--expires", "2099-01-01",
               "--quantity", "1 g", "--by", "pharm").exit_code == 0
    assert run("db", "verify").exit_code == 0


def test_processes_racing_wrong_passphrases_lock_exactly_once(tmp_path):
    # eight processes each try one wrong passphrase for tina at the same moment: the count
    # is kept under the write lock, so exactly five are counted, one locks, the rest refused
    db = tmp_path / "race.db"
    with Store.open(db) as s:
        users.add_user(s, "pharm", "pharmacist", PASS)
        users.add_user(s, "tina", "technician", PASS, by="pharm", by_passphrase=PASS)
    code = ("import sys, time\n"
            "from compounding.store import Store, users\n"
            "from compounding.errors import RefusedError\n"
            "s = Store.open(sys.argv[1])\n"
            "while time.time() < float(sys.argv[2]): time.sleep(0.001)\n"
            "try:\n"
            "    users.authenticate(s, 'tina', 'wrong wrong', 'race')\n"
            "except RefusedError as e:\n"
            "    print(e)\n")
    import time
    start = str(time.time() + 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), start], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0] * 8
    assert sum("(attempt" in o for o in outs) == 4
    assert sum("now locked for 15 minutes" in o for o in outs) == 1
    assert sum(o.startswith("user tina is locked after 5") for o in outs) == 3
    with Store.open(db) as s:
        r = s.one("SELECT failed_attempts, lockouts FROM users WHERE name = 'tina'")
        assert r == {"failed_attempts": 5, "lockouts": 1}
        failed = [e["details"] for e in s.audit_log(action="auth.failed")]
        assert sorted(d["attempt"] for d in failed) == [1, 2, 3, 4, 5]
        assert [d["locked"] for d in failed].count(True) == 1
        assert s.verify() == []


def test_key_creation_killed_before_the_key_appears_leaves_no_key(tmp_path):
    # SIGKILL between writing the temporary key and linking it into place: no key file (a
    # half key is never seen), and the next writer makes a whole one
    keyfile = tmp_path / "k" / "audit.key"
    code = ("import os, sys, time\n"
            "from compounding.store import audit_key\n"
            "real = os.link\n"
            "def slow(a, b):\n"
            "    print('LINKING', flush=True); time.sleep(60); real(a, b)\n"
            "os.link = slow\n"
            "audit_key.create_key(__import__('pathlib').Path(sys.argv[1]))\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(keyfile)], stdout=subprocess.PIPE,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout.readline().strip() == "LINKING"
    p.kill()
    p.wait(30)
    assert not keyfile.exists()
    leftovers = list(keyfile.parent.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".audit.key.tmp-")
    key = audit_key.create_key(keyfile)
    assert audit_key.read_key(keyfile) == key and len(key) == 32
