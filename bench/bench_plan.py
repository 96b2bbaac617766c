"""Calculator and BUD throughput: plans per second for a mix of all four forms (including
0.1 mcg capsules, the deepest dilution chain), and BUDs per second, with a baseline in the
same run: parsing the same order texts only (the floor any plan pays).

Run: .venv/bin/python bench/bench_plan.py
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compounding.bud import compute_bud  # noqa: E402
from compounding.formulas import Registry  # noqa: E402
from compounding.plan import Order, make_plan  # noqa: E402
from compounding.settings import Settings  # noqa: E402

ORDERS = [
    ("ldn-capsules", dict(quantity="100", strength="0.1 mcg")),
    ("ldn-capsules", dict(quantity="90", strength="1.5 mg")),
    ("ldn-capsules", dict(quantity="30", strength="0.5 mg")),
    ("ldn-capsules", dict(quantity="60", strength="4.5 mg", filler="lactose-monohydrate")),
    ("ldn-oral-liquid", dict(quantity="100 mL", potency="98.5%")),
    ("ldn-sublingual-drops", dict(quantity="30 mL", strength="1 mg/mL")),
    ("ldn-cream", dict(quantity="60 g", strength="1 mg/g")),
    ("ldn-cream", dict(quantity="30 mL", strength="0.5 mg/g")),
]


def rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)  # float-ok: timing


def main() -> int:
    reg = Registry.load(ROOT / "formulas")
    settings = Settings()
    parsed = [(reg.get(fid), kw) for fid, kw in ORDERS]

    def parse_only(i):
        f, kw = parsed[i % len(parsed)]
        Order.from_text(f, **kw)

    def plan(i):
        f, kw = parsed[i % len(parsed)]
        make_plan(f, reg.catalogue, settings, Order.from_text(f, **kw))

    def ultra_low(i):
        f, kw = parsed[0]
        make_plan(f, reg.catalogue, settings, Order.from_text(f, **kw))

    start = date(2026, 1, 1)

    def bud(i):
        f, _ = parsed[i % len(parsed)]
        compute_bud(f, start + timedelta(days=i % 365), f.storage.conditions[0],
                    {"naltrexone-hcl lot X": date(2028, 6, 30)}, "usp795")

    n = 2000
    rate(plan, 50)  # warm-up
    base = rate(parse_only, n)
    plans = rate(plan, n)
    ulow = rate(ultra_low, n // 2)
    buds = rate(bud, n)
    print("Calculator and BUD (single process)")
    print(f"  parse orders only (baseline)     {base:9,.0f} /s")
    print(f"  plans, mix of all four forms     {plans:9,.0f} /s   {plans / base:5.2f}x baseline")
    print(f"  plans, 100 x 0.1 mcg capsules    {ulow:9,.0f} /s   {ulow / base:5.2f}x baseline")
    print(f"  BUDs                             {buds:9,.0f} /s   {buds / base:5.2f}x baseline")
    print(f"  a plan takes {1000 / plans:.2f} ms on average: the print station never waits on it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
