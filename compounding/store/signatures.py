"""Electronic signatures (issue 7): who signed what, meaning what, when.

After 21 CFR Part 11's idea of a signed record: a signature is a row of ``signatures`` with
the signer, their printed name and role, the meaning, the UTC time, what was signed (subject
and the SHA-256 of its content) and a reason. The caller authenticates the signer first
(``users.authenticate``: a signature always asks for the passphrase again) and the database
refuses (CHECK and triggers of ``migrations.m004_users_and_signoffs``) a technician signing
anything but a quarantine, or an inactive signer.

Owns the table ``signatures``; reads ``verifications`` and ``verification_checks`` for the
compounding record (the batch sign-off in :mod:`.signoff` writes them).
"""

from __future__ import annotations

import json

from ..dates import format_date
from .core import StoreCore, canonical


def short_sha256(h: str) -> str:
    """The first 12 hex digits of a SHA-256, for messages."""
    return h[:12]


def person_time(stamp: str) -> str:
    """A UTC stamp for a person: '01 MAR 2026 12:00 UTC'."""
    return f"{format_date(stamp[:10])} {stamp[11:16]} UTC"


def sign(store: StoreCore, user: dict, meaning: str, subject_type: str, subject_id: str,
          record_sha256: str, *, version: int | None = None, lot_id: str | None = None,
          reason: str | None = None, details: dict | None = None) -> dict:
    """Write one signature (inside the caller's transaction; the user is authenticated)."""
    values = {"signer": user["name"], "signer_name": user["full_name"], "role": user["role"],
              "meaning": meaning, "subject_type": subject_type, "subject_id": subject_id,
              "subject_version": version, "record_sha256": record_sha256, "lot_id": lot_id,
              "reason": reason, "details": canonical(details or {}),
              "signed_at": store.stamp()}
    with store.refusing("signature refused: "):
        sid = store.insert("signatures", values)
    store.audit(f"sign.{meaning}", user["name"],
                {k: v for k, v in values.items() if k not in ("signer", "details")}
                | {"details": details or {}},
                lot_id=lot_id, records=[store.ref("signatures", sid)])
    return {**values, "id": sid, "details": details or {}}


def signatures(store: StoreCore, lot_id: str | None = None, subject_type: str | None = None,
               subject_id: str | None = None) -> list[dict]:
    """Signatures, oldest first, filtered by batch and/or subject (``details`` parsed)."""
    where, params = [], []
    for col, val in (("lot_id", lot_id), ("subject_type", subject_type),
                     ("subject_id", subject_id)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    sql = "SELECT * FROM signatures" + (" WHERE " + " AND ".join(where) if where else "")
    rows = store.rows(sql + " ORDER BY id", params)
    for r in rows:
        r["details"] = json.loads(r["details"])
    return rows


def verifications(store: StoreCore, lot_id: str) -> list[dict]:
    """The verifications of one batch, oldest first, each with its signer, time and
    checklist results (``passed`` as bool)."""
    rows = store.rows("SELECT v.*, s.signer, s.signed_at FROM verifications v JOIN "
                       "signatures s ON s.id = v.signature_id WHERE v.lot_id = ? ORDER BY v.id",
                       [lot_id])
    for r in rows:
        r["passed"] = bool(r["passed"])
        r["checks"] = [{**c, "passed": bool(c["passed"])} for c in store.rows(
            "SELECT seq, code, passed, detail FROM verification_checks "
            "WHERE verification_id = ? ORDER BY seq", [r["id"]])]
    return rows

