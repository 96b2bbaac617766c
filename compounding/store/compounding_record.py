"""The compounding record of one batch, whole (USP <795> "Compounding Record": what was
made, from which formula version and component lots, every step and weighing, BUD, labels,
sign-offs and correction links), assembled from the record families for the CLI and JSON.

Reads only; owns no table.
"""

from __future__ import annotations

import json

from . import lotid
from .batches import batch_components, batch_row, batch_steps, corrections, weighings
from .core import StoreCore
from .dispensing import label_prints
from .signatures import signatures, verifications


def get_batch(store: StoreCore, lot_id: str) -> dict:
    """The full compounding record of one batch (JSON-ready)."""
    lot_id = lotid.validate_lot_id(lot_id)
    row = batch_row(store, lot_id)
    out = {k: row[k] for k in ("lot_id", "formula_id", "formula_version", "formula_sha256",
                               "dosage_form", "strength", "quantity", "units_made",
                               "storage", "compounded_on", "bud", "status",
                               "compounded_by", "created_at")}
    out["formula_snapshot"] = json.loads(row["formula_snapshot"])
    out["catalogue_snapshot"] = json.loads(row["catalogue_snapshot"])
    out["order"] = json.loads(row["order_json"])
    out["plan"] = json.loads(row["plan_json"])
    out["bud_result"] = json.loads(row["bud_json"])
    out["components"] = batch_components(store, lot_id)
    out["steps"] = batch_steps(store, lot_id)
    out["weighings"] = weighings(store, lot_id)
    weighed = {w["step"] for w in out["weighings"]}
    out["steps_pending"] = [s["step"] for s in out["steps"] if s["step"] not in weighed]
    out["label_prints"] = label_prints(store, lot_id)
    out["status_history"] = store.rows(
        "SELECT old_status, new_status, changed_at FROM batch_status_history"
        " WHERE lot_id = ? ORDER BY id", [lot_id])
    out["signatures"] = signatures(store, lot_id=lot_id)
    out["verifications"] = verifications(store, lot_id)
    out.update(corrections(store, lot_id))
    return out
