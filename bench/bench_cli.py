"""CLI start-up: `compounding --help` and `compounding formulas list` against a baseline of
`python -c "import click"`, all measured in this run (median of N runs, wall clock).

Goal (issue 8): `--help` at most 2x the baseline. Run: .venv/bin/python bench/bench_cli.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
N = 15
EXE = Path(PY).parent / "compounding"  # the console script users run


def median_ms(cmd: list[str]) -> float:
    times = []
    for _ in range(N):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t0) * 1000)  # float-ok: timing, not a dose
    return statistics.median(times)


def main() -> int:
    base = median_ms([PY, "-c", "import click"])
    rows = [("python -c 'import click' (baseline)", base)]
    for label, args in (("compounding --help", ["--help"]),
                        ("compounding formulas list", ["formulas", "list"]),
                        ("compounding formulas show ldn-capsules", ["formulas", "show", "ldn-capsules"])):
        rows.append((label, median_ms([str(EXE), *args])))
    print(f"CLI start-up, median of {N} runs each")
    for label, ms in rows:
        print(f"  {label:40s} {ms:7.1f} ms   {ms / base:4.2f}x baseline")
    help_ratio = rows[1][1] / base
    print(f"goal: --help <= 2.00x baseline: {'met' if help_ratio <= 2 else 'MISSED'} ({help_ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
