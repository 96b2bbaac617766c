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

The copy speaks to both ends through the store core and the backend seam
(:mod:`.sqlite`: ``load_order``, ``iter_rows``, ``insert_many``, ``read_snapshot``,
``suspended_triggers``): a PostgreSQL backend provides the same functions (triggers
suspended with ``SET LOCAL session_replication_role = replica``), and the copy runs
between any two.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from ..errors import RefusedError, StoreError
from . import sqlite as backend
from .audit import verify
from .core import StoreCore
from .migrations import SITE_TABLES
from .records import RECORD_KEYS

#: Tables the copy leaves alone: the migration bookkeeping (the target has its own, and
#: the same migrations applied is a precondition).
NOT_COPIED = frozenset({"_sqlite_migrations"})


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


def check_source(src: StoreCore) -> None:
    """Refuse a source whose schema is not up to date or which does not verify."""
    pending = src.pending_migrations()
    if pending:
        n = len(pending)
        raise RefusedError(f"--from {src.path}: its schema is not up to date ({n} migration"
                           f"{'s' if n != 1 else ''} pending); run compounding db migrate "
                           f"--db {src.path} first (nothing was copied)")
    problems = verify(src)
    if problems:
        raise RefusedError(f"--from {src.path} does not verify ({_problems(problems)}; the "
                           f"first: {problems[0]}); run compounding db verify (nothing was "
                           "copied)")


def copy_store(src: StoreCore, dst: StoreCore, *, actor: str | None = None) -> dict:
    """Copy every row of ``src`` into the empty store ``dst`` in one transaction of ``dst``.

    Returns ``{"from", "to", "sites", "counts": {table: rows}, "audit_entries"}`` (counts of
    the rows copied; the copy's own audit entry on ``dst`` comes after them). Raises
    :class:`RefusedError` (one line, nothing copied) for a source that is not up to date or
    does not verify, different schemas, or a target that already holds records;
    :class:`StoreError` when the copy does not verify at the target (rolled back).
    """
    check_source(src)
    mine = [m["name"] for m in src.applied_migrations()]
    theirs = [m["name"] for m in dst.applied_migrations()]
    if mine != theirs:
        raise RefusedError(f"--to {dst.path}: its schema differs from --from {src.path}'s "
                           "(migrate both with this version of compounding; nothing was "
                           "copied)")
    counts: dict[str, int] = {}
    with dst.write():  # the target's write lock for the whole copy; one transaction
        if holds_records(dst):
            _refuse_nonempty(src, dst)
        with backend.read_snapshot(src.db), backend.suspended_triggers(dst.db):
            for table in backend.load_order(src.db):
                if table in NOT_COPIED:
                    continue
                cols = [c for c, _ in backend.columns(src.db, table)]
                n = 0
                for rows in backend.iter_rows(src.db, table, cols):
                    with dst.database_errors():
                        backend.insert_many(dst.db, table, cols, rows)
                    n += len(rows)
                counts[table] = n
        for table, n in counts.items():
            there = dst.scalar(f"SELECT COUNT(*) FROM {table}")
            if there != n:
                raise StoreError(f"copy: {table} has {there} rows at {dst.path}, {n} were "
                                 "copied; the copy was rolled back")
        problems = verify(dst)
        if problems:
            raise StoreError(f"copy: the copy does not verify at {dst.path} "
                             f"({_problems(problems)}; the first: {problems[0]}); it was "
                             "rolled back")
        sites = sites_in(dst)
        dst.audit("db.copy", actor or _os_user(),
                  {"from": str(src.path), "sites": sites, "counts": counts})
    return {"from": str(src.path), "to": str(dst.path), "sites": sites, "counts": counts,
            "audit_entries": counts.get("audit_log", 0)}


def _problems(problems: list) -> str:
    return f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")


def _refuse_nonempty(src: StoreCore, dst: StoreCore) -> None:
    theirs = sites_in(dst)
    same = sorted(set(sites_in(src)) & set(theirs))
    if same:
        raise RefusedError(f"--to {dst.path} already holds records of site "
                           f"{', '.join(same)}; copying would double them (nothing was "
                           "copied)")
    raise RefusedError(f"--to {dst.path} already holds records"
                       + (f" (site {', '.join(theirs)})" if theirs else "")
                       + "; merging two stores is not supported yet: copy into a new file "
                       "or an empty store (nothing was copied)")


def _os_user() -> str:
    try:
        return getpass.getuser() or "system"
    except (KeyError, OSError):
        return "system"


def copy_to_path(src: StoreCore, dest, *, clock=None, actor: str | None = None) -> dict:
    """:func:`copy_store` into the SQLite file ``dest``: an existing store there is copied
    into (if it holds no records); a new file is built as ``DEST.partial-PID`` beside it and
    linked to ``dest`` only once complete and verified, so a copy killed half-way never
    leaves a ``dest`` that looks like a store and is not one (a stale ``.partial-`` file
    may remain; delete it). Raises as :func:`copy_store`."""
    from ..outputs import check_output

    dest = Path(dest)
    # never the source, its -wal/-shm/-journal, a link, a directory or a device; an
    # existing file is copied into only if it is a store holding no records
    check_output(dest, protect=[src.path], force=True, field="--to")
    if dest.exists():
        try:
            dst = StoreCore.open(dest, clock=clock)
        except StoreError as exc:
            raise StoreError(f"--to: {exc}") from None
        try:
            return copy_store(src, dst, actor=actor)
        finally:
            dst.close()
    check_source(src)  # before anything is created
    if not dest.parent.is_dir():
        raise StoreError(f"--to: directory {dest.parent} does not exist")
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)  # left by an earlier process of this id
    try:
        dst = StoreCore.open(partial, clock=clock)
        try:
            result = copy_store(src, dst, actor=actor)
            backend.checkpoint(dst.db)
        finally:
            dst.close()
        backend.publish(partial, dest, "copy")
    finally:
        partial.unlink(missing_ok=True)
    result["to"] = str(dest)
    return result


