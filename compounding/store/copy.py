"""``compounding db copy``: a whole store copied into another (issue 20), for moving a
pharmacy's store to a new machine or into the group's database.

What it promises:

- **nothing half-written**: the whole copy is one write transaction on the target; a copy
  killed at any point (kill -9 included) leaves the target as it was, and a new SQLite file
  is built beside its name (``DST.partial-PID``) and appears under ``DST`` only complete;
- **nothing doubled**: a target that already holds records of a site being copied is
  refused; a target holding records of other sites only is refused too (merging two stores
  into one is not supported yet: integer ids and the two audit chains would collide), so a
  target must be new or an empty store;
- **nothing lost or changed**: every row of every table is copied as it is (same ids, same
  text), so each record's digest and the audit hash chain are the same on both ends and
  ``db verify`` passes on both; the source is verified first and the target before the
  transaction commits (a copy that would not verify is rolled back); the counts per table
  are checked and reported. The source is only read (its schema must be up to date).

An audit chain keyed with an HMAC key (issue 12) verifies only where the same key file is
available: the key is not in the database and is not copied (docs/deploy.md).

The copy speaks to each end through its own backend (:mod:`.sqlite` or :mod:`.postgres`:
``load_order``, ``columns``, ``iter_rows``, ``insert_many``, ``read_snapshot``,
``suspended_triggers``, ``checkpoint``), so it runs between any two: SQLite to SQLite,
SQLite to PostgreSQL, PostgreSQL to SQLite and PostgreSQL to PostgreSQL. On PostgreSQL the
source is read in one REPEATABLE READ snapshot, the target's triggers are disabled only
inside the copy's own transaction (``ALTER TABLE ... DISABLE TRIGGER`` needs the owner
role: copy into PostgreSQL as the owner that ran ``db migrate``), identity sequences are
moved past the copied ids, and both ends must sort text in byte order as SQLite does
(``LC_COLLATE 'C'``). Tables the triggers maintain (``lot_stock``, the derived totals) are
copied as they stand in the same snapshot as the rows they are derived from, so they agree;
``db verify`` checks them at the target before the commit. A PostgreSQL target's tables
are analyzed before the commit (planner statistics: without them the first queries after a
copy read whole tables).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from ..errors import RefusedError, StoreError
from .audit import SCHEMA_NOT_COMPARED, verify
from .bulk import backend_ops
from .core import StoreCore
from .migrations import SITE_TABLES
from .records import RECORD_KEYS

#: Tables the copy leaves alone: the migration bookkeeping (the target has its own, and
#: the same migrations applied is a precondition).
NOT_COPIED = frozenset({"_sqlite_migrations", "_pg_migrations"})


def sites_in(store: StoreCore) -> list[str]:
    """The sites that hold records in ``store`` (lot IDs, lots, batches, prints), sorted."""
    found: set[str] = set()
    for table in SITE_TABLES:
        found.update(store.column(f"SELECT DISTINCT site FROM {table}"))
    return sorted(found)


def holds_records(store: StoreCore) -> bool:
    """True when ``store`` holds any record or audit entry (a new store holds none)."""
    return any(store.scalar(f"SELECT 1 FROM {t} LIMIT 1") is not None
               for t in (*RECORD_KEYS, "audit_log"))


def check_source(src: StoreCore) -> list[str]:
    """Refuse a source whose schema is not up to date or which does not verify. Returns the
    warnings: the one problem a source may have and still be copied, a PostgreSQL schema
    "not compared" because the role reading it (a site's service role) may not make the
    scratch schema. The source is only read; its records, audit chain and triggers are
    still checked, and the copy is verified in full at the target, whose schema this
    version's migrations made (attack s4 finding 8)."""
    pending = src.pending_migrations()
    if pending:
        n = len(pending)
        raise RefusedError(f"--from {_shown(src)}: its schema is not up to date ({n} "
                           f"migration{'s' if n != 1 else ''} pending); run compounding db "
                           f"migrate --db {_shown(src)} first (nothing was copied)")
    found = verify(src)
    warnings = [p for p in found if p.startswith(SCHEMA_NOT_COMPARED)]
    problems = [p for p in found if p not in warnings]
    if problems:
        raise RefusedError(f"--from {_shown(src)} does not verify ({_problems(problems)}; the "
                           f"first: {problems[0]}); run compounding db verify (nothing was "
                           "copied)")
    why = [w[len(SCHEMA_NOT_COMPARED):].split("; run db verify")[0] for w in warnings]
    return [f"--from {_shown(src)}: schema not compared ({w}); its records, audit chain "
            "and triggers were verified, and the copy is verified in full, schema "
            "included, at the target" for w in why]


def copy_store(src: StoreCore, dst: StoreCore, *, actor: str | None = None,
               source_warnings: list[str] | None = None) -> dict:
    """Copy every row of ``src`` into the empty store ``dst`` in one transaction of ``dst``.

    Returns ``{"from", "to", "sites", "counts": {table: rows}, "audit_entries",
    "warnings"}`` (counts of the rows copied; the copy's own audit entry on ``dst`` comes
    after them). Raises :class:`RefusedError` (one line, nothing copied) for a source that
    is not up to date or does not verify, different schemas, or a target that already holds
    records; :class:`StoreError` when the copy does not verify at the target (rolled back).
    ``source_warnings``: what :func:`check_source` returned when the caller already ran it
    (the source is verified once); None to run it here.
    """
    warnings = check_source(src) if source_warnings is None else source_warnings
    if hasattr(backend_ops(src), "same_store") and backend_ops(src) is backend_ops(dst) \
            and backend_ops(src).same_store(src.db, dst.db):
        raise RefusedError(f"--to {_shown(dst)} is the same database and schema as --from; "
                           "choose another target (nothing was copied)")
    for end, option in ((src, "--from"), (dst, "--to")):
        if hasattr(backend_ops(end), "check_byte_order"):
            backend_ops(end).check_byte_order(end.db, option)
    # the same migrations (as a set: the PostgreSQL mirror registers m017 after m020)
    mine = {m["name"] for m in src.applied_migrations()}
    theirs = {m["name"] for m in dst.applied_migrations()}
    if mine != theirs:
        differ = sorted(mine ^ theirs)
        raise RefusedError(f"--to {_shown(dst)}: its schema differs from --from "
                           f"{_shown(src)}'s (migration{'s' if len(differ) != 1 else ''} "
                           f"{', '.join(differ)} applied at one end only; migrate both with "
                           "this version of compounding; nothing was copied)")
    sb, tb = backend_ops(src), backend_ops(dst)
    counts: dict[str, int] = {}
    with dst.write():  # the target's write lock for the whole copy; one transaction
        if holds_records(dst):
            _refuse_nonempty(src, dst)
        tables = [t for t in sb.load_order(src.db) if t not in NOT_COPIED]
        there = {t for t in tb.load_order(dst.db) if t not in NOT_COPIED}
        if set(tables) != there:
            differ = sorted(set(tables) ^ there)
            raise RefusedError(f"--to {_shown(dst)}: tables differ from --from "
                               f"{_shown(src)}'s ({', '.join(differ)}; nothing was copied)")
        plan = []
        for table in tables:
            cols = [c for c, _ in sb.columns(src.db, table)]
            theirs_cols = {c for c, _ in tb.columns(dst.db, table)}
            if set(cols) != theirs_cols:
                differ = sorted(set(cols) ^ theirs_cols)
                raise RefusedError(f"--to {_shown(dst)}: table {table} has other columns "
                                   f"than at --from ({', '.join(differ)}; nothing was "
                                   "copied)")
            plan.append((table, cols))
        with sb.read_snapshot(src.db), tb.suspended_triggers(dst.db):
            for table, cols in plan:
                n = 0
                for rows in sb.iter_rows(src.db, table, cols):
                    with dst.database_errors():
                        tb.insert_many(dst.db, table, cols, rows)
                    n += len(rows)
                counts[table] = n
        for table, n in counts.items():
            there = dst.scalar(f"SELECT COUNT(*) FROM {table}")
            if there != n:
                raise StoreError(f"copy: {table} has {there} rows at {_shown(dst)}, {n} were "
                                 "copied; the copy was rolled back")
        if hasattr(tb, "analyze"):  # PostgreSQL: statistics for the planner (pg_copy.analyze)
            with dst.database_errors():
                tb.analyze(dst.db, list(counts))
        problems = verify(dst)
        if problems:
            raise StoreError(f"copy: the copy does not verify at {_shown(dst)} "
                             f"({_problems(problems)}; the first: {problems[0]}); it was "
                             "rolled back")
        sites = sites_in(dst)
        dst.audit("db.copy", actor or _os_user(),
                  {"from": _shown(src), "sites": sites, "counts": counts})
    return {"from": _shown(src), "to": _shown(dst), "sites": sites, "counts": counts,
            "audit_entries": counts.get("audit_log", 0), "warnings": warnings}


def _shown(store: StoreCore) -> str:
    """The store's path or URL as it may be shown (a URL's password as ``***``)."""
    redact = getattr(store.backend, "redact", None)
    return redact(store.path) if redact else str(store.path)


def _problems(problems: list) -> str:
    return f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")


def _refuse_nonempty(src: StoreCore, dst: StoreCore) -> None:
    theirs = sites_in(dst)
    same = sorted(set(sites_in(src)) & set(theirs))
    if same:
        raise RefusedError(f"--to {_shown(dst)} already holds records of site "
                           f"{', '.join(same)}; copying would double them (nothing was "
                           "copied)")
    raise RefusedError(f"--to {_shown(dst)} already holds records"
                       + (f" (site {', '.join(theirs)})" if theirs else "")
                       + "; merging two stores is not supported yet: copy into a new file "
                       "or an empty store (nothing was copied)")


def _os_user() -> str:
    try:
        return getpass.getuser() or "system"
    except (KeyError, OSError):
        return "system"


def copy_to_path(src: StoreCore, dest, *, clock=None, actor: str | None = None) -> dict:
    """:func:`copy_store` into ``dest``: a ``postgresql://`` URL (a new database is migrated
    once the source has verified, so connect as its owner role; a copy refused after that
    leaves it migrated and empty), or
    the SQLite file ``dest``: an existing store there is copied into (if it holds no
    records); a new file is built as ``DEST.partial-PID`` beside it and
    linked to ``dest`` only once complete and verified, so a copy killed half-way never
    leaves a ``dest`` that looks like a store and is not one (a stale ``.partial-`` file
    may remain; delete it). The source is verified once, before anything is created or
    migrated. Raises as :func:`copy_store`."""
    from ..outputs import check_output
    from .core import backend_for
    from . import sqlite

    if backend_for(str(dest)) is not sqlite:
        try:  # reached, but not migrated before the source is known to be good
            dst = StoreCore.open(str(dest), clock=clock, migrate=False)
        except StoreError as exc:
            raise StoreError(f"--to: {exc}") from None
        try:
            warnings = check_source(src)
            try:
                with dst.database_errors():
                    dst.migrate()
            except StoreError as exc:
                raise StoreError(f"--to: {exc}") from None
            return copy_store(src, dst, actor=actor, source_warnings=warnings)
        finally:
            dst.close()
    dest = Path(dest)
    protect = [src.path] if src.backend is sqlite else []
    # never the source, its -wal/-shm/-journal, a link, a directory or a device; an
    # existing file is copied into only if it is a store holding no records
    check_output(dest, protect=protect, force=True, field="--to")
    if dest.exists():
        try:
            dst = StoreCore.open(dest, clock=clock)
        except StoreError as exc:
            raise StoreError(f"--to: {exc}") from None
        try:
            return copy_store(src, dst, actor=actor)
        finally:
            dst.close()
    warnings = check_source(src)  # before anything is created; the only time
    if not dest.parent.is_dir():
        raise StoreError(f"--to: directory {dest.parent} does not exist")
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)  # left by an earlier process of this id
    try:
        dst = StoreCore.open(partial, clock=clock)
        try:
            result = copy_store(src, dst, actor=actor, source_warnings=warnings)
            backend_ops(dst).checkpoint(dst.db)
        finally:
            dst.close()
        sqlite.publish(partial, dest, "copy")
    finally:
        partial.unlink(missing_ok=True)
    result["to"] = str(dest)
    return result


