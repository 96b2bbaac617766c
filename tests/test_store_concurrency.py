"""Store under real concurrency: two processes creating 200 batches between them, and a
process killed in the middle of writing. Real OS processes, a real file or a real
PostgreSQL server (the ``store_path`` fixture runs each test on both), no mocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from compounding import units as u
from compounding.store import Store, lotid
from signoff_support import add_users, approve_formulas

ROOT = Path(__file__).resolve().parent.parent

WORKER = textwrap.dedent("""
    import sys
    from compounding.formulas import Registry
    from compounding.plan import Order
    from compounding.settings import Settings
    from compounding.store import Store
    from compounding import units as u

    path, n, weigh = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "weigh"
    reg = Registry.load(sys.argv[4])
    f = reg.get("ldn-capsules")
    order = Order.from_text(f, quantity="10", strength="1.5 mg")
    ids = []
    for i in range(n):
        store = Store.open(path)  # one connection per batch, like one CLI command each
        try:
            rec = store.create_batch(f, reg.catalogue, Settings(), order, by="worker",
                                     formula_sha256=reg.hashes[f.id])
            if weigh:
                for s in rec["steps"]:
                    store.record_weighing(rec["lot_id"], step=s["step"], by="worker",
                                          amount=u.q(s["quantity"], s["unit"]))
        finally:
            store.close()
        print(rec["lot_id"], flush=True)
""")


def stock(path: Path):
    s = Store.open(path)
    add_users(s, "ana", "worker")  # issue 7: users who act; an approved formula
    approve_formulas(s)
    s.receive_lot("naltrexone-hcl", "NX1", date(2099, 1, 31), u.parse("100 g"), "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC1", date(2099, 1, 31), u.parse("5000 g"),
                  "ana")
    s.close()


def spawn(path, n, mode):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", WORKER, str(path), str(n), mode,
                             str(ROOT / "formulas")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_two_processes_create_200_batches_with_distinct_ids(store_path):
    path = store_path  # a SQLite file, then a PostgreSQL database (issue 20)
    stock(path)
    procs = [spawn(path, 100, "create"), spawn(path, 100, "create")]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert err == ""  # no "database is locked", no warning
    ids = [line for out, _ in outs for line in out.split()]
    assert len(ids) == 200 and len(set(ids)) == 200
    for i in ids:
        assert lotid.validate_lot_id(i) == i
    s = Store.open(path)
    try:
        assert s.db.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 200
        seqs = sorted(r[0] for r in s.db.execute("SELECT seq FROM lot_ids"))
        assert seqs == list(range(1, 201))  # no gaps, no duplicates
        assert s.verify() == []
        # reservations were checked under the write lock: never more than on hand
        nx = s.find_lot("naltrexone-hcl", "NX1")
        per_batch = {c["planned_quantity"] for i in ids for c in s.batch_components(i)
                     if c["ingredient"] == "naltrexone-hcl"}
        assert len(per_batch) == 1
        assert nx["reserved"] == 200 * Decimal(per_batch.pop())
    finally:
        s.close()


def test_killed_writer_leaves_a_consistent_database(store_path):
    path = store_path
    stock(path)
    for delay in (0.0, 0.05, 0.13):
        p = spawn(path, 1000, "weigh")
        # wait until it is well into its loop, then kill it without warning
        deadline = time.time() + 120
        seen = 0
        while seen < 3 and time.time() < deadline:
            line = p.stdout.readline()
            seen += bool(line.strip())
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        assert p.returncode == -signal.SIGKILL
        p.stdout.close()
        p.stderr.close()
        s = Store.open(path)
        try:
            assert s.backend.integrity_check(s.db) == ["ok"]
            assert s.verify() == []
            for b in s.list_batches():
                rec = s.get_batch(b["lot_id"])
                # a batch is all there or not there at all
                assert len(rec["steps"]) == len(rec["plan"]["weighings"]) == 4
                assert len(rec["components"]) == 2
                weighed = {w["step"] for w in rec["weighings"]}
                assert rec["status"] == ("compounded" if weighed == {1, 2, 3, 4} else "planned")
            # every allocated ID is either a batch or a gap that is never reused
            alloc = {r[0] for r in s.db.execute("SELECT lot_id FROM lot_ids")}
            made = {r[0] for r in s.db.execute("SELECT lot_id FROM batches")}
            assert made <= alloc and len(alloc - made) <= 3
            # stock is still exactly receipts minus weighings
            for lot in s.lots():
                used = sum((u.q(w[0], "mg").value for w in s.db.execute(
                    "SELECT consumed_quantity FROM weighings WHERE component_lot_id = ?",
                    [lot["id"]])), start=u.q("0", "mg").value)
                assert lot["on_hand"] == lot["received"] - used
        finally:
            s.close()


def test_processes_opening_a_new_database_together_migrate_it_once(store_path):
    path = store_path
    code = ("import sys; from compounding.store import Store; s = Store.open(sys.argv[1]); "
            "print(len(s.applied_migrations())); s.close()")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    n = len(Store.open(":memory:").applied_migrations())
    for p, (out, err) in zip(procs, outs):
        assert (p.returncode, err, out) == (0, "", f"{n}\n")
    s = Store.open(path)
    assert len(s.applied_migrations()) == n
    s.close()
