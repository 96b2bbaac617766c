"""Batch sign-off (issue 7): verification, release, rejection and holds.

After 21 CFR Part 11's idea of a signed record, the batch lifecycle (triggers in
``migrations.m004_users_and_signoffs``): planned -> compounded -> released or rejected;
quarantine is a hold. Release needs a passing, current verification by a pharmacist who did
not compound or weigh the batch (:func:`verify_batch` runs the checklist and records each
result); every status change is a signature of the batch content's SHA-256.

Owns the tables ``verifications`` and ``verification_checks``; status changes go through
:func:`.batches.update_batch`, signatures through :func:`.signatures.sign`.

The users, change-control and recall functions that lived here before issue 13 are
re-exported at the end for callers written before then; new code imports them from their
own modules (:mod:`.users`, :mod:`.approvals`, :mod:`.signatures`, :mod:`.dispensing`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..dates import format_date
from ..errors import RefusedError
from . import lotid
from .approvals import approval_state, require_approved
from .batches import batch_row, batch_steps, component_label, update_batch
from .core import StoreCore, canonical, need_text, sha256
from .signatures import person_time, short_sha256, sign, verifications
from .sites import own_batch
from .users import authenticate, need_pharmacist, refuse

OPEN_FOR_VERIFY = ("planned", "compounded")



def batch_content_sha256(store: StoreCore, lot_id: str) -> str:
    """SHA-256 of everything a verification covers: the batch record (status aside), its
    component lots, plan steps and every weighing. Any later weighing or BUD change alters it."""
    row = batch_row(store, lot_id)
    row.pop("status", None)
    body = {"batch": row,
            "components": store.rows("SELECT * FROM batch_components WHERE lot_id = ? "
                                      "ORDER BY ingredient", [lot_id]),
            "steps": store.rows("SELECT * FROM batch_steps WHERE lot_id = ? ORDER BY step",
                                 [lot_id]),
            "weighings": store.rows("SELECT * FROM weighings WHERE lot_id = ? ORDER BY id",
                                     [lot_id])}
    return sha256(canonical(body))


@dataclass(frozen=True)
class Check:
    code: str
    passed: bool
    detail: str

    def as_json(self) -> dict:
        return {"code": self.code, "passed": self.passed, "detail": self.detail}


def strength_as_made(store: StoreCore, lot_id: str):
    """The batch's strength as made (issue 11) from its plan and its latest weighings:
    :class:`compounding.plan.AsMade` against the formula's ``strength_tolerance``."""
    from ..formulas import Formula
    from ..plan.as_made import as_made_strength, latest_recorded

    batch = batch_row(store, lot_id)
    formula = Formula.model_validate(json.loads(batch["formula_snapshot"]))
    rows = store.rows("SELECT step, quantity, unit FROM weighings WHERE lot_id = ? "
                      "ORDER BY id", [lot_id])
    return as_made_strength(json.loads(batch["plan_json"]), latest_recorded(rows),
                            formula.strength_tolerance.value)


def _strength_check(store: StoreCore, lot_id: str) -> Check:
    from ..errors import CompoundingError
    try:
        res = strength_as_made(store, lot_id)
    except CompoundingError as exc:
        return Check("strength", False, f"strength as made cannot be computed: {exc}")
    return Check("strength", res.within, f"strength as made from the recorded weighings: "
                 f"{res.text()}" + ("" if res.within else " (outside: do not release)"))


def _people(store: StoreCore, lot_id: str, batch: dict) -> set[str]:
    names = {batch["compounded_by"].lower()}
    names |= {r.lower() for r in store.column(
        "SELECT DISTINCT weighed_by FROM weighings WHERE lot_id = ?", [lot_id])}
    return names


def checklist(store: StoreCore, lot_id: str, verifier: dict) -> list[Check]:
    """The verification checklist of one batch, each item with its result (no writes)."""
    from .. import units as u
    from ..bud import compute_bud
    from ..formulas import Formula

    batch = batch_row(store, lot_id)
    formula = Formula.model_validate(json.loads(batch["formula_snapshot"]))
    tolerance = formula.weighing_tolerance.value
    steps = batch_steps(store, lot_id)
    weighings = store.rows(
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
                        f"(SHA-256 {short_sha256(batch['formula_sha256'])}) "
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

    # 3b. issue 11: the strength the recorded weighings deliver, carried through every
    #     dilution, within the formula's strength tolerance
    checks.append(_strength_check(store, lot_id) if not missing else Check(
        "strength", False, "strength as made cannot be checked until every step is weighed"))

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
        expiries = {component_label(w["ingredient"], w): date.fromisoformat(w["expires"])
                    for w in weighings if w["component_lot_id"] is not None}
        stored = json.loads(batch["bud_json"])
        order = json.loads(batch["order_json"])
        bud = compute_bud(formula, compounded, batch["storage"], expiries,
                          stored.get("policy", "usp795"), filler=order.get("filler"),
                          base=order.get("base"))
        same = bud.bud.isoformat() == batch["bud"]
        # a batch past its beyond-use date is not verified (issue 15 attack: a batch planned
        # and left for months was weighed and verified after its BUD); the BUD day itself is
        # still in date (USP <795> (2023) 10.3: the BUD is the last day of use)
        today = store.today()
        passed = today > date.fromisoformat(batch["bud"])
        checks.append(Check("bud", same and not passed,
                            f"BUD recomputed from the lots used: {format_date(bud.bud)}"
                            + ("" if same else f", but the record says "
                               f"{format_date(batch['bud'])}")
                            + f" ({bud.binding.as_json().get('kind', '')})"
                            + (f"; it has passed (today is {format_date(today)}): reject "
                               "the batch" if passed else "")))
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


def _batch_for_signoff(store: StoreCore, lot_id: str,
                       act: str | None = None) -> tuple[str, dict]:
    """The checked lot ID and its batch; with ``act``, refused unless the batch is this
    site's (issue 20: :func:`.sites.own_batch`; a hold stays possible from any site: it
    only stops a batch from being used)."""
    lot_id = lotid.validate_lot_id(lot_id)
    batch = batch_row(store, lot_id)
    if act is not None:
        own_batch(store, batch, act)
    return lot_id, batch


def _independent(store: StoreCore, user: dict, lot_id: str, batch: dict, what: str) -> None:
    if user["name"].lower() == batch["compounded_by"].lower():
        refuse(store, user, what, f"{user['name']} compounded batch {lot_id} and cannot "
                f"{what.split()[0]} it; another pharmacist must", lot_id)
    if user["name"].lower() in _people(store, lot_id, batch):
        refuse(store, user, what, f"{user['name']} weighed for batch {lot_id} and cannot "
                f"{what.split()[0]} it; another pharmacist must", lot_id)


def verify_batch(store: StoreCore, lot_id: str, *, by: str, passphrase: str) -> dict:
    """Run the checklist, record every result and the pharmacist's signature of it."""
    lot_id, batch = _batch_for_signoff(store, lot_id, "verify")
    what = f"verify batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what, lot_id)
    if batch["status"] not in OPEN_FOR_VERIFY:
        refuse(store, user, what, f"batch {lot_id} is {batch['status']}; only a planned or "
                "compounded batch is verified", lot_id)
    _independent(store, user, lot_id, batch, what)
    with store.write():
        content = batch_content_sha256(store, lot_id)
        # issue 12: two pharmacists verifying the same batch at once: one verification
        last = store.one("SELECT v.passed, v.batch_sha256, s.signer, s.signed_at FROM "
                         "verifications v JOIN signatures s ON s.id = v.signature_id WHERE "
                         "v.lot_id = ? ORDER BY v.id DESC LIMIT 1", [lot_id])
        if last and last["passed"] and last["batch_sha256"] == content:
            raise RefusedError(f"batch {lot_id} is already verified by {last['signer']} at "
                               f"{person_time(last['signed_at'])}, as it is now")
        if batch_row(store, lot_id)["status"] not in OPEN_FOR_VERIFY:
            raise RefusedError(already_text(store, lot_id, batch_row(store, lot_id)["status"]))
        checks = checklist(store, lot_id, user)
        passed = all(c.passed for c in checks)
        sig = sign(store, user, "verified" if passed else "verification-failed", "batch",
                    lot_id, content, lot_id=lot_id,
                    details={"passed": passed, "failed": [c.detail for c in checks
                                                          if not c.passed]})
        vid = store.insert("verifications", {"lot_id": lot_id, "signature_id": sig["id"],
                                             "passed": int(passed), "batch_sha256": content})
        refs = [store.ref("verifications", vid)]
        for i, c in enumerate(checks, 1):
            store.insert("verification_checks", {"verification_id": vid, "seq": i,
                                                 "code": c.code, "passed": int(c.passed),
                                                 "detail": c.detail})
            refs.append(store.ref("verification_checks", vid, i))
        store.audit("batch.verify", user["name"], {"verification_id": vid, "passed": passed,
                                                   "batch_sha256": content},
                    lot_id=lot_id, records=refs)
    return {"lot_id": lot_id, "passed": passed, "verification_id": vid,
            "checks": [c.as_json() for c in checks], "signature": sig,
            "batch_sha256": content}




_STATUS_WORDS = {"released": "released", "rejected": "rejected",
                 "quarantine": "on hold (quarantine)", "compounded": "compounded",
                 "planned": "planned"}


def already_text(store: StoreCore, lot_id: str, status: str) -> str:
    """'batch 2611300012 is already released by pat at 30 NOV 2026 22:51 UTC': what a second
    person signing the same act at the same moment is told (issue 12)."""
    sig = store.one("SELECT signer, signed_at FROM signatures WHERE lot_id = ? ORDER BY id "
                    "DESC LIMIT 1", [lot_id])
    who = f" by {sig['signer']} at {person_time(sig['signed_at'])}" if sig else ""
    return f"batch {lot_id} is already {_STATUS_WORDS.get(status, status)}{who}"


def _signed_status(store: StoreCore, user: dict, lot_id: str, meaning: str, old: str, new: str,
                   *, reason: str | None, details: dict, content: str | None = None) -> dict:
    """Sign the batch's current content with ``meaning``, then move it from ``old`` to
    ``new`` (the trigger checks the signature); inside the caller's write transaction."""
    current = batch_row(store, lot_id)["status"]  # again, under the write lock (issue 12)
    if current != old:
        raise RefusedError(already_text(store, lot_id, current))
    if content is None:
        content = batch_content_sha256(store, lot_id)
    sig = sign(store, user, meaning, "batch", lot_id, content, lot_id=lot_id, reason=reason,
                details=details)
    update_batch(store, lot_id, status=new)
    store.audit("batch.status", user["name"], {"from": old, "to": new, "signature_id": sig["id"],
                                               "reason": sig.get("reason")}, lot_id=lot_id)
    return sig


def release_batch(store: StoreCore, lot_id: str, *, by: str, passphrase: str,
                  reason: str | None = None, warn_days: int = 7) -> dict:
    """Release a verified batch (also from a hold: then ``reason`` says why the hold ends)."""
    lot_id, batch = _batch_for_signoff(store, lot_id, "release")
    what = f"release batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what, lot_id)
    status = batch["status"]
    reason = (reason or "").strip() or None
    if status == "released":
        refuse(store, user, what, already_text(store, lot_id, "released"), lot_id)
    if status == "rejected":
        refuse(store, user, what, f"batch {lot_id} is rejected; a rejected batch is never "
                "released", lot_id)
    if status == "planned":
        refuse(store, user, what, f"batch {lot_id} is planned (not every step is weighed); "
                "it cannot be released", lot_id)
    if status == "quarantine" and not reason:
        refuse(store, user, what, f"batch {lot_id} is on hold (quarantine); give --reason "
                "saying why the hold ends", lot_id)
    _independent(store, user, lot_id, batch, what)
    ver = verifications(store, lot_id)
    if not ver:
        refuse(store, user, what, f"batch {lot_id} has not been verified; only a verified "
                f"batch is released (compounding batch verify {lot_id} --by PHARMACIST)",
                lot_id)
    last = ver[-1]
    if not last["passed"]:
        bad = [c for c in last["checks"] if not c["passed"]]
        shown = "; ".join(c["detail"] for c in bad if c["code"] == "strength")
        refuse(store, user, what, f"the last verification of batch {lot_id} failed "
                f"({len(bad)} check{'s' if len(bad) != 1 else ''}"
                + (f": {shown}" if shown else "") + "); it cannot be released "
                f"(reject it: compounding batch reject {lot_id})", lot_id)
    # issue 11: nothing leaves after its date, and never outside its strength (checked
    # again here: a verification recorded before the strength check existed lacks it)
    from ..bud import check_in_date
    try:
        warning = check_in_date(batch["bud"], store.today(), lot_id=lot_id,
                                action="release", warn_days=warn_days)
    except RefusedError as exc:
        refuse(store, user, what, str(exc), lot_id)
    strength = _strength_check(store, lot_id)
    if not strength.passed:
        refuse(store, user, what, f"batch {lot_id}: {strength.detail}; it cannot be released "
               f"(reject it: compounding batch reject {lot_id})", lot_id)
    with store.write():
        content = batch_content_sha256(store, lot_id)
        if content != last["batch_sha256"]:
            refuse(store, user, what, f"batch {lot_id} changed since it was verified by "
                    f"{last['signer']}; verify it again", lot_id)
        sig = _signed_status(store, user, lot_id, "released", status, "released",
                             reason=reason, content=content,
                             details={"verification_id": last["id"], "from": status})
    return {"lot_id": lot_id, "status": "released", "from": status, "signature": sig,
            "warnings": [warning] if warning else []}


def reject_batch(store: StoreCore, lot_id: str, *, by: str, passphrase: str, reason: str) -> dict:
    """Reject a batch for good (a pharmacist, with a reason). A released batch is put on
    hold first."""
    lot_id, batch = _batch_for_signoff(store, lot_id, "reject")
    reason = need_text(reason, "reason").strip()
    what = f"reject batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what, lot_id)
    status = batch["status"]
    if status == "rejected":
        refuse(store, user, what, already_text(store, lot_id, "rejected"), lot_id)
    if status == "released":
        refuse(store, user, what, f"batch {lot_id} is released; put it on hold first "
                f"(compounding batch quarantine {lot_id}), then reject it", lot_id)
    with store.write():
        sig = _signed_status(store, user, lot_id, "rejected", status, "rejected",
                             reason=reason, details={"from": status})
    return {"lot_id": lot_id, "status": "rejected", "from": status, "signature": sig}


def quarantine_batch(store: StoreCore, lot_id: str, *, by: str, passphrase: str,
                     reason: str) -> dict:
    """Put a batch on hold (any active user, with a reason): nothing prints or is weighed."""
    lot_id, batch = _batch_for_signoff(store, lot_id)
    reason = need_text(reason, "reason").strip()
    what = f"quarantine batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    status = batch["status"]
    if status in ("quarantine", "rejected"):
        refuse(store, user, what, already_text(store, lot_id, status), lot_id)
    with store.write():
        sig = _signed_status(store, user, lot_id, "quarantined", status, "quarantine",
                             reason=reason, details={"from": status})
    return {"lot_id": lot_id, "status": "quarantine", "from": status, "signature": sig}


def quarantine_signed(store: StoreCore, user: dict, lot_id: str, reason: str,
                      details: dict | None = None) -> dict:
    """Put batch ``lot_id`` on hold inside the caller's write transaction, signed by
    ``user`` (already authenticated): the step a recall takes for each downstream batch
    (issue 19). Returns the signature."""
    status = batch_row(store, lot_id)["status"]
    return _signed_status(store, user, lot_id, "quarantined", status, "quarantine",
                          reason=reason, details={"from": status, **(details or {})})


def status_before_hold(store: StoreCore, lot_id: str) -> str | None:
    row = store.one("SELECT old_status FROM batch_status_history WHERE lot_id = ? AND "
                     "new_status = 'quarantine' ORDER BY id DESC LIMIT 1", [lot_id])
    return row["old_status"] if row else None


def lift_hold(store: StoreCore, lot_id: str, *, by: str, passphrase: str, reason: str) -> dict:
    """End the hold of a batch that was put on hold before release: it returns to planned or
    compounded (a pharmacist, with a reason). A batch held after release is released again
    with :func:`release_batch`."""
    lot_id, batch = _batch_for_signoff(store, lot_id, "lift the hold on")
    reason = need_text(reason, "reason").strip()
    what = f"lift the hold on batch {lot_id}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what, lot_id)
    if batch["status"] != "quarantine":
        refuse(store, user, what, f"batch {lot_id} is {batch['status']}, not on hold", lot_id)
    before = status_before_hold(store, lot_id)
    if before == "released":
        refuse(store, user, what, f"batch {lot_id} was released when it was put on hold; "
                f"release it again (compounding batch release {lot_id} --reason TEXT) or "
                "reject it", lot_id)
    with store.write():
        sig = _signed_status(store, user, lot_id, "hold-lifted", "quarantine", before,
                             reason=reason, details={"to": before})
    return {"lot_id": lot_id, "status": before, "from": "quarantine", "signature": sig}


# ---------------------------------------------------------------- labels and corrections

def check_label_printable(store: StoreCore, batch: dict, template_id: str, version: int,
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
    # issue 11: no label for a batch past its beyond-use date (the BUD day is in date)
    from ..bud import check_in_date
    check_in_date(batch["bud"], store.today(), lot_id=batch["lot_id"], action="labels")



# ---------------------------------------------------------------- before issue 13
# Callers written before the store was split (issue 13) use ``signoff.<name>`` for these;
# they live in their own modules now. New code imports from those modules.
from .approvals import (COMMANDS, KIND_WORDS, approvals, approve, diff_to_approved,  # noqa: E402
                        sha256_bytes, submissions, submit)
from .batches import check_correction, corrections, record_correction  # noqa: E402
from .dispensing import recall_batch, recall_component  # noqa: E402
from .signatures import signatures  # noqa: E402
from .users import (NAME_RE, ROLES, acting, add_user, change_passphrase,  # noqa: E402
                    deactivate_user, get_user, list_users, unlock_user, user_sha256,
                    user_state)

__all__ = [
    # the batch sign-off (this module)
    "OPEN_FOR_VERIFY", "Check", "batch_content_sha256", "checklist", "verify_batch",
    "release_batch", "reject_batch", "quarantine_batch", "status_before_hold", "lift_hold",
    "check_label_printable",
    # re-exported for callers written before issue 13
    "COMMANDS", "KIND_WORDS", "approvals", "approve", "diff_to_approved", "sha256_bytes",
    "submissions", "submit", "approval_state", "require_approved", "check_correction",
    "corrections", "record_correction", "recall_batch", "recall_component", "signatures",
    "verifications", "NAME_RE", "ROLES", "acting", "add_user", "authenticate",
    "change_passphrase", "deactivate_user", "get_user", "list_users", "unlock_user",
    "user_sha256", "user_state",
]
