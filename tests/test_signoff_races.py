"""Issue 12 #3: one signature per act under concurrency. Two pharmacists releasing (or
verifying, approving) the same thing at the same moment, as real processes: exactly one
wins, the other is told who signed first; the schema refuses a same-status change too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, signoff
from signoff_support import PASS, add_users, approve_formulas, weigh_all
from datetime import date
from compounding import units as u

ROOT = Path(__file__).resolve().parent.parent

RACE = r"""
import sys, time
from compounding.store import Store, signoff
s = Store.open(sys.argv[1])
act, lot, who = sys.argv[2], sys.argv[3], sys.argv[4]
while time.time() < float(sys.argv[6]):
    time.sleep(0.001)
try:
    if act == "release":
        signoff.release_batch(s, lot, by=who, passphrase=sys.argv[5])
    elif act == "verify":
        signoff.verify_batch(s, lot, by=who, passphrase=sys.argv[5])
    elif act == "reject":
        signoff.reject_batch(s, lot, by=who, passphrase=sys.argv[5], reason="race")
    print("WON")
except Exception as e:
    print("LOST", e)
"""


@pytest.fixture
def compounded(store_path):
    path = store_path
    s = Store.open(path)
    add_users(s, "ana")
    for name in ("rita",):
        signoff.add_user(s, name, "pharmacist", PASS, by="pharm", by_passphrase=PASS)
    approve_formulas(s)
    reg = Registry.load(ROOT / "formulas")
    s.receive_lot("naltrexone-hcl", "NX", date(2030, 1, 31), u.parse("5 g"), "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC", date(2030, 1, 31), u.parse("500 g"), "ana")
    f = reg.get("ldn-capsules")
    rec = s.create_batch(f, reg.catalogue, Settings(), Order.from_text(
        f, quantity="30", strength="1.5 mg"), by="ana", formula_sha256=reg.hashes[f.id])
    weigh_all(s, rec["lot_id"], "ana")
    s.close()
    return path, rec["lot_id"]


def race(path, act, lot, people):
    import time
    start = str(time.time() + 1.5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(path), act, lot, who, PASS,
                               start], stdout=subprocess.PIPE, text=True, env=env)
             for who in people]
    return [p.communicate(timeout=120)[0].strip() for p in procs]


@pytest.mark.parametrize("act, word", [("verify", "verified"), ("release", "released"),
                                       ("reject", "rejected")])
def test_two_pharmacists_signing_one_act_at_once(compounded, act, word):
    path, lot = compounded
    if act == "release":
        s = Store.open(path)
        signoff.verify_batch(s, lot, by="phil", passphrase=PASS)
        s.close()
    outs = race(path, act, lot, ("pharm", "rita"))
    assert sorted(o.split()[0] for o in outs) == ["LOST", "WON"], outs
    lost = next(o for o in outs if o.startswith("LOST"))
    assert f"batch {lot} is already {word} by" in lost, lost
    s = Store.open(path)
    meaning = {"verify": "verified", "release": "released", "reject": "rejected"}[act]
    assert len([x for x in signoff.signatures(s, lot_id=lot) if x["meaning"] == meaning]) == 1
    assert s.verify() == []
    s.close()


def test_schema_refuses_a_status_change_to_the_same_status(compounded):
    path, lot = compounded
    s = Store.open(path)  # raw SQL on the store's connection, either backend
    with pytest.raises(s.backend.IntegrityError, match="already has that status"):
        s.db.execute("UPDATE batches SET status = status WHERE lot_id = ?", [lot])
    s.close()
