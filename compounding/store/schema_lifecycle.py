"""Description of the table of migration m023 (session 4: the batch lifecycle held by the
schema), merged into :data:`.schema.TABLES` for the generated schema docs. Data only."""

from __future__ import annotations

LIFECYCLE_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "verification_scopes": (
        "What each verification covered, written by a trigger on `verifications` (a row made "
        "any other way must say the same): the batch's weighings and BUD when it was "
        "verified. A release needs the latest verification passed with its scope still "
        "the batch's (no weighing and no BUD change since). Verifications recorded before "
        "m023 have a row only when their batch had been released (taken as it stood at the "
        "upgrade); a batch verified but not released before the upgrade is verified again. "
        "Append-only.",
        {
            "verification_id": "the verification (verifications.id)",
            "lot_id": "the batch",
            "weighings": "how many weighings the batch had",
            "last_weighing_id": "the latest of them (weighings.id; NULL when none)",
            "bud": "the batch's BUD (YYYY-MM-DD)",
        }),
}
