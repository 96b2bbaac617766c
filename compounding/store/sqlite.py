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

from typing import TYPE_CHECKING

from ..errors import RefusedError, StoreError
from .sqlite_scripts import Connection, split_statements, utils_database  # noqa: F401
from .table_order import parents_first

if TYPE_CHECKING:
    from .sqlite_scripts import Connection as Database

#: Seconds a command waits for another process's write to finish before giving up.
BUSY_TIMEOUT_S = 60

#: The error a constraint (CHECK, UNIQUE, FOREIGN KEY, a trigger's RAISE(ABORT)) raises.
IntegrityError = sqlite3.IntegrityError

#: Any error from the database itself (corrupt file, read-only, locked...).
DatabaseError = sqlite3.DatabaseError


def connect(path: str, *, read_only: bool = False) -> Database:
    """Open the SQLite file ``path`` (``":memory:"`` for a scratch database) for the store.

    Checks the location first (a missing or read-only directory, a directory, an unreadable
    file are refused by name, and the file is left untouched) and the file's header (a
    truncated or foreign file is refused before SQLite touches it, :func:`check_header`),
    then connects with the busy timeout and checks the file is a database. With
    ``read_only`` the file must exist and is opened with ``mode=ro`` (a read-only file or
    folder works; nothing is created, not even the ``-wal``/``-shm`` files when the folder is
    read-only: the file is then opened ``immutable``). Raises :class:`StoreError` with one
    line.
    """
    memory = path == ":memory:"
    if not memory:
        check_location(Path(path), read_only=read_only)
        check_header(Path(path), required=read_only)
    try:
        if read_only:
            conn = _connect_read_only(Path(path))
        else:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise StoreError(error_text(path, decoded(exc))) from None
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        db = Connection(conn)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        conn.close()
        raise StoreError(error_text(path, decoded(exc))) from None
    except BaseException:
        conn.close()
        raise


def decoded(exc: Exception) -> Exception:
    """``exc``, or for a :class:`UnicodeDecodeError` the database error whose message it
    stands for: a damaged schema makes SQLite quote bytes that need not be UTF-8, which
    ``sqlite3`` cannot decode (attack s5); those bytes replaced."""
    if not isinstance(exc, UnicodeDecodeError):
        return exc
    raw = exc.object if isinstance(exc.object, (bytes, bytearray)) else b""
    return sqlite3.DatabaseError(bytes(raw).decode("utf-8", "replace"))


def _uri(path: Path, **params) -> str:
    from urllib.parse import quote
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(os.path.abspath(path))}?{query}"


def _connect_read_only(path: Path):
    """``mode=ro``; when the folder cannot take the ``-shm`` file and there is no ``-wal``
    (so no writer is at work), ``immutable=1`` as well (SQLite then takes no locks)."""
    folder_writable = os.access(path.parent if str(path.parent) else ".", os.W_OK)
    wal = Path(f"{path}-wal")
    if not folder_writable and not wal.exists():
        return sqlite3.connect(_uri(path, mode="ro", immutable=1), uri=True,
                               timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    conn = sqlite3.connect(_uri(path, mode="ro"), uri=True, timeout=BUSY_TIMEOUT_S,
                           check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.OperationalError, UnicodeDecodeError) as exc:
        conn.close()
        if isinstance(exc, UnicodeDecodeError) or wal.exists() or \
                "unable to open" not in str(exc):
            raise
        return sqlite3.connect(_uri(path, mode="ro", immutable=1), uri=True,
                               timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    return conn


#: The first 16 bytes of every SQLite 3 database file (https://sqlite.org/fileformat.html).
SQLITE_MAGIC = b"SQLite format 3\x00"


def check_header(path: Path, *, required: bool = False) -> None:
    """Refuse, before SQLite opens it, a file that is not a whole SQLite database: not the
    SQLite magic, or shorter than the size its own header states (a truncated copy).
    SQLite file format, section 1.3: page size at offset 16 (1 = 65536), the in-header
    database size in pages at 28, valid when the "version-valid-for" number at 92 equals
    the change counter at 24. An empty or missing file is a new database, unless
    ``required`` (a read command). Raises :class:`StoreError`; the file is not changed."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        if required:
            raise StoreError(f"no database at {path}; a command that only reads never "
                             "creates one (check --db or $COMPOUNDING_DB)") from None
        return
    except OSError as exc:
        raise StoreError(f"database {path}: {exc.strerror}") from None
    if size == 0:
        if required:
            raise StoreError(f"database {path} is empty (0 bytes), not a compounding "
                             "database; it was not changed")
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise StoreError(f"database {path}: {exc.strerror}") from None
    if not head.startswith(SQLITE_MAGIC[:len(head)]) or len(head) < len(SQLITE_MAGIC):
        raise StoreError(f"database {path} is not an SQLite file (it does not start with "
                         "the SQLite header); it was not changed")
    if len(head) < 100:
        raise StoreError(f"database {path} is truncated ({size} bytes, shorter than the "
                         "100-byte header); it was not changed")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96]
    if page < 512 or page & (page - 1):
        raise StoreError(f"database {path} is corrupt (page size {page} in its header); "
                         "it was not changed")
    if ((valid and pages and size < pages * page) or size % page) \
            and not _being_written(path, head, size):
        raise StoreError(f"database {path} is truncated or damaged ({size:,} bytes; its "
                         f"header says {pages:,} pages of {page:,} bytes = "
                         f"{pages * page:,} bytes); it was not changed; restore it from a "
                         "backup (compounding db backup)")


def _being_written(path: Path, head: bytes, size: int) -> bool:
    """True when the header and the size may disagree because another process is writing:
    a ``-wal`` or ``-journal`` file is there (a checkpoint writes page 1, with the new page
    count, before the pages that extend the file), or a second look finds the header or the
    size changed. SQLite itself then reads the file under its locks."""
    import time
    for _ in range(2):
        if any(os.path.exists(f"{path}{suffix}") for suffix in ("-wal", "-journal")):
            return True
        time.sleep(0.05)
        try:
            with open(path, "rb") as fh:
                again = fh.read(100)
            if again != head or path.stat().st_size != size:
                return True
        except OSError:
            return False
    return False


def registered_migrations(migration_set) -> list:
    """Every migration of ``migration_set`` (:class:`.migrations.MigrationSet`), in order:
    objects with ``name`` and ``fn``."""
    return list(migration_set.registered)


def applied_migrations(db: Database) -> list[tuple[str, str]]:
    """``[(name, applied_at)]`` of the applied migrations, in the order applied: the rows
    ``sqlite_utils.Migrations`` keeps in ``_sqlite_migrations`` for our set (none before
    the first migration made the table)."""
    from .migrations import SET_NAME
    if not db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                      "name = '_sqlite_migrations'").fetchone()[0]:
        return []
    return [(r[0], r[1]) for r in db.execute(
        "SELECT name, applied_at FROM _sqlite_migrations WHERE migration_set = ? "
        "ORDER BY rowid", [SET_NAME])]


def known_migrations() -> list[str]:
    """Every migration name of the SQLite set, in order."""
    from .migrations import migrations
    return migrations.names()


def pending_migrations(db: Database) -> list[str]:
    """Names of the migrations not applied yet, in order."""
    done = {n for n, _ in applied_migrations(db)}
    return [n for n in known_migrations() if n not in done]


def apply_migrations(db: Database) -> None:
    """Apply the pending migrations (each in its own savepoint, inside the caller's
    ``BEGIN IMMEDIATE``), with sqlite-utils."""
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


#: Seconds a write waits for another process's lock before saying so.
WAIT_NOTICE_S = 2


def begin_immediate(db: Database, path: str, on_wait=None) -> None:
    """Start a transaction holding SQLite's write lock from the start.

    ``sqlite_utils``' ``db.atomic()`` starts a *deferred* transaction: two processes that
    both read and then write inside one can fail at once with "database is locked"
    (SQLITE_BUSY_SNAPSHOT is not retried by the busy handler). ``BEGIN IMMEDIATE`` takes the
    lock up front and waits on the busy timeout instead. When the lock is still held by
    another process after :data:`WAIT_NOTICE_S` seconds, ``on_wait(message)`` is called
    ("waiting for another process to finish writing PATH, up to 60 s") and the wait goes on
    to :data:`BUSY_TIMEOUT_S` in all; then one :class:`StoreError` line.
    """
    conn = db.conn
    if on_wait is None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(error_text(path, exc)) from None
        return
    try:
        conn.execute(f"PRAGMA busy_timeout = {WAIT_NOTICE_S * 1000}")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreError(error_text(path, exc)) from None
        on_wait(f"waiting for another process to finish writing {path}, up to "
                f"{BUSY_TIMEOUT_S} s")
        conn.execute(f"PRAGMA busy_timeout = {(BUSY_TIMEOUT_S - WAIT_NOTICE_S) * 1000}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(error_text(path, exc)) from None
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")


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
    scratch = utils_database(Connection(sqlite3.connect(":memory:")))
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


def check_location(path: Path, *, read_only: bool = False) -> None:
    """Refuse, by name, a database path that cannot work: a directory, a missing or
    read-only directory, an unreadable or read-only file (WAL needs write access). With
    ``read_only`` (a command that only reads) the file must exist and be readable; the
    file and its folder may be read-only. A name the system cannot take (too long, a
    component that is not a folder...) is one line naming it (OSError)."""
    try:
        _check_location(path, read_only=read_only)
    except OSError as exc:
        raise StoreError(f"database {path}: {exc.strerror or exc}") from None


def _check_location(path: Path, *, read_only: bool) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise StoreError(f"database {path} is a directory, not a file")
    if not parent.exists():
        raise StoreError(f"database directory {parent} does not exist")
    if not parent.is_dir():
        raise StoreError(f"database directory {parent} is not a directory")
    if path.is_symlink() and not path.exists():
        raise StoreError(f"database {path} is a link to {os.readlink(path)}, which does not "
                         "exist; nothing was created")
    if path.exists() and not path.is_file():
        raise StoreError(f"database {path} is not a regular file (a device, FIFO or "
                         "socket); it was not changed")
    if read_only:
        if not path.exists():
            raise StoreError(f"no database at {path}; a command that only reads never "
                             "creates one (check --db or $COMPOUNDING_DB)")
        if not os.access(path, os.R_OK):
            raise StoreError(f"database {path} is not readable")
        return
    if path.exists():
        if not os.access(path, os.R_OK):
            raise StoreError(f"database {path} is not readable")
        if not os.access(path, os.W_OK) or not os.access(parent, os.W_OK):
            raise StoreError(f"database {path} is read-only (the file or its directory); "
                             "this command writes, so it needs write access (commands that "
                             "only read work on a read-only database)")
    elif not os.access(parent, os.W_OK):
        raise StoreError(f"cannot create database {path}: directory {parent} is read-only")


def writable(path: str) -> bool:
    """True when the file ``path`` and its folder can be written (a migration can run)."""
    p = Path(path)
    return os.access(p, os.W_OK) and os.access(p.parent if str(p.parent) else ".", os.W_OK)


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
    return parents_first(names, parents)


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
