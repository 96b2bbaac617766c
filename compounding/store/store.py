"""The one place that touches SQLite: component lots, compounding records, audit trail.

Everything is on record, exactly and forever:
- amounts are exact decimal strings, computed with ``Decimal`` (never float);
- quantity on hand is derived (receipts minus weighings), never a number edited by hand;
- record tables are append-only and a batch keeps its formula snapshot and plan, enforced by
  triggers (``migrations.m002_immutability_triggers``), so plain SQL cannot rewrite history;
- every write also appends to ``audit_log``, a SHA-256 hash chain whose entries carry the
  digest of each record they wrote; :meth:`Store.verify` re-checks the chain and every record,
  so an edit made with the triggers dropped is still detected.

Transactions: every write runs in ``BEGIN IMMEDIATE`` (:meth:`Store.write`), which takes
SQLite's write lock up front and waits on the busy timeout. ``sqlite_utils``'
``db.atomic()`` starts a *deferred* transaction: two processes that both read and then
write inside one can fail at once with "database is locked" (SQLITE_BUSY_SNAPSHOT is not
retried by the busy handler). Nested writes use ``db.atomic()`` savepoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable

from sqlite_utils import Database

from ..dates import format_date
from .. import units as u
from ..errors import InputError, NotFoundError, RefusedError, StoreError
from . import lotid
from .migrations import BATCH_MUTABLE, GENESIS_HASH, USER_MUTABLE, migrations

#: Seconds a command waits for another process's write to finish before giving up.
BUSY_TIMEOUT_S = 60

#: Tables whose every row must be vouched for by an audit entry (see :meth:`Store.verify`),
#: with the natural key of each (rowids of tables without INTEGER PRIMARY KEY may change
#: on VACUUM, so they are not used as keys).
RECORD_KEYS = {
    "component_lots": ("id",),
    "lot_receipts": ("id",),
    "lot_ids": ("lot_id",),
    "batches": ("lot_id",),
    "batch_components": ("lot_id", "ingredient"),
    "batch_steps": ("lot_id", "step"),
    "weighings": ("id",),
    "label_prints": ("id",),
    # issue 7: users and sign-offs (signoff.py)
    "users": ("id",),
    "submissions": ("id",),
    "signatures": ("id",),
    "verifications": ("id",),
    "verification_checks": ("verification_id", "seq"),
    "batch_corrections": ("lot_id",),
}


def canonical(obj) -> str:
    """The JSON a digest is taken of: sorted keys, no spaces, Decimals as plain strings."""
    def default(o):
        if isinstance(o, Decimal):
            return u.plain(o)
        if hasattr(o, "isoformat"):
            return o.isoformat()
        if hasattr(o, "as_json"):
            return o.as_json()
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=default)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _system_clock() -> datetime:
    return datetime.now(timezone.utc)


def _dec(text) -> Decimal:
    return Decimal(str(text))


def to_unit(qty: u.Quantity, unit: str, density: u.Quantity | None, what: str) -> Decimal:
    """``qty`` expressed in ``unit`` (mg or mL); mass <-> volume only through a density."""
    target = u.q("1", unit)
    if qty.dim == target.dim:
        return qty.to(unit).value
    if density is None:
        raise InputError(f"{what}: {u.fmt(qty)} cannot be converted to {unit} "
                         "(no density in the ingredient catalogue)")
    mg_per_ml = density.to("mg/mL").value
    if qty.dim == "volume":  # mL x mg/mL = mg
        return qty.to("mL").value * mg_per_ml
    return qty.to("mg").value / mg_per_ml  # mg / (mg/mL) = mL


class Store:
    """The compounding database. Open it with :meth:`Store.open`."""

    def __init__(self, db: Database, path: str, clock: Callable[[], datetime] | None = None):
        self.db = db
        self.path = path
        self.clock = clock or _system_clock
        #: ``name -> passphrase``: when set (the CLI sets it), every person acting under a
        #: name is authenticated once per store (see :func:`.signoff.acting`).
        self.passphrase_source: Callable[[str], str] | None = None
        self._authenticated: set[str] = set()

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, path, *, clock: Callable[[], datetime] | None = None,
             migrate: bool = True) -> "Store":
        """Open (creating and migrating if needed) the database at ``path``.

        WAL journal, foreign keys on, a busy timeout so parallel commands wait. A missing or
        read-only directory, a file that is not a database, or a schema newer than this
        version raise a one-line :class:`StoreError` and leave the file untouched.
        """
        path = str(path)
        memory = path == ":memory:"
        if not memory:
            _check_location(Path(path))
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            db = Database(conn, execute_plugins=False)
            store = cls(db, path, clock)
            store._check_readable()
            store._check_not_newer()
            if not memory:
                db.enable_wal()
            conn.execute("PRAGMA foreign_keys = ON")
            if migrate:
                store.migrate()
            return store
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(_db_error(path, exc)) from None
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_readable(self):
        try:
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_db_error(self.path, exc)) from None

    def _check_not_newer(self):
        known = {m.name for m in migrations._migrations}
        applied = [m.name for m in migrations.applied(self.db)]
        unknown = [n for n in applied if n not in known]
        if unknown:
            raise StoreError(f"database {self.path} has a newer schema than this version of "
                             f"compounding knows (migration {unknown[0]}); upgrade compounding "
                             "(the file was not changed)")

    def pending_migrations(self) -> list[str]:
        return [m.name for m in migrations.pending(self.db)]

    def migrate(self) -> list[str]:
        """Apply pending migrations; return their names. Safe with concurrent processes."""
        if not self.pending_migrations():
            return []
        with self.write():
            todo = self.pending_migrations()  # again, under the write lock
            migrations.apply(self.db)
        return todo

    def applied_migrations(self) -> list[dict]:
        return [{"name": m.name, "applied_at": m.applied_at}
                for m in migrations.applied(self.db)]

    # ------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def write(self):
        """A write transaction holding SQLite's write lock from the start (BEGIN IMMEDIATE);
        nested calls become ``db.atomic()`` savepoints."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(_db_error(self.path, exc)) from None
        try:
            yield self
        except BaseException:
            self.db.rollback()
            raise
        else:
            try:
                conn.execute("COMMIT")
            except BaseException:
                self.db.rollback()
                raise

    def now(self) -> datetime:
        return self.clock()

    def stamp(self) -> str:
        return utc_stamp(self.now())

    def today(self) -> date:
        """The pharmacy's calendar day (local time)."""
        return self.now().astimezone().date()

    def rows(self, sql: str, params=()) -> list[dict]:
        """Run a query and return every row as a dict (column name -> value)."""
        return self._rows(sql, params)

    def one(self, sql: str, params=()) -> dict | None:
        """Run a query and return its first row as a dict, or None."""
        return self._one(sql, params)

    def ref(self, table: str, *key) -> dict:
        """An audit reference to one record: table, key and the record's SHA-256 digest."""
        return self._ref(table, *key)

    def _rows(self, sql: str, params=()) -> list[dict]:
        cur = self.db.execute(sql, params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def _one(self, sql: str, params=()) -> dict | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def record_digest(self, table: str, key) -> str | None:
        cols = RECORD_KEYS[table]
        where = " AND ".join(f"{c} = ?" for c in cols)
        row = self._one(f"SELECT * FROM {table} WHERE {where}", list(key))
        if row is None:
            return None
        if table == "batches":
            for c in BATCH_MUTABLE:
                row.pop(c, None)
        elif table == "users":
            for c in USER_MUTABLE:
                row.pop(c, None)
        return sha256(canonical(row))

    def acting(self, by: str) -> str:
        """The canonical name of an active, unlocked user acting as ``by`` (issue 7)."""
        from .signoff import acting
        return acting(self, by)

    def _ref(self, table: str, *key) -> dict:
        return {"table": table, "key": list(key), "sha256": self.record_digest(table, key)}

    # ------------------------------------------------------------ audit log

    def audit(self, action: str, actor: str, details: dict, lot_id: str | None = None,
              records: list[dict] | None = None) -> dict:
        """Append one entry to the hash-chained audit log and return it."""
        _need_text(actor, "by")
        _need_text(action, "action")
        body = dict(details)
        if records:
            body["records"] = records
        with self.write():
            last = self._one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            entry = {"id": (last["id"] + 1) if last else 1, "at": self.stamp(),
                     "actor": actor.strip(), "action": action, "lot_id": lot_id,
                     "details": canonical(body),
                     "prev_hash": last["hash"] if last else GENESIS_HASH}
            entry["hash"] = audit_hash(entry)
            self.db.execute(
                "INSERT INTO audit_log (id, at, actor, action, lot_id, details, prev_hash, hash)"
                " VALUES (:id, :at, :actor, :action, :lot_id, :details, :prev_hash, :hash)",
                entry)
        return _audit_out(entry)

    def audit_log(self, lot_id: str | None = None, action: str | None = None,
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
        return [_audit_out(r) for r in self._rows(sql, params)]

    def verify(self) -> list[str]:
        """Re-check everything on record; return the problems (empty: all consistent).

        - ``PRAGMA integrity_check``;
        - the audit chain: each entry's hash and its link to the previous one;
        - each record an audit entry vouches for still has the digest recorded then;
        - every record row is vouched for by some audit entry (no row slipped in by SQL).
        """
        problems = []
        check = [r[0] for r in self.db.execute("PRAGMA integrity_check").fetchall()]
        if check != ["ok"]:
            problems.extend(f"integrity_check: {c}" for c in check)
        prev, expected_id = GENESIS_HASH, 1
        vouched: dict[str, set] = {t: set() for t in RECORD_KEYS}
        for row in self._rows("SELECT * FROM audit_log ORDER BY id"):
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
                if table in RECORD_KEYS and self.record_digest(table, key) != ref["sha256"]:
                    problems.append(f"{table} {'/'.join(map(str, key))}: record differs from "
                                    f"what audit entry {row['id']} recorded")
        for table, cols in RECORD_KEYS.items():
            for r in self.db.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall():
                if tuple(r) not in vouched[table]:
                    problems.append(f"{table} {'/'.join(map(str, r))}: not on the audit log")
        return problems

    # ------------------------------------------------------------ inventory

    def receive_lot(self, ingredient: str, lot_number: str, expires: date,
                    quantity: u.Quantity, by: str, potency_percent: Decimal = Decimal("100"),
                    manufacturer: str | None = None, today: date | None = None) -> dict:
        """Record a receipt of a component lot (a new lot, or more of a known one).

        ``quantity`` is a mass or a volume; it is kept in mg or mL exactly. A lot already on
        record must match in expiry, potency, manufacturer and unit. An expired lot is refused.
        """
        _need_text(ingredient, "ingredient")
        lot_number = _need_text(lot_number, "lot").strip()
        by = _need_text(by, "by").strip()
        quantity = u.parse(quantity, {u.MASS, u.VOLUME}, field="quantity")
        potency = _dec(potency_percent)
        if not Decimal("0") < potency <= Decimal("110"):
            raise InputError(f"potency: {u.plain(potency)}% must be above 0% and at most 110%")
        unit = "mg" if quantity.dim == "mass" else "mL"
        amount = quantity.to(unit).value
        today = today or self.today()
        if expires < today:
            raise RefusedError(f"lot {lot_number} of {ingredient} expired on "
                               f"{format_date(expires)}; it cannot be received into stock")
        manufacturer = manufacturer.strip() if manufacturer and manufacturer.strip() else None
        by = self.acting(by)  # issue 7: an active user (authenticated in the CLI)
        stamp = self.stamp()
        with self.write():
            lot = self._one("SELECT * FROM component_lots WHERE ingredient = ? AND lot_number = ?",
                            [ingredient, lot_number])
            records = []
            if lot is None:
                cur = self.db.execute(
                    "INSERT INTO component_lots (ingredient, lot_number, manufacturer, expires,"
                    " potency_percent, unit, created_by, created_at) VALUES (?,?,?,?,?,?,?,?)",
                    [ingredient, lot_number, manufacturer, expires.isoformat(), u.plain(potency),
                     unit, by, stamp])
                lot_id = cur.lastrowid
                records.append(self._ref("component_lots", lot_id))
                action = "inventory.receive"
            else:
                lot_id = lot["id"]
                diffs = []
                if lot["expires"] != expires.isoformat():
                    diffs.append(f"expiry {format_date(lot['expires'])}")
                if _dec(lot["potency_percent"]) != potency:
                    diffs.append(f"potency {lot['potency_percent']}%")
                if lot["unit"] != unit:
                    diffs.append(f"unit {lot['unit']}")
                if manufacturer is not None and lot["manufacturer"] not in (None, manufacturer):
                    diffs.append(f"manufacturer {lot['manufacturer']}")
                if diffs:
                    raise RefusedError(f"lot {lot_number} of {ingredient} is already on record "
                                       f"with {', '.join(diffs)}; a further receipt must match")
                action = "inventory.receive-more"
            cur = self.db.execute(
                "INSERT INTO lot_receipts (component_lot_id, quantity, received_as, received_by,"
                " received_at) VALUES (?,?,?,?,?)",
                [lot_id, u.plain(amount), u.fmt(quantity), by, stamp])
            records.append(self._ref("lot_receipts", cur.lastrowid))
            self.audit(action, by, {"ingredient": ingredient, "lot_number": lot_number,
                                    "quantity": quantity.as_json(),
                                    "expires": expires.isoformat(),
                                    "potency_percent": u.plain(potency),
                                    "manufacturer": manufacturer}, records=records)
        return self.lot(lot_id)

    _LOT_SQL = """
SELECT s.component_lot_id AS id, s.ingredient, s.lot_number, s.manufacturer, s.expires,
       l.potency_percent, s.unit, l.created_by AS received_by, l.created_at AS received_at
FROM stock_on_hand s JOIN component_lots l ON l.id = s.component_lot_id"""

    #: Exact sums in SQL: each decimal text becomes an integer count of 10^-6 units (exact
    #: for values below 10^9 with at most 6 decimals, which the GLOB checks); a lot with any
    #: finer value is summed in Python with Decimal instead.
    _SUMS = {
        "received": "SELECT component_lot_id, {n}, {fine} FROM lot_receipts"
                    " GROUP BY component_lot_id",
        "consumed": "SELECT component_lot_id, {n}, {fine} FROM weighings"
                    " WHERE component_lot_id IS NOT NULL GROUP BY component_lot_id",
        "reserved": "SELECT bc.component_lot_id, {n}, {fine} FROM batches b"
                    " JOIN batch_components bc ON bc.lot_id = b.lot_id"
                    " WHERE b.status = 'planned' AND NOT EXISTS (SELECT 1 FROM weighings w"
                    " WHERE w.lot_id = bc.lot_id AND w.component_lot_id = bc.component_lot_id)"
                    " GROUP BY bc.component_lot_id",
    }
    _SUM_COL = {"received": "quantity", "consumed": "consumed_quantity",
                "reserved": "bc.planned_quantity"}

    def _exact_totals(self) -> dict:
        out: dict[str, dict] = {}
        for key, sql in self._SUMS.items():
            col = self._SUM_COL[key]
            n = f"SUM(CAST(ROUND(CAST({col} AS REAL) * 1000000) AS INTEGER))"
            fine = (f"SUM({col} GLOB '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9]*'"
                    f" OR CAST({col} AS REAL) >= 1000000000)")
            out[key] = {lid: (Decimal(total) / 1000000 if not inexact else None)
                        for lid, total, inexact in
                        self.db.execute(sql.format(n=n, fine=fine)).fetchall()}
        return out

    def _lot_out(self, row: dict, today: date, totals: dict | None = None) -> dict:
        lid = row["id"]
        if totals is not None:
            got = [totals[k].get(lid, Decimal(0)) for k in ("received", "consumed", "reserved")]
            if all(x is not None for x in got):
                return self._lot_dict(row, today, *got)
        received = sum((_dec(r[0]) for r in self.db.execute(
            "SELECT quantity FROM lot_receipts WHERE component_lot_id = ?", [lid])), Decimal(0))
        consumed = sum((_dec(r[0]) for r in self.db.execute(
            "SELECT consumed_quantity FROM weighings WHERE component_lot_id = ?", [lid])),
            Decimal(0))
        reserved = sum((_dec(r[0]) for r in self.db.execute(
            "SELECT planned_quantity FROM batch_components bc JOIN batches b USING (lot_id)"
            " WHERE bc.component_lot_id = ? AND b.status = 'planned' AND NOT EXISTS"
            " (SELECT 1 FROM weighings w WHERE w.lot_id = bc.lot_id"
            "  AND w.component_lot_id = bc.component_lot_id)", [lid])), Decimal(0))
        return self._lot_dict(row, today, received, consumed, reserved)

    @staticmethod
    def _lot_dict(row: dict, today: date, received: Decimal, consumed: Decimal,
                  reserved: Decimal) -> dict:
        expires = date.fromisoformat(row["expires"])
        on_hand = received - consumed
        return {**row, "potency_percent": _dec(row["potency_percent"]),
                "received": received, "consumed": consumed, "on_hand": on_hand,
                "reserved": reserved, "available": on_hand - reserved,
                "days_to_expiry": (expires - today).days, "expired": expires < today}

    def candidate_lots(self, ingredient: str, day: date) -> "LazyLots":
        """Unexpired lots of ``ingredient`` that may have stock, earliest expiry first, for
        picking. The SQL filter uses the ``lot_stock`` totals only to skip empty lots; each
        lot's exact Decimal stock is computed when the picker looks at it, so a batch on a
        ten-year database reads a few lots, not every lot ever received."""
        rows = self._rows(
            self._LOT_SQL + " LEFT JOIN lot_stock ls ON ls.component_lot_id = l.id"
            " WHERE l.ingredient = ? AND l.expires >= ?"
            " AND COALESCE(ls.received, 0) - COALESCE(ls.consumed, 0) > 0.000000001"
            " ORDER BY l.expires, l.lot_number", [ingredient, day.isoformat()])
        return LazyLots(self, rows, day)

    def lot(self, component_lot_id: int, today: date | None = None) -> dict:
        row = self._one(self._LOT_SQL + " WHERE s.component_lot_id = ?", [component_lot_id])
        if row is None:
            raise NotFoundError(f"no component lot with id {component_lot_id}")
        return self._lot_out(row, today or self.today())

    def lots(self, ingredient: str | None = None, expiring_within: int | None = None,
             today: date | None = None, include_empty: bool = True,
             lot_number: str | None = None) -> list[dict]:
        """Component lots with stock on hand (Decimal), earliest expiry first.

        ``expiring_within=N``: only lots whose expiry is at most N days after ``today``
        (expired lots included). ``include_empty=False`` leaves out lots with nothing on hand.
        """
        today = today or self.today()
        where, params = [], []
        if ingredient is not None:
            where.append("s.ingredient = ?")
            params.append(ingredient)
        if lot_number is not None:
            where.append("s.lot_number = ?")
            params.append(lot_number)
        if expiring_within is not None:
            if int(expiring_within) < 0:
                raise InputError("expiring-within: give a number of days, 0 or more")
            where.append("s.expires <= date(?, '+' || ? || ' days')")
            params += [today.isoformat(), int(expiring_within)]
        sql = self._LOT_SQL
        if not include_empty:
            # skip used-up lots in SQL (lot_stock totals); the exact Decimal check follows
            sql += " LEFT JOIN lot_stock ls ON ls.component_lot_id = l.id"
            where.append("COALESCE(ls.received, 0) - COALESCE(ls.consumed, 0) > 0.000000001")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.expires, s.ingredient, s.lot_number"
        rows = self._rows(sql, params)
        if len(rows) <= 50:
            out = [self._lot_out(r, today) for r in rows]
        else:  # many lots: the same exact totals from three grouped queries
            totals = self._exact_totals()
            out = [self._lot_out(r, today, totals) for r in rows]
        if not include_empty:
            out = [r for r in out if r["on_hand"] > 0]
        return out

    def find_lot(self, ingredient: str, lot_number: str) -> dict:
        """The lot ``lot_number`` of ``ingredient``; a lot of that number that belongs to
        another ingredient is refused by name."""
        rows = self.lots(lot_number=lot_number)
        for r in rows:
            if r["ingredient"] == ingredient:
                return r
        if rows:
            others = ", ".join(sorted(r["ingredient"] for r in rows))
            raise RefusedError(f"lot {lot_number} is {others}, not {ingredient}")
        raise NotFoundError(f"no lot {lot_number} of {ingredient} on record "
                            f"(receive it first: compounding inventory receive)")

    # ------------------------------------------------------------ lot IDs

    def allocate_lot_id(self, by: str, day: date | None = None) -> str:
        """Allocate the next batch lot ID for ``day`` in its own committed transaction.

        The allocation is permanent: a batch that then fails to save leaves a gap, never a
        reused ID (the ``lot_ids`` table is append-only).
        """
        day = day or self.today()
        by = self.acting(by)
        with self.write():
            seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM lot_ids WHERE day = ?",
                                  [day.isoformat()]).fetchone()[0]
            if seq > lotid.MAX_PER_DAY:
                raise StoreError(f"no lot IDs left for {format_date(day)} "
                                 f"({lotid.MAX_PER_DAY} batches a day)")
            lot = lotid.make_lot_id(day, seq)
            self.db.execute("INSERT INTO lot_ids (lot_id, day, seq, allocated_by, allocated_at)"
                            " VALUES (?,?,?,?,?)", [lot, day.isoformat(), seq, by, self.stamp()])
            self.audit("lot-id.allocate", by, {"lot_id": lot}, lot_id=lot,
                       records=[self._ref("lot_ids", lot)])
        return lot

    # ------------------------------------------------------------ batches

    def create_batch(self, formula, catalogue, settings, order, *, by: str,
                     formula_sha256: str, component_lots: dict[str, str] | None = None,
                     storage: str | None = None, compounded: date | None = None,
                     corrects: str | None = None, reason: str | None = None) -> dict:
        """Plan and record a new batch; see :mod:`compounding.store.batches`. ``corrects``:
        the rejected or quarantined batch this one corrects (with ``reason``)."""
        from .batches import create_batch
        return create_batch(self, formula, catalogue, settings, order, by=by,
                            formula_sha256=formula_sha256, component_lots=component_lots or {},
                            storage=storage, compounded=compounded, corrects=corrects,
                            reason=reason)

    def _batch_row(self, lot_id: str) -> dict:
        row = self._one("SELECT * FROM batches WHERE lot_id = ?", [lot_id])
        if row is None:
            raise NotFoundError(f"no batch with lot ID {lot_id}")
        return row

    def get_batch(self, lot_id: str) -> dict:
        """The full compounding record of one batch (JSON-ready)."""
        lot_id = lotid.validate_lot_id(lot_id)
        row = self._batch_row(lot_id)
        out = {k: row[k] for k in ("lot_id", "formula_id", "formula_version", "formula_sha256",
                                   "dosage_form", "strength", "quantity", "units_made",
                                   "storage", "compounded_on", "bud", "status",
                                   "compounded_by", "created_at")}
        out["formula_snapshot"] = json.loads(row["formula_snapshot"])
        out["catalogue_snapshot"] = json.loads(row["catalogue_snapshot"])
        out["order"] = json.loads(row["order_json"])
        out["plan"] = json.loads(row["plan_json"])
        out["bud_result"] = json.loads(row["bud_json"])
        out["components"] = self.batch_components(lot_id)
        out["steps"] = self.batch_steps(lot_id)
        out["weighings"] = self.weighings(lot_id)
        weighed = {w["step"] for w in out["weighings"]}
        out["steps_pending"] = [s["step"] for s in out["steps"] if s["step"] not in weighed]
        out["label_prints"] = self.label_prints(lot_id)
        out["status_history"] = self._rows(
            "SELECT old_status, new_status, changed_at FROM batch_status_history"
            " WHERE lot_id = ? ORDER BY id", [lot_id])
        from . import signoff  # issue 7: sign-offs and correction links
        out["signatures"] = signoff.signatures(self, lot_id=lot_id)
        out["verifications"] = signoff.verifications(self, lot_id)
        out.update(signoff.corrections(self, lot_id))
        return out

    def batch_components(self, lot_id: str) -> list[dict]:
        return self._rows(
            "SELECT bc.ingredient, l.lot_number, l.manufacturer, l.expires, l.potency_percent,"
            " bc.planned_quantity, bc.unit, bc.chosen, bc.component_lot_id"
            " FROM batch_components bc JOIN component_lots l ON l.id = bc.component_lot_id"
            " WHERE bc.lot_id = ? ORDER BY bc.ingredient", [lot_id])

    def batch_steps(self, lot_id: str) -> list[dict]:
        return self._rows("SELECT step, what, ingredient, quantity, unit FROM batch_steps"
                          " WHERE lot_id = ? ORDER BY step", [lot_id])

    def list_batches(self, status: str | None = None) -> list[dict]:
        """Batches (the ``batch_summary`` view), newest first, optionally of one status."""
        from .migrations import STATUSES
        if status is not None and status not in STATUSES:
            raise InputError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        sql = "SELECT * FROM batch_summary"
        params = []
        if status is not None:
            sql += " WHERE status = ?"
            params.append(status)
        return self._rows(sql + " ORDER BY lot_id DESC", params)

    def set_status(self, lot_id: str, status: str, by: str, details: dict | None = None) -> dict:
        """Change a batch's status and audit it (the sign-off workflow builds on this)."""
        from .migrations import STATUSES
        if status not in STATUSES:
            raise InputError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        with self.write():
            row = self._batch_row(lot_id)
            if row["status"] != status:
                self._update_batch(lot_id, status=status)
                self.audit("batch.status", by, {"from": row["status"], "to": status,
                                                 **(details or {})}, lot_id=lot_id)
        return self._batch_row(lot_id)

    def _update_batch(self, lot_id: str, **values):
        bad = set(values) - set(BATCH_MUTABLE)
        if bad:
            raise StoreError(f"batches: {', '.join(sorted(bad))} cannot change")
        sets = ", ".join(f"{k} = ?" for k in values)
        try:
            self.db.execute(f"UPDATE batches SET {sets} WHERE lot_id = ?",
                            [*values.values(), lot_id])
        except sqlite3.IntegrityError as exc:
            raise RefusedError(str(exc)) from None

    # ------------------------------------------------------------ weighings

    def record_weighing(self, lot_id: str, *, amount: u.Quantity, by: str,
                        step: int | None = None, ingredient: str | None = None,
                        component_lot: str | None = None, deviation_reason: str | None = None,
                        reweigh_reason: str | None = None, today: date | None = None) -> dict:
        """Record one plan line as weighed; see :mod:`compounding.store.batches`."""
        from .batches import record_weighing
        return record_weighing(self, lotid.validate_lot_id(lot_id), amount=amount, by=by,
                               step=step, ingredient=ingredient, component_lot=component_lot,
                               deviation_reason=deviation_reason,
                               reweigh_reason=reweigh_reason, today=today)

    def weighings(self, lot_id: str) -> list[dict]:
        return self._rows(
            "SELECT w.id, w.step, w.what, w.ingredient, l.lot_number AS component_lot,"
            " w.planned_quantity, w.planned_unit, w.quantity, w.unit, w.consumed_quantity,"
            " l.unit AS consumed_unit, w.deviation_percent, w.deviation_reason,"
            " w.reweigh_reason, w.weighed_by, w.weighed_at"
            " FROM weighings w LEFT JOIN component_lots l ON l.id = w.component_lot_id"
            " WHERE w.lot_id = ? ORDER BY w.id", [lot_id])

    # ------------------------------------------------------------ labels

    def record_label_print(self, lot_id: str, kind: str, template_id: str,
                           template_version: int, template_sha256: str, copies: int,
                           pdf_sha256: str, output_path: str, by: str,
                           patient: str | None = None, rx_number: str | None = None,
                           prescriber: str | None = None, directions: str | None = None,
                           dispensed_quantity: str | None = None) -> dict:
        """Record a label print; a second print of the same batch and kind is a reprint."""
        lot_id = lotid.validate_lot_id(lot_id)
        by = self.acting(by)
        _need_text(kind, "kind")
        if int(copies) < 1:
            raise InputError("copies: must be 1 or more")
        with self.write():
            self._batch_row(lot_id)
            reprint = self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM label_prints WHERE lot_id = ? AND kind = ?)",
                [lot_id, kind]).fetchone()[0]
            values = {"lot_id": lot_id, "kind": kind, "template_id": template_id,
                      "template_version": int(template_version),
                      "template_sha256": template_sha256, "copies": int(copies),
                      "pdf_sha256": pdf_sha256, "output_path": str(output_path),
                      "reprint": int(reprint), "patient": patient, "rx_number": rx_number,
                      "prescriber": prescriber, "directions": directions,
                      "dispensed_quantity": dispensed_quantity, "printed_by": by,
                      "printed_at": self.stamp()}
            try:
                cur = self.db.execute(
                    f"INSERT INTO label_prints ({', '.join(values)}) VALUES "
                    f"({', '.join(':' + k for k in values)})", values)
            except sqlite3.IntegrityError as exc:
                raise RefusedError(f"label print not recorded: {exc}") from None
            pid = cur.lastrowid
            self.audit("label.reprint" if reprint else "label.print", by,
                       {k: v for k, v in values.items() if k not in ("printed_by", "printed_at")},
                       lot_id=lot_id, records=[self._ref("label_prints", pid)])
        row = self._one("SELECT * FROM label_prints WHERE id = ?", [pid])
        row["reprint"] = bool(row["reprint"])
        return row

    def label_prints(self, lot_id: str) -> list[dict]:
        rows = self._rows("SELECT * FROM label_prints WHERE lot_id = ? ORDER BY id", [lot_id])
        for r in rows:
            r["reprint"] = bool(r["reprint"])
        return rows

    # ------------------------------------------------------------ recall

    def recall(self, component_lot: str, ingredient: str | None = None) -> list[dict]:
        """Every batch that used (weighed) or is planned to use component lot number
        ``component_lot``, with status, BUD and the patient labels printed for it."""
        sql = "SELECT * FROM lot_usage WHERE lot_number = ?"
        params = [component_lot]
        if ingredient is not None:
            sql += " AND ingredient = ?"
            params.append(ingredient)
        if not self.db.execute("SELECT 1 FROM component_lots WHERE lot_number = ?"
                               + (" AND ingredient = ?" if ingredient else ""),
                               params).fetchone():
            raise NotFoundError(f"no component lot {component_lot} on record")
        rows = self._rows(sql + " ORDER BY batch_lot_id, ingredient", params)
        for r in rows:
            # exact amounts (the view's are REAL for scripts)
            if r["basis"] == "weighed":
                r["quantity"] = sum((_dec(x[0]) for x in self.db.execute(
                    "SELECT consumed_quantity FROM weighings WHERE lot_id = ? AND "
                    "component_lot_id = ?", [r["batch_lot_id"], r["component_lot_id"]])),
                    Decimal(0))
            else:
                r["quantity"] = _dec(self.db.execute(
                    "SELECT planned_quantity FROM batch_components WHERE lot_id = ? AND "
                    "component_lot_id = ?", [r["batch_lot_id"], r["component_lot_id"]]
                ).fetchone()[0])
            r["dispensed"] = self._rows(
                "SELECT patient, rx_number, prescriber, dispensed_quantity, printed_at, kind"
                " FROM label_prints WHERE lot_id = ? AND (patient IS NOT NULL"
                " OR rx_number IS NOT NULL) ORDER BY id", [r["batch_lot_id"]])
        return rows

    # ------------------------------------------------------------ schema and backup

    def schema_sql(self) -> str:
        from .schema import schema_sql
        return schema_sql(self.db)

    def backup(self, dest) -> dict:
        """Copy the database with SQLite's online backup API (safe while others write)."""
        dest = Path(dest)
        if dest.exists():
            raise RefusedError(f"backup: {dest} already exists; choose a new file name")
        if not dest.parent.is_dir():
            raise StoreError(f"backup: directory {dest.parent} does not exist")
        try:
            target = sqlite3.connect(str(dest))
        except sqlite3.Error as exc:
            raise StoreError(f"backup: cannot create {dest}: {exc}") from None
        try:
            self.db.conn.backup(target)
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            counts = {t: target.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                      for t in ("component_lots", "batches", "weighings", "audit_log")}
        except sqlite3.Error as exc:
            target.close()
            dest.unlink(missing_ok=True)
            raise StoreError(f"backup to {dest} failed: {exc}") from None
        target.close()
        import getpass
        self.audit("db.backup", getpass.getuser() or "system", {"path": str(dest), "integrity_check": check})
        return {"path": str(dest), "bytes": dest.stat().st_size, "integrity_check": check,
                "counts": counts}


# ---------------------------------------------------------------- helpers

class LazyLots:
    """A sequence of lot rows whose exact stock (``Store._lot_out``) is computed on access."""

    def __init__(self, store: "Store", rows: list[dict], today: date):
        self._store, self._rows, self._today = store, rows, today
        self._done: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> dict:
        i = range(len(self._rows))[i]
        if i not in self._done:
            self._done[i] = self._store._lot_out(self._rows[i], self._today)
        return self._done[i]

    def __iter__(self):
        return (self[i] for i in range(len(self._rows)))


def audit_hash(entry: dict) -> str:
    body = {k: entry[k] for k in ("id", "at", "actor", "action", "lot_id", "details",
                                  "prev_hash")}
    return sha256(canonical(body))


def _audit_out(row: dict) -> dict:
    out = dict(row)
    out["details"] = json.loads(row["details"])
    return out


def _need_text(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field}: must not be empty")
    return value


def _check_location(path: Path) -> None:
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


def _db_error(path: str, exc: sqlite3.Error) -> str:
    msg = str(exc)
    if "file is not a database" in msg or "malformed" in msg:
        return f"{path} is not a compounding database or is corrupt ({msg}); it was not changed"
    if "readonly" in msg or "read-only" in msg:
        return f"database {path} is read-only ({msg})"
    if "locked" in msg or "busy" in msg:
        return (f"database {path} stayed locked by another process for more than "
                f"{BUSY_TIMEOUT_S} s ({msg})")
    return f"database {path}: {msg}"
