"""The audit trail read back: listing entries and verifying the whole database.

The audit log is appended by the core (:meth:`.core.StoreCore.audit`), one hash-chained
entry per action, each carrying the digest of every record it wrote. :func:`verify`
re-checks the chain and every record of :data:`.records.RECORD_KEYS`, so an edit made with
the triggers dropped is still detected.

Owns the table ``audit_log`` (appended only by the core).
"""

from __future__ import annotations

import json

from . import sqlite as backend
from .core import StoreCore, audit_entry, audit_hash
from .migrations import GENESIS_HASH
from .records import RECORD_KEYS


def audit_log(store: StoreCore, lot_id: str | None = None, action: str | None = None,
              actor: str | None = None, since: str | None = None,
              limit: int | None = None) -> list[dict]:
    """Audit entries, oldest first, filtered by batch, action, actor, time (UTC ISO)."""
    where, params = [], []
    for col, val in (("lot_id", lot_id), ("action", action), ("actor", actor)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    sql = "SELECT * FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id"
    if limit is not None:
        sql = f"SELECT * FROM ({sql} DESC LIMIT ?) ORDER BY id"
        params.append(int(limit))
    return [audit_entry(r) for r in store.rows(sql, params)]


def verify(store: StoreCore) -> list[str]:
    """Re-check everything on record; return the problems (empty: all consistent).

    - the database's own integrity check (SQLite: ``PRAGMA integrity_check``);
    - the audit chain: each entry's hash and its link to the previous one;
    - each record an audit entry vouches for still has the digest recorded then;
    - every record row is vouched for by some audit entry (no row slipped in by SQL).
    """
    problems = []
    check = backend.integrity_check(store.db)
    if check != ["ok"]:
        problems.extend(f"integrity_check: {c}" for c in check)
    prev, expected_id = GENESIS_HASH, 1
    vouched: dict[str, set] = {t: set() for t in RECORD_KEYS}
    for row in store.rows("SELECT * FROM audit_log ORDER BY id"):
        if row["id"] != expected_id:
            problems.append(f"audit_log: entry {expected_id} is missing")
        expected_id = row["id"] + 1
        if row["prev_hash"] != prev:
            problems.append(f"audit_log {row['id']}: does not chain to the entry before")
        if audit_hash(row) != row["hash"]:
            problems.append(f"audit_log {row['id']}: content does not match its hash")
        prev = row["hash"]
        for ref in json.loads(row["details"]).get("records", []):
            table, key = ref["table"], tuple(ref["key"])
            vouched.setdefault(table, set()).add(key)
            if table in RECORD_KEYS and store.record_digest(table, key) != ref["sha256"]:
                problems.append(f"{table} {'/'.join(map(str, key))}: record differs from "
                                f"what audit entry {row['id']} recorded")
    for table, cols in RECORD_KEYS.items():
        for row in store.rows(f"SELECT {', '.join(cols)} FROM {table}"):
            r = tuple(row[c] for c in cols)
            if r not in vouched[table]:
                problems.append(f"{table} {'/'.join(map(str, r))}: not on the audit log")
    return problems

