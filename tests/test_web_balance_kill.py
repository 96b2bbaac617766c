"""kill -9 of a live `compounding serve` while "Read balance" waits for a stable reading
(issue 16): nothing is recorded, the database verifies clean, the balance's port is free
again, and the same weighing succeeds after a restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from balance_sim import SimBalance
from web_support import CSRF_RE, ROOT, TECH, build_sample, free_port


def start(db, settings, cwd, port):
    exe = Path(sys.executable).with_name("compounding")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "compounding"]
    proc = subprocess.Popen([*cmd, "--settings", str(settings), "--formulas",
                             str(ROOT / "formulas"), "--templates", str(ROOT / "templates"),
                             "serve", "--db", str(db), "--port", str(port)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx
    for _ in range(400):
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError("the bench did not start")
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the bench did not start")


def signed_in(url):
    import httpx
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    csrf = CSRF_RE.search(c.get("/login").text).group(1)
    r = c.post("/login", data={"user": TECH[0], "passphrase": TECH[1], "csrf_token": csrf})
    assert r.status_code == 303
    return c, CSRF_RE.search(c.get("/").text).group(1)


def test_kill_9_while_reading_the_balance_records_nothing(tmp_path):
    from compounding.store import Store
    db, settings = build_sample(tmp_path)
    with SimBalance("command", ["S D     0.1268 g"]) as bal:
        settings.write_text(settings.read_text() + f"""
[balances.bench-1]
port = "{bal.port}"
protocol = "mt-sics"
readability = "0.1 mg"
min_weighable = "20 mg"
timeout = 30
""", encoding="utf-8")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start(db, settings, tmp_path, port)
        try:
            c, csrf = signed_in(url)
            r = c.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                         "quantity": "30", "strength": "1.5 mg"})
            lot = r.headers["location"].rsplit("/", 1)[1]
            with Store.open(db) as store:
                before = store.scalar("SELECT COUNT(*) FROM weighings")
            answers = []

            def press():
                try:
                    answers.append(c.post(f"/batches/{lot}/weigh", data={
                        "csrf_token": csrf, "step": "1", "action": "balance"}).status_code)
                except Exception as exc:  # the server died under it
                    answers.append(type(exc).__name__)

            t = threading.Thread(target=press)
            t.start()
            deadline = time.monotonic() + 20
            while bal.received.count(b"S\r\n") < 2 and time.monotonic() < deadline:
                time.sleep(0.02)  # the server is asking the balance, again and again
            assert bal.received.count(b"S\r\n") >= 2
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            t.join(30)
            assert answers and answers[0] != 303
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with Store.open(db) as store:
            assert store.scalar("SELECT COUNT(*) FROM weighings") == before
            assert store.verify() == []
        # the port is free again (the flock died with the process); the balance settles
        bal.replies = [b"S S     0.1268 g"]
        proc = start(db, settings, tmp_path, port)
        try:
            c, csrf = signed_in(url)
            r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                                      "action": "balance"})
            assert r.status_code == 303, re.findall(r"Error: [^<]*", r.text)
        finally:
            proc.terminate()
            proc.wait(10)
    with Store.open(db) as store:
        assert store.scalar("SELECT COUNT(*) FROM weighings") == before + 1
        assert store.verify() == []
