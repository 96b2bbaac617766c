"""The audit trail read back: listing entries and verifying the whole database.

The audit log is appended by the core (:meth:`.core.StoreCore.audit`), one hash-chained
entry per action, each carrying the digest of every record it wrote. :func:`verify`
re-checks the chain (keyed with HMAC-SHA256 since issue 12: :mod:`.audit_key`), every
record of :data:`.records.RECORD_KEYS` and the schema's triggers and views, so an edit made
with the triggers dropped is still detected; :func:`anchor` gives the head of the chain to
keep outside the database, so that removing the newest entries is detected too.

Owns the table ``audit_log`` (appended only by the core).
"""

from __future__ import annotations

import json

from datetime import datetime, timedelta

from ..errors import InputError, StoreError
from . import audit_key
from .bulk import backend_ops
from . import sqlite as backend
from .core import StoreCore, audit_entry, blobs_marked, chain_hash, row_digest
from .lifecycle_audit import Ledger
from .migrations import GENESIS_HASH, migrations
from .records import RECORD_KEYS

#: How far an audit entry's time may fall behind the entry before it without a warning
#: from ``db verify`` (issue 12): entries are appended one at a time under the write lock,
#: each stamped from its process's clock, so a later entry is never earlier except by a
#: clock correction (NTP steps are typically well under a second) or a clock moved back -
#: or an entry inserted out of place. 5 s leaves ordinary corrections alone.
CLOCK_TOLERANCE = timedelta(seconds=5)


def _when(stamp) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def _span(delta: timedelta) -> str:
    """``2 h 5 min 3 s`` (whole seconds, largest unit first; days when there are any)."""
    secs = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if secs >= size or (unit == "s" and not parts):
            parts.append(f"{secs // size} {unit}")
            secs %= size
    return " ".join(parts)


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


def verify(store: StoreCore, anchor: dict | None = None) -> list[str]:
    """The problems :func:`verify_report` finds (empty: all consistent)."""
    return verify_report(store, anchor)["problems"]


def verify_report(store: StoreCore, anchor: dict | None = None) -> dict:
    """Re-check everything on record (issue 12: what this proves and what it cannot is in
    docs/records.md). Returns ``{"problems": [str], "entries": int, "unkeyed": [first, last]
    or None, "keyed": [{"first", "last", "key_id"}], "key_file": str, "anchor": dict or
    None}``; ``problems`` empty means consistent.

    - the database's own integrity check (SQLite: ``PRAGMA integrity_check``);
    - every table, index, trigger and view the applied migrations make exists with the SQL
      they give it, and nothing else does (:func:`schema_problems`);
    - the audit chain: ids without gaps, each entry linked to the one before, each hash
      recomputed: HMAC-SHA256 with the audit key from where ``audit_keys`` says the keyed
      chain begins, plain SHA-256 before (entries written before the chain was keyed, kept
      as they were); a keyed entry that cannot be checked (no key file, another key) is a
      problem, never passed over;
    - each record an audit entry vouches for still has the digest recorded then, and every
      record row is vouched for by some entry (no row slipped in by SQL);
    - each batch's status history, status and BUD are what its audit entries made them
      (:mod:`.lifecycle_audit`: a change made with plain SQL is named with its batch);
    - with ``anchor`` (:func:`read_anchor`): the log still has at least the anchored number
      of entries and the entry at that position still has the anchored hash.

    ``warnings`` (not problems: they do not make the store inconsistent, but a person should
    look): an entry whose time is more than :data:`CLOCK_TOLERANCE` before the entry
    before it (``audit_log 42: its time ... is 2 h 0 min before entry 41's (...)``): the
    clock was moved back, or the entry was inserted; and an entry whose time cannot be
    read.
    """
    problems = []
    check = store.backend.integrity_check(store.db)
    if check != ["ok"]:
        problems.extend(f"integrity_check: {c}" for c in check)
    problems.extend(schema_problems(store))
    # Everything below reads one state of the database (a read transaction: services may
    # keep writing meanwhile, and a record added after the log was read is not reported as
    # missing from it); inside a copy's write transaction, that transaction.
    with store.database_errors(), backend_ops(store).read_snapshot(store.db):
        return _verify_records(store, anchor, problems)


def _verify_records(store: StoreCore, anchor: dict | None, problems: list[str]) -> dict:
    """The audit chain and the records, for :func:`verify_report`, in two passes: the log
    once (each entry's hash, and the digest each record reference carries), then each record
    table once, streamed (each row's digest compared with its references): two statements a
    table, not one per record (a ten-year store holds millions; on PostgreSQL each statement
    is a round trip). The problems come in the order a check per reference gave them: an
    entry's own, then its references', entry by entry."""
    segments = store.key_segments()
    key_path, key, key_problem = store.key_file(), None, None
    if segments:
        try:
            key_path, key = store.audit_key()
        except StoreError as exc:
            key_problem = str(exc)
    key_ids = {audit_key.key_id(key)} if key is not None else set()
    starts = [(s["keyed_from"], s["key_id"]) for s in segments]
    prev, expected_id, count = GENESIS_HASH, 1, 0
    unchecked: dict[str, list[int]] = {}
    keyed: list[dict] = []
    # what the entries say of each record: table -> key -> (entry id, position among the
    # entry's references, sha256), or a list of those for a record named by several entries
    expected: dict[str, dict] = {t: {} for t in RECORD_KEYS}
    chain: list[tuple] = []  # (entry id, position, problem); the entry's own at position 0
    ledger = Ledger()  # each batch's status and BUD changes (session 4, finding 4)
    warnings: list[str] = []
    last_at, last_id, last_stamp = None, None, None  # the entry before (issue 12: time)
    for row in store.rows("SELECT * FROM audit_log ORDER BY id"):
        count += 1
        at = _when(row["at"])
        if at is None:
            warnings.append(f"audit_log {row['id']}: its time {row['at']!r} cannot be read")
        else:
            if last_at is not None and at < last_at - CLOCK_TOLERANCE:
                warnings.append(
                    f"audit_log {row['id']}: its time {row['at']} is "
                    f"{_span(last_at - at)} before entry {last_id}'s ({last_stamp}): the "
                    "clock was moved back, or the entry was inserted; check both entries")
            last_at, last_id, last_stamp = at, row["id"], row["at"]
        if row["id"] != expected_id:
            chain.append((row["id"], 0, f"audit_log: entry {expected_id} is missing"))
        expected_id = row["id"] + 1
        if row["prev_hash"] != prev:
            chain.append((row["id"], 0,
                          f"audit_log {row['id']}: does not chain to the entry before"))
        prev = row["hash"]
        kid = _segment_key(starts, row["id"])
        if kid is None:
            ok = _entry_hash(row) == row["hash"]
        elif kid in key_ids:
            ok = _entry_hash(row, key) == row["hash"]
        else:
            unchecked.setdefault(kid, []).append(row["id"])
            ok = True
        if kid is not None:
            if keyed and keyed[-1]["key_id"] == kid:
                keyed[-1]["last"] = row["id"]
            else:
                keyed.append({"first": row["id"], "last": row["id"], "key_id": kid})
        if not ok:
            chain.append((row["id"], 0,
                          f"audit_log {row['id']}: content does not match its hash"))
        details, references, unreadable = _references(row["details"])
        if unreadable:
            chain.append((row["id"], 0, f"audit_log {row['id']}: its record references "
                                         f"cannot be read ({unreadable})"))
        ledger.add(row, details)
        for i, (table, key_cols, sha) in enumerate(references):
            refs = expected.get(table)
            if refs is None:
                continue  # a table whose records are not kept by digest (or unreadable)
            item = (row["id"], i + 1, sha)
            got = refs.get(key_cols)
            if got is None:
                refs[key_cols] = item
            elif isinstance(got, list):
                got.append(item)
            else:
                refs[key_cols] = [got, item]
    unvouched: list[str] = []
    for table, cols in RECORD_KEYS.items():
        refs = expected[table]
        names = [c for c, _ in store.backend.columns(store.db, table)]
        if not names:
            continue  # a table of a migration not applied yet
        at = [names.index(c) for c in cols]
        slipped: list[tuple] = []  # rows no entry names
        for batch in backend_ops(store).iter_rows(store.db, table, names):
            for values in batch:
                r = tuple(values[i] for i in at)
                got = refs.pop(r, None)
                if got is None:
                    slipped.append(r)
                    continue
                digest = _record_digest(table, dict(zip(names, values)))
                chain.extend((entry, i, _differs(table, r, entry))
                             for entry, i, sha in _each(got) if sha != digest)
        unvouched.extend(f"{table} {'/'.join(map(str, r))}: not on the audit log"
                         for r in _as_listed(store, table, cols, slipped))
        # named by an entry, and no longer there
        chain.extend((entry, i, _differs(table, r, entry))
                     for r, got in refs.items() for entry, i, _ in _each(got))
    chain.sort(key=lambda p: p[:2])  # stable: an entry's own problems keep their order
    problems.extend(p[2] for p in chain)
    for kid, ids in unchecked.items():
        why = key_problem or (f"there is no key file at {key_path}" if key is None else
                              f"the key at {key_path} is key {audit_key.key_id(key)}")
        problems.append(f"audit_log {ids[0]}-{ids[-1]}: keyed with key {kid}, which could "
                        f"not be checked: {why}")
    problems.extend(unvouched)
    problems.extend(ledger.problems(store))
    problems.extend(_registry_problems(store, key_path, key, starts, count))
    first_keyed = starts[0][0] if starts else None
    last_unkeyed = min(count, first_keyed - 1) if first_keyed else count
    anchored = None
    if anchor is not None:
        anchored = _check_anchor(store, anchor, count)
        problems.extend(anchored["problems"])
    return {"problems": problems, "warnings": warnings, "entries": count,
            "unkeyed": [1, last_unkeyed] if last_unkeyed >= 1 else None,
            "keyed": keyed, "key_file": str(key_path), "anchor": anchored}


def _as_listed(store: StoreCore, table: str, cols: tuple, keys: list[tuple]) -> list[tuple]:
    """``keys`` (rows of ``table`` no audit entry names) in the order ``SELECT cols FROM
    table`` lists them: the order ``db verify`` has always named them in (SQLite walks the
    table through a covering index, e.g. by site; the streamed read goes by rowid or primary
    key). One more statement, only for a table with two or more such rows (attack s5)."""
    if len(keys) < 2:
        return keys
    wanted, first = set(keys), {}
    cur = store.db.execute(f"SELECT {', '.join(cols)} FROM {table}")
    try:
        while len(first) < len(wanted):
            batch = cur.fetchmany(5000)
            if not batch:
                break
            for values in batch:
                r = tuple(values)
                if r in wanted and r not in first:
                    first[r] = len(first)
    finally:
        cur.close()
    return sorted(keys, key=lambda r: first.get(r, len(first)))


def _each(got) -> list | tuple:
    """The references of one record in ``expected``: one ``(entry, position, sha256)``, kept
    bare (most records are named once), or a list of them."""
    return got if isinstance(got, list) else (got,)


def _record_digest(table: str, row: dict) -> str:
    """:func:`.core.row_digest` of a record row as read: a BLOB put into one of its columns
    by plain SQL gives a digest that does not match (not a traceback; attack s5). Writing
    stays strict: the store never digests a BLOB it would write."""
    try:
        return row_digest(table, row)
    except TypeError:
        return row_digest(table, blobs_marked(row))


def _entry_hash(row: dict, key: bytes | None = None) -> str:
    """:func:`.core.chain_hash` of an ``audit_log`` row as read: a BLOB put into one of its
    columns by plain SQL gives a hash that does not match (not a traceback)."""
    try:
        return chain_hash(row, key)
    except TypeError:
        return chain_hash(blobs_marked(row), key)


#: The JSON types a record reference's key holds (one value a key column).
_KEY_VALUES = (str, int, float, type(None))


def _references(text) -> tuple[dict, list[tuple], str | None]:
    """An audit entry's details (parsed), the record references they carry (``(table, key
    tuple, sha256)``, in order; an unreadable reference is ``(None, (), None)``, so the
    positions of the others stay) and why any part cannot be read (None when all can).
    Details are written by :meth:`.core.StoreCore.audit` only; anything else is tampering
    or a damaged page (a flipped bit in a key name), which ``db verify`` names rather than
    stopping with a traceback (attack s5)."""
    try:
        details = json.loads(text)
    except (TypeError, ValueError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError
        return {}, [], f"the details are not JSON: {exc}"
    if not isinstance(details, dict):
        return {}, [], "the details are not a JSON object"
    records = details.get("records", [])
    if not isinstance(records, list):
        return details, [], "'records' is not a list"
    out, bad = [], []
    for i, ref in enumerate(records, start=1):
        table = ref.get("table") if isinstance(ref, dict) else None
        key = ref.get("key") if isinstance(ref, dict) else None
        if (not isinstance(table, str) or not isinstance(key, list)
                or not all(isinstance(k, _KEY_VALUES) for k in key)):
            out.append((None, (), None))
            bad.append(str(i))
        else:
            out.append((table, tuple(key), ref.get("sha256")))
    why = (f"reference{'s' if len(bad) > 1 else ''} {', '.join(bad)} of {len(records)} "
           "not a table name and a key") if bad else None
    return details, out, why


def _differs(table: str, key: tuple, entry: int) -> str:
    return (f"{table} {'/'.join(map(str, key))}: record differs from what audit entry "
            f"{entry} recorded")


def _registry_problems(store: StoreCore, key_path, key: bytes | None,
                       starts: list[tuple[int, str]], count: int) -> list[str]:
    """What the key's registry (:func:`.audit_key.register`, kept beside the key file and
    out of the database's reach) says against this database: it was keyed from entry N,
    yet its ``audit_keys`` no longer say so (the row deleted and the chain recomputed as
    plain SHA-256, which reads as a database from before the keyed chain). A database that
    verifies keyed and is not listed yet (keyed before the registry existed) is added."""
    ident = store.keyed_identity()
    if ident is None:
        return []
    first = store.one("SELECT at FROM audit_log WHERE id = 1")
    first_at = first["at"] if first else None
    mine = [r for r in audit_key.registrations(key_path, ident)
            if r.get("first_at") == first_at]
    out = []
    for r in mine:
        if count >= r["keyed_from"] and (r["keyed_from"], r.get("key_id")) not in starts:
            out.append(f"audit_keys: {audit_key.registry_path(key_path)} records this "
                       f"database as keyed from entry {r['keyed_from']} with key "
                       f"{r.get('key_id')}, but its audit_keys no longer say so: the keyed "
                       "chain was removed and recomputed without the key")
    if not out and key is not None and starts:
        listed = {(r["keyed_from"], r.get("key_id")) for r in mine}
        kid = audit_key.key_id(key)
        for keyed_from, key_id_ in starts:
            if key_id_ == kid and (keyed_from, key_id_) not in listed and count >= keyed_from:
                try:
                    audit_key.register(key_path, ident, first_at, keyed_from, key_id_)
                except StoreError:
                    pass  # a read-only config folder: the check is lost, nothing else
    return out


def _segment_key(starts: list[tuple[int, str]], entry_id: int) -> str | None:
    """The key id entry ``entry_id`` is keyed with (None: before the keyed chain)."""
    kid = None
    for keyed_from, key_id in starts:
        if entry_id >= keyed_from:
            kid = key_id
    return kid


#: How a PostgreSQL schema comparison the role in use may not make begins (a problem for
#: ``db verify``; a warning for ``db copy``'s source, which is only read).
SCHEMA_NOT_COMPARED = "schema: not compared: "


def schema_problems(store: StoreCore) -> list[str]:
    """Tables, indexes, triggers and views that differ from what the database's applied
    migrations make (derived by running those migrations on a scratch database, never from
    a kept copy): a missing one (a dropped trigger lets plain SQL rewrite history), one with
    other SQL (a trigger made toothless), and one no migration made."""
    applied = [m["name"] for m in store.applied_migrations()]
    if store.backend is not backend:
        # PostgreSQL (issue 20): the same comparison against a scratch schema the
        # migrations are run in (.pg_schema), grants and functions included
        from . import pg_schema
        try:
            expected, actual = pg_schema.compare(store.db, applied)
        except pg_schema.NotCompared as exc:
            return [f"{SCHEMA_NOT_COMPARED}this role may not create a scratch schema to run "
                    f"the migrations in ({exc}); run db verify as the owner role"]
    else:
        expected = backend.schema_as_migrated(migrations, applied)
        actual = backend.schema_objects(store.db)
    out, grants = [], []
    for (kind, name), sql in sorted(expected.items()):
        if (kind, name) not in actual:
            (grants if kind == "grants" else out).append(
                f"schema: {kind} {name} is missing (a migration made it)")
        elif _squash(actual[(kind, name)]) != _squash(sql):
            (grants if kind == "grants" else out).append(
                f"schema: {kind} {name} differs from what its migration made")
    for kind, name in sorted(set(actual) - set(expected)):
        (grants if kind == "grants" else out).append(
            f"schema: {kind} {name} was not made by any migration")
    if grants:  # PostgreSQL: one line, the objects named (they are usually many at once)
        names = [g.split(" ")[2] for g in grants]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5
                                        else "")
        out.append(f"schema: the group roles' privileges differ from what the migrations "
                   f"grant on {len(names)} object{'s' if len(names) != 1 else ''} ({shown});"
                   " compounding db migrate as the owner role grants them again")
    return out


def _squash(sql: str) -> str:
    return " ".join(sql.split())


# ---------------------------------------------------------------- anchors

#: The anchor file's format name (``db anchor``, ``db verify --anchor``).
ANCHOR_FORMAT = "compounding-audit-anchor"
#: An anchor file larger than this is not an anchor (read at most this many bytes).
ANCHOR_MAX_BYTES = 64 * 1024


def anchor(store: StoreCore) -> dict:
    """The audit log's head, to keep outside the database: ``{"format", "version",
    "database", "entries", "head", "taken_at"}`` (``entries``: the number of entries; ``head``:
    the hash of the last, 64 zeros when there is none). With a copy kept elsewhere,
    ``verify(anchor=...)`` proves no entry was removed since."""
    last = store.one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    # where, as it may be shown: a URL's password never goes into a file kept apart
    return {"format": ANCHOR_FORMAT, "version": 1, "database": str(store.where),
            "entries": last["id"] if last else 0,
            "head": last["hash"] if last else GENESIS_HASH, "taken_at": store.stamp()}


def read_anchor(path) -> dict:
    """The anchor in the file ``path`` (as :func:`anchor` made it). Raises
    :class:`InputError`, one line naming the file and the field, for anything else."""
    from pathlib import Path
    path = Path(path)
    where = f"anchor {path}"
    try:
        with open(path, "rb") as fh:
            data = fh.read(ANCHOR_MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{where}: cannot read it ({exc.strerror})") from None
    if len(data) > ANCHOR_MAX_BYTES:
        raise InputError(f"{where}: larger than {ANCHOR_MAX_BYTES:,} bytes; not an anchor "
                         "file (make one with `compounding db anchor --output FILE`)")
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"{where}: not an anchor file (JSON from `compounding db anchor` "
                         "expected)") from None
    if not isinstance(obj, dict) or obj.get("format") != ANCHOR_FORMAT:
        raise InputError(f"{where}: format: not {ANCHOR_FORMAT!r} (make one with "
                         "`compounding db anchor --output FILE`)")
    if obj.get("version") != 1 or isinstance(obj.get("version"), bool):
        raise InputError(f"{where}: version: {obj.get('version')!r}; this version reads 1")
    entries = obj.get("entries")
    if not isinstance(entries, int) or isinstance(entries, bool) or entries < 0:
        raise InputError(f"{where}: entries: {entries!r} is not a whole number of entries "
                         "(0 or more)")
    head = obj.get("head")
    if not isinstance(head, str) or len(head) != 64 or head.strip("0123456789abcdef"):
        raise InputError(f"{where}: head: not a digest (64 lowercase hex digits)")
    return {"entries": entries, "head": head, "taken_at": obj.get("taken_at"),
            "database": obj.get("database"), "file": str(path)}


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _check_anchor(store: StoreCore, anchored: dict, count: int) -> dict:
    n, head = anchored["entries"], anchored["head"]
    problems = []
    if n == 0:
        ok_head = head == GENESIS_HASH
    else:
        row = store.one("SELECT hash FROM audit_log WHERE id = ?", [n])
        ok_head = row is not None and row["hash"] == head
    if count < n:
        problems.append(f"anchor: the audit log has {count} entries; the anchor taken at "
                        f"{anchored.get('taken_at')} recorded {n}: entries were removed")
    elif not ok_head:
        problems.append(f"anchor: audit entry {n} does not have the hash anchored at "
                        f"{anchored.get('taken_at')}: the log was rewritten up to there")
    return {"entries": n, "head": head, "file": anchored.get("file"),
            "taken_at": anchored.get("taken_at"), "problems": problems}
