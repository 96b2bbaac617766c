"""People who may act: users, passphrases, lockout and attribution (issue 7).

After 21 CFR Part 11's idea of a signed record:

- **Users** have a unique name (never reused: a user is deactivated, never deleted), a role
  (technician or pharmacist) and a passphrase of which only a salted scrypt hash is kept
  (:mod:`compounding.auth`). Five wrong passphrases in a row lock the user until a
  pharmacist unlocks them; every wrong passphrase is on the audit log.
- **Attribution**: every action recorded under a name (``--by``) names an active, unlocked
  user (:func:`acting`, called by every write of the record modules). When the store has a
  ``passphrase_source`` (the CLI sets one) that person's passphrase is asked once per
  command, so technician work (receiving, weighing, printing) is authenticated too.
- Adding, deactivating and unlocking a user is a pharmacist's signature
  (:func:`.signatures.sign`).

Owns the table ``users``.
"""

from __future__ import annotations

import re

from .. import auth
from ..errors import InputError, NotFoundError, RefusedError, StoreError
from .core import StoreCore, need_text
from .migrations import ROLES
from .signatures import sign

#: scrypt cost for new passphrase hashes: (n, r, p). Production uses the RFC 7914 figure from
#: :mod:`compounding.auth`; the test suite lowers it (tests/conftest.py) to stay fast. Each
#: hash records its own cost, so verification always uses the cost it was made with.
SCRYPT_COST = (auth.SCRYPT_N, auth.SCRYPT_R, auth.SCRYPT_P)

#: A user name (the same rule as the CHECK constraint of ``users.name``).
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{1,39}")

# ---------------------------------------------------------------- users

def get_user(store: StoreCore, name: str) -> dict | None:
    if not isinstance(name, str) or not name.strip():
        return None
    return store.one("SELECT * FROM users WHERE name = ?", [name.strip()])


def user_state(user: dict) -> str:
    if not user["active"]:
        return "deactivated"
    if user["locked_at"]:
        return "locked"
    return "active"


def user_out(user: dict) -> dict:
    out = {k: user[k] for k in ("name", "full_name", "role", "failed_attempts", "locked_at",
                                "created_by", "created_at", "deactivated_by",
                                "deactivated_at")}
    out["state"] = user_state(user)
    return out


def list_users(store: StoreCore) -> list[dict]:
    return [user_out(u) for u in store.rows("SELECT * FROM users ORDER BY name")]


def require_user(store: StoreCore, name: str) -> dict:
    name = need_text(name, "by").strip()
    user = get_user(store, name)
    if user is None:
        raise RefusedError(f"no user {name!r}; a pharmacist adds users with "
                           "`compounding users add`")
    return user


def refuse_state(user: dict) -> None:
    state = user_state(user)
    if state == "deactivated":
        raise RefusedError(f"user {user['name']} is deactivated and cannot act")
    if state == "locked":
        raise RefusedError(f"user {user['name']} is locked after {auth.MAX_FAILED_ATTEMPTS} "
                           "wrong passphrases; a pharmacist must unlock them: compounding "
                           f"users unlock {user['name']} --by PHARMACIST")


def authenticate(store: StoreCore, name: str, passphrase: str | None, purpose: str) -> dict:
    """Check ``name``'s passphrase; return the user. A wrong one is refused and logged, and
    the fifth in a row locks the user. Must run outside a transaction, so that the failure
    stays on record although the command then fails."""
    if store.in_transaction:
        raise StoreError("authenticate must not run inside a transaction")
    try:
        user = require_user(store, name)
    except RefusedError:
        store.audit("auth.unknown-user", name.strip(), {"purpose": purpose})
        raise
    try:
        refuse_state(user)
    except RefusedError as exc:
        store.audit("auth.refused", user["name"], {"purpose": purpose, "reason": str(exc)})
        raise
    ok = isinstance(passphrase, str) and auth.verify_passphrase(passphrase,
                                                                user["passphrase_hash"])
    with store.write():
        user = store.one("SELECT * FROM users WHERE id = ?", [user["id"]])
        if ok:
            if user["failed_attempts"]:
                store.execute("UPDATE users SET failed_attempts = 0 WHERE id = ?",
                                 [user["id"]])
        else:
            n = user["failed_attempts"] + 1
            locked = n >= auth.MAX_FAILED_ATTEMPTS
            store.execute("UPDATE users SET failed_attempts = ?, locked_at = ? WHERE id = ?",
                             [n, store.stamp() if locked else None, user["id"]])
            store.audit("auth.failed", user["name"], {"purpose": purpose, "attempt": n,
                                                      "locked": locked})
    if not ok:
        if locked:
            raise RefusedError(f"wrong passphrase for {user['name']}: {n} wrong in a row, the "
                               "user is now locked until a pharmacist unlocks them")
        raise RefusedError(f"wrong passphrase for {user['name']} (attempt {n}; "
                           f"{auth.MAX_FAILED_ATTEMPTS} in a row lock the user)")
    store.authenticated.add(user["name"])
    return user


def acting(store: StoreCore, by: str) -> str:
    """The canonical name of the person acting as ``by``: an active, unlocked user. With a
    ``store.passphrase_source`` (the CLI), their passphrase is checked once per store."""
    user = require_user(store, by)
    refuse_state(user)
    name = user["name"]
    source = getattr(store, "passphrase_source", None)
    if source is not None and name not in store.authenticated:
        authenticate(store, name, source(name), "act")
    return name


def add_user(store: StoreCore, name: str, role: str, passphrase: str, *,
             full_name: str | None = None, by: str | None = None,
             by_passphrase: str | None = None) -> dict:
    """Add a user. The first user of a database must be a pharmacist and needs no signer;
    every later one is added by a pharmacist's signature (``by`` and ``by_passphrase``)."""
    name = need_text(name, "name").strip()
    if not NAME_RE.fullmatch(name):
        raise InputError(f"name: {name!r} is not a valid user name (2 to 40 characters: a "
                         "letter, then letters, digits, '.', '_' or '-')")
    if role not in ROLES:
        raise InputError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    auth.check_new_passphrase(passphrase)
    full_name = (full_name or "").strip() or name
    first = store.scalar("SELECT COUNT(*) FROM users") == 0
    signer = None
    if first:
        if role != "pharmacist":
            raise RefusedError("the first user must be a pharmacist (who then adds the others)")
        if by:
            raise InputError("by: the first user is added without --by (there is nobody yet)")
    else:
        if not by:
            raise InputError("by: a pharmacist adds users; give --by PHARMACIST")
        signer = authenticate(store, by, by_passphrase, f"add user {name}")
        need_pharmacist(store, signer, f"add user {name}")
    if get_user(store, name) is not None:
        raise RefusedError(f"user {name} already exists (names are never reused)")
    hashed = auth.hash_passphrase(passphrase, n=SCRYPT_COST[0], r=SCRYPT_COST[1],
                                  p=SCRYPT_COST[2])
    creator = signer["name"] if signer else name
    with store.write():
        uid = store.insert("users", {"name": name, "full_name": full_name, "role": role,
                                     "passphrase_hash": hashed, "created_by": creator,
                                     "created_at": store.stamp()})
        user = store.one("SELECT * FROM users WHERE id = ?", [uid])
        refs = [store.ref("users", uid)]
        if signer:
            sig = sign(store, signer, "user-added", "user", name,
                        user_sha256(store, uid), details={"role": role})
            refs.append(store.ref("signatures", sig["id"]))
        store.audit("user.add", creator, {"name": name, "role": role, "full_name": full_name,
                                          "first_user": first}, records=refs)
    return user_out(user)


def user_sha256(store: StoreCore, uid: int) -> str:
    return store.record_digest("users", (uid,))


def other_pharmacists(store: StoreCore, name: str) -> int:
    return store.scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'pharmacist' AND active = 1 "
        "AND locked_at IS NULL AND name <> ?", [name])


def user_signoff(store: StoreCore, name: str, by: str, passphrase: str,
                  verb: str) -> tuple[dict, dict]:
    """The user acted on, and the authenticated pharmacist signing for it."""
    target = get_user(store, need_text(name, "name").strip())
    if target is None:
        raise NotFoundError(f"no user {name!r}")
    what = f"{verb} user {target['name']}"
    signer = authenticate(store, by, passphrase, what)
    need_pharmacist(store, signer, what)
    return target, signer


def deactivate_user(store: StoreCore, name: str, *, by: str, passphrase: str,
                    reason: str | None = None) -> dict:
    """Deactivate a user for good (a pharmacist's signature). Their records stay theirs."""
    target, signer = user_signoff(store, name, by, passphrase, "deactivate")
    if not target["active"]:
        raise RefusedError(f"user {target['name']} is already deactivated")
    if target["role"] == "pharmacist" and other_pharmacists(store, target["name"]) == 0:
        raise RefusedError(f"{target['name']} is the last active pharmacist; add another "
                           "pharmacist before deactivating them")
    with store.write():
        sig = sign(store, signer, "user-deactivated", "user", target["name"],
                    user_sha256(store, target["id"]), reason=reason)
        store.execute("UPDATE users SET active = 0, deactivated_by = ?, deactivated_at = ? "
                         "WHERE id = ?", [signer["name"], sig["signed_at"], target["id"]])
        store.audit("user.deactivate", signer["name"], {"name": target["name"],
                                                        "reason": reason},
                    records=[store.ref("signatures", sig["id"])])
    return user_out(get_user(store, target["name"]))


def unlock_user(store: StoreCore, name: str, *, by: str, passphrase: str,
                reason: str | None = None) -> dict:
    """Unlock a user locked by wrong passphrases (a pharmacist's signature)."""
    target, signer = user_signoff(store, name, by, passphrase, "unlock")
    if not target["active"]:
        raise RefusedError(f"user {target['name']} is deactivated; a deactivated user is "
                           "never unlocked")
    if not target["locked_at"]:
        raise RefusedError(f"user {target['name']} is not locked")
    with store.write():
        sig = sign(store, signer, "user-unlocked", "user", target["name"],
                    user_sha256(store, target["id"]), reason=reason,
                    details={"failed_attempts": target["failed_attempts"]})
        store.execute("UPDATE users SET failed_attempts = 0, locked_at = NULL WHERE id = ?",
                         [target["id"]])
        store.audit("user.unlock", signer["name"], {"name": target["name"], "reason": reason},
                    records=[store.ref("signatures", sig["id"])])
    return user_out(get_user(store, target["name"]))


def change_passphrase(store: StoreCore, name: str, old: str, new: str) -> dict:
    """A user changes their own passphrase (the old one is asked first)."""
    user = authenticate(store, name, old, "change passphrase")
    auth.check_new_passphrase(new)
    if new == old:
        raise InputError("passphrase: the new passphrase must differ from the old one")
    hashed = auth.hash_passphrase(new, n=SCRYPT_COST[0], r=SCRYPT_COST[1], p=SCRYPT_COST[2])
    with store.write():
        store.execute("UPDATE users SET passphrase_hash = ? WHERE id = ?",
                         [hashed, user["id"]])
        store.audit("user.passphrase", user["name"], {"name": user["name"]})
    return user_out(get_user(store, user["name"]))


def need_pharmacist(store: StoreCore, user: dict, what: str,
                    lot_id: str | None = None) -> None:
    """Refuse (and audit) ``user`` doing ``what`` unless they are a pharmacist."""
    if user["role"] != "pharmacist":
        refuse(store, user, what, f"{user['name']} is a {user['role']}; only a pharmacist may "
                f"{what}", lot_id)


def refuse(store: StoreCore, user: dict, what: str, msg: str, lot_id: str | None = None):
    """Record on the audit log that ``user`` was refused ``what`` (``msg`` says why), then
    raise :class:`RefusedError` with ``msg``. Called outside the write transaction, so the
    refusal stays on record."""
    store.audit("signoff.refused", user["name"], {"what": what, "reason": msg}, lot_id=lot_id)
    raise RefusedError(msg)

