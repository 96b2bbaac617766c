"""The store's write queue (issue 15, docs/bench.md): within one process the write
transaction is handed out first come, first served (``store/write_gate.py``); its wait is
bounded and said in one line; and under a real race (two server processes, a dozen
technicians posting weighings at once) no weighing is lost or doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from compounding.errors import StoreError
from compounding.store import Store, write_gate
from compounding.store.write_gate import FifoLock
from web_support import TECH, build_sample, copy_sample, csrf_of, errors_of, live_server


def _queue_up(lock: FifoLock, numbers, got: list):
    """Start one thread per number, each queued before the next starts; each appends its
    number to ``got`` when it has the lock, then releases it."""
    threads = []
    for i in numbers:
        before = lock.waiting

        def run(i=i):
            assert lock.acquire(30)
            got.append(i)
            lock.release()
        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        for _ in range(5000):
            if lock.waiting == before + 1:
                break
            time.sleep(0.001)
        assert lock.waiting == before + 1
    return threads


@pytest.mark.parametrize("n", [1, 2, 10, 30])
def test_waiters_get_the_lock_in_the_order_they_asked(n):
    lock, got = FifoLock(), []
    assert lock.acquire(1)
    threads = _queue_up(lock, range(n), got)
    lock.release()
    for t in threads:
        t.join(30)
    assert got == list(range(n))
    assert lock.waiting == 0 and lock.acquire(0)  # free again


def test_a_waiter_that_gives_up_leaves_the_others_in_order():
    lock, got = FifoLock(), []
    assert lock.acquire(1)
    first = _queue_up(lock, [0, 1], got)
    quitter = []
    t = threading.Thread(target=lambda: quitter.append(lock.acquire(0.05)))  # gives up
    t.start()
    t.join(5)
    assert quitter == [False] and lock.waiting == 2
    later = _queue_up(lock, [2], got)  # asked after the one that gave up
    lock.release()
    for x in first + later:
        x.join(30)
    assert got == [0, 1, 2]


def test_the_holder_re_enters_and_only_the_holder_releases():
    lock = FifoLock()
    assert lock.acquire(1) and lock.acquire(1)
    errors = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(RuntimeError,
                                                                    lock.release)))
    t.start()
    t.join(5)
    assert len(errors) == 1
    lock.release()
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink"])
def test_two_spellings_of_one_file_share_one_queue(tmp_path, monkeypatch, spelling):
    db = tmp_path / "a.db"
    Store.open(db).close()
    other = {"same": db, "relative": None, "symlink": tmp_path / "link.db"}[spelling]
    if spelling == "relative":
        monkeypatch.chdir(tmp_path)
        other = "a.db"
    if spelling == "symlink":
        other.symlink_to(db)
    assert (write_gate.gate(write_gate.gate_key(str(db)))
            is write_gate.gate(write_gate.gate_key(str(other))))
    assert write_gate.gate_key(":memory:") is None


def test_a_write_queued_too_long_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    db = tmp_path / "a.db"
    monkeypatch.setattr(write_gate, "WAIT_S", 0.2)
    holder, waiter = Store.open(db), Store.open(db)
    try:
        entered, leave = threading.Event(), threading.Event()

        def hold():
            with holder.write():
                holder.execute("CREATE TABLE t (x)")
                entered.set()
                leave.wait(10)
        t = threading.Thread(target=hold)
        t.start()
        assert entered.wait(10)
        t0 = time.monotonic()
        with pytest.raises(StoreError) as err:
            with waiter.write():
                waiter.execute("CREATE TABLE u (x)")
        assert time.monotonic() - t0 < 5  # the queue's bound, not SQLite's 60 s
        assert str(err.value) == (f"database {db}: other writes of this process held the "
                                  "write lock for more than 0.2 s; nothing was written, try "
                                  "again")
        leave.set()
        t.join(10)
        names = {r[0] for r in sqlite3.connect(db).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "t" in names and "u" not in names
        with waiter.write():  # the queue is free again
            waiter.execute("CREATE TABLE u (x)")
    finally:
        holder.close()
        waiter.close()


# ---------------------------------------------------------------- a real race


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("sample"))


def _workers(pid: int) -> list[int]:
    """The uvicorn worker processes of ``serve`` (its children but multiprocessing's
    resource tracker)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for c in (task / "children").read_text().split():
            cmd = Path(f"/proc/{c}/cmdline").read_bytes()
            if b"resource_tracker" not in cmd:
                out.append(int(c))
    return out


@pytest.mark.parametrize("kill", [False, True], ids=["race", "race-and-kill-9-a-worker"])
def test_racing_weighings_from_two_server_processes_are_each_recorded_once(sample, tmp_path,
                                                                          kill):
    """Twelve technicians (own sessions, a new connection per request, so the kernel hands
    them to either process) post weighings on three batches at once against ``serve
    --workers 2``: every weighing answered 303 is on record exactly once (its re-weigh
    reason is unique), none refused is, and the audit chain verifies. With one worker
    killed with kill -9 in the middle, the posts it had in hand may or may not be on record
    (the client never got an answer), but never twice, never half, and the rest go on."""
    db, settings = copy_sample(*sample, tmp_path)
    procs = []
    with live_server(db, settings, tmp_path, args=["--workers", "2"], proc_out=procs) as url:
        def session():
            h = httpx.Client(base_url=url, follow_redirects=False, timeout=120,
                             limits=httpx.Limits(max_keepalive_connections=0))
            r = h.get("/login")
            r = h.post("/login", data={"user": TECH[0], "passphrase": TECH[1],
                                       "csrf_token": csrf_of(r.text)})
            assert r.status_code == 303
            return h, csrf_of(h.get("/").text)

        h, csrf = session()
        lots = []
        for _ in range(3):
            r = h.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                         "quantity": "30", "strength": "1.5 mg"})
            assert r.status_code == 303, errors_of(r.text)
            lots.append(r.headers["location"].rsplit("/", 1)[1])
        steps = {lot: h.get(f"/api/v1/batches/{lot}").json()["steps"] for lot in lots}
        workers = _workers(procs[0].pid)
        assert len(workers) == 2
        answered: dict[str, int] = {}
        start = threading.Barrier(13)

        def technician(k: int):
            c, token = session()
            lot = lots[k % 3]
            start.wait(60)
            for n in range(8):
                s = steps[lot][n % len(steps[lot])]
                reason = f"race {k}-{n}"
                try:
                    r = c.post(f"/batches/{lot}/weigh", data={
                        "csrf_token": token, "step": str(s["step"]),
                        "amount": f"{s['quantity']} {s['unit']}", "reweigh_reason": reason})
                    answered[reason] = r.status_code
                except httpx.HTTPError:
                    answered[reason] = -1  # no answer (the worker was killed)
            c.close()

        threads = [threading.Thread(target=technician, args=(k,)) for k in range(12)]
        for t in threads:
            t.start()
        start.wait(60)
        if kill:
            time.sleep(0.3)
            os.kill(workers[0], signal.SIGKILL)
        for t in threads:
            t.join(300)
        assert len(answered) == 96
    recorded = [r[0] for r in sqlite3.connect(db).execute(
        "SELECT reweigh_reason FROM weighings WHERE reweigh_reason LIKE 'race %'")]
    assert sorted(recorded) == sorted(set(recorded))                      # none doubled
    assert {k for k, v in answered.items() if v == 303} <= set(recorded)  # none lost
    assert set(recorded) <= {k for k, v in answered.items() if v in (303, -1)}
    assert set(answered.values()) <= ({303, -1} if kill else {303})
    assert list(answered.values()).count(303) >= (60 if kill else 96)
    with Store.open(db) as store:
        assert store.verify() == []
