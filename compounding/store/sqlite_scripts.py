"""The store's SQLite connection (:class:`Connection`), and running the migrations' SQL
scripts inside the store's write transaction in linear time (see :func:`split_statements`).

Issue 18: the store talks to SQLite through :class:`Connection`, plain ``sqlite3`` with the
few calls the store makes; sqlite-utils (``Database``, ``Migrations``) is imported only when
migrations are applied or a schema is built from them (:func:`utils_database`). Importing
it cost about a third of a label print's fixed cost, on every command that opens the store.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache


def split_statements(sql: str):
    """The complete SQL statements of ``sql``, stripped, in order: the statements
    ``sqlite_utils.Database.executescript`` runs one by one inside a transaction (so that
    sqlite3's own executescript does not COMMIT first), found in linear time. sqlite-utils
    (3.x) re-joins the statement so far at every character, which is quadratic in a
    statement's length: m019's and m021's triggers made creating a database take 4 s. A
    statement can only end at a ';', so completeness is asked only there; the statements
    are the same strings, so the schema is byte-identical."""
    start = 0
    pos = sql.find(";")
    while pos != -1:
        statement = sql[start:pos + 1].strip()
        if statement and sqlite3.complete_statement(statement):
            yield statement
            start = pos + 1
        pos = sql.find(";", pos + 1)
    rest = sql[start:].strip()
    if rest:
        yield rest


class Connection:
    """The store's SQLite connection: the calls the store makes of a sqlite-utils
    ``Database`` (``execute``, ``conn``, ``close``, ``atomic``, ``rollback``,
    ``enable_wal``), on ``sqlite3`` alone.

    The same behaviour as the ``Database`` the store used before: ``PRAGMA
    recursive_triggers`` on (sqlite-utils' default), and a write statement run outside a
    transaction is committed at once (sqlite-utils commits the implicit transaction; here
    the connection has no implicit transactions, ``isolation_level=None``). Every
    transaction of the store is explicit (``BEGIN IMMEDIATE``, savepoints).
    """

    def __init__(self, conn: sqlite3.Connection):
        conn.isolation_level = None
        conn.execute("PRAGMA recursive_triggers=on;")
        self.conn = conn
        self._savepoints = 0

    def execute(self, sql: str, parameters=None) -> sqlite3.Cursor:
        if parameters is None:
            return self.conn.execute(sql)
        return self.conn.execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()

    def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def atomic(self):
        """A savepoint inside the open transaction (a transaction of its own outside one)."""
        return _Atomic(self)

    def enable_wal(self) -> None:
        """``journal_mode`` WAL (outside a transaction, as SQLite requires)."""
        if self.conn.execute("PRAGMA journal_mode;").fetchone()[0] != "wal":
            if self.conn.in_transaction:
                raise sqlite3.OperationalError("enable_wal() cannot be used while a "
                                               "transaction is open")
            self.conn.execute("PRAGMA journal_mode=wal;")


class _Atomic:
    """:meth:`Connection.atomic`: ``SAVEPOINT`` / ``RELEASE`` (``ROLLBACK TO`` on an error,
    when the error left the transaction open), or ``BEGIN`` / ``COMMIT`` outside one."""

    def __init__(self, db: Connection):
        self.db = db
        self.name: str | None = None

    def __enter__(self) -> Connection:
        conn = self.db.conn
        if conn.in_transaction:
            self.db._savepoints += 1
            self.name = f"store_{self.db._savepoints}"
            conn.execute(f"SAVEPOINT {self.name}")
        else:
            conn.execute("BEGIN")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        conn = self.db.conn
        if self.name is None:
            if exc_type is None:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    self.db.rollback()
                    raise
            else:
                self.db.rollback()
            return
        self.db._savepoints -= 1
        if exc_type is None:
            conn.execute(f"RELEASE SAVEPOINT {self.name}")
        elif conn.in_transaction:  # a RAISE(ROLLBACK) may have ended the transaction
            conn.execute(f"ROLLBACK TO SAVEPOINT {self.name}")
            conn.execute(f"RELEASE SAVEPOINT {self.name}")


@lru_cache(maxsize=None)
def store_database_class():
    """sqlite-utils' ``Database`` with :func:`split_statements` for scripts run inside a
    transaction (the migrations run inside the store's ``BEGIN IMMEDIATE``); made on first
    use, so that importing this module does not import sqlite-utils."""
    from sqlite_utils import Database

    class StoreDatabase(Database):
        __doc__ = store_database_class.__doc__

        def executescript(self, sql: str):
            if not self.conn.in_transaction:
                return super().executescript(sql)
            cursor = self.conn.cursor()
            for statement in split_statements(sql):
                cursor.execute(statement)
            return cursor

    StoreDatabase.__module__ = __name__
    return StoreDatabase


def utils_database(db):
    """A sqlite-utils ``Database`` on the same connection as ``db`` (the store's
    :class:`Connection`; a ``Database`` is returned as it is), for the migrations."""
    if isinstance(db, Connection):
        return store_database_class()(db.conn, execute_plugins=False)
    return db


def __getattr__(name: str):
    if name == "StoreDatabase":  # made on first use (module attribute, PEP 562)
        return store_database_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
