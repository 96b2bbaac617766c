"""Recording weighings: one plan step weighed or measured, against the formula's tolerance.

``record_weighing`` refuses an expired lot, a lot of another ingredient, an amount outside
the formula's weighing tolerance without a reason, and a second weighing of a step without
a reason. After each weighing the BUD is recomputed from the lots actually weighed (planned
lots stand in for steps not yet weighed), and a batch whose every step is weighed becomes
``compounded``.

Owns the table ``weighings`` (each weighing consumes stock of its component lot).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from ..dates import format_date
from .. import units as u
from ..errors import InputError, RefusedError
from . import inventory, lotid
from .batches import (batch_components, batch_row, batch_steps, bud_json, component_label,
                      update_batch, weighings)
from .core import StoreCore, canonical, sha256
from .lot_holds import refuse_if_held
from .sites import own_batch
from .users import acting

#: A batch takes weighings while planned or compounded (not once released, rejected or held).
OPEN_STATUSES = ("planned", "compounded")


def _density(catalogue_entry: dict | None):
    if not catalogue_entry or not catalogue_entry.get("density"):
        return None
    return u.parse(catalogue_entry["density"], u.CONCENTRATION)


def _resolve_step(steps: list[dict], weighed: set, step: int | None,
                  ingredient: str | None) -> dict:
    by_no = {s["step"]: s for s in steps}
    if step is not None:
        if step not in by_no:
            raise InputError(f"--step: the plan has steps 1 to {len(steps)}, not {step}")
        s = by_no[step]
        if ingredient is not None and s["ingredient"] != ingredient:
            raise RefusedError(f"step {step} weighs {s['ingredient'] or 'a dilution aliquot'}, "
                               f"not {ingredient}")
        return s
    if ingredient is None:
        raise InputError("give --step N or --ingredient ID")
    mine = [s for s in steps if s["ingredient"] == ingredient]
    if not mine:
        raise RefusedError(f"{ingredient} is not weighed in this batch's plan")
    pending = [s for s in mine if s["step"] not in weighed]
    if len(pending) == 1 or (len(mine) == 1):
        return pending[0] if pending else mine[0]
    if not pending:
        raise RefusedError(f"every step with {ingredient} is weighed already (steps "
                           f"{', '.join(str(s['step']) for s in mine)}); to weigh one again "
                           "give --step N and --reweigh REASON")
    raise InputError(f"{ingredient} is weighed in several steps ("
                     f"{', '.join(str(s['step']) for s in pending)}); give --step N")


def record_weighing(store: StoreCore, lot_id: str, *, amount, by: str,
                    step: int | None = None, ingredient: str | None = None,
                    component_lot: str | None = None, deviation_reason: str | None = None,
                    reweigh_reason: str | None = None, today: date | None = None) -> dict:
    """Record one plan line of batch ``lot_id`` as weighed: ``amount`` (a mass or volume,
    text or Quantity) for plan ``step`` or the pending step of ``ingredient``, from
    ``component_lot`` (default: the lot planned). Returns the weighing with the BUD after it
    (``bud``, ``bud_changed``, ``bud_explanation``), ``complete`` and ``steps_pending``.
    Raises :class:`InputError` / :class:`RefusedError` naming the field or rule."""
    from ..formulas import Formula

    lot_id = lotid.validate_lot_id(lot_id)

    amount = u.parse(amount, {u.MASS, u.VOLUME}, field="amount")
    by = acting(store, by)  # issue 7: an active user (authenticated in the CLI)
    today = today or store.today()
    deviation_reason = (deviation_reason or "").strip() or None
    reweigh_reason = (reweigh_reason or "").strip() or None
    with store.write():
        batch = batch_row(store, lot_id)
        own_batch(store, batch, "record a weighing for")  # issue 20
        if batch["status"] not in OPEN_STATUSES:
            raise RefusedError(f"batch {lot_id} is {batch['status']}; weighings can no longer "
                               "be recorded")
        steps = batch_steps(store, lot_id)
        done = weighings(store, lot_id)
        weighed = {w["step"] for w in done}
        s = _resolve_step(steps, weighed, step, ingredient)
        if s["step"] in weighed and not reweigh_reason:
            raise RefusedError(f"step {s['step']} ({s['what']}) is weighed already; to weigh "
                               "it again give --reweigh REASON (both stay on record)")
        catalogue = json.loads(batch["catalogue_snapshot"])
        formula = Formula.model_validate(json.loads(batch["formula_snapshot"]))
        lot = None
        if s["ingredient"] is None:
            if component_lot:
                raise RefusedError(f"step {s['step']} is an aliquot of a dilution made in this "
                                   "batch; it takes no component lot")
        else:
            if component_lot:
                lot = inventory.find_lot(store, s["ingredient"], component_lot.strip())
            else:
                planned = next((c for c in batch_components(store, lot_id)
                                if c["ingredient"] == s["ingredient"]), None)
                if planned is None:
                    raise InputError(f"--component-lot: name the {s['ingredient']} lot used")
                lot = inventory.lot(store, planned["component_lot_id"], today=today)
            refuse_if_held(store, lot, "it cannot be weighed")  # issue 19
            planned_potency = json.loads(batch["plan_json"]).get("potency_percent")
            if (s["ingredient"] == formula.active.ingredient and planned_potency is not None
                    and lot["potency_percent"] != Decimal(planned_potency)):
                raise RefusedError(f"{s['ingredient']} lot {lot['lot_number']} has potency "
                                   f"{u.plain(lot['potency_percent'])}% but the plan was made "
                                   f"for {planned_potency}%; plan a new batch with that lot")
            expires = date.fromisoformat(lot["expires"])
            if expires < today:
                raise RefusedError(f"{s['ingredient']} lot {lot['lot_number']} expired on "
                                   f"{format_date(expires)}; it cannot be used")
        planned_q = u.q(s["quantity"], s["unit"])
        if planned_q.dim != amount.dim:
            raise InputError(f"amount: step {s['step']} is planned as {u.fmt(planned_q)}; give "
                             f"the amount in {planned_q.unit}-compatible units, not "
                             f"{amount.unit}")
        deviation = Decimal(0)
        if planned_q.value != 0:
            deviation = ((amount - planned_q) / planned_q) * 100
        tolerance = formula.weighing_tolerance.value
        dev_text = u.plain(round(deviation, 2))
        if abs(deviation) > tolerance and not deviation_reason:
            raise RefusedError(f"step {s['step']}: {u.fmt(amount)} is {dev_text}% from the "
                               f"planned {u.fmt(planned_q)} (tolerance ±{u.plain(tolerance)}%);"
                               " weigh again, or record it with --deviation REASON")
        consumed = None
        if lot is not None:
            consumed = inventory.to_unit(amount, lot["unit"], _density(catalogue.get(s["ingredient"])),
                               s["ingredient"])
            if consumed > lot["on_hand"]:
                raise RefusedError(f"{s['ingredient']} lot {lot['lot_number']} has only "
                                   f"{u.fmt(u.q(lot['on_hand'], lot['unit']))} on hand")
        values = {"lot_id": lot_id, "step": s["step"], "what": s["what"],
                  "ingredient": s["ingredient"],
                  "component_lot_id": lot["id"] if lot else None,
                  "planned_quantity": s["quantity"], "planned_unit": s["unit"],
                  "quantity": u.plain(amount.value), "unit": amount.unit,
                  "consumed_quantity": None if consumed is None else u.plain(consumed),
                  "deviation_percent": dev_text, "deviation_reason": deviation_reason,
                  "reweigh_reason": reweigh_reason, "weighed_by": by,
                  "weighed_at": store.stamp()}
        wid = store.insert("weighings", values)
        store.audit("batch.reweigh" if reweigh_reason else "batch.weigh", by,
                    {"step": s["step"], "what": s["what"], "ingredient": s["ingredient"],
                     "component_lot": lot["lot_number"] if lot else None,
                     "amount": amount.as_json(), "planned": planned_q.as_json(),
                     "deviation_percent": dev_text, "deviation_reason": deviation_reason,
                     "reweigh_reason": reweigh_reason},
                    lot_id=lot_id, records=[store.ref("weighings", wid)])
        old_bud = batch["bud"]
        bud = _recompute_bud(store, lot_id, batch, formula, by)
        # nothing is weighed into a batch past its beyond-use date, as recomputed with this
        # weighing's lot (issue 15 attack: a batch planned and left for months was weighed
        # after its BUD); raising here rolls the weighing back. The BUD day is in date.
        from ..bud import check_in_date
        check_in_date(bud.bud, today, lot_id=lot_id, action="weighing")
        weighed.add(s["step"])
        complete = all(x["step"] in weighed for x in steps)
        if complete and batch["status"] == "planned":
            update_batch(store, lot_id, status="compounded")
            store.audit("batch.status", by, {"from": "planned", "to": "compounded",
                                             "reason": "every plan step weighed"},
                        lot_id=lot_id)
    row = next(w for w in weighings(store, lot_id) if w["id"] == wid)
    return {**row, "bud": bud.bud.isoformat(), "bud_changed": bud.bud.isoformat() != old_bud,
            "bud_explanation": bud.explain(), "complete": complete,
            "steps_pending": [x["step"] for x in steps if x["step"] not in weighed]}


def _recompute_bud(store: StoreCore, lot_id: str, batch: dict, formula, by: str):
    """BUD from the lots actually weighed; the planned lot for ingredients not weighed yet."""
    from ..bud import compute_bud
    expiries = {}
    weighed_ings = set()
    for r in store.rows("SELECT DISTINCT w.ingredient, l.lot_number, l.expires FROM weighings w"
                         " JOIN component_lots l ON l.id = w.component_lot_id"
                         " WHERE w.lot_id = ?", [lot_id]):
        expiries[component_label(r["ingredient"], r)] = date.fromisoformat(r["expires"])
        weighed_ings.add(r["ingredient"])
    for c in batch_components(store, lot_id):
        if c["ingredient"] not in weighed_ings:
            expiries[component_label(c["ingredient"], c)] = date.fromisoformat(c["expires"])
    stored = json.loads(batch["bud_json"])
    order = json.loads(batch["order_json"])
    bud = compute_bud(formula, date.fromisoformat(batch["compounded_on"]), batch["storage"],
                      expiries, stored.get("policy", "usp795"), filler=order.get("filler"),
                      base=order.get("base"))
    if bud.bud.isoformat() != batch["bud"]:
        text = canonical(bud_json(bud))
        update_batch(store, lot_id, bud=bud.bud.isoformat(), bud_json=text)
        store.audit("batch.bud-recomputed", by,
                    {"from": batch["bud"], "to": bud.bud.isoformat(),
                     "bud_json_sha256": sha256(text),  # db verify (session 4)
                     "binding": bud.binding.as_json(),
                     "component_expiries": {k: v.isoformat() for k, v in expiries.items()}},
                    lot_id=lot_id)
    return bud

