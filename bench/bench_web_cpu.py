"""Server CPU per request, page by page (issue 15's measure): one client, one request at a
time, against a live ``compounding serve`` (one worker process); the CPU the server process
used over N requests of one page, read from /proc before and after, divided by N. CPU time
is what the machine's load changes least (a busy machine slows the wall clock of a request,
not the instructions it takes), so the figure can be compared across runs; the wall time
per request (p50) is printed beside it.

With ``--before CHECKOUT`` the same pages are measured against another checkout's code in
the same run, the servers interleaved (before, after, before, after...), each with its own
warm-up; the table gives the median of the rounds for each.

Usage::

    .venv/bin/python bench/bench_web_cpu.py --scale 0.1                 # generated store
    .venv/bin/python bench/bench_web_cpu.py --store PATH --before /tmp/before
    .venv/bin/python bench/bench_web_cpu.py --sample --requests 50      # seconds

Traffic goes to 127.0.0.1 only; every loop is bounded by a count. The store is a copy
(bench_web.py's preparation: fresh stock, one new batch to weigh), removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_web  # noqa: E402  (the same preparation, server start and client)

#: Weighings recorded per batch before the next batch is taken: a weighing reads the
#: batch's earlier weighings, so one batch weighed N times would make the figure grow with N
#: (in bench_web.py each of 20 clients weighs its own batch some 20-40 times in 30 s).
WEIGHS_PER_BATCH = 20

PAGES = ("GET / (queue)", "GET /batches/LOT", "GET /batches/LOT/verify", "GET /inventory",
         "GET /api/v1/batches/LOT", "POST weigh", bench_web.BASELINE)


def measure(url, people, lot, weigh_lots, read_lots, pid: int, requests: int,
            seed: int) -> dict:
    """{page: (server CPU seconds per request, wall seconds per request at p50)}. ``lot``:
    a batch of its own, not weighed before (its verify and API pages read the same records
    in every round and server); ``weigh_lots``: new batches to weigh,
    :data:`WEIGHS_PER_BATCH` weighings each."""
    import random
    c = bench_web.Client(url, people[0][0], people[0][1], lot, read_lots, 0, 0, seed)
    c.sign_in()
    weighers = []
    for w in weigh_lots:
        x = bench_web.Client(url, people[0][0], people[0][1], w, read_lots, 0, 0, seed)
        x.sign_in()
        weighers.append(x)
    rng = random.Random(seed)
    paths = {"GET / (queue)": lambda: "/",
             "GET /batches/LOT": lambda: f"/batches/{rng.choice(read_lots)}",
             "GET /batches/LOT/verify": lambda: f"/batches/{lot}/verify",
             "GET /inventory": lambda: "/inventory",
             "GET /api/v1/batches/LOT": lambda: f"/api/v1/batches/{lot}",
             bench_web.BASELINE: lambda: "/static/favicon.svg"}
    out = {}
    for page in PAGES:
        c.times.clear()
        c0 = bench_web.cpu_seconds(pid)
        for i in range(requests):
            if page == "POST weigh":
                weighers[i // WEIGHS_PER_BATCH].weigh()
            else:
                c.timed(page, "GET", paths[page](), 200)
        cpu = bench_web.cpu_seconds(pid) - c0
        times = c.times.get(page) or [t for x in weighers for t in x.times.get(page, [])]
        out[page] = (cpu / requests, statistics.median(times))
    errors = c.errors + [e for x in weighers for e in x.errors]
    for x in [c, *weighers]:
        x.http.close()
    if errors:
        raise SystemExit("errors: " + "; ".join(errors[:5]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200,
                    help="requests of each page per round (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--before", type=Path, metavar="CHECKOUT",
                    help="also measure the code of this checkout, interleaved")
    ap.add_argument("--scale", type=float, default=1.0, help="ten-year store scale (1.0)")
    ap.add_argument("--sample", action="store_true", help="the quickstart sample store")
    ap.add_argument("--store", type=Path, help="copy this generated ten-year store")
    args = ap.parse_args(argv)
    if not 10 <= args.requests <= 5000 or not 1 <= args.rounds <= 20:
        ap.error("--requests 10..5000 and --rounds 1..20 (bounded loops)")

    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="bench-web-cpu-"))
    try:
        db, settings, people, how, approver = bench_web.bench_store_copy(args, work)
        variants = ([("before", args.before)] if args.before else []) + [("this code", None)]
        # for every round of every server a new batch to read and new batches to weigh
        # (plus one for the warm-ups); the batches read at random are the store's own
        per = 1 + -(-args.requests // WEIGHS_PER_BATCH)
        lots, read_lots, formulas = bench_web.prepare(
            db, people, 1 + args.rounds * len(variants) * per, work, approver, "phil")
        read_lots = [x for x in read_lots if x not in lots]
        n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        print(f"Server CPU per request: {how}; {n:,} batches; one server process, one client, "
              f"{args.requests} requests of each page a round, {args.rounds} rounds; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        results: dict[str, list[dict]] = {name: [] for name, _ in variants}
        for r in range(args.rounds):
            for k, (name, code) in enumerate(variants):
                server, url = bench_web.run_server(db, settings, formulas, work, 1, code)
                try:
                    bench_web.warm_up(url, people, lots, read_lots)
                    mine = lots[1 + (r * len(variants) + k) * per:][:per]
                    got = measure(url, people, mine[0], mine[1:], read_lots, server.pid,
                                  args.requests, seed=r)
                finally:
                    server.terminate()
                    server.wait(30)
                results[name].append(got)
                print(f"  round {r + 1}, {name}: " + ", ".join(
                    f"{p.split(' (')[0]} {v[0] * 1000:.2f}" for p, v in got.items()) +
                    f" ms CPU (load {os.getloadavg()[0]:.1f})", flush=True)
        head = "".join(f"{name + ' CPU':>16}{'wall p50':>10}" for name, _ in variants)
        print(f"\nmedian of {args.rounds} rounds, ms per request (load average now "
              f"{os.getloadavg()[0]:.1f})\n  {'page':<36}{head}")
        for page in PAGES:
            cells = ""
            for name, _ in variants:
                cpu = statistics.median(g[page][0] for g in results[name]) * 1000
                wall = statistics.median(g[page][1] for g in results[name]) * 1000
                cells += f"{cpu:>16.2f}{wall:>10.1f}"
            print(f"  {page:<36}{cells}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
