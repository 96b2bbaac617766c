"""Helpers for the bench tests: a sample store (the quickstart's: two users, stock, approved
formulas and templates, five released batches), a signed-in TestClient, a live server."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TECH = ("tess", "sample-technician")
PHARM = ("pat", "sample-pharmacist")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ERROR_RE = re.compile(r'role="alert">Error: ([^<]*)<')


def build_sample(directory: Path) -> tuple[Path, Path]:
    """The quickstart's database and settings in ``directory`` (cheap scrypt, as the suite's
    conftest sets for new hashes)."""
    from compounding import quickstart
    from compounding.formulas import Registry
    from compounding.store import users

    old = users.SCRYPT_COST
    users.SCRYPT_COST = (2 ** 8, 8, 1)
    try:
        reg = Registry.load(ROOT / "formulas")
        res = quickstart.run(directory / "sample.db", directory / "sample.toml",
                             directory / "labels", reg, ROOT / "templates", date.today())
    finally:
        users.SCRYPT_COST = old
    return res.db_path, res.settings_path


def copy_sample(src_db: Path, settings: Path, dest: Path) -> tuple[Path, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    db = dest / "bench.db"
    import sqlite3
    src, dst = sqlite3.connect(src_db), sqlite3.connect(db)
    try:
        src.backup(dst)  # a consistent copy, WAL included
    finally:
        src.close()
        dst.close()
    shutil.copy(settings, dest / "sample.toml")
    return db, dest / "sample.toml"


def client(db: Path, settings: Path, labels: Path, session_clock=None):
    from fastapi.testclient import TestClient
    from compounding.web import BenchConfig, create_app
    app = create_app(BenchConfig(db_path=db, settings_path=settings, labels_dir=labels,
                                 formulas_dir=ROOT / "formulas",
                                 templates_dir=ROOT / "templates",
                                 session_clock=session_clock))
    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def errors_of(html: str) -> list[str]:
    import html as h
    return [h.unescape(e) for e in ERROR_RE.findall(html)]


def sign_in(c, user: str, passphrase: str):
    c.cookies.clear()  # a new person at the bench
    r = c.get("/login")
    r = c.post("/login", data={"user": user, "passphrase": passphrase,
                               "csrf_token": csrf_of(r.text)})
    assert r.status_code == 303, r.text
    return csrf_of(c.get("/").text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(db: Path, settings: Path, cwd: Path, env=None, args=(), proc_out=None):
    """``compounding serve`` on 127.0.0.1 and a free port, as a real process (``args``:
    more options of serve; ``proc_out``: a list that receives the process)."""
    port = free_port()
    exe = Path(sys.executable).with_name("compounding")
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else
           ["-m", "compounding"]), "--settings", str(settings), "--formulas",
           str(ROOT / "formulas"), "--templates", str(ROOT / "templates"), "serve", "--db",
           str(db), "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    if proc_out is not None:
        proc_out.append(proc)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/login", timeout=1)
                break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode())
                time.sleep(0.05)
        else:
            raise RuntimeError("the bench did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
