"""The store's core: open, migrate, the write transaction, the clock, the audit append and
the row helpers. It knows no record: each record family is a module of functions taking
this core as their first argument (docs/store.md says which module owns which tables).

Everything is on record, exactly and forever:
- amounts are exact decimal strings, computed with ``Decimal`` (never float);
- record tables are append-only, enforced by triggers (``migrations.m002_immutability_
  triggers``), so plain SQL cannot rewrite history;
- every write also appends to ``audit_log`` (:meth:`StoreCore.audit`), a SHA-256 hash chain
  whose entries carry the digest of each record they wrote (:meth:`StoreCore.ref`);
  ``audit.verify`` re-checks the chain and every record, so an edit made with the triggers
  dropped is still detected.

Transactions: every write runs in :meth:`StoreCore.write`, which takes the database's write
lock up front (SQLite: ``BEGIN IMMEDIATE``, see :func:`.sqlite.begin_immediate`) and waits
on the busy timeout; nested writes become savepoints. The threads of one process queue for
it first come, first served (:mod:`.write_gate`), so the busy timeout is only ever a wait
for another process.

The SQLite-specific parts (connecting, pragmas, the lock, error texts) are in
:mod:`.sqlite`; this module's own SQL is portable.
"""

from __future__ import annotations

import contextlib
import json
import os
import unicodedata
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from ..sites import DEFAULT_SITE
from ..errors import InputError, PrivilegeError, RefusedError, StoreError
from . import sqlite as backend
from . import write_gate
from .migrations import GENESIS_HASH
from .records import ADDED_COLUMNS, MUTABLE_COLUMNS, RECORD_KEYS
from .digests import (  # noqa: F401 - the store's digests, used and re-exported here
    AUDIT_HASHED, audit_hash, blobs_marked, canonical, chain_hash, row_digest, sha256)


def utc_stamp(moment: datetime) -> str:
    """``moment`` as the store's UTC stamp: ``2026-03-01T12:00:00.000000Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_entry(row: dict) -> dict:
    """An ``audit_log`` row for callers: ``details`` parsed from its JSON text."""
    out = dict(row)
    out["details"] = json.loads(row["details"])
    return out


def need_text(value, field: str) -> str:
    """``value`` if it is a string with something besides white space; else
    :class:`InputError` naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field}: must not be empty")
    return value


def need_printable(value, field: str, *, max_chars: int, ascii_only: bool = False) -> str:
    """``value`` stripped, if it is text a person can read back exactly: not empty, at most
    ``max_chars`` characters, no control characters, no invisible formatting characters
    (zero-width spaces, direction marks and overrides: two texts that print alike must be
    the same text, or a recall by what is printed misses one) and no line breaks; with
    ``ascii_only``, printable ASCII only (digits of other scripts are refused too).
    Raises :class:`InputError` naming ``field``, the character and its position."""
    text = need_text(value, field).strip()
    if len(text) > max_chars:
        raise InputError(f"{field}: {len(text)} characters; at most {max_chars}")
    for i, ch in enumerate(text, start=1):
        if " " <= ch <= "~":
            continue
        cat = unicodedata.category(ch)
        if cat == "Cf":
            why = "an invisible formatting character (zero-width or direction mark)"
        elif cat[0] == "C" or cat in ("Zl", "Zp"):
            why = "a control character or line break"
        elif ascii_only:
            why = ("a digit of another script" if ch.isdigit() else "not ASCII") + \
                "; only printable ASCII is accepted here"
        else:
            continue
        from ..text import describe
        raise InputError(f"{field}: character {describe(ch)} at position {i} is {why}")
    return text


def backend_for(path: str):
    """The backend module for a store path: :mod:`.postgres` for a ``postgresql://`` URL
    (issue 20), else :mod:`.sqlite` (a file, or ``":memory:"``)."""
    if isinstance(path, str) and path[:8].lower() == "postgres":
        from . import postgres
        if postgres.is_url(path):
            return postgres
    return backend


def _system_clock() -> datetime:
    return datetime.now(timezone.utc)


class StoreCore:
    """An open compounding database. Open it with :meth:`open`.

    Attributes: ``db`` (the backend's connection: a ``sqlite_utils.Database``, or a
    :class:`.postgres.Database`), ``backend`` (the module :mod:`.sqlite` or :mod:`.postgres`),
    ``path`` (text; ``":memory:"`` for a scratch database, a ``postgresql://`` URL for
    PostgreSQL), ``clock`` (``() -> aware datetime``, the system clock unless given),
    ``site`` (the site this installation acts for, issue 20: batches it makes, lots it
    receives and labels it prints belong to it; :data:`compounding.sites.DEFAULT_SITE`
    unless the caller sets it from the settings),
    ``passphrase_source`` (``name -> passphrase`` or None: when set, and the CLI sets it,
    each person acting under a name authenticates once per store, see ``users.acting``) and
    ``authenticated`` (the names that did).
    """

    def __init__(self, db, path: str, clock: Callable[[], datetime] | None = None,
                 backend_module=None, read_only: bool = False):
        self.db = db
        self.path = path
        self.backend = backend_module or backend_for(path)
        self.clock = clock or _system_clock
        self.read_only = read_only
        self.passphrase_source: Callable[[str], str] | None = None
        self.authenticated: set[str] = set()
        #: ``message -> None``, called when a write has waited ~2 s for another process's
        #: lock (the CLI prints it on stderr); None: wait silently
        self.on_wait: Callable[[str], None] | None = None
        self.site: str = DEFAULT_SITE
        #: Where the audit key file is (issue 12; :mod:`.audit_key`): a path, a callable
        #: returning one (looked up on the first audit entry), or None for
        #: ``audit_key.resolve_path`` without settings (``$COMPOUNDING_AUDIT_KEY``, else the
        #: user's config folder).
        self.audit_key_path: Path | Callable[[], Path] | None = None
        #: Base lockout cool-down in minutes (issue 12; the setting ``[users]
        #: lockout_minutes``): an int or a callable returning one, asked only on a lockout.
        self.lockout_minutes: int | Callable[[], int] = 15
        self._key: tuple[Path, bytes] | None = None
        self._keyed_now = False
        #: This process's first-come-first-served queue for the database's write lock.
        self._write_gate = write_gate.gate(write_gate.gate_key(path))

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, path, *, clock: Callable[[], datetime] | None = None,
             migrate: bool = True, read_only: bool = False):
        """Open (creating and migrating if needed) the database at ``path``: a SQLite file,
        or a ``postgresql://USER@HOST:PORT/NAME`` URL (issue 20, :mod:`.postgres`).

        SQLite: WAL journal, foreign keys on, a busy timeout so parallel commands wait. A
        missing or read-only directory, a file that is not a database, a truncated file, an
        unreachable server, or a schema newer than this version raise a one-line
        :class:`StoreError` and leave the database untouched.

        ``read_only=True`` (commands that only read, issue 12 part 6): nothing is created
        and nothing is written. SQLite: the file must exist and is opened ``mode=ro``, so a
        read-only file or folder works; a database with migrations pending is migrated first
        when it can be written, else refused with one line. PostgreSQL: the session is
        ``default_transaction_read_only`` (the server refuses any write) and pending
        migrations are refused with one line (run ``db migrate``). Writes on a read-only
        store fail with one :class:`StoreError` line.
        """
        path = str(path)
        chosen = backend_for(path)
        if read_only and path != ":memory:":
            db = chosen.connect(path, read_only=True)
            try:
                opened = cls(db, path, clock, chosen, read_only=True)
                opened._check_not_newer()
                pending = opened.pending_migrations() if migrate else []
            except chosen.DatabaseError as exc:
                db.close()
                raise StoreError(chosen.error_text(path, exc)) from None
            except BaseException:
                db.close()
                raise
            if not pending:
                return opened
            db.close()
            if not chosen.writable(path):
                raise StoreError(f"database {opened.where} needs {len(pending)} schema "
                                 f"migration{'s' if len(pending) != 1 else ''} "
                                 f"({pending[0]}...) and a command that only reads does not "
                                 "apply them; run `compounding db migrate` with write access "
                                 "(nothing was changed)")
        db = chosen.connect(path)
        try:
            opened = cls(db, path, clock, chosen)
            opened._check_not_newer()
            chosen.finish_open(db, path)
            if migrate:
                opened.migrate()
            return opened
        except chosen.DatabaseError as exc:
            db.close()
            raise StoreError(chosen.error_text(path, exc)) from None
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_not_newer(self):
        known = set(self.backend.known_migrations())
        applied = [n for n, _ in self.backend.applied_migrations(self.db)]
        unknown = [n for n in applied if n not in known]
        if unknown:
            raise StoreError(f"database {self.where} has a newer schema than this version of "
                             f"compounding knows (migration {unknown[0]}); upgrade compounding "
                             "(the file was not changed)")

    def pending_migrations(self) -> list[str]:
        """Names of the migrations not applied yet, in order."""
        return self.backend.pending_migrations(self.db)

    def migrate(self) -> list[str]:
        """Apply pending migrations; return their names. Safe with concurrent processes."""
        if not self.pending_migrations():
            return []
        with self.write():
            todo = self.pending_migrations()  # again, under the write lock
            self.backend.apply_migrations(self.db)
        return todo

    def applied_migrations(self) -> list[dict]:
        """``[{"name", "applied_at"}]`` of every applied migration, in order."""
        return [{"name": n, "applied_at": at}
                for n, at in self.backend.applied_migrations(self.db)]

    @property
    def where(self) -> str:
        """The store's path for messages (a PostgreSQL URL with its password redacted)."""
        redact = getattr(self.backend, "redact", None)
        return redact(self.path) if redact else self.path

    # ------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def write(self):
        """A write transaction holding the write lock from the start; commits when the
        block ends, rolls back when it raises. Nested calls become savepoints."""
        if self.in_transaction:
            with self.backend.savepoint(self.db):
                yield self
            return
        if self.read_only:
            raise StoreError(f"database {self.where} was opened read-only (a command that "
                             "only reads); nothing was written")
        # first come, first served among this process's threads; then the database's own
        # lock, whose wait is then only for another process (see .write_gate)
        gate = self._write_gate
        if gate is not None:
            write_gate.enter(gate, self.where)
        try:
            self.backend.begin_immediate(self.db, self.path, self.on_wait)
            try:
                yield self
            except BaseException:
                self.backend.rollback(self.db)
                raise
            else:
                try:
                    with self.database_errors():
                        self.backend.commit(self.db)
                except BaseException:
                    self.backend.rollback(self.db)
                    raise
        finally:
            if gate is not None:
                gate.release()

    @property
    def in_transaction(self) -> bool:
        """True inside :meth:`write` (or any open transaction on this connection)."""
        return self.backend.in_transaction(self.db)

    @contextlib.contextmanager
    def refusing(self, prefix: str = ""):
        """Turn a constraint or trigger refusal of the database inside the block into a
        :class:`RefusedError` whose message is ``prefix`` plus the database's reason.
        Inside a transaction the refused statement alone is undone and the transaction goes
        on (SQLite does this itself; PostgreSQL through a savepoint, see
        :func:`.postgres.refusal_scope`), so a caller may still record why it refused."""
        try:
            with self.backend.refusal_scope(self.db):
                yield
        except self.backend.IntegrityError as exc:
            raise RefusedError(f"{prefix}{self.backend.refusal_text(exc)}") from None

    # ------------------------------------------------------------ the clock

    def now(self) -> datetime:
        """The current moment (aware), from ``clock``."""
        return self.clock()

    def stamp(self) -> str:
        """The current moment as the store's UTC stamp (see :func:`utc_stamp`)."""
        return utc_stamp(self.now())

    def today(self) -> date:
        """The pharmacy's calendar day (local time)."""
        return self.now().astimezone().date()

    # ------------------------------------------------------------ rows

    @contextlib.contextmanager
    def database_errors(self):
        """Inside the block, an error of the database itself (a corrupt page, a read-only
        file, a lock held too long, a full disk) becomes one :class:`StoreError` line naming
        the file, never a traceback. Constraint and trigger refusals pass through unchanged
        (see :meth:`refusing`). The row helpers below do the same inline (no generator per
        query: they run thousands of times in one listing)."""
        try:
            yield
        except self.backend.IntegrityError:
            raise
        except self.backend.DatabaseError as exc:
            raise self._store_error(exc) from None

    def _store_error(self, exc) -> StoreError:
        denied = getattr(self.backend, "privilege_denied", lambda e: False)(exc)
        return (PrivilegeError if denied else StoreError)(self.backend.error_text(self.path, exc))

    def execute(self, sql: str, params=()):
        """Run one statement; return the cursor (``rowcount``, ``fetchone()``...). The
        caller fetches its rows: prefer :meth:`rows`, :meth:`one` or :meth:`scalar`, which
        also turn database errors met while fetching into :class:`StoreError`."""
        try:
            return self.db.execute(sql, params)
        except self.backend.IntegrityError:
            raise
        except self.backend.DatabaseError as exc:
            raise self._store_error(exc) from None

    def rows(self, sql: str, params=()) -> list[dict]:
        """Run a query and return every row as a dict (column name -> value)."""
        try:
            cur = self.db.execute(sql, params)
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
        except self.backend.IntegrityError:
            raise
        except self.backend.DatabaseError as exc:
            raise self._store_error(exc) from None

    def one(self, sql: str, params=()) -> dict | None:
        """Run a query and return its first row as a dict, or None."""
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def column(self, sql: str, params=()) -> list:
        """The first column of every row of a query, in order."""
        try:
            return [r[0] for r in self.db.execute(sql, params).fetchall()]
        except self.backend.DatabaseError as exc:
            raise self._store_error(exc) from None

    def scalar(self, sql: str, params=()):
        """The first column of the first row of a query (None when there is no row)."""
        try:
            row = self.db.execute(sql, params).fetchone()
        except self.backend.DatabaseError as exc:
            raise self._store_error(exc) from None
        return row[0] if row else None

    def insert(self, table: str, values: dict):
        """Insert one row (``column -> value``; ``table`` and the column names are the
        caller's own constants, never user input); return the new row's integer id (for a
        table keyed otherwise, the backend's row id, which callers ignore). Constraint and
        trigger refusals propagate (wrap the call in :meth:`refusing`)."""
        try:
            return self.backend.insert_row(self.db, table, values)
        except self.backend.IntegrityError:
            raise
        except self.backend.DatabaseError as exc:
            raise self._store_error(exc) from None

    # ------------------------------------------------------------ digests and the audit log

    def record_digest(self, table: str, key) -> str | None:
        """SHA-256 of one record (a table of :data:`.records.RECORD_KEYS`, by its natural
        key), its mutable columns left out, and columns added later left out while they
        hold the default earlier rows took (:data:`.records.ADDED_COLUMNS`); None when
        there is no such row."""
        cols = RECORD_KEYS[table]
        where = " AND ".join(f"{c} = ?" for c in cols)
        row = self.one(f"SELECT * FROM {table} WHERE {where}", list(key))
        return None if row is None else row_digest(table, row)

    def only_site(self, table: str, site: str) -> bool:
        """True when every row of ``table`` (one with a ``site`` column, issue 20) belongs to
        ``site``, or there is none: a site filter would then change nothing, and is left
        out so a single-site store keeps the query plans it had (two index look-ups)."""
        lo, hi = self.one(f"SELECT (SELECT MIN(site) FROM {table}) AS lo, "
                          f"(SELECT MAX(site) FROM {table}) AS hi").values()
        return lo is None or lo == hi == site

    def ref(self, table: str, *key) -> dict:
        """An audit reference to one record: table, key and the record's SHA-256 digest."""
        return {"table": table, "key": list(key), "sha256": self.record_digest(table, key)}

    def audit(self, action: str, actor: str, details: dict, lot_id: str | None = None,
              records: list[dict] | None = None) -> dict:
        """Append one entry to the hash-chained audit log and return it.

        ``details``: JSON-ready dict (Decimals and dates allowed); ``records``: the
        :meth:`ref` of each record this action wrote, so ``audit.verify`` can re-check them.
        Raises :class:`InputError` for an empty actor or action.
        """
        need_text(actor, "by")
        need_text(action, "action")
        body = dict(details)
        if records:
            body["records"] = records
        with self.write():
            last = self.one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            next_id = (last["id"] + 1) if last else 1
            key = self._chain_key(next_id, body)
            entry = {"id": next_id, "at": self.stamp(),
                     "actor": actor.strip(), "action": action, "lot_id": lot_id,
                     "details": canonical(body),
                     "prev_hash": last["hash"] if last else GENESIS_HASH}
            entry["hash"] = chain_hash(entry, key)
            self.execute(
                "INSERT INTO audit_log (id, at, actor, action, lot_id, details, prev_hash, hash)"
                " VALUES (:id, :at, :actor, :action, :lot_id, :details, :prev_hash, :hash)",
                entry)
            if key is not None and self._keyed_now:
                self.register_keyed(next_id, entry["at"] if next_id == 1 else None)
        return audit_entry(entry)

    def keyed_identity(self) -> str | None:
        """How the key's registry (:func:`.audit_key.register`) names this database: the
        resolved path of a SQLite file; None for an in-memory database or another backend
        (PostgreSQL: not covered yet)."""
        if self.backend is not backend or str(self.path) in ("", ":memory:"):
            return None
        return str(Path(self.path).resolve())

    def register_keyed(self, keyed_from: int, first_at: str | None = None) -> None:
        """Record beside the key file that this database is keyed from entry ``keyed_from``
        (issue 12: so that deleting the ``audit_keys`` row and recomputing the chain
        unkeyed is caught by ``db verify``)."""
        from . import audit_key
        ident = self.keyed_identity()
        if ident is None or self._key is None:
            return
        if first_at is None:
            first = self.one("SELECT at FROM audit_log WHERE id = 1")
            first_at = first["at"] if first else None
        path, key = self._key
        audit_key.register(path, ident, first_at, keyed_from, audit_key.key_id(key))

    # ------------------------------------------------------------ the audit key

    def key_file(self) -> Path:
        """The audit key file that applies to this store (see :attr:`audit_key_path`)."""
        from . import audit_key
        where = self.audit_key_path
        if callable(where):
            where = where()
        if where is None:
            where = audit_key.resolve_path(None, os.environ, None)
        return Path(where)

    def audit_key(self, create: bool = False) -> tuple[Path, bytes | None]:
        """``(path, key)`` of the audit key file (key None when the file does not exist and
        ``create`` is false). Raises :class:`StoreError` for a key file that is unsafe or
        damaged (:func:`.audit_key.read_key`)."""
        from . import audit_key
        if self._key is not None:
            return self._key
        path = self.key_file()
        key = audit_key.read_key(path)
        if key is None and create:
            key = audit_key.create_key(path)
        if key is not None:
            self._key = (path, key)
        return path, key

    def key_segments(self) -> list[dict]:
        """``audit_keys`` rows (``keyed_from``, ``key_id``...), oldest first; [] when the
        chain is not keyed yet or the schema predates the keyed chain (m018)."""
        if not self._keyed_schema():
            return []
        return self.rows("SELECT * FROM audit_keys ORDER BY keyed_from")

    def _keyed_schema(self) -> bool:
        try:
            return bool(self.backend.columns(self.db, "audit_keys"))
        except self.backend.DatabaseError as exc:
            raise self._store_error(exc) from None

    def _chain_key(self, next_id: int, body: dict) -> bytes | None:
        """The key the entry ``next_id`` is hashed with (inside the write transaction). The
        first entry after the keyed chain's migration creates the key file if there is none
        and records where the keyed chain begins (``audit_keys``, vouched for by this very
        entry: ``body`` gets its reference). None before m018 (unkeyed, as before)."""
        from . import audit_key
        self._keyed_now = False
        segments = self.key_segments()
        if not segments:
            if not self._keyed_schema():
                return None
            path, key = self.audit_key(create=True)
            kid = audit_key.key_id(key)
            rid = self.insert("audit_keys", {"keyed_from": next_id, "key_id": kid,
                                             "scheme": "hmac-sha256",
                                             "created_at": self.stamp()})
            body["records"] = [*body.get("records", []), self.ref("audit_keys", rid)]
            self._keyed_now = True
            return key
        current = segments[-1]
        path, key = self.audit_key()
        if key is None:
            raise StoreError(f"audit key {path} is missing: this database's audit log is "
                             f"keyed from entry {current['keyed_from']} with key "
                             f"{current['key_id']}; restore that key file from its backup "
                             "(nothing was written)")
        if audit_key.key_id(key) != current["key_id"]:
            raise StoreError(f"audit key {path} (key {audit_key.key_id(key)}) is not this "
                             f"database's audit key ({current['key_id']}); point "
                             f"${audit_key.ENV_VAR} or [records] audit_key_file at the right "
                             "key file (nothing was written)")
        return key


__all__ = ["StoreCore", "canonical", "sha256", "utc_stamp", "audit_hash", "chain_hash",
           "audit_entry",
           "need_text", "StoreError"]
