"""Printing benchmark (issue 14): how long until a job can start, and how big it is.

For each thermal template: the ZPL job for 1 and for 10,000 copies (one format with ^PQ) and
the PDF for 1 and for 1,000 copies (one page per label; 10,000 took 20 s and 15 MB on the
2-core dev machine, 30 Nov 2026), cases interleaved A B A B over three rounds (baseline in
the same run), median wall time and size. Run: .venv/bin/python bench/bench_printing.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_labels_support import item, templates  # noqa: E402

from compounding.labeling.render import render  # noqa: E402
from compounding.printing.zpl import render_zpl  # noqa: E402

ROUNDS = 3


def main() -> int:
    cases = []
    for tid in ("batch-thermal", "dispensing-thermal"):
        t = templates().get(tid)
        it = item("ldn-capsules", gtin=True, kind=t.kind)
        for zc, pc in ((1, 1), (10_000, 1_000)):
            cases.append((f"{tid} ZPL x{zc:,}",
                          lambda t=t, it=it, c=zc: render_zpl(t, [it], copies=c)[0]))
            cases.append((f"{tid} PDF x{pc:,}",
                          lambda t=t, it=it, c=pc: render(t, [it], copies=c)))
    for _, fn in cases:  # warm-up: fonts, caches
        fn()
    times = {name: [] for name, _ in cases}
    sizes = {}
    for _ in range(ROUNDS):
        for name, fn in cases:  # interleaved
            t0 = time.perf_counter()
            data = fn()
            times[name].append(time.perf_counter() - t0)
            sizes[name] = len(data)
    print(f"{'case':<36} {'median ms':>10} {'bytes':>12}")
    for name, _ in cases:
        print(f"{name:<36} {statistics.median(times[name]) * 1000:>10.1f} {sizes[name]:>12,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
