"""Component-lot holds (issue 19): a received lot put on hold cannot be chosen for a batch
or weighed until a pharmacist releases it.

A hold is a signed, append-only row of ``lot_holds`` (action ``hold`` or ``release``, the
pharmacist, the reason, and the recall that caused it, if any); a lot's state is its latest
row. The schema refuses a hold by anyone but an active pharmacist and a hold of a lot that
is already held (migration m013). A hold placed by an open recall cannot be released until
the recall is closed: what a recall blocks stays blocked while it is worked.

Owns the table ``lot_holds``.
"""

from __future__ import annotations

from ..errors import InputError, NotFoundError, RefusedError
from .core import StoreCore, need_text
from .signatures import person_time
from .users import authenticate, need_pharmacist


def identify_lot(store: StoreCore, lot_number: str, ingredient: str | None = None) -> dict:
    """The ``component_lots`` row of supplier lot ``lot_number`` (of ``ingredient``).

    Raises :class:`NotFoundError` when no such lot is on record and :class:`InputError`
    when two ingredients share the number and ``ingredient`` is not given."""
    lot_number = need_text(lot_number, "lot").strip()
    sql, params = "SELECT * FROM component_lots WHERE lot_number = ?", [lot_number]
    if ingredient is not None:
        sql += " AND ingredient = ?"
        params.append(ingredient)
    rows = store.rows(sql + " ORDER BY ingredient", params)
    if not rows:
        what = f"lot {lot_number}" + (f" of {ingredient}" if ingredient else "")
        raise NotFoundError(f"no component {what} on record")
    if len(rows) > 1:
        raise InputError(f"lot {lot_number} is on record for "
                         f"{', '.join(r['ingredient'] for r in rows)}; give --ingredient")
    return rows[0]


def current_hold(store: StoreCore, component_lot_id: int) -> dict | None:
    """The hold in force on a component lot (its ``lot_holds`` row), or None."""
    row = store.one("SELECT * FROM lot_holds WHERE component_lot_id = ? ORDER BY id DESC "
                    "LIMIT 1", [component_lot_id])
    return row if row is not None and row["action"] == "hold" else None


def held_lot_ids(store: StoreCore) -> set[int]:
    """Ids of every component lot on hold now."""
    return set(store.column(
        "SELECT h.component_lot_id FROM lot_holds h WHERE h.id = (SELECT MAX(id) FROM "
        "lot_holds x WHERE x.component_lot_id = h.component_lot_id) AND h.action = 'hold'"))


def hold_text(lot: dict, hold: dict) -> str:
    """'naltrexone-hcl lot NX-1 is on hold (recall 3: supplier notice) since 01 MAR 2026
    12:00 UTC, by pat'."""
    why = hold["reason"]
    if hold["recall_id"] is not None:
        why = f"recall {hold['recall_id']}: {why}"
    return (f"{lot['ingredient']} lot {lot['lot_number']} is on hold ({why}) since "
            f"{person_time(hold['signed_at'])}, by {hold['signed_by']}")


def refuse_if_held(store: StoreCore, lot: dict, use: str = "it cannot be used") -> None:
    """Raise :class:`RefusedError` when component lot ``lot`` (a row with ``id``,
    ``ingredient``, ``lot_number``) is on hold. The one check used by batch creation and
    weighing (typed or scanned)."""
    hold = current_hold(store, lot["id"])
    if hold is not None:
        raise RefusedError(f"{hold_text(lot, hold)}; {use}")


def insert_hold(store: StoreCore, user: dict, lot: dict, action: str, reason: str,
                recall_id: int | None = None) -> dict:
    """Write one hold or release row (inside the caller's transaction; ``user`` is an
    authenticated pharmacist) and its audit entry."""
    values = {"component_lot_id": lot["id"], "action": action, "reason": reason,
              "recall_id": recall_id, "signed_by": user["name"],
              "signer_role": user["role"], "signed_at": store.stamp()}
    with store.refusing("hold refused: "):
        hid = store.insert("lot_holds", values)
    store.audit(f"inventory.{action}", user["name"],
                {"ingredient": lot["ingredient"], "lot_number": lot["lot_number"],
                 "reason": reason, "recall_id": recall_id},
                records=[store.ref("lot_holds", hid)])
    return {**values, "id": hid}


def hold_lot(store: StoreCore, lot_number: str, *, reason: str, by: str, passphrase: str,
             ingredient: str | None = None) -> dict:
    """Put a component lot on hold (a pharmacist, with a reason; the passphrase is asked
    again: this is a signed act). Refused when the lot is already on hold."""
    reason = need_text(reason, "reason").strip()
    lot = identify_lot(store, lot_number, ingredient)
    what = f"put lot {lot['lot_number']} on hold"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what)
    with store.write():
        hold = current_hold(store, lot["id"])
        if hold is not None:
            raise RefusedError(f"{hold_text(lot, hold)} already")
        return insert_hold(store, user, lot, "hold", reason)


def release_lot(store: StoreCore, lot_number: str, *, reason: str, by: str, passphrase: str,
                ingredient: str | None = None) -> dict:
    """Release a component lot from hold (a pharmacist, with a reason). Refused when it is
    not on hold, or while a recall of the lot is open (even when the hold was placed before
    the recall opened)."""
    reason = need_text(reason, "reason").strip()
    lot = identify_lot(store, lot_number, ingredient)
    what = f"release lot {lot['lot_number']} from hold"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what)
    with store.write():
        hold = current_hold(store, lot["id"])
        if hold is None:
            raise RefusedError(f"{lot['ingredient']} lot {lot['lot_number']} is not on hold")
        recall = store.one(
            "SELECT r.id FROM recalls r WHERE r.component_lot_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM recall_closures c WHERE c.recall_id = r.id)", [lot["id"]])
        if recall is not None:  # whoever placed the hold (m014 refuses it too)
            raise RefusedError(f"{hold_text(lot, hold)}; it stays on hold until recall "
                               f"{recall['id']} is closed")
        return insert_hold(store, user, lot, "release", reason)
