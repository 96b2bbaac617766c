"""Per-user API tokens for scripts that call the bench's JSON API (issue 15).

A token is 256 random bits shown once, when made (``compounding users token NAME``); the
store keeps only its SHA-256 (a token is high-entropy, so a fast hash is enough: no guessing
attack on a 2^256 space) and an 8-character prefix that names it in lists and the audit log.
A token acts for its user: read-only on its own, and a write must also carry the user's
passphrase (checked like any signature, counting toward lockout). A token is revoked, never
deleted; a revoked token, or the token of a deactivated or locked user, is refused.

Owns the table ``api_tokens`` (migration ``m009_api_tokens``).
"""

from __future__ import annotations

import hashlib
import secrets

from ..errors import InputError, NotFoundError, RefusedError
from .core import StoreCore
from .users import authenticate, get_user, refuse_state, user_state

#: What every token starts with, so a leaked one is recognisable (secret scanners, logs).
TOKEN_PREFIX = "cbt_"
#: The 8-character prefix that names a token (letters and digits: no separator inside).
PREFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#: Tokens a user may hold unrevoked at once (a bound, not a pharmacy rule).
MAX_ACTIVE = 20


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _shape(row: dict, name: str) -> dict:
    return {"id": row["id"], "user": name, "prefix": row["prefix"], "label": row["label"],
            "created_by": row["created_by"], "created_at": row["created_at"],
            "revoked_by": row["revoked_by"], "revoked_at": row["revoked_at"],
            "state": "revoked" if row["revoked_at"] else "active"}


def create_token(store: StoreCore, name: str, passphrase: str, *,
                 label: str | None = None) -> dict:
    """Make a token for ``name``, who authenticates with their passphrase. Returns the
    token's record with ``token`` (the secret: shown once, never stored)."""
    user = authenticate(store, name, passphrase, "make an API token")
    label = (label or "").strip() or None
    if label is not None and len(label) > 100:
        raise InputError(f"label: {len(label)} characters; at most 100", field="label")
    body = secrets.token_urlsafe(32)
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(8))
    token = f"{TOKEN_PREFIX}{prefix}_{body}"
    with store.write():
        active = store.scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = ? AND "
                              "revoked_at IS NULL", [user["id"]])
        if active >= MAX_ACTIVE:
            raise RefusedError(f"{user['name']} has {active} active API tokens (at most "
                               f"{MAX_ACTIVE}); revoke one first")
        with store.refusing("API token not made: "):
            tid = store.insert("api_tokens", {
                "user_id": user["id"], "prefix": prefix, "token_sha256": token_sha256(token),
                "label": label, "created_by": user["name"], "created_at": store.stamp()})
        store.audit("token.create", user["name"], {"prefix": prefix, "label": label},
                    records=[store.ref("api_tokens", tid)])
        row = store.one("SELECT * FROM api_tokens WHERE id = ?", [tid])
    return {**_shape(row, user["name"]), "token": token}


def list_tokens(store: StoreCore, name: str) -> list[dict]:
    """Every token of ``name`` (active and revoked), oldest first; never the secret."""
    user = get_user(store, name)
    if user is None:
        raise NotFoundError(f"no user {name!r}")
    return [_shape(r, user["name"]) for r in store.rows(
        "SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id", [user["id"]])]


def revoke_token(store: StoreCore, name: str, prefix: str, *, by: str,
                 passphrase: str) -> dict:
    """Revoke ``name``'s token ``prefix``: by ``name`` themselves, or by a pharmacist
    (``by``), who authenticates with their passphrase."""
    user = get_user(store, name)
    if user is None:
        raise NotFoundError(f"no user {name!r}")
    prefix = (prefix or "").strip()
    if prefix.startswith(TOKEN_PREFIX):  # the whole token pasted: name it by its prefix
        prefix = prefix[len(TOKEN_PREFIX):len(TOKEN_PREFIX) + 8]
    signer = authenticate(store, by, passphrase, f"revoke an API token of {user['name']}")
    if signer["name"] != user["name"] and signer["role"] != "pharmacist":
        raise RefusedError(f"{signer['name']} is a {signer['role']}; only {user['name']} or a "
                           "pharmacist may revoke this token")
    with store.write():
        row = store.one("SELECT * FROM api_tokens WHERE user_id = ? AND prefix = ?",
                        [user["id"], prefix])
        if row is None:
            raise NotFoundError(f"{user['name']} has no API token {prefix!r} (see compounding "
                                f"users token {user['name']} --list)")
        if row["revoked_at"]:
            raise RefusedError(f"API token {prefix} of {user['name']} was already revoked on "
                               f"{row['revoked_at'][:10]}")
        with store.refusing("API token not revoked: "):
            store.execute("UPDATE api_tokens SET revoked_by = ?, revoked_at = ? WHERE id = ?",
                          [signer["name"], store.stamp(), row["id"]])
        store.audit("token.revoke", signer["name"], {"user": user["name"], "prefix": prefix},
                    records=[store.ref("api_tokens", row["id"])])
        row = store.one("SELECT * FROM api_tokens WHERE id = ?", [row["id"]])
    return _shape(row, user["name"])


def user_for_token(store: StoreCore, token: str) -> dict:
    """The user a presented token acts for; :class:`RefusedError` when the token is
    unknown, revoked, or its user is deactivated or locked. Compared by SHA-256 (the
    database lookup is by hash, so no timing tells a prefix)."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise RefusedError("API token not recognised")
    row = store.one("SELECT * FROM api_tokens WHERE token_sha256 = ?", [token_sha256(token)])
    if row is None:
        raise RefusedError("API token not recognised")
    if row["revoked_at"]:
        raise RefusedError(f"API token {row['prefix']} was revoked on {row['revoked_at'][:10]}")
    user = store.one("SELECT * FROM users WHERE id = ?", [row["user_id"]])
    if user_state(user) != "active":
        refuse_state(user)
    return user
