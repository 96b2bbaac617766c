"""Parallel work (issue 8): four processes on one database file for 30 seconds, each making
batches the way a pharmacy does (create with lots picked automatically, weigh every step,
verify and release by a second user, a pharmacist, then print the batch label), through the
same library calls the commands make, one store connection per command.

Prints operations per second per kind and in total, and the errors (goal: none, no
"database is locked"). Baseline in the same run: the same work by one process, on its own
fresh database made the same way.

Passphrases: every signature (verify, release) checks the pharmacist's passphrase with scrypt.
The benchmark's users are created with the low scrypt cost the test suite uses, set the
documented way (``compounding.store.users.SCRYPT_COST``, see tests/conftest.py); each hash
records its cost, so verification runs at that low cost too. At the production cost (RFC 7914,
about 50 ms a hash) each verify and release would take about 50 ms more.

Run: .venv/bin/python bench/bench_parallel.py [--duration 30] [--processes 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compounding.store import signoff, users  # noqa: E402

PASS = "bench passphrase 1"
FAST_SCRYPT = (2 ** 8, 8, 1)  # the test suite's cost (tests/conftest.py)
PHARMACISTS = ("pharm", "phil")
ORDERS = (("ldn-capsules", dict(quantity="30", strength="1.5 mg")),
          ("ldn-capsules", dict(quantity="100", strength="0.1 mcg")),
          ("ldn-capsules", dict(quantity="60", strength="0.5 mg")),
          ("ldn-capsules", dict(quantity="90", strength="4.5 mg")))
KINDS = ("create", "weigh", "verify", "release", "print")


def setup(path: Path, technicians: list[str]) -> None:
    """Users, approved formulas and templates, stock: through the store API, as a pharmacy
    would set up (the same steps as tests/signoff_support.py)."""
    from compounding import units as u
    from compounding.formulas import Registry
    from compounding.labeling.templates import load_templates
    from compounding.quickstart import submit_and_approve_all
    from compounding.store import Store

    users.SCRYPT_COST = FAST_SCRYPT
    store = Store.open(path)
    try:
        users.add_user(store, "pharm", "pharmacist", PASS)
        for name in ("phil", *technicians):
            users.add_user(store, name, "pharmacist" if name in PHARMACISTS else "technician",
                             PASS, by="pharm", by_passphrase=PASS)
        submit_and_approve_all(store, Registry.load(ROOT / "formulas"),
                               load_templates(ROOT / "templates"), author="phil",
                               approver="pharm", passphrase=PASS)
        far = date(date.today().year + 3, 1, 31)
        store.receive_lot("naltrexone-hcl", "NX-BENCH-1", far, u.parse("1000 g"),
                          technicians[0], potency_percent="99.6")
        for i, ing in enumerate(("microcrystalline-cellulose", "microcrystalline-cellulose")):
            store.receive_lot(ing, f"MCC-BENCH-{i + 1}", far, u.parse("200000 g"), technicians[0])
    finally:
        store.close()


def worker(path: str, tech: str, pharm: str, start_at: float, duration: float, outdir: str,
           results) -> None:
    """Make, weigh, verify, release and label batches until the time is up."""
    users.SCRYPT_COST = FAST_SCRYPT
    from compounding import units as u
    from compounding.formulas import Registry
    from compounding.labeling.printing import print_labels
    from compounding.labeling.templates import load_templates
    from compounding.plan import Order
    from compounding.settings import Settings
    from compounding.store import Store

    reg = Registry.load(ROOT / "formulas")
    templates = load_templates(ROOT / "templates")
    settings = Settings()
    orders = [(reg.get(fid), Order.from_text(reg.get(fid), **kw)) for fid, kw in ORDERS]
    ops, busy, errors = Counter(), Counter(), []

    def command(kind, fn):
        """One CLI-like command: its own connection, timed; errors counted, not raised."""
        t0 = time.perf_counter()
        store = Store.open(path)
        try:
            return fn(store)
        except Exception as exc:  # noqa: BLE001 - the benchmark counts every failure
            errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            if len(errors) <= 3:
                errors.append(traceback.format_exc(limit=3))
            return None
        finally:
            store.close()
            busy[kind] += time.perf_counter() - t0

    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + duration
    i = 0
    while time.time() < deadline:
        f, order = orders[i % len(orders)]
        i += 1
        rec = command("create", lambda s: s.create_batch(
            f, reg.catalogue, settings, order, by=tech, formula_sha256=reg.hashes[f.id]))
        if rec is None:
            continue
        ops["create"] += 1
        lot = rec["lot_id"]
        for step in rec["steps"]:
            if command("weigh", lambda s: s.record_weighing(
                    lot, step=step["step"], amount=u.q(step["quantity"], step["unit"]),
                    by=tech)) is not None:
                ops["weigh"] += 1
        if command("verify", lambda s: signoff.verify_batch(s, lot, by=pharm,
                                                            passphrase=PASS)) is not None:
            ops["verify"] += 1
        if command("release", lambda s: signoff.release_batch(s, lot, by=pharm,
                                                              passphrase=PASS)) is not None:
            ops["release"] += 1
        out = Path(outdir) / f"{lot}-batch-thermal.pdf"
        if command("print", lambda s: print_labels(s, templates, settings, lot,
                                                   template_id="batch-thermal", by=tech,
                                                   output=out)) is not None:
            ops["print"] += 1
    results.put({"tech": tech, "ops": dict(ops), "busy": dict(busy), "errors": errors,
                 "elapsed": time.time() - start_at})


def run(processes: int, duration: float, workdir: Path) -> dict:
    path = workdir / f"parallel-{processes}.db"
    techs = [f"tech{i + 1}" for i in range(processes)]
    t0 = time.perf_counter()
    setup(path, techs)
    t_setup = time.perf_counter() - t0
    ctx = mp.get_context("spawn")  # a fresh interpreter each, like separate commands
    results = ctx.Queue()
    start_at = time.time() + 3.0  # after every interpreter has imported
    procs = [ctx.Process(target=worker, args=(str(path), tech, PHARMACISTS[n % 2], start_at,
                                              duration, str(workdir), results))
             for n, tech in enumerate(techs)]
    for p in procs:
        p.start()
    out = [results.get() for _ in procs]
    for p in procs:
        p.join()
    from compounding.store import Store
    store = Store.open(path)
    try:
        problems = store.verify()
        released = store.db.execute(
            "SELECT COUNT(*) FROM batches WHERE status = 'released'").fetchone()[0]
        ids = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT lot_id) FROM batches").fetchone()
    finally:
        store.close()
    ops = Counter()
    busy = Counter()
    errors = []
    for r in out:
        ops.update(r["ops"])
        busy.update(r["busy"])
        errors += [e for e in r["errors"] if not e.startswith("Traceback")]
    elapsed = max(r["elapsed"] for r in out)
    return {"processes": processes, "ops": ops, "busy": busy, "errors": errors,
            "tracebacks": [e for r in out for e in r["errors"] if e.startswith("Traceback")],
            "elapsed": elapsed, "setup_s": t_setup, "verify_problems": problems,
            "released": released, "batches": ids[0], "distinct_ids": ids[1],
            "exit_codes": [p.exitcode for p in procs], "db_bytes": path.stat().st_size}


def report(r: dict, base: dict | None) -> None:
    total = sum(r["ops"].values())
    el = r["elapsed"]
    print(f"\n{r['processes']} process{'es' if r['processes'] > 1 else ''}, {el:.1f} s "
          f"(setup {r['setup_s']:.1f} s):")
    for k in KINDS:
        n = r["ops"].get(k, 0)
        avg = r["busy"].get(k, 0) / n * 1000 if n else 0
        line = f"  {k:8s} {n:6,d} ops  {n / el:8.1f} /s   {avg:7.1f} ms each (wall, incl. waits)"
        if base:
            bn = base["ops"].get(k, 0) / base["elapsed"]
            line += f"   {n / el / bn:4.2f}x one process" if bn else ""
        print(line)
    line = f"  {'total':8s} {total:6,d} ops  {total / el:8.1f} /s"
    if base:
        line += f"   {total / el / (sum(base['ops'].values()) / base['elapsed']):4.2f}x one process"
    print(line)
    locked = sum("locked" in e or "busy" in e for e in r["errors"])
    print(f"  errors: {len(r['errors'])} ({locked} 'database is locked'); batches "
          f"{r['batches']:,} with {r['distinct_ids']:,} distinct lot IDs, {r['released']:,} "
          f"released; Store.verify(): {len(r['verify_problems'])} problems; worker exit codes "
          f"{r['exit_codes']}")
    for e in sorted(set(r["errors"]))[:8]:
        print(f"    {e}")
    for t in r["tracebacks"][:2]:
        print("    " + t.replace("\n", "\n    "))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of work (default 30)")
    ap.add_argument("--processes", type=int, default=4, help="parallel processes (default 4)")
    ap.add_argument("--keep", action="store_true", help="keep the databases and PDFs")
    args = ap.parse_args(argv)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="parallel-", dir=out))
    print(f"Parallel work: create (lots picked automatically), weigh every step, verify and "
          f"release (a pharmacist), print the batch label; {args.duration:g} s each run; "
          f"{os.cpu_count()} CPUs")
    print(f"scrypt cost for the benchmark's users: n={FAST_SCRYPT[0]}, r={FAST_SCRYPT[1]}, "
          f"p={FAST_SCRYPT[2]} (the test suite's, via compounding.store.users.SCRYPT_COST; "
          "production uses n=2**14)")
    try:
        base = run(1, args.duration, workdir)
        report(base, None)
        par = run(args.processes, args.duration, workdir)
        report(par, base)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    errors = len(base["errors"]) + len(par["errors"])
    print(f"\ngoal: zero errors with {args.processes} processes: "
          f"{'met' if not par['errors'] else 'MISSED'} ({len(par['errors'])} errors; "
          f"baseline {len(base['errors'])})")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
