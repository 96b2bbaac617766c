"""Prescriptions, their titration steps and the fills dispensed against them (issue 17).

Records like any other (migration ``m011_prescriptions``): append-only (triggers refuse
UPDATE and DELETE), every row vouched for by an audit entry with its digest, written in one
``BEGIN IMMEDIATE`` transaction. A correction is a new version of the Rx linked to the one
it replaces (``corrects``) with a reason; the old version stays as it was. Each version
keeps a snapshot of the formula and of the ``[rx]`` settings it was worked out with, and
the plan (fills, quantities, directions), so what a recorded prescription says never
changes. A fill is recorded once per Rx (per strength of a capsule kit), with the lot and
the dispensing label printed for it: a recall of the lot reaches the patient.

Functions take the :class:`~compounding.store.Store` first and use its public API only.
"""

from __future__ import annotations

import json

from .. import units as u
from ..errors import InputError, NotFoundError, RefusedError
from .core import canonical
from .users import acting

ACTION_NEW = "rx.new"
ACTION_CORRECT = "rx.correct"
ACTION_FILL = "rx.fill"


def _dumps(obj) -> str:
    return canonical(obj)


def record(store, rx, *, formula_sha256: str, by: str, reason: str | None = None,
           correct: bool = False) -> dict:
    """Record ``rx`` (a :class:`compounding.rx.prescription.Prescription`); with
    ``correct``, as a new version of an Rx on record, linked to its latest version, with a
    ``reason``. Returns the stored prescription (:func:`get`).

    Raises :class:`RefusedError` when the Rx number is already on record (new) or is not
    (correction), or when the correction changes nothing.
    """
    by = acting(store, by)
    if correct and not (reason or "").strip():
        raise InputError("reason: a correction needs a reason", field="reason")
    plan = rx.plan_json()
    with store.write():
        latest = store.one("SELECT * FROM prescriptions WHERE rx_number = ? "
                           "ORDER BY version DESC LIMIT 1", [rx.rx_number])
        if correct and latest is None:
            raise NotFoundError(f"rx: no prescription {rx.rx_number} on record to correct")
        if not correct and latest is not None:
            raise RefusedError(f"rx: {rx.rx_number} is already on record (version "
                               f"{latest['version']}, {latest['patient']}); to change it use "
                               "`rx correct` with a reason")
        values = {
            "rx_number": rx.rx_number,
            "version": latest["version"] + 1 if latest else 1,
            "corrects": latest["id"] if latest else None,
            "reason": reason.strip() if correct else None,
            "patient": rx.patient, "prescriber": rx.prescriber,
            "formula_id": rx.formula.id, "formula_version": rx.formula.version,
            "formula_sha256": formula_sha256,
            "formula_snapshot": _dumps(rx.formula.spec_json()),
            "strength": u.fmt(rx.strength).replace(",", "") if rx.strength else None,
            "storage": rx.storage, "bud_policy": rx.policy, "dose_time": rx.dose_time,
            "start_date": rx.schedule.start.isoformat(),
            "end_date": rx.schedule.end.isoformat(),
            "schedule": rx.schedule.written,
            "dose_confirmed": int(rx.dose_confirmed),
            "rx_settings": _dumps(rx.rx.model_dump(mode="json")),
            "plan": _dumps(plan),
            "created_by": by, "created_at": store.stamp(),
        }
        if latest is not None and all(
                latest[k] == values[k] for k in values
                if k not in ("version", "corrects", "reason", "created_by", "created_at",
                             "rx_settings", "plan")):
            raise RefusedError(f"rx: the correction of {rx.rx_number} changes nothing")
        with store.refusing("rx: not recorded: "):
            pid = store.insert("prescriptions", values)
            for seq, s in enumerate(rx.schedule.steps, 1):
                store.insert("prescription_steps", {
                    "prescription_id": pid, "seq": seq,
                    "dose_mg": u.plain(s.dose.to("mg").value), "days": s.days})
        refs = [store.ref("prescriptions", pid)] + [
            store.ref("prescription_steps", pid, seq)
            for seq in range(1, len(rx.schedule.steps) + 1)]
        details = {k: v for k, v in values.items()
                   if k not in ("formula_snapshot", "rx_settings", "plan", "created_by",
                                "created_at")}
        store.audit(ACTION_CORRECT if correct else ACTION_NEW, by, details, records=refs)
    return get(store, rx.rx_number)


def _rows(store, rx_number: str) -> list[dict]:
    return store.rows("SELECT * FROM prescriptions WHERE rx_number = ? ORDER BY version",
                      [rx_number])


def get(store, rx_number: str, version: int | None = None) -> dict:
    """One prescription (the latest version unless ``version``): the row, its steps, every
    version's summary and every fill dispensed against any version of the Rx.

    Raises :class:`NotFoundError` for an Rx number (or version) not on record.
    """
    versions = _rows(store, rx_number)
    if not versions:
        raise NotFoundError(f"rx: no prescription {rx_number!r} on record")
    if version is None:
        row = versions[-1]
    else:
        match = [v for v in versions if v["version"] == version]
        if not match:
            raise NotFoundError(f"rx: {rx_number} has no version {version} (versions 1 to "
                                f"{versions[-1]['version']})")
        row = match[0]
    out = dict(row)
    out["steps"] = store.rows("SELECT seq, dose_mg, days FROM prescription_steps WHERE "
                              "prescription_id = ? ORDER BY seq", [row["id"]])
    out["plan"] = json.loads(row["plan"])
    out["latest"] = row["id"] == versions[-1]["id"]
    out["versions"] = [{"version": v["version"], "corrects_version":
                        next((w["version"] for w in versions if w["id"] == v["corrects"]), None),
                        "reason": v["reason"], "created_by": v["created_by"],
                        "created_at": v["created_at"]} for v in versions]
    out["fills"] = store.rows(
        "SELECT f.*, p.version AS prescription_version FROM prescription_fills f "
        "JOIN prescriptions p ON p.id = f.prescription_id WHERE p.rx_number = ? "
        "ORDER BY f.fill, f.strength, f.id", [rx_number])
    return out


def list_latest(store, patient: str | None = None) -> list[dict]:
    """The latest version of every prescription (optionally one patient's), newest first,
    with the number of fills dispensed."""
    sql = ("SELECT p.*, (SELECT COUNT(*) FROM prescription_fills f JOIN prescriptions q "
           "ON q.id = f.prescription_id WHERE q.rx_number = p.rx_number) AS fills_dispensed "
           "FROM prescriptions p WHERE p.version = (SELECT MAX(version) FROM prescriptions "
           "WHERE rx_number = p.rx_number)")
    params: list = []
    if patient is not None:  # stored NFC with single spaces (rx.prescription.check_name)
        import unicodedata
        sql += " AND p.patient = ?"
        params.append(" ".join(unicodedata.normalize("NFC", patient).split()))
    return store.rows(sql + " ORDER BY p.created_at DESC, p.id DESC", params)


def record_fill(store, *, prescription: dict, fill: int, strength: str, lot_id: str,
                quantity: str, first_day: str, last_day: str, directions: str,
                label_print_id: int, by: str) -> dict:
    """Record fill ``fill`` (one strength of it) of a stored prescription, dispensed from
    ``lot_id`` with the dispensing label ``label_print_id``. Call inside the same
    ``store.write()`` as the label print so both are kept or neither.

    Raises :class:`RefusedError` when this fill (strength) of the Rx was already dispensed.
    """
    by = acting(store, by)
    values = {"prescription_id": prescription["id"], "fill": int(fill), "strength": strength,
              "lot_id": lot_id, "quantity": quantity, "first_day": first_day,
              "last_day": last_day, "directions": directions,
              "label_print_id": int(label_print_id), "dispensed_by": by,
              "dispensed_at": store.stamp()}
    with store.write():
        with store.refusing(f"fill {fill} of Rx {prescription['rx_number']} ({strength}) not "
                            "recorded: "):
            fid = store.insert("prescription_fills", values)
        store.audit(ACTION_FILL, by, {"rx_number": prescription["rx_number"],
                                      "version": prescription["version"],
                                      **{k: v for k, v in values.items()
                                         if k not in ("dispensed_by", "dispensed_at")}},
                    lot_id=lot_id, records=[store.ref("prescription_fills", fid)])
    return store.one("SELECT * FROM prescription_fills WHERE id = ?", [fid])
