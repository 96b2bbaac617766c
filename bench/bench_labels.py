"""Label rendering speed (issues 6, 8, 18): copies of one batch and labels of different lots,
each against a baseline measured in the same run, the cases interleaved (A B A B ...) so a
busy machine slows every case alike instead of bending one ratio.

Run: ``.venv/bin/python bench/bench_labels.py [--copies 10000] [--lots 1000] [--runs 5]``.

(a) Copies: ``render(template, [one], copies=N)`` (issue 18: the label drawn once as form
    XObjects and placed N times; on a roll each further copy is a page sharing one content
    stream) against the way copies were made before issue 18, every copy drawn in full
    (``render(template, [one] * N)``: the layout is shared, the drawing is not). Goal: at
    least 10x the rate, at most 200 bytes of PDF per extra copy.
(b) Different lots: ``render(template, lots)`` (layout, fitting, decode-back verification of
    both barcodes and drawing for every label) against a bare ReportLab script that draws
    exactly the same marks (the same text lines, the Code 128 bars and the GS1 DataMatrix
    modules as filled rectangles, positions precomputed), with no layout and no checks.
    Goal: at least 90% of the bare script, the DataMatrix on both sides. Each round prints
    lots new to the process (as a real run does: no warm layout cache); the bare script
    draws the layouts of the same lots. Since issue 18 (session 4) ``render`` writes the
    same PDF operators as ReportLab's drawing calls but keeps what repeats as text (see
    ``render._Marks``), so its drawing is faster than the bare script's and pays for the
    layout and checks; the last line says what each costs per label.

Both on the thermal roll template ``batch-thermal`` with a GTIN set, so every label carries a
GS1 DataMatrix. Prints labels per second (median of the runs), by the wall clock and in CPU
time (which a busy machine bends least), and the ratios. Not a test.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GTIN = "00614141000012"  # GS1's documentation example, valid check digit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=10_000, help="copies of one batch (a)")
    ap.add_argument("--lots", type=int, default=1_000, help="labels of different lots (b)")
    ap.add_argument("--runs", type=int, default=5, help="interleaved rounds")
    args = ap.parse_args(argv)

    from reportlab.lib import rl_accel
    from reportlab.pdfgen.canvas import Canvas

    from compounding import units as u
    from compounding.formulas import Registry
    from compounding.labeling.content import label_data
    from compounding.labeling.layout import layout_label
    from compounding.labeling.render import layouts_for, render
    from compounding.labeling.templates import load_templates
    from compounding.settings import Settings
    from compounding.store.lotid import make_lot_id

    reg = Registry.load(ROOT / "formulas")
    t = load_templates(ROOT / "templates").get("batch-thermal")
    f = reg.get("ldn-capsules")
    settings = Settings(gtins={"ldn-capsules": GTIN})

    def make(lot):
        return label_data(f, settings, strength=u.q("1.5", "mg"), quantity=u.q("100", "capsules"),
                          lot=lot, bud=date(2027, 5, 23), storage="room")

    one = make("2605230014")
    n_lots = args.lots
    # Every round (and the warm-up) prints lots this process has never seen, as a real run
    # does: the layout's caches (text wrapping, string widths) start cold for each lot.
    # The layout-only case (a breakdown, not a goal) gets lots of its own.
    rounds = args.runs + 1
    per_day = 999
    days = [date(2026, 1, 1) + timedelta(days=d)
            for d in range(-(-2 * n_lots * rounds // per_day))]
    lot_ids = [make_lot_id(days[i // per_day], 1 + i % per_day)
               for i in range(2 * n_lots * rounds)]
    batches = [[make(lot) for lot in lot_ids[k * n_lots:(k + 1) * n_lots]]
               for k in range(2 * rounds)]
    other = batches[rounds:]
    # the bare script's marks: the layouts of the same lots, made before any timing
    layouts = [[layout_label(t, it) for it in b] for b in batches[:rounds]]
    assert all(lay.matrix is not None for ls in layouts for lay in ls), \
        "every label must carry a DataMatrix"
    for ls in layouts:  # the modules as rows of booleans, made now (not in the timed script)
        for lay in ls:
            lay.matrix.rows
    current = {"round": 0}

    def ours():
        return render(t, batches[current["round"]])

    def bare():
        """The same text, bars and DataMatrix modules, positions precomputed: ReportLab's
        drawing only, one label per page."""
        lays = layouts[current["round"]]
        buf = io.BytesIO()
        W, H = t.stock.page_size
        c = Canvas(buf, pagesize=(W, H), invariant=1, pageCompression=1)
        dot = t.dot
        for lay in lays:
            for ln in lay.lines:
                c.setFont(ln.font, ln.size)
                c.drawString(ln.x, H - ln.baseline, ln.text)
            p = c.beginPath()
            y = H - (lay.bars_top + lay.bars_height) * dot
            for x, w in lay.bars.bars:
                p.rect((lay.bars_x + x) * dot, y, w * dot, lay.bars_height * dot)
            m = lay.matrix_module
            for r, row in enumerate(lay.matrix.rows):
                y = H - (lay.matrix_top + (r + 1) * m) * dot
                c0 = None
                for col, dark in enumerate(row + (False,)):
                    if dark and c0 is None:
                        c0 = col
                    elif not dark and c0 is not None:
                        p.rect((lay.matrix_x + c0 * m) * dot, y, (col - c0) * m * dot, m * dot)
                        c0 = None
            c.drawPath(p, stroke=0, fill=1)
            c.showPage()
        c.save()
        return buf.getvalue()

    N = args.copies
    cases = {
        "copies: render(copies=N)": (N, lambda: render(t, [one], copies=N)),
        "copies: each drawn in full (before)": (N, lambda: render(t, [one] * N)),
        "lots: render(different lots)": (n_lots, ours),
        "lots: bare ReportLab, same marks": (n_lots, bare),
        "lots: layout and read-back only": (n_lots,
                                            lambda: layouts_for(t, other[current["round"]])),
    }
    for _, fn in cases.values():  # warm-up: font registration, subsetting caches
        fn()
    times = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    sizes = {}
    for k in range(args.runs):  # interleaved: A B C D A B C D ...
        current["round"] = k + 1
        for name, (n, fn) in cases.items():
            c0, t0 = time.process_time(), time.perf_counter()
            pdf = fn()
            times[name].append(time.perf_counter() - t0)  # float-ok: timing, not a dose
            cpu[name].append(time.process_time() - c0)  # float-ok: timing, not a dose
            sizes[name] = len(pdf) if isinstance(pdf, bytes) else None
    rate = {name: cases[name][0] / statistics.median(ts) for name, ts in times.items()}
    rate_cpu = {name: cases[name][0] / statistics.median(ts) for name, ts in cpu.items()}
    one_pdf = len(render(t, [one], copies=1))
    print(f"labels on {t.id} (GS1 DataMatrix on every label), median of {args.runs} "
          f"interleaved rounds, wall clock and CPU time; C accelerator: "
          f"{'on' if rl_accel._c_funcs else 'OFF'}")
    for name, (n, _) in cases.items():
        size = "" if sizes[name] is None else f"{sizes[name] / 1024:8,.0f} KiB PDF"
        print(f"  {name:38s} {n:7,} labels {rate[name]:9,.0f} labels/s  (CPU "
              f"{rate_cpu[name]:9,.0f}/s)  {size}")
    per_copy = (sizes["copies: render(copies=N)"] - one_pdf) / (N - 1)
    for what, r in (("wall clock", rate), ("CPU time", rate_cpu)):
        speedup = r["copies: render(copies=N)"] / r["copies: each drawn in full (before)"]
        lots = r["lots: render(different lots)"] / r["lots: bare ReportLab, same marks"]
        print(f"{what}: copies {speedup:.1f}x the rate before (goal >= 10x: "
              f"{'met' if speedup >= 10 else 'MISSED'}); different lots {100 * lots:.0f}% of "
              f"the bare script (goal >= 90%: {'met' if lots >= 0.9 else 'MISSED'})")
    print(f"copies: {per_copy:.0f} bytes of PDF per extra copy "
          f"(goal <= 200: {'met' if per_copy <= 200 else 'MISSED'})")
    per = {name: 1000 / rate_cpu[name] for name in cases}
    print(f"per label, CPU: render {per['lots: render(different lots)']:.2f} ms, of which layout "
          f"and the read-back checks {per['lots: layout and read-back only']:.2f} ms (measured "
          f"alone, on other new lots); the bare script {per['lots: bare ReportLab, same marks']:.2f}"
          f" ms, drawing only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
