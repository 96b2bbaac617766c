"""Which tables hold records the audit log vouches for, and how each row is named.

Data only, no logic: the core (:meth:`.core.StoreCore.ref`) digests a row by its natural key
from here, and ``audit.verify`` checks every row of these tables against the audit log. A
new record family adds its tables here (see docs/store.md, "Adding a record family").
"""

from __future__ import annotations

from .migrations import BATCH_MUTABLE, TOKEN_MUTABLE, USER_LOCKOUT_MUTABLE, USER_MUTABLE

#: Tables whose every row must be vouched for by an audit entry (see ``audit.verify``),
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
    # issue 7: users and sign-offs
    "users": ("id",),
    "submissions": ("id",),
    "signatures": ("id",),
    "verifications": ("id",),
    "verification_checks": ("verification_id", "seq"),
    "batch_corrections": ("lot_id",),
    # issue 17: prescriptions (prescriptions.py)
    "prescriptions": ("id",),
    "prescription_steps": ("prescription_id", "seq"),
    "prescription_fills": ("id",),
    # issue 15: API tokens (hash only)
    "api_tokens": ("id",),
    # issue 16: where weighings came from (balance, scan), what receipt barcodes said
    "weighing_sources": ("weighing_id",),
    "receipt_scans": ("receipt_id",),
    # issue 19: adjustments, counts, holds, recalls (stock.py, lot_holds.py, recalls.py)
    "stock_counts": ("id",),
    "stock_adjustments": ("id",),
    "lot_holds": ("id",),
    "recalls": ("id",),
    "recall_batches": ("recall_id", "lot_id"),
    "recall_patients": ("recall_id", "seq"),
    "recall_contacts": ("id",),
    "recall_closures": ("recall_id",),
    # issue 11: capsule calibrations (calibrations.py)
    "capsule_calibrations": ("id",),
    # issue 12: where the keyed audit chain begins (core.StoreCore.audit writes the row)
    "audit_keys": ("id",),
    # issue 12: each new dispense, counted against what the batch made (dispensing.py)
    "dispensings": ("label_print_id",),
}

#: Columns left out of a record's digest because the schema lets them change (the triggers
#: of ``migrations`` allow exactly these updates): a batch's status and BUD, a user's
#: account state (m018: the lockout's cool-down too).
MUTABLE_COLUMNS = {
    "batches": BATCH_MUTABLE,
    "users": USER_MUTABLE + USER_LOCKOUT_MUTABLE,
    "api_tokens": TOKEN_MUTABLE,
}

#: Columns added to existing record tables after rows were written, with the default every
#: earlier row took (issue 20: ``site``, default ``MAIN``, migration m020). A column holding
#: its default is left out of the record's digest, so digests recorded before the column
#: existed still match; any other value is digested (a row moved to another site by plain
#: SQL no longer matches its audit entry).
ADDED_COLUMNS = {table: {"site": "MAIN"}
                 for table in ("lot_ids", "component_lots", "batches", "label_prints")}
