"""First come, first served: the threads of one process take a database's write lock in the
order they asked for it.

SQLite has one writer at a time. A thread that finds the write lock taken waits in SQLite's
busy handler, which sleeps and polls (1, 2, 5 ... 100 ms a poll) rather than queueing: under
load a weighing can lose the race to writers that came after it, again and again, while its
person waits (docs/bench.md, Measured: weighings' p95 of 1.7-4.9 s with 20 clients). Within
one process the store's write transaction (:meth:`.core.StoreCore.write`) therefore first
queues here, in arrival order; only the thread at the head of the queue then asks the
database (``BEGIN IMMEDIATE``; PostgreSQL: the advisory lock), so the busy handler is only
ever a wait for *another process*, bounded by the backend's own timeout
(:data:`.sqlite.BUSY_TIMEOUT_S`) and reported as today.

The wait in this queue is bounded too (:data:`WAIT_S`, the same 60 s): a thread that has not
reached the head by then gets one :class:`StoreError` line and nothing is written.

The gate is per database (the resolved file path, or the URL) and per process; it is
re-entrant for the thread that holds it, so a thread that opens a second connection to the
same file while writing on the first behaves as before (SQLite's busy timeout, then the
"stayed locked" line), never a silent hang.
"""

from __future__ import annotations

import collections
import os
import threading

from ..errors import StoreError

#: Seconds a write waits for the other writes of this process queued before it (the same
#: bound as SQLite's busy timeout, :data:`.sqlite.BUSY_TIMEOUT_S`).
WAIT_S = 60


class FifoLock:
    """A lock handed over in arrival order (``threading.Lock`` wakes any waiter).

    Re-entrant for its holder. :meth:`acquire` returns False when ``timeout`` (seconds)
    passes first; the waiter then leaves the queue and the order of the others is kept."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._queue: collections.deque = collections.deque()

    def acquire(self, timeout: float | None = None) -> bool:  # float-ok: seconds
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._queue:
                self._owner, self._depth = me, 1
                return True
            turn = threading.Event()
            entry = (me, turn)
            self._queue.append(entry)
        if turn.wait(timeout):
            return True  # release() made this thread the owner before setting the event
        with self._mutex:
            if turn.is_set():  # handed over just as the wait timed out: it is ours
                return True
            self._queue.remove(entry)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("FifoLock released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            if self._queue:
                owner, turn = self._queue.popleft()
                self._owner, self._depth = owner, 1
                turn.set()
            else:
                self._owner = None

    @property
    def waiting(self) -> int:
        """Threads queued behind the holder (for tests and reports)."""
        return len(self._queue)


_gates: dict[str, FifoLock] = {}
_gates_mutex = threading.Lock()


def gate_key(path: str) -> str | None:
    """Which gate a store uses: its file's resolved path (two spellings of one file share
    a gate), a URL as given; None for ``":memory:"`` (each connection is its own database,
    with one writer: nothing to queue)."""
    if path == ":memory:":
        return None
    if "://" in path:
        return path
    return os.path.realpath(path)


def gate(key: str | None) -> FifoLock | None:
    """The process's gate for ``key`` (made on first use, kept for the process's life)."""
    if key is None:
        return None
    with _gates_mutex:
        found = _gates.get(key)
        if found is None:
            found = _gates[key] = FifoLock()
        return found


def enter(lock: FifoLock, where: str) -> None:
    """Wait for this thread's turn at ``lock``; :class:`StoreError` after :data:`WAIT_S`."""
    if not lock.acquire(WAIT_S):
        raise StoreError(f"database {where}: other writes of this process held the write "
                         f"lock for more than {WAIT_S} s; nothing was written, try again")
