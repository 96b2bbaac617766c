"""Label rendering speed: 1,000 batch labels into one PDF, against a bare ReportLab script.

Run: ``.venv/bin/python bench/bench_labels.py``. Prints labels per second for
(a) ``render()`` with 1,000 copies of one batch (one print job: layout and barcode
verification once, drawing 1,000 times), (b) ``render()`` with 1,000 different lots (layout,
fitting and decode-back verification for every label), and (c) a bare ReportLab script that
draws the same text lines and the same bar rectangles with the same fonts, with no layout and
no checks, in the same run. Goal (issue 6): at least 1,000 labels/s and at least 70% of the
bare script. Not part of the test suite.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = 1000
RUNS = 5


def main() -> None:
    from reportlab.pdfgen.canvas import Canvas

    from compounding import units as u
    from compounding.formulas import Registry
    from compounding.labeling.content import label_data
    from compounding.labeling.layout import layout_label
    from compounding.labeling.render import render
    from compounding.labeling.templates import load_templates
    from compounding.settings import Settings
    from compounding.store.lotid import make_lot_id

    reg = Registry.load(ROOT / "formulas")
    t = load_templates(ROOT / "templates").get("batch-thermal")
    f = reg.get("ldn-capsules")
    settings = Settings()

    def make(lot):
        return label_data(f, settings, strength=u.q("1.5", "mg"), quantity=u.q("100", "capsules"),
                          lot=lot, bud=date(2027, 5, 23), storage="room")

    one = make("2605230014")
    many = [make(make_lot_id(date(2026, 5, 1 + i // 999), 1 + i % 999)) for i in range(N)]
    lays = [layout_label(t, it) for it in many]

    def bare():
        """The same text and bars, positions precomputed: ReportLab drawing only."""
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
            c.drawPath(p, stroke=0, fill=1)
            c.showPage()
        c.save()
        return buf.getvalue()

    cases = {
        "render(): 1,000 copies of one batch": lambda: render(t, [one], copies=N),
        "render(): 1,000 different lots": lambda: render(t, many),
        "bare ReportLab, same text and bars": bare,
    }
    for fn in cases.values():  # warm-up: font registration, subsetting caches
        fn()
    results = {}
    for name, fn in cases.items():
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            pdf = fn()
            times.append(time.perf_counter() - t0)  # float-ok: timing, not a dose
        best = statistics.median(times)
        results[name] = N / best
        print(f"{name:40s} {N / best:8.0f} labels/s  (median of {RUNS}, "
              f"{len(pdf) / 1024:.0f} KiB PDF)")
    bare_rate = results["bare ReportLab, same text and bars"]
    for name in list(cases)[:2]:
        print(f"{name:40s} {100 * results[name] / bare_rate:7.0f}% of bare")


if __name__ == "__main__":
    main()
