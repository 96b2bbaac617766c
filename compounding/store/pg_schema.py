"""``db verify``'s schema comparison on PostgreSQL (issue 20), as SQLite's
(:func:`.audit.schema_problems`): what the store's schema holds is compared with what the
applied migrations make, derived by running those migrations (:mod:`.pg_migrations`) in a
scratch schema inside a transaction that is rolled back, never from a kept copy.

Compared, object by object, as the server's catalogue describes them (``pg_get_*def``, the
schema's own name taken out so the two schemas compare):

- tables: each column (name, type, NOT NULL, default, identity) and each constraint
  (CHECK, UNIQUE, PRIMARY and FOREIGN KEY);
- indexes, triggers (with whether each is enabled), functions (the trigger functions'
  bodies: a trigger made toothless by a replaced function is found), views;
- grants: the privileges of the group roles ``compounding_writer`` and
  ``compounding_reader`` on every table, column, view and sequence (an UPDATE granted on a
  history table is found even while its trigger still stands).

Where the two texts of one object differ, both are parsed again by the server in the
scratch schema and printed back before they are compared (:func:`_normalise`): a database
restored from ``pg_dump`` prints some expressions otherwise than the migrations' own
(docs/deploy.md, "Backups"), with the same meaning.

The extension's objects (``citext``) and the migration bookkeeping (``_pg_migrations``) are
left out. Making the scratch schema needs the CREATE privilege on the database (the owner
role has it; the service role has not): without it the comparison is reported as not made,
a problem, never passed over.
"""

from __future__ import annotations

import re
import secrets

import psycopg
from psycopg import errors as pg_errors

from .postgres import READER_ROLE, WRITER_ROLE, Database, refusal_text, savepoint

#: Left out of the comparison: the migration bookkeeping (made by the backend, not by a
#: migration) and its identity sequence.
NOT_COMPARED = frozenset({"_pg_migrations", "_pg_migrations_id_seq"})

_OWN = """
    n.nspname = current_schema()
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"""


def _unqualified(text: str, schema: str) -> str:
    """``text`` without the schema's name before object names (``s.t``, ``"s".t``)."""
    text = text.replace(f'"{schema}".', "")
    return re.sub(rf"\b{re.escape(schema)}\.", "", text)


def schema_objects(db: Database) -> dict[tuple[str, str], str]:
    """``{(kind, name): definition}`` of every table, index, trigger, function, view and
    group-role grant in the store's schema (``current_schema()``), definitions as the
    catalogue gives them without the schema's name."""
    pg = db.pg
    schema = pg.execute("SELECT current_schema()").fetchone()[0]
    out: dict[tuple[str, str], str] = {}
    for (table,) in pg.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind = 'r' AND {_OWN.format(oid='c.oid')} ORDER BY 1").fetchall():
        cols = pg.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum", [f'"{table}"']).fetchall()
        cons = pg.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(%s) ORDER BY conname", [f'"{table}"']).fetchall()
        out[("table", table)] = "\n".join(
            [f"{c} {t}{' NOT NULL' if nn else ''}{f' DEFAULT {d}' if d else ''}"
             f"{f' IDENTITY {i}' if i else ''}" for c, t, nn, d, i in cols]
            + [f"CONSTRAINT {n} {d}" for n, d in cons])
    for name, sql in pg.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i "
            "ON i.indexrelid = c.oid WHERE c.relkind = 'i' AND NOT EXISTS (SELECT 1 FROM "
            f"pg_constraint k WHERE k.conindid = c.oid) AND {_OWN.format(oid='c.oid')}"):
        out[("index", name)] = sql
    for table, name, sql, enabled in pg.execute(
            "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled "
            "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE NOT t.tgisinternal AND {_OWN.format(oid='c.oid')}"):
        out[("trigger", f"{name} on {table}")] = sql + (" (disabled)" if enabled == "D"
                                                        else "")
    for name, sql in pg.execute(
            "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
            "pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n "
            f"ON n.oid = p.pronamespace WHERE p.prokind = 'f' AND {_OWN.format(oid='p.oid')}"):
        out[("function", name)] = sql
    for name, sql in pg.execute(
            "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE c.relkind = 'v' AND "
            f"{_OWN.format(oid='c.oid')}"):
        out[("view", name)] = sql
    for name, grants in _grants(db):
        out[("grants", name)] = grants
    return {k: _unqualified(v, schema) for k, v in out.items()
            if k[1].split(" ")[0] not in NOT_COMPARED}


def _grants(db: Database) -> list[tuple[str, str]]:
    """``(object, privileges)`` of the group roles on each table, view and sequence of the
    schema, and on each column that has its own grant; the grantor left out (the owner
    here, the verifier in the scratch schema)."""
    rows = db.pg.execute(
        "SELECT c.relname, r.rolname, x.privilege_type FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL aclexplode(c.relacl) x JOIN pg_roles r ON r.oid = x.grantee "
        f"WHERE c.relkind IN ('r', 'v', 'S') AND r.rolname IN (%s, %s) "
        f"AND {_OWN.format(oid='c.oid')} "
        "UNION ALL SELECT c.relname || '.' || a.attname, r.rolname, x.privilege_type "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL aclexplode(a.attacl) x JOIN pg_roles r ON r.oid = x.grantee "
        f"WHERE a.attacl IS NOT NULL AND r.rolname IN (%s, %s) AND "
        f"{_OWN.format(oid='c.oid')}",
        [WRITER_ROLE, READER_ROLE, WRITER_ROLE, READER_ROLE]).fetchall()
    found: dict[str, set[str]] = {}
    for obj, role, privilege in rows:
        found.setdefault(obj, set()).add(f"{role}:{privilege}")
    return [(obj, " ".join(sorted(p))) for obj, p in sorted(found.items())]


class NotCompared(Exception):
    """The scratch schema could not be made (the reason, one line)."""


def compare(db: Database, applied: list[str]) -> tuple[dict, dict]:
    """``(expected, actual)``: :func:`schema_objects` of a scratch schema made by running the
    PostgreSQL migrations named in ``applied`` (in the order the database applied them) and
    the group roles' grants (when the writer role exists, as the store grants after
    migrating), and of the store's own schema, both in the normalised form
    :func:`_normalise` gives where their text differs. All inside a savepoint or a
    transaction rolled back afterwards: nothing of it remains. Raises :class:`NotCompared`
    when this role may not create a schema."""
    from .pg_migrations import MIGRATIONS, grants

    actual = schema_objects(db)  # before the scratch schema is on the search path
    by_name = dict(MIGRATIONS)
    scratch = "compounding_verify_" + secrets.token_hex(6)
    own = not _in_transaction(db)
    if own:
        # READ WRITE: a read command's session is default_transaction_read_only (issue 12
        # part 6); this transaction only makes the scratch schema and is rolled back
        db.pg.execute("BEGIN READ WRITE")
    try:
        with savepoint(db):
            try:
                db.pg.execute(f"CREATE SCHEMA {scratch}")
            except (pg_errors.InsufficientPrivilege, pg_errors.ReadOnlySqlTransaction) as exc:
                raise NotCompared(refusal_text(exc)) from None
            db.pg.execute("SELECT set_config('search_path', %s, true)",
                          [f"{scratch}, public"])
            for name in applied:
                if name in by_name:
                    db.pg.execute(by_name[name])
            if db.pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                             [WRITER_ROLE]).fetchone():
                db.pg.execute(grants(WRITER_ROLE, READER_ROLE))
            made = schema_objects(db)
            for key in sorted(set(made) & set(actual)):
                if _squash(made[key]) != _squash(actual[key]):
                    made[key], actual[key] = _normalise(db, scratch, key, made[key],
                                                        actual[key])
            raise _Undo((made, actual))
    except _Undo as undo:
        return undo.made
    finally:
        if own:
            db.pg.execute("ROLLBACK")


# ---------------------------------------------------------------- normalising (dump/restore)
#
# The catalogue keeps a CHECK constraint, a view, an index or a trigger's WHEN as a parsed
# expression and prints it back (pg_get_constraintdef, pg_get_viewdef...). pg_dump writes
# that printout and pg_restore parses it again, so a restored schema prints differently
# from the one the migrations made, with the same meaning: an AND chain grouped another
# way (``((a AND b) AND c)`` against ``(a AND b AND c)``), a view's constant column named
# (``'weighing'::text AS text``). Printing is stable after one such round trip (a schema
# dumped and restored twice prints as one restored once), so both texts are put through
# the same round trip on the server, in the scratch schema, and compared then: a
# difference of meaning stays a difference; a restored copy of an unchanged schema passes.

def _normalise(db: Database, scratch: str, key: tuple[str, str], made: str,
               actual: str) -> tuple[str, str]:
    """``made`` and ``actual`` (one object's definitions) each as the server prints it after
    parsing it again in the scratch schema; a text that cannot be parsed there (an object
    changed beyond recognition) is left as it was, so it still differs."""
    kind, name = key
    if kind == "table":
        return _normalise_table(db, scratch, name, made, actual)
    one = {"view": _roundtrip_view, "index": _roundtrip_index,
           "trigger": _roundtrip_trigger}.get(kind)
    if one is None:  # functions (their body is kept as written) and grants: as they are
        return made, actual
    return tuple(_attempt(db, scratch, one, text) or text for text in (made, actual))


def _normalise_table(db: Database, scratch: str, table: str, made: str,
                     actual: str) -> tuple[str, str]:
    """A table's lines (``column type ...`` and ``CONSTRAINT name definition``), each line
    that differs from its namesake put through the round trip: a CHECK constraint, or a
    column's DEFAULT expression."""
    def keyed(text):
        out = {}
        for line in text.splitlines():
            head = " ".join(line.split(" ", 2)[:2]) if line.startswith("CONSTRAINT ") \
                else line.split(" ", 1)[0]
            out[head] = line
        return out
    a, b = keyed(made), keyed(actual)
    for head in a.keys() & b.keys():
        if a[head] == b[head]:
            continue
        fix = _roundtrip_check if head.startswith("CONSTRAINT ") else _roundtrip_default
        a[head], b[head] = (_attempt(db, scratch, fix, line, table) or line
                            for line in (a[head], b[head]))
    return ("\n".join(a.values()), "\n".join(b.values()))


_TMP = "compounding_roundtrip"


def _attempt(db: Database, scratch: str, fn, text: str, *args) -> str | None:
    """``fn(db, text, *args)`` inside its own savepoint (rolled back: the scratch schema is
    left as it was), the scratch schema's name taken out of what it returns; None when the
    server refuses the text."""
    try:
        with savepoint(db):
            got = fn(db, text, *args)
            raise _Undo(got)
    except _Undo as undo:
        return None if undo.made is None else _unqualified(undo.made, scratch)
    except psycopg.Error:
        return None


def _roundtrip_check(db: Database, line: str, table: str) -> str | None:
    """A table's ``CONSTRAINT name CHECK (...)`` line, the check added again."""
    name, definition = line[len("CONSTRAINT "):].split(" ", 1)
    if not definition.startswith("CHECK "):
        return None  # keys and foreign keys print as declared
    db.pg.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {_TMP} {definition}')
    got = db.pg.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                        "conrelid = to_regclass(%s) AND conname = %s",
                        [f'"{table}"', _TMP]).fetchone()
    return f"CONSTRAINT {name} {got[0]}" if got else None


_COLUMN = re.compile(r"^(?P<head>.*?) DEFAULT (?P<expr>.*?)(?P<tail> IDENTITY \w)?$", re.S)


def _roundtrip_default(db: Database, line: str, table: str) -> str | None:
    """A table's column line, its DEFAULT expression set again."""
    m = _COLUMN.match(line)
    if not m:
        return None
    column = line.split(" ", 1)[0]
    db.pg.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT {m["expr"]}')
    got = db.pg.execute(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = to_regclass(%s) "
        "AND a.attname = %s", [f'"{table}"', column]).fetchone()
    return f"{m['head']} DEFAULT {got[0]}{m['tail'] or ''}" if got else None


def _roundtrip_view(db: Database, text: str) -> str | None:
    """A view's query, made a view again."""
    db.pg.execute(f"CREATE VIEW {_TMP} AS {text.strip().rstrip(';')}")
    return db.pg.execute("SELECT pg_get_viewdef(to_regclass(%s))", [_TMP]).fetchone()[0]


_INDEX = re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+)( ON .*)$", re.S)


def _roundtrip_index(db: Database, text: str) -> str | None:
    """``CREATE [UNIQUE] INDEX name ON ...``, made again under another name."""
    m = _INDEX.match(text)
    if not m:
        return None
    db.pg.execute(f"{m[1]}{_TMP}{m[3]}")
    got = db.pg.execute("SELECT pg_get_indexdef(to_regclass(%s))", [_TMP]).fetchone()[0]
    return got.replace(f"INDEX {_TMP} ON", f"INDEX {m[2]} ON", 1)


_TRIGGER = re.compile(r"^(CREATE (?:CONSTRAINT )?TRIGGER )(\S+)( .*?)( \(disabled\))?$", re.S)


def _roundtrip_trigger(db: Database, text: str) -> str | None:
    """``CREATE TRIGGER name ... ON table ...``, made again under another name (its enabled
    state as it was: the suffix is kept, not round-tripped)."""
    m = _TRIGGER.match(text)
    if not m:
        return None
    db.pg.execute(f"{m[1]}{_TMP}{m[3]}")
    got = db.pg.execute("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = %s "
                        "AND NOT tgisinternal", [_TMP]).fetchone()[0]
    return got.replace(f"TRIGGER {_TMP} ", f"TRIGGER {m[2]} ", 1) + (m[4] or "")


def _squash(sql: str) -> str:
    return " ".join(sql.split())


class _Undo(Exception):
    """Leaves the savepoint by rolling it back, carrying what was read."""

    def __init__(self, made):
        self.made = made


def _in_transaction(db: Database) -> bool:
    return db.pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
