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


FORMULA = "ldn-capsules"


def approve_current(store, work: Path, approver: tuple[str, str] | None, author: str | None):
    """The formulas folder the server must load so that ``FORMULA`` as it is now is approved.

    A generated store approved the formula as it was when it was generated; when the formula
    or its catalogue entries changed since (the approval covers both), a pharmacy raises the
    version and approves it again. This does the same on a copy of ``formulas/`` in ``work``
    (``approver`` signs, ``author`` submits); the repository's files are not touched.
    Returns the folder (the repository's own when nothing changed) and its registry."""
    from compounding.formulas import Registry
    from compounding.store import approvals

    folder = ROOT / "formulas"
    reg = Registry.load(folder)
    f = reg.get(FORMULA)
    state = approvals.approval_state(store, "formula", FORMULA, f.version, reg.hashes[FORMULA])
    if state["state"] == "approved" or approver is None:
        return folder, reg
    copy = work / "formulas"
    shutil.copytree(folder, copy)
    last = max(a["subject_version"] for a in approvals.approvals(store, "formula", FORMULA))
    path = copy / f"{FORMULA}.toml"
    text, n = re.subn(r"(?m)^version = \d+$", f"version = {last + 1}", path.read_text())
    assert n == 1, f"{path}: no single 'version = N' line"
    path.write_text(text)
    reg = Registry.load(copy)
    approvals.submit(store, "formula", FORMULA, last + 1, reg.contents[FORMULA], by=author,
                     note="bench_web: the formula changed since the store was generated")
    approvals.approve(store, "formula", FORMULA, last + 1, reg.hashes[FORMULA],
                      by=approver[0], passphrase=approver[1])
    return copy, reg


def prepare(db: Path, users: list[tuple[str, str]], n_batches: int, work: Path,
            approver: tuple[str, str] | None = None, author: str | None = None):
    """Fresh stock and ``n_batches`` new capsule batches (one per client) to weigh; returns
    (their lot IDs, the newest 200 lot IDs to read, the formulas folder to serve)."""
    from compounding import units as u
    from compounding.plan import Order
    from compounding.settings import Settings
    from compounding.store import Store

    settings = Settings()
    lots = []
    with Store.open(db) as store:  # no passphrase source: the library checks the user acts
        folder, reg = approve_current(store, work, approver, author)
        tech = users[0][0]
        today = store.today()
        exp = today + timedelta(days=700)
        named = {}
        for ing, qty in (("naltrexone-hcl", "100 g"), ("microcrystalline-cellulose", "50000 g")):
            named[ing] = f"WEB-{ing[:6].upper()}-{today:%y%m%d}-{os.getpid()}"
            store.receive_lot(ing, named[ing], exp, u.parse(qty, {u.MASS}), tech)
        f = reg.get(FORMULA)
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
    return lots, sample, folder


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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, seconds) of process ``pid`` and its children now (the
    server and its worker processes), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


def report(title, times, errors, wall, server_cpu=None, client_cpu=None, clients=1):
    """Print one phase: requests, errors, p50/p95/max per page; with the CPU seconds the
    server and the clients used, the CPU per request and the floor it puts on latency."""
    total = sum(len(v) for v in times.values())
    print(f"\n{title}: {total:,} requests in {wall:.1f} s ({total / wall:,.0f}/s), "
          f"{len(errors)} errors; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    if server_cpu is not None and total:
        per = (server_cpu + client_cpu) / total
        print(f"  CPU per request: server {server_cpu / total * 1000:.1f} ms, clients "
              f"{client_cpu / total * 1000:.1f} ms; server used {server_cpu / wall:.2f} "
              f"cores. {clients} clients with no pause between requests: mean latency = "
              f"{clients} / throughput = {clients / (total / wall) * 1000:.0f} ms; on an idle "
              f"machine at best {clients} x {per * 1000:.1f} ms / {os.cpu_count()} cores = "
              f"{clients * per / os.cpu_count() * 1000:.0f} ms")
    print(f"  {'page':<28}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for name in sorted(times):
        v = times[name]
        print(f"  {name:<28}{len(v):>7}{pct(v, 50) * 1000:>9.1f}{pct(v, 95) * 1000:>9.1f}"
              f"{max(v) * 1000:>9.1f}")
    for e in errors[:10]:
        print(f"  error: {e}")


def run_server(db, settings, formulas, work, workers: int, code: Path | None = None):
    """``compounding serve`` on a free loopback port; returns (process, url). ``code``: a
    checkout whose ``compounding`` package the server runs instead of this one (the code
    before a change, for a comparison in the same run); it is given no ``--workers``."""
    import httpx
    port = free_port()
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    cmd = [sys.executable, "-m", "compounding"]
    if settings:
        cmd += ["--settings", str(settings)]
    cmd += ["--formulas", str(formulas)]
    cmd += ["serve", "--db", str(db), "--host", HOST, "--port", str(port),
            "--labels-dir", str(work / "labels")]
    if code is None:
        cmd += ["--workers", str(workers)]
    server = subprocess.Popen(cmd, cwd=work, stderr=subprocess.PIPE, env=env)
    url = f"http://{HOST}:{port}"
    for _ in range(1200):
        try:
            httpx.get(url + "/login", timeout=1)
            return server, url
        except httpx.HTTPError:
            if server.poll() is not None:
                raise SystemExit(server.stderr.read().decode())
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the server did not start in 60 s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--weigh-share", type=float, default=0.2,
                    help="share of requests that are weighings (default 0.2)")
    ap.add_argument("--workers", default="1",
                    help="server processes to compare, e.g. 1,2 (each gets a one-client "
                         "baseline and the loaded phase; with two or more the loaded "
                         "phases are run twice, interleaved: 1 2 1 2)")
    ap.add_argument("--before", type=Path, metavar="CHECKOUT",
                    help="also serve with the code of this checkout (e.g. `git worktree add "
                         "/tmp/before main~3`), one process, interleaved with the others")
    ap.add_argument("--scale", type=float, default=1.0, help="ten-year store scale (1.0)")
    ap.add_argument("--sample", action="store_true", help="use the quickstart sample store")
    ap.add_argument("--store", type=Path, help="copy this generated ten-year store (made by "
                                               "bench/store_gen.py) instead of bench_store's "
                                               "cache; it is migrated to the current schema")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 100 or not 0 < args.seconds <= 300:
        ap.error("--clients 1..100 and --seconds up to 300 (bounded loops)")
    try:
        variants = [int(w) for w in args.workers.split(",")]
        assert variants and all(1 <= w <= 16 for w in variants)
    except (ValueError, AssertionError):
        ap.error("--workers: whole numbers 1-16 separated by commas (1,2)")

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
        lots, read_lots, formulas = prepare(
            db, people, args.clients, work,
            None if args.sample else ("pharm", store_gen.PASS), "phil")
        n_batches = sqlite3.connect(db).execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        print(f"Bench load test: {how}; {n_batches:,} batches; {args.clients} clients, "
              f"{args.seconds:g} s, {args.weigh_share:.0%} weighings; {os.cpu_count()} cores; "
              f"server processes compared: {', '.join(map(str, variants))}")
        cases = ([(1, args.before)] if args.before else []) + [(w, None) for w in variants]
        plan = [(w, code, True) for w, code in cases]
        if len(cases) > 1:
            plan += [(w, code, False) for w, code in cases]  # A B A B: loaded phases again
        errors_total = 0
        for i, (workers, code, baseline) in enumerate(plan):
            server, url = run_server(db, settings, formulas, work, workers, code)
            try:
                phases = [("A  one client", 1, args.baseline_seconds)] if baseline else []
                phases.append((f"B  {args.clients} concurrent clients", args.clients,
                               args.seconds))
                for j, (title, clients, secs) in enumerate(phases):
                    c0, m0 = cpu_seconds(server.pid), os.times()
                    times, errors, wall = phase(url, people, lots, read_lots, clients, secs,
                                                args.weigh_share, seed=100 * i + j)
                    c1, m1 = cpu_seconds(server.pid), os.times()
                    label = (f"before ({code.name}), 1 server process" if code else
                             f"{workers} server process{'es' if workers > 1 else ''}")
                    report(f"[{label}] {title}", times, errors, wall, c1 - c0,
                           (m1.user + m1.system) - (m0.user + m0.system), clients)
                    errors_total += len(errors)
            finally:
                server.terminate()
                server.wait(30)
        print(f"\nerrors in all phases: {errors_total}")
        return 1 if errors_total else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
