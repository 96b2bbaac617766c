"""The PostgreSQL backend (issue 20): the same functions as :mod:`.sqlite`, for a group of
pharmacies whose store lives on a server.

A store path of the form ``postgresql://USER@HOST:PORT/NAME`` (or ``postgres://``) selects
this module (:func:`is_url`); everything else is a SQLite file. Connections go through
psycopg 3; a password is never taken from the command line's URL into any message (libpq
reads it from ``$PGPASSWORD`` or ``~/.pgpass``, see docs/deploy.md).

What differs from SQLite, and how the same guarantees are kept:

- **placeholders**: the record modules write ``?`` and ``:name`` (SQLite's); :func:`translate`
  rewrites them to psycopg's ``%s`` / ``%(name)s`` outside string literals, once per query
  text;
- **the write lock**: SQLite has one writer at a time (``BEGIN IMMEDIATE``). Every write here
  also appends to the one hash-chained audit log, so writes are serialised the same way: each
  write transaction (READ COMMITTED) starts with ``pg_advisory_xact_lock`` on
  :data:`WRITE_LOCK_KEY` and waits at most :data:`BUSY_TIMEOUT_S` (``lock_timeout``); the
  audit-log trigger takes the same lock, so a script inserting by hand queues too. Readers
  never wait (MVCC). A lot ID, a sign-off or a stock change is therefore decided by one
  writer at a time, and re-reading the status under the lock gives one signature per act;
- **types**: amounts stay exact decimal TEXT, integers BIGINT; the views' REAL columns are
  ``double precision``; values are loaded as SQLite would give them (``numeric`` without a
  fraction as ``int``, with one as ``float``; ``boolean`` as 0/1), so a record's digest, the
  JSON output and the messages are the same on both backends;
- **refusals**: the triggers raise SQLSTATE 23514 (``check_violation``) with the SQLite
  trigger's message, which :func:`refusal_text` returns without PostgreSQL's decoration;
- **migrations**: :mod:`.pg_migrations`, recorded in ``_pg_migrations``; names match the
  SQLite migrations they mirror.
"""

from __future__ import annotations

import contextlib
import functools
import re
from datetime import datetime

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Loader

from ..errors import RefusedError, StoreError
# the one way a URL is recognised and shown, password redacted (.pg_url: no driver)
from .pg_url import is_url, redact  # noqa: F401 (re-exported)
from .pg_url import scrub as _scrub
# the names db init-roles writes into its script unquoted (attack s4 finding 10)
from .pg_names import need_role_name

#: Seconds a write waits for another writer (``lock_timeout``), as SQLite's busy timeout.
BUSY_TIMEOUT_S = 60

#: Seconds to wait for the server to answer a connection.
CONNECT_TIMEOUT_S = 10

#: The advisory lock every write transaction takes first (and the audit-log trigger too):
#: "compound" as a number, chosen once; a DBA's own advisory locks must avoid it.
WRITE_LOCK_KEY = 20_2606_0001

#: Group roles the migrations grant to (:func:`.pg_migrations.grants`).
WRITER_ROLE = "compounding_writer"
READER_ROLE = "compounding_reader"

#: A constraint or trigger refusal (CHECK, UNIQUE, FOREIGN KEY, a trigger's RAISE).
IntegrityError = psycopg.IntegrityError

#: Any error from the database or the connection.
DatabaseError = psycopg.Error

def check_url(url: str) -> str:
    """``url`` if a person can read it back: no control or invisible formatting characters
    (a line break would split the one-line error; a zero-width character would name a role
    nobody can see). Else :class:`StoreError` naming the character and its position."""
    import unicodedata
    for i, ch in enumerate(url, start=1):
        cat = unicodedata.category(ch)
        if cat[0] == "C" or cat in ("Zl", "Zp"):
            kind = ("an invisible formatting character" if cat == "Cf"
                    else "a control character or line break")
            from ..text import describe
            raise StoreError(f"database URL: character {describe(ch)} at position {i} is "
                             f"{kind}; type the URL again")
    return url


# ---------------------------------------------------------------- placeholders

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|::|\?|:[A-Za-z_][A-Za-z0-9_]*|%")


@functools.lru_cache(maxsize=2048)
def translate(sql: str, with_params: bool = True) -> str:
    """SQLite-style placeholders (``?``, ``:name``) as psycopg's (``%s``, ``%(name)s``), and
    a literal ``%`` doubled; string literals, quoted names and ``::`` casts are left alone.
    Without parameters the text is sent as written (psycopg does not read ``%`` then)."""
    if not with_params:
        return sql

    def sub(m):
        t = m.group(0)
        if t == "?":
            return "%s"
        if t == "%":
            return "%%"
        if t[0] == ":" and t != "::":
            return f"%({t[1:]})s"
        return t.replace("%", "%%")  # psycopg reads % inside literals too
    return _TOKEN.sub(sub, sql)


# ---------------------------------------------------------------- loading values as SQLite does

class _NumericLoader(Loader):
    """``numeric`` (sums, ROUND) as SQLite would return it: whole numbers as ``int``, others
    as ``float``. Stored amounts are TEXT and never pass through here."""

    def load(self, data):
        text = bytes(data).decode()
        if "." in text or "e" in text.lower() or "N" in text:
            return float(text)  # float-ok: SQLite's REAL in the views for scripts, never a dose
        return int(text)


class _BoolLoader(Loader):
    """``boolean`` as SQLite's 0/1."""

    def load(self, data):
        return 1 if bytes(data) in (b"t", b"true") else 0


class Database:
    """One connection to the store's PostgreSQL database, shaped like the parts of
    ``sqlite_utils.Database`` the core uses: ``execute(sql, params)`` (SQLite placeholders
    accepted) returning a cursor, ``close()``; ``url`` (password redacted); ``pg`` the
    psycopg connection (autocommit: transactions are begun explicitly by the store)."""

    def __init__(self, pg, url: str):
        self.pg = pg
        self.url = url
        self._savepoints = 0
        self._columns: dict[str, list[str]] = {}

    def execute(self, sql: str, params=None):
        has = bool(params)
        return self.pg.execute(translate(sql, has), params if has else None)

    def close(self) -> None:
        self.pg.close()


def connect(path: str, *, read_only: bool = False) -> Database:
    """Connect to the PostgreSQL database ``path`` (a ``postgresql://`` URL). The session
    uses UTC for stored stamps' sake and the machine's local UTC offset for the views' "today"
    (as SQLite's ``date('now', 'localtime')``); a write waits at most :data:`BUSY_TIMEOUT_S`
    for the write lock. With ``read_only`` (a command that only reads, issue 12 part 6) the
    session is ``default_transaction_read_only``: the server itself refuses any write, DDL
    included, so a read command never creates or changes anything. Raises
    :class:`StoreError` with one line (password redacted)."""
    check_url(path)
    offset = datetime.now().astimezone().utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    tz = f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    try:
        pg = psycopg.connect(path, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                             application_name="compounding")
    except (psycopg.Error, ValueError) as exc:
        raise StoreError(f"cannot open database {redact(path)}: "
                         f"{_scrub(_first_line(exc), path)}") from None
    try:
        pg.adapters.register_loader("numeric", _NumericLoader)
        pg.adapters.register_loader("bool", _BoolLoader)
        pg.execute(f"SET lock_timeout = '{BUSY_TIMEOUT_S}s'")
        pg.execute(f"SET TIME ZONE INTERVAL '{tz}' HOUR TO MINUTE")
        if read_only:
            pg.execute("SET default_transaction_read_only = on")
        return Database(pg, path)
    except psycopg.Error as exc:
        pg.close()
        raise StoreError(error_text(path, exc)) from None


def finish_open(db: Database, path: str) -> None:
    """Nothing more to set after the schema check (SQLite turns on WAL here)."""


def writable(path: str) -> bool:
    """False: a read command never applies migrations on the server (the owner role runs
    ``db migrate``, docs/deploy.md); the SQLite backend answers from the file's mode."""
    return False


# ---------------------------------------------------------------- migrations

def _migration_table(db: Database) -> bool:
    return db.pg.execute("SELECT to_regclass('_pg_migrations') IS NOT NULL").fetchone()[0]


def applied_migrations(db: Database) -> list[tuple[str, str]]:
    """``[(name, applied_at)]`` of the applied PostgreSQL migrations, in order."""
    if not _migration_table(db):
        return []
    return [(r[0], r[1]) for r in db.pg.execute(
        "SELECT name, applied_at FROM _pg_migrations ORDER BY id").fetchall()]


def known_migrations() -> list[str]:
    """Every migration name of the PostgreSQL set, in order."""
    from .pg_migrations import MIGRATIONS
    return [name for name, _ in MIGRATIONS]


def pending_migrations(db: Database) -> list[str]:
    """Names of the PostgreSQL migrations not applied yet, in order."""
    done = {n for n, _ in applied_migrations(db)}
    return [n for n in known_migrations() if n not in done]


def apply_migrations(db: Database) -> None:
    """Apply the pending migrations inside the caller's write transaction (PostgreSQL DDL is
    transactional: all of them or none), each recorded in ``_pg_migrations``, then grant the
    group role ``compounding_writer`` its privileges (:func:`.pg_migrations.grants`) when
    that role exists."""
    pending = ", ".join(pending_migrations(db))
    try:
        _apply(db)
    except pg_errors.InsufficientPrivilege as exc:
        raise StoreError(f"database {redact(db.url)}: migrations pending ({pending}) and "
                         f"this role may not apply them ({_first_line(exc)}); run "
                         "'compounding db migrate' as the owner role (docs/deploy.md)") from None


def _apply(db: Database) -> None:
    from .pg_migrations import MIGRATIONS, grants
    db.pg.execute("""CREATE TABLE IF NOT EXISTS _pg_migrations (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        applied_at TEXT NOT NULL)""")
    done = {n for n, _ in applied_migrations(db)}
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        db.pg.execute(sql)
        db.pg.execute("INSERT INTO _pg_migrations (name, applied_at) VALUES "
                      "(%s, to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD HH24:MI:SS.US'))", [name])
    exists = db.pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [WRITER_ROLE])
    if exists.fetchone():
        db.pg.execute(grants(WRITER_ROLE, READER_ROLE))


def renew_grants(db: Database) -> bool:
    """Grant the group roles their privileges again (:func:`.pg_migrations.grants`: what
    the migrations grant; a role created after the migrations ran, or a privilege a DBA
    changed by hand, is set right), in one transaction. False, and nothing changed, when
    ``compounding_writer`` does not exist or this role may not grant (not the owner)."""
    from .pg_migrations import grants
    if not db.pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                         [WRITER_ROLE]).fetchone():
        return False
    try:
        with db.pg.transaction():
            db.pg.execute(grants(WRITER_ROLE, READER_ROLE))
    except pg_errors.InsufficientPrivilege:
        return False
    return True


# ---------------------------------------------------------------- transactions

#: Seconds a write waits for another writer before saying so (as :mod:`.sqlite`).
WAIT_NOTICE_S = 2


def begin_immediate(db: Database, path: str, on_wait=None) -> None:
    """Start a write transaction holding the store's write lock from the start (the advisory
    lock :data:`WRITE_LOCK_KEY`; see the module docstring). When another writer still holds
    it after :data:`WAIT_NOTICE_S` seconds, ``on_wait(message)`` is called ("waiting for
    another process to finish writing URL, up to 60 s", password redacted) and the wait goes
    on, to :data:`BUSY_TIMEOUT_S` in all. Waiting longer is one :class:`StoreError` line."""
    import time
    try:
        db.pg.execute("BEGIN")
        if on_wait is not None:
            deadline = time.monotonic() + WAIT_NOTICE_S
            while not db.pg.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                    [WRITE_LOCK_KEY]).fetchone()[0]:
                if time.monotonic() >= deadline:
                    on_wait(f"waiting for another process to finish writing "
                            f"{redact(path)}, up to {BUSY_TIMEOUT_S} s")
                    db.pg.execute(f"SET LOCAL lock_timeout = "
                                  f"'{BUSY_TIMEOUT_S - WAIT_NOTICE_S}s'")
                    db.pg.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
                    db.pg.execute(f"SET LOCAL lock_timeout = '{BUSY_TIMEOUT_S}s'")
                    break
                time.sleep(0.05)
            return
        db.pg.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
    except psycopg.Error as exc:
        rollback(db)
        raise StoreError(error_text(path, exc)) from None


def commit(db: Database) -> None:
    """Commit the transaction :func:`begin_immediate` started (releases the lock)."""
    db.pg.execute("COMMIT")


def rollback(db: Database) -> None:
    """Roll back the open transaction, if any (a broken connection is left as it is)."""
    try:
        if not db.pg.closed:
            db.pg.execute("ROLLBACK")
    except psycopg.Error:
        pass


def in_transaction(db: Database) -> bool:
    """True while a transaction is open (or failed and not yet rolled back)."""
    return db.pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


class savepoint:
    """A nested transaction inside an open one (``SAVEPOINT``), as a context manager."""

    def __init__(self, db: Database):
        self.db = db

    def __enter__(self):
        self.db._savepoints += 1
        self.name = f"sp{self.db._savepoints}"
        self.db.pg.execute(f"SAVEPOINT {self.name}")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.db._savepoints -= 1
        if exc_type is None:
            self.db.pg.execute(f"RELEASE SAVEPOINT {self.name}")
        elif in_transaction(self.db):
            try:
                self.db.pg.execute(f"ROLLBACK TO SAVEPOINT {self.name}")
            except psycopg.Error:
                pass
        return False


def refusal_scope(db: Database):
    """Inside a transaction, a savepoint around statements that may be refused: PostgreSQL
    aborts the whole transaction on an error, SQLite only the statement; rolling back to
    the savepoint gives SQLite's behaviour. Outside a transaction, nothing."""
    return savepoint(db) if in_transaction(db) else contextlib.nullcontext()


def table_columns(db: Database, table: str) -> list[str]:
    """Column names of ``table`` in order (cached per connection)."""
    if table not in db._columns:
        db._columns[table] = [c for c, _ in columns(db, table)]
    return db._columns[table]


def insert_row(db: Database, table: str, values: dict):
    """``INSERT INTO table (columns) VALUES (...)``; the new row's ``id`` for a table with
    an ``id`` column, else None (callers ignore it: those tables are keyed otherwise)."""
    returning = " RETURNING id" if "id" in table_columns(db, table) else ""
    cur = db.pg.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES "
                        f"({', '.join('%(' + k + ')s' for k in values)}){returning}", values)
    return cur.fetchone()[0] if returning else None


def micro_sums(col: str) -> tuple[str, str]:
    """As :func:`.sqlite.micro_sums`: the sum of ``col`` in 10^-6 units (``numeric``, exact)
    and the count of values finer than 10^-6 or from 10^9 up (summed by the caller with
    ``Decimal``, as on SQLite, so both backends give the same figures)."""
    n = f"SUM(ROUND(({col})::numeric * 1000000)) AS micro_units"
    fine = (f"SUM(CASE WHEN {col} ~ '\\.[0-9]{{7}}' OR ({col})::numeric >= 1000000000 "
            "THEN 1 ELSE 0 END) AS inexact")
    return n, fine


# ---------------------------------------------------------------- checks, schema, backup

def integrity_check(db) -> list[str]:
    """The PostgreSQL counterpart of ``PRAGMA integrity_check``: the server keeps its pages
    itself, so what is checked is what the store relies on: every trigger of the migration
    set present and enabled (a dropped or disabled trigger would open history), and every
    migration applied. ``["ok"]`` or one line per problem."""
    from .pg_migrations import expected_triggers
    problems = []
    try:
        rows = db.pg.execute(
            "SELECT t.tgname, c.relname, t.tgenabled FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT t.tgisinternal AND n.nspname = current_schema()").fetchall()
        have = {(r[1], r[0]): r[2] for r in rows}
        for table, name in expected_triggers():
            state = have.get((table, name))
            if state is None:
                problems.append(f"trigger {name} on {table} is missing")
            elif state == "D":
                problems.append(f"trigger {name} on {table} is disabled")
        pending = pending_migrations(db)
        if pending:
            problems.append(f"migrations not applied: {', '.join(pending)}")
    except psycopg.Error as exc:
        return [f"the check could not run: {_first_line(exc)}"]
    return problems or ["ok"]


def backup(store, dest) -> dict:
    """Not done by the store on PostgreSQL: a server database is backed up with the server's
    own tool (``pg_dump``: a consistent snapshot while others write). Raises
    :class:`RefusedError` saying how (docs/deploy.md, "Backups")."""
    raise RefusedError("backup: a PostgreSQL store is backed up with the server's pg_dump "
                       "(pg_dump --format=custom --file=DEST DBNAME), then checked with "
                       "'compounding db verify' on a restored copy; see docs/deploy.md")


def backup_to(db, dest, count_tables):
    """See :func:`backup`."""
    raise RefusedError("backup: on PostgreSQL use pg_dump; see docs/deploy.md")


def schema_sql(db: Database) -> str:
    """Every table, index, trigger and view of the store's schema, as SQL (from the server's
    catalogue; not byte-identical to ``pg_dump``), tables first, then indexes, triggers,
    views."""
    pg = db.pg
    out = []
    tables = [r[0] for r in pg.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.relname")]
    for t in tables:
        cols = pg.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum", [t]).fetchall()
        cons = pg.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                          "WHERE conrelid = %s::regclass ORDER BY conname", [t]).fetchall()
        body = [f"    {c} {ty}{' NOT NULL' if nn else ''}" for c, ty, nn in cols]
        body += [f"    {c[0]}" for c in cons]
        out.append(f"CREATE TABLE {t} (\n" + ",\n".join(body) + "\n);")
    out += [r[0] + ";" for r in pg.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY tablename, "
        "indexname")]
    out += [r[0] + ";" for r in pg.execute(
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c "
        "ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND n.nspname = current_schema() "
        "ORDER BY c.relname, t.tgname")]
    out += [f"CREATE VIEW {r[0]} AS\n{r[1].strip()}" for r in pg.execute(
        "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema() "
        "ORDER BY viewname")]
    return "\n\n".join(out) + "\n"


def columns(db: Database, name: str) -> list[tuple[str, str]]:
    """``(column, type)`` of a table or view, in order."""
    return [(r[0], r[1]) for r in db.pg.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum", [name]).fetchall()]


# ---------------------------------------------------------------- roles

def roles_sql(database: str = "compounding", owner: str = "compounding_owner",
              service: str = "compounding_service") -> str:
    """The script a DBA runs with ``psql`` as a superuser to set up a group's database:
    the roles (``owner`` logs in to migrate and owns every table and trigger; ``service``
    logs in for the CLI and the bench and belongs to the group role ``compounding_writer``,
    which the migrations grant SELECT and INSERT (not on ``users``: only the owner adds
    users), UPDATE of the few mutable columns only (not a user's passphrase hash or active
    state), and no DELETE or TRUNCATE; ``compounding_reader`` is for report scripts: SELECT only), the
    database (owned by ``owner``, UTF-8, byte-order collation ``C`` as SQLite compares
    text), its privileges and the ``citext`` extension. Passwords are not in the script
    (``\\password ROLE`` in psql). Names are checked with :func:`need_role_name`."""
    need_role_name(database, "--database", role=False)
    for value, option in ((owner, "--owner"), (service, "--service")):
        need_role_name(value, option)
    if len({owner, service, "compounding_writer", "compounding_reader"}) != 4:
        from ..errors import InputError
        raise InputError("--owner and --service must be two different roles, neither "
                         "compounding_writer nor compounding_reader")
    return f"""-- compounding: roles and database for a group of pharmacies on PostgreSQL (issue 20).
-- Run as a superuser:  psql -v ON_ERROR_STOP=1 -f roles.sql   (docs/deploy.md)
-- Then set passwords:  \\password {owner}   and   \\password {service}
-- This script takes SUPERUSER, CREATEDB, CREATEROLE and BYPASSRLS away from the service
-- role {service} (ALTER ROLE below). A role of that name that already has any of them is
-- somebody's administrator account, not a service role: the next block then stops the
-- script before anything is created or changed. Choose another --service name.
DO $g$
DECLARE
    r pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = '{service}';
    IF FOUND AND (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls) THEN
        RAISE EXCEPTION 'role {service} already exists with %: this script would take '
            'that away; choose another --service name (nothing was changed)',
            concat_ws(', ', CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
                      CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
                      CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                      CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END);
    END IF;
END $g$;
DO $r$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner}') THEN
        CREATE ROLE {owner} LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
        CREATE ROLE {WRITER_ROLE} NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN
        CREATE ROLE {READER_ROLE} NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{service}') THEN
        CREATE ROLE {service} LOGIN;
    END IF;
END $r$;
-- the service writes through the group role: never the owner of a table or a trigger
ALTER ROLE {service} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
GRANT {WRITER_ROLE} TO {service};
-- text compares byte by byte, as in SQLite (lot numbers, dates as text sort the same)
CREATE DATABASE {database} OWNER {owner} TEMPLATE template0 ENCODING 'UTF8'
    LC_COLLATE 'C' LC_CTYPE 'C';
REVOKE ALL ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT ON DATABASE {database} TO {owner}, {WRITER_ROLE}, {READER_ROLE};
\\connect {database}
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO {owner};
CREATE EXTENSION IF NOT EXISTS citext;
-- Next, as the owner (creates the tables and grants {WRITER_ROLE}; again after upgrades):
--   compounding db migrate --db postgresql://{owner}@HOST:5432/{database}
-- Users are added, deactivated and change their passphrases with the owner's URL:
--   compounding users add NAME --role ROLE --by PHARMACIST --db postgresql://{owner}@HOST:5432/{database}
-- ({service} may not add users nor write a passphrase hash or an account's active state,
-- so that the service's credentials alone cannot make or change a signer; docs/deploy.md)
-- Every site's service then uses:
--   COMPOUNDING_DB=postgresql://{service}@HOST:5432/{database}
"""


# ---------------------------------------------------------------- messages

def _first_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag else None
    text = primary or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def refusal_text(exc: Exception) -> str:
    """The reason a constraint or trigger gave, without PostgreSQL's CONTEXT lines: a
    trigger's message is the same text as the SQLite trigger's."""
    return _first_line(exc)


def current_role(db: Database) -> str:
    """The role this session acts as (for a message naming it)."""
    return db.pg.execute("SELECT current_user").fetchone()[0]


def privilege_denied(exc: Exception) -> bool:
    """True when the server refused for want of a privilege (the role in use may not)."""
    return isinstance(exc, pg_errors.InsufficientPrivilege)


def error_text(path: str, exc: Exception) -> str:
    """One line for a person about a database error on ``path`` (password redacted)."""
    where = redact(path)
    msg = _scrub(_first_line(exc), path)
    if isinstance(exc, pg_errors.LockNotAvailable):
        return (f"database {where}: another writer held the write lock for more than "
                f"{BUSY_TIMEOUT_S} s ({msg})")
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return f"database {where}: permission denied ({msg})"
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return f"database {where} is read-only ({msg})"
    if isinstance(exc, psycopg.OperationalError):
        return f"database {where}: the server is unreachable or closed the connection ({msg})"
    return f"database {where}: {msg}"


