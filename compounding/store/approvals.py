"""Change control (issue 7): a formula or label template file is *submitted* by its author
(its exact bytes kept) and *approved* by a pharmacist who is not the author.

A batch can be made only from a formula file whose SHA-256 was approved, and a label prints
only from an approved template file (:func:`require_approved`). An approval is a signature
(:func:`.signatures.sign`, meaning ``approved``) over the file's SHA-256.

Owns the table ``submissions``; approvals are rows of ``signatures``.
"""

from __future__ import annotations

import difflib
import hashlib

from ..errors import InputError, RefusedError
from .core import StoreCore
from .signatures import person_time, short_sha256, sign, signatures
from .users import acting, authenticate, need_pharmacist, refuse


KIND_WORDS = {"formula": "formula", "template": "label template"}
COMMANDS = {"formula": "formulas", "template": "labels"}


def submissions(store: StoreCore, subject_type: str, subject_id: str) -> list[dict]:
    return store.rows("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                       "ORDER BY id", [subject_type, subject_id])


def approvals(store: StoreCore, subject_type: str, subject_id: str) -> list[dict]:
    return [s for s in signatures(store, subject_type=subject_type, subject_id=subject_id)
            if s["meaning"] == "approved"]


def approval_state(store: StoreCore, subject_type: str, subject_id: str, version: int,
                   sha: str) -> dict:
    """Where one file stands: approved (this exact content), submitted, or neither."""
    apps = approvals(store, subject_type, subject_id)
    mine = next((a for a in apps if a["record_sha256"] == sha), None)
    sub = store.one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                     "AND sha256 = ?", [subject_type, subject_id, sha])
    state = "approved" if mine else "submitted" if sub else "not submitted"
    return {"subject_type": subject_type, "id": subject_id, "version": version, "sha256": sha,
            "state": state, "approval": mine, "submission": sub,
            "last_approval": apps[-1] if apps else None}


def submit(store: StoreCore, subject_type: str, subject_id: str, version: int, content: bytes,
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
        same = store.one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                          "AND sha256 = ?", [subject_type, subject_id, sha])
        if same:
            raise RefusedError(f"{word} {subject_id} version {same['version']} with this "
                               f"content was already submitted by {same['submitted_by']} on "
                               f"{person_time(same['submitted_at'])}")
        apps = approvals(store, subject_type, subject_id)
        for a in apps:
            if a["subject_version"] == version:
                raise RefusedError(f"{word} {subject_id} version {version} was approved with "
                                   "other content; a changed file needs a new version number "
                                   "(raise `version` in the file)")
        if apps and version < max(a["subject_version"] for a in apps):
            raise RefusedError(f"{word} {subject_id}: version {version} is older than the "
                               f"approved version {max(a['subject_version'] for a in apps)}")
        sid = store.insert("submissions", {
            "subject_type": subject_type, "subject_id": subject_id, "version": version,
            "sha256": sha, "content": text, "note": (note or "").strip() or None,
            "submitted_by": by, "submitted_at": store.stamp()})
        store.audit(f"{subject_type}.submit", by, {"id": subject_id, "version": version,
                                                   "sha256": sha, "note": note},
                    records=[store.ref("submissions", sid)])
    return store.one("SELECT * FROM submissions WHERE id = ?", [sid])


def approve(store: StoreCore, subject_type: str, subject_id: str, version: int, sha: str, *,
            by: str, passphrase: str) -> dict:
    """A pharmacist who is not the author approves the submitted content ``sha``."""
    word = KIND_WORDS[subject_type]
    what = f"approve {word} {subject_id}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what)
    state = approval_state(store, subject_type, subject_id, version, sha)
    if state["state"] == "approved":
        a = state["approval"]
        refuse(store, user, what, f"{word} {subject_id} version {version} is already approved "
                f"(by {a['signer']} on {person_time(a['signed_at'])})")
    sub = state["submission"]
    if sub is None:
        refuse(store, user, what, f"{word} {subject_id} version {version} (SHA-256 "
                f"{short_sha256(sha)}) has not been submitted; its author submits it first: "
                f"compounding {COMMANDS[subject_type]} submit {subject_id} --by AUTHOR")
    if sub["version"] != version:
        refuse(store, user, what, f"{word} {subject_id}: submitted as version "
                f"{sub['version']}, the file says {version}")
    if sub["submitted_by"].lower() == user["name"].lower():
        refuse(store, user, what, f"{user['name']} is the author of {word} {subject_id} "
                f"version {version} and cannot approve it; another pharmacist must")
    previous = state["last_approval"]
    with store.write():
        again = approval_state(store, subject_type, subject_id, version, sha)
        if again["state"] == "approved":  # issue 12: another pharmacist, at the same moment
            a = again["approval"]
            raise RefusedError(f"{word} {subject_id} version {version} is already approved "
                               f"by {a['signer']} at {person_time(a['signed_at'])}")
        sig = sign(store, user, "approved", subject_type, subject_id, sha, version=version,
                    details={"submission_id": sub["id"], "author": sub["submitted_by"],
                             "supersedes": previous["record_sha256"] if previous else None})
    return {**state, "state": "approved", "approval": sig}


def diff_to_approved(store: StoreCore, subject_type: str, subject_id: str, sha: str) -> list[str]:
    """Unified diff from the last approved content to the submitted content ``sha``."""
    sub = store.one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                     "AND sha256 = ?", [subject_type, subject_id, sha])
    if sub is None:
        return []
    apps = [a for a in approvals(store, subject_type, subject_id) if a["record_sha256"] != sha]
    if not apps:
        return []
    old = store.one("SELECT * FROM submissions WHERE subject_type = ? AND subject_id = ? "
                     "AND sha256 = ?", [subject_type, subject_id, apps[-1]["record_sha256"]])
    return list(difflib.unified_diff(
        old["content"].splitlines(), sub["content"].splitlines(),
        f"{subject_id} version {old['version']} (approved)",
        f"{subject_id} version {sub['version']} (submitted)", lineterm=""))


def require_approved(store: StoreCore, subject_type: str, subject_id: str, version: int,
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
            f"has SHA-256 {short_sha256(sha)}, version {last['subject_version']} was approved as "
            f"{short_sha256(last['record_sha256'])} by {last['signer']}; {use} until a pharmacist "
            f"approves it again (compounding {cmd} submit, then {cmd} approve)")
    raise RefusedError(
        f"{word} {subject_id} version {version} is not approved by a pharmacist; {use} "
        f"(compounding {cmd} submit {subject_id} --by AUTHOR, then compounding {cmd} approve "
        f"{subject_id} --by PHARMACIST)")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of a file's bytes (what an approval signs)."""
    return hashlib.sha256(data).hexdigest()

