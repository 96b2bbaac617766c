"""Descriptions of the derived totals kept by triggers: ``lot_stock_exact`` (issue 18,
migration m019, :mod:`.exact_sums`), ``lot_on_hand`` (m021) and ``batch_status_totals``
(issue 20, m024), merged into :data:`.schema.TABLES` for the generated schema docs. Data
only."""

from __future__ import annotations

_KINDS = {"received": "lot_receipts.quantity", "consumed": "weighings.consumed_quantity",
          "adjusted": "stock_adjustments.quantity (signed)"}

EXACT_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "lot_stock_exact": (
        "Each component lot's exact totals (issue 18: `inventory list` reads one row a lot): "
        "received, consumed (weighed) and adjusted, each amount cut into whole numbers of 9 "
        "decimals (the integer part with decimals 1-9 in `_e9`, decimals 10-18 in `_e18`, "
        "19-27 in `_e27`, 28-36 in `_e36`) and added up as integers, so a total is exact: "
        "total = e9 / 10^9 + e18 / 10^18 + e27 / 10^27 + e36 / 10^36 in the lot's unit; on "
        "hand = received - consumed + adjusted. Kept by triggers on `component_lots`, "
        "`lot_receipts`, `weighings` and `stock_adjustments`; derived, never edited: a "
        "trigger refuses any value that is not the exact sum of the records, and deletions. "
        "An amount with more than 36 decimals or 8 integer digits is not added here but "
        "counted in `inexact`; the store then sums that lot's records with Decimal.",
        {
            "component_lot_id": "the lot (component_lots.id)",
            **{f"{kind}_{c}": (f"{src} summed: integer part and decimals 1-9, in 10^-9 of the "
                               "lot's unit" if c == "e9" else
                               f"decimals {int(c[1:]) - 8}-{c[1:]} of {src}, summed "
                               f"(10^-{c[1:]} units)")
               for kind, src in _KINDS.items() for c in ("e9", "e18", "e27", "e36")},
            "inexact": "how many of the lot's receipts, weighings and adjustments are not in "
                       "the sums (0 nearly always)",
        }),
    "lot_on_hand": (
        "Each component lot's totals as exact decimal text (issue 18, migration m021): "
        "`inventory list` filters, counts and shows stock from here with no arithmetic per "
        "lot. Worked out in SQL with integers only from the lot's `lot_stock_exact` row by "
        "triggers on it; derived, never edited (a trigger refuses any other value and "
        "deletions). All NULL when the lot has an amount `lot_stock_exact` cannot add "
        "(`inexact`): that lot is summed with Decimal from its records.",
        {
            "component_lot_id": "the lot (component_lots.id)",
            "received": "total received (lot_receipts), in the lot's unit, e.g. '25500'",
            "consumed": "total weighed out (weighings.consumed_quantity)",
            "adjusted": "total of the signed stock adjustments, e.g. '-12.5'",
            "on_hand": "received - consumed + adjusted, exact (no trailing decimal zeros)",
            "on_hand_sign": "1 when there is stock on hand, 0 when none, -1 below zero",
        }),
    "batch_status_totals": (
        "The number of batches in each status (issue 20, migration m024), so "
        "`batch_status_counts` does not count ten years of batches. Kept by triggers on "
        "`batches` (a new batch, a change of status); derived, never edited: a trigger "
        "refuses any value other than the count of `batches` in that status, and deletions.",
        {
            "status": "a batch status (planned, compounded, quarantine, released, rejected)",
            "batches": "how many batches are in that status now (0 once none is)",
        }),
}
