"""The PostgreSQL side of ``compounding db copy`` (issue 20): the functions
:mod:`.copy` asks of a backend (as :mod:`.sqlite` has them), for a store whose backend is
:mod:`.postgres`: the tables in load order, rows read in one snapshot through a
server-side cursor, rows written with ``COPY``, the target's triggers disabled inside the
copy's own transaction (owner role), identity sequences moved past the copied ids, and the
byte-order check of a database's collation (lot IDs sort as in SQLite)."""

from __future__ import annotations

import contextlib

from psycopg import errors as pg_errors

from ..errors import RefusedError
from .postgres import (Database, columns, in_transaction, redact,  # noqa: F401 (columns)
                       refusal_text, rollback)


#: Collations under which PostgreSQL orders text byte by byte, as SQLite does (``C`` and
#: ``POSIX``; ``C.UTF-8``/``C.utf8`` order by code point, which for UTF-8 is the same order).
BYTE_ORDER_COLLATIONS = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8"})


def _qi(name: str) -> str:
    """``name`` as a quoted SQL identifier (names come from the catalogue, never input)."""
    return '"' + name.replace('"', '""') + '"'


def collation(db: Database) -> str:
    """The database's default collation: ``pg_database.datcollate``, or ``icu:LOCALE`` for
    a database whose default collation provider is ICU (PostgreSQL 15: ``datlocprovider``
    'i'; its ``datcollate`` then does not decide the order)."""
    cols = {r[0] for r in db.pg.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'pg_database'::regclass")}
    if "datlocprovider" in cols:
        iculocale = "daticulocale" if "daticulocale" in cols else "datlocale"
        provider, locale, collate = db.pg.execute(
            f"SELECT datlocprovider, {iculocale}, datcollate FROM pg_database "
            "WHERE datname = current_database()").fetchone()
        if provider == "i":
            return f"icu:{locale}"
        return collate
    return db.pg.execute("SELECT datcollate FROM pg_database "
                         "WHERE datname = current_database()").fetchone()[0]


def check_byte_order(db: Database, option: str) -> None:
    """Refuse (one :class:`RefusedError` line naming ``option``) a database whose text order
    is not byte order: lot IDs, dates as text and site ranges must sort as in SQLite, or a
    listing and a copy read back in another order (``db init-roles`` creates the database
    with ``LC_COLLATE 'C'``)."""
    found = collation(db)
    if found not in BYTE_ORDER_COLLATIONS:
        raise RefusedError(f"{option} {redact(db.url)}: the database sorts text by collation "
                           f"{found!r}, not byte order as SQLite does (lot IDs would list in "
                           "another order); create it with LC_COLLATE 'C' as 'compounding db "
                           "init-roles' prints (nothing was copied)")


def load_order(db: Database) -> list[str]:
    """Every table of the store's schema, each after the tables its foreign keys reference
    (as :func:`.sqlite.load_order`)."""
    names = [r[0] for r in db.pg.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.relname")]
    parents: dict[str, set[str]] = {n: set() for n in names}
    for child, parent in db.pg.execute(
            "SELECT c.relname, p.relname FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE k.contype = 'f' AND n.nspname = current_schema()"):
        if child in parents and parent != child:
            parents[child].add(parent)
    from .table_order import parents_first
    return parents_first(names, parents)


def _primary_key(db: Database, table: str) -> list[str]:
    return [r[0] for r in db.pg.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)", [table])]


def iter_rows(db: Database, table: str, columns: list[str], chunk: int = 5000):
    """The rows of ``table`` (tuples of ``columns``, loaded as SQLite gives them) in primary
    key order, ``chunk`` at a time, through a server-side cursor (the table is never held in
    memory whole). Call inside :func:`read_snapshot`."""
    key = _primary_key(db, table)
    order = f" ORDER BY {', '.join(_qi(c) for c in key)}" if key else ""
    with db.pg.cursor(name=f"copy_{table}") as cur:
        cur.execute(f"SELECT {', '.join(_qi(c) for c in columns)} FROM {_qi(table)}{order}")
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            yield rows


def insert_many(db: Database, table: str, columns: list[str], rows) -> None:
    """Insert ``rows`` (tuples of ``columns``) into ``table`` as they are, ids included,
    with ``COPY ... FROM STDIN`` (values as text, so SQLite's 0/1 land in a boolean column
    and identity columns take the copied ids)."""
    sql = (f"COPY {_qi(table)} ({', '.join(_qi(c) for c in columns)}) FROM STDIN")
    with db.pg.cursor() as cur, cur.copy(sql) as out:
        for row in rows:
            out.write_row(row)


@contextlib.contextmanager
def read_snapshot(db: Database):
    """Every read inside the block sees one state of the database (a REPEATABLE READ, READ
    ONLY transaction: others keep writing meanwhile); nothing is written."""
    if in_transaction(db):
        yield
        return
    db.pg.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        yield
    finally:
        rollback(db)


@contextlib.contextmanager
def suspended_triggers(db: Database):
    """Inside an open write transaction: every enabled trigger of the store's tables
    disabled for the block (``ALTER TABLE ... DISABLE TRIGGER``, which needs the tables'
    owner: a copy into PostgreSQL runs as the owner role) and enabled again when it ends.
    DDL is transactional here: a copy that fails or is killed rolls back, and the triggers
    were never disabled for anyone else (the ALTER holds the tables' exclusive lock until
    the commit). CHECK, NOT NULL, UNIQUE and FOREIGN KEY constraints stay on. Afterwards
    each identity sequence is moved past the highest copied id (:func:`_reset_identities`)."""
    if not in_transaction(db):
        raise RuntimeError("suspended_triggers needs an open write transaction")
    triggers = db.pg.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal "
        "AND t.tgenabled <> 'D' AND n.nspname = current_schema() "
        "ORDER BY c.relname, t.tgname").fetchall()
    try:
        for table, name in triggers:
            db.pg.execute(f"ALTER TABLE {_qi(table)} DISABLE TRIGGER {_qi(name)}")
    except pg_errors.InsufficientPrivilege as exc:
        raise RefusedError(f"--to {redact(db.url)}: this role may not suspend the history "
                           f"triggers for the copy ({refusal_text(exc)}); copy into "
                           "PostgreSQL as the owner role that ran 'db migrate' "
                           "(docs/deploy.md; nothing was copied)") from None
    yield
    for table, name in triggers:
        db.pg.execute(f"ALTER TABLE {_qi(table)} ENABLE TRIGGER {_qi(name)}")
    _reset_identities(db)


def _reset_identities(db: Database) -> None:
    """Each identity column's sequence set so the next id is one past the highest id in its
    table (rows copied with their ids do not move the sequence)."""
    for table, col in db.pg.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c "
            "ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.attidentity <> '' AND n.nspname = current_schema() AND c.relkind = 'r' "
            "ORDER BY c.relname").fetchall():
        db.pg.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), "
            f"COALESCE((SELECT MAX({_qi(col)}) FROM {_qi(table)}), 0) + 1, false)",
            [_qi(table), col])


def analyze(db: Database, tables: list[str]) -> None:
    """Planner statistics for the tables just loaded (``ANALYZE``, inside the copy's
    transaction). Until a table has them PostgreSQL plans from default guesses, and right
    after a copy those guesses read whole tables (measured at bench scale 0.1: a recall of
    one supplier lot read every weighing and every label print, ~0.8 s instead of ~25 ms);
    autovacuum would analyze them only later."""
    for table in tables:
        db.pg.execute(f"ANALYZE {_qi(table)}")


def checkpoint(db: Database) -> None:
    """Nothing to do: the server makes a commit durable itself (SQLite writes its WAL
    back here)."""


def same_store(a: Database, b: Database) -> bool:
    """True when the connections ``a`` and ``b`` reach the same store: the same server (``a``'s
    backend process is among ``b``'s server's sessions), the same database and the same
    schema. A copy of a store into itself is refused on this (it would wait on its own
    locks)."""
    pid, schema = a.pg.execute("SELECT pg_backend_pid(), current_schema()").fetchone()
    return bool(b.pg.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND datname = current_database() "
        "AND current_schema() = %s", [pid, schema]).fetchone())
