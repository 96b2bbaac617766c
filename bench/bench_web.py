"""The bench under load (issue 15): 20 concurrent clients on loopback mixing page reads and
weighings for 30 s against a live ``compounding serve``, 0 errors expected; p50 and p95 per
page. Baseline in the same run, interleaved: one client alone (A), twenty clients (B), one
client alone again (A).

Usage::

    .venv/bin/python bench/bench_web.py                 # the ten-year store (bench_store's)
    .venv/bin/python bench/bench_web.py --scale 0.01    # a smaller generated store
    .venv/bin/python bench/bench_web.py --sample        # the quickstart sample (seconds)
    .venv/bin/python bench/bench_web.py --store PATH    # a copy of a generated store

Traffic goes to 127.0.0.1 only, in loops bounded by time and count. The store is a copy of
bench_store's cached ten-year database (generated once; see bench/store_gen.py) with fresh
stock received and one new batch per client to weigh. Each client is a technician signed in
with their own session; a weighing is a real form post (CSRF token, the library's tolerance
and stock checks, the audit chain), re-weighed with a reason once every step is weighed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Hard bounds of every loop (issue 15: bounded loops, loopback only).
MAX_REQUESTS_PER_CLIENT = 20_000
HOST = "127.0.0.1"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def prepare(db: Path, users: list[tuple[str, str]], n_batches: int):
    """Fresh stock and ``n_batches`` new capsule batches (one per client) to weigh; returns
    (their lot IDs, the newest 200 lot IDs to read)."""
    from compounding import units as u
    from compounding.formulas import Registry
    from compounding.plan import Order
    from compounding.settings import Settings
    from compounding.store import Store

    reg = Registry.load(ROOT / "formulas")
    settings = Settings()
    lots = []
    with Store.open(db) as store:  # no passphrase source: the library checks the user acts
        tech = users[0][0]
        today = store.today()
        exp = today + timedelta(days=700)
        named = {}
        for ing, qty in (("naltrexone-hcl", "100 g"), ("microcrystalline-cellulose", "50000 g")):
            named[ing] = f"WEB-{ing[:6].upper()}-{today:%y%m%d}-{os.getpid()}"
            store.receive_lot(ing, named[ing], exp, u.parse(qty, {u.MASS}), tech)
        f = reg.get("ldn-capsules")
        for i in range(n_batches):
            order = Order.from_text(f, quantity="30", strength="1.5 mg")
            rec = store.create_batch(f, reg.catalogue, settings, order,
                                     by=users[i % len(users)][0],
                                     formula_sha256=reg.hashes[f.id],
                                     component_lots=named,  # stock for every re-weigh
                                     storage=None)
            lots.append(rec["lot_id"])
        sample = [r["lot_id"] for r in store.rows(
            "SELECT lot_id FROM batches ORDER BY lot_id DESC LIMIT 200")]
    return lots, sample


class Client(threading.Thread):
    """One technician at a bench: reads pages and weighs their own batch."""

    def __init__(self, url, user, passphrase, lot, read_lots, stop_at, weigh_share, seed):
        super().__init__(daemon=True)
        import httpx
        self.http = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
        self.user, self.passphrase, self.lot = user, passphrase, lot
        self.read_lots, self.stop_at, self.weigh_share = read_lots, stop_at, weigh_share
        self.rng = random.Random(seed)
        self.times: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.steps: list[dict] = []
        self.next_step = 0

    def timed(self, name, fn, expect):
        t0 = time.perf_counter()
        try:
            r = fn()
            ok = r.status_code == expect
        except Exception as exc:  # a transport error is an error of the run
            r, ok = None, False
            self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        self.times.setdefault(name, []).append(time.perf_counter() - t0)
        if r is not None and not ok:
            said = re.findall(r'role="alert">([^<]*)<', r.text)
            self.errors.append(f"{name}: HTTP {r.status_code} "
                               f"{(said[0] if said else r.text[:200])!r}")
        return r

    def sign_in(self):
        r = self.http.get("/login")
        csrf = CSRF_RE.search(r.text).group(1)
        r = self.http.post("/login", data={"user": self.user, "passphrase": self.passphrase,
                                           "csrf_token": csrf})
        assert r.status_code == 303, r.text[:300]
        self.csrf = CSRF_RE.search(self.http.get("/").text).group(1)
        rec = self.http.get(f"/api/v1/batches/{self.lot}").json()
        self.steps = rec["steps"]
        self.weighed = {w["step"] for w in rec["weighings"]}

    def weigh(self):
        s = self.steps[self.next_step % len(self.steps)]
        self.next_step += 1
        data = {"csrf_token": self.csrf, "step": str(s["step"]),
                "amount": f"{s['quantity']} {s['unit']}"}
        if s["step"] in self.weighed:
            data["reweigh_reason"] = "benchmark re-weigh"
        r = self.timed("POST weigh", lambda: self.http.post(f"/batches/{self.lot}/weigh",
                                                            data=data), 303)
        if r is not None and r.status_code == 303:
            self.weighed.add(s["step"])

    def run(self):
        pages = [("GET / (queue)", lambda: "/"),
                 ("GET /batches/LOT", lambda: f"/batches/{self.rng.choice(self.read_lots)}"),
                 ("GET /batches/LOT/verify", lambda: f"/batches/{self.lot}/verify"),
                 ("GET /inventory", lambda: "/inventory"),
                 ("GET /api/v1/batches/LOT", lambda: f"/api/v1/batches/{self.lot}")]
        n = 0
        while time.monotonic() < self.stop_at and n < MAX_REQUESTS_PER_CLIENT:
            n += 1
            if self.rng.random() < self.weigh_share:
                self.weigh()
            else:
                name, path = self.rng.choice(pages)
                p = path()
                self.timed(name, lambda: self.http.get(p), 200)
        self.http.close()


def phase(url, users, lots, read_lots, clients: int, seconds: float, weigh_share: float,
          seed: int):
    stop_at = time.monotonic() + seconds
    cs = [Client(url, users[i % len(users)][0], users[i % len(users)][1], lots[i], read_lots,
                 stop_at, weigh_share, seed + i) for i in range(clients)]
    for c in cs:
        c.sign_in()
    stop_at = time.monotonic() + seconds
    for c in cs:
        c.stop_at = stop_at
    t0 = time.perf_counter()
    for c in cs:
        c.start()
    for c in cs:
        c.join(seconds + 60)
    wall = time.perf_counter() - t0
    times: dict[str, list[float]] = {}
    errors = []
    for c in cs:
        for k, v in c.times.items():
            times.setdefault(k, []).extend(v)
        errors += c.errors
    return times, errors, wall


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


def report(title, times, errors, wall):
    total = sum(len(v) for v in times.values())
    print(f"\n{title}: {total:,} requests in {wall:.1f} s ({total / wall:,.0f}/s), "
          f"{len(errors)} errors")
    print(f"  {'page':<28}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for name in sorted(times):
        v = times[name]
        print(f"  {name:<28}{len(v):>7}{pct(v, 50) * 1000:>9.1f}{pct(v, 95) * 1000:>9.1f}"
              f"{max(v) * 1000:>9.1f}")
    for e in errors[:10]:
        print(f"  error: {e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--weigh-share", type=float, default=0.2,
                    help="share of requests that are weighings (default 0.2)")
    ap.add_argument("--scale", type=float, default=1.0, help="ten-year store scale (1.0)")
    ap.add_argument("--sample", action="store_true", help="use the quickstart sample store")
    ap.add_argument("--store", type=Path, help="copy this generated ten-year store (made by "
                                               "bench/store_gen.py) instead of bench_store's "
                                               "cache; it is migrated to the current schema")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 100 or not 0 < args.seconds <= 300:
        ap.error("--clients 1..100 and --seconds up to 300 (bounded loops)")

    from compounding.store import users as store_users
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        if args.sample:
            sys.path.insert(0, str(ROOT / "tests"))
            from web_support import build_sample
            db, settings = build_sample(work)
            people = [("tess", "sample-technician")]
            how = "quickstart sample"
        else:
            import bench_store
            import store_gen
            store_users.SCRYPT_COST = store_gen.FAST_SCRYPT
            if args.store:
                src, how = args.store, f"copy of {args.store.name}"
            else:
                src, how = bench_store.obtain(args.scale, False)
            db = work / "bench.db"
            s, d = sqlite3.connect(src), sqlite3.connect(db)
            t0 = time.perf_counter()
            s.backup(d)
            s.close()
            d.close()
            how += f" (copied in {time.perf_counter() - t0:.0f} s)"
            settings = None
            people = [(n, store_gen.PASS) for n in store_gen.TECHNICIANS]
        lots, read_lots = prepare(db, people, args.clients)
        n_batches = sqlite3.connect(db).execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        print(f"Bench load test: {how}; {n_batches:,} batches; {args.clients} clients, "
              f"{args.seconds:g} s, {args.weigh_share:.0%} weighings; {os.cpu_count()} cores")
        port = free_port()
        cmd = [sys.executable, "-m", "compounding"]
        if settings:
            cmd += ["--settings", str(settings)]
        cmd += ["serve", "--db", str(db), "--host", HOST, "--port", str(port),
                "--labels-dir", str(work / "labels")]
        server = subprocess.Popen(cmd, cwd=work, stderr=subprocess.PIPE)
        url = f"http://{HOST}:{port}"
        try:
            import httpx
            for _ in range(600):
                try:
                    httpx.get(url + "/login", timeout=1)
                    break
                except httpx.HTTPError:
                    if server.poll() is not None:
                        raise SystemExit(server.stderr.read().decode())
                    time.sleep(0.05)
            errors_total = 0
            for i, (title, clients, secs) in enumerate((
                    ("A  baseline, 1 client", 1, args.baseline_seconds),
                    (f"B  {args.clients} concurrent clients", args.clients, args.seconds),
                    ("A  baseline again, 1 client", 1, args.baseline_seconds))):
                times, errors, wall = phase(url, people, lots, read_lots, clients, secs,
                                            args.weigh_share, seed=100 * i)
                report(title, times, errors, wall)
                errors_total += len(errors)
        finally:
            server.terminate()
            server.wait(10)
        print(f"\nerrors in all phases: {errors_total}")
        return 1 if errors_total else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
