"""Creating batches and recording weighings: the store's side of the compounding record.

``create_batch`` picks the component lots (those named, else the earliest-expiring
unexpired lot of each ingredient with enough stock available), plans with the active lot's
certificate potency, computes the BUD from those lots, allocates the lot ID (its own
committed transaction, so an ID is never reused) and writes the record in one
``BEGIN IMMEDIATE`` transaction that re-checks the stock under the write lock.

``record_weighing`` records one plan step as weighed or measured; it refuses an expired lot,
a lot of another ingredient, an amount outside the formula's weighing tolerance without a
reason, and a second weighing of a step without a reason. After each weighing the BUD is
recomputed from the lots actually weighed (planned lots stand in for steps not yet weighed).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from ..dates import format_date
from .. import units as u
from ..errors import InputError, NotFoundError, RefusedError, StoreError
from .store import Store, canonical, to_unit

OPEN_STATUSES = ("planned", "compounded")


def _density(catalogue_entry: dict | None):
    if not catalogue_entry or not catalogue_entry.get("density"):
        return None
    return u.parse(catalogue_entry["density"], u.CONCENTRATION)


def _qjson(qty):
    return None if qty is None else qty.as_json()


def order_json(order) -> dict:
    return {"quantity": _qjson(order.quantity), "strength": _qjson(order.strength),
            "filler": order.filler, "capsule_size": order.capsule_size,
            "potency_percent": u.plain(order.potency_percent),
            "overage_percent": None if order.overage_percent is None
            else u.plain(order.overage_percent),
            "min_weighable": _qjson(order.min_weighable), "avoid": list(order.avoid)}


def _label(ingredient: str, lot: dict) -> str:
    return f"{ingredient} lot {lot['lot_number']}"


def _candidates(store: Store, ingredient: str, named: str | None, day: date) -> list[dict]:
    if named is not None:
        lot = store.find_lot(ingredient, named)
        if date.fromisoformat(lot["expires"]) < day:
            raise RefusedError(f"{ingredient} lot {named} expired on "
                               f"{format_date(lot['expires'])}")
        return [lot]
    fresh = store.candidate_lots(ingredient, day)  # earliest expiry first, exact on access
    if len(fresh) == 0 or not any(x["on_hand"] > 0 for x in fresh):
        lots = store.lots(ingredient=ingredient, include_empty=False)
        if lots:
            raise RefusedError(f"no unexpired stock of {ingredient}: every lot on hand has "
                               "expired")
        raise RefusedError(f"no stock of {ingredient} (receive a lot first: compounding "
                           "inventory receive)")
    return fresh


def _short(ingredient: str, need: Decimal, unit: str, lots: list[dict], named: bool) -> str:
    shown = [lots[i] for i in range(min(len(lots), 5))]
    have = ", ".join(f"lot {x['lot_number']} {u.fmt(u.q(x['available'], unit))}" for x in shown)
    if len(lots) > len(shown):
        have += f", and {len(lots) - len(shown)} more lots"
    which = "the named lot has" if named else "no single unexpired lot has"
    return (f"not enough {ingredient}: the batch needs {u.fmt(u.q(need, unit))} and {which} "
            f"that much available ({have})")


def create_batch(store: Store, formula, catalogue, settings, order, *, by: str,
                 formula_sha256: str, component_lots: dict[str, str], storage: str | None,
                 compounded: date | None, corrects: str | None = None,
                 reason: str | None = None) -> dict:
    from ..bud import compute_bud
    from ..plan import make_plan, render_plan_text
    from . import signoff

    by = store.acting(by)
    # issue 7: only a pharmacist-approved formula file (this exact SHA-256) makes batches
    signoff.require_approved(store, "formula", formula.id, formula.version, formula_sha256)
    if corrects is not None:
        corrects, reason = signoff.check_correction(store, corrects, reason)
    day = compounded or store.today()
    storage = storage or formula.storage.conditions[0]
    active = formula.active.ingredient
    known = set(catalogue.ingredients)
    for ing in component_lots:
        if ing not in known:
            raise NotFoundError(f"--component-lot: unknown ingredient {ing!r}")

    # 1. The active ingredient's lot decides the potency, so the plan is made per candidate.
    plan = None
    cands = _candidates(store, active, component_lots.get(active), day)
    needs = []
    for lot in cands:
        attempt = make_plan(formula, catalogue, settings,
                            order.model_copy(update={"potency_percent": lot["potency_percent"]}))
        need = _line_need(attempt, active, lot["unit"], catalogue)
        needs.append(need)
        if lot["available"] >= need:
            plan, chosen = attempt, {active: (lot, need)}
            break
    if plan is None:
        raise RefusedError(_short(active, max(needs), cands[0]["unit"], cands,
                                  active in component_lots))

    # 2. Every other ingredient the plan uses.
    for line in plan.ingredients:
        if line.id == active or line.id in chosen:
            continue
        lots = _candidates(store, line.id, component_lots.get(line.id), day)
        need = _line_need(plan, line.id, lots[0]["unit"], catalogue)
        pick = next((x for x in lots if x["available"] >= need), None)
        if pick is None:
            raise RefusedError(_short(line.id, need, lots[0]["unit"], lots,
                                      line.id in component_lots))
        chosen[line.id] = (pick, need)
    unused = set(component_lots) - set(chosen)
    if unused:
        raise InputError(f"--component-lot: {', '.join(sorted(unused))} is not used by "
                         f"{formula.id}")

    # 3. BUD from the chosen lots (pure).
    expiries = {_label(ing, lot): date.fromisoformat(lot["expires"])
                for ing, (lot, _) in chosen.items()}
    bud = compute_bud(formula, day, storage, expiries, settings.bud_policy, filler=order.filler)
    plan_text = render_plan_text(plan)  # everything pure is done before an ID is spent

    # 4. Lot ID (committed on its own: never reused), then the record.
    lot_id = store.allocate_lot_id(by, day)
    ids = {active, formula.active.strength_basis, *chosen}
    cat_snapshot = {i: catalogue.ingredients[i].model_dump(mode="json", exclude_none=True)
                    for i in sorted(ids) if i in catalogue.ingredients}
    try:
        with store.write():
            for ing, (lot, need) in chosen.items():
                now = store.lot(lot["id"], today=day)  # again, under the write lock
                if now["available"] < need:
                    raise RefusedError(_short(ing, need, lot["unit"], [now], True)
                                       + "; another batch reserved it meanwhile")
            row = {
                "lot_id": lot_id, "formula_id": formula.id, "formula_version": formula.version,
                "formula_sha256": formula_sha256,
                "formula_snapshot": canonical(formula.spec_json()),
                "catalogue_snapshot": canonical(cat_snapshot),
                "dosage_form": formula.dosage_form,
                "strength": u.fmt(plan.strength) if plan.strength is not None
                else formula.strength.describe(),
                "quantity": u.fmt(plan.quantity), "units_made": u.fmt(plan.units_to_make),
                "order_json": canonical(order_json(order)),
                "plan_json": canonical(plan.as_json()),
                "plan_text": plan_text,
                "storage": storage, "compounded_on": day.isoformat(),
                "bud": bud.bud.isoformat(), "bud_json": canonical(_bud_json(bud)),
                "status": "planned", "compounded_by": by, "created_at": store.stamp(),
            }
            store.db.execute(f"INSERT INTO batches ({', '.join(row)}) VALUES "
                             f"({', '.join(':' + k for k in row)})", row)
            records = [store._ref("batches", lot_id)]
            for ing, (lot, need) in sorted(chosen.items()):
                store.db.execute(
                    "INSERT INTO batch_components (lot_id, ingredient, component_lot_id,"
                    " planned_quantity, unit, chosen) VALUES (?,?,?,?,?,?)",
                    [lot_id, ing, lot["id"], u.plain(need), lot["unit"],
                     "named" if ing in component_lots else "earliest-expiry"])
                records.append(store._ref("batch_components", lot_id, ing))
            for w in plan.weighings:
                store.db.execute(
                    "INSERT INTO batch_steps (lot_id, step, what, ingredient, quantity, unit)"
                    " VALUES (?,?,?,?,?,?)",
                    [lot_id, w.step, w.what, w.ingredient, u.plain(w.amount.value),
                     w.amount.unit])
                records.append(store._ref("batch_steps", lot_id, w.step))
            if corrects is not None:
                records.append(signoff.record_correction(store, lot_id, corrects, reason, by))
            store.audit("batch.create", by, {
                "formula_id": formula.id, "formula_version": formula.version,
                "formula_sha256": formula_sha256, "order": order_json(order),
                "storage": storage, "bud": bud.bud.isoformat(),
                "component_lots": {i: lot["lot_number"] for i, (lot, _) in chosen.items()},
                **({"corrects": corrects, "reason": reason} if corrects else {})},
                lot_id=lot_id, records=records)
    except BaseException as exc:
        try:
            store.audit("batch.create-failed", by, {"error": str(exc) or type(exc).__name__},
                        lot_id=lot_id)
        except Exception:  # the database itself may be what failed
            pass
        raise
    out = store.get_batch(lot_id)
    out["plan_text"] = row["plan_text"]
    return out


def _bud_json(bud) -> dict:
    out = bud.as_json()
    out["explanation"] = bud.explain()
    return out


def _line_need(plan, ingredient: str, unit: str, catalogue) -> Decimal:
    """Total amount of ``ingredient`` the plan weighs or measures, in the lot's unit."""
    line = next((x for x in plan.ingredients if x.id == ingredient), None)
    if line is None:
        raise StoreError(f"the plan has no line for {ingredient}")
    entry = catalogue.ingredients.get(ingredient)
    density = entry.density if entry is not None else None
    return to_unit(line.to_weigh, unit, density, ingredient)


# ---------------------------------------------------------------- weighings

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


def record_weighing(store: Store, lot_id: str, *, amount, by: str, step: int | None,
                    ingredient: str | None, component_lot: str | None,
                    deviation_reason: str | None, reweigh_reason: str | None,
                    today: date | None) -> dict:
    from ..formulas import Formula

    amount = u.parse(amount, {u.MASS, u.VOLUME}, field="amount")
    by = store.acting(by)  # issue 7: an active user (authenticated in the CLI)
    today = today or store.today()
    deviation_reason = (deviation_reason or "").strip() or None
    reweigh_reason = (reweigh_reason or "").strip() or None
    with store.write():
        batch = store._batch_row(lot_id)
        if batch["status"] not in OPEN_STATUSES:
            raise RefusedError(f"batch {lot_id} is {batch['status']}; weighings can no longer "
                               "be recorded")
        steps = store.batch_steps(lot_id)
        done = store.weighings(lot_id)
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
                lot = store.find_lot(s["ingredient"], component_lot.strip())
            else:
                planned = next((c for c in store.batch_components(lot_id)
                                if c["ingredient"] == s["ingredient"]), None)
                if planned is None:
                    raise InputError(f"--component-lot: name the {s['ingredient']} lot used")
                lot = store.lot(planned["component_lot_id"], today=today)
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
            consumed = to_unit(amount, lot["unit"], _density(catalogue.get(s["ingredient"])),
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
        cur = store.db.execute(f"INSERT INTO weighings ({', '.join(values)}) VALUES "
                               f"({', '.join(':' + k for k in values)})", values)
        wid = cur.lastrowid
        store.audit("batch.reweigh" if reweigh_reason else "batch.weigh", by,
                    {"step": s["step"], "what": s["what"], "ingredient": s["ingredient"],
                     "component_lot": lot["lot_number"] if lot else None,
                     "amount": amount.as_json(), "planned": planned_q.as_json(),
                     "deviation_percent": dev_text, "deviation_reason": deviation_reason,
                     "reweigh_reason": reweigh_reason},
                    lot_id=lot_id, records=[store._ref("weighings", wid)])
        old_bud = batch["bud"]
        bud = _recompute_bud(store, lot_id, batch, formula, by)
        weighed.add(s["step"])
        complete = all(x["step"] in weighed for x in steps)
        if complete and batch["status"] == "planned":
            store._update_batch(lot_id, status="compounded")
            store.audit("batch.status", by, {"from": "planned", "to": "compounded",
                                             "reason": "every plan step weighed"},
                        lot_id=lot_id)
    row = next(w for w in store.weighings(lot_id) if w["id"] == wid)
    return {**row, "bud": bud.bud.isoformat(), "bud_changed": bud.bud.isoformat() != old_bud,
            "bud_explanation": bud.explain(), "complete": complete,
            "steps_pending": [x["step"] for x in steps if x["step"] not in weighed]}


def _recompute_bud(store: Store, lot_id: str, batch: dict, formula, by: str):
    """BUD from the lots actually weighed; the planned lot for ingredients not weighed yet."""
    from ..bud import compute_bud
    expiries = {}
    weighed_ings = set()
    for r in store._rows("SELECT DISTINCT w.ingredient, l.lot_number, l.expires FROM weighings w"
                         " JOIN component_lots l ON l.id = w.component_lot_id"
                         " WHERE w.lot_id = ?", [lot_id]):
        expiries[_label(r["ingredient"], r)] = date.fromisoformat(r["expires"])
        weighed_ings.add(r["ingredient"])
    for c in store.batch_components(lot_id):
        if c["ingredient"] not in weighed_ings:
            expiries[_label(c["ingredient"], c)] = date.fromisoformat(c["expires"])
    stored = json.loads(batch["bud_json"])
    filler = json.loads(batch["order_json"]).get("filler")
    bud = compute_bud(formula, date.fromisoformat(batch["compounded_on"]), batch["storage"],
                      expiries, stored.get("policy", "usp795"), filler=filler)
    if bud.bud.isoformat() != batch["bud"]:
        store._update_batch(lot_id, bud=bud.bud.isoformat(), bud_json=canonical(_bud_json(bud)))
        store.audit("batch.bud-recomputed", by,
                    {"from": batch["bud"], "to": bud.bud.isoformat(),
                     "binding": bud.binding.as_json(),
                     "component_expiries": {k: v.isoformat() for k, v in expiries.items()}},
                    lot_id=lot_id)
    return bud
