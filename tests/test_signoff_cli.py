"""Sign-off through the CLI with a real database file: the whole lifecycle end to end, and
every refusal of issue 7 with its one clear line and a non-zero exit."""

from __future__ import annotations

import re

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from compounding.store import users as users_mod

from compounding.cli import cli
from compounding.store import Store, signoff
from signoff_support import add_users, approve_formulas, approve_templates

ROOT = Path(__file__).resolve().parent.parent
TINA, PHARM, PHIL = "tina secret 1", "pharm secret 1", "phil secret 1"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("COMPOUNDING_SETTINGS", "COMPOUNDING_FORMULAS", "COMPOUNDING_TEMPLATES",
                "COMPOUNDING_DB", "COMPOUNDING_PASSPHRASE", "COMPOUNDING_NEW_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


class Cli:
    """Runs commands against one database file, as one person at a time."""

    def __init__(self, tmp_path, formulas=ROOT / "formulas", templates=ROOT / "templates"):
        self.db = tmp_path / "c.db"
        self.tmp = tmp_path
        self.pre = ["--formulas", str(formulas), "--templates", str(templates)]

    def __call__(self, *args, passphrase=None, new=None, input=None):
        env = {}
        if passphrase:
            env["COMPOUNDING_PASSPHRASE"] = passphrase
        if new:
            env["COMPOUNDING_NEW_PASSPHRASE"] = new
        return CliRunner().invoke(cli, [*self.pre, *args, "--db", str(self.db)], env=env,
                                  input=input)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.exit_code == 0, r.output
        return r

    def refused(self, *args, code=1, **kw) -> str:
        """The one error line of a refused command."""
        r = self(*args, **kw)
        assert r.exit_code == code, r.output
        assert r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output
        return r.output.rstrip("\n")

    def json(self, *args, **kw):
        return json.loads(self.ok(*args, "--json", **kw).stdout)


def people(c: Cli):
    c.ok("users", "add", "pharm", "--role", "pharmacist", "--full-name", "Pat Pharmacist",
         passphrase=PHARM)
    c.ok("users", "add", "phil", "--role", "pharmacist", "--by", "pharm", passphrase=PHARM,
         new=PHIL)
    c.ok("users", "add", "tina", "--role", "technician", "--by", "pharm", passphrase=PHARM,
         new=TINA)


def stock(c: Cli):
    for ing, lot, qty in (("naltrexone-hcl", "NX1", "10 g"),
                          ("microcrystalline-cellulose", "MCC1", "500 g")):
        c.ok("inventory", "receive", ing, "--lot", lot, "--expires", "2030-01-31",
             "--quantity", qty, "--by", "tina", passphrase=TINA)


def approve(c: Cli, kind: str, subject: str):
    group = "formulas" if kind == "formula" else "labels"
    c.ok(group, "submit", subject, "--by", "tina", passphrase=TINA)
    c.ok(group, "approve", subject, "--by", "pharm", passphrase=PHARM)


def create(c: Cli, by="tina", pw=TINA, *extra) -> str:
    return c.json("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                  "1.5 mg", *extra, "--by", by, passphrase=pw)["lot_id"]


def weigh(c: Cli, lot: str, by="tina", pw=TINA, off: dict | None = None):
    for s in c.json("batch", "show", lot)["steps"]:
        amount = f"{s['quantity']} {s['unit']}"
        extra = []
        if off and s["step"] in off:
            amount, extra = off[s["step"]], ["--deviation", "spilled, topped up"]
        c.ok("batch", "weigh", lot, "--step", str(s["step"]), "--amount", amount, *extra,
             "--by", by, passphrase=pw)


@pytest.fixture
def c(tmp_path):
    c = Cli(tmp_path)
    people(c)
    approve(c, "formula", "ldn-capsules")
    stock(c)
    return c


def released(c: Cli) -> str:
    approve(c, "template", "batch-thermal")
    approve(c, "template", "dispensing-thermal")
    lot = create(c)
    weigh(c, lot)
    c.ok("batch", "verify", lot, "--by", "pharm", passphrase=PHARM)
    c.ok("batch", "release", lot, "--by", "pharm", passphrase=PHARM)
    return lot


# ---------------------------------------------------------------- the whole lifecycle

def test_lifecycle_end_to_end(tmp_path):
    c = Cli(tmp_path)
    r = c.ok("users", "add", "pharm", "--role", "pharmacist", "--full-name", "Pat Pharmacist",
             passphrase=PHARM)
    assert r.stdout == "Added pharm (Pat Pharmacist, pharmacist, active)\n"
    assert r.stderr == f"Created new database {tmp_path / 'c.db'}\n"  # issue 12: said once
    r = c.ok("users", "add", "tina", "--role", "technician", "--by", "pharm",
             passphrase=PHARM, new=TINA)
    assert r.output == "Added tina (tina, technician, active), by pharm\n"
    c.ok("users", "add", "phil", "--role", "pharmacist", "--by", "pharm", passphrase=PHARM,
         new=PHIL)
    # change control: tina authors, pharm approves
    r = c.ok("formulas", "submit", "ldn-capsules", "--by", "tina", "--note", "first",
             passphrase=TINA)
    assert r.output.startswith("Submitted formula ldn-capsules version 1 (SHA-256 ")
    r = c.ok("formulas", "approve", "ldn-capsules", "--by", "pharm", passphrase=PHARM)
    lines = r.output.splitlines()
    assert lines[0].startswith("Approved formula ldn-capsules version 1 (SHA-256 ")
    assert lines[0].endswith("), author tina")
    assert lines[1].startswith("Signed: Pat Pharmacist (pharm, pharmacist), approved, ")
    for t in ("batch-thermal", "dispensing-thermal"):
        approve(c, "template", t)
    stock(c)
    lot = create(c)
    assert c.json("batch", "show", lot)["status"] == "planned"
    weigh(c, lot)
    assert c.json("batch", "show", lot)["status"] == "compounded"

    r = c.ok("batch", "verify", lot, "--by", "pharm", passphrase=PHARM)
    out = r.output.splitlines()
    assert out[0] == f"Verification of batch {lot}:"
    assert out[1].startswith("  [PASS] formula ldn-capsules version 1 (SHA-256 ")
    assert out[2] == "  [PASS] every plan step weighed (2 of 2)"
    assert out[3].startswith("  [PASS] step 1 (Naltrexone hydrochloride into the blend): ")
    assert out[3].endswith(", 0% (tolerance ±5%)")
    assert "  [PASS] naltrexone-hcl lot NX1: expires 31 JAN 2030, valid and unexpired at " \
           "compounding" in out
    assert any(x.startswith("  [PASS] BUD recomputed from the lots used: ") for x in out)
    assert ("  [PASS] verifier pharm is a pharmacist and neither compounded nor weighed this "
            "batch") in out
    assert out[-2].startswith("Signed: Pat Pharmacist (pharm, pharmacist), verified, ")
    assert out[-1] == f"Verified: batch {lot} may be released"

    r = c.ok("batch", "release", lot, "--by", "pharm", passphrase=PHARM)
    assert r.output.splitlines()[0] == f"Released batch {lot} (was compounded)"
    c.ok("labels", "print", lot, "--output", str(tmp_path / "b.pdf"), "--by", "tina",
         passphrase=TINA)
    c.ok("labels", "dispense", lot, "--patient", "Jane Doe", "--directions", "Take one at "
         "bedtime", "--prescriber", "Dr C", "--rx", "RX-1", "--quantity", "30", "--output",
         str(tmp_path / "d.pdf"), "--by", "tina", passphrase=TINA)

    # recall from the supplier lot and from the batch: batch, label print, patient
    r = c.ok("recall", "NX1")
    out = r.output.splitlines()
    assert out[0] == "Lot NX1: 1 batch"
    assert out[3].split()[:4] == [lot, "naltrexone-hcl", "ldn-capsules", "released"]
    i = out.index("Label prints (1):")
    assert out[i + 3].split()[:6] == [lot, "batch", "batch-thermal", "v1", "1", "no"]
    i = out.index("Dispensed to patients (1):")
    assert out[i + 1].split() == ["BATCH", "PATIENT", "RX", "DISPENSED", "QUANTITY",
                                  "PRESCRIBER", "BY"]
    assert out[i + 3].split()[:4] == [lot, "Jane", "Doe", "RX-1"]
    rows = c.json("recall", "NX1")
    assert rows[0]["dispensed"][0]["patient"] == "Jane Doe"
    assert rows[0]["dispensed"][0]["rx_number"] == "RX-1"
    assert rows[0]["label_prints"][0]["template_id"] == "batch-thermal"
    rec = c.json("recall", "--batch", lot)
    assert rec["status"] == "released"
    assert [(d["patient"], d["rx_number"]) for d in rec["dispensed"]] == [("Jane Doe", "RX-1")]
    assert {x["lot_number"] for x in rec["component_lots"]} == {"NX1", "MCC1"}
    assert c.ok("recall", "--batch", lot).output.splitlines()[0].startswith(
        f"Batch {lot}: ldn-capsules, 1.5 mg, 100 capsules; status released; BUD ")

    # a recall hold, lifted by a pharmacist's release; then a hold and a rejection
    r = c.ok("batch", "quarantine", lot, "--reason", "supplier recall of NX1", "--by", "tina",
             passphrase=TINA)
    assert r.output.splitlines()[0] == (f"Batch {lot} on hold (quarantine; was released): "
                                        "supplier recall of NX1")
    assert c.refused("labels", "print", lot, "--output", str(tmp_path / "q.pdf"), "--by",
                     "tina", passphrase=TINA) == (
        f"Error: batch {lot} is on hold (quarantine): labels print only for a released batch")
    assert not (tmp_path / "q.pdf").exists()
    assert c.refused("batch", "release", lot, "--by", "pharm", passphrase=PHARM) == (
        f"Error: batch {lot} is on hold (quarantine); give --reason saying why the hold ends")
    r = c.ok("batch", "release", lot, "--reason", "lot NX1 cleared by supplier", "--by",
             "pharm", passphrase=PHARM)
    assert r.output.splitlines()[0] == f"Released batch {lot} (was quarantine)"
    c.ok("batch", "quarantine", lot, "--reason", "complaint", "--by", "pharm",
         passphrase=PHARM)
    r = c.ok("batch", "reject", lot, "--reason", "capsules cracked", "--by", "pharm",
             passphrase=PHARM)
    assert r.output.splitlines()[0] == (f"Rejected batch {lot} (was quarantine): capsules "
                                        "cracked")
    assert c.refused("labels", "dispense", lot, "--patient", "A B", "--directions", "x",
                     "--prescriber", "Dr C", "--rx", "2", "--quantity", "30", "--by", "tina",
                     passphrase=TINA) == (
        f"Error: batch {lot} is rejected: labels print only for a released batch")

    # a correction is a new batch pointing at the old one
    new = c.json("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                 "1.5 mg", "--corrects", lot, "--reason", "remake of cracked batch", "--by",
                 "tina", passphrase=TINA)
    assert new["corrects"]["corrects_lot_id"] == lot
    old = c.json("batch", "show", lot)
    assert old["corrected_by"]["lot_id"] == new["lot_id"]
    assert [s["meaning"] for s in old["signatures"]] == [
        "verified", "released", "quarantined", "released", "quarantined", "rejected"]
    assert [(h["old_status"], h["new_status"]) for h in old["status_history"]] == [
        ("planned", "compounded"), ("compounded", "released"), ("released", "quarantine"),
        ("quarantine", "released"), ("released", "quarantine"), ("quarantine", "rejected")]
    show = c.ok("batch", "show", lot).output.splitlines()
    assert f"Corrected by batch {new['lot_id']}: remake of cracked batch" in show
    assert any(x.startswith("Signature: rejected by Pat Pharmacist (pharm, pharmacist) at ")
               and x.endswith(": capsules cracked") for x in show)

    # the audit trail, oldest first, by batch and by user; the database is consistent
    trail = c.json("audit", "--batch", lot)
    actions = [e["action"] for e in trail]
    assert actions.index("batch.create") < actions.index("sign.verified") < \
        actions.index("sign.released") < actions.index("sign.rejected")
    assert [e["id"] for e in trail] == sorted(e["id"] for e in trail)
    assert {e["actor"] for e in c.json("audit", "--user", "TINA")} == {"tina"}
    table = c.ok("audit", "--batch", lot, "--since", "2000-01-01").output.splitlines()
    assert table[0].split() == ["ID", "AT", "(UTC)", "BY", "ACTION", "LOT", "DETAILS"]
    assert c.ok("audit", "--since", "2999-01-01").output == "No audit entries\n"
    assert c.refused("audit", "--since", "01/02/2026", code=2).startswith("Error: since: ")
    assert c.ok("db", "verify").output.startswith("OK: integrity check passed")


def test_users_list_and_prompts(tmp_path):
    c = Cli(tmp_path)
    r = c("users", "add", "pharm", "--role", "pharmacist", input="pharm secret 1\n"
          "pharm secret 1\n")
    assert r.exit_code == 0, r.output
    assert "pharm secret" not in r.output  # no echo
    r = c("users", "add", "tina", "--role", "technician", "--by", "pharm",
          input=f"{PHARM}\n{TINA}\n{TINA}\n")
    assert r.exit_code == 0, r.output
    assert "Passphrase for pharm (signing: add user)" in r.output
    rows = c.json("users", "list")
    assert [(u["name"], u["role"], u["state"]) for u in rows] == [
        ("pharm", "pharmacist", "active"), ("tina", "technician", "active")]
    assert rows[1]["created_by"] == "pharm"
    out = c.ok("users", "list").output.splitlines()
    assert out[0].split() == ["NAME", "FULL", "NAME", "ROLE", "STATE", "FAILED", "ADDED", "BY",
                              "ADDED"]
    # only the hash is stored
    with sqlite3.connect(c.db) as conn:
        stored = [r[0] for r in conn.execute("SELECT passphrase_hash FROM users")]
    assert all(h.startswith("scrypt$") and TINA not in h for h in stored)
    # refusals around users
    assert c.refused("users", "add", "tom", "--role", "technician", passphrase=PHARM,
                     code=2) == "Error: by: a pharmacist adds users; give --by PHARMACIST"
    assert c.refused("users", "add", "tom", "--role", "pharmacist", "--by", "tina",
                     passphrase=TINA, new="tom secret 1") == (
        "Error: tina is a technician; only a pharmacist may add user tom")
    assert c.refused("users", "add", "TINA", "--role", "technician", "--by", "pharm",
                     passphrase=PHARM, new="x secret 12") == (
        "Error: user TINA already exists (names are never reused)")
    assert c.refused("users", "add", "tom", "--role", "technician", "--by", "pharm",
                     passphrase=PHARM, new="short", code=2) == (
        "Error: passphrase: must be at least 8 characters")
    # changing one's own passphrase
    c.ok("users", "passphrase", "tina", passphrase=TINA, new="tina secret 2")
    assert c.refused("users", "passphrase", "tina", passphrase=TINA, new="tina secret 3") == (
        "Error: wrong passphrase for tina (attempt 1; 5 in a row lock the user)")


def test_first_user_must_be_a_pharmacist(tmp_path):
    c = Cli(tmp_path)
    c.ok("db", "migrate")  # "Created new database PATH" (stderr) here, not with the refusal
    assert c.refused("users", "add", "tina", "--role", "technician", passphrase=TINA) == (
        "Error: the first user must be a pharmacist (who then adds the others)")
    assert c.ok("users", "list").output.startswith("No users")


# ---------------------------------------------------------------- refusals

def test_technician_cannot_verify_release_reject_or_approve(c):
    lot = create(c)
    weigh(c, lot)
    assert c.refused("batch", "verify", lot, "--by", "tina", passphrase=TINA) == (
        f"Error: tina is a technician; only a pharmacist may verify batch {lot}")
    assert c.refused("batch", "release", lot, "--by", "tina", passphrase=TINA) == (
        f"Error: tina is a technician; only a pharmacist may release batch {lot}")
    assert c.refused("batch", "reject", lot, "--reason", "x", "--by", "tina",
                     passphrase=TINA) == (
        f"Error: tina is a technician; only a pharmacist may reject batch {lot}")
    c.ok("labels", "submit", "batch-thermal", "--by", "phil", passphrase=PHIL)
    assert c.refused("labels", "approve", "batch-thermal", "--by", "tina",
                     passphrase=TINA) == (
        "Error: tina is a technician; only a pharmacist may approve label template "
        "batch-thermal")
    refused = c.json("audit", "--user", "tina")
    assert [e["action"] for e in refused].count("signoff.refused") == 4


def test_compounder_or_weigher_cannot_verify_own_batch(c):
    lot = create(c, "phil", PHIL)
    weigh(c, lot, "pharm", PHARM)
    assert c.refused("batch", "verify", lot, "--by", "phil", passphrase=PHIL) == (
        f"Error: phil compounded batch {lot} and cannot verify it; another pharmacist must")
    assert c.refused("batch", "verify", lot, "--by", "pharm", passphrase=PHARM) == (
        f"Error: pharm weighed for batch {lot} and cannot verify it; another pharmacist must")
    assert c.json("batch", "show", lot)["verifications"] == []


def test_wrong_passphrase_is_refused_logged_and_five_lock(c):
    lot = create(c)
    for n in range(1, 5):
        assert c.refused("batch", "weigh", lot, "--step", "1", "--amount", "1 mg", "--by",
                         "tina", passphrase="guess guess") == (
            f"Error: wrong passphrase for tina (attempt {n}; 5 in a row lock the user)")
    assert re.fullmatch(
        r"Error: wrong passphrase for tina: 5 wrong in a row, the user is now locked for 15 "
        r"minutes \(until (\d\d [A-Z]{3} \d{4} \d\d:\d\d) UTC\); a pharmacist can unlock "
        r"them sooner", c.refused("batch", "weigh", lot, "--step", "1", "--amount", "1 mg",
                                   "--by", "tina", passphrase="guess guess"))
    until = [u for u in c.json("users", "list") if u["name"] == "tina"][0]["locked_until"]
    when = users_mod.when_text(users_mod.stamp_time(until))
    locked = (f"Error: user tina is locked after 5 wrong passphrases until {when}; a "
              "pharmacist can unlock them sooner: compounding users unlock tina --by "
              "PHARMACIST")
    assert c.refused("batch", "weigh", lot, "--step", "1", "--amount", "1 mg", "--by", "tina",
                     passphrase=TINA) == locked
    assert c.refused("inventory", "receive", "sucrose", "--lot", "S", "--expires",
                     "2030-01-01", "--quantity", "1 g", "--by", "tina", passphrase=TINA) == locked
    assert c.json("batch", "show", lot)["weighings"] == []
    trail = c.json("audit", "--user", "tina")
    assert [e["details"]["attempt"] for e in trail if e["action"] == "auth.failed"] == [
        1, 2, 3, 4, 5]
    assert [u["state"] for u in c.json("users", "list") if u["name"] == "tina"] == ["locked"]
    # a technician cannot unlock; a wrong passphrase while signing counts too
    assert c.refused("users", "unlock", "tina", "--by", "pharm", passphrase="nope nope") == (
        "Error: wrong passphrase for pharm (attempt 1; 5 in a row lock the user)")
    r = c.ok("users", "unlock", "tina", "--by", "pharm", "--reason", "forgot", passphrase=PHARM)
    assert r.output == "Unlocked tina (signed by pharm)\n"
    c.ok("batch", "weigh", lot, "--step", "1", "--amount", c.json("batch", "show", lot)[
        "steps"][0]["quantity"] + " mg", "--by", "tina", passphrase=TINA)
    # a right passphrase resets the count of pharm's wrong attempts
    assert [u["failed_attempts"] for u in c.json("users", "list") if u["name"] == "pharm"] == [0]


def test_unknown_and_deactivated_users_cannot_act(c):
    assert c.refused("inventory", "receive", "sucrose", "--lot", "S", "--expires",
                     "2030-01-01", "--quantity", "1 g", "--by", "zed", passphrase=TINA) == (
        "Error: no user 'zed'; a pharmacist adds users with `compounding users add`")
    r = c.ok("users", "deactivate", "tina", "--by", "pharm", "--reason", "left",
             passphrase=PHARM)
    assert r.output == "Deactivated tina (signed by pharm)\n"
    assert c.refused("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                     "1.5 mg", "--by", "tina", passphrase=TINA) == (
        "Error: user tina is deactivated and cannot act")
    assert c.refused("users", "unlock", "tina", "--by", "pharm", passphrase=PHARM) == (
        "Error: user tina is deactivated; a deactivated user is never unlocked")
    c.ok("users", "deactivate", "phil", "--by", "pharm", passphrase=PHARM)
    assert c.refused("users", "deactivate", "pharm", "--by", "pharm", passphrase=PHARM) == (
        "Error: pharm is the last active pharmacist; add another pharmacist before "
        "deactivating them")


def test_release_needs_a_passing_current_verification(c):
    lot = create(c)
    assert c.refused("batch", "release", lot, "--by", "pharm", passphrase=PHARM) == (
        f"Error: batch {lot} is planned (not every step is weighed); it cannot be released")
    weigh(c, lot)
    assert c.refused("batch", "release", lot, "--by", "pharm", passphrase=PHARM) == (
        f"Error: batch {lot} has not been verified; only a verified batch is released "
        f"(compounding batch verify {lot} --by PHARMACIST)")
    c.ok("batch", "verify", lot, "--by", "pharm", passphrase=PHARM)
    step1 = c.json("batch", "show", lot)["steps"][0]
    c.ok("batch", "weigh", lot, "--step", "1", "--amount", f"{step1['quantity']} mg",
         "--reweigh", "scale recalibrated", "--by", "tina", passphrase=TINA)
    assert c.refused("batch", "release", lot, "--by", "pharm", passphrase=PHARM) == (
        f"Error: batch {lot} changed since it was verified by pharm; verify it again")
    c.ok("batch", "verify", lot, "--by", "phil", passphrase=PHIL)
    c.ok("batch", "release", lot, "--by", "phil", passphrase=PHIL)
    # a second release names who released first, whether it came late or raced (issue 12)
    assert c.refused("batch", "release", lot, "--by", "phil", passphrase=PHIL).startswith(
        f"Error: batch {lot} is already released by phil at ")
    assert c.refused("batch", "reject", lot, "--reason", "x", "--by", "pharm",
                     passphrase=PHARM) == (
        f"Error: batch {lot} is released; put it on hold first (compounding batch quarantine "
        f"{lot}), then reject it")


def test_out_of_tolerance_weighing_fails_verification_and_blocks_release(c):
    lot = create(c)
    planned = float(c.json("batch", "show", lot)["steps"][0]["quantity"])
    weigh(c, lot, off={1: f"{round(planned * 1.08, 1)} mg"})
    r = c("batch", "verify", lot, "--by", "pharm", passphrase=PHARM)
    assert r.exit_code == 1
    fails = [x for x in r.stdout.splitlines() if x.startswith("  [FAIL] ")]
    assert len(fails) == 1 and fails[0].startswith(
        "  [FAIL] step 1 (Naltrexone hydrochloride into the blend): ")
    assert fails[0].endswith("(tolerance ±5%); deviation recorded: spilled, topped up")
    assert r.stderr == (f"Error: verification failed (1 check); batch {lot} cannot be "
                        "released\n")
    assert c.refused("batch", "release", lot, "--by", "pharm", passphrase=PHARM) == (
        f"Error: the last verification of batch {lot} failed (1 check); it cannot be released "
        f"(reject it: compounding batch reject {lot})")
    ver = c.json("batch", "show", lot)["verifications"]
    assert [v["passed"] for v in ver] == [False]
    assert [x["code"] for x in ver[0]["checks"] if not x["passed"]] == ["tolerance"]
    c.ok("batch", "reject", lot, "--reason", "out of tolerance", "--by", "pharm",
         passphrase=PHARM)


def test_unapproved_or_changed_formula_is_refused(tmp_path):
    folder = tmp_path / "formulas"
    shutil.copytree(ROOT / "formulas", folder)
    c = Cli(tmp_path, formulas=folder)
    people(c)
    stock(c)
    assert c.refused("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                     "1.5 mg", "--by", "tina", passphrase=TINA) == (
        "Error: formula ldn-capsules version 1 is not approved by a pharmacist; it cannot be "
        "used for batches (compounding formulas submit ldn-capsules --by AUTHOR, then "
        "compounding formulas approve ldn-capsules --by PHARMACIST)")
    assert c.refused("formulas", "approve", "ldn-capsules", "--by", "pharm",
                     passphrase=PHARM).startswith(
        "Error: formula ldn-capsules version 1 (SHA-256 ")
    # the author may not approve their own version
    c.ok("formulas", "submit", "ldn-capsules", "--by", "phil", passphrase=PHIL)
    assert c.refused("formulas", "approve", "ldn-capsules", "--by", "phil",
                     passphrase=PHIL) == (
        "Error: phil is the author of formula ldn-capsules version 1 and cannot approve it; "
        "another pharmacist must")
    c.ok("formulas", "approve", "ldn-capsules", "--by", "pharm", passphrase=PHARM)
    create(c)
    # the file changes: refused until re-approved; the same version number is not enough
    path = folder / "ldn-capsules.toml"
    path.write_text(path.read_text().replace('overage = "2%"', 'overage = "5%"'))
    msg = c.refused("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                    "1.5 mg", "--by", "tina", passphrase=TINA)
    assert msg.startswith("Error: formula ldn-capsules changed since it was approved: the file "
                          "(version 1) has SHA-256 ")
    assert msg.endswith("by pharm; it cannot be used for batches until a pharmacist approves "
                        "it again (compounding formulas submit, then formulas approve)")
    assert c.refused("formulas", "submit", "ldn-capsules", "--by", "tina",
                     passphrase=TINA) == (
        "Error: formula ldn-capsules version 1 was approved with other content; a changed "
        "file needs a new version number (raise `version` in the file)")
    path.write_text(path.read_text().replace("version = 1", "version = 2"))
    c.ok("formulas", "submit", "ldn-capsules", "--by", "tina", passphrase=TINA)
    r = c.ok("formulas", "approve", "ldn-capsules", "--by", "phil", passphrase=PHIL)
    out = r.output.splitlines()
    assert out[0] == "Changes since the approved version:"
    assert '  -overage = "2%"' in out and '  +overage = "5%"' in out
    assert c.json("batch", "show", create(c))["formula_version"] == 2


def test_unapproved_or_changed_template_does_not_print(tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    c = Cli(tmp_path, templates=folder)
    people(c)
    approve(c, "formula", "ldn-capsules")
    stock(c)
    lot = create(c)
    weigh(c, lot)
    c.ok("batch", "verify", lot, "--by", "pharm", passphrase=PHARM)
    c.ok("batch", "release", lot, "--by", "pharm", passphrase=PHARM)
    out = tmp_path / "l.pdf"
    assert c.refused("labels", "print", lot, "--output", str(out), "--by", "tina",
                     passphrase=TINA) == (
        "Error: label template batch-thermal version 1 is not approved by a pharmacist; it "
        "does not print (compounding labels submit batch-thermal --by AUTHOR, then "
        "compounding labels approve batch-thermal --by PHARMACIST)")
    approve(c, "template", "batch-thermal")
    c.ok("labels", "print", lot, "--output", str(out), "--by", "tina", passphrase=TINA)
    path = folder / "batch-thermal.toml"
    path.write_text(path.read_text() + "\n# edited\n")
    out.unlink()
    msg = c.refused("labels", "print", lot, "--output", str(out), "--by", "tina",
                    passphrase=TINA)
    assert msg.startswith("Error: label template batch-thermal changed since it was approved")
    assert msg.endswith("it does not print until a pharmacist approves it again (compounding "
                        "labels submit, then labels approve)")
    assert not out.exists()


def test_labels_print_only_for_released_batches(c):
    approve(c, "template", "batch-thermal")
    lot = create(c)
    out = c.tmp / "x.pdf"
    assert c.refused("labels", "print", lot, "--output", str(out), "--by", "tina",
                     passphrase=TINA) == (
        f"Error: batch {lot} is planned: labels print only for a released batch; it is "
        "released after a pharmacist verifies it")
    weigh(c, lot)
    c.ok("batch", "quarantine", lot, "--reason", "odd smell", "--by", "tina", passphrase=TINA)
    assert c.refused("labels", "print", lot, "--output", str(out), "--by", "tina",
                     passphrase=TINA) == (
        f"Error: batch {lot} is on hold (quarantine): labels print only for a released batch")
    # the worksheet prints any time
    c.ok("batch", "worksheet", lot, "--output", str(c.tmp / "w.pdf"))
    # a hold placed before release is lifted back to where the batch was
    assert c.refused("batch", "quarantine", lot, "--lift", "--reason", "ok", "--by", "tina",
                     passphrase=TINA) == (
        f"Error: tina is a technician; only a pharmacist may lift the hold on batch {lot}")
    r = c.ok("batch", "quarantine", lot, "--lift", "--reason", "smell is the flavour", "--by",
             "pharm", passphrase=PHARM)
    assert r.output.splitlines()[0] == f"Hold lifted on batch {lot}: back to compounded"
    c.ok("batch", "reject", lot, "--reason", "discarded", "--by", "pharm", passphrase=PHARM)
    assert c.refused("labels", "print", lot, "--output", str(out), "--by", "tina",
                     passphrase=TINA) == (
        f"Error: batch {lot} is rejected: labels print only for a released batch")
    assert not out.exists()


def test_plain_sql_cannot_change_a_released_batch_or_the_audit_log(c):
    lot = released(c)
    conn = sqlite3.connect(c.db)
    for sql, message in [
        ("UPDATE batches SET status = 'compounded' WHERE lot_id = ?",
         "a released batch is final; only a signed quarantine"),
        ("UPDATE batches SET status = 'quarantine' WHERE lot_id = ?",
         "a released batch is final; only a signed quarantine"),
        ("UPDATE batches SET bud = '2099-01-01' WHERE lot_id = ?",
         "the BUD of a released or rejected batch is final"),
        ("UPDATE batches SET quantity = '200 capsules' WHERE lot_id = ?",
         "only status and BUD may change"),
        ("DELETE FROM batches WHERE lot_id = ?", "cannot be deleted"),
        ("DELETE FROM signatures WHERE lot_id = ?", "signatures is append-only"),
        ("UPDATE signatures SET signer = 'tina' WHERE lot_id = ?", "signatures is append-only"),
        ("UPDATE verification_checks SET passed = 1 WHERE verification_id IN "
         "(SELECT id FROM verifications WHERE lot_id = ?)", "verification_checks is append-only"),
        ("UPDATE audit_log SET actor = 'mallory' WHERE lot_id = ?", "audit_log is append-only"),
        ("DELETE FROM audit_log WHERE lot_id = ?", "audit_log is append-only"),
    ]:
        with pytest.raises(sqlite3.IntegrityError, match=message):
            conn.execute(sql, [lot])
    with pytest.raises(sqlite3.IntegrityError, match="users: a user is never deleted"):
        conn.execute("DELETE FROM users WHERE name = 'tina'")
    with pytest.raises(sqlite3.IntegrityError, match="users: name, role and creation are fixed"):
        conn.execute("UPDATE users SET role = 'pharmacist' WHERE name = 'tina'")
    conn.close()
    assert c.json("batch", "show", lot)["status"] == "released"
    assert c.ok("db", "verify").output.startswith("OK: ")


def test_plain_sql_cannot_release_without_a_signature(c):
    lot = create(c)
    weigh(c, lot)
    conn = sqlite3.connect(c.db)
    with pytest.raises(sqlite3.IntegrityError, match="released only with a pharmacist's release "
                                                     "signature"):
        conn.execute("UPDATE batches SET status = 'released' WHERE lot_id = ?", [lot])
    with pytest.raises(sqlite3.IntegrityError, match="lifecycle does not allow"):
        conn.execute("UPDATE batches SET status = 'planned' WHERE lot_id = ?", [lot])
    with pytest.raises(sqlite3.IntegrityError, match="the signer must be an active, unlocked "
                                                     "user of that role"):
        conn.execute("INSERT INTO signatures (signer, signer_name, role, meaning, subject_type,"
                     " subject_id, record_sha256, lot_id, details, signed_at) VALUES ('tina', "
                     "'tina', 'pharmacist', 'released', 'batch', ?, ?, ?, '{}', "
                     "'2026-01-01T00:00:00Z')", [lot, "0" * 64, lot])
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        conn.execute("INSERT INTO signatures (signer, signer_name, role, meaning, subject_type,"
                     " subject_id, record_sha256, lot_id, details, signed_at) VALUES ('tina', "
                     "'tina', 'technician', 'released', 'batch', ?, ?, ?, '{}', "
                     "'2026-01-01T00:00:00Z')", [lot, "0" * 64, lot])
    conn.close()


def test_correction_needs_a_rejected_or_held_batch(c):
    lot = create(c)
    assert c.refused("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                     "1.5 mg", "--corrects", lot, "--reason", "x", "--by", "tina",
                     passphrase=TINA) == (
        f"Error: batch {lot} is planned; only a rejected or quarantined batch is corrected by "
        "a new batch")
    c.ok("batch", "reject", lot, "--reason", "wrong strength ordered", "--by", "pharm",
         passphrase=PHARM)
    assert c.refused("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                     "1.5 mg", "--corrects", lot, "--by", "tina", passphrase=TINA,
                     code=2) == "Error: reason: a correction needs a reason (--reason TEXT)"
    new = create(c, "tina", TINA, "--corrects", lot, "--reason", "remake")
    assert c.refused("batch", "create", "ldn-capsules", "--quantity", "100", "--strength",
                     "1.5 mg", "--corrects", lot, "--reason", "again", "--by", "tina",
                     passphrase=TINA) == f"Error: batch {lot} was already corrected by batch {new}"
    with sqlite3.connect(c.db) as conn:
        assert conn.execute("SELECT lot_id, corrects_lot_id FROM batch_corrections").fetchall() \
            == [(new, lot)]


def test_recall_batch_and_argument_errors(c):
    assert c.refused("recall", code=2) == ("Error: give a supplier lot (COMPONENT_LOT) or "
                                           "--batch LOT, not both")
    lot = released(c)
    r = c.ok("recall", "--batch", lot)
    out = r.output.splitlines()
    assert "No batch labels printed" in out and "No dispensing labels printed" in out
    assert c.refused("recall", "--batch", "1234567890", code=2).startswith("Error: lot: ")


# ---------------------------------------------------------------- library level

def test_store_api_signatures_and_verify_consistency(tmp_path):
    store = Store.open(tmp_path / "s.db")
    try:
        add_users(store, "ana")
        approve_formulas(store)
        approve_templates(store)
        sigs = signoff.signatures(store, subject_type="formula")
        assert {s["meaning"] for s in sigs} == {"approved"}
        assert all(s["details"]["author"] == "phil" and s["signer"] == "pharm" for s in sigs)
        with pytest.raises(Exception, match="wrong passphrase for pharm"):
            signoff.approve(store, "formula", "x", 1, "0" * 64, by="pharm", passphrase="nope")
        assert store.verify() == []
    finally:
        store.close()


@pytest.mark.parametrize("args, given, who, var", [
    # a script following the README set only $COMPOUNDING_PASSPHRASE: click said 'Aborted!'
    (("users", "add", "tina", "--role", "technician", "--by", "pharm"), {"passphrase": PHARM},
     "new user tina", "COMPOUNDING_NEW_PASSPHRASE"),
    (("users", "add", "tina", "--role", "technician", "--by", "pharm"), {"new": TINA},
     "pharm", "COMPOUNDING_PASSPHRASE"),
    (("users", "passphrase", "pharm"), {"passphrase": PHARM}, "new passphrase of pharm",
     "COMPOUNDING_NEW_PASSPHRASE"),
])
def test_passphrase_input_that_ends_is_one_line_naming_the_variable(tmp_path, args, given,
                                                                     who, var):
    c = Cli(tmp_path)
    c.ok("users", "add", "pharm", "--role", "pharmacist", passphrase=PHARM)
    r = c(*args, **given, input="")
    assert r.exit_code == 2, r.output
    assert r.output.splitlines()[-1] == (
        f"Error: passphrase: none was typed for {who} (the input ended); type it at the "
        f"prompt, or set ${var} in a script")
    assert "Aborted" not in r.output
    assert [u["name"] for u in c.json("users", "list")] == ["pharm"]


def test_passphrase_prompt_without_a_terminal_real_process(tmp_path):
    import os
    import subprocess
    import sys
    c = Cli(tmp_path)
    c.ok("users", "add", "pharm", "--role", "pharmacist", passphrase=PHARM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOUNDING_")}
    env["COMPOUNDING_PASSPHRASE"] = PHARM
    p = subprocess.run([sys.executable, "-m", "compounding", *c.pre, "users", "add", "tina",
                        "--role", "technician", "--by", "pharm", "--db", str(c.db)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines()[-1] == (
        "Error: passphrase: none was typed for new user tina (the input ended); type it at "
        "the prompt, or set $COMPOUNDING_NEW_PASSPHRASE in a script")
    assert "Traceback" not in p.stderr and "GetPassWarning" not in p.stderr
