"""Where a weighing's number and lot came from, and what a received container's barcode said.

Issue 16: a weighing filled by a balance records that balance's name, serial number,
protocol and the raw line it sent; a component lot identified by a scan records the scan. A
receipt by scan records the GTIN, the production date (11) and the scan itself. Tables
``weighing_sources`` and ``receipt_scans`` (migration m010, append-only, each row vouched for
by an audit entry). A weighing with no source row was typed (every weighing before m010).

Each function writes the record it extends (through the family that owns it:
``inventory.receive_lot``, ``weighings.record_weighing``) and its source row in ONE
transaction: a crash between the two leaves neither (never a balance weighing recorded as
typed).
"""

from __future__ import annotations

from decimal import Decimal

from .. import units as u
from . import inventory, users, weighings
from .core import StoreCore
from .sites import own_batch


def receive_scanned(store: StoreCore, scanned, quantity: u.Quantity, by: str, *,
                    potency_percent: Decimal = Decimal("100")) -> dict:
    """Receive the lot a scan identified (``devices.scanning.ScannedComponent``) and record
    what its barcode said. Returns the lot (as ``inventory.lot``) with ``receipt_scan``."""
    scan = scanned.scan
    by = users.acting(store, by)  # authenticated before the write (issue 7)
    with store.write():
        lot = inventory.receive_lot(store, scanned.ingredient, scanned.lot, scanned.expiry,
                                    quantity, by, potency_percent=potency_percent,
                                    manufacturer=scanned.manufacturer)
        receipt_id = store.scalar("SELECT max(id) FROM lot_receipts WHERE component_lot_id = ?",
                                  [lot["id"]])
        row = {"receipt_id": receipt_id, "gtin": scanned.gtin,
               "production_date": (scanned.production_date.isoformat()
                                   if scanned.production_date else None),
               "scan": scan.hri(), "recorded_at": store.stamp()}
        with store.refusing("receipt_scans: "):
            store.insert("receipt_scans", row)
        receiver = store.scalar("SELECT received_by FROM lot_receipts WHERE id = ?",
                                [receipt_id])
        store.audit("inventory.receive-scan", receiver,
                    {"ingredient": scanned.ingredient, "lot_number": scanned.lot,
                     "gtin": scanned.gtin, "production_date": row["production_date"],
                     "scan": row["scan"], "symbology": scan.symbology},
                    records=[store.ref("receipt_scans", receipt_id)])
    return {**lot, "receipt_scan": row}


def record_weighing(store: StoreCore, lot_id: str, *, reading=None, match=None,
                    lot_source: str | None = None, **kwargs) -> dict:
    """:func:`weighings.record_weighing` plus where its amount and lot came from.

    ``reading``: a ``devices.balances.Reading`` (the amount is its quantity; ``amount`` in
    ``kwargs`` must then be absent); ``match``: a ``devices.scanning.ScanMatch`` (its
    component lot is used). ``lot_source`` ``typed`` / ``planned`` when no scan. With
    neither a reading nor a match the weighing is recorded exactly as
    :func:`weighings.record_weighing` does (typed), with no source row. Returns the weighing
    with ``source`` (the row, or None).
    """
    if reading is not None:
        if kwargs.get("amount") is not None:
            raise ValueError("give a balance reading or a typed amount, not both")
        kwargs["amount"] = reading.quantity
    if match is not None and match.kind == "component":
        kwargs["component_lot"] = match.lot
    if reading is None and match is None:
        return {**weighings.record_weighing(store, lot_id, **kwargs), "source": None}
    kwargs["by"] = users.acting(store, kwargs["by"])  # authenticated before the write
    with store.write():
        w = weighings.record_weighing(store, lot_id, **kwargs)
        if match is not None:
            lsrc = "scan"
        elif not w.get("component_lot"):
            lsrc = "none"
        else:
            lsrc = lot_source or ("typed" if kwargs.get("component_lot") else "planned")
        row = {"weighing_id": w["id"],
               "amount_source": "balance" if reading is not None else "typed",
               "balance_name": reading.balance if reading else None,
               "balance_serial": reading.serial_number if reading else None,
               "balance_protocol": reading.protocol if reading else None,
               "balance_model": reading.model if reading else None,
               "balance_line": reading.line if reading else None,
               "lot_source": lsrc, "scan": match.text if match else None,
               "recorded_at": store.stamp()}
        with store.refusing("weighing_sources: "):
            store.insert("weighing_sources", row)
        store.audit("batch.weigh-source", w["weighed_by"],
                    {"weighing_id": w["id"], "step": w["step"],
                     **{k: v for k, v in row.items() if k not in ("weighing_id", "recorded_at")}},
                    lot_id=lot_id.strip(), records=[store.ref("weighing_sources", w["id"])])
    return {**w, "source": row}


def weighing_sources(store: StoreCore, lot_id: str) -> dict[int, dict]:
    """``weighing id -> source row`` for the weighings of batch ``lot_id`` that have one."""
    rows = store.rows("SELECT s.* FROM weighing_sources s JOIN weighings w ON w.id = "
                      "s.weighing_id WHERE w.lot_id = ? ORDER BY s.weighing_id", [lot_id])
    return {r["weighing_id"]: r for r in rows}


def source_text(source: dict | None) -> str:
    """How a weighing's amount was entered, for a person: ``balance bench-1 (SN B123)`` or
    ``typed``; a scanned lot adds ``, lot scanned``."""
    if source is None:
        return "typed"
    if source["amount_source"] == "balance":
        out = f"balance {source['balance_name']} (SN {source['balance_serial']})"
    else:
        out = "typed"
    if source["lot_source"] == "scan":
        out += ", lot scanned"
    return out


def with_sources(store: StoreCore, batch: dict) -> dict:
    """A copy of a batch record (``Store.get_batch``) whose weighings each carry ``source``
    (the row or None) and ``source_text`` (:func:`source_text`), for the worksheet and
    ``batch show``. The record itself (and its content digest for sign-off) is unchanged."""
    sources = weighing_sources(store, batch["lot_id"])
    out = dict(batch)
    out["weighings"] = [{**w, "source": sources.get(w["id"]),
                         "source_text": source_text(sources.get(w["id"]))}
                        for w in batch.get("weighings") or []]
    return out


def check_before_reading(store: StoreCore, lot_id: str, *, step: int | None,
                         reweigh_reason: str | None) -> None:
    """Refuse, before a balance is read, a weighing that would be refused anyway: a batch
    that is not open for weighing, a step not in the plan, a step weighed already without
    a re-weigh reason. (``weighings.record_weighing`` checks all of it again, under the
    write lock: this only spares the technician a reading that cannot be recorded.)"""
    from ..errors import InputError, RefusedError
    from .batches import batch_row, batch_steps, weighings as weighed_rows
    from .lotid import validate_lot_id

    lot_id = validate_lot_id(lot_id)
    batch = batch_row(store, lot_id)
    own_batch(store, batch, "record a weighing for")  # issue 20
    if batch["status"] not in weighings.OPEN_STATUSES:
        raise RefusedError(f"batch {lot_id} is {batch['status']}; weighings can no longer be "
                           "recorded")
    if step is None:
        return
    steps = {s["step"]: s for s in batch_steps(store, lot_id)}
    if step not in steps:
        raise InputError(f"--step: the plan has steps 1 to {len(steps)}, not {step}")
    if not (reweigh_reason or "").strip() and \
            any(w["step"] == step for w in weighed_rows(store, lot_id)):
        raise RefusedError(f"step {step} ({steps[step]['what']}) is weighed already; to weigh "
                           "it again give --reweigh REASON (both stay on record)")
