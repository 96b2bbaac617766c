"""A balance played on a pseudo-terminal (os.openpty) for the device tests.

``SimBalance(mode, replies, ...)`` opens a pty pair; ``.port`` is the slave's device path,
which pyserial opens exactly as it would open /dev/ttyUSB0. A thread on the master side
answers like the instrument:

- ``mode="command"``: each request line (``S``, ``Q``, ``IP``) is answered with the next
  reply in ``replies`` (the last one repeats); ``I4`` is answered with the serial number
  (``serial=None``: ``I4 I``, not supported);
- ``mode="stream"``: the replies are sent one after another, every ``interval`` seconds,
  cycling, whatever is asked (a continuous-print balance); ``garbage`` bytes are sent
  first, as a line cut in half when the port opens.

Everything the balance received is kept in ``.received`` (bytes).
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty


class SimBalance:
    def __init__(self, mode: str, replies, *, serial: str | None = "B123456789",
                 interval: float = 0.02, garbage: bytes = b"", eol: bytes = b"\r\n"):  # float-ok: seconds
        self.mode = mode
        self.replies = [r if isinstance(r, bytes) else r.encode("latin-1") for r in replies]
        self.serial = serial
        self.interval = interval
        self.garbage = garbage
        self.eol = eol
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.port = os.ttyname(self.slave)
        self.received = b""
        self._stop = threading.Event()
        self._i = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _next(self) -> bytes:
        r = self.replies[min(self._i, len(self.replies) - 1)]
        self._i += 1
        return r

    def _send(self, data: bytes):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _run(self):
        buf = b""
        if self.garbage:
            self._send(self.garbage)
        next_stream = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.01)
            if ready:
                try:
                    chunk = os.read(self.master, 256)
                except OSError:
                    chunk = b""
                self.received += chunk
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self._command(line.strip())
            if self.mode == "stream" and time.monotonic() >= next_stream:
                self._send(self.replies[self._i % len(self.replies)] + self.eol)
                self._i += 1
                next_stream = time.monotonic() + self.interval

    def _command(self, cmd: bytes):
        if self.mode != "command" or not cmd:
            return
        if cmd == b"I4":
            self._send((f'I4 A "{self.serial}"' if self.serial else "I4 I").encode() + self.eol)
            return
        self._send(self._next() + self.eol)
