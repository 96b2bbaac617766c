"""A fake raw (port 9100) label printer on 127.0.0.1 for the printing tests (no tests here).

It records every connection's bytes as one job, answers ``~HS`` with the status flags the
test sets (paper out, paused, head open), or stays silent (``silent``), and can refuse by not
existing (``closed_port()``). It never talks to any address but 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time

STX, ETX = "\x02", "\x03"


def hs_reply(paper_out=0, paused=0, head_open=0, ribbon_out=0, thermal_transfer=0,
             formats=0, remaining=0) -> bytes:
    s1 = f"030,{paper_out},{paused},0254,{formats:03d},0,0,0,000,0,0,0"
    s2 = f"001,0,{head_open},{ribbon_out},{thermal_transfer},2,0,0,{remaining:08d},1,000"
    s3 = "1234,0"
    return "".join(f"{STX}{s}{ETX}\r\n" for s in (s1, s2, s3)).encode("ascii")


class FakePrinter:
    def __init__(self, stall: bool = False, **flags):
        """``stall``: accept jobs but never read them (a jammed printer), tiny receive
        buffer, so a large job blocks the sender mid-send."""
        self.flags = flags
        self.silent = False
        self.stall = stall
        self.stalled = 0
        self.jobs: list[bytes] = []
        self.status_queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if stall:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        data = b""
        if self.stall:
            with self._lock:
                self.stalled += 1
            while not self._stop:
                time.sleep(0.05)
            conn.close()
            return
        conn.settimeout(10)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data == b"~HS":
                    with self._lock:
                        self.status_queries += 1
                    if self.silent:
                        time.sleep(3)
                        break
                    conn.sendall(hs_reply(**self.flags))
                    data = b""
                    break
        except OSError:
            pass
        finally:
            conn.close()
        if data:
            with self._lock:
                self.jobs.append(data)

    def wait_jobs(self, n: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.jobs) >= n:
                    return list(self.jobs)
            time.sleep(0.01)
        with self._lock:
            return list(self.jobs)

    def close(self):
        self._stop = True
        self._sock.close()


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
