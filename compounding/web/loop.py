"""Which of the bench's routes run on the event loop, and why only those.

FastAPI runs a plain ``def`` route in a worker thread: the event loop hands the call to a
thread pool and is woken when it ends. That handoff (a queue, a condition variable, a
wake-up of the loop, the GIL passed twice) cost about a fifth of the work-queue page's
server CPU (py-spy, docs/bench.md), and with Python the route's own work holds the GIL
anyway, so the thread buys no parallelism for pages that are Python work.

A route marked :func:`on_loop` runs on the event loop itself. Only routes whose work is
**bounded and never waits** may be marked, since while one runs no other request of the
process is served:

- reads of the store only: SQLite in WAL mode never makes a reader wait for a writer, and
  each marked route reads a bounded number of rows (a page of a listing, one batch);
- the session lookup: one read, and at most once a second per session a one-row write to
  the sessions file (no fsync; the other writers to it hold it for microseconds);
- no balance, printer, PDF or PNG rendering, passphrase hashing, and no write to the
  pharmacy's database (a weighing waits for the one writer and for the disk: it stays in a
  thread, as do sign-in, every form post and every signature);
- the batch page stats the label templates' folder (five files) and, the first time after
  a template file changed, reads them again (milliseconds, once per change).

Bounded does not mean free: while a marked route runs (a queue page: 2-4 ms of CPU on a
tenth of the ten-year store, docs/bench.md) the process answers nobody else, as it would
not have anyway while the route held the GIL in a thread. More processes (``serve
--workers N``) serve in parallel.

The marked routes are listed in :data:`ROUTES`; a test checks that no other route is a
coroutine and that every listed one is a ``GET``.
"""

from __future__ import annotations

import functools

#: (method, path) of every route that runs on the event loop (the API's under /api/v1).
ROUTES = {
    ("GET", "/"),
    ("GET", "/scan"),
    ("GET", "/batches/{lot}"),
    ("GET", "/batches/{lot}/verify"),
    ("GET", "/verification"),
    ("GET", "/inventory"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/batches/{lot}"),
}


def on_loop(fn):
    """``fn`` (a route function) called on the event loop: FastAPI sees a coroutine
    function with ``fn``'s parameters and awaits it instead of sending it to a thread."""

    @functools.wraps(fn)
    async def route(*args, **kwargs):
        return fn(*args, **kwargs)

    return route
