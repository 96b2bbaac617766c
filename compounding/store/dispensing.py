"""Label prints and dispensing, and the recall queries that follow them downstream.

Every label printed (batch or dispensing, first print or reprint) is a row of
``label_prints`` with the template's identity and SHA-256 and the PDF's; a dispensing label
also names the patient, Rx number, prescriber and quantity, so a recall reaches each patient.

Owns the table ``label_prints``; reads the view ``lot_usage`` for recalls.
"""

from __future__ import annotations

from decimal import Decimal

from ..errors import InputError, NotFoundError
from . import lotid
from .batches import batch_row, corrections
from .core import StoreCore, need_text
from .users import acting


def _dec(text) -> Decimal:
    return Decimal(str(text))


def record_label_print(store: StoreCore, lot_id: str, kind: str, template_id: str,
                       template_version: int, template_sha256: str, copies: int,
                       pdf_sha256: str, output_path: str, by: str,
                       patient: str | None = None, rx_number: str | None = None,
                       prescriber: str | None = None, directions: str | None = None,
                       dispensed_quantity: str | None = None) -> dict:
    """Record a label print; a second print of the same batch and kind is a reprint."""
    lot_id = lotid.validate_lot_id(lot_id)
    by = acting(store, by)
    need_text(kind, "kind")
    if int(copies) < 1:
        raise InputError("copies: must be 1 or more")
    with store.write():
        batch_row(store, lot_id)
        reprint = store.one("SELECT 1 AS yes FROM label_prints WHERE lot_id = ? AND kind = ?"
                            " LIMIT 1", [lot_id, kind]) is not None
        values = {"lot_id": lot_id, "kind": kind, "template_id": template_id,
                  "template_version": int(template_version),
                  "template_sha256": template_sha256, "copies": int(copies),
                  "pdf_sha256": pdf_sha256, "output_path": str(output_path),
                  "reprint": int(reprint), "patient": patient, "rx_number": rx_number,
                  "prescriber": prescriber, "directions": directions,
                  "dispensed_quantity": dispensed_quantity, "printed_by": by,
                  "printed_at": store.stamp()}
        with store.refusing("label print not recorded: "):
            # issue 20: printed at this installation's site (not in the audit details:
            # the record's digest carries it)
            pid = store.insert("label_prints", {**values, "site": store.site})
        store.audit("label.reprint" if reprint else "label.print", by,
                   {k: v for k, v in values.items() if k not in ("printed_by", "printed_at")},
                   lot_id=lot_id, records=[store.ref("label_prints", pid)])
    row = store.one("SELECT * FROM label_prints WHERE id = ?", [pid])
    row["reprint"] = bool(row["reprint"])
    return row


def label_prints(store: StoreCore, lot_id: str) -> list[dict]:
    """Every label printed for one batch, oldest first (``reprint`` as bool)."""
    rows = store.rows("SELECT * FROM label_prints WHERE lot_id = ? ORDER BY id", [lot_id])
    for r in rows:
        r["reprint"] = bool(r["reprint"])
    return rows


def recall(store: StoreCore, component_lot: str, ingredient: str | None = None) -> list[dict]:
    """Every batch that used (weighed) or is planned to use component lot number
    ``component_lot``, with status, BUD and the patient labels printed for it, at every
    site: each row names the batch's ``site`` and each dispensing label the ``site`` that
    printed it (issue 20)."""
    sql = ("SELECT u.*, b.site FROM lot_usage u JOIN batches b ON b.lot_id = u.batch_lot_id"
           " WHERE u.lot_number = ?")
    params = [component_lot]
    if ingredient is not None:
        sql += " AND u.ingredient = ?"
        params.append(ingredient)
    if store.one("SELECT 1 AS yes FROM component_lots WHERE lot_number = ?"
                 + (" AND ingredient = ?" if ingredient else ""), params) is None:
        raise NotFoundError(f"no component lot {component_lot} on record")
    rows = store.rows(sql + " ORDER BY u.batch_lot_id, u.ingredient", params)
    for r in rows:
        # exact amounts (the view's are REAL for scripts)
        if r["basis"] == "weighed":
            r["quantity"] = sum((_dec(x) for x in store.column(
                "SELECT consumed_quantity FROM weighings WHERE lot_id = ? AND "
                "component_lot_id = ?", [r["batch_lot_id"], r["component_lot_id"]])),
                Decimal(0))
        else:
            r["quantity"] = _dec(store.scalar(
                "SELECT planned_quantity FROM batch_components WHERE lot_id = ? AND "
                "component_lot_id = ?", [r["batch_lot_id"], r["component_lot_id"]]))
        r["dispensed"] = store.rows(
            "SELECT patient, rx_number, prescriber, dispensed_quantity, printed_at, kind, site"
            " FROM label_prints WHERE lot_id = ? AND (patient IS NOT NULL"
            " OR rx_number IS NOT NULL) ORDER BY id", [r["batch_lot_id"]])
    return rows


def _prints(store: StoreCore, lot_id: str) -> list[dict]:
    rows = store.rows(
        "SELECT id, lot_id, kind, template_id, template_version, copies, reprint, patient, "
        "rx_number, prescriber, dispensed_quantity, output_path, printed_by, printed_at, "
        "site FROM label_prints WHERE lot_id = ? ORDER BY id", [lot_id])
    for r in rows:
        r["reprint"] = bool(r["reprint"])
    return rows


def recall_batch(store: StoreCore, lot_id: str) -> dict:
    """Everything downstream of one batch, whichever site made it: its ``site``, lots,
    status, every label printed and every dispensing label (patient, Rx number, date, the
    ``site`` that printed it), and its correction links."""
    lot_id = lotid.validate_lot_id(lot_id)
    b = batch_row(store, lot_id)
    prints = _prints(store, lot_id)
    used = store.rows(
        "SELECT component_lot_id, ingredient, lot_number, expires, basis, unit FROM lot_usage "
        "WHERE batch_lot_id = ? ORDER BY ingredient", [lot_id])
    for c in used:  # exact amounts (the view's are REAL, for scripts)
        if c["basis"] == "weighed":
            c["quantity"] = sum((Decimal(x) for x in store.column(
                "SELECT consumed_quantity FROM weighings WHERE lot_id = ? AND "
                "component_lot_id = ?", [lot_id, c["component_lot_id"]])), Decimal(0))
        else:
            c["quantity"] = Decimal(store.scalar(
                "SELECT planned_quantity FROM batch_components WHERE lot_id = ? AND "
                "component_lot_id = ?", [lot_id, c["component_lot_id"]]))
    return {"lot_id": lot_id, "site": b["site"], "formula_id": b["formula_id"],
            "strength": b["strength"],
            "quantity": b["quantity"], "status": b["status"], "bud": b["bud"],
            "compounded_on": b["compounded_on"], "component_lots": used,
            "label_prints": [p for p in prints if p["kind"] != "dispensing"],
            "dispensed": [_dispensed(p) for p in prints if p["kind"] == "dispensing"],
            **corrections(store, lot_id)}


def _dispensed(p: dict) -> dict:
    return {"lot_id": p["lot_id"], "patient": p["patient"], "rx_number": p["rx_number"],
            "prescriber": p["prescriber"], "dispensed_quantity": p["dispensed_quantity"],
            "date": p["printed_at"][:10], "printed_at": p["printed_at"],
            "printed_by": p["printed_by"], "reprint": p["reprint"], "site": p["site"]}


def recall_component(store: StoreCore, component_lot: str, ingredient: str | None = None) -> list:
    """:func:`recall` plus, per batch, every label print and dispensing label."""
    rows = recall(store, component_lot, ingredient)
    for r in rows:
        prints = _prints(store, r["batch_lot_id"])
        r["label_prints"] = [p for p in prints if p["kind"] != "dispensing"]
        r["dispensed"] = [_dispensed(p) for p in prints if p["kind"] == "dispensing"]
    return rows
