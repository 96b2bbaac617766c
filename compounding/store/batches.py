"""Batches: the compounding record's rows, its steps and components, status, lot IDs and
correction links.

A batch keeps its formula snapshot and plan forever (triggers of ``migrations``); only its
status and BUD change (:data:`.migrations.BATCH_MUTABLE`), through :func:`update_batch`.
Creating a batch is :mod:`.batch_create`; recording a weighing is :mod:`.weighings`; the
whole record of one batch, as the CLI shows it, is :mod:`.compounding_record`.

Owns the tables ``batches``, ``batch_components``, ``batch_steps``, ``lot_ids``,
``batch_status_history`` (kept by a trigger) and ``batch_corrections``.
"""

from __future__ import annotations

from datetime import date

from ..dates import format_date
from ..errors import InputError, NotFoundError, RefusedError, StoreError
from . import lotid
from .core import StoreCore
from .migrations import BATCH_MUTABLE, STATUSES
from .users import acting


def component_label(ingredient: str, lot: dict) -> str:
    """How a component lot is named in a BUD explanation: 'naltrexone-hcl lot ABC123'."""
    return f"{ingredient} lot {lot['lot_number']}"


def bud_json(bud) -> dict:
    """A BUD result as stored in ``batches.bud_json``: its JSON plus the explanation."""
    out = bud.as_json()
    out["explanation"] = bud.explain()
    return out


def batch_row(store: StoreCore, lot_id: str) -> dict:
    """The ``batches`` row of ``lot_id``; :class:`NotFoundError` when there is none."""
    row = store.one("SELECT * FROM batches WHERE lot_id = ?", [lot_id])
    if row is None:
        raise NotFoundError(f"no batch with lot ID {lot_id}")
    return row


def update_batch(store: StoreCore, lot_id: str, **values):
    """Change the mutable columns of a batch (status, BUD); any other column is a
    :class:`StoreError`, and a transition the triggers refuse a :class:`RefusedError`."""
    bad = set(values) - set(BATCH_MUTABLE)
    if bad:
        raise StoreError(f"batches: {', '.join(sorted(bad))} cannot change")
    sets = ", ".join(f"{k} = ?" for k in values)
    with store.refusing():
        store.execute(f"UPDATE batches SET {sets} WHERE lot_id = ?",
                      [*values.values(), lot_id])


def batch_components(store: StoreCore, lot_id: str) -> list[dict]:
    return store.rows(
        "SELECT bc.ingredient, l.lot_number, l.manufacturer, l.expires, l.potency_percent,"
        " bc.planned_quantity, bc.unit, bc.chosen, bc.component_lot_id"
        " FROM batch_components bc JOIN component_lots l ON l.id = bc.component_lot_id"
        " WHERE bc.lot_id = ? ORDER BY bc.ingredient", [lot_id])


def batch_steps(store: StoreCore, lot_id: str) -> list[dict]:
    return store.rows("SELECT step, what, ingredient, quantity, unit FROM batch_steps"
                      " WHERE lot_id = ? ORDER BY step", [lot_id])


#: The largest listing limit taken (SQLite's LIMIT is a 64-bit integer: a 30-digit limit
#: must be refused, not crash).
MAX_LIMIT = 1_000_000_000


def list_batches(store: StoreCore, status: str | None = None,
                 limit: int | None = None, site: str | None = None) -> list[dict]:
    """Batches (the ``batch_summary`` view, plus each batch's ``site``), newest first,
    optionally of one status and one site (None: every site, issue 20); at most ``limit``
    of them (None: all). Within a site the newest come straight off the primary key (lot ID
    descending; or the status index), so a page costs the same on ten years of records as
    on one day's (issue 18). Every site (``site`` None) of a store holding several: the
    newest ``limit`` across them all, by compounding day, then by when each was created
    (each site's newest ``limit`` read off its own range of the key, then merged; attack
    s4 finding 12: cutting a listing ordered by site gave one site's old batches before
    another's new ones)."""
    _check_status(status)
    if site is None:
        sites = batch_sites(store)
        if len(sites) > 1:
            rows = [r for one in sites for r in list_batches(store, status, limit, one)]
            rows.sort(key=lambda r: (r["compounded_on"], r["created_at"], r["lot_id"]),
                      reverse=True)
            return rows if limit is None else rows[:limit]
    sql = ("SELECT s.*, b.site FROM batch_summary s JOIN batches b ON b.lot_id = s.lot_id")
    if site is not None and store.only_site("batches", site):
        site = None  # nothing to filter out: the plan of a single-site store (issue 18)
    where, params = _batch_filter(status, None, "s.")
    if site is not None:
        # a site's lot IDs are one range of the primary key (MAIN: all digits; any other
        # site: its code then digits; byte order: SQLite's BINARY collation, PostgreSQL
        # needs lot_id COLLATE "C"), so the newest come straight off it; the site check
        # itself is kept off the site index (|| ''), which would sort every batch of the site
        where += ["s.lot_id >= ?", "s.lot_id < ?", "b.site || '' = ?"]
        params += [lotid.site_lot_id_floor(site), lotid.site_lot_id_ceiling(site), site]
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY s.lot_id DESC"
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or \
                not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"limit: {str(limit)[:40]!r} must be a whole number from 1 to "
                             f"{MAX_LIMIT:,}", field="limit")
        sql += " LIMIT ?"
        params.append(limit)
    return store.rows(sql, params)


def batch_sites(store: StoreCore) -> list[str]:
    """The sites that hold batches, sorted: one index look-up per site (the smallest site
    after the last one found, off the ``batches_site`` index), not a scan of every batch."""
    found: list[str] = []
    while True:
        nxt = store.scalar("SELECT MIN(site) FROM batches WHERE site > ?",
                           [found[-1] if found else ""])
        if nxt is None:
            return found
        found.append(nxt)


def count_batches(store: StoreCore, status: str | None = None,
                  site: str | None = None) -> int:
    """How many batches there are (of one status; at one site, None: every site)."""
    _check_status(status)
    if site is not None and store.only_site("batches", site):
        site = None
    where, params = _batch_filter(status, site, "")
    sql = "SELECT COUNT(*) FROM batches"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return store.scalar(sql, params)


def _batch_filter(status: str | None, site: str | None, prefix: str) -> tuple[list, list]:
    where, params = [], []
    if status is not None:
        where.append(f"{prefix}status = ?")
        params.append(status)
    if site is not None:
        where.append(f"{'b.' if prefix else ''}site = ?")
        params.append(site)
    return where, params


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise InputError(f"status: {status!r} is not one of {', '.join(STATUSES)}")


def set_status(store: StoreCore, lot_id: str, status: str, by: str, details: dict | None = None) -> dict:
    """Change a batch's status and audit it (the sign-off workflow builds on this)."""
    if status not in STATUSES:
        raise InputError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    with store.write():
        row = batch_row(store, lot_id)
        if row["status"] != status:
            update_batch(store, lot_id, status=status)
            store.audit("batch.status", by, {"from": row["status"], "to": status,
                                             **(details or {})}, lot_id=lot_id)
    return batch_row(store, lot_id)


def weighings(store: StoreCore, lot_id: str) -> list[dict]:
    """Every weighing of one batch, oldest first, with the component lot number and unit."""
    return store.rows(
        "SELECT w.id, w.step, w.what, w.ingredient, l.lot_number AS component_lot,"
        " w.planned_quantity, w.planned_unit, w.quantity, w.unit, w.consumed_quantity,"
        " l.unit AS consumed_unit, w.deviation_percent, w.deviation_reason,"
        " w.reweigh_reason, w.weighed_by, w.weighed_at"
        " FROM weighings w LEFT JOIN component_lots l ON l.id = w.component_lot_id"
        " WHERE w.lot_id = ? ORDER BY w.id", [lot_id])


def allocate_lot_id(store: StoreCore, by: str, day: date | None = None) -> str:
    """Allocate the next batch lot ID for ``day`` at the store's site (``store.site``, issue
    20) in its own committed transaction: ``YYMMDDSSSC`` at site MAIN, ``SITEYYMMDDSSSCC``
    elsewhere (:mod:`.lotid`); the day's sequence counts per site.

    The allocation is permanent: a batch that then fails to save leaves a gap, never a
    reused ID (the ``lot_ids`` table is append-only).
    """
    day = day or store.today()
    by = acting(store, by)
    site = store.site
    with store.write():
        seq = store.scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM lot_ids WHERE site = ? "
                           "AND day = ?", [site, day.isoformat()])
        if seq > lotid.MAX_PER_DAY:
            raise StoreError(f"no lot IDs left for {format_date(day)} at site {site} "
                             f"({lotid.MAX_PER_DAY} batches a day)")
        lot = lotid.make_lot_id(day, seq, site)
        store.execute("INSERT INTO lot_ids (lot_id, day, seq, allocated_by, allocated_at, "
                      "site) VALUES (?,?,?,?,?,?)",
                      [lot, day.isoformat(), seq, by, store.stamp(), site])
        store.audit("lot-id.allocate", by, {"lot_id": lot}, lot_id=lot,
                   records=[store.ref("lot_ids", lot)])
    return lot


# ---------------------------------------------------------------- corrections


def check_correction(store: StoreCore, corrects: str, reason: str | None) -> tuple[str, str]:
    """Validate ``batch create --corrects LOT``: that batch exists and is rejected or on
    hold, and was not corrected already."""
    lot_id = lotid.validate_lot_id(corrects, "corrects")
    old = batch_row(store, lot_id)
    reason = (reason or "").strip()
    if not reason:
        raise InputError("reason: a correction needs a reason (--reason TEXT)")
    if old["status"] not in ("rejected", "quarantine"):
        raise RefusedError(f"batch {lot_id} is {old['status']}; only a rejected or quarantined "
                           "batch is corrected by a new batch")
    done = store.one("SELECT lot_id FROM batch_corrections WHERE corrects_lot_id = ?",
                      [lot_id])
    if done:
        raise RefusedError(f"batch {lot_id} was already corrected by batch {done['lot_id']}")
    return lot_id, reason


def record_correction(store: StoreCore, new_lot: str, corrects: str, reason: str,
                      by: str) -> dict:
    """Link ``new_lot`` to the batch it corrects (inside the create transaction)."""
    store.execute("INSERT INTO batch_corrections (lot_id, corrects_lot_id, reason, "
                     "created_by, created_at) VALUES (?,?,?,?,?)",
                     [new_lot, corrects, reason, by, store.stamp()])
    return store.ref("batch_corrections", new_lot)


def corrections(store: StoreCore, lot_id: str) -> dict:
    """The correction links of one batch: what it corrects, and what corrected it."""
    corrects = store.one("SELECT * FROM batch_corrections WHERE lot_id = ?", [lot_id])
    by = store.one("SELECT * FROM batch_corrections WHERE corrects_lot_id = ?", [lot_id])
    return {"corrects": corrects, "corrected_by": by}
