"""People who may act: users, passphrases, lockout and attribution (issue 7).

After 21 CFR Part 11's idea of a signed record:

- **Users** have a unique name (never reused: a user is deactivated, never deleted), a role
  (technician or pharmacist) and a passphrase of which only a salted scrypt hash is kept
  (:mod:`compounding.auth`; checked in Unicode NFC). Five wrong passphrases in a row lock
  the user for a cool-down (issue 12; :func:`cooldown_minutes`), and a pharmacist may unlock
  them sooner; every wrong passphrase is on the audit log. A pharmacy whose every
  pharmacist is locked recovers one with :func:`recover_pharmacist`, which needs the
  database file and its audit key (docs/signoff.md, "Lockout").
- **Attribution**: every action recorded under a name (``--by``) names an active, unlocked
  user (:func:`acting`, called by every write of the record modules). When the store has a
  ``passphrase_source`` (the CLI sets one) that person's passphrase is asked once per
  command, so technician work (receiving, weighing, printing) is authenticated too.
- Adding, deactivating and unlocking a user is a pharmacist's signature
  (:func:`.signatures.sign`).
- **In a group on PostgreSQL** (session 4 attack, finding 1) the service role may not
  insert users nor change a passphrase hash or an account's active state (the grants of
  :func:`.pg_migrations.grants`): adding, deactivating and changing passphrases are done
  with the owner role's URL, and the service role gets one line saying so
  (:func:`owner_only`). The lockout columns stay the service's to write.

Owns the table ``users``.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta, timezone

from .. import auth
from ..errors import InputError, NotFoundError, PrivilegeError, RefusedError, StoreError
from .core import StoreCore, need_text
from .migrations import ROLES
from .signatures import sign

#: scrypt cost for new passphrase hashes: (n, r, p). Production uses the RFC 7914 figure from
#: :mod:`compounding.auth`; the test suite lowers it (tests/conftest.py) to stay fast. Each
#: hash records its own cost, so verification always uses the cost it was made with.
SCRYPT_COST = (auth.SCRYPT_N, auth.SCRYPT_R, auth.SCRYPT_P)

#: A user name (the same rule as the CHECK constraint of ``users.name``).
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{1,39}")

#: Default base cool-down of a lockout, minutes (issue 12: "default 15 minutes"); the
#: setting ``[users] lockout_minutes`` (store.lockout_minutes) replaces it.
LOCKOUT_MINUTES = 15
#: The longest cool-down, minutes: 24 hours. Doubling from 15 minutes reaches it at the
#: 8th lockout in a row (15, 30, 60, 120, 240, 480, 960, then 1440): slow enough that
#: guessing a passphrase by lockouts takes years, short enough that a pharmacist locked by
#: someone else is back the next day even if nobody unlocks them. Waiting periods that
#: grow with repeated failures, rather than a lock only an administrator lifts, are what
#: NIST SP 800-63B (rev. 3) section 5.2.2 names as a rate-limiting technique.
LOCKOUT_CAP_MINUTES = 24 * 60

# ---------------------------------------------------------------- lockout (issue 12)

def cooldown_minutes(base: int, lockouts: int) -> int:
    """Minutes the ``lockouts``-th lockout in a row lasts: ``base`` doubled for each earlier
    one, at most :data:`LOCKOUT_CAP_MINUTES`. ``lockouts`` counts from 1."""
    if isinstance(base, bool) or not isinstance(base, int) or not 1 <= base <= \
            LOCKOUT_CAP_MINUTES:
        raise InputError(f"users.lockout_minutes: {base!r}; a whole number of minutes from 1 "
                         f"to {LOCKOUT_CAP_MINUTES}")
    return min(base * 2 ** min(max(lockouts, 1) - 1, 20), LOCKOUT_CAP_MINUTES)


def stamp_time(stamp: str) -> datetime:
    """The store's UTC stamp (``2026-03-01T12:00:00.000000Z``) as an aware datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)


def locked_until(user: dict) -> datetime | None:
    """When ``user``'s lockout ends (aware UTC), or None when not locked. A lock without
    an end (none is written so; conservative) lasts until a pharmacist unlocks it."""
    if not user.get("locked_at"):
        return None
    until = user.get("locked_until")
    try:
        return stamp_time(until)
    except (TypeError, ValueError):  # no end, or not a time: conservative, until unlocked
        return datetime.max.replace(tzinfo=timezone.utc)


def when_text(moment: datetime) -> str:
    """``30 NOV 2026 23:45 UTC``: month names (ISMP), UTC said."""
    return moment.astimezone(timezone.utc).strftime("%d %b %Y %H:%M UTC").upper()

# ---------------------------------------------------------------- users

def get_user(store: StoreCore, name: str) -> dict | None:
    if not isinstance(name, str) or not name.strip():
        return None
    return store.one("SELECT * FROM users WHERE name = ?", [name.strip()])


def user_state(user: dict, now: datetime | None = None) -> str:
    """``deactivated``, ``locked`` (a lockout's cool-down runs at ``now``: default the system
    clock) or ``active``. A lock whose cool-down has ended is ``active``; the store clears it
    at the user's next passphrase (:func:`authenticate`). The one rule for the CLI, the
    bench and the API."""
    if not user["active"]:
        return "deactivated"
    until = locked_until(user)
    if until is not None and (now or datetime.now(timezone.utc)) < until:
        return "locked"
    return "active"


def user_out(user: dict, now: datetime | None = None) -> dict:
    out = {k: user[k] for k in ("name", "full_name", "role", "failed_attempts", "locked_at",
                                "created_by", "created_at", "deactivated_by",
                                "deactivated_at")}
    out["state"] = user_state(user, now)
    out["locked_until"] = user.get("locked_until") if out["state"] == "locked" else None
    out["lockouts"] = user.get("lockouts", 0)
    return out


def list_users(store: StoreCore) -> list[dict]:
    now = store.now()
    return [user_out(u, now) for u in store.rows("SELECT * FROM users ORDER BY name")]


def require_user(store: StoreCore, name: str) -> dict:
    """The user ``name``, or :class:`RefusedError`. The name goes through the one normaliser
    first (:func:`compounding.text.normalize`, an identifier, as the CLI's ``--by``): a name
    of control characters from any door (the bench's sign-in form sent NUL) is refused with
    one line, instead of reaching the audit log, whose CHECK refused it (a 500)."""
    from ..text import normalize
    need_text(name, "by")
    name = normalize(name, "by", kind="identifier")
    user = get_user(store, name)
    if user is None:
        raise RefusedError(f"no user {name!r}; a pharmacist adds users with "
                           "`compounding users add`")
    return user


def refuse_state(user: dict, now: datetime | None = None) -> None:
    """Raise :class:`RefusedError` unless ``user`` may act at ``now`` (:func:`user_state`)."""
    state = user_state(user, now)
    if state == "deactivated":
        raise RefusedError(f"user {user['name']} is deactivated and cannot act")
    if state == "locked":
        until = locked_until(user)
        end = (f" until {when_text(until)}" if until.year < 9999 else
               " with no end recorded")
        raise RefusedError(f"user {user['name']} is locked after {auth.MAX_FAILED_ATTEMPTS} "
                           f"wrong passphrases{end}; a pharmacist can unlock them sooner: "
                           f"compounding users unlock {user['name']} --by PHARMACIST")


def authenticate(store: StoreCore, name: str, passphrase: str | None, purpose: str) -> dict:
    """Check ``name``'s passphrase (Unicode NFC, :mod:`compounding.auth`); return the user.

    A wrong one is refused and logged; the fifth in a row locks the user for a cool-down of
    :func:`cooldown_minutes` (the store's ``lockout_minutes``, doubled for each lockout in a
    row without a right passphrase). While locked, no passphrase is checked (refused and
    logged). Once the cool-down is over, the lock is cleared here and the user has five
    tries again. A right passphrase resets the counts, and a hash from before passphrases
    were normalised is replaced by its NFC form. Must run outside a transaction, so that a
    failure stays on record although the command then fails."""
    if store.in_transaction:
        raise StoreError("authenticate must not run inside a transaction")
    try:
        user = require_user(store, name)
    except RefusedError:
        store.audit("auth.unknown-user", name.strip(), {"purpose": purpose})
        raise
    now = store.now()
    try:
        refuse_state(user, now)
    except RefusedError as exc:
        store.audit("auth.refused", user["name"], {"purpose": purpose, "reason": str(exc)})
        raise
    ok, rehash = auth.check_passphrase(passphrase, user["passphrase_hash"])
    locked, minutes = False, 0
    with store.write():
        user = store.one("SELECT * FROM users WHERE id = ?", [user["id"]])
        refuse_state(user, now)  # locked meanwhile by another process: not checked again
        ended = user["locked_at"] is not None  # a lock whose cool-down is over
        if ended:
            store.audit("auth.lock-ended", user["name"], {
                "purpose": purpose, "locked_at": user["locked_at"],
                "locked_until": user["locked_until"]})
        if ok:
            if user["failed_attempts"] or user.get("lockouts") or ended:
                store.execute("UPDATE users SET failed_attempts = 0, lockouts = 0, locked_at = "
                              "NULL, locked_until = NULL WHERE id = ?", [user["id"]])
            if rehash:
                _rehash(store, user, passphrase, purpose)
        else:
            n = (0 if ended else user["failed_attempts"]) + 1
            locked = n >= auth.MAX_FAILED_ATTEMPTS
            lockouts = user["lockouts"] + (1 if locked else 0)
            until = None
            if locked:
                minutes = cooldown_minutes(_lockout_base(store), lockouts)
                until = utc(now + timedelta(minutes=minutes))
            store.execute("UPDATE users SET failed_attempts = ?, locked_at = ?, "
                          "locked_until = ?, lockouts = ? WHERE id = ?",
                          [n, store.stamp() if locked else None, until, lockouts, user["id"]])
            details = {"purpose": purpose, "attempt": n, "locked": locked}
            if locked:
                details.update(locked_until=until, minutes=minutes, lockouts=lockouts)
            store.audit("auth.failed", user["name"], details)
    if not ok:
        if locked:
            raise RefusedError(
                f"wrong passphrase for {user['name']}: {n} wrong in a row, the user is now "
                f"locked for {_minutes_text(minutes)} (until "
                f"{when_text(now + timedelta(minutes=minutes))}); a pharmacist can unlock "
                "them sooner")
        raise RefusedError(f"wrong passphrase for {user['name']} (attempt {n}; "
                           f"{auth.MAX_FAILED_ATTEMPTS} in a row lock the user)")
    store.authenticated.add(user["name"])
    return user


def _rehash(store: StoreCore, user: dict, passphrase: str, purpose: str) -> None:
    """Store the NFC form of a hash made before passphrases were normalised (issue 12), in
    a savepoint: a role that may not write hashes (a group's service role on PostgreSQL)
    leaves the old hash, which still checks, for the owner role's next sign-in."""
    try:
        with store.write():
            store.execute("UPDATE users SET passphrase_hash = ? WHERE id = ?",
                          [auth.hash_passphrase(passphrase, n=SCRYPT_COST[0],
                                                r=SCRYPT_COST[1], p=SCRYPT_COST[2]),
                           user["id"]])
            store.audit("auth.rehash", user["name"], {
                "purpose": purpose, "why": "passphrase hash stored in Unicode NFC "
                                           "(issue 12)"})
    except PrivilegeError:
        pass


@contextlib.contextmanager
def owner_only(store: StoreCore, command: str, what: str):
    """Around a write only the owner role of a group's PostgreSQL database may make (adding
    a user, changing a passphrase, deactivating): the server's permission denied becomes one
    :class:`PrivilegeError` line naming ``command`` and the role needed; nothing was
    written (the write transaction inside was rolled back)."""
    try:
        yield
    except PrivilegeError:
        try:
            role = store.backend.current_role(store.db)
        except (AttributeError, StoreError, store.backend.DatabaseError):
            role = "in use"
        raise PrivilegeError(
            f"{command}: the database role {role} may not {what}; in a group on PostgreSQL "
            f"only the owner role may (so that the service's credentials cannot make or "
            f"change a signer): run it with the owner's URL, --db "
            f"postgresql://OWNER@HOST:PORT/NAME (docs/deploy.md); nothing was changed"
        ) from None


def utc(moment: datetime) -> str:
    """The store's UTC stamp of ``moment`` (see :func:`.core.utc_stamp`)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lockout_base(store: StoreCore) -> int:
    base = getattr(store, "lockout_minutes", LOCKOUT_MINUTES)
    return base() if callable(base) else base


def _minutes_text(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


def acting(store: StoreCore, by: str) -> str:
    """The canonical name of the person acting as ``by``: an active, unlocked user. With a
    ``store.passphrase_source`` (the CLI), their passphrase is checked once per store."""
    user = require_user(store, by)
    refuse_state(user, store.now())
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
    with owner_only(store, "users add", "add users"), store.write():
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
    with owner_only(store, "users deactivate", "deactivate users"), store.write():
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
    """Unlock a user locked by wrong passphrases before their cool-down ends (a
    pharmacist's signature). The count of lockouts in a row stays (the next lockout is still
    longer) until the user's next right passphrase."""
    target, signer = user_signoff(store, name, by, passphrase, "unlock")
    if not target["active"]:
        raise RefusedError(f"user {target['name']} is deactivated; a deactivated user is "
                           "never unlocked")
    with store.write():
        target = store.one("SELECT * FROM users WHERE id = ?", [target["id"]])
        if user_state(target, store.now()) != "locked":
            raise RefusedError(f"user {target['name']} is not locked")
        sig = sign(store, signer, "user-unlocked", "user", target["name"],
                    user_sha256(store, target["id"]), reason=reason,
                    details={"failed_attempts": target["failed_attempts"],
                             "locked_until": target["locked_until"]})
        store.execute("UPDATE users SET failed_attempts = 0, locked_at = NULL, "
                      "locked_until = NULL WHERE id = ?", [target["id"]])
        store.audit("user.unlock", signer["name"], {"name": target["name"], "reason": reason},
                    records=[store.ref("signatures", sig["id"])])
    return user_out(get_user(store, target["name"]))


def change_passphrase(store: StoreCore, name: str, old: str, new: str) -> dict:
    """A user changes their own passphrase (the old one is asked first)."""
    user = authenticate(store, name, old, "change passphrase")
    auth.check_new_passphrase(new)
    if auth.normalize(new) == auth.normalize(old):
        raise InputError("passphrase: the new passphrase must differ from the old one")
    hashed = auth.hash_passphrase(new, n=SCRYPT_COST[0], r=SCRYPT_COST[1], p=SCRYPT_COST[2])
    with owner_only(store, "users passphrase", "change passphrases"), store.write():
        store.execute("UPDATE users SET passphrase_hash = ? WHERE id = ?",
                         [hashed, user["id"]])
        store.audit("user.passphrase", user["name"], {"name": user["name"]})
    return user_out(get_user(store, user["name"]))


def recover_pharmacist(store: StoreCore, name: str, *, reason: str, os_user: str) -> dict:
    """The recovery of a pharmacy whose every active pharmacist is locked (issue 12): lift
    pharmacist ``name``'s lock without a signature. Allowed only when no active pharmacist
    is unlocked (otherwise one of them unlocks with :func:`unlock_user`), and only with the
    database's own audit key at hand (:meth:`.core.StoreCore.audit_key`: the key file is
    readable by the account that runs compounding only, so this needs that account on the
    machine that holds the database, never the bench or the API). Audited as
    ``user.recover`` with the OS account, the reason and the key id. The count of lockouts
    in a row stays, so the next lockout is longer."""
    from . import audit_key
    reason = need_text(reason, "reason").strip()
    target = get_user(store, need_text(name, "name").strip())
    if target is None:
        raise NotFoundError(f"no user {name!r}")
    now = store.now()
    if target["role"] != "pharmacist" or not target["active"]:
        raise RefusedError(f"{target['name']} is not an active pharmacist; recovery unlocks "
                           "a pharmacist, who then unlocks the others")
    segments = store.key_segments()
    path, key = store.audit_key()
    if not segments or key is None or audit_key.key_id(key) != segments[-1]["key_id"]:
        raise RefusedError(f"recovery needs this database's audit key; the key file {path} "
                           + ("is missing" if key is None else "is not this database's key"
                              if segments else "has not keyed this database yet")
                           + " (nothing was changed)")
    with store.write():
        pharmacists = store.rows("SELECT * FROM users WHERE role = 'pharmacist' AND "
                                 "active = 1 ORDER BY name")
        free = [p["name"] for p in pharmacists if user_state(p, now) != "locked"]
        if free:
            raise RefusedError(f"pharmacist {free[0]} is not locked: they unlock "
                               f"{target['name']} with `compounding users unlock "
                               f"{target['name']} --by {free[0]}`")
        target = store.one("SELECT * FROM users WHERE id = ?", [target["id"]])
        store.execute("UPDATE users SET failed_attempts = 0, locked_at = NULL, "
                      "locked_until = NULL WHERE id = ?", [target["id"]])
        store.audit("user.recover", os_user or "system", {
            "name": target["name"], "reason": reason, "os_user": os_user,
            "key_id": segments[-1]["key_id"], "locked_until": target["locked_until"],
            "locked_pharmacists": [p["name"] for p in pharmacists]})
    return user_out(get_user(store, target["name"]), now)


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

