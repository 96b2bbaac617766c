"""The batch lifecycle held by the schema and checked by ``db verify`` (session 4 attack,
findings 4 and 7: m023), and who may change users in a group (finding 1), on both backends.

Raw SQL here is what a script with the database's write access can send (SQLite: whoever
can write the file; PostgreSQL: the superuser or the owner in the ``store_path`` half, the
service role where named). Every refusal is the trigger's own message.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.errors import PrivilegeError, StoreError
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, postgres, signoff
from signoff_support import PASS, ROOT, add_users, approve_formulas, weigh_all
from store_backends import commit, drop_trigger, is_postgres

REG = Registry.load(ROOT / "formulas")


class Clock:
    def __call__(self):
        return datetime(2026, 5, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(store_path):
    s = Store.open(store_path, clock=Clock())
    add_users(s, "ana", "bo")
    approve_formulas(s, REG)
    s.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("5 g"), "ana")
    s.receive_lot("naltrexone-hcl", "NX2", date(2028, 5, 31), u.parse("5 g"), "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 12, 31), u.parse("500 g"),
                  "ana")
    yield s
    s.close()


def planned(store) -> str:
    f = REG.get("ldn-capsules")
    order = Order.from_text(f, quantity="30", strength="4.5 mg")
    return store.create_batch(f, REG.catalogue, Settings(), order, by="ana",
                              formula_sha256=REG.hashes[f.id])["lot_id"]


def raw(store, sql: str, params=()):
    """One statement in its own write transaction (committed unless refused)."""
    with store.write():
        store.execute(sql, list(params))


def raw_signature(store, lot: str, meaning: str, sha: str, signer="phil", role="pharmacist",
                  reason=None) -> int:
    """A signature row inserted by plain SQL (no passphrase, no audit entry)."""
    raw(store, "INSERT INTO signatures (signer, signer_name, role, meaning, subject_type, "
               "subject_id, record_sha256, lot_id, reason, details, signed_at) VALUES "
               "(?, ?, ?, ?, 'batch', ?, ?, ?, ?, '{}', '2026-05-23T12:00:00Z')",
        [signer, signer, role, meaning, lot, sha, lot, reason])
    return store.scalar("SELECT MAX(id) FROM signatures")


def refused(store, message: str, sql: str, params=()):
    with pytest.raises(store.backend.IntegrityError, match=message):
        raw(store, sql, params)


STATUS = "UPDATE batches SET status = ? WHERE lot_id = ?"


# ---------------------------------------------------------------- finding 4: status changes

def test_each_status_change_needs_its_evidence_in_the_schema(store):
    lot = planned(store)
    refused(store, "^batches: a batch is compounded only when every plan step has a weighing",
            STATUS, ["compounded", lot])
    refused(store, "^batches: a batch is put on hold only with a signed quarantine",
            STATUS, ["quarantine", lot])
    refused(store, "^batches: a batch is rejected only with a pharmacist's rejection "
                   "signature", STATUS, ["rejected", lot])
    # a signature of another meaning does not do
    raw_signature(store, lot, "quarantined", "0" * 64, reason="x")
    refused(store, "rejected only with a pharmacist's rejection signature", STATUS,
            ["rejected", lot])
    # the store's own hold, then lifting it by hand: only with a hold-lifted signature, and
    # only back to the status before the hold (planned here)
    signoff.quarantine_batch(store, lot, by="ana", passphrase=PASS, reason="label smudged")
    refused(store, "^batches: a hold is lifted only with a pharmacist's signature",
            STATUS, ["planned", lot])
    raw_signature(store, lot, "hold-lifted", "0" * 64, reason="x")
    refused(store, "compounded only when every plan step has a weighing", STATUS,
            ["compounded", lot])
    lot2 = planned(store)
    weigh_all(store, lot2, "bo")
    signoff.quarantine_batch(store, lot2, by="ana", passphrase=PASS, reason="smell")
    raw_signature(store, lot2, "hold-lifted", "0" * 64, reason="x")
    refused(store, "back to the status the batch had before the hold", STATUS,
            ["planned", lot2])
    # the store's paths all still work: lift, weigh (compounded), verify, release, hold
    # after release, release again, and a rejection with its signature
    signoff.lift_hold(store, lot, by="pharm", passphrase=PASS, reason="label reprinted")
    weigh_all(store, lot, "bo")
    assert store.get_batch(lot)["status"] == "compounded"
    assert signoff.verify_batch(store, lot, by="phil", passphrase=PASS)["passed"]
    signoff.release_batch(store, lot, by="phil", passphrase=PASS)
    signoff.quarantine_batch(store, lot, by="bo", passphrase=PASS, reason="complaint")
    signoff.release_batch(store, lot, by="phil", passphrase=PASS, reason="complaint unfounded")
    signoff.reject_batch(store, lot2, by="pharm", passphrase=PASS, reason="wrong strength")
    # the signatures made by hand are not on the audit log; nothing else is amiss
    problems = store.verify()
    assert len(problems) == 3 and all(p.endswith(": not on the audit log") for p in problems)


# ---------------------------------------------------------------- finding 7: the release

def test_a_release_needs_a_passing_verification_of_the_batch_as_it_stands(store):
    lot = planned(store)
    weigh_all(store, lot, "bo")
    store.record_weighing(lot, step=1, amount=u.q(store.get_batch(lot)["steps"][0]["quantity"],
                                                  store.get_batch(lot)["steps"][0]["unit"]),
                          by="pharm", reweigh_reason="checked by the pharmacist")
    # the attack: a release signature inserted by hand, no verification at all
    raw_signature(store, lot, "released", "a" * 64)
    refused(store, r"^batches: a batch is released only after a passing verification of the "
                   r"batch as it stands \(verify it again\)", STATUS, ["released", lot])
    # a passing verification by the store; a release signature of another digest
    ver = signoff.verify_batch(store, lot, by="phil", passphrase=PASS)
    assert ver["passed"]
    raw_signature(store, lot, "released", "a" * 64)
    refused(store, "^batches: the release signature must sign the batch as verified",
            STATUS, ["released", lot])
    # the verified digest, signed by a pharmacist who weighed for the batch
    raw_signature(store, lot, "released", ver["batch_sha256"], signer="pharm")
    refused(store, "^batches: a batch is released by a pharmacist who neither compounded nor "
                   "weighed it", STATUS, ["released", lot])
    # the verified digest, but weighed again since the verification
    step = store.get_batch(lot)["steps"][1]
    store.record_weighing(lot, step=2, amount=u.q(step["quantity"], step["unit"]), by="bo",
                          reweigh_reason="spilled")
    raw_signature(store, lot, "released", ver["batch_sha256"])
    refused(store, "passing verification of the batch as it stands", STATUS,
            ["released", lot])
    # a forged passing verification: refused while the verifier weighed, or a step is not
    # weighed (a second batch)
    sig = raw_signature(store, lot, "verified", "b" * 64, signer="pharm")
    refused(store, "^verifications: the verifier must be a pharmacist who neither compounded "
                   "nor weighed the batch",
            "INSERT INTO verifications (lot_id, signature_id, passed, batch_sha256) VALUES "
            "(?, ?, 1, ?)", [lot, sig, "b" * 64])
    lot2 = planned(store)
    sig = raw_signature(store, lot2, "verified", "b" * 64)
    refused(store, "^verifications: a batch passes verification only when every plan step "
                   "has a weighing",
            "INSERT INTO verifications (lot_id, signature_id, passed, batch_sha256) VALUES "
            "(?, ?, 1, ?)", [lot2, sig, "b" * 64])
    # the store's path: verify again, release
    assert signoff.verify_batch(store, lot, by="phil", passphrase=PASS)["passed"]
    assert signoff.release_batch(store, lot, by="phil", passphrase=PASS)["status"] == "released"
    scopes = store.rows("SELECT * FROM verification_scopes WHERE lot_id = ? ORDER BY "
                        "verification_id", [lot])
    assert [(s["weighings"], s["bud"]) for s in scopes] == [
        (len(store.get_batch(lot)["steps"]) + 1, store.get_batch(lot)["bud"]),
        (len(store.get_batch(lot)["steps"]) + 2, store.get_batch(lot)["bud"])]
    refused(store, "^verification_scopes is append-only", "UPDATE verification_scopes SET "
                   "weighings = 0")
    refused(store, "^verification_scopes: a verification's scope is the batch as it stood",
            "INSERT INTO verification_scopes (verification_id, lot_id, weighings, "
            "last_weighing_id, bud) VALUES (?, ?, 0, NULL, ?)",
            [ver["verification_id"] + 100, lot, "2026-06-01"])


def test_plan_steps_and_components_are_recorded_with_their_batch_only(store):
    lot = planned(store)
    weigh_all(store, lot, "bo")
    refused(store, "^batch_steps: a plan step is recorded with its batch",
            "INSERT INTO batch_steps (lot_id, step, what, ingredient, quantity, unit) VALUES "
            "(?, 99, 'extra', NULL, '1', 'mg')", [lot])
    mcc = store.find_lot("microcrystalline-cellulose", "MCC1")["id"]
    refused(store, "^batch_components: a planned component is recorded with its batch",
            "INSERT INTO batch_components (lot_id, ingredient, component_lot_id, "
            "planned_quantity, unit, chosen) VALUES (?, 'lactose', ?, '1', 'mg', 'named')",
            [lot, mcc])


# ---------------------------------------------------------------- finding 4: the BUD

def test_a_bud_is_never_lengthened_by_hand_and_a_shortening_by_hand_is_named(store):
    lot = planned(store)
    b = store.get_batch(lot)
    bud, bud_json = b["bud"], store.scalar("SELECT bud_json FROM batches WHERE lot_id = ?",
                                           [lot])
    later = json.loads(bud_json)
    later["bud"] = "2027-05-30"  # before every lot's expiry, past the USP <795> limit
    for c in later["candidates"]:
        if c["kind"] != "component-lot":
            c["date"] = "2027-05-30"
    refused(store, "^batches: a BUD is never lengthened by hand",
            "UPDATE batches SET bud = '2027-05-30' WHERE lot_id = ?", [lot])
    refused(store, "^batches: a BUD is never lengthened by hand",
            "UPDATE batches SET bud = '2027-05-30', bud_json = ? WHERE lot_id = ?",
            [json.dumps(later), lot])
    later["bud"] = bud  # first the limits alone, then the BUD up to them
    refused(store, "^batches: a limit of the BUD that does not depend on the lots used never "
                   "moves later", "UPDATE batches SET bud_json = ? WHERE lot_id = ?",
            [json.dumps(later), lot])
    noted = json.loads(bud_json)
    noted["note"] = "x"
    refused(store, "^batches: bud_json must state the BUD of the record, and changes only "
                   "with it", "UPDATE batches SET bud_json = ? WHERE lot_id = ?",
            [json.dumps(noted), lot])
    refused(store, "^batches: bud_json must state the BUD of the record",
            "UPDATE batches SET bud = '2026-06-30' WHERE lot_id = ?", [lot])
    # shortened by hand: the schema allows it (DOMAIN.md); db verify names the batch
    shorter = json.loads(bud_json)
    shorter["bud"] = "2026-06-30"
    raw(store, "UPDATE batches SET bud = '2026-06-30', bud_json = ? WHERE lot_id = ?",
        [json.dumps(shorter), lot])
    entry = store.audit_log(lot_id=lot, action="batch.create")[0]["id"]
    assert store.verify() == [
        f"batch {lot}: its BUD is 2026-06-30, but the audit log leaves it {bud} (entry "
        f"{entry})",
        f"batch {lot}: its bud_json differs from what audit entry {entry} recorded"]
    # once compounded, even a lengthening the lots would allow is refused
    lot2 = planned(store)
    weigh_all(store, lot2, "bo")
    longer = date.fromordinal(date.fromisoformat(store.get_batch(lot2)["bud"]).toordinal() + 1)
    refused(store, "never lengthened by hand", "UPDATE batches SET bud = ? WHERE lot_id = ?",
            [longer.isoformat(), lot2])


def test_the_store_still_lengthens_a_planned_bud_to_the_lots_actually_weighed(store):
    # NX1 (earliest expiry) is planned; the technician weighs NX2: the BUD follows the lots
    # used, within the rule's limit (a recomputation, audited, not a change by hand)
    store.receive_lot("naltrexone-hcl", "NX0", date(2026, 7, 31), u.parse("5 g"), "ana")
    lot = planned(store)
    assert store.get_batch(lot)["bud"] == "2026-07-31"
    step = next(s for s in store.get_batch(lot)["steps"] if s["ingredient"] == "naltrexone-hcl")
    w = store.record_weighing(lot, step=step["step"], component_lot="NX2",
                              amount=u.q(step["quantity"], step["unit"]), by="bo")
    assert w["bud_changed"] and w["bud"] > "2026-07-31"
    assert store.verify() == []


# ---------------------------------------------------------------- db verify, triggers dropped

def test_db_verify_names_each_batch_changed_without_the_store(store):
    a, b, c = planned(store), planned(store), planned(store)
    weigh_all(store, c, "bo")
    # a tamperer who may drop triggers (SQLite: the file's owner; PostgreSQL: the owner role)
    drop_trigger(store, "batches_lifecycle_signed", "batches")
    drop_trigger(store, "batches_lifecycle", "batches")
    commit(store)
    raw(store, STATUS, ["rejected", a])
    drop_trigger(store, "batches_status_history", "batches")
    commit(store)
    raw(store, STATUS, ["quarantine", b])
    # the store's own change, then one by hand on top of it
    signoff.verify_batch(store, c, by="phil", passphrase=PASS)
    raw(store, STATUS, ["planned", c])
    hist = store.scalar("SELECT id FROM batch_status_history WHERE lot_id = ? AND "
                        "new_status = 'rejected'", [a])
    weighed = store.audit_log(lot_id=c, action="batch.status")[0]["id"]
    problems = [p for p in store.verify() if p.startswith("batch ")]
    assert problems == [
        f"batch {a}: its status went planned -> rejected (batch_status_history {hist}) with "
        "no audit entry: changed without the store",
        f"batch {a}: its status is rejected, but the audit log leaves it planned",
        f"batch {b}: its status is quarantine, but the audit log leaves it planned",
        f"batch {c}: its status is planned, but the audit log leaves it compounded (entry "
        f"{weighed})"]


# ---------------------------------------------------------------- finding 1: users in a group

def _script(cluster, sql: str):
    """``sql`` run as a script by psql (as docs/deploy.md runs roles.sql)."""
    import subprocess
    out = subprocess.run(cluster.prefix + [str(cluster.bin / "psql"), "-X", "-q", "-v",
                                           "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                           str(cluster.port), "-U", "postgres", "-d",
                                           "postgres", "-f", "-"],
                         input=sql, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.fixture
def group(pg_cluster):
    """A database set up as ``db init-roles`` prints it, migrated by its owner, with users
    added by the owner: ``(owner_url, service_url, service_role)``."""
    tag = uuid.uuid4().hex[:8]
    names = {"database": f"lc_{tag}", "owner": f"lown_{tag}", "service": f"lsvc_{tag}"}
    _script(pg_cluster, postgres.roles_sql(**names))
    owner_url = pg_cluster.url(names["database"], names["owner"])
    with Store.open(owner_url, clock=Clock()) as o:
        add_users(o, "ana")
    return owner_url, pg_cluster.url(names["database"], names["service"]), names["service"]


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env={"COMPOUNDING_PASSPHRASE": PASS,
                                                    "COMPOUNDING_NEW_PASSPHRASE": PASS + "!",
                                                    **(env or {})})


def test_in_a_group_only_the_owner_adds_users_and_changes_passphrases(group):
    owner_url, service_url, role = group
    tail = ("in a group on PostgreSQL only the owner role may (so that the service's "
            "credentials cannot make or change a signer): run it with the owner's URL, --db "
            "postgresql://OWNER@HOST:PORT/NAME (docs/deploy.md); nothing was changed\n")
    r = run("users", "add", "tess", "--role", "technician", "--by", "pharm", "--db",
            service_url)
    assert (r.exit_code, r.output) == (1, f"Error: users add: the database role {role} may "
                                          f"not add users; {tail}")
    r = run("users", "passphrase", "ana", "--db", service_url)
    assert (r.exit_code, r.output) == (1, f"Error: users passphrase: the database role {role} "
                                          f"may not change passphrases; {tail}")
    r = run("users", "deactivate", "ana", "--by", "pharm", "--db", service_url)
    assert (r.exit_code, r.output) == (1, f"Error: users deactivate: the database role {role} "
                                          f"may not deactivate users; {tail}")
    with Store.open(service_url) as s:
        assert [u["name"] for u in s.rows("SELECT name FROM users ORDER BY id")] == [
            "pharm", "phil", "ana"]
        for sql in ("UPDATE users SET passphrase_hash = passphrase_hash",
                    "UPDATE users SET active = 0, deactivated_by = 'x', deactivated_at = "
                    "'2026-05-23T12:00:00Z' WHERE name = 'ana'",
                    "INSERT INTO users (name, full_name, role, passphrase_hash, created_by, "
                    "created_at) VALUES ('mallory', 'm', 'pharmacist', 'scrypt$x', 'pharm', "
                    "'2026-05-23T12:00:00Z')"):
            with pytest.raises(PrivilegeError, match="permission denied for table users"):
                raw(s, sql)
        # the lockout stays the service's: wrong passphrases count, a pharmacist unlocks
        for _ in range(5):
            with pytest.raises(Exception, match="wrong passphrase for ana"):
                signoff.authenticate(s, "ana", "not it at all", "test")
        assert s.scalar("SELECT locked_at IS NOT NULL FROM users WHERE name = 'ana'")
        signoff.unlock_user(s, "ana", by="pharm", passphrase=PASS)
    # the owner role does each of them
    assert run("users", "add", "tess", "--role", "technician", "--by", "pharm", "--db",
               owner_url).exit_code == 0
    r = run("users", "passphrase", "ana", "--db", owner_url)
    assert (r.exit_code, r.output) == (0, "Passphrase changed for ana\n")
    assert run("users", "deactivate", "tess", "--by", "pharm", "--db", owner_url).exit_code == 0
    with Store.open(owner_url) as o:
        assert o.verify() == []


def test_the_service_role_cannot_release_a_batch_nobody_weighed(group):
    """Attack s4 finding 7, as the attacker did it: the service role's plain SQL."""
    owner_url, service_url, role = group
    with Store.open(owner_url, clock=Clock()) as o:
        approve_formulas(o, REG)
        o.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("5 g"), "ana")
        o.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 12, 31),
                      u.parse("500 g"), "ana")
        lot = planned(o)
    with Store.open(service_url, clock=Clock()) as s:
        refused(s, "compounded only when every plan step has a weighing", STATUS,
                ["compounded", lot])
        raw_signature(s, lot, "released", "a" * 64)
        weigh_all(s, lot, "ana")
        refused(s, "released only after a passing verification", STATUS, ["released", lot])
        assert s.get_batch(lot)["status"] == "compounded"


def test_init_roles_says_who_adds_users():
    r = CliRunner().invoke(cli, ["db", "init-roles", "--database", "ldn", "--owner",
                                 "ldn_owner", "--service", "ldn_service"])
    assert r.exit_code == 0
    assert ("-- Users are added, deactivated and change their passphrases with the owner's "
            "URL:\n--   compounding users add NAME --role ROLE --by PHARMACIST --db "
            "postgresql://ldn_owner@HOST:5432/ldn\n") in r.output
