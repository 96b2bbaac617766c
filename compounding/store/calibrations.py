"""Capsule calibrations (issue 11, part 6): the fill weight a pharmacy measured per capsule
for a filler and capsule size, who measured it and when.

Records like any other (migration ``m016_capsule_calibrations``): append-only (triggers
refuse UPDATE and DELETE), every row vouched for by an audit entry with its digest, written
in one ``BEGIN IMMEDIATE`` transaction. A new measurement of the same filler and size (a new
filler lot, a new capsule maker) is a new row and becomes the one plans use; a correction of
a mistyped figure is a new row linked to the latest one (``corrects``) with a reason, and
the corrected row stays as it was. The figure is checked first by
:func:`compounding.plan.calibration.check_calibration` (filler, size, a plausible density).

Functions take the :class:`~compounding.store.Store` first and use its public API only.
"""

from __future__ import annotations

from decimal import Decimal

from .. import units as u
from ..errors import InputError, NotFoundError, RefusedError
from .core import need_printable
from .users import acting

ACTION_NEW = "capsule-calibration.new"
ACTION_CORRECT = "capsule-calibration.correct"
#: Longest supplier lot number (as ``inventory.LOT_CHARS``) and reason accepted.
LOT_CHARS = 40
REASON_CHARS = 300


def record(store, catalogue, *, filler: str, capsule_size: str, fill_weight, by: str,
           capsules_weighed: int | None = None, filler_lot: str | None = None,
           corrects: int | None = None, reason: str | None = None) -> dict:
    """Record a measured fill weight (a :class:`~compounding.units.Quantity`, mass per
    capsule) of ``filler`` in capsules of ``capsule_size``; with ``corrects`` (the id of the
    latest calibration of that filler and size) and a ``reason``, as its correction.

    Returns the stored row (:func:`get`) plus ``implied_density`` (g/mL, Decimal).
    Raises :class:`InputError` for a figure :func:`check_calibration` refuses, a missing
    reason, or a bad lot text; :class:`NotFoundError` for an unknown ``corrects``;
    :class:`RefusedError` when ``corrects`` is not the latest calibration of the same filler
    and size (someone recorded another first).
    """
    from ..plan.calibration import MAX_CAPSULES_WEIGHED, check_calibration
    size, weight, density = check_calibration(catalogue, filler, capsule_size, fill_weight)
    if capsules_weighed is not None and not 1 <= int(capsules_weighed) <= MAX_CAPSULES_WEIGHED:
        raise InputError(f"--capsules: {capsules_weighed} must be 1 to {MAX_CAPSULES_WEIGHED}",
                         field="--capsules")
    if filler_lot is not None:
        filler_lot = need_printable(filler_lot, "--filler-lot", max_chars=LOT_CHARS,
                                    ascii_only=True)
    if corrects is None and reason is not None and reason.strip():
        raise InputError("--reason: only with --corrects (a new measurement needs no reason)",
                         field="--reason")
    if corrects is not None:
        reason = need_printable(reason or "", "--reason", max_chars=REASON_CHARS) \
            if (reason or "").strip() else None
        if reason is None:
            raise InputError("--reason: a correction needs a reason", field="--reason")
    by = acting(store, by)
    with store.write():
        if corrects is not None:
            old = store.one("SELECT * FROM capsule_calibrations WHERE id = ?", [int(corrects)])
            if old is None:
                raise NotFoundError(f"--corrects: no capsule calibration {corrects} on record")
            if (old["filler"], old["capsule_size"]) != (filler, size):
                raise RefusedError(
                    f"--corrects: calibration {corrects} is {old['filler']} size "
                    f"{old['capsule_size']}, not {filler} size {size}")
            latest = _latest_row(store, filler, size)
            if latest["id"] != old["id"]:
                raise RefusedError(
                    f"--corrects: calibration {corrects} is no longer the latest of {filler} "
                    f"size {size}: calibration {latest['id']} was recorded after it by "
                    f"{latest['recorded_by']} at {latest['recorded_at']}")
            new_count = None if capsules_weighed is None else int(capsules_weighed)
            if (Decimal(old["fill_weight_mg"]) == weight.to("mg").value
                    and old["capsules_weighed"] == new_count
                    and old["filler_lot"] == filler_lot):
                # a correction that changes nothing would only double the record
                raise RefusedError(
                    f"--corrects: calibration {corrects} already records "
                    f"{u.fmt(weight.to('mg'))} a capsule"
                    + (f", {new_count} capsules weighed" if new_count else "")
                    + (f", filler lot {filler_lot}" if filler_lot else "")
                    + ": a correction must change the fill weight, --capsules or --filler-lot")
        values = {"filler": filler, "capsule_size": size,
                  "fill_weight_mg": u.plain(weight.to("mg").value),
                  "capsules_weighed": None if capsules_weighed is None else int(capsules_weighed),
                  "filler_lot": filler_lot,
                  "corrects": None if corrects is None else int(corrects),
                  "reason": reason if corrects is not None else None,
                  "recorded_by": by, "recorded_at": store.stamp()}
        with store.refusing("capsule calibration not recorded: "):
            cid = store.insert("capsule_calibrations", values)
        store.audit(ACTION_CORRECT if corrects is not None else ACTION_NEW, by,
                    {k: v for k, v in values.items() if k not in ("recorded_by",
                                                                  "recorded_at")},
                    records=[store.ref("capsule_calibrations", cid)])
    out = get(store, cid)
    out["implied_density"] = density
    return out


def _latest_row(store, filler: str, size: str) -> dict | None:
    return store.one("SELECT * FROM capsule_calibrations WHERE filler = ? AND capsule_size = ?"
                     " ORDER BY id DESC LIMIT 1", [filler, size])


def get(store, calibration_id: int) -> dict:
    """One calibration row, with ``corrected_by`` (the id of the row correcting it, or
    None) and ``current`` (True when plans use it: the latest of its filler and size).
    Raises :class:`NotFoundError`."""
    row = store.one("SELECT * FROM capsule_calibrations WHERE id = ?", [int(calibration_id)])
    if row is None:
        raise NotFoundError(f"no capsule calibration {calibration_id} on record")
    return _decorate(store, [row])[0]


def _decorate(store, rows: list[dict]) -> list[dict]:
    latest = {(r["filler"], r["capsule_size"]): r["id"] for r in store.rows(
        "SELECT filler, capsule_size, MAX(id) AS id FROM capsule_calibrations "
        "GROUP BY filler, capsule_size")}
    fixed = {r["corrects"]: r["id"] for r in store.rows(
        "SELECT id, corrects FROM capsule_calibrations WHERE corrects IS NOT NULL")}
    out = []
    for r in rows:
        r = dict(r)
        r["corrected_by"] = fixed.get(r["id"])
        r["current"] = latest.get((r["filler"], r["capsule_size"])) == r["id"]
        out.append(r)
    return out


def history(store, filler: str | None = None, capsule_size: str | None = None) -> list[dict]:
    """Every calibration (optionally of one filler and/or size), oldest first, each with
    ``corrected_by`` and ``current`` (see :func:`get`)."""
    sql, params = "SELECT * FROM capsule_calibrations WHERE 1 = 1", []
    if filler is not None:
        sql += " AND filler = ?"
        params.append(filler)
    if capsule_size is not None:
        sql += " AND capsule_size = ?"
        params.append(capsule_size)
    return _decorate(store, store.rows(sql + " ORDER BY id", params))


def current(store) -> dict:
    """The calibration plans use for each filler and size: ``{(filler, size):
    CapsuleCalibration}``, the latest row of each pair (a correction is later than the row
    it corrects). Pass it to :func:`compounding.plan.make_plan` as ``calibrations``."""
    from ..plan.calibration import CapsuleCalibration
    rows = store.rows("SELECT c.* FROM capsule_calibrations c WHERE c.id = (SELECT MAX(id) "
                      "FROM capsule_calibrations d WHERE d.filler = c.filler AND "
                      "d.capsule_size = c.capsule_size)")
    return {(r["filler"], r["capsule_size"]): CapsuleCalibration.from_row(r) for r in rows}
