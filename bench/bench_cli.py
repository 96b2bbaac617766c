"""CLI start-up and the fixed cost of a print, against a baseline of `python -c "import click"`,
all measured in this run with the cases interleaved (A B C A B C ...), median of N rounds,
wall clock and CPU time (user + system of the process).

Cases: `compounding --help`, `formulas list`, `formulas show`, and `labels print LOT --copies 1`
on a sample database made by `compounding quickstart` in a temporary folder (a released batch,
its template approved, the technician's passphrase from $COMPOUNDING_PASSPHRASE, checked with
scrypt at the production cost), with the on-disk cache warm (one print before timing) and,
separately, cold (a new cache folder for each run).

The package's byte-code is compiled first (``compileall``), as an installed package has it.

Goals: `--help` at most 2x the baseline (issue 8); `labels print LOT --copies 1` at most 3x
(issue 18). Two more cases show what a print cannot go below: importing click, ReportLab's
canvas and python-barcode (no compounding code), and that plus one scrypt at the production
cost (the technician's passphrase check). Run: .venv/bin/python bench/bench_cli.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
EXE = Path(PY).parent / "compounding"  # the console script users run


def run(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run of ``cmd``."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = (time.perf_counter() - t0) * 1000  # float-ok: timing, not a dose
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000
    return wall, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--against", metavar="DIR",
                    help="also time `labels print` of another version: a folder holding its "
                         "compounding/ (e.g. `git archive COMMIT | tar -x -C DIR`), run as "
                         "`python -P -m compounding` with PYTHONPATH=DIR on a sample "
                         "database its own quickstart made")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    # Byte-code as an installed package has it: pip compiles every module at install time,
    # but an editable install run with PYTHONDONTWRITEBYTECODE=1 (as on the shared build
    # machine) would compile the whole package from source on every command and time the
    # compiler, not the command. compileall writes the __pycache__ files once (ignored by git).
    import compileall
    import py_compile
    # the package the console script imports (this checkout's, unless the environment's
    # editable install points at another checkout: then that one is what gets timed)
    timed = Path(subprocess.run(
        [PY, "-c", "import compounding, os; print(os.path.dirname(compounding.__file__))"],
        cwd=tempfile.gettempdir(), check=True, capture_output=True, text=True).stdout.strip())
    compiled = compileall.compile_dir(
        str(timed), quiet=1, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    print(f"byte-code of {timed} compiled ({'ok' if compiled else 'FAILED'}); "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '(unset)')}"
          + ("" if timed == ROOT / "compounding" else
             f"; NOTE: the commands run that package, not this checkout's"))
    env = dict(os.environ, COMPOUNDING_CACHE_DIR=str(tmp / "cache"))
    subprocess.run([str(EXE), "quickstart", "--dir", str(tmp)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    import sqlite3
    db = tmp / "compounding-sample.db"
    lot = sqlite3.connect(db).execute(
        "SELECT lot_id FROM batches WHERE status = 'released' ORDER BY lot_id LIMIT 1 OFFSET 1"
    ).fetchone()[0]
    env["COMPOUNDING_PASSPHRASE"] = "sample-technician"
    pr = [str(EXE), "--settings", str(tmp / "compounding-sample.toml"), "labels", "print", lot,
          "--copies", "1", "--db", str(db), "--by", "tess", "--output", str(tmp / "l.pdf"),
          "--force"]
    # What a print cannot go below whatever this package does (issue 18, a breakdown, not a
    # goal): the libraries it must load to draw a label, and one passphrase check at the
    # production scrypt cost (RFC 7914 interactive figures, compounding.auth).
    from compounding import auth
    libs = "import click, reportlab.pdfgen.canvas, barcode.codex"
    scrypt = (f"; import hashlib; hashlib.scrypt(b'x', salt=b'0' * 16, n={auth.SCRYPT_N}, "
              f"r={auth.SCRYPT_R}, p={auth.SCRYPT_P}, maxmem=64 * 1024 * 1024, dklen=32)")
    cases = {
        "python -c 'import click' (baseline)": ([PY, "-c", "import click"], None),
        "floor: click, ReportLab, python-barcode": ([PY, "-c", libs], None),
        "floor: the same and one scrypt": ([PY, "-c", libs + scrypt], None),
        "compounding --help": ([str(EXE), "--help"], None),
        "compounding formulas list": ([str(EXE), "formulas", "list"], None),
        "compounding formulas show ldn-capsules": ([str(EXE), "formulas", "show",
                                                    "ldn-capsules"], None),
        "labels print LOT --copies 1 (cache warm)": (pr, None),
        "labels print LOT --copies 1 (cache cold)": (pr, "cold"),
    }
    if args.against:
        other = Path(args.against).resolve()
        compileall.compile_dir(str(other / "compounding"), quiet=1,
                               invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        otmp = Path(tempfile.mkdtemp(prefix="bench-cli-other-"))
        oenv = dict(os.environ, PYTHONPATH=str(other), COMPOUNDING_CACHE_DIR=str(otmp / "cache"))
        # -P: `-m` would put the current folder (this checkout) first on sys.path
        subprocess.run([PY, "-P", "-m", "compounding", "quickstart", "--dir", str(otmp)],
                       check=True, env=oenv, stdout=subprocess.DEVNULL)
        olot = sqlite3.connect(otmp / "compounding-sample.db").execute(
            "SELECT lot_id FROM batches WHERE status = 'released' ORDER BY lot_id LIMIT 1 "
            "OFFSET 1").fetchone()[0]
        oenv["COMPOUNDING_PASSPHRASE"] = "sample-technician"
        opr = [PY, "-P", "-m", "compounding", "--settings", str(otmp / "compounding-sample.toml"),
               "labels", "print", olot, "--copies", "1", "--db",
               str(otmp / "compounding-sample.db"), "--by", "tess", "--output",
               str(otmp / "l.pdf"), "--force"]
        run(opr, oenv)  # its cache warm too
        cases[f"labels print, {other.name} (cache warm)"] = (opr, oenv)
    run(pr, env)  # warm the cache (fonts, template, settings)
    times = {name: [] for name in cases}
    for k in range(args.rounds):
        for name, (cmd, how) in cases.items():
            e = (env if how is None else how if isinstance(how, dict)
                 else dict(env, COMPOUNDING_CACHE_DIR=str(tmp / f"cold{k}")))
            times[name].append(run(cmd, e))
    med = {n: (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts))
           for n, ts in times.items()}
    base_w, base_c = med["python -c 'import click' (baseline)"]
    print(f"CLI start-up, {args.rounds} interleaved rounds, median; wall clock and CPU time")
    for name, (w, c) in med.items():
        print(f"  {name:42s} {w:7.1f} ms {w / base_w:5.2f}x   CPU {c:7.1f} ms {c / base_c:5.2f}x")
    floor = med["floor: the same and one scrypt"]
    print(f"floor of a print (libraries it must import and one scrypt, no compounding code): "
          f"{floor[0] / base_w:.2f}x wall, {floor[1] / base_c:.2f}x CPU")
    help_ratio = med["compounding --help"][0] / base_w
    print_ratio = med["labels print LOT --copies 1 (cache warm)"][0] / base_w
    print_cpu = med["labels print LOT --copies 1 (cache warm)"][1] / base_c
    print(f"goal: --help <= 2.00x baseline: {'met' if help_ratio <= 2 else 'MISSED'} "
          f"({help_ratio:.2f}x)")
    print(f"goal: labels print --copies 1 <= 3.00x baseline: "
          f"{'met' if print_ratio <= 3 else 'MISSED'} ({print_ratio:.2f}x wall, "
          f"{print_cpu:.2f}x CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
