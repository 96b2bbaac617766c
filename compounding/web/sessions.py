"""Browser sessions for the bench: who is signed in, their CSRF token, the idle timeout.

A session is a random 256-bit id in a cookie (HttpOnly, SameSite=Strict, Secure behind TLS)
that maps to the user's name, a CSRF token for every form post, the time of the last request
and the messages to show on the next page. Nothing about the session is in a URL.

Where they live: a small SQLite file of their own (WAL), in a private folder (mode 0700) that
``compounding serve`` creates when it starts and removes when it stops, so that every worker
process of one server sees the same sessions (``serve --workers N``) and a restart signs
everybody out, which is the safe failure. The file is not the pharmacy's database: sessions
are not records, and losing them (a crash, kill -9) only means signing in again; so it is
written without fsync. Only the SHA-256 of a session id is kept in it: the file alone does
not give anyone a live cookie.

The idle timeout is ``[web] session_idle_minutes`` of the pharmacy settings (default 15, the
issue's figure). Idle time is measured on the monotonic clock, which on Linux is one clock
for all the processes of the machine; moving the wall clock (a technician fixing the time,
NTP, faketime) neither ends nor extends sessions. The time of the last request is written
at most once a second per session (:data:`TOUCH_SECONDS`), so a session may end up to a
second before its idle time is up, never after.

A session proves who is at the bench for technician work (weighing, printing). It never signs:
every signature (verify, release, reject, quarantine, approve) asks for the passphrase again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Callable

#: Sessions kept at most (oldest idle dropped first): bounded space under a flood of sign-ins.
MAX_SESSIONS = 2000
#: A request within this many seconds of the last recorded one is not written again.
TOUCH_SECONDS = 1.0  # float-ok: monotonic clock seconds, not a dose
#: Messages kept for the next page at most (a loop of failing posts cannot grow a session).
MAX_FLASH = 20
#: Longest message kept (a message quoting 300 typed characters still fits).
MAX_FLASH_CHARS = 2000

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid_sha256 TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    user TEXT,
    last_seen REAL NOT NULL,
    flash TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_last_seen ON sessions (last_seen);
CREATE TABLE IF NOT EXISTS form_posts (
    key TEXT PRIMARY KEY,
    location TEXT,
    at REAL NOT NULL
) WITHOUT ROWID;
"""

#: How long a form's one-time token is remembered after its post (seconds): a second post
#: of the same form within it is answered with the first one's outcome (:mod:`.once`).
FORM_POST_SECONDS = 3600.0  # float-ok: monotonic seconds


def new_token() -> str:
    """256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()


class _Flash(list):
    """The session's pending messages: a list of ``(kind, text)`` whose changes are written
    to the session file at once (a redirect may be answered by another worker)."""

    def __init__(self, owner: "Session", items=()):
        super().__init__(items)
        self._owner = owner

    def append(self, item) -> None:
        kind, text = item
        if len(self) >= MAX_FLASH:
            del self[0]
        super().append((str(kind), str(text)[:MAX_FLASH_CHARS]))
        self._owner._save_flash()

    def extend(self, items) -> None:
        for item in items:
            self.append(item)

    def clear(self) -> None:
        super().clear()
        self._owner._save_flash()


class Session:
    """One browser's session: ``sid`` (the cookie), ``csrf``, ``user`` (None before
    sign-in), ``last_seen`` (monotonic seconds) and ``flash`` (messages for the next page;
    assign ``[]`` to take them)."""

    def __init__(self, sid: str, csrf: str, user: str | None = None,
                 last_seen: float = 0.0, flash=(), store: "SessionStore | None" = None):  # float-ok: monotonic seconds
        self.sid, self.csrf, self.user, self.last_seen = sid, csrf, user, last_seen
        self._store = store
        self._flash = _Flash(self, flash)

    @property
    def flash(self) -> list:
        return self._flash

    @flash.setter
    def flash(self, items) -> None:
        self._flash = _Flash(self, ())
        self._flash.extend(items) if items else self._save_flash()

    def _save_flash(self) -> None:
        if self._store is not None:
            self._store._save_flash(self)

    def __repr__(self) -> str:  # never the id or the token in a log
        return f"Session(user={self.user!r}, last_seen={self.last_seen})"


class SessionStore:
    """Sessions by id in a SQLite file shared by the server's worker processes; safe to use
    from many threads (one connection per thread).

    ``path``: the session file; None makes one in a private temporary folder, removed when
    this object is collected or the process ends. ``idle_seconds``: the idle timeout.
    ``clock``: monotonic seconds (tests pass a fake)."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic,  # float-ok: seconds
                 path: str | os.PathLike | None = None):
        if idle_seconds <= 0:
            raise ValueError("idle_seconds must be positive")
        self.idle_seconds = idle_seconds
        self.clock = clock
        if path is None:
            folder = private_folder()
            path = Path(folder) / "sessions.db"
            self._cleanup = weakref.finalize(self, shutil.rmtree, folder, True)
        self.path = Path(path)
        self._local = threading.local()
        self._conn()  # the schema now: a broken path fails at start, not at the first click

    # ------------------------------------------------------------ the file

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection to the sessions file as it is now. When the file was
        removed or replaced under the running server (a /tmp cleaner after a quiet
        fortnight, a person), every thread moves to a new, empty file: everyone signs in
        again, and no thread goes on honouring sessions another has ended."""
        cached = getattr(self._local, "conn", None)
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if cached is not None and cached[1] == inode:
            return cached[0]
        if cached is not None:
            cached[0].close()
            self._local.conn = None
        folder = self.path.parent
        if inode is None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
        if not os.path.isdir(folder) or os.path.islink(folder) or st.st_uid != os.getuid():
            raise RuntimeError(f"sessions folder {folder} is not a folder of this user")
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")  # sessions are not records (module doc)
        conn.executescript(SCHEMA)
        self._local.conn = (conn, os.stat(self.path).st_ino)
        return conn

    def _sql(self, sql: str, params=()):
        """Run one statement; a sessions file that is not a database any more (truncated,
        overwritten) is started afresh: sessions are disposable, records are not."""
        try:
            return self._conn().execute(sql, params)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            self._reset()
            return self._conn().execute(sql, params)

    def _reset(self) -> None:
        cached = getattr(self._local, "conn", None)
        if cached is not None:
            cached[0].close()
            self._local.conn = None
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass

    def _row(self, sid: str):
        return self._sql(
            "SELECT csrf, user, last_seen, flash FROM sessions WHERE sid_sha256 = ?",
            [_key(sid)]).fetchone()

    def _save_flash(self, s: Session) -> None:
        self._sql("UPDATE sessions SET flash = ? WHERE sid_sha256 = ?",
                  [json.dumps(list(s.flash), ensure_ascii=False), _key(s.sid)])

    # ------------------------------------------------------------ the API

    def new(self, user: str | None = None) -> Session:
        """A new session (signed in as ``user``, or a sign-in form's pre-session)."""
        now = self.clock()
        s = Session(new_token(), new_token(), user, now, store=self)
        self._sql("SELECT 1 FROM sessions LIMIT 1")  # the file is readable (or made afresh)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM sessions WHERE last_seen < ?", [now - self.idle_seconds])
            (n,) = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if n >= MAX_SESSIONS:
                conn.execute("DELETE FROM sessions WHERE sid_sha256 IN (SELECT sid_sha256 "
                             "FROM sessions ORDER BY last_seen LIMIT ?)",
                             [n - MAX_SESSIONS + 1])
            conn.execute("INSERT INTO sessions (sid_sha256, csrf, user, last_seen) "
                         "VALUES (?, ?, ?, ?)", [_key(s.sid), s.csrf, user, now])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session ``sid`` (touched), or None when unknown or idle too long."""
        if not sid or len(sid) > 100:
            return None
        now = self.clock()
        row = self._row(sid)
        if row is None:
            return None
        csrf, user, last_seen, flash = row
        if now - last_seen > self.idle_seconds:
            self.drop(sid)
            return None
        if now - last_seen >= TOUCH_SECONDS:
            self._sql("UPDATE sessions SET last_seen = max(last_seen, ?) "
                      "WHERE sid_sha256 = ?", [now, _key(sid)])
            last_seen = now
        return Session(sid, csrf, user, last_seen,
                       [tuple(x) for x in json.loads(flash)], store=self)

    def drop(self, sid: str | None) -> None:
        if sid:
            self._sql("DELETE FROM sessions WHERE sid_sha256 = ?", [_key(sid)])

    def drop_user(self, name: str) -> None:
        """End every session of ``name`` (deactivated or locked users)."""
        self._sql("DELETE FROM sessions WHERE user = ?", [name])

    # ------------------------------------------------------------ one post per form

    def _form_key(self, sid: str, once: str) -> str:
        return _key(sid + "\x00" + once)

    def claim_form(self, sid: str, once: str) -> bool:
        """True when this is the first post of the form ``once`` in session ``sid`` (it is
        now claimed); False when a post of it was seen already (a double click)."""
        now = self.clock()
        self._sql("DELETE FROM form_posts WHERE at < ?", [now - FORM_POST_SECONDS])
        cur = self._sql("INSERT OR IGNORE INTO form_posts (key, location, at) "
                        "VALUES (?, NULL, ?)", [self._form_key(sid, once), now])
        return cur.rowcount == 1

    def finish_form(self, sid: str, once: str, location: str | None) -> None:
        """The first post of ``once`` ended: redirected to ``location`` (kept for a second
        post), or not (None: forgotten, so the form may be sent again, e.g. corrected)."""
        key = self._form_key(sid, once)
        if location is None:
            self._sql("DELETE FROM form_posts WHERE key = ?", [key])
        else:
            self._sql("UPDATE form_posts SET location = ? WHERE key = ?", [location, key])

    def form_outcome(self, sid: str, once: str) -> tuple[str, str | None]:
        """``("pending", None)`` while the first post runs, ``("done", location)`` after
        it redirected, ``("gone", None)`` when it failed (or was never claimed)."""
        row = self._sql("SELECT location FROM form_posts WHERE key = ?",
                        [self._form_key(sid, once)]).fetchone()
        if row is None:
            return "gone", None
        return ("pending", None) if row[0] is None else ("done", row[0])

    def count(self) -> int:
        """Sessions kept now (live or not yet swept)."""
        return self._sql("SELECT COUNT(*) FROM sessions").fetchone()[0]


FOLDER_PREFIX = "compounding-bench-sessions-"


def private_folder() -> str:
    """A new folder only this user can enter (``tempfile.mkdtemp`` makes it mode 0700),
    named after this process. Folders left by a server of this user that was killed
    (kill -9: no clean-up ran) are removed first, so they do not pile up."""
    sweep_orphans()
    return tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")


def sweep_orphans(parent: str | None = None) -> list[str]:
    """Remove this user's session folders whose process is gone; returns their paths."""
    parent = parent or tempfile.gettempdir()
    gone = []
    try:
        names = os.listdir(parent)
    except OSError:
        return gone
    for name in names:
        if not name.startswith(FOLDER_PREFIX):
            continue
        pid_text = name[len(FOLDER_PREFIX):].split("-", 1)[0]
        path = os.path.join(parent, name)
        if not (pid_text.isascii() and pid_text.isdigit()):
            continue
        try:
            if os.lstat(path).st_uid != os.getuid() or os.path.islink(path):
                continue
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
        except (OSError, OverflowError):
            continue  # alive (another user's pid: PermissionError) or unreadable: left alone
    return gone
