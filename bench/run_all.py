"""Run every benchmark of issue 8, one after another, each in its own interpreter (so one's
imports and caches do not flatter the next), and say which finished.

Run: .venv/bin/python bench/run_all.py [--quick]
  --quick: the store benchmark at 1% of the issue's size and a 5-second parallel run
           (a smoke run; the figures for the README come from the full run).
Each benchmark also runs alone: .venv/bin/python bench/<name>.py
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("bench_cli.py", "bench_plan.py", "bench_labels.py", "bench_store.py",
           "bench_parallel.py")
QUICK = {"bench_store.py": ["--scale", "0.01", "--plans", "flagged"],
         "bench_parallel.py": ["--duration", "5"]}


def machine() -> str:
    import os
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal"))
                 .split()[1])
        mem = f", {kb / 2 ** 20:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    import sqlite3
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs{mem}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller store and parallel runs")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}\n", flush=True)
    results = []
    for name in BENCHES:
        extra = QUICK.get(name, []) if args.quick else []
        print(f"==== {name} {' '.join(extra)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, str(ROOT / "bench" / name), *extra],
                            cwd=ROOT).returncode
        results.append((name, rc, time.perf_counter() - t0))
        print(flush=True)
    print("==== summary")
    for name, rc, s in results:
        print(f"  {name:20s} {'ok' if rc == 0 else f'exit {rc}':8s} {s:7.1f} s")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
