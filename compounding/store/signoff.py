"""People, electronic signatures, change control and the batch lifecycle (issue 7).

After 21 CFR Part 11's idea of a signed record:

- **Users** have a unique name (never reused: a user is deactivated, never deleted), a role
  (technician or pharmacist) and a passphrase of which only a salted scrypt hash is kept
  (:mod:`compounding.auth`). Five wrong passphrases in a row lock the user until a
  pharmacist unlocks them; every wrong passphrase is on the audit log.
- **Attribution**: every action recorded under a name (``--by``) names an active, unlocked
  user (:func:`acting`, called by the store's write methods). When the store has a
  ``passphrase_source`` (the CLI sets one) that person's passphrase is asked once per
  command, so technician work (receiving, weighing, printing) is authenticated too.
- **Signatures** (:func:`_sign`) are rows of ``signatures``: signer, printed name, role,
  meaning, UTC time, what was signed (subject and the SHA-256 of its content), reason. A
  signature always asks for the passphrase again (no session), and only pharmacists sign
  anything but a quarantine.
- **Change control**: a formula or label template file is *submitted* by its author (its
  exact bytes kept) and *approved* by a pharmacist who is not the author. A batch can be
  made only from a formula file whose SHA-256 was approved; a label prints only from an
  approved template file.
- **Lifecycle** (triggers in ``migrations.m004_users_and_signoffs``): planned -> compounded
  -> released or rejected; quarantine is a hold. Release needs a passing, current
  verification by a pharmacist who did not compound or weigh the batch.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..dates import format_date
from .. import auth
from ..errors import InputError, NotFoundError, RefusedError, StoreError
from . import lotid
from .store import Store, _need_text, canonical, sha256

#: scrypt cost for new passphrase hashes: (n, r, p). Production uses the RFC 7914 figure from
#: :mod:`compounding.auth`; the test suite lowers it (tests/conftest.py) to stay fast. Each
#: hash records its own cost, so verification always uses the cost it was made with.
SCRYPT_COST = (auth.SCRYPT_N, auth.SCRYPT_R, auth.SCRYPT_P)

ROLES = ("technician", "pharmacist")
#: A user name (the same rule as the CHECK constraint of ``users.name``).
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{1,39}")
OPEN_FOR_VERIFY = ("planned", "compounded")


def _short(h: str) -> str:
    return h[:12]


def _when(stamp: str) -> str:
    """A UTC stamp for a person: '01 MAR 2026 12:00 UTC'."""
    return f"{format_date(stamp[:10])} {stamp[11:16]} UTC"


# ---------------------------------------------------------------- users

def get_user(store: Store, name: str) -> dict | None:
    if not isinstance(name, str) or not name.strip():
        return None
    return store._one("SELECT * FROM users WHERE name = ?", [name.strip()])


def user_state(user: dict) -> str:
    if not user["active"]:
        return "deactivated"
    if user["locked_at"]:
        return "locked"
    return "active"


def _user_out(user: dict) -> dict:
    out = {k: user[k] for k in ("name", "full_name", "role", "failed_attempts", "locked_at",
                                "created_by", "created_at", "deactivated_by",
                                "deactivated_at")}
    out["state"] = user_state(user)
    return out


def list_users(store: Store) -> list[dict]:
    return [_user_out(u) for u in store._rows("SELECT * FROM users ORDER BY name")]


def _require_user(store: Store, name: str) -> dict:
    name = _need_text(name, "by").strip()
    user = get_user(store, name)
    if user is None:
        raise RefusedError(f"no user {name!r}; a pharmacist adds users with "
                           "`compounding users add`")
    return user


def _refuse_state(user: dict) -> None:
    state = user_state(user)
    if state == "deactivated":
        raise RefusedError(f"user {user['name']} is deactivated and cannot act")
    if state == "locked":
        raise RefusedError(f"user {user['name']} is locked after {auth.MAX_FAILED_ATTEMPTS} "
                           "wrong passphrases; a pharmacist must unlock them: compounding "
                           f"users unlock {user['name']} --by PHARMACIST")


def authenticate(store: Store, name: str, passphrase: str | None, purpose: str) -> dict:
    """Check ``name``'s passphrase; return the user. A wrong one is refused and logged, and
    the fifth in a row locks the user. Must run outside a transaction, so that the failure
    stays on record although the command then fails."""
    if store.db.conn.in_transaction:
        raise StoreError("authenticate must not run inside a transaction")
    try:
        user = _require_user(store, name)
    except RefusedError:
        store.audit("auth.unknown-user", name.strip(), {"purpose": purpose})
        raise
    try:
        _refuse_state(user)
    except RefusedError as exc:
        store.audit("auth.refused", user["name"], {"purpose": purpose, "reason": str(exc)})
        raise
    ok = isinstance(passphrase, str) and auth.verify_passphrase(passphrase,
                                                                user["passphrase_hash"])
    with store.write():
        user = store._one("SELECT * FROM users WHERE id = ?", [user["id"]])
        if ok:
            if user["failed_attempts"]:
                store.db.execute("UPDATE users SET failed_attempts = 0 WHERE id = ?",
                                 [user["id"]])
        else:
            n = user["failed_attempts"] + 1
            locked = n >= auth.MAX_FAILED_ATTEMPTS
            store.db.execute("UPDATE users SET failed_attempts = ?, locked_at = ? WHERE id = ?",
                             [n, store.stamp() if locked else None, user["id"]])
            store.audit("auth.failed", user["name"], {"purpose": purpose, "attempt": n,
                                                      "locked": locked})
    if not ok:
        if locked:
            raise RefusedError(f"wrong passphrase for {user['name']}: {n} wrong in a row, the "
                               "user is now locked until a pharmacist unlocks them")
        raise RefusedError(f"wrong passphrase for {user['name']} (attempt {n}; "
                           f"{auth.MAX_FAILED_ATTEMPTS} in a row lock the user)")
    store._authenticated.add(user["name"])
    return user


def acting(store: Store, by: str) -> str:
    """The canonical name of the person acting as ``by``: an active, unlocked user. With a
    ``store.passphrase_source`` (the CLI), their passphrase is checked once per store."""
    user = _require_user(store, by)
    _refuse_state(user)
    name = user["name"]
    source = getattr(store, "passphrase_source", None)
    if source is not None and name not in store._authenticated:
        authenticate(store, name, source(name), "act")
    return name


def add_user(store: Store, name: str, role: str, passphrase: str, *,
             full_name: str | None = None, by: str | None = None,
             by_passphrase: str | None = None) -> dict:
    """Add a user. The first user of a database must be a pharmacist and needs no signer;
    every later one is added by a pharmacist's signature (``by`` and ``by_passphrase``)."""
    name = _need_text(name, "name").strip()
    if not NAME_RE.fullmatch(name):
        raise InputError(f"name: {name!r} is not a valid user name (2 to 40 characters: a "
                         "letter, then letters, digits, '.', '_' or '-')")
    if role not in ROLES:
        raise InputError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    auth.check_new_passphrase(passphrase)
    full_name = (full_name or "").strip() or name
    first = store.db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
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
        _need_pharmacist(store, signer, f"add user {name}")
    if get_user(store, name) is not None:
        raise RefusedError(f"user {name} already exists (names are never reused)")
    hashed = auth.hash_passphrase(passphrase, n=SCRYPT_COST[0], r=SCRYPT_COST[1],
                                  p=SCRYPT_COST[2])
    creator = signer["name"] if signer else name
    with store.write():
        cur = store.db.execute(
            "INSERT INTO users (name, full_name, role, passphrase_hash, created_by, "
            "created_at) VALUES (?,?,?,?,?,?)",
            [name, full_name, role, hashed, creator, store.stamp()])
        uid = cur.lastrowid
        user = store._one("SELECT * FROM users WHERE id = ?", [uid])
        refs = [store._ref("users", uid)]
        if signer:
            sig = _sign(store, signer, "user-added", "user", name,
                        user_sha256(store, uid), details={"role": role})
            refs.append(store._ref("signatures", sig["id"]))
        store.audit("user.add", creator, {"name": name, "role": role, "full_name": full_name,
                                          "first_user": first}, records=refs)
    return _user_out(user)


def user_sha256(store: Store, uid: int) -> str:
    return store.record_digest("users", (uid,))


def _other_pharmacists(store: Store, name: str) -> int:
    return store.db.execute(
        "SELECT COUNT(*) FROM users WHERE role = 'pharmacist' AND active = 1 "
        "AND locked_at IS NULL AND name <> ?", [name]).fetchone()[0]


def _user_signoff(store: Store, name: str, by: str, passphrase: str,
                  verb: str) -> tuple[dict, dict]:
    """The user acted on, and the authenticated pharmacist signing for it."""
    target = get_user(store, _need_text(name, "name").strip())
    if target is None:
        raise NotFoundError(f"no user {name!r}")
    what = f"{verb} user {target['name']}"
    signer = authenticate(store, by, passphrase, what)
    _need_pharmacist(store, signer, what)
    return target, signer


def deactivate_user(store: Store, name: str, *, by: str, passphrase: str,
                    reason: str | None = None) -> dict:
    """Deactivate a user for good (a pharmacist's signature). Their records stay theirs."""
    target, signer = _user_signoff(store, name, by, passphrase, "deactivate")
    if not target["active"]:
        raise RefusedError(f"user {target['name']} is already deactivated")
    if target["role"] == "pharmacist" and _other_pharmacists(store, target["name"]) == 0:
        raise RefusedError(f"{target['name']} is the last active pharmacist; add another "
                           "pharmacist before deactivating them")
    with store.write():
        sig = _sign(store, signer, "user-deactivated", "user", target["name"],
                    user_sha256(store, target["id"]), reason=reason)
        store.db.execute("UPDATE users SET active = 0, deactivated_by = ?, deactivated_at = ? "
                         "WHERE id = ?", [signer["name"], sig["signed_at"], target["id"]])
        store.audit("user.deactivate", signer["name"], {"name": target["name"],
                                                        "reason": reason},
                    records=[store._ref("signatures", sig["id"])])
    return _user_out(get_user(store, target["name"]))


def unlock_user(store: Store, name: str, *, by: str, passphrase: str,
                reason: str | None = None) -> dict:
    """Unlock a user locked by wrong passphrases (a pharmacist's signature)."""
    target, signer = _user_signoff(store, name, by, passphrase, "unlock")
    if not target["active"]:
        raise RefusedError(f"user {target['name']} is deactivated; a deactivated user is "
                           "never unlocked")
    if not target["locked_at"]:
        raise RefusedError(f"user {target['name']} is not locked")
    with store.write():
        sig = _sign(store, signer, "user-unlocked", "user", target["name"],
                    user_sha256(store, target["id"]), reason=reason,
                    details={"failed_attempts": target["failed_attempts"]})
        store.db.execute("UPDATE users SET failed_attempts = 0, locked_at = NULL WHERE id = ?",
                         [target["id"]])
        store.audit("user.unlock", signer["name"], {"name": target["name"], "reason": reason},
                    records=[store._ref("signatures", sig["id"])])
    return _user_out(get_user(store, target["name"]))


def change_passphrase(store: Store, name: str, old: str, new: str) -> dict:
    """A user changes their own passphrase (the old one is asked first)."""
    user = authenticate(store, name, old, "change passphrase")
    auth.check_new_passphrase(new)
    if new == old:
        raise InputError("passphrase: the new passphrase must differ from the old one")
    hashed = auth.hash_passphrase(new, n=SCRYPT_COST[0], r=SCRYPT_COST[1], p=SCRYPT_COST[2])
    with store.write():
        store.db.execute("UPDATE users SET passphrase_hash = ? WHERE id = ?",
                         [hashed, user["id"]])
        store.audit("user.passphrase", user["name"], {"name": user["name"]})
    return _user_out(get_user(store, user["name"]))


def _need_pharmacist(store: Store, user: dict, what: str, lot_id: str | None = None) -> None:
    if user["role"] != "pharmacist":
        _refuse(store, user, what, f"{user['name']} is a {user['role']}; only a pharmacist may "
                f"{what}", lot_id)


def _refuse(store: Store, user: dict, what: str, msg: str, lot_id: str | None = None):
    store.audit("signoff.refused", user["name"], {"what": what, "reason": msg}, lot_id=lot_id)
    raise RefusedError(msg)


# ---------------------------------------------------------------- signatures

def _sign(store: Store, user: dict, meaning: str, subject_type: str, subject_id: str,
          record_sha256: str, *, version: int | None = None, lot_id: str | None = None,
          reason: str | None = None, details: dict | None = None) -> dict:
    """Write one signature (inside the caller's transaction; the user is authenticated)."""
    values = {"signer": user["name"], "signer_name": user["full_name"], "role": user["role"],
              "meaning": meaning, "subject_type": subject_type, "subject_id": subject_id,
              "subject_version": version, "record_sha256": record_sha256, "lot_id": lot_id,
              "reason": reason, "details": canonical(details or {}),
              "signed_at": store.stamp()}
    try:
        cur = store.db.execute(f"INSERT INTO signatures ({', '.join(values)}) VALUES "
                               f"({', '.join(':' + k for k in values)})", values)
    except sqlite3.IntegrityError as exc:
        raise RefusedError(f"signature refused: {exc}") from None
    sid = cur.lastrowid
    store.audit(f"sign.{meaning}", user["name"],
                {k: v for k, v in values.items() if k not in ("signer", "details")}
                | {"details": details or {}},
                lot_id=lot_id, records=[store._ref("signatures", sid)])
    return {**values, "id": sid, "details": details or {}}


def signatures(store: Store, lot_id: str | None = None, subject_type: str | None = None,
               subject_id: str | None = None) -> list[dict]:
    where, params = [], []
    for col, val in (("lot_id", lot_id), ("subject_type", subject_type),
                     ("subject_id", subject_id)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    sql = "SELECT * FROM signatures" + (" WHERE " + " AND ".join(where) if where else "")
    rows = store._rows(sql + " ORDER BY id", params)
    for r in rows:
        r["details"] = json.loads(r["details"])
    return rows


# ---------------------------------------------------------------- change control

KIND_WORDS = {"formula": "formula", "template": "label template"}
COMMANDS = {"formula": "formulas", "template": "labels"}


def submissions(store: Store, subject_type: str, subject_id: str) -> list[dict]:
    return store._rows("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                       "ORDER BY id", [subject_type, subject_id])


def approvals(store: Store, subject_type: str, subject_id: str) -> list[dict]:
    return [s for s in signatures(store, subject_type=subject_type, subject_id=subject_id)
            if s["meaning"] == "approved"]


def approval_state(store: Store, subject_type: str, subject_id: str, version: int,
                   sha: str) -> dict:
    """Where one file stands: approved (this exact content), submitted, or neither."""
    apps = approvals(store, subject_type, subject_id)
    mine = next((a for a in apps if a["record_sha256"] == sha), None)
    sub = store._one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                     "AND sha256 = ?", [subject_type, subject_id, sha])
    state = "approved" if mine else "submitted" if sub else "not submitted"
    return {"subject_type": subject_type, "id": subject_id, "version": version, "sha256": sha,
            "state": state, "approval": mine, "submission": sub,
            "last_approval": apps[-1] if apps else None}


def submit(store: Store, subject_type: str, subject_id: str, version: int, content: bytes,
           *, by: str, note: str | None = None) -> dict:
    """Record who proposes this exact file content (its author) for approval."""
    word = KIND_WORDS[subject_type]
    by = acting(store, by)
    sha = sha256_bytes(content)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{word} {subject_id}: the file is not UTF-8 text") from None
    with store.write():
        same = store._one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                          "AND sha256 = ?", [subject_type, subject_id, sha])
        if same:
            raise RefusedError(f"{word} {subject_id} version {same['version']} with this "
                               f"content was already submitted by {same['submitted_by']} on "
                               f"{_when(same['submitted_at'])}")
        apps = approvals(store, subject_type, subject_id)
        for a in apps:
            if a["subject_version"] == version:
                raise RefusedError(f"{word} {subject_id} version {version} was approved with "
                                   "other content; a changed file needs a new version number "
                                   "(raise `version` in the file)")
        if apps and version < max(a["subject_version"] for a in apps):
            raise RefusedError(f"{word} {subject_id}: version {version} is older than the "
                               f"approved version {max(a['subject_version'] for a in apps)}")
        cur = store.db.execute(
            "INSERT INTO submissions (subject_type, subject_id, version, sha256, content, note, "
            "submitted_by, submitted_at) VALUES (?,?,?,?,?,?,?,?)",
            [subject_type, subject_id, version, sha, text, (note or "").strip() or None, by,
             store.stamp()])
        sid = cur.lastrowid
        store.audit(f"{subject_type}.submit", by, {"id": subject_id, "version": version,
                                                   "sha256": sha, "note": note},
                    records=[store._ref("submissions", sid)])
    return store._one("SELECT * FROM submissions WHERE id = ?", [sid])


def approve(store: Store, subject_type: str, subject_id: str, version: int, sha: str, *,
            by: str, passphrase: str) -> dict:
    """A pharmacist who is not the author approves the submitted content ``sha``."""
    word = KIND_WORDS[subject_type]
    what = f"approve {word} {subject_id}"
    user = authenticate(store, by, passphrase, what)
    _need_pharmacist(store, user, what)
    state = approval_state(store, subject_type, subject_id, version, sha)
    if state["state"] == "approved":
        a = state["approval"]
        _refuse(store, user, what, f"{word} {subject_id} version {version} is already approved "
                f"(by {a['signer']} on {_when(a['signed_at'])})")
    sub = state["submission"]
    if sub is None:
        _refuse(store, user, what, f"{word} {subject_id} version {version} (SHA-256 "
                f"{_short(sha)}) has not been submitted; its author submits it first: "
                f"compounding {COMMANDS[subject_type]} submit {subject_id} --by AUTHOR")
    if sub["version"] != version:
        _refuse(store, user, what, f"{word} {subject_id}: submitted as version "
                f"{sub['version']}, the file says {version}")
    if sub["submitted_by"].lower() == user["name"].lower():
        _refuse(store, user, what, f"{user['name']} is the author of {word} {subject_id} "
                f"version {version} and cannot approve it; another pharmacist must")
    previous = state["last_approval"]
    with store.write():
        sig = _sign(store, user, "approved", subject_type, subject_id, sha, version=version,
                    details={"submission_id": sub["id"], "author": sub["submitted_by"],
                             "supersedes": previous["record_sha256"] if previous else None})
    return {**state, "state": "approved", "approval": sig}


def diff_to_approved(store: Store, subject_type: str, subject_id: str, sha: str) -> list[str]:
    """Unified diff from the last approved content to the submitted content ``sha``."""
    sub = store._one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                     "AND sha256 = ?", [subject_type, subject_id, sha])
    if sub is None:
        return []
    apps = [a for a in approvals(store, subject_type, subject_id) if a["record_sha256"] != sha]
    if not apps:
        return []
    old = store._one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                     "AND sha256 = ?", [subject_type, subject_id, apps[-1]["record_sha256"]])
    return list(difflib.unified_diff(
        old["content"].splitlines(), sub["content"].splitlines(),
        f"{subject_id} version {old['version']} (approved)",
        f"{subject_id} version {sub['version']} (submitted)", lineterm=""))


def require_approved(store: Store, subject_type: str, subject_id: str, version: int,
                     sha: str) -> dict:
    """The approval of exactly this file content; refuse (by name) otherwise."""
    word = KIND_WORDS[subject_type]
    use = "it cannot be used for batches" if subject_type == "formula" else "it does not print"
    state = approval_state(store, subject_type, subject_id, version, sha)
    if state["state"] == "approved":
        return state["approval"]
    cmd = COMMANDS[subject_type]
    last = state["last_approval"]
    if last is not None:
        raise RefusedError(
            f"{word} {subject_id} changed since it was approved: the file (version {version}) "
            f"has SHA-256 {_short(sha)}, version {last['subject_version']} was approved as "
            f"{_short(last['record_sha256'])} by {last['signer']}; {use} until a pharmacist "
            f"approves it again (compounding {cmd} submit, then {cmd} approve)")
    raise RefusedError(
        f"{word} {subject_id} version {version} is not approved by a pharmacist; {use} "
        f"(compounding {cmd} submit {subject_id} --by AUTHOR, then compounding {cmd} approve "
        f"{subject_id} --by PHARMACIST)")


def sha256_bytes(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- batch lifecycle

def batch_content_sha256(store: Store, lot_id: str) -> str:
    """SHA-256 of everything a verification covers: the batch record (status aside), its
    component lots, plan steps and every weighing. Any later weighing or BUD change alters it."""
    row = store._batch_row(lot_id)
    row.pop("status", None)
    body = {"batch": row,
            "components": store._rows("SELECT * FROM batch_components WHERE lot_id = ? "
                                      "ORDER BY ingredient", [lot_id]),
            "steps": store._rows("SELECT * FROM batch_steps WHERE lot_id = ? ORDER BY step",
                                 [lot_id]),
            "weighings": store._rows("SELECT * FROM weighings WHERE lot_id = ? ORDER BY id",
                                     [lot_id])}
    return sha256(canonical(body))


@dataclass(frozen=True)
class Check:
    code: str
    passed: bool
    detail: str

    def as_json(self) -> dict:
        return {"code": self.code, "passed": self.passed, "detail": self.detail}


def _people(store: Store, lot_id: str, batch: dict) -> set[str]:
    names = {batch["compounded_by"].lower()}
    names |= {r[0].lower() for r in store.db.execute(
        "SELECT DISTINCT weighed_by FROM weighings WHERE lot_id = ?", [lot_id])}
    return names


def checklist(store: Store, lot_id: str, verifier: dict) -> list[Check]:
    """The verification checklist of one batch, each item with its result (no writes)."""
    from .. import units as u
    from ..bud import compute_bud
    from ..formulas import Formula
    from .batches import _label

    batch = store._batch_row(lot_id)
    formula = Formula.model_validate(json.loads(batch["formula_snapshot"]))
    tolerance = formula.weighing_tolerance.value
    steps = store.batch_steps(lot_id)
    weighings = store._rows(
        "SELECT w.*, l.lot_number, l.ingredient AS lot_ingredient, l.expires, "
        "l.potency_percent FROM weighings w LEFT JOIN component_lots l "
        "ON l.id = w.component_lot_id WHERE w.lot_id = ? ORDER BY w.id", [lot_id])
    latest = {}
    for w in weighings:
        latest[w["step"]] = w  # a re-weigh replaces the earlier weighing of its step
    checks: list[Check] = []

    # 1. the formula version the batch was made from was approved (change control)
    app = approval_state(store, "formula", batch["formula_id"], batch["formula_version"],
                         batch["formula_sha256"])
    checks.append(Check("formula-approved", app["state"] == "approved",
                        f"formula {batch['formula_id']} version {batch['formula_version']} "
                        f"(SHA-256 {_short(batch['formula_sha256'])}) "
                        + (f"approved by {app['approval']['signer']}" if app["approval"]
                           else "was never approved")))

    # 2. every plan step weighed
    missing = [s["step"] for s in steps if s["step"] not in latest]
    checks.append(Check("steps-weighed", not missing,
                        f"every plan step weighed ({len(steps) - len(missing)} of {len(steps)})"
                        if not missing else
                        f"steps not weighed: {', '.join(map(str, missing))} "
                        f"({len(steps) - len(missing)} of {len(steps)} weighed)"))

    # 3. each weighing within the formula's tolerance of the plan
    for s in steps:
        w = latest.get(s["step"])
        if w is None:
            continue
        planned = u.q(w["planned_quantity"], w["planned_unit"])
        actual = u.q(w["quantity"], w["unit"])
        dev = Decimal(0)
        if planned.value != 0:
            dev = (actual.to(planned.unit).value - planned.value) / planned.value * 100
        ok = abs(dev) <= tolerance
        text = (f"step {s['step']} ({s['what']}): {u.fmt(actual)} against {u.fmt(planned)} "
                f"planned, {u.plain(round(dev, 2))}% (tolerance ±{u.plain(tolerance)}%)")
        if w["deviation_reason"]:
            text += f"; deviation recorded: {w['deviation_reason']}"
        checks.append(Check("tolerance", ok, text))

    # 4. every component lot: right ingredient, unexpired when weighed and at compounding,
    #    the active ingredient at the potency the plan was made for
    plan = json.loads(batch["plan_json"])
    compounded = date.fromisoformat(batch["compounded_on"])
    seen = set()
    for w in latest.values():
        if w["component_lot_id"] is None or w["component_lot_id"] in seen:
            continue
        seen.add(w["component_lot_id"])
        exp = date.fromisoformat(w["expires"])
        first = min(x["weighed_at"] for x in weighings
                    if x["component_lot_id"] == w["component_lot_id"])
        problems = []
        if w["lot_ingredient"] != w["ingredient"]:
            problems.append(f"the lot is {w['lot_ingredient']}")
        if exp < compounded or exp < date.fromisoformat(first[:10]):
            problems.append(f"expired {format_date(exp)}")
        if (w["ingredient"] == formula.active.ingredient and plan.get("potency_percent")
                and Decimal(w["potency_percent"]) != Decimal(plan["potency_percent"])):
            problems.append(f"potency {w['potency_percent']}% but the plan used "
                            f"{plan['potency_percent']}%")
        checks.append(Check("component-lot", not problems,
                            f"{w['ingredient']} lot {w['lot_number']}: expires "
                            f"{format_date(exp)}, "
                            + ("valid and unexpired at compounding" if not problems
                               else "; ".join(problems))))

    # 5. BUD recomputed from the lots actually used equals the BUD on record
    if not missing:
        expiries = {_label(w["ingredient"], w): date.fromisoformat(w["expires"])
                    for w in weighings if w["component_lot_id"] is not None}
        stored = json.loads(batch["bud_json"])
        filler = json.loads(batch["order_json"]).get("filler")
        bud = compute_bud(formula, compounded, batch["storage"], expiries,
                          stored.get("policy", "usp795"), filler=filler)
        ok = bud.bud.isoformat() == batch["bud"]
        checks.append(Check("bud", ok,
                            f"BUD recomputed from the lots used: {format_date(bud.bud)}"
                            + ("" if ok else f", but the record says "
                               f"{format_date(batch['bud'])}")
                            + f" ({bud.binding.as_json().get('kind', '')})"))
    else:
        checks.append(Check("bud", False, "BUD cannot be checked until every step is weighed"))

    # 6. an independent pharmacist
    people = _people(store, lot_id, batch)
    independent = verifier["name"].lower() not in people
    checks.append(Check("verifier", verifier["role"] == "pharmacist" and independent,
                        f"verifier {verifier['name']} is a {verifier['role']}"
                        + (" and neither compounded nor weighed this batch" if independent
                           else " but compounded or weighed this batch")))
    return checks


def _batch_for_signoff(store: Store, lot_id: str) -> tuple[str, dict]:
    lot_id = lotid.validate_lot_id(lot_id)
    return lot_id, store._batch_row(lot_id)


def _independent(store: Store, user: dict, lot_id: str, batch: dict, what: str) -> None:
    if user["name"].lower() == batch["compounded_by"].lower():
        _refuse(store, user, what, f"{user['name']} compounded batch {lot_id} and cannot "
                f"{what.split()[0]} it; another pharmacist must", lot_id)
    if user["name"].lower() in _people(store, lot_id, batch):
        _refuse(store, user, what, f"{user['name']} weighed for batch {lot_id} and cannot "
                f"{what.split()[0]} it; another pharmacist must", lot_id)


def verify_batch(store: Store, lot_id: str, *, by: str, passphrase: str) -> dict:
    """Run the checklist, record every result and the pharmacist's signature of it."""
    lot_id, batch = _batch_for_signoff(store, lot_id)
    what = f"verify batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    _need_pharmacist(store, user, what, lot_id)
    if batch["status"] not in OPEN_FOR_VERIFY:
        _refuse(store, user, what, f"batch {lot_id} is {batch['status']}; only a planned or "
                "compounded batch is verified", lot_id)
    _independent(store, user, lot_id, batch, what)
    with store.write():
        checks = checklist(store, lot_id, user)
        passed = all(c.passed for c in checks)
        content = batch_content_sha256(store, lot_id)
        sig = _sign(store, user, "verified" if passed else "verification-failed", "batch",
                    lot_id, content, lot_id=lot_id,
                    details={"passed": passed, "failed": [c.detail for c in checks
                                                          if not c.passed]})
        cur = store.db.execute("INSERT INTO verifications (lot_id, signature_id, passed, "
                               "batch_sha256) VALUES (?,?,?,?)",
                               [lot_id, sig["id"], int(passed), content])
        vid = cur.lastrowid
        refs = [store._ref("verifications", vid)]
        for i, c in enumerate(checks, 1):
            store.db.execute("INSERT INTO verification_checks (verification_id, seq, code, "
                             "passed, detail) VALUES (?,?,?,?,?)",
                             [vid, i, c.code, int(c.passed), c.detail])
            refs.append(store._ref("verification_checks", vid, i))
        store.audit("batch.verify", user["name"], {"verification_id": vid, "passed": passed,
                                                   "batch_sha256": content},
                    lot_id=lot_id, records=refs)
    return {"lot_id": lot_id, "passed": passed, "verification_id": vid,
            "checks": [c.as_json() for c in checks], "signature": sig,
            "batch_sha256": content}


def verifications(store: Store, lot_id: str) -> list[dict]:
    rows = store._rows("SELECT v.*, s.signer, s.signed_at FROM verifications v JOIN "
                       "signatures s ON s.id = v.signature_id WHERE v.lot_id = ? ORDER BY v.id",
                       [lot_id])
    for r in rows:
        r["passed"] = bool(r["passed"])
        r["checks"] = [{**c, "passed": bool(c["passed"])} for c in store._rows(
            "SELECT seq, code, passed, detail FROM verification_checks "
            "WHERE verification_id = ? ORDER BY seq", [r["id"]])]
    return rows


def _signed_status(store: Store, user: dict, lot_id: str, meaning: str, old: str, new: str,
                   *, reason: str | None, details: dict, content: str | None = None) -> dict:
    """Sign the batch's current content with ``meaning``, then move it from ``old`` to
    ``new`` (the trigger checks the signature); inside the caller's write transaction."""
    if content is None:
        content = batch_content_sha256(store, lot_id)
    sig = _sign(store, user, meaning, "batch", lot_id, content, lot_id=lot_id, reason=reason,
                details=details)
    store._update_batch(lot_id, status=new)
    store.audit("batch.status", user["name"], {"from": old, "to": new, "signature_id": sig["id"],
                                               "reason": sig.get("reason")}, lot_id=lot_id)
    return sig


def release_batch(store: Store, lot_id: str, *, by: str, passphrase: str,
                  reason: str | None = None) -> dict:
    """Release a verified batch (also from a hold: then ``reason`` says why the hold ends)."""
    lot_id, batch = _batch_for_signoff(store, lot_id)
    what = f"release batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    _need_pharmacist(store, user, what, lot_id)
    status = batch["status"]
    reason = (reason or "").strip() or None
    if status == "released":
        _refuse(store, user, what, f"batch {lot_id} is already released", lot_id)
    if status == "rejected":
        _refuse(store, user, what, f"batch {lot_id} is rejected; a rejected batch is never "
                "released", lot_id)
    if status == "planned":
        _refuse(store, user, what, f"batch {lot_id} is planned (not every step is weighed); "
                "it cannot be released", lot_id)
    if status == "quarantine" and not reason:
        _refuse(store, user, what, f"batch {lot_id} is on hold (quarantine); give --reason "
                "saying why the hold ends", lot_id)
    _independent(store, user, lot_id, batch, what)
    ver = verifications(store, lot_id)
    if not ver:
        _refuse(store, user, what, f"batch {lot_id} has not been verified; only a verified "
                f"batch is released (compounding batch verify {lot_id} --by PHARMACIST)",
                lot_id)
    last = ver[-1]
    if not last["passed"]:
        failed = sum(1 for c in last["checks"] if not c["passed"])
        _refuse(store, user, what, f"the last verification of batch {lot_id} failed "
                f"({failed} check{'s' if failed != 1 else ''}); it cannot be released "
                f"(reject it: compounding batch reject {lot_id})", lot_id)
    with store.write():
        content = batch_content_sha256(store, lot_id)
        if content != last["batch_sha256"]:
            _refuse(store, user, what, f"batch {lot_id} changed since it was verified by "
                    f"{last['signer']}; verify it again", lot_id)
        sig = _signed_status(store, user, lot_id, "released", status, "released",
                             reason=reason, content=content,
                             details={"verification_id": last["id"], "from": status})
    return {"lot_id": lot_id, "status": "released", "from": status, "signature": sig}


def reject_batch(store: Store, lot_id: str, *, by: str, passphrase: str, reason: str) -> dict:
    """Reject a batch for good (a pharmacist, with a reason). A released batch is put on
    hold first."""
    lot_id, batch = _batch_for_signoff(store, lot_id)
    reason = _need_text(reason, "reason").strip()
    what = f"reject batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    _need_pharmacist(store, user, what, lot_id)
    status = batch["status"]
    if status == "rejected":
        _refuse(store, user, what, f"batch {lot_id} is already rejected", lot_id)
    if status == "released":
        _refuse(store, user, what, f"batch {lot_id} is released; put it on hold first "
                f"(compounding batch quarantine {lot_id}), then reject it", lot_id)
    with store.write():
        sig = _signed_status(store, user, lot_id, "rejected", status, "rejected",
                             reason=reason, details={"from": status})
    return {"lot_id": lot_id, "status": "rejected", "from": status, "signature": sig}


def quarantine_batch(store: Store, lot_id: str, *, by: str, passphrase: str,
                     reason: str) -> dict:
    """Put a batch on hold (any active user, with a reason): nothing prints or is weighed."""
    lot_id, batch = _batch_for_signoff(store, lot_id)
    reason = _need_text(reason, "reason").strip()
    what = f"quarantine batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    status = batch["status"]
    if status in ("quarantine", "rejected"):
        _refuse(store, user, what, f"batch {lot_id} is already "
                f"{'on hold (quarantine)' if status == 'quarantine' else 'rejected'}", lot_id)
    with store.write():
        sig = _signed_status(store, user, lot_id, "quarantined", status, "quarantine",
                             reason=reason, details={"from": status})
    return {"lot_id": lot_id, "status": "quarantine", "from": status, "signature": sig}


def status_before_hold(store: Store, lot_id: str) -> str | None:
    row = store._one("SELECT old_status FROM batch_status_history WHERE lot_id = ? AND "
                     "new_status = 'quarantine' ORDER BY id DESC LIMIT 1", [lot_id])
    return row["old_status"] if row else None


def lift_hold(store: Store, lot_id: str, *, by: str, passphrase: str, reason: str) -> dict:
    """End the hold of a batch that was put on hold before release: it returns to planned or
    compounded (a pharmacist, with a reason). A batch held after release is released again
    with :func:`release_batch`."""
    lot_id, batch = _batch_for_signoff(store, lot_id)
    reason = _need_text(reason, "reason").strip()
    what = f"lift the hold on batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    _need_pharmacist(store, user, what, lot_id)
    if batch["status"] != "quarantine":
        _refuse(store, user, what, f"batch {lot_id} is {batch['status']}, not on hold", lot_id)
    before = status_before_hold(store, lot_id)
    if before == "released":
        _refuse(store, user, what, f"batch {lot_id} was released when it was put on hold; "
                f"release it again (compounding batch release {lot_id} --reason TEXT) or "
                "reject it", lot_id)
    with store.write():
        sig = _signed_status(store, user, lot_id, "hold-lifted", "quarantine", before,
                             reason=reason, details={"to": before})
    return {"lot_id": lot_id, "status": before, "from": "quarantine", "signature": sig}


# ---------------------------------------------------------------- labels and corrections

def check_label_printable(store: Store, batch: dict, template_id: str, version: int,
                          template_sha256: str) -> None:
    """Labels (batch and dispensing) print only from an approved template and only for a
    released batch. Called from :func:`compounding.labeling.printing.check_printable`."""
    require_approved(store, "template", template_id, version, template_sha256)
    status = batch["status"]
    if status != "released":
        why = {"quarantine": "on hold (quarantine)", "rejected": "rejected"}.get(status, status)
        hint = {"planned": "; it is released after a pharmacist verifies it",
                "compounded": "; a pharmacist verifies and releases it first"}.get(status, "")
        raise RefusedError(f"batch {batch['lot_id']} is {why}: labels print only for a "
                           f"released batch{hint}")


def check_correction(store: Store, corrects: str, reason: str | None) -> tuple[str, str]:
    """Validate ``batch create --corrects LOT``: that batch exists and is rejected or on
    hold, and was not corrected already."""
    lot_id = lotid.validate_lot_id(corrects, "corrects")
    old = store._batch_row(lot_id)
    reason = (reason or "").strip()
    if not reason:
        raise InputError("reason: a correction needs a reason (--reason TEXT)")
    if old["status"] not in ("rejected", "quarantine"):
        raise RefusedError(f"batch {lot_id} is {old['status']}; only a rejected or quarantined "
                           "batch is corrected by a new batch")
    done = store._one("SELECT lot_id FROM batch_corrections WHERE corrects_lot_id = ?",
                      [lot_id])
    if done:
        raise RefusedError(f"batch {lot_id} was already corrected by batch {done['lot_id']}")
    return lot_id, reason


def record_correction(store: Store, new_lot: str, corrects: str, reason: str,
                      by: str) -> dict:
    """Link ``new_lot`` to the batch it corrects (inside the create transaction)."""
    store.db.execute("INSERT INTO batch_corrections (lot_id, corrects_lot_id, reason, "
                     "created_by, created_at) VALUES (?,?,?,?,?)",
                     [new_lot, corrects, reason, by, store.stamp()])
    return store._ref("batch_corrections", new_lot)


def corrections(store: Store, lot_id: str) -> dict:
    """The correction links of one batch: what it corrects, and what corrected it."""
    corrects = store._one("SELECT * FROM batch_corrections WHERE lot_id = ?", [lot_id])
    by = store._one("SELECT * FROM batch_corrections WHERE corrects_lot_id = ?", [lot_id])
    return {"corrects": corrects, "corrected_by": by}


# ---------------------------------------------------------------- recall

def _prints(store: Store, lot_id: str) -> list[dict]:
    rows = store._rows(
        "SELECT id, lot_id, kind, template_id, template_version, copies, reprint, patient, "
        "rx_number, prescriber, dispensed_quantity, output_path, printed_by, printed_at "
        "FROM label_prints WHERE lot_id = ? ORDER BY id", [lot_id])
    for r in rows:
        r["reprint"] = bool(r["reprint"])
    return rows


def recall_batch(store: Store, lot_id: str) -> dict:
    """Everything downstream of one batch: its lots, status, every label printed and every
    dispensing label (patient, Rx number, date), and its correction links."""
    lot_id = lotid.validate_lot_id(lot_id)
    b = store._batch_row(lot_id)
    prints = _prints(store, lot_id)
    used = store._rows(
        "SELECT component_lot_id, ingredient, lot_number, expires, basis, unit FROM lot_usage "
        "WHERE batch_lot_id = ? ORDER BY ingredient", [lot_id])
    for c in used:  # exact amounts (the view's are REAL, for scripts)
        if c["basis"] == "weighed":
            c["quantity"] = sum((Decimal(x[0]) for x in store.db.execute(
                "SELECT consumed_quantity FROM weighings WHERE lot_id = ? AND "
                "component_lot_id = ?", [lot_id, c["component_lot_id"]])), Decimal(0))
        else:
            c["quantity"] = Decimal(store.db.execute(
                "SELECT planned_quantity FROM batch_components WHERE lot_id = ? AND "
                "component_lot_id = ?", [lot_id, c["component_lot_id"]]).fetchone()[0])
    return {"lot_id": lot_id, "formula_id": b["formula_id"], "strength": b["strength"],
            "quantity": b["quantity"], "status": b["status"], "bud": b["bud"],
            "compounded_on": b["compounded_on"], "component_lots": used,
            "label_prints": [p for p in prints if p["kind"] != "dispensing"],
            "dispensed": [_dispensed(p) for p in prints if p["kind"] == "dispensing"],
            **corrections(store, lot_id)}


def _dispensed(p: dict) -> dict:
    return {"lot_id": p["lot_id"], "patient": p["patient"], "rx_number": p["rx_number"],
            "prescriber": p["prescriber"], "dispensed_quantity": p["dispensed_quantity"],
            "date": p["printed_at"][:10], "printed_at": p["printed_at"],
            "printed_by": p["printed_by"], "reprint": p["reprint"]}


def recall_component(store: Store, component_lot: str, ingredient: str | None = None) -> list:
    """:meth:`Store.recall` plus, per batch, every label print and dispensing label."""
    rows = store.recall(component_lot, ingredient)
    for r in rows:
        prints = _prints(store, r["batch_lot_id"])
        r["label_prints"] = [p for p in prints if p["kind"] != "dispensing"]
        r["dispensed"] = [_dispensed(p) for p in prints if p["kind"] == "dispensing"]
    return rows
