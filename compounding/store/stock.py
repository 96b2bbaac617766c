"""Stock that matches the shelf (issue 19): signed adjustments, physical counts, writing
off expired lots, the movements of a lot, and low stock against reorder points.

Stock on hand is receipts minus weighings plus adjustments, all exact decimals in the lot's
unit (mg or mL). An adjustment is a signed record (the person's passphrase is asked again)
that only takes stock away (damaged, spilled, expired, recalled, other), except after a
physical count, which may add; stock never goes below zero. A count records what is on the
shelf, the book figure and the variance; a pharmacist's signature turns the variance into an
adjustment (``reconcile_count``), so one person cannot both count and correct the book
unseen.

Owns the tables ``stock_adjustments`` and ``stock_counts`` (and reads the view
``stock_movements``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .. import units as u
from ..dates import format_date
from ..errors import InputError, RefusedError
from . import inventory
from .core import StoreCore, need_text
from .lot_holds import identify_lot
from .sites import own_lot
from .migrations import ADJUSTMENT_REASONS
from .signatures import person_time
from .users import acting, authenticate, need_pharmacist


def abs_q(qty: u.Quantity) -> u.Quantity:
    """The same quantity without its sign."""
    return u.Quantity(abs(qty.value), qty.unit)


def _parse_signed(text, field: str) -> u.Quantity:
    """A signed amount: the strict parser on the text after one leading minus sign."""
    if isinstance(text, u.Quantity):
        return text
    raw = need_text(text, field).strip()
    if raw[:1] in ("\u2212", "\u2012", "\u2013", "\u2014", "\ufe63", "\uff0d"):
        raise InputError(f"{field}: {raw!r} starts with U+{ord(raw[0]):04X}; type a negative "
                         "amount with the keyboard's minus sign (-), e.g. -12.5 g")
    if raw.startswith("+"):
        raise InputError(f"{field}: {raw!r}: no plus sign; a positive amount is written "
                         "without a sign (e.g. 12.5 g), a negative one with a minus (-12.5 g)")
    negative = raw.startswith("-")
    body = raw[1:].lstrip() if negative else raw
    if body.startswith(("-", "+")):
        raise InputError(f"{field}: {raw!r} has more than one sign")
    try:
        qty = u.parse(body, {u.MASS, u.VOLUME}, field=field)
    except InputError as exc:
        if negative:  # name what was typed, sign included
            raise InputError(str(exc).replace(repr(body), repr(raw))) from None
        raise
    return u.Quantity(-qty.value, qty.unit) if negative else qty


#: The finest change an adjustment may make, in the lot's unit (mg or mL): 0.001 (1 mcg or
#: 1 microlitre). No pharmacy balance or pipette reads finer than 0.1 mcg, and a write-off
#: below a microgram is a typing slip, not a measurement (conservative house limit).
FINEST_CHANGE = Decimal("0.001")


def _show(value: Decimal, unit: str) -> str:
    qty = u.q(value, unit) if value >= 0 else u.q(-value, unit)
    text = u.fmt(u.readable_mass(qty) if qty.dim == "mass" else qty)
    return ("-" + text) if value < 0 else text


def _insert_adjustment(store: StoreCore, user: dict, lot: dict, change: Decimal,
                       entered_as: str, reason: str, note: str | None,
                       count_id: int | None = None, recall_id: int | None = None,
                       today: date | None = None) -> dict:
    """Write one adjustment inside the caller's transaction, refusing stock below zero."""
    now = inventory.lot(store, lot["id"], today=today)
    after = now["on_hand"] + change
    if after < 0:
        raise RefusedError(
            f"{lot['ingredient']} lot {lot['lot_number']} has {_show(now['on_hand'], lot['unit'])}"
            f" on hand; an adjustment of {_show(change, lot['unit'])} would leave it below zero")
    values = {"component_lot_id": lot["id"], "quantity": u.plain(change),
              "entered_as": entered_as, "reason": reason, "note": note,
              "count_id": count_id, "recall_id": recall_id, "signed_by": user["name"],
              "signer_role": user["role"], "signed_at": store.stamp()}
    with store.refusing("adjustment refused: "):
        aid = store.insert("stock_adjustments", values)
    store.audit("inventory.adjust", user["name"],
                {"ingredient": lot["ingredient"], "lot_number": lot["lot_number"],
                 "change": u.plain(change), "unit": lot["unit"], "reason": reason,
                 "note": note, "count_id": count_id, "recall_id": recall_id,
                 "on_hand_before": u.plain(now["on_hand"]), "on_hand_after": u.plain(after)},
                records=[store.ref("stock_adjustments", aid)])
    return {**values, "id": aid, "unit": lot["unit"], "ingredient": lot["ingredient"],
            "lot_number": lot["lot_number"], "on_hand_before": now["on_hand"],
            "on_hand_after": after}


def adjust(store: StoreCore, lot_number: str, *, amount, reason: str, by: str,
           passphrase: str, note: str | None = None, ingredient: str | None = None,
           today: date | None = None) -> dict:
    """Adjust the stock on hand of a component lot by a signed ``amount`` (text such as
    ``-12.5 g``, in the lot's kind of unit). Negative for every reason; positive only with
    reason ``count`` (a pharmacist). ``other`` needs a ``note``. Never below zero.

    Returns the adjustment with ``on_hand_before`` / ``on_hand_after`` (Decimal, lot unit).
    Raises :class:`InputError` for a bad reason or amount, :class:`RefusedError` for stock
    below zero or a signer who may not."""
    if reason not in ADJUSTMENT_REASONS:
        raise InputError(f"--reason: one of {', '.join(ADJUSTMENT_REASONS)}, not {reason!r}")
    note = (note or "").strip() or None
    if reason == "other" and not note:
        raise InputError("--note: say what happened when the reason is 'other'")
    lot = identify_lot(store, lot_number, ingredient)
    own_lot(store, lot, "adjust the stock of")  # issue 20
    qty = _parse_signed(amount, "amount")
    want = "mass" if lot["unit"] == "mg" else "volume"
    if qty.dim != want:
        raise InputError(f"amount: lot {lot['lot_number']} is kept by {want} ({lot['unit']}); "
                         f"give a {want}, not {u.fmt(abs_q(qty))}")
    change = qty.to(lot["unit"]).value
    if change != change.quantize(FINEST_CHANGE, rounding="ROUND_DOWN"):
        raise InputError(f"amount: {u.fmt(abs_q(qty))} is finer than 0.001 {lot['unit']}, "
                         "more than any balance weighs; give the amount as weighed")
    if change > 0 and reason != "count":
        raise InputError(f"amount: an adjustment for reason {reason!r} takes stock away; give "
                         f"a negative amount (-{u.fmt(qty)}); only a count may add stock")
    what = f"adjust the stock of lot {lot['lot_number']}"
    user = authenticate(store, by, passphrase, what)
    if reason == "count":
        need_pharmacist(store, user, "adjust stock after a count")
    entered = ("-" if change < 0 else "") + u.fmt(abs_q(qty))
    with store.write():
        return _insert_adjustment(store, user, lot, change, entered, reason, note,
                                  today=today)


def expired_with_stock(store: StoreCore, today: date | None = None) -> list[dict]:
    """Every expired component lot with stock on hand (exact) at the store's site (issue
    20: another site's stock is that site's to write off), earliest expiry first."""
    today = today or store.today()
    return [x for x in inventory.lots(store, include_empty=False, today=today,
                                      site=store.site)
            if x["expired"]]


def dispose_expired(store: StoreCore, *, by: str, passphrase: str,
                    today: date | None = None, expected: list[int] | None = None) -> list[dict]:
    """Write off every expired lot with stock, in one transaction (reason ``expired``).

    ``expected``: the lot ids the person confirmed; when the set has changed since (another
    process received or used stock), nothing is written and :class:`RefusedError` says so."""
    today = today or store.today()
    user = authenticate(store, by, passphrase, "write off expired lots")
    with store.write():
        lots = expired_with_stock(store, today)
        if expected is not None and sorted(x["id"] for x in lots) != sorted(expected):
            raise RefusedError("the expired lots changed since they were listed; nothing was "
                               "written off: run the command again")
        out = []
        for x in lots:
            out.append(_insert_adjustment(
                store, user, x, -x["on_hand"], "-" + _show(x["on_hand"], x["unit"]),
                "expired", f"expired {format_date(x['expires'])}: disposed of", today=today))
    return out


def record_count(store: StoreCore, lot_number: str, *, counted, by: str,
                 note: str | None = None, ingredient: str | None = None,
                 today: date | None = None) -> dict:
    """Record a physical count of a component lot: what is on the shelf (``counted``, a
    non-negative amount), the book figure at that moment and the variance (counted - book).
    Any active user counts; a pharmacist reconciles (:func:`reconcile_count`)."""
    lot = identify_lot(store, lot_number, ingredient)
    own_lot(store, lot, "count")  # issue 20
    qty = u.parse(counted, {u.MASS, u.VOLUME}, field="counted", positive=False)
    want = "mass" if lot["unit"] == "mg" else "volume"
    if qty.dim != want:
        raise InputError(f"counted: lot {lot['lot_number']} is kept by {want} "
                         f"({lot['unit']}); give a {want}, not {u.fmt(qty)}")
    value = qty.to(lot["unit"]).value
    note = (note or "").strip() or None
    by = acting(store, by)
    with store.write():
        book = inventory.lot(store, lot["id"], today=today)["on_hand"]
        values = {"component_lot_id": lot["id"], "counted": u.plain(value),
                  "counted_as": u.fmt(qty), "book": u.plain(book),
                  "variance": u.plain(value - book), "note": note, "counted_by": by,
                  "counted_at": store.stamp()}
        cid = store.insert("stock_counts", values)
        store.audit("inventory.count", by,
                    {"ingredient": lot["ingredient"], "lot_number": lot["lot_number"],
                     "counted": u.plain(value), "book": u.plain(book),
                     "variance": u.plain(value - book), "unit": lot["unit"], "note": note},
                    records=[store.ref("stock_counts", cid)])
    return count_out(store, cid)


def count_out(store: StoreCore, count_id: int) -> dict:
    """One count with its lot and, once reconciled, the adjustment (Decimals in lot unit)."""
    row = store.one("SELECT c.*, l.ingredient, l.lot_number, l.unit, l.site "
                    "FROM stock_counts c "
                    "JOIN component_lots l ON l.id = c.component_lot_id WHERE c.id = ?",
                    [count_id])
    if row is None:
        raise InputError(f"no stock count {count_id}")
    adj = store.one("SELECT * FROM stock_adjustments WHERE count_id = ?", [count_id])
    return {**row, "counted": Decimal(row["counted"]), "book": Decimal(row["book"]),
            "variance": Decimal(row["variance"]), "adjustment": adj,
            "reconciled": adj is not None or Decimal(row["variance"]) == 0}


def reconcile_count(store: StoreCore, count_id: int, *, by: str, passphrase: str,
                    today: date | None = None) -> dict:
    """Turn a count's variance into an adjustment (reason ``count``), signed by a pharmacist.
    Refused when the count is reconciled already or has no variance."""
    c = count_out(store, count_id)
    own_lot(store, c, f"reconcile stock count {count_id} of")  # issue 20
    what = f"reconcile stock count {count_id}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what)
    with store.write():
        c = count_out(store, count_id)
        if c["adjustment"] is not None:
            a = c["adjustment"]
            raise RefusedError(f"stock count {count_id} is already reconciled by "
                               f"{a['signed_by']} at {person_time(a['signed_at'])}")
        if c["variance"] == 0:
            raise RefusedError(f"stock count {count_id} matches the book; nothing to adjust")
        lot = {"id": c["component_lot_id"], "ingredient": c["ingredient"],
               "lot_number": c["lot_number"], "unit": c["unit"]}
        note = (f"count {count_id} by {c['counted_by']}: {c['counted_as']} counted, book "
                f"{_show(c['book'], c['unit'])}")
        adj = _insert_adjustment(store, user, lot, c["variance"],
                                 ("-" if c["variance"] < 0 else "")
                                 + _show(abs(c["variance"]), c["unit"]),
                                 "count", note, count_id=count_id, today=today)
    return {**count_out(store, count_id), "adjustment": adj}


def movements(store: StoreCore, lot_number: str, ingredient: str | None = None) -> dict:
    """Every movement of a component lot in time order (receipts, weighings, adjustments)
    with an exact running balance (Decimal, lot unit)."""
    lot = identify_lot(store, lot_number, ingredient)
    rows = store.rows(
        "SELECT received_at AS at, 1 AS ord, 'receipt' AS kind, NULL AS reason, NULL AS "
        "batch_lot_id, quantity AS change, received_by AS by_user, id FROM lot_receipts "
        "WHERE component_lot_id = ? UNION ALL "
        "SELECT weighed_at, 2, 'weighing', NULL, lot_id, '-' || consumed_quantity, "
        "weighed_by, id FROM weighings WHERE component_lot_id = ? UNION ALL "
        "SELECT signed_at, 3, 'adjustment', reason, NULL, quantity, signed_by, id "
        "FROM stock_adjustments WHERE component_lot_id = ? ORDER BY 1, 2, 8",
        [lot["id"]] * 3)
    balance = Decimal(0)
    out = []
    for r in rows:
        change = Decimal(r["change"])
        balance += change
        out.append({"at": r["at"], "kind": r["kind"], "reason": r["reason"],
                    "batch_lot_id": r["batch_lot_id"], "by": r["by_user"],
                    "change": change, "balance": balance})
    return {"component_lot_id": lot["id"], "ingredient": lot["ingredient"],
            "lot_number": lot["lot_number"], "unit": lot["unit"], "movements": out,
            "on_hand": balance}


def low_stock(store: StoreCore, reorder_points: dict, today: date | None = None) -> list[dict]:
    """Ingredients whose usable stock at the store's site (unexpired, not on hold, on hand;
    issue 20) is at or below their
    reorder point. ``reorder_points``: ingredient id -> Quantity. One row per ingredient:
    ``usable`` and ``reorder_point`` as Quantities in the lots' unit, ``lots`` counted."""
    today = today or store.today()
    from .lot_holds import held_lot_ids
    held = held_lot_ids(store)
    out = []
    for ingredient, point in sorted(reorder_points.items()):
        unit = "mg" if point.dim == "mass" else "mL"
        usable, n = Decimal(0), 0
        for x in inventory.lots(store, ingredient=ingredient, include_empty=False, today=today,
                                site=store.site):  # issue 20: this site's stock
            if x["expired"] or x["id"] in held or x["unit"] != unit:
                continue
            usable += x["on_hand"]
            n += 1
        if usable <= point.to(unit).value:
            out.append({"ingredient": ingredient, "usable": u.q(usable, unit),
                        "reorder_point": point.to(unit), "lots": n})
    return out


def falls_below(store: StoreCore, ingredient: str, take: Decimal, unit: str,
                reorder_points: dict, today: date | None = None) -> dict | None:
    """The low-stock warning for a batch taking ``take`` (lot unit) of ``ingredient``: the
    usable stock after it and the reorder point, or None when it stays above the point."""
    point = reorder_points.get(ingredient)
    if point is None or ("mg" if point.dim == "mass" else "mL") != unit:
        return None
    rows = low_stock(store, {ingredient: u.q(point.to(unit).value + take, unit)}, today)
    if not rows:
        return None
    after = rows[0]["usable"].value - take
    return {"ingredient": ingredient, "after": u.q(max(after, Decimal(0)), unit),
            "reorder_point": point.to(unit)}


__all__ = ["adjust", "dispose_expired", "expired_with_stock", "record_count", "count_out",
           "reconcile_count", "movements", "low_stock", "falls_below"]
