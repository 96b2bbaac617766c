"""Browser sessions for the bench: who is signed in, their CSRF token, the idle timeout.

Kept in the server's memory (one ``compounding serve`` process): a session is a random
256-bit id in a cookie (HttpOnly, SameSite=Strict, Secure behind TLS) that maps to the user's
name, a CSRF token for every form post and the time of the last request. Nothing about the
session is in a URL. A restart signs everybody out, which is the safe failure.

The idle timeout is ``[web] session_idle_minutes`` of the pharmacy settings (default 15, the
issue's figure). Idle time is measured on the monotonic clock, so moving the wall clock
(a technician fixing the time, NTP) neither ends nor extends sessions.

A session proves who is at the bench for technician work (weighing, printing). It never signs:
every signature (verify, release, reject, quarantine, approve) asks for the passphrase again.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

#: Sessions kept at most (oldest idle dropped first): bounded memory under a flood of sign-ins.
MAX_SESSIONS = 2000


@dataclass
class Session:
    sid: str
    csrf: str
    user: str | None = None
    last_seen: float = 0.0  # float-ok: monotonic clock seconds, not a dose
    flash: list[tuple[str, str]] = field(default_factory=list)


def new_token() -> str:
    """256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


class SessionStore:
    """Sessions by id; thread-safe (uvicorn runs sync routes in a thread pool)."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic):  # float-ok: seconds
        if idle_seconds <= 0:
            raise ValueError("idle_seconds must be positive")
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, user: str | None = None) -> Session:
        s = Session(sid=new_token(), csrf=new_token(), user=user, last_seen=self.clock())
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda x: x.last_seen)
                del self._sessions[oldest.sid]
            self._sessions[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session ``sid`` (touched), or None when unknown or idle too long."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            s = self._sessions.get(sid)
            if s is None:
                return None
            if now - s.last_seen > self.idle_seconds:
                del self._sessions[sid]
                return None
            s.last_seen = now
            return s

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def drop_user(self, name: str) -> None:
        """End every session of ``name`` (deactivated or locked users)."""
        with self._lock:
            for sid in [k for k, v in self._sessions.items() if v.user == name]:
                del self._sessions[sid]
