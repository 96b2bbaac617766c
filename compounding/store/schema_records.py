"""Schema docs of the records' own safeguards (issue 12): the keyed audit chain. Kept
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
}
