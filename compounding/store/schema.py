"""The database schema, documented from the code for inventory-script authors.

``schema_sql`` (from :mod:`.sqlite`) prints what ``compounding db schema`` prints (the live database's SQL);
:func:`schema_markdown` builds ``docs/schema.md`` from a freshly migrated database plus the
descriptions below (a test checks the file is current and that every table, view and column
is described). Regenerate with::

    .venv/bin/python -c "from compounding.store.schema import write_docs; write_docs()"
"""

from __future__ import annotations

from pathlib import Path

from .. import units as u
from .core import StoreCore
from .migrations import migrations
from .sqlite import columns, registered_migrations, schema_sql

#: Plain-language description of every table and view, and of each of their columns.
from .schema_records import RECORDS_TABLES  # issue 12
from .schema_shelf import SHELF_TABLES, SHELF_VIEWS  # issue 19
from .schema_sites import SITE_COLUMNS, lot_id_section  # issue 20
from .schema_calibrations import CALIBRATION_TABLES  # issue 11
from .schema_exact import EXACT_TABLES  # issue 18
from .schema_lifecycle import LIFECYCLE_TABLES  # session 4: m023

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "component_lots": (
        "One row per supplier lot of an ingredient (inventory). Identity only: the amount "
        "received is in `lot_receipts`, the amount used in `weighings`; the quantity on hand "
        "is never stored, it is derived (view `stock_on_hand`). Append-only.",
        {
            "id": "internal row id",
            "ingredient": "ingredient id from formulas/ingredients.toml (e.g. naltrexone-hcl)",
            "lot_number": "the supplier's lot number, as printed on the container",
            "manufacturer": "manufacturer or supplier (optional)",
            "expires": "expiry date YYYY-MM-DD (a month-only expiry is its last day)",
            "potency_percent": "potency from the certificate of analysis, percent (decimal "
                               "text; 100 when not given); the calculator plans with it",
            "unit": "unit of every amount of this lot: mg (solids) or mL (liquids)",
            "created_by": "who received it first (free text until users exist)",
            "created_at": "first receipt, UTC ISO 8601 (…Z)",
        }),
    "lot_receipts": (
        "Every receipt of stock into a component lot (a lot may be received more than once). "
        "Append-only.",
        {
            "id": "internal row id",
            "component_lot_id": "the lot (component_lots.id)",
            "quantity": "amount received in the lot's unit (exact decimal text)",
            "received_as": "the amount as it was entered (e.g. '25 g')",
            "received_by": "who received it",
            "received_at": "UTC ISO 8601",
        }),
    "lot_ids": (
        "Every batch lot ID ever allocated, whether or not its batch was saved, so no ID is "
        "ever reused. Append-only.",
        {
            "lot_id": "10 digits YYMMDDSSSC: date, sequence of the day, GS1 mod-10 check digit",
            "day": "the compounding date the ID belongs to (YYYY-MM-DD)",
            "seq": "sequence of the day, 1-999",
            "allocated_by": "who asked for it",
            "allocated_at": "UTC ISO 8601",
        }),
    "batches": (
        "The compounding record of one batch (USP <795>). Only `status`, `bud` and "
        "`bud_json` may change, and the BUD of a released or rejected batch is final; "
        "everything else, including the formula snapshot and the plan, is fixed by trigger. "
        "A batch can never be deleted.",
        {
            "lot_id": "the internal lot ID (see lot_ids), printed on labels and worksheets",
            "formula_id": "formula id (formulas/<id>.toml)",
            "formula_version": "formula version at the time",
            "formula_sha256": "SHA-256 of the formula file as used",
            "formula_snapshot": "the formula as used (JSON); later edits of the file do not "
                                "change it",
            "catalogue_snapshot": "the catalogue entries of the ingredients used (JSON)",
            "dosage_form": "capsule, oral-liquid, sublingual-drops or cream",
            "strength": "labelled strength (e.g. '1.5 mg', '1 mg/mL')",
            "quantity": "quantity ordered (e.g. '100 capsules', '100 mL')",
            "units_made": "what the plan makes, overage included (e.g. '103 capsules')",
            "order_json": "the order as given to the calculator (JSON)",
            "plan_json": "the calculator's plan (JSON, the shape of `compounding plan --json`)",
            "plan_text": "the plan as printed for the technician when the batch was created",
            "storage": "refrigerated or room",
            "compounded_on": "date of compounding (USP <795>: day 1 of the BUD)",
            "bud": "beyond-use date YYYY-MM-DD, recomputed from the lots actually weighed",
            "bud_json": "the BUD result: binding limit and every limit considered (JSON)",
            "status": "planned, compounded, released, rejected or quarantine (the lifecycle "
                      "is enforced by triggers; see docs/signoff.md)",
            "compounded_by": "who made the batch",
            "created_at": "UTC ISO 8601",
        }),
    "batch_components": (
        "The component lot chosen for each ingredient when the batch was planned, and how "
        "much of it the plan needs. Append-only.",
        {
            "lot_id": "the batch",
            "ingredient": "ingredient id",
            "component_lot_id": "the chosen lot (component_lots.id)",
            "planned_quantity": "amount the plan needs from it, in the lot's unit",
            "unit": "mg or mL (the lot's unit)",
            "chosen": "named (by --component-lot) or earliest-expiry (picked by the store)",
        }),
    "batch_steps": (
        "The plan's weighing lines, numbered as in the plan (dilution steps included). "
        "Append-only.",
        {
            "lot_id": "the batch",
            "step": "the plan's step number (1, 2, ...), used by `batch weigh --step`",
            "what": "what the line weighs or measures, as the plan words it",
            "ingredient": "ingredient id; NULL for an aliquot of a dilution made in the batch",
            "quantity": "planned amount (exact decimal text)",
            "unit": "unit of the planned amount",
        }),
    "weighings": (
        "What was actually weighed or measured for each plan step, from which component lot, "
        "by whom and when. A step may be weighed again only with a reason (the earlier "
        "weighing stays on record and its material counts as used). Triggers refuse an "
        "expired lot, a lot of another ingredient and a batch that is not open. Append-only.",
        {
            "id": "internal row id",
            "lot_id": "the batch",
            "step": "plan step (batch_steps.step)",
            "what": "copied from the plan step",
            "ingredient": "ingredient id; NULL for a dilution aliquot",
            "component_lot_id": "the lot used (NULL for a dilution aliquot)",
            "planned_quantity": "planned amount",
            "planned_unit": "its unit",
            "quantity": "amount actually weighed or measured (exact decimal text)",
            "unit": "its unit",
            "consumed_quantity": "the same amount in the component lot's unit (reduces stock)",
            "deviation_percent": "(actual - planned) / planned x 100",
            "deviation_reason": "required when outside the formula's weighing tolerance",
            "reweigh_reason": "required when the step was weighed before",
            "weighed_by": "who weighed",
            "weighed_at": "UTC ISO 8601",
        }),
    "label_prints": (
        "Every label printed, with the template version and the PDF's hash. A second print of "
        "the same batch and kind is marked as a reprint; a dispensing label is a reprint "
        "only when it repeats an earlier dispense of the same lot, Rx and patient (see "
        "`dispensings`; both checked by trigger). Append-only.",
        {
            "id": "internal row id",
            "lot_id": "the batch",
            "kind": "label kind (container, dispensing, ...)",
            "template_id": "label template id",
            "template_version": "template version",
            "template_sha256": "SHA-256 of the template file as used",
            "copies": "number of copies",
            "pdf_sha256": "SHA-256 of the PDF produced",
            "output_path": "where the PDF was written",
            "reprint": "1 when this batch and kind (dispensing: lot, Rx and patient) were "
                       "printed before, else 0",
            "patient": "patient name (dispensing labels)",
            "rx_number": "prescription number",
            "prescriber": "prescriber",
            "directions": "directions for use",
            "dispensed_quantity": "quantity dispensed",
            "printed_by": "who printed",
            "printed_at": "UTC ISO 8601",
        }),
    "audit_log": (
        "Every action, with actor, UTC time and details (JSON). Append-only and a hash chain: "
        "`hash` = HMAC-SHA256 under the audit key (see `audit_keys`; plain SHA-256 before the "
        "chain was keyed) of the entry (id, at, actor, action, lot_id, details, prev_hash) as "
        "sorted compact JSON; `prev_hash` is the previous entry's hash (64 zeros for the "
        "first); a trigger refuses an entry that does not chain. Entries that wrote "
        "records list them in `details.records` with each record's SHA-256, so "
        "`compounding db verify` detects any later change.",
        {
            "id": "1, 2, 3, ... with no gaps",
            "at": "UTC ISO 8601",
            "actor": "who did it",
            "action": "what was done (inventory.receive, batch.create, batch.weigh, "
                      "label.print, ...)",
            "lot_id": "the batch concerned, if any",
            "details": "JSON object describing the action",
            "prev_hash": "hash of the previous entry",
            "hash": "hash of this entry",
        }),
    "batch_status_history": (
        "Every status change of a batch, written by a trigger (so it cannot be skipped). "
        "Append-only.",
        {
            "id": "internal row id",
            "lot_id": "the batch",
            "old_status": "status before",
            "new_status": "status after",
            "changed_at": "UTC ISO 8601 (SQLite's clock, millisecond precision)",
        }),
    # issue 7: users and sign-offs (compounding/store/signoff.py, docs/signoff.md)
    "users": (
        "People who may act. Only a salted scrypt hash of the passphrase is kept. A user is "
        "never deleted and a name never reused: deactivation is final. Five wrong passphrases "
        "in a row lock the user for a cool-down (issue 12: `[users] lockout_minutes`, doubled "
        "on each repeat, at most 24 hours) or until a pharmacist unlocks them. Name, role and "
        "creation are "
        "fixed (trigger).",
        {
            "id": "internal row id",
            "name": "login name, unique regardless of case (used by --by)",
            "full_name": "printed name shown with each signature",
            "role": "technician or pharmacist",
            "passphrase_hash": "scrypt$n$r$p$salt$hash (compounding.auth)",
            "active": "1, or 0 once deactivated (final)",
            "failed_attempts": "wrong passphrases in a row (reset by a right one or an unlock)",
            "locked_at": "UTC ISO 8601 when locked by wrong passphrases; NULL when not locked",
            "locked_until": "UTC ISO 8601 end of the lockout's cool-down (issue 12)",
            "lockouts": "lockouts in a row without a right passphrase (each doubles the next)",
            "created_by": "the pharmacist who added the user (the first user: themself)",
            "created_at": "UTC ISO 8601",
            "deactivated_by": "the pharmacist who deactivated the user",
            "deactivated_at": "UTC ISO 8601",
        }),
    "api_tokens": (
        "Per-user API tokens for scripts calling the bench's JSON API (issue 15; "
        "`compounding users token`). Only the SHA-256 of a token is kept; the token itself is "
        "shown once. A token is revoked, never deleted; nothing else about it changes "
        "(trigger).",
        {
            "id": "internal row id",
            "user_id": "the user the token acts for (users.id)",
            "prefix": "8 letters and digits after 'cbt_' that name the token in lists and the "
                      "audit log",
            "token_sha256": "SHA-256 of the whole token (hex)",
            "label": "what the token is for (optional, at most 100 characters)",
            "created_by": "the user who made it (the token's own user)",
            "created_at": "UTC ISO 8601",
            "revoked_by": "who revoked it (its user or a pharmacist); NULL while active",
            "revoked_at": "UTC ISO 8601 of the revocation; NULL while active",
        }),
    "submissions": (
        "Formula and label template versions proposed for approval, with the exact file "
        "content and its author (who submitted it). Append-only.",
        {
            "id": "internal row id",
            "subject_type": "formula or template",
            "subject_id": "formula or template id",
            "version": "the version number in the file",
            "sha256": "SHA-256 of the file's bytes",
            "content": "the file's text as submitted (shown as a diff at approval)",
            "note": "what changed and why",
            "submitted_by": "the author",
            "submitted_at": "UTC ISO 8601",
        }),
    "signatures": (
        "Electronic signatures (after 21 CFR Part 11): who (name, printed name, role), what it "
        "means, when (UTC) and what was signed (subject and the SHA-256 of its content). Only "
        "a pharmacist signs anything but a quarantine (CHECK); the signer must be an active, "
        "unlocked user of that role and an approval needs a submission by someone else "
        "(trigger). Append-only.",
        {
            "id": "internal row id",
            "signer": "users.name",
            "signer_name": "the signer's printed name at signing",
            "role": "the signer's role at signing",
            "meaning": "approved, verified, verification-failed, released, rejected, "
                       "quarantined, hold-lifted, user-added, user-deactivated, user-unlocked",
            "subject_type": "formula, template, batch or user",
            "subject_id": "formula/template id, batch lot ID or user name",
            "subject_version": "formula or template version (approvals)",
            "record_sha256": "SHA-256 of what was signed: the file (approvals), the batch "
                             "record with its components, steps and weighings (batches), the "
                             "user record (users)",
            "lot_id": "the batch, for batch signatures",
            "reason": "required for rejected, quarantined and hold-lifted",
            "details": "JSON: e.g. the author of an approved version, the verification "
                       "released",
            "signed_at": "UTC ISO 8601",
        }),
    "verifications": (
        "A pharmacist's verification of a batch: passed or not, and the SHA-256 of the batch "
        "content checked (a release needs the latest verification passed with the content "
        "unchanged). Append-only.",
        {
            "id": "internal row id",
            "lot_id": "the batch",
            "signature_id": "the signature (verified or verification-failed)",
            "passed": "1 when every check passed",
            "batch_sha256": "SHA-256 of the batch content verified",
        }),
    "verification_checks": (
        "Each checklist result of a verification. Append-only.",
        {
            "verification_id": "verifications.id",
            "seq": "1, 2, ... in checklist order",
            "code": "formula-approved, steps-weighed, tolerance, component-lot, bud, verifier",
            "passed": "1 or 0",
            "detail": "what was checked and found, for a person",
        }),
    "batch_corrections": (
        "A new batch that corrects a rejected or quarantined one (the old record stays as "
        "it was). Append-only.",
        {
            "lot_id": "the new (correcting) batch",
            "corrects_lot_id": "the batch it corrects",
            "reason": "why",
            "created_by": "who created the correction",
            "created_at": "UTC ISO 8601",
        }),
    "lot_stock": (
        "Each component lot's total received and total weighed, kept by triggers on "
        "`component_lots`, `lot_receipts` and `weighings` (issue 8: so stock needs no sum over "
        "ten years of weighings). Derived, never edited: a trigger refuses any value that is "
        "not the sum of the records, and deletions. Read it through `stock_on_hand`.",
        {
            "component_lot_id": "the lot (component_lots.id)",
            "received": "sum of lot_receipts.quantity (a number, in the lot's unit)",
            "consumed": "sum of weighings.consumed_quantity (a number, in the lot's unit)",
        }),
    "prescriptions": (
        "One version of a prescription with its LDN titration schedule (issue 17, "
        "docs/titration.md). A correction is a new row with the next version, linked to the "
        "version it replaces (`corrects`) with a reason; a trigger allows only the next version "
        "of the latest one. Keeps the formula and `[rx]` settings it was worked out with, and "
        "the plan (fills, quantities, directions). Append-only.",
        {
            "id": "internal row id",
            "rx_number": "the prescription (Rx) number, as on the prescription",
            "version": "1 for the original, then 2, 3... for each correction",
            "corrects": "the prescriptions.id this version replaces (NULL for version 1)",
            "reason": "why it was corrected (required with corrects)",
            "patient": "patient's name, as printed on labels and the dose chart",
            "prescriber": "prescriber's name",
            "formula_id": "formula id (formulas/*.toml)",
            "formula_version": "the formula's version",
            "formula_sha256": "SHA-256 of the formula's approval content when recorded",
            "formula_snapshot": "the formula as used (JSON)",
            "strength": "concentration (e.g. 1 mg/mL); NULL for a capsule kit (one capsule "
                        "of each step's dose)",
            "storage": "storage of the dispensed batches: room or refrigerated",
            "bud_policy": "BUD policy the fills were sized with (usp795, stability-data)",
            "dose_time": "bedtime, morning or evening",
            "start_date": "first dose day YYYY-MM-DD",
            "end_date": "last dose day YYYY-MM-DD",
            "schedule": "the steps as text (0.5 mg x 7 d, 1 mg x 7 d, ...)",
            "dose_confirmed": "1 when a dose above 4.5 mg was confirmed (--confirm-dose)",
            "rx_settings": "the [rx] settings used: syringe graduation, losses (JSON)",
            "plan": "fills (dates, BUD basis, quantities, directions), doses as measured and "
                    "half doses (JSON)",
            "created_by": "who recorded it",
            "created_at": "UTC ISO 8601",
        }),
    "prescription_steps": (
        "The titration steps of one prescription version, in order. Append-only.",
        {
            "prescription_id": "prescriptions.id",
            "seq": "step number from 1",
            "dose_mg": "the daily dose in mg (decimal text)",
            "days": "number of days at this dose",
        }),
    "prescription_fills": (
        "Each fill dispensed against a prescription (one row per strength of a capsule kit), "
        "with the lot and the dispensing label: a recall of the lot reaches the patient. A "
        "trigger refuses a second dispensing of the same fill and strength of an Rx (any "
        "version). Append-only.",
        {
            "id": "internal row id",
            "prescription_id": "prescriptions.id (the version dispensed against)",
            "fill": "fill number from 1",
            "strength": "the strength dispensed (1 mg/mL, 1.5 mg...)",
            "lot_id": "the batch dispensed (batches.lot_id)",
            "quantity": "quantity dispensed (55 mL, 14 capsules...)",
            "first_day": "first dose day of the fill YYYY-MM-DD",
            "last_day": "last dose day of the fill YYYY-MM-DD",
            "directions": "the directions printed on the label",
            "label_print_id": "the dispensing label (label_prints.id)",
            "dispensed_by": "who dispensed",
            "dispensed_at": "UTC ISO 8601",
        }),
    "weighing_sources": (
        "Where a weighing's amount and component lot came from (issue 16): a balance on a "
        "serial port (its settings name, serial number, protocol and the raw line it sent) or "
        "typed; the lot from a scan, typed, or the one planned. Written in the weighing's own "
        "transaction; a weighing without a row here was typed. Append-only.",
        {
            "weighing_id": "the weighing (weighings.id)",
            "amount_source": "'balance' (read from a balance) or 'typed'",
            "balance_name": "the balance's name in the settings ([balances.NAME])",
            "balance_serial": "the balance's serial number (reported by MT-SICS I4, else "
                              "the settings')",
            "balance_protocol": "'mt-sics', 'ad' or 'ohaus'",
            "balance_model": "model, from the settings",
            "balance_line": "the stable line the balance sent, as received",
            "lot_source": "'scan', 'typed', 'planned' or 'none' (a dilution aliquot)",
            "scan": "what was scanned, in human-readable form ((01)...(17)...(10)... or the "
                    "plain text)",
            "recorded_at": "UTC ISO 8601",
        }),
    "receipt_scans": (
        "What the barcode of a lot received by scan said (issue 16), one row per receipt "
        "(lot_receipts). Append-only.",
        {
            "receipt_id": "the receipt (lot_receipts.id)",
            "gtin": "GS1 (01) GTIN, 14 digits (NULL for a plain lot barcode)",
            "production_date": "GS1 (11) production date, YYYY-MM-DD",
            "scan": "the scan in human-readable form",
            "recorded_at": "UTC ISO 8601",
        }),
    **SHELF_TABLES,
    **CALIBRATION_TABLES,
    **RECORDS_TABLES,
    **EXACT_TABLES,
    **LIFECYCLE_TABLES,
    "_sqlite_migrations": (
        "Which schema migrations have been applied (managed by sqlite-utils).",
        {
            "id": "row id",
            "migration_set": "always 'compounding' for this application",
            "name": "migration function name (m001_records, ...)",
            "applied_at": "when it was applied (UTC)",
        }),
}
for _table, _meaning in SITE_COLUMNS.items():  # issue 20: the site column
    TABLES[_table][1]["site"] = _meaning

VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "stock_on_hand": (
        "Stock per component lot: received minus used plus adjustments (issue 19). Amounts are numbers in the lot's unit "
        "rounded to 6 decimals (the store itself computes exactly).",
        {
            "component_lot_id": "component_lots.id",
            "ingredient": "ingredient id",
            "lot_number": "supplier lot number",
            "manufacturer": "manufacturer",
            "expires": "expiry date",
            "days_to_expiry": "days from today (local time) to the expiry; negative: expired",
            "potency_percent": "certificate potency, percent",
            "unit": "mg or mL",
            "received": "total received",
            "consumed": "total weighed into batches",
            "adjusted": "sum of stock_adjustments (negative: written off)",
            "on_hand": "received - consumed + adjusted",
            "on_hold": "1 when the lot is on hold (lot_holds), else 0",
        }),
    **SHELF_VIEWS,
    "batch_summary": (
        "One line per batch: what, how much, status, dates and weighing progress.",
        {
            "lot_id": "batch lot ID",
            "formula_id": "formula id",
            "formula_version": "formula version",
            "dosage_form": "dosage form",
            "strength": "labelled strength",
            "quantity": "quantity ordered",
            "units_made": "quantity made",
            "status": "status",
            "compounded_on": "compounding date",
            "bud": "beyond-use date",
            "storage": "refrigerated or room",
            "compounded_by": "who made it",
            "created_at": "UTC ISO 8601",
            "steps_planned": "number of plan steps",
            "steps_weighed": "number of plan steps with a weighing",
        }),
    "batch_status_counts": (
        "Batches by status.",
        {
            "status": "status",
            "batches": "number of batches",
            "oldest": "earliest compounding date",
            "newest": "latest compounding date",
        }),
    "lot_usage": (
        "Which batches used which component lot (the recall query): `weighed` rows are "
        "what was weighed, `planned` rows are lots chosen for a batch and not weighed yet.",
        {
            "component_lot_id": "component_lots.id",
            "ingredient": "ingredient id",
            "lot_number": "supplier lot number",
            "manufacturer": "manufacturer",
            "expires": "lot expiry",
            "batch_lot_id": "the batch",
            "formula_id": "formula id",
            "status": "batch status",
            "compounded_on": "compounding date",
            "bud": "batch BUD",
            "basis": "weighed or planned",
            "quantity": "amount used (or planned), in the lot's unit",
            "unit": "mg or mL",
            "first_used_at": "first weighing (UTC); NULL when planned",
        }),
}

QUERIES = [
    ("Movements of supplier lot :lot with the running balance (issue 19)",
     "SELECT at, kind, reason, batch_lot_id, change, balance, unit\n"
     "FROM stock_movements WHERE lot_number = :lot ORDER BY at, source_id;"),
    ("Open recalls and who is still to be reached",
     "SELECT recall_id, lot, reason, patients, contacted, reached\n"
     "FROM recall_status WHERE status = 'open';"),
    ("Stock on hand of every unexpired lot",
     "SELECT ingredient, lot_number, expires, on_hand, unit\n"
     "FROM stock_on_hand WHERE expires >= date('now', 'localtime')\n"
     "ORDER BY ingredient, expires;"),
    ("Lots with stock expiring within :days days, expired ones included (the first 50, "
     "earliest expiry first, as `inventory list --expiring-within`; the next 50: "
     "`OFFSET 50`)",
     "SELECT ingredient, lot_number, expires, days_to_expiry, on_hand, unit\n"
     "FROM stock_on_hand WHERE expires <= date('now', 'localtime', '+' || :days || ' days')\n"
     "AND on_hand > 0 ORDER BY expires, lot_number LIMIT 50;"),
    ("Batches by status (the counts; then the newest 50 batches of one status, as `batch "
     "list --status`; the next 50: add `AND lot_id < ` the last lot ID shown)",
     "SELECT * FROM batch_status_counts;\n"
     "SELECT lot_id, formula_id, strength, bud FROM batch_summary WHERE status = :status\n"
     "ORDER BY lot_id DESC LIMIT 50;"),
    ("Recall: every batch that used supplier lot :lot",
     "SELECT batch_lot_id, formula_id, status, bud, basis, quantity, unit\n"
     "FROM lot_usage WHERE lot_number = :lot ORDER BY batch_lot_id;"),
    ("Who signed what for batch :batch (sign-offs, oldest first)",
     "SELECT signed_at, meaning, signer, role, reason FROM signatures\n"
     "WHERE lot_id = :batch ORDER BY id;"),
    ("Patients who received any batch made with supplier lot :lot (recall)",
     "SELECT DISTINCT p.patient, p.rx_number, p.printed_at, p.lot_id FROM label_prints p\n"
     "JOIN lot_usage u ON u.batch_lot_id = p.lot_id\n"
     "WHERE u.lot_number = :lot AND p.kind = 'dispensing' ORDER BY p.printed_at;"),
    ("Patients who received a batch",
     "SELECT patient, rx_number, printed_at FROM label_prints\n"
     "WHERE lot_id = :batch AND patient IS NOT NULL;"),
]

def fresh_schema() -> str:
    """The schema SQL of a database built from nothing by the current migrations."""
    store = StoreCore.open(":memory:")
    try:
        return schema_sql(store.db)
    finally:
        store.close()


def schema_markdown() -> str:
    store = StoreCore.open(":memory:")
    conn = store.db
    try:
        out = [
            "# The compounding database\n",
            "Generated from the code by `compounding.store.schema.schema_markdown()` "
            "(do not edit by hand; a test checks it is current).\n",
            "SQLite, WAL journal. Where it is: `--db PATH`, else `$COMPOUNDING_DB`, else "
            "`compounding.db` in the current directory. It is created and migrated on first "
            "use; `compounding db migrate` applies pending migrations, `compounding db schema` "
            "prints the SQL below, `compounding db backup PATH` copies it safely while other "
            "commands run, `compounding db verify` re-checks the audit chain and every record.\n",
            "## For script authors\n",
            "- Read freely; use the views. **Writes are refused by triggers** on every record "
            "table (`UPDATE`/`DELETE` raise an error): history cannot be rewritten. Record new "
            "facts through the `compounding` commands so they reach the audit log.",
            "- Amounts are exact decimal **text** in the unit beside them (mg or mL for lots); "
            "`CAST(x AS REAL)` for arithmetic. The views already do this.",
            "- Dates are `YYYY-MM-DD`; timestamps are UTC ISO 8601 ending in `Z`.",
            "- Open with `PRAGMA foreign_keys = ON` and a busy timeout "
            "(`sqlite3.connect(path, timeout=60)`) so you wait for, not break, a running "
            "command.\n",
            lot_id_section(),
            "## Tables\n",
        ]
        for name, (desc, cols) in TABLES.items():
            out.append(f"### `{name}`\n\n{desc}\n\n| column | type | meaning |\n|---|---|---|")
            for col, typ in columns(conn, name):
                out.append(f"| `{col}` | {typ} | {cols.get(col, '')} |")
            out.append("")
        out.append("## Views\n")
        for name, (desc, cols) in VIEWS.items():
            out.append(f"### `{name}`\n\n{desc}\n\n| column | meaning |\n|---|---|")
            for col, _ in columns(conn, name):
                out.append(f"| `{col}` | {cols.get(col, '')} |")
            out.append("")
        out.append("## Queries\n")
        for title, sql in QUERIES:
            out.append(f"{title}:\n\n```sql\n{sql}\n```\n")
        out.append("## Migrations\n")
        for m in registered_migrations(migrations):
            doc = " ".join((m.fn.__doc__ or "").split())
            out.append(f"- `{m.name}`: {doc}")
        out.append("\n## Full schema (`compounding db schema`)\n")
        out.append(f"```sql\n{schema_sql(conn)}```\n")
        return "\n".join(out)
    finally:
        store.close()


DOC_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "schema.md"


def write_docs(path: Path = DOC_PATH) -> Path:
    Path(path).write_text(schema_markdown(), encoding="utf-8")
    return Path(path)
