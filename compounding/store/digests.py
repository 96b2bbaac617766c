"""Digests of what the store keeps (issue 12): the canonical JSON a digest is taken of,
each record row's SHA-256 (``db verify`` compares it with the one its audit entry recorded)
and the audit chain's hash, keyed or not. Pure functions: no database here."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

from .. import units as u
from .records import ADDED_COLUMNS, MUTABLE_COLUMNS


def canonical(obj) -> str:
    """The JSON a digest is taken of: sorted keys, no spaces, Decimals as plain strings,
    dates and datetimes as ISO 8601, objects with ``as_json()`` as that."""
    def default(o):
        if isinstance(o, Decimal):
            return u.plain(o)
        if hasattr(o, "isoformat"):
            return o.isoformat()
        if hasattr(o, "as_json"):
            return o.as_json()
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=default)


def sha256(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: The fields of an audit entry its hash covers.
AUDIT_HASHED = ("id", "at", "actor", "action", "lot_id", "details", "prev_hash")


def chain_hash(entry: dict, key: bytes | None = None) -> str:
    """The hash of one audit entry (hex): of the canonical JSON (:func:`canonical`) of its
    id, time, actor, action, lot ID, details (already canonical text) and the previous
    entry's hash. With ``key``: HMAC-SHA256 (RFC 2104) under that key, so that nobody
    without the key can recompute it (issue 12); without: plain SHA-256, the chain of the
    entries written before the database was keyed. The one chain computation, whatever the
    database (SQLite or another backend): it reads only these seven values."""
    body = canonical({k: entry[k] for k in AUDIT_HASHED}).encode("utf-8")
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def audit_hash(entry: dict) -> str:
    """The unkeyed hash of one audit entry (:func:`chain_hash` without a key)."""
    return chain_hash(entry)


def row_digest(table: str, row: dict) -> str:
    """SHA-256 of one record row (``column -> value`` of ``SELECT *``, as the store reads it)
    of a table of :data:`.records.RECORD_KEYS`: its mutable columns left out, and columns
    added later left out while they hold the default earlier rows took
    (:data:`.records.ADDED_COLUMNS`). ``row`` is changed (those columns removed)."""
    for c in MUTABLE_COLUMNS.get(table, ()):
        row.pop(c, None)
    for c, default in ADDED_COLUMNS.get(table, {}).items():
        if c in row and row[c] == default:
            del row[c]
    return sha256(canonical(row))


def blobs_marked(row: dict) -> dict:
    """``row`` with each BLOB value (``bytes``) as ``{"blob": hex}``, which
    :func:`canonical` can write: no column of the store holds a BLOB (SQLite lets plain SQL
    put one in a TEXT column, and :func:`canonical` refuses ``bytes``), and no text or
    number reads as that object, so the digest or hash of a row holding one never matches
    what was recorded: ``db verify`` names the record or the entry instead of stopping with
    a traceback (attack s5)."""
    return {k: {"blob": bytes(v).hex()} if isinstance(v, (bytes, bytearray, memoryview))
            else v for k, v in row.items()}
