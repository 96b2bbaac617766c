"""Creating a batch: the store's side of planning a compounding record.

``create_batch`` picks the component lots (those named, else the earliest-expiring
unexpired lot of each ingredient with enough stock available), plans with the active lot's
certificate potency, computes the BUD from those lots, allocates the lot ID (its own
committed transaction, so an ID is never reused) and writes the record in one write
transaction that re-checks the stock under the write lock.

Writes ``batches``, ``batch_components``, ``batch_steps`` (owned by :mod:`.batches`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..dates import format_date
from .. import units as u
from ..errors import InputError, NotFoundError, RefusedError, StoreError
from . import inventory, lotid
from .approvals import require_approved
from .calibrations import current as current_calibrations
from .batches import (allocate_lot_id, bud_json, check_correction, component_label,
                      record_correction)
from .compounding_record import get_batch
from .core import StoreCore, canonical, sha256
from .lot_holds import current_hold, hold_text, refuse_if_held
from .users import acting


def _qjson(qty):
    return None if qty is None else qty.as_json()


def order_json(order) -> dict:
    """An order (``plan.Order``) as stored in ``batches.order_json``."""
    return {"quantity": _qjson(order.quantity), "strength": _qjson(order.strength),
            "filler": order.filler, "capsule_size": order.capsule_size,
            "potency_percent": u.plain(order.potency_percent),
            "overage_percent": None if order.overage_percent is None
            else u.plain(order.overage_percent),
            "min_weighable": _qjson(order.min_weighable), "avoid": list(order.avoid),
            "confirm_strength": order.confirm_strength, "base": order.base}


def candidates(store: StoreCore, ingredient: str, named: str | None, day: date) -> list[dict]:
    """The lots a batch may take ``ingredient`` from on ``day``: the ``named`` lot (refused
    when expired), else the unexpired lots with stock, earliest expiry first (lazy)."""
    if named is not None:
        lot = inventory.find_lot(store, ingredient, named)
        refuse_if_held(store, lot, "it cannot be used in a batch")  # issue 19
        if date.fromisoformat(lot["expires"]) < day:
            raise RefusedError(f"{ingredient} lot {named} expired on "
                               f"{format_date(lot['expires'])}")
        return [lot]
    fresh = inventory.candidate_lots(store, ingredient, day)  # earliest expiry first, exact on access
    if len(fresh) == 0 or not any(x["on_hand"] > 0 for x in fresh):
        lots = inventory.lots(store, ingredient=ingredient, include_empty=False)
        held = [x for x in lots if x["on_hold"] and not x["expired"]]
        if held:
            raise RefusedError(f"no usable stock of {ingredient}: every unexpired lot with "
                               "stock is on hold ("
                               + "; ".join(hold_text(x, current_hold(store, x["id"]))
                                           for x in held[:3]) + ")")
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


def create_batch(store: StoreCore, formula, catalogue, settings, order, *, by: str,
                 formula_sha256: str, component_lots: dict[str, str] | None = None,
                 storage: str | None = None, compounded: date | None = None,
                 corrects: str | None = None, reason: str | None = None) -> dict:
    """Plan and record a new batch of ``formula`` for ``order`` (``plan.Order``); return its
    compounding record (:func:`.compounding_record.get_batch`) plus ``plan_text``.

    ``formula_sha256`` must be an approved formula file; ``component_lots`` names lots
    (``ingredient -> lot number``), else the earliest-expiring lot with stock is taken;
    ``storage`` defaults to the formula's first condition; ``compounded`` to today;
    ``corrects`` (with ``reason``): the rejected or quarantined batch this one corrects.
    Raises :class:`RefusedError`, :class:`InputError` or :class:`NotFoundError` by name.
    """
    from ..bud import compute_bud
    from ..plan import make_plan, render_plan_text

    component_lots = component_lots or {}
    by = acting(store, by)
    # issue 7: only a pharmacist-approved formula file (this exact SHA-256) makes batches
    require_approved(store, "formula", formula.id, formula.version, formula_sha256)
    if corrects is not None:
        corrects, reason = check_correction(store, corrects, reason)
    day = compounded or store.today()
    storage = storage or formula.storage.conditions[0]
    active = formula.active.ingredient
    known = set(catalogue.ingredients)
    for ing in component_lots:
        if ing not in known:
            raise NotFoundError(f"--component-lot: unknown ingredient {ing!r}")

    # 1. The active ingredient's lot decides the potency, so the plan is made per candidate.
    # issue 11: capsule plans use the pharmacy's recorded capsule calibrations
    cals = current_calibrations(store) if formula.dosage_form == "capsule" else {}
    plan = None
    cands = candidates(store, active, component_lots.get(active), day)
    needs = []
    for lot in cands:
        attempt = make_plan(formula, catalogue, settings,
                            order.model_copy(update={"potency_percent": lot["potency_percent"]}),
                            calibrations=cals)
        need = line_need(attempt, active, lot["unit"], catalogue)
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
        lots = candidates(store, line.id, component_lots.get(line.id), day)
        need = line_need(plan, line.id, lots[0]["unit"], catalogue)
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
    expiries = {component_label(ing, lot): date.fromisoformat(lot["expires"])
                for ing, (lot, _) in chosen.items()}
    # issue 11: the cream base the plan chose (per batch, like a capsule filler) decides the
    # USP <795> category; the stored order names it
    base = plan.cream["base"] if plan.cream else None
    if base is not None:
        order = order.model_copy(update={"base": base})
    bud = compute_bud(formula, day, storage, expiries, settings.bud_policy, filler=order.filler,
                      base=base)
    plan_text = render_plan_text(plan)  # everything pure is done before an ID is spent

    # 4. Lot ID (committed on its own: never reused), then the record.
    lot_id = allocate_lot_id(store, by, day)
    ids = {active, formula.active.strength_basis, *chosen}
    cat_snapshot = {i: catalogue.ingredients[i].model_dump(mode="json", exclude_none=True)
                    for i in sorted(ids) if i in catalogue.ingredients}
    try:
        with store.write():
            for ing, (lot, need) in chosen.items():
                now = inventory.lot(store, lot["id"], today=day)  # again, under the write lock
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
                "bud": bud.bud.isoformat(), "bud_json": canonical(bud_json(bud)),
                "status": "planned", "compounded_by": by, "created_at": store.stamp(),
                "site": lotid.lot_site(lot_id),  # issue 20: the lot ID's site
            }
            store.insert("batches", row)
            records = [store.ref("batches", lot_id)]
            for ing, (lot, need) in sorted(chosen.items()):
                store.insert("batch_components", {
                    "lot_id": lot_id, "ingredient": ing, "component_lot_id": lot["id"],
                    "planned_quantity": u.plain(need), "unit": lot["unit"],
                    "chosen": "named" if ing in component_lots else "earliest-expiry"})
                records.append(store.ref("batch_components", lot_id, ing))
            for w in plan.weighings:
                store.insert("batch_steps", {
                    "lot_id": lot_id, "step": w.step, "what": w.what,
                    "ingredient": w.ingredient, "quantity": u.plain(w.amount.value),
                    "unit": w.amount.unit})
                records.append(store.ref("batch_steps", lot_id, w.step))
            if corrects is not None:
                records.append(record_correction(store, lot_id, corrects, reason, by))
            store.audit("batch.create", by, {
                "formula_id": formula.id, "formula_version": formula.version,
                "formula_sha256": formula_sha256, "order": order_json(order),
                "storage": storage, "bud": bud.bud.isoformat(),
                "bud_json_sha256": sha256(row["bud_json"]),  # db verify (session 4)
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
    out = get_batch(store, lot_id)
    out["plan_text"] = row["plan_text"]
    out["notes"] = _pick_notes(store, chosen, component_lots, day, settings)
    return out


def _pick_notes(store: StoreCore, chosen: dict, named: dict, day: date, settings) -> list[str]:
    """What a person should know about the lots picked (issue 19): first-expiry-first-out
    picks, lots passed over because they are on hold, and stock left below a reorder point."""
    from . import stock
    from .lot_holds import held_lot_ids
    notes = []
    held = held_lot_ids(store)
    points = getattr(settings, "reorder_points", {}) or {}
    for ing, (lot, need) in sorted(chosen.items()):
        if ing not in named:
            skipped = [x for x in inventory.lots(store, ingredient=ing, include_empty=False,
                                                 today=day)
                       if x["id"] in held and not x["expired"]
                       and x["expires"] <= lot["expires"]]
            text = (f"{ing}: lot {lot['lot_number']} (expires {format_date(lot['expires'])}),"
                    " first expiry first out")
            if skipped:
                text += "; passed over on hold: " + ", ".join(
                    f"lot {x['lot_number']}" for x in skipped)
            notes.append(text)
        low = stock.falls_below(store, ing, Decimal(0), lot["unit"], points, day)
        if low is not None:
            notes.append(f"Warning: {ing} stock is at or below its reorder point: "
                         f"{u.fmt(u.readable_mass(low['after']) if low['after'].dim == 'mass' else low['after'])}"
                         f" usable, reorder point "
                         f"{u.fmt(u.readable_mass(low['reorder_point']) if low['reorder_point'].dim == 'mass' else low['reorder_point'])}")
    return notes


def line_need(plan, ingredient: str, unit: str, catalogue) -> Decimal:
    """Total amount of ``ingredient`` the plan weighs or measures, in the lot's unit."""
    line = next((x for x in plan.ingredients if x.id == ingredient), None)
    if line is None:
        raise StoreError(f"the plan has no line for {ingredient}")
    entry = catalogue.ingredients.get(ingredient)
    density = entry.density if entry is not None else None
    return inventory.to_unit(line.to_weigh, unit, density, ingredient)

