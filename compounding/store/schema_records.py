"""Schema docs of the records' own safeguards (issue 12): the keyed audit chain, the
dispensing totals and the pending prints (:mod:`.dispensing`, :mod:`.pending`). Kept
apart from :mod:`.schema` (which stays under the size limit) and merged into its tables."""

from __future__ import annotations

RECORDS_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "audit_keys": (
        "Where the audit chain is keyed, and with which key (issue 12; docs/records.md). "
        "From entry `keyed_from` on, each audit entry's `hash` is HMAC-SHA256 under the key "
        "in the audit key file (kept outside the database, never in it); entries before the "
        "first row are the unkeyed SHA-256 chain of earlier versions, verified as they are. "
        "A key starts at the next entry, never earlier (trigger). Append-only; the row is "
        "vouched for by the keyed entry written with it.",
        {
            "id": "internal row id",
            "keyed_from": "the first audit entry keyed with this key",
            "key_id": "the key's id: 16 hex digits of HMAC-SHA256(key, 'compounding audit "
                      "key id'); never the key",
            "scheme": "hmac-sha256",
            "created_at": "UTC ISO 8601",
        }),
    "dispensings": (
        "One row per new dispense from a batch (a dispensing label for a new patient, Rx "
        "number or prescription fill; a reprint of the same Rx adds no row). Quantities are "
        "also kept as integer thousandths of the batch's unit so triggers can add them up "
        "exactly: the running total must equal the sum before it plus this dispense and may "
        "never exceed what the batch made (`batches.quantity`). Append-only.",
        {
            "label_print_id": "label_prints.id of the first label of this dispense",
            "lot_id": "batches.lot_id",
            "rx_number": "the prescription number",
            "fill": "the fill of a recorded prescription, 0 for a label typed in full",
            "patient": "the patient (one Rx number is one patient)",
            "quantity": "decimal text in the batch's unit",
            "unit": "the batch's unit (capsules, mL, g...)",
            "quantity_milli": "quantity x 1000, integer",
            "made_milli": "the batch's quantity x 1000, integer",
            "total_milli": "everything dispensed from the batch with this row, x 1000",
        }),
    "pending_outputs": (
        "Label prints under way: announced before the file is written or the job sent, tied "
        "to its label_prints row when recorded, deleted when the file has its name (or the "
        "job is recorded). A row whose process is gone is resolved by the next print "
        "(docs/records.md). A work queue, not a record: rows are deleted.",
        {
            "id": "internal row id",
            "lot_id": "batches.lot_id",
            "target": "file or printer",
            "output_path": "the file's final name, or 'printer NAME (connection)'",
            "temp_path": "the temporary file beside it (files only)",
            "sha256": "SHA-256 of the bytes written or sent",
            "record_json": "the label print record to write (JSON)",
            "dispense_milli": "a dispense's quantity x 1000 reserved until recorded, else NULL",
            "label_print_id": "label_prints.id once recorded, else NULL",
            "host": "host name of the printing process",
            "pid": "its process id",
            "process_start": "boot id and start time of that process (a reused pid differs)",
            "started_by": "who prints",
            "started_at": "UTC ISO 8601",
        }),
}
