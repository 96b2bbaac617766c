"""Recall as a record (issue 19): open, contact every patient, close.

``open_recall`` acts in ONE write transaction: the recall row; for a supplier (component)
lot, a hold on that lot (so it cannot be picked or weighed the next minute); a signed
quarantine of every downstream batch that is not already rejected or on hold (released and
partly dispensed batches too: what is left on the shelf must not go out; conservative, and
said so in the output); and a snapshot of every patient dispensed from those batches (Rx,
quantity, date), who must now be reached. ``record_contact`` logs each call (reached,
message left, unreachable); ``close_recall`` needs a pharmacist and an outcome for every
patient, or a stated reason why not. The schema (migration m013) refuses a second open
recall of the same lot, a contact after closure or for an Rx not in the recall, and a
closure without outcomes or reason, whatever the caller.

Owns ``recalls``, ``recall_batches``, ``recall_patients``, ``recall_contacts`` and
``recall_closures`` (and the view ``recall_status``).
"""

from __future__ import annotations

from ..errors import InputError, NotFoundError, RefusedError
from . import lotid
from .batches import batch_row
from .core import StoreCore, need_text
from .lot_holds import current_hold, identify_lot, insert_hold
from .migrations import CONTACT_OUTCOMES
from .signatures import person_time
from .signoff import quarantine_signed
from .users import acting, authenticate, need_pharmacist


def _open_recall_of(store: StoreCore, component_lot_id: int | None, lot_id: str | None):
    return store.one(
        "SELECT r.* FROM recalls r WHERE (r.component_lot_id = ? OR r.lot_id = ?) AND NOT "
        "EXISTS (SELECT 1 FROM recall_closures c WHERE c.recall_id = r.id)",
        [component_lot_id, lot_id])


def _downstream_batches(store: StoreCore, component_lot_id: int | None,
                        lot_id: str | None) -> list[str]:
    if lot_id is not None:
        return [lot_id]
    return store.column(
        "SELECT DISTINCT lot_id FROM (SELECT lot_id FROM weighings WHERE component_lot_id = ? "
        "UNION SELECT lot_id FROM batch_components WHERE component_lot_id = ?) AS used "
        "ORDER BY 1",
        [component_lot_id, component_lot_id])


def open_recall(store: StoreCore, *, reason: str, by: str, passphrase: str,
                component_lot: str | None = None, ingredient: str | None = None,
                batch: str | None = None) -> dict:
    """Open a recall of supplier lot ``component_lot`` (of ``ingredient``) or of batch
    ``batch`` (a pharmacist; the passphrase is asked again). Returns :func:`show_recall`.

    Raises :class:`RefusedError` "a recall of ... is already open: recall N, opened by NAME
    at TIME" when one is open (two pharmacists opening at once: one wins)."""
    reason = need_text(reason, "reason").strip()
    if (component_lot is None) == (batch is None):
        raise InputError("give a supplier lot (COMPONENT_LOT) or --batch LOT, not both")
    lot = None
    if batch is not None:
        batch = lotid.validate_lot_id(batch)
        batch_row(store, batch)  # NotFoundError when unknown
        subject = f"batch {batch}"
    else:
        lot = identify_lot(store, component_lot, ingredient)
        subject = f"{lot['ingredient']} lot {lot['lot_number']}"
    what = f"open a recall of {subject}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what)
    with store.write():
        open_ = _open_recall_of(store, lot["id"] if lot else None, batch)
        if open_ is not None:
            raise RefusedError(f"a recall of {subject} is already open: recall {open_['id']}, "
                               f"opened by {open_['opened_by']} at "
                               f"{person_time(open_['opened_at'])}")
        with store.refusing("recall refused: "):
            rid = store.insert("recalls", {
                "component_lot_id": lot["id"] if lot else None, "lot_id": batch,
                "reason": reason, "opened_by": user["name"], "opened_at": store.stamp()})
        records = [store.ref("recalls", rid)]
        if lot is not None and current_hold(store, lot["id"]) is None:
            insert_hold(store, user, lot, "hold", f"recall {rid}: {reason}", recall_id=rid)
        seq = 0
        for b in _downstream_batches(store, lot["id"] if lot else None, batch):
            status = batch_row(store, b)["status"]
            sig = None
            if status == "rejected":
                action = "rejected"
            elif status == "quarantine":
                action = "already-on-hold"
            else:
                sig = quarantine_signed(store, user, b, f"recall {rid}: {reason}",
                                        {"recall_id": rid})
                action = "quarantined"
            store.insert("recall_batches", {"recall_id": rid, "lot_id": b,
                                            "status_before": status, "action": action,
                                            "signature_id": sig["id"] if sig else None})
            records.append(store.ref("recall_batches", rid, b))
            # each Rx once, as first printed (portable SQL: no bare columns beside MIN)
            for p in store.rows(
                    "SELECT lp.id, lp.patient, lp.rx_number, lp.prescriber, "
                    "lp.dispensed_quantity, f.printed_at FROM label_prints lp JOIN "
                    "(SELECT MIN(id) AS id, MIN(printed_at) AS printed_at FROM label_prints "
                    "WHERE lot_id = ? AND kind = 'dispensing' AND rx_number IS NOT NULL "
                    "GROUP BY rx_number) f ON f.id = lp.id ORDER BY lp.id", [b]):
                seq += 1
                store.insert("recall_patients", {
                    "recall_id": rid, "seq": seq, "lot_id": b, "patient": p["patient"],
                    "rx_number": p["rx_number"], "prescriber": p["prescriber"],
                    "dispensed_quantity": p["dispensed_quantity"],
                    "dispensed_on": p["printed_at"][:10], "label_print_id": p["id"]})
                records.append(store.ref("recall_patients", rid, seq))
        store.audit("recall.open", user["name"],
                    {"recall_id": rid, "subject": subject, "reason": reason,
                     "patients": seq}, lot_id=batch, records=records)
    return show_recall(store, rid)


def recall_row(store: StoreCore, recall_id) -> dict:
    """The ``recall_status`` row of recall ``recall_id``; :class:`NotFoundError` if none."""
    try:
        rid = int(str(recall_id).strip())
    except ValueError:
        raise InputError(f"RECALL: a recall number such as 3, not {recall_id!r}") from None
    row = store.one("SELECT * FROM recall_status WHERE recall_id = ?", [rid])
    if row is None:
        raise NotFoundError(f"no recall {rid}")
    return row


def show_recall(store: StoreCore, recall_id) -> dict:
    """One recall: what and why, its batches (status before, action, ``site``), every
    patient with the ``site`` that dispensed to them (issue 20), their contacts and latest
    outcome, who is still to be reached, and the closure."""
    r = recall_row(store, recall_id)
    rid = r["recall_id"]
    batches = store.rows("SELECT rb.lot_id, rb.status_before, rb.action, b.status, "
                         "b.formula_id, b.strength, b.site FROM recall_batches rb JOIN batches b "
                         "ON b.lot_id = rb.lot_id WHERE rb.recall_id = ? ORDER BY rb.lot_id",
                         [rid])
    patients = store.rows("SELECT p.seq, p.lot_id, p.patient, p.rx_number, p.prescriber, "
                          "p.dispensed_quantity, p.dispensed_on, lp.site FROM recall_patients p"
                          " JOIN label_prints lp ON lp.id = p.label_print_id WHERE "
                          "p.recall_id = ? ORDER BY p.seq", [rid])
    contacts = store.rows("SELECT id, rx_number, outcome, note, contacted_by, contacted_at "
                          "FROM recall_contacts WHERE recall_id = ? ORDER BY id", [rid])
    for p in patients:
        mine = [c for c in contacts if c["rx_number"] == p["rx_number"]]
        p["contacts"] = mine
        p["outcome"] = mine[-1]["outcome"] if mine else None
    closure = store.one("SELECT * FROM recall_closures WHERE recall_id = ?", [rid])
    return {**r, "batches": batches, "patients": patients,
            "to_reach": [p for p in patients if p["outcome"] != "reached"],
            "without_outcome": [p for p in patients if p["outcome"] is None],
            "closure": closure}


def list_recalls(store: StoreCore, status: str | None = None) -> list[dict]:
    """Every recall (view ``recall_status``), newest first; ``status`` open or closed."""
    if status not in (None, "open", "closed"):
        raise InputError(f"--status: open or closed, not {status!r}")
    sql = "SELECT * FROM recall_status"
    params = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    return store.rows(sql + " ORDER BY recall_id DESC", params)


def record_contact(store: StoreCore, recall_id, *, rx: str, outcome: str, by: str,
                   note: str | None = None) -> dict:
    """Record one attempt to reach the patient of Rx ``rx`` in recall ``recall_id`` (any
    active user). Refused once the recall is closed or for an Rx that is not in it."""
    if outcome not in CONTACT_OUTCOMES:
        raise InputError(f"--outcome: one of {', '.join(CONTACT_OUTCOMES)}, not {outcome!r}")
    rx = need_text(rx, "rx").strip()
    note = (note or "").strip() or None
    r = recall_row(store, recall_id)
    rid = r["recall_id"]
    by = acting(store, by)
    with store.write():
        closure = store.one("SELECT * FROM recall_closures WHERE recall_id = ?", [rid])
        if closure is not None:
            raise RefusedError(f"recall {rid} was closed by {closure['closed_by']} at "
                               f"{person_time(closure['closed_at'])}; no more contacts")
        if store.one("SELECT 1 AS yes FROM recall_patients WHERE recall_id = ? AND "
                     "rx_number = ?", [rid, rx]) is None:
            known = store.column("SELECT rx_number FROM recall_patients WHERE recall_id = ? "
                                 "ORDER BY seq", [rid])
            raise RefusedError(f"Rx {rx} is not among the patients of recall {rid} ("
                               + (", ".join(known) if known else "none") + ")")
        with store.refusing("contact refused: "):
            cid = store.insert("recall_contacts", {
                "recall_id": rid, "rx_number": rx, "outcome": outcome, "note": note,
                "contacted_by": by, "contacted_at": store.stamp()})
        store.audit("recall.contact", by, {"recall_id": rid, "rx_number": rx,
                                           "outcome": outcome, "note": note},
                    records=[store.ref("recall_contacts", cid)])
    return show_recall(store, rid)


def close_recall(store: StoreCore, recall_id, *, note: str, by: str, passphrase: str,
                 incomplete_reason: str | None = None) -> dict:
    """Close recall ``recall_id`` (a pharmacist, signed). Refused while a patient has no
    outcome, unless ``incomplete_reason`` says why it closes anyway; refused when closed."""
    note = need_text(note, "note").strip()
    incomplete_reason = (incomplete_reason or "").strip() or None
    r = recall_row(store, recall_id)
    rid = r["recall_id"]
    what = f"close recall {rid}"
    user = authenticate(store, by, passphrase, what)
    need_pharmacist(store, user, what)
    with store.write():
        closure = store.one("SELECT * FROM recall_closures WHERE recall_id = ?", [rid])
        if closure is not None:
            raise RefusedError(f"recall {rid} is already closed by {closure['closed_by']} at "
                               f"{person_time(closure['closed_at'])}")
        missing = show_recall(store, rid)["without_outcome"]
        if missing and not incomplete_reason:
            raise RefusedError(
                f"recall {rid}: {len(missing)} patient{'s' if len(missing) != 1 else ''} "
                "without an outcome (Rx " + ", ".join(p["rx_number"] for p in missing[:10])
                + "); record each contact, or close with --incomplete-reason TEXT")
        with store.refusing("closure refused: "):
            store.insert("recall_closures", {
                "recall_id": rid, "note": note, "incomplete_reason": incomplete_reason,
                "closed_by": user["name"], "closed_at": store.stamp()})
        store.audit("recall.close", user["name"],
                    {"recall_id": rid, "note": note, "incomplete_reason": incomplete_reason,
                     "without_outcome": [p["rx_number"] for p in missing]},
                    records=[store.ref("recall_closures", rid)])
    return show_recall(store, rid)
