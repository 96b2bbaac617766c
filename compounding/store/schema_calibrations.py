"""Description of the capsule calibration table (issue 11: :mod:`.calibrations`), merged into
:data:`.schema.TABLES` for the generated schema docs. Data only."""

from __future__ import annotations

CALIBRATION_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "capsule_calibrations": (
        "A pharmacy's measured fill weight per capsule of one filler in one capsule size "
        "(punch method). Plans of that filler and size use the latest row (and say which); "
        "without one they estimate the fill weight from the filler's assumed density. A "
        "correction is a new row linked to the latest one of the same filler and size, with a "
        "reason (a trigger refuses any other link). Append-only.",
        {
            "id": "internal row id (the calibration number plans cite)",
            "filler": "catalogue ingredient id of the filler (formulas/ingredients.toml)",
            "capsule_size": "capsule size: 000, 00, 0, 1, 2, 3, 4 or 5",
            "fill_weight_mg": "mean fill weight of one capsule, decimal text in mg",
            "capsules_weighed": "how many capsules the mean was taken over (optional)",
            "filler_lot": "supplier lot of the filler measured (optional)",
            "corrects": "capsule_calibrations.id this row corrects (NULL for a measurement)",
            "reason": "why the correction (required with corrects, else NULL)",
            "recorded_by": "who measured it (an active user)",
            "recorded_at": "UTC ISO 8601",
        }),
}
