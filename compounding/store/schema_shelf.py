"""Descriptions of the tables and views of the shelf and recall families (issue 19:
:mod:`.stock`, :mod:`.lot_holds`, :mod:`.recalls`), merged into :data:`.schema.TABLES` and
:data:`.schema.VIEWS` for the generated schema docs. Data only."""

from __future__ import annotations

SHELF_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "stock_counts": (
        "A physical count of a component lot: what was on the shelf, the book figure at that "
        "moment and the variance. A pharmacist's reconciliation turns the variance into a "
        "`stock_adjustments` row (reason count). Append-only.",
        {
            "id": "internal row id (the count number)",
            "component_lot_id": "component_lots.id",
            "counted": "amount counted, decimal text in the lot's unit",
            "counted_as": "the amount as the person gave it (23.4 g)",
            "book": "stock on hand by the records at the count, decimal text, lot unit",
            "variance": "counted - book, signed decimal text, lot unit",
            "note": "remarks (optional)",
            "counted_by": "who counted",
            "counted_at": "UTC ISO 8601",
        }),
    "stock_adjustments": (
        "Signed changes to stock on hand other than receipts and weighings: write-offs "
        "(damaged, spilled, expired, recalled, other: negative) and count corrections "
        "(reason count, a pharmacist, either sign). CHECKs and triggers refuse a positive "
        "write-off and a signer who is not an active user of that role. Append-only.",
        {
            "id": "internal row id",
            "component_lot_id": "component_lots.id",
            "quantity": "signed decimal text in the lot's unit (-12.5 = 12.5 mg out)",
            "entered_as": "the amount as the person gave it (-12.5 mg)",
            "reason": "damaged, spilled, expired, recalled, count or other",
            "note": "what happened (required for other)",
            "count_id": "stock_counts.id this reconciles (reason count), else NULL",
            "recall_id": "recalls.id when the write-off follows a recall, else NULL",
            "signed_by": "who signed (passphrase asked again)",
            "signer_role": "their role when signing",
            "signed_at": "UTC ISO 8601",
        }),
    "lot_holds": (
        "Holds on component lots and their releases, signed by a pharmacist; a lot's state is "
        "its latest row. A held lot cannot be picked for a batch or weighed. A trigger "
        "refuses holding a held lot or releasing a free one. Append-only.",
        {
            "id": "internal row id",
            "component_lot_id": "component_lots.id",
            "action": "hold or release",
            "reason": "why",
            "recall_id": "recalls.id when a recall placed the hold, else NULL",
            "signed_by": "the pharmacist",
            "signer_role": "pharmacist",
            "signed_at": "UTC ISO 8601",
        }),
    "recalls": (
        "A recall opened by a pharmacist: of a supplier lot (component_lot_id) or of one "
        "batch (lot_id). A trigger refuses a second open recall of the same lot. "
        "Append-only; closed by a `recall_closures` row.",
        {
            "id": "internal row id (the recall number)",
            "component_lot_id": "component_lots.id recalled, or NULL",
            "lot_id": "batches.lot_id recalled, or NULL",
            "reason": "why (supplier notice, test result...)",
            "opened_by": "the pharmacist",
            "opened_at": "UTC ISO 8601",
        }),
    "recall_batches": (
        "Every batch downstream of a recall and what the recall did to it (quarantined with a "
        "signature, already on hold, rejected). Append-only.",
        {
            "recall_id": "recalls.id",
            "lot_id": "batches.lot_id",
            "status_before": "the batch's status when the recall opened",
            "action": "quarantined, already-on-hold, dispensed or rejected",
            "signature_id": "signatures.id of the quarantine (action quarantined)",
        }),
    "recall_patients": (
        "The patients to reach, as dispensed when the recall opened (one row per batch and "
        "Rx number; reprints counted once). Append-only.",
        {
            "recall_id": "recalls.id",
            "seq": "1, 2, ... within the recall",
            "lot_id": "the batch dispensed",
            "patient": "patient name as printed",
            "rx_number": "Rx number",
            "prescriber": "prescriber",
            "dispensed_quantity": "quantity dispensed as printed",
            "dispensed_on": "date of the first dispensing label YYYY-MM-DD",
            "label_print_id": "label_prints.id of that label",
        }),
    "recall_contacts": (
        "Every attempt to reach a recalled patient. A trigger refuses a contact after the "
        "recall is closed or for an Rx that is not in it. Append-only.",
        {
            "id": "internal row id",
            "recall_id": "recalls.id",
            "rx_number": "the patient's Rx number (in recall_patients)",
            "outcome": "reached, message-left or unreachable",
            "note": "what was said or agreed",
            "contacted_by": "who called",
            "contacted_at": "UTC ISO 8601",
        }),
    "recall_closures": (
        "The closure of a recall, signed by a pharmacist. A trigger refuses it while a "
        "patient has no contact, unless incomplete_reason says why. Append-only.",
        {
            "recall_id": "recalls.id",
            "note": "how the recall ended",
            "incomplete_reason": "why it closed with patients without an outcome, or NULL",
            "closed_by": "the pharmacist",
            "closed_at": "UTC ISO 8601",
        }),
}

SHELF_VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "stock_movements": (
        "Every movement of every component lot in time order: receipts (+), weighings (-) and "
        "adjustments (signed), with the running balance per lot. Numbers in the lot's unit "
        "rounded to 6 decimals (`inventory movements LOT` gives exact decimals).",
        {
            "component_lot_id": "component_lots.id",
            "ingredient": "ingredient id",
            "lot_number": "supplier lot number",
            "unit": "mg or mL",
            "at": "UTC ISO 8601",
            "kind": "receipt, weighing or adjustment",
            "reason": "the adjustment's reason, else NULL",
            "batch_lot_id": "the batch a weighing went into, else NULL",
            "by_user": "who received, weighed or signed",
            "source_id": "id in lot_receipts, weighings or stock_adjustments",
            "change": "the movement (+ in, - out)",
            "balance": "stock on hand after it",
        }),
    "recall_status": (
        "One line per recall and how far it has got: batches quarantined, patients, how many "
        "contacted and reached, open or closed.",
        {
            "recall_id": "recalls.id",
            "kind": "component-lot or batch",
            "lot": "supplier lot number or batch lot ID",
            "ingredient": "the supplier lot's ingredient (NULL for a batch)",
            "reason": "why",
            "opened_by": "the pharmacist",
            "opened_at": "UTC ISO 8601",
            "status": "open or closed",
            "closed_by": "the pharmacist who closed it, else NULL",
            "closed_at": "UTC ISO 8601, else NULL",
            "batches": "downstream batches",
            "quarantined": "of which the recall quarantined",
            "patients": "patients to reach",
            "contacted": "patients with at least one contact",
            "reached": "patients reached",
        }),
}
