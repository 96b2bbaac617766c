"""The SQLite backend: everything the store says to SQLite that another database says otherwise.

The record modules speak portable SQL through :class:`compounding.store.core.StoreCore`
(``rows``, ``one``, ``execute``, ``insert``); what only SQLite understands lives here and in
:mod:`.migrations` (the DDL, CHECK constraints, triggers and views):

- opening: the file checks, ``sqlite3.connect`` with a busy timeout, WAL, ``PRAGMA
  foreign_keys``, the "is this a database" probe (:func:`connect`);
- the write lock: ``BEGIN IMMEDIATE`` / ``COMMIT`` (:func:`begin_immediate`, :func:`commit`);
- errors: SQLite's messages turned into one line for a person (:func:`error_text`), and the
  constraint error a record module refuses on (:data:`IntegrityError`);
- ``PRAGMA integrity_check``, the online backup API, ``sqlite_master`` and
  ``PRAGMA table_xinfo`` (:func:`integrity_check`, :func:`backup_to`, :func:`schema_sql`,
  :func:`columns`).

A PostgreSQL backend (issue 20) is a sibling module with the same functions.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from ..errors import RefusedError, StoreError

#: Seconds a command waits for another process's write to finish before giving up.
BUSY_TIMEOUT_S = 60

#: The error a constraint (CHECK, UNIQUE, FOREIGN KEY, a trigger's RAISE(ABORT)) raises.
IntegrityError = sqlite3.IntegrityError

#: Any error from the database itself (corrupt file, read-only, locked...).
DatabaseError = sqlite3.DatabaseError


def connect(path: str) -> Database:
    """Open the SQLite file ``path`` (``":memory:"`` for a scratch database) for the store.

    Checks the location first (a missing or read-only directory, a directory, an unreadable
    file are refused by name, and the file is left untouched), then connects with the busy
    timeout, checks the file is a database, switches to WAL (not in memory) and turns on
    foreign keys. Raises :class:`StoreError` with one line.
    """
    memory = path == ":memory:"
    if not memory:
        check_location(Path(path))
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        db = Database(conn, execute_plugins=False)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(error_text(path, exc)) from None
    except BaseException:
        conn.close()
        raise


def registered_migrations(migration_set) -> list:
    """Every migration of ``migration_set`` (a ``sqlite_utils.Migrations``), in order: those
    pending on an empty database (its public API, not its private list)."""
    scratch = Database(memory=True)
    try:
        return migration_set.pending(scratch)
    finally:
        scratch.close()


def applied_migrations(db: Database) -> list[tuple[str, str]]:
    """``[(name, applied_at)]`` of the applied migrations (``_sqlite_migrations``), in
    order."""
    from .migrations import migrations
    return [(m.name, m.applied_at) for m in migrations.applied(db)]


def known_migrations() -> list[str]:
    """Every migration name of the SQLite set, in order."""
    from .migrations import migrations
    return [m.name for m in registered_migrations(migrations)]


def pending_migrations(db: Database) -> list[str]:
    """Names of the migrations not applied yet, in order."""
    from .migrations import migrations
    return [m.name for m in migrations.pending(db)]


def apply_migrations(db: Database) -> None:
    """Apply the pending migrations (each in its own savepoint, inside the caller's
    ``BEGIN IMMEDIATE``)."""
    from .migrations import migrations
    migrations.apply(db)


def micro_sums(col: str) -> tuple[str, str]:
    """Two aggregate expressions over the decimal-text column ``col``: the exact sum as an
    integer count of 10^-6 units (exact for values below 10^9 with at most 6 decimals), and
    how many values fall outside that (finer than 10^-6 or from 10^9 up), for which the
    caller sums with ``Decimal`` instead (:func:`.inventory._exact_totals`)."""
    n = f"SUM(CAST(ROUND(CAST({col} AS REAL) * 1000000) AS INTEGER)) AS micro_units"
    fine = (f"SUM({col} GLOB '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9]*'"
            f" OR CAST({col} AS REAL) >= 1000000000) AS inexact")
    return n, fine


def refusal_scope(db: Database):
    """Nothing to add: SQLite undoes a refused statement and keeps the transaction."""
    return contextlib.nullcontext()


def refusal_text(exc: Exception) -> str:
    """The reason a constraint or trigger gave (SQLite's message as it is)."""
    return str(exc)


def finish_open(db: Database, path: str) -> None:
    """After the schema-version check: WAL journal (files only) and foreign keys on."""
    if path != ":memory:":
        db.enable_wal()
    db.conn.execute("PRAGMA foreign_keys = ON")


def begin_immediate(db: Database, path: str) -> None:
    """Start a transaction holding SQLite's write lock from the start.

    ``sqlite_utils``' ``db.atomic()`` starts a *deferred* transaction: two processes that
    both read and then write inside one can fail at once with "database is locked"
    (SQLITE_BUSY_SNAPSHOT is not retried by the busy handler). ``BEGIN IMMEDIATE`` takes the
    lock up front and waits on the busy timeout instead.
    """
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(error_text(path, exc)) from None


def commit(db: Database) -> None:
    """Commit the transaction :func:`begin_immediate` started."""
    db.conn.execute("COMMIT")


def rollback(db: Database) -> None:
    """Roll back the open transaction, if any."""
    db.rollback()


def in_transaction(db: Database) -> bool:
    return db.conn.in_transaction


def savepoint(db: Database):
    """A nested transaction inside an open one (``SAVEPOINT``), as a context manager."""
    return db.atomic()


def insert_row(db: Database, table: str, values: dict) -> int:
    """``INSERT INTO table (columns) VALUES (:columns)``; the new row's rowid."""
    cur = db.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES "
                     f"({', '.join(':' + k for k in values)})", values)
    return cur.lastrowid


def integrity_check(conn) -> list[str]:
    """``PRAGMA integrity_check``: ``["ok"]`` or one line per problem (a file too damaged
    for the check to run is one problem line, not an exception)."""
    conn = getattr(conn, "conn", conn)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [f"the check could not run: {exc}"]


def backup_to(db: Database, dest: Path,
              count_tables: tuple[str, ...]) -> tuple[str, dict, tuple[int, str] | None]:
    """Copy the database to the new file ``dest`` with SQLite's online backup API (safe while
    others write); return the copy's integrity check, the row count of ``count_tables`` and
    the id and hash of the copy's last audit entry (None: no entry). A failed copy is
    removed. Raises :class:`StoreError`."""
    try:
        target = sqlite3.connect(str(dest))
    except sqlite3.Error as exc:
        raise StoreError(f"backup: cannot create {dest}: {exc}") from None
    try:
        db.conn.backup(target)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        counts = {t: target.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in count_tables}
        head = target.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
                              ).fetchone()
    except sqlite3.Error as exc:
        target.close()
        dest.unlink(missing_ok=True)
        raise StoreError(f"backup to {dest} failed: {exc}") from None
    target.close()
    return check, counts, (tuple(head) if head else None)


def backup(store, dest) -> dict:
    """Copy ``store``'s database to the new file ``dest`` (online backup: safe while others
    write), check the copy, and record the backup on the audit log (actor: the OS user).
    Returns ``{"path", "bytes", "integrity_check", "counts", "copy_head"}`` (``copy_head``:
    ``{"entries", "head"}`` of the copy's audit log, for its anchor). Raises
    :class:`RefusedError` when ``dest`` exists, :class:`StoreError` when it cannot be made.

    The copy is written to ``DEST.partial-PID`` beside it and appears under ``dest`` only
    once complete and checked (a hard link, which never replaces a file that appeared
    meanwhile): a backup killed half-way leaves a file named partial, never a ``dest`` that
    looks like a backup and is not one."""
    import getpass

    dest = Path(dest)
    if dest.exists():
        raise RefusedError(f"backup: {dest} already exists; choose a new file name")
    if not dest.parent.is_dir():
        raise StoreError(f"backup: directory {dest.parent} does not exist")
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)  # left by an earlier process of this id
    try:
        check, counts, head = backup_to(store.db, partial, ("component_lots", "batches",
                                                            "weighings", "audit_log"))
        publish(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    store.audit("db.backup", getpass.getuser() or "system",
                {"path": str(dest), "integrity_check": check})
    return {"path": str(dest), "bytes": dest.stat().st_size, "integrity_check": check,
            "counts": counts, "copy_head": {"entries": head[0] if head else 0,
                                            "head": head[1] if head else "0" * 64}}


def publish(partial: Path, dest: Path, what: str = "backup") -> None:
    """Give the finished file ``partial`` its name ``dest`` without replacing a file there
    (``what`` names the operation in the refusal: backup, copy)."""
    try:
        os.link(partial, dest)
    except FileExistsError:
        raise RefusedError(f"{what}: {dest} appeared while the {what} ran; the copy was not "
                           "kept (choose a new file name)") from None
    except OSError:  # a file system without hard links: rename, after one more look
        if dest.exists():
            raise RefusedError(f"{what}: {dest} appeared while the {what} ran; choose a new "
                               "file name") from None
        os.rename(partial, dest)


_ORDER = {"table": 0, "index": 1, "trigger": 2, "view": 3}


def schema_sql(db_or_conn) -> str:
    """Every CREATE statement of the database, tables first, then indexes, triggers, views."""
    conn = getattr(db_or_conn, "conn", db_or_conn)
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'").fetchall()
    rows.sort(key=lambda r: (_ORDER.get(r[0], 9), r[2] if r[0] != "table" else "", r[1]))
    return "\n\n".join(r[3].strip() + ";" for r in rows) + "\n"


def schema_objects(db_or_conn) -> dict[tuple[str, str], str]:
    """``{(type, name): CREATE statement}`` of every table, index, trigger and view the
    schema owns (SQLite's own objects and sqlite-utils' ``_sqlite_migrations`` left out)."""
    conn = getattr(db_or_conn, "conn", db_or_conn)
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                        "AND name NOT LIKE 'sqlite_%' AND tbl_name <> '_sqlite_migrations'"
                        ).fetchall()
    return {(t, n): sql for t, n, sql in rows}


def schema_as_migrated(migration_set, applied: list[str]) -> dict[tuple[str, str], str]:
    """:func:`schema_objects` of a scratch in-memory database made by running the
    migrations named in ``applied`` (in that order: the order a database applied them) from
    ``migration_set``: what those migrations made, derived from the migrations themselves."""
    by_name = {m.name: m for m in registered_migrations(migration_set)}
    scratch = Database(memory=True)
    try:
        for name in applied:
            if name in by_name:
                by_name[name].fn(scratch)
        return schema_objects(scratch)
    finally:
        scratch.close()


def columns(conn, name: str) -> list[tuple[str, str]]:
    """``(column, declared type)`` of a table or view, in order."""
    conn = getattr(conn, "conn", conn)
    return [(r[1], r[2] or "") for r in conn.execute(f"PRAGMA table_xinfo('{name}')")]


def check_location(path: Path) -> None:
    """Refuse, by name, a database path that cannot work: a directory, a missing or
    read-only directory, an unreadable or read-only file (WAL needs write access)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise StoreError(f"database {path} is a directory, not a file")
    if not parent.exists():
        raise StoreError(f"database directory {parent} does not exist")
    if not parent.is_dir():
        raise StoreError(f"database directory {parent} is not a directory")
    if path.exists():
        if not os.access(path, os.R_OK):
            raise StoreError(f"database {path} is not readable")
        if not os.access(path, os.W_OK) or not os.access(parent, os.W_OK):
            raise StoreError(f"database {path} is read-only (the file or its directory); "
                             "it needs write access for its journal")
    elif not os.access(parent, os.W_OK):
        raise StoreError(f"cannot create database {path}: directory {parent} is read-only")


def error_text(path: str, exc: Exception) -> str:
    """One line for a person about a database error on ``path``."""
    msg = str(exc)
    if "file is not a database" in msg or "malformed" in msg:
        return f"{path} is not a compounding database or is corrupt ({msg}); it was not changed"
    if "readonly" in msg or "read-only" in msg:
        return f"database {path} is read-only ({msg})"
    if "locked" in msg or "busy" in msg:
        return (f"database {path} stayed locked by another process for more than "
                f"{BUSY_TIMEOUT_S} s ({msg})")
    return f"database {path}: {msg}"


# ------------------------------------------------------------ copying a store (issue 20)

def _q(name: str) -> str:
    """``name`` as a quoted SQL identifier (names come from the schema, never from input)."""
    return '"' + name.replace('"', '""') + '"'


def load_order(db) -> list[str]:
    """Every table of the database (not SQLite's own), each after the tables its foreign
    keys reference, so rows inserted in this order never dangle."""
    conn = getattr(db, "conn", db)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    parents = {n: {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({_q(n)})")} - {n}
               for n in names}
    order: list[str] = []
    placed: set[str] = set()

    def place(name: str, seen: tuple = ()) -> None:
        if name in placed or name in seen:
            return
        for parent in sorted(parents.get(name, ())):
            if parent in parents:
                place(parent, seen + (name,))
        placed.add(name)
        order.append(name)

    for n in names:
        place(n)
    return order


def iter_rows(db, table: str, columns: list[str], chunk: int = 5000):
    """The rows of ``table`` (tuples of ``columns``) in storage order, ``chunk`` at a time."""
    cur = db.conn.execute(f"SELECT {', '.join(_q(c) for c in columns)} FROM {_q(table)} "
                          "ORDER BY rowid")
    while True:
        rows = cur.fetchmany(chunk)
        if not rows:
            return
        yield rows


def insert_many(db, table: str, columns: list[str], rows) -> None:
    """Insert ``rows`` (tuples of ``columns``) into ``table`` as they are (ids included)."""
    db.conn.executemany(f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in columns)}) "
                        f"VALUES ({', '.join('?' for _ in columns)})", rows)


@contextlib.contextmanager
def read_snapshot(db):
    """Every read inside the block sees one consistent state of the database (a read
    transaction: in WAL mode others keep writing meanwhile); nothing is written."""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")


@contextlib.contextmanager
def suspended_triggers(db):
    """Inside an open write transaction: every trigger dropped for the block and created
    again with its own SQL when the block ends (a bulk copy of rows that were valid when
    written: an append-only trigger or a "the signer must be active now" rule would refuse
    history). When the block raises, the caller rolls the transaction back, which restores
    them as well. CHECK, NOT NULL, UNIQUE and FOREIGN KEY constraints stay on."""
    conn = db.conn
    if not conn.in_transaction:
        raise RuntimeError("suspended_triggers needs an open write transaction")
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                            "ORDER BY rowid").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {_q(name)}")
    yield
    for _, sql in triggers:
        conn.execute(sql)


def checkpoint(db) -> None:
    """Write the WAL back into the database file (before the file is linked elsewhere)."""
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
