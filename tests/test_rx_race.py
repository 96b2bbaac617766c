"""Real processes racing on prescriptions (issue 17): two `rx new` of the same Rx number at
once record exactly one; two dispensings of the same fill at once record exactly one fill
and one dispensing label; a process killed (SIGKILL) inside the write transaction leaves
nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date

import pytest

from compounding.store import Store
from signoff_support import ENV, ROOT, release_db, setup_db

RULE = ["--steps", "0.5 mg x 7 d, 1 mg x 7 d"]


def cmd(db, *args):
    return [sys.executable, "-m", "compounding", "--formulas", str(ROOT / "formulas"),
            "--templates", str(ROOT / "templates"), *args, "--db", str(db)]


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("COMPOUNDING_")}
    return {**e, **ENV}


def start_both(db, tmp_path, *args_list):
    procs = [subprocess.Popen(cmd(db, *a), cwd=tmp_path, env=env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for a in args_list]
    return [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]


def rx_args(rx="RX-R", patient="Ann Smith"):
    return ["rx", "new", rx, "--formula", "ldn-oral-liquid", "--patient", patient,
            "--prescriber", "Dr B", "--start-date", date.today().isoformat(), *RULE, "--by",
            "pharm"]


def test_two_processes_record_the_same_rx_once(tmp_path):
    db = tmp_path / "c.db"
    setup_db(db)
    results = start_both(db, tmp_path, rx_args(patient="Ann Smith"),
                         rx_args(patient="Bob Jones"))
    codes = sorted(r[0] for r in results)
    assert codes == [0, 1], results
    loser = next(r for r in results if r[0] == 1)
    assert loser[2].startswith("Error: rx: RX-R is already on record (version 1, ")
    store = Store.open(db)
    try:
        assert store.scalar("SELECT COUNT(*) FROM prescriptions") == 1
        assert store.scalar("SELECT COUNT(*) FROM prescription_steps") == 2
        assert store.verify() == []
    finally:
        store.close()


def test_two_processes_dispense_the_same_fill_once(tmp_path):
    db = tmp_path / "c.db"
    setup_db(db, "alice", templates=True)
    for ing, lot_no, qty in (("naltrexone-hcl", "NX1", "10 g"), ("ascorbic-acid", "AA1", "100 g"),
                             ("sodium-benzoate", "SB1", "100 g"), ("glycerol", "GL1", "1000 g"),
                             ("purified-water", "PW1", "5000 mL")):
        subprocess.run(cmd(db, "inventory", "receive", ing, "--lot", lot_no, "--expires",
                           "2030-01-31", "--quantity", qty, "--by", "alice"), cwd=tmp_path,
                       env=env(), check=True, capture_output=True)
    r = subprocess.run(cmd(db, "batch", "create", "ldn-oral-liquid", "--quantity", "100 mL",
                           "--by", "alice", "--json"), cwd=tmp_path, env=env(), check=True,
                       capture_output=True, text=True)
    lot = json.loads(r.stdout)["lot_id"]
    release_db(db, lot)
    subprocess.run(cmd(db, *rx_args()), cwd=tmp_path, env=env(), check=True,
                   capture_output=True)
    results = start_both(db, tmp_path, *[
        ["labels", "dispense", lot, "--rx", "RX-R", "--fill", "1", "--by", "pharm",
         "--output", str(tmp_path / f"p{i}.pdf")] for i in (1, 2)])
    # Two outcomes are right, depending on whether the two really overlapped (on a busy
    # machine the second may start after the first has finished): overlapping, the second
    # is refused under the write lock; one after the other, the second is a reprint of the
    # first's label (issue 12 part 7: "a reprint is the same Rx printed again"). Never two
    # fills, never two first labels.
    codes = sorted(r[0] for r in results)
    first_labels = "SELECT COUNT(*) FROM label_prints WHERE kind = 'dispensing' AND reprint = 0"
    if codes == [0, 1]:
        loser = next(r for r in results if r[0] == 1)
        assert loser[2].startswith("Error: fill 1 of Rx RX-R (1 mg/mL) was already "
                                   "dispensed on ")
        assert len(list(tmp_path.glob("p*.pdf"))) == 1
        reprints = 0
    else:
        assert codes == [0, 0], results
        assert len(list(tmp_path.glob("p*.pdf"))) == 2
        reprints = 1
    store = Store.open(db)
    try:
        assert store.scalar("SELECT COUNT(*) FROM prescription_fills") == 1
        assert store.scalar(first_labels) == 1
        assert store.scalar("SELECT COUNT(*) FROM label_prints WHERE kind = 'dispensing' "
                            "AND reprint = 1") == reprints
        assert store.verify() == []
    finally:
        store.close()


def test_killed_inside_the_transaction_leaves_nothing(tmp_path):
    """A process that holds the write transaction of `rx new` is killed with SIGKILL: the
    prescription and its steps are all there or not at all, and the database is sound."""
    db = tmp_path / "c.db"
    setup_db(db)
    code = f"""
import sys, time
sys.argv = {cmd(db, *rx_args())[2:]!r}
# the write transaction calls store.audit last; stall there, before COMMIT
import compounding.store.core as core
audit = core.StoreCore.audit
def stalled(self, *a, **k):
    out = audit(self, *a, **k)
    print("INSIDE", flush=True)
    time.sleep(60)
    return out
core.StoreCore.audit = stalled
from compounding.cli import cli
cli()
"""
    p = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.strip() == "INSIDE", p.stderr.read()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    store = Store.open(db)
    try:
        assert store.scalar("SELECT COUNT(*) FROM prescriptions") == 0
        assert store.scalar("SELECT COUNT(*) FROM prescription_steps") == 0
        assert store.verify() == []
    finally:
        store.close()
    # and the same Rx can then be recorded
    r = subprocess.run(cmd(db, *rx_args()), cwd=tmp_path, env=env(), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
