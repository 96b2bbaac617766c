"""Bench sessions (issue 15): kept in a SQLite file shared by ``serve --workers N``'s
processes; only the SHA-256 of a session id stored; messages for the next page written
through; the idle timeout on the monotonic clock; orphaned folders of killed servers swept;
a removed or damaged sessions file started afresh. Real processes where processes
matter."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from web_support import (PHARM, TECH, build_sample, client, copy_sample, csrf_of, errors_of,
                         live_server, sign_in)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("sample"))


# ---------------------------------------------------------------- the session file


def test_a_session_made_in_one_process_is_live_in_another(tmp_path):
    from compounding.web.sessions import SessionStore
    path = tmp_path / "sessions.db"
    store = SessionStore(900, path=path)
    s = store.new("tess")
    s.flash.append(("ok", "Step 1 recorded"))
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from compounding.web.sessions import SessionStore
        store = SessionStore(900, path={str(path)!r})
        s = store.get({s.sid!r})
        print(s.user, s.csrf == {s.csrf!r}, s.flash)
        s.flash = []
        s.flash.append(("error", "from the other process"))
        print(store.get("not-a-session"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stderr == ""
    assert out.stdout.splitlines() == ["tess True [('ok', 'Step 1 recorded')]", "None"]
    assert store.get(s.sid).flash == [("error", "from the other process")]


def test_the_file_keeps_no_session_id_only_its_hash(tmp_path):
    import hashlib
    from compounding.web.sessions import SessionStore
    store = SessionStore(900, path=tmp_path / "sessions.db")
    s = store.new("tess")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert s.sid.encode() not in raw
    assert hashlib.sha256(s.sid.encode()).hexdigest().encode() in raw
    assert s.sid not in repr(s) and s.csrf not in repr(s)


@pytest.mark.parametrize("steps, live", [
    # (seconds after the last request, live?) on the monotonic clock; idle timeout 900 s
    ([900], True),
    ([899.5, 900], True),       # each request restarts the idle time
    ([901], False),
    ([0.5, 0.5, 899.5], True),  # touches closer than a second apart are not written...
    ([0.5, 0.5, 900.5], False),  # ...so the session ends up to a second early, never late
])
def test_idle_timeout_on_the_monotonic_clock(tmp_path, steps, live):
    from compounding.web.sessions import SessionStore
    now = [1000.0]
    a = SessionStore(900, clock=lambda: now[0], path=tmp_path / "s.db")
    b = SessionStore(900, clock=lambda: now[0], path=tmp_path / "s.db")  # another worker
    s = a.new("tess")
    for i, dt in enumerate(steps):
        now[0] += dt
        got = (a if i % 2 else b).get(s.sid)
        if i < len(steps) - 1:
            assert got is not None
    assert (got is not None) is live
    if not live:
        assert a.get(s.sid) is None and a.count() == 0  # dropped, not kept


@pytest.mark.parametrize("sid", [None, "", "x" * 101, "\u200b", "' OR 1=1 --", "\x00"])
def test_odd_cookies_are_no_session(tmp_path, sid):
    from compounding.web.sessions import SessionStore
    store = SessionStore(900, path=tmp_path / "s.db")
    store.new("tess")
    assert store.get(sid) is None


def test_sessions_are_bounded_oldest_first(tmp_path, monkeypatch):
    from compounding.web import sessions
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    now = [0.0]
    store = sessions.SessionStore(900, clock=lambda: now[0], path=tmp_path / "s.db")
    made = []
    for i in range(5):
        now[0] += 1
        made.append(store.new(f"u{i}"))
    assert [store.get(s.sid) is not None for s in made] == [False, False, True, True, True]
    assert store.count() == 3


def test_messages_are_bounded(tmp_path):
    from compounding.web import sessions
    store = sessions.SessionStore(900, path=tmp_path / "s.db")
    s = store.new("tess")
    for i in range(sessions.MAX_FLASH + 5):
        s.flash.append(("error", f"m{i}" + "x" * 5000))
    got = store.get(s.sid).flash
    assert len(got) == sessions.MAX_FLASH
    assert got[0][1].startswith(f"m5x") and len(got[0][1]) == sessions.MAX_FLASH_CHARS


def test_folders_of_killed_servers_are_swept(tmp_path):
    from compounding.web.sessions import FOLDER_PREFIX, sweep_orphans
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"{FOLDER_PREFIX}{dead.pid}-abc").mkdir()
    (tmp_path / f"{FOLDER_PREFIX}{os.getpid()}-abc").mkdir()  # alive: kept
    (tmp_path / f"{FOLDER_PREFIX}x-abc").mkdir()  # not ours: kept
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / f"{FOLDER_PREFIX}{dead.pid}-link").symlink_to(tmp_path / "elsewhere")
    gone = sweep_orphans(str(tmp_path))
    assert [Path(p).name for p in gone] == [f"{FOLDER_PREFIX}{dead.pid}-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        f"{FOLDER_PREFIX}{os.getpid()}-abc", f"{FOLDER_PREFIX}x-abc", "elsewhere",
        f"{FOLDER_PREFIX}{dead.pid}-link"])


# ---------------------------------------------------------------- real processes


def _session(url, user, passphrase):
    """A client that opens a new connection for every request (so the kernel hands them to
    any of the server's processes)."""
    h = httpx.Client(base_url=url, follow_redirects=False, timeout=60,
                     limits=httpx.Limits(max_keepalive_connections=0))
    r = h.post("/login", data={"user": user, "passphrase": passphrase,
                               "csrf_token": csrf_of(h.get("/login").text)})
    assert r.status_code == 303, r.text
    return h, csrf_of(h.get("/").text)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def test_two_worker_processes_share_sign_ins_messages_and_rules(sample, tmp_path):
    db, settings = copy_sample(*sample, tmp_path)
    procs = []
    with live_server(db, settings, tmp_path, args=["--workers", "2"], proc_out=procs) as url:
        assert len([p for p in _children(procs[0].pid)]) >= 2  # two workers (and a tracker)
        h, csrf = _session(url, *TECH)
        assert {h.get("/").status_code for _ in range(40)} == {200}
        r = h.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                     "quantity": "30", "strength": "1.5 mg"})
        assert r.status_code == 303, errors_of(r.text)
        lot = r.headers["location"].rsplit("/", 1)[1]
        s1 = h.get(f"/api/v1/batches/{lot}").json()["steps"][0]
        r = h.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                                  "amount": f"{s1['quantity']} {s1['unit']}"})
        assert r.status_code == 303
        page = h.get(f"/batches/{lot}").text  # the message, whichever process answers
        assert "Step 1 recorded" in page
        assert "Step 1 recorded" not in h.get(f"/batches/{lot}").text  # shown once
        # without the token, refused; a technician's release refused; a pharmacist's
        # release still asks for the passphrase however long they have been signed in
        assert h.post(f"/batches/{lot}/weigh", data={"step": "2"}).status_code == 403
        r = h.post(f"/batches/{lot}/release", data={"csrf_token": csrf,
                                                    "passphrase": TECH[1]})
        assert r.status_code == 403
        p, pcsrf = _session(url, *PHARM)
        r = p.post(f"/batches/{lot}/release", data={"csrf_token": pcsrf, "passphrase": ""})
        assert errors_of(r.text) == ["wrong passphrase for pat (attempt 1; 5 in a row lock "
                                     "the user)"]
        r = h.post("/logout", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert {h.get("/").status_code for _ in range(10)} == {303}  # out, in every process


def test_workers_stop_when_serve_is_killed_and_the_next_serve_sweeps_its_folder(
        sample, tmp_path):
    from compounding.web.sessions import FOLDER_PREFIX
    db, settings = copy_sample(*sample, tmp_path)
    # a temporary folder of this test's own: any other `serve` started on the machine
    # meanwhile (another test run) sweeps the shared /tmp and would remove the dead
    # server's folder before this test looks at it
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    env = {"TMPDIR": str(own_tmp)}
    procs = []
    with live_server(db, settings, tmp_path, env=env, args=["--workers", "2"],
                     proc_out=procs) as url:
        parent = procs[0].pid
        workers = _children(parent)
        folder = [p for p in own_tmp.iterdir()
                  if p.name.startswith(f"{FOLDER_PREFIX}{parent}-")]
        assert len(folder) == 1
        os.kill(parent, signal.SIGKILL)
        procs[0].wait(10)
        for _ in range(600):  # each worker notices within half a second, then drains
            alive = [w for w in workers if Path(f"/proc/{w}").exists()
                     and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]]
            if not alive:
                break
            time.sleep(0.05)
        assert alive == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/login", timeout=5)
    assert folder[0].exists()  # kill -9: nothing cleaned up...
    with live_server(db, settings, tmp_path, env=env):
        assert not folder[0].exists()  # ...until the next serve starts


def test_a_slow_body_does_not_hold_up_other_writers(sample, tmp_path):
    """A client that sends a form post's headers and then a trickle of its body must not
    stop another technician's weighing (nothing is locked before the body is in)."""
    db, settings = copy_sample(*sample, tmp_path)
    with live_server(db, settings, tmp_path) as url:
        h, csrf = _session(url, *TECH)
        r = h.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                     "quantity": "30", "strength": "1.5 mg"})
        lot = r.headers["location"].rsplit("/", 1)[1]
        s1 = h.get(f"/api/v1/batches/{lot}").json()["steps"][0]
        port = int(url.rsplit(":", 1)[1])
        cookie = "; ".join(f"{k}={v}" for k, v in h.cookies.items())
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall((f"POST /batches/{lot}/weigh HTTP/1.1\r\nHost: x\r\n"
                      f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded"
                      f"\r\nContent-Length: 1000\r\n\r\ncsrf_token=").encode())
        try:
            done = []
            t = threading.Thread(target=lambda: done.append(h.post(
                f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                               "amount": f"{s1['quantity']} {s1['unit']}"})))
            t.start()
            t.join(60)
            assert [r.status_code for r in done] == [303]
        finally:
            slow.close()


# ---------------------------------------------------------------- the file mistreated


def test_a_removed_sessions_file_signs_everyone_out_in_every_thread(tmp_path):
    import shutil
    from compounding.web.sessions import SessionStore
    path = tmp_path / "private" / "sessions.db"
    store = SessionStore(900, path=path)
    s = store.new("tess")
    seen = []
    t = threading.Thread(target=lambda: seen.append(store.get(s.sid)))  # another thread's
    t.start()                                                           # connection, open
    t.join()
    assert seen[0].user == "tess"
    shutil.rmtree(path.parent)  # a /tmp cleaner
    assert store.get(s.sid) is None
    t = threading.Thread(target=lambda: seen.append(store.get(s.sid)))
    t.start()
    t.join()
    assert seen[1] is None
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert store.get(store.new("pat").sid).user == "pat"


@pytest.mark.parametrize("damage", [b"", b"not a database at all" * 100,
                                    b"SQLite format 3\x00" + b"\xff" * 200])
def test_a_damaged_sessions_file_is_started_afresh(tmp_path, damage):
    from compounding.web.sessions import SessionStore
    path = tmp_path / "sessions.db"
    store = SessionStore(900, path=path)
    s = store.new("tess")
    store._local.conn[0].close()
    store._local.conn = None
    for p in tmp_path.iterdir():
        p.unlink()
    path.write_bytes(damage)
    assert store.get(s.sid) is None
    assert store.get(store.new("pat").sid).user == "pat"

