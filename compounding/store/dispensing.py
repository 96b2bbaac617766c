"""Label prints and dispensing, and the recall queries that follow them downstream.

Every label printed (batch or dispensing, first print or reprint) is a row of
``label_prints`` with the template's identity and SHA-256 and the PDF's; a dispensing label
also names the patient, Rx number, prescriber and quantity, so a recall reaches each patient.

Owns the table ``label_prints``; reads the view ``lot_usage`` for recalls.
"""

from __future__ import annotations

from decimal import Decimal

from .. import units as u
from ..errors import InputError, NotFoundError, RefusedError
from . import lotid
from .batches import batch_row, corrections
from .core import StoreCore, need_text
from .sites import own_batch
from .users import acting


def _dec(text) -> Decimal:
    return Decimal(str(text))


#: Dispensed amounts are kept as integer thousandths of the batch's unit (``dispensings.
#: quantity_milli``) so the schema can add them up exactly; a finer amount is refused.
MILLI = Decimal(1000)


def _made(batch: dict) -> u.Quantity:
    return u.parse(batch["quantity"], {u.MASS, u.VOLUME, u.COUNT}, field="quantity")


def _milli(q: u.Quantity, made: u.Quantity, text: str) -> int:
    value = q.to(made.unit).value * MILLI
    if value != value.to_integral_value():
        raise InputError(f"quantity: {text!r} is finer than 0.001 {made.unit}, the finest "
                         "amount a dispense is recorded in", field="quantity")
    return int(value)


def dispensed_totals(store: StoreCore, lot_id: str, *, batch: dict | None = None,
                     exclude_pending: int | None = None) -> dict:
    """What one batch made, dispensed and has left, exactly, in the batch's unit.

    ``{"made", "dispensed", "pending", "remaining"}`` as :class:`~compounding.units.Quantity`
    (``pending``: dispenses under way in ``pending_outputs``, other than
    ``exclude_pending``; ``remaining`` = made - dispensed - pending) and ``"dispenses"``
    (the number of new dispenses; reprints are not counted). "Made" is the batch's ordered
    quantity (``batches.quantity``, what its labels state), not the overage made to cover
    losses (issue 12, part 7)."""
    batch = batch or batch_row(store, lot_id)
    made = _made(batch)
    row = store.one("SELECT COALESCE(SUM(quantity_milli), 0) AS milli, COUNT(*) AS n "
                    "FROM dispensings WHERE lot_id = ?", [batch["lot_id"]])
    # ``id <> ?`` only with a row to leave out (PostgreSQL has no ``IS NOT <value>``)
    others = " AND id <> ?" if exclude_pending is not None else ""
    pend = store.scalar("SELECT COALESCE(SUM(dispense_milli), 0) FROM pending_outputs "
                        f"WHERE lot_id = ? AND label_print_id IS NULL{others}",
                        [batch["lot_id"]] + ([exclude_pending] if others else []))
    def q(milli) -> u.Quantity:
        return u.Quantity(Decimal(int(milli)) / MILLI, made.unit)
    dispensed, pending = q(row["milli"]), q(pend)
    return {"made": made, "dispensed": dispensed, "pending": pending,
            "remaining": made - dispensed - pending, "dispenses": row["n"],
            "made_milli": _milli(made, made, batch["quantity"]),
            "dispensed_milli": int(row["milli"]), "pending_milli": int(pend)}


def remaining_text(lot_id: str, totals: dict) -> str:
    """One line for a person from :func:`dispensed_totals`: ``Lot L: made 90 capsules,
    dispensed 60 capsules (2 dispenses), 30 capsules left.`` (the CLI and the bench)."""
    n = totals["dispenses"]
    pending = (f", {u.fmt(totals['pending'])} being printed" if totals["pending_milli"]
               else "")
    return (f"Lot {lot_id}: made {u.fmt(totals['made'])}, dispensed "
            f"{u.fmt(totals['dispensed'])} ({n} dispense{'s' if n != 1 else ''}){pending}, "
            f"{u.fmt(totals['remaining'])} left.")


def check_dispense(store: StoreCore, batch: dict, *, rx_number: str, patient: str,
                   prescriber: str | None, directions: str | None, quantity: str,
                   fill: int | None = None, exclude_pending: int | None = None,
                   fill_reprint: bool = False) -> dict:
    """Decide whether a dispensing label is a new dispense or a reprint, and refuse one that
    would take more than the batch has left (issue 12, part 7). Call under the write lock.

    A reprint is the same lot, Rx number (and fill) printed again with the same patient,
    prescriber, directions and quantity: it is not counted again. The same Rx number with
    another patient, or with other directions or quantity, is refused (a new supply is a
    new Rx, or the next fill of a recorded prescription). A fill of a recorded prescription
    (``fill``) is dispensed once: printed again only when the caller asks for its reprint
    (``fill_reprint``, :func:`compounding.rx.dispensing.prepare_reprint`), else refused as
    already dispensed, so two processes dispensing one fill never turn the second into a
    reprint unasked. Returns ``{"reprint", "milli", "quantity" (exact text in the batch's
    unit), "unit", "totals", "reprint_of" (the first label's print id, or None)}``. Raises
    :class:`RefusedError` with what was made, dispensed and is left, or
    :class:`InputError` for a quantity that is not in the batch's unit."""
    lot = batch["lot_id"]
    totals = dispensed_totals(store, lot, batch=batch, exclude_pending=exclude_pending)
    made = totals["made"]
    try:
        q = u.parse(quantity, made.kind, field="quantity",
                    default_unit=made.unit if made.kind == u.COUNT else None)
    except InputError:
        raise
    if q.dim != made.dim:
        raise InputError(f"quantity: {quantity!r} is not in {made.unit} like the batch "
                         f"({u.fmt(made)})", field="quantity")
    milli = _milli(q, made, quantity)
    other = store.one("SELECT patient FROM dispensings WHERE lot_id = ? AND rx_number = ? "
                      "AND patient <> ? LIMIT 1", [lot, rx_number, patient])
    if other is not None:
        raise RefusedError(f"Rx {rx_number} was dispensed from lot {lot} for another patient "
                           f"({other['patient']}); one Rx number is one patient")
    prev = store.one(
        "SELECT d.patient, d.fill, d.label_print_id, p.prescriber, p.directions, "
        "p.dispensed_quantity, p.printed_at FROM dispensings d "
        "JOIN label_prints p ON p.id = d.label_print_id "
        "WHERE d.lot_id = ? AND d.rx_number = ? AND d.fill = ?", [lot, rx_number, fill or 0])
    if prev is not None:
        same = (prev["patient"] == patient and prev["prescriber"] == prescriber
                and prev["directions"] == directions
                and _milli(_parse_any(prev["dispensed_quantity"]), made, quantity) == milli)
        if fill and not (fill_reprint and same):
            # the wording of rx.dispensing.prepare, which refuses it before a race
            from ..dates import format_date
            made_strength = u.parse(batch["strength"], {u.MASS, u.CONCENTRATION},
                                    field="strength")
            raise RefusedError(f"fill {fill} of Rx {rx_number} "
                               f"({u.fmt(u.readable(made_strength))}) was already dispensed "
                               f"on {format_date(prev['printed_at'])} from lot {lot}")
        if not same:
            raise RefusedError(
                f"Rx {rx_number} was dispensed from lot {lot} on {prev['printed_at'][:10]} "
                f"({prev['dispensed_quantity']} for {prev['patient']}); a reprint must repeat "
                "that label exactly (patient, prescriber, directions, quantity); a new supply "
                "needs a new Rx number or the next fill of a recorded prescription (--fill N)")
        return {"reprint": True, "milli": milli, "quantity": u.plain(q.to(made.unit).value),
                "unit": made.unit, "totals": totals, "reprint_of": prev["label_print_id"]}
    if fill_reprint:
        raise RefusedError(f"fill {fill} of Rx {rx_number} was not dispensed from lot {lot}; "
                           "there is no label of it to reprint (nothing was printed or "
                           "recorded)")
    if totals["dispensed_milli"] + totals["pending_milli"] + milli > totals["made_milli"]:
        left = totals["remaining"]
        pending = (f", {u.fmt(totals['pending'])} being printed now"
                   if totals["pending_milli"] else "")
        raise RefusedError(
            f"quantity: {u.fmt(q)} is more than lot {lot} has left: made {u.fmt(made)}, "
            f"dispensed {u.fmt(totals['dispensed'])} in {totals['dispenses']} "
            f"dispense{'s' if totals['dispenses'] != 1 else ''}{pending}, "
            f"{u.fmt(left)} left; nothing was printed or recorded")
    return {"reprint": False, "milli": milli, "quantity": u.plain(q.to(made.unit).value),
            "unit": made.unit, "totals": totals, "reprint_of": None}


def _parse_any(text: str) -> u.Quantity:
    return u.parse(text, {u.MASS, u.VOLUME, u.COUNT}, field="quantity")


def record_label_print(store: StoreCore, lot_id: str, kind: str, template_id: str,
                       template_version: int, template_sha256: str, copies: int,
                       pdf_sha256: str, output_path: str, by: str,
                       patient: str | None = None, rx_number: str | None = None,
                       prescriber: str | None = None, directions: str | None = None,
                       dispensed_quantity: str | None = None, fill: int | None = None,
                       pending_id: int | None = None, recovered: dict | None = None,
                       fill_reprint: bool = False) -> dict:
    """Record a label print; returns the ``label_prints`` row (``reprint`` as bool; for a
    dispensing label also ``"dispensing"``: :func:`dispensed_totals` after this print).

    A batch label is a reprint when the batch was printed before. A dispensing label
    (``kind="dispensing"``, with patient, rx_number and dispensed_quantity) is a new
    dispense, recorded in ``dispensings`` and counted against what the batch made, unless it
    repeats an earlier dispense of the same lot, Rx and fill exactly (a reprint; see
    :func:`check_dispense`). ``pending_id``: the ``pending_outputs`` row of this print (its
    reservation is not counted twice). ``recovered``: details for a print recorded by the
    recovery of a killed process (:mod:`.pending`). ``fill_reprint``: the label of fill
    ``fill``, already dispensed from this lot, printed again (recorded as a reprint with
    ``reprint_of`` in the audit entry; refused when that fill was not dispensed from this
    lot). Runs in one write transaction."""
    lot_id = lotid.validate_lot_id(lot_id)
    by = acting(store, by) if recovered is None else by
    need_text(kind, "kind")
    if int(copies) < 1:
        raise InputError("copies: must be 1 or more")
    with store.write():
        batch = batch_row(store, lot_id)
        if recovered is None:  # a recovered print happened already; it is recorded
            own_batch(store, batch, "dispense from" if kind == "dispensing"
                      else "print a label of")
        disp = None
        if kind == "dispensing":
            if not (patient and rx_number and dispensed_quantity):
                raise InputError("a dispensing label needs patient, rx_number and "
                                 "dispensed_quantity")
            disp = check_dispense(store, batch, rx_number=rx_number, patient=patient,
                                  prescriber=prescriber, directions=directions,
                                  quantity=dispensed_quantity, fill=fill,
                                  exclude_pending=pending_id, fill_reprint=fill_reprint)
            reprint = disp["reprint"]
        else:
            reprint = store.one("SELECT 1 AS yes FROM label_prints WHERE lot_id = ? AND "
                                "kind = ? LIMIT 1", [lot_id, kind]) is not None
        values = {"lot_id": lot_id, "kind": kind, "template_id": template_id,
                  "template_version": int(template_version),
                  "template_sha256": template_sha256, "copies": int(copies),
                  "pdf_sha256": pdf_sha256, "output_path": str(output_path),
                  "reprint": int(reprint), "patient": patient, "rx_number": rx_number,
                  "prescriber": prescriber, "directions": directions,
                  "dispensed_quantity": dispensed_quantity, "printed_by": by,
                  "printed_at": store.stamp()}
        with store.refusing("label print not recorded: "):
            # issue 20: printed at this installation's site (not in the audit details:
            # the record's digest carries it)
            pid = store.insert("label_prints", {**values, "site": store.site})
        refs = [store.ref("label_prints", pid)]
        details = {k: v for k, v in values.items() if k not in ("printed_by", "printed_at")}
        if disp is not None and not reprint:
            t = disp["totals"]
            row = {"label_print_id": pid, "lot_id": lot_id, "rx_number": rx_number,
                   "fill": int(fill or 0), "patient": patient, "quantity": disp["quantity"],
                   "unit": disp["unit"], "quantity_milli": disp["milli"],
                   "made_milli": t["made_milli"],
                   "total_milli": t["dispensed_milli"] + disp["milli"]}
            with store.refusing("dispense not recorded: "):
                store.insert("dispensings", row)
            refs.append(store.ref("dispensings", pid))
            details["dispensed_total"] = u.plain(Decimal(row["total_milli"]) / MILLI)
            details["made"] = u.fmt(t["made"])
        if fill:
            details["fill"] = int(fill)
        if fill_reprint:
            details["reprint_of"] = disp["reprint_of"]
        if recovered:
            details["recovered"] = recovered
        store.audit("label.reprint" if reprint else "label.print", by, details,
                    lot_id=lot_id, records=refs)
        out = store.one("SELECT * FROM label_prints WHERE id = ?", [pid])
        if disp is not None:
            out["dispensing"] = dispensed_totals(store, lot_id, batch=batch,
                                                 exclude_pending=pending_id)
    out["reprint"] = bool(out["reprint"])
    return out


def label_prints(store: StoreCore, lot_id: str) -> list[dict]:
    """Every label printed for one batch, oldest first (``reprint`` as bool)."""
    rows = store.rows("SELECT * FROM label_prints WHERE lot_id = ? ORDER BY id", [lot_id])
    for r in rows:
        r["reprint"] = bool(r["reprint"])
    return rows


#: The columns of ``label_prints`` a recall shows (every print of each batch it reaches).
_PRINT_COLUMNS = ("p.id, p.lot_id, p.kind, p.template_id, p.template_version, p.copies, "
                  "p.reprint, p.patient, p.rx_number, p.prescriber, p.dispensed_quantity, "
                  "p.output_path, p.printed_by, p.printed_at, p.site")


def _lot_filter(ingredient: str | None) -> str:
    """The condition on ``component_lots l`` naming one supplier lot (number, ingredient)."""
    return "l.lot_number = ?" + (" AND l.ingredient = ?" if ingredient is not None else "")


def _prints_of(rows: list[dict]) -> dict[str, list[dict]]:
    """``{batch lot ID: its label prints, oldest first}`` from rows ordered by lot and id
    (``reprint`` as bool)."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        r["reprint"] = bool(r["reprint"])
        out.setdefault(r["lot_id"], []).append(r)
    return out


def _amounts(rows: list[dict]) -> tuple[dict, dict]:
    """Exact amounts from rows ``(basis, lot_id, component_lot_id, amount)``: the weighed
    total per ``(batch, component lot)`` (Decimal sum of every weighing) and the planned
    amount per pair (the first batch component by ingredient, as the rows come ordered)."""
    weighed: dict[tuple, Decimal] = {}
    planned: dict[tuple, Decimal] = {}
    for r in rows:
        key = (r["lot_id"], r["component_lot_id"])
        if r["basis"] == "weighed":
            weighed[key] = weighed.get(key, Decimal(0)) + _dec(r["amount"])
        else:
            planned.setdefault(key, _dec(r["amount"]))
    return weighed, planned


def _amount(row: dict, lot_key: str, weighed: dict, planned: dict) -> Decimal:
    key = (row[lot_key], row["component_lot_id"])
    return weighed.get(key, Decimal(0)) if row["basis"] == "weighed" else planned[key]


def _recall_rows(store: StoreCore, component_lot: str, ingredient: str | None):
    """The rows of :func:`recall` (exact ``quantity``, no labels yet) and ``{batch lot ID:
    every label print}`` of the batches they name: four queries whatever the number of
    batches and prints (issue 20: no round trip per batch on a server database)."""
    params = [component_lot] + ([ingredient] if ingredient is not None else [])
    if store.one("SELECT 1 AS yes FROM component_lots l WHERE " + _lot_filter(ingredient),
                 params) is None:
        raise NotFoundError(f"no component lot {component_lot} on record")
    where = ("u.lot_number = ?" + (" AND u.ingredient = ?" if ingredient is not None else ""))
    rows = store.rows("SELECT u.*, b.site FROM lot_usage u JOIN batches b ON b.lot_id = "
                      f"u.batch_lot_id WHERE {where} ORDER BY u.batch_lot_id, u.ingredient",
                      params)
    lot = _lot_filter(ingredient)
    # exact amounts (the view's are REAL for scripts): every weighing and planned amount
    # of this supplier lot, in one query
    weighed, planned = _amounts(store.rows(
        "SELECT 'weighed' AS basis, w.lot_id, w.component_lot_id, w.consumed_quantity AS "
        "amount, '' AS ingredient FROM weighings w JOIN component_lots l ON l.id = "
        f"w.component_lot_id WHERE {lot} UNION ALL SELECT 'planned', bc.lot_id, "
        "bc.component_lot_id, bc.planned_quantity, bc.ingredient FROM batch_components bc "
        f"JOIN component_lots l ON l.id = bc.component_lot_id WHERE {lot} "
        "ORDER BY 2, 5", params * 2))
    prints = _prints_of(store.rows(
        f"SELECT {_PRINT_COLUMNS} FROM label_prints p WHERE p.lot_id IN ("
        "SELECT w.lot_id FROM weighings w JOIN component_lots l ON l.id = w.component_lot_id"
        f" WHERE {lot} UNION SELECT bc.lot_id FROM batch_components bc JOIN component_lots l"
        f" ON l.id = bc.component_lot_id WHERE {lot}) ORDER BY p.lot_id, p.id", params * 2))
    for r in rows:
        r["quantity"] = _amount(r, "batch_lot_id", weighed, planned)
    return rows, prints


def recall(store: StoreCore, component_lot: str, ingredient: str | None = None) -> list[dict]:
    """Every batch that used (weighed) or is planned to use component lot number
    ``component_lot``, with status, BUD and the patient labels printed for it, at every
    site: each row names the batch's ``site`` and each dispensing label the ``site`` that
    printed it (issue 20)."""
    rows, prints = _recall_rows(store, component_lot, ingredient)
    keep = ("patient", "rx_number", "prescriber", "dispensed_quantity", "printed_at", "kind",
            "site")
    for r in rows:
        r["dispensed"] = [{k: p[k] for k in keep} for p in prints.get(r["batch_lot_id"], [])
                          if p["patient"] is not None or p["rx_number"] is not None]
    return rows


def _prints(store: StoreCore, lot_id: str) -> list[dict]:
    return _prints_of(store.rows(f"SELECT {_PRINT_COLUMNS} FROM label_prints p "
                                 "WHERE p.lot_id = ? ORDER BY p.id", [lot_id])).get(lot_id, [])


def recall_batch(store: StoreCore, lot_id: str) -> dict:
    """Everything downstream of one batch, whichever site made it: its ``site``, lots,
    status, every label printed and every dispensing label (patient, Rx number, date, the
    ``site`` that printed it), and its correction links. A fixed number of queries, however
    many components and prints the batch has."""
    lot_id = lotid.validate_lot_id(lot_id)
    b = batch_row(store, lot_id)
    prints = _prints(store, lot_id)
    used = store.rows(
        "SELECT component_lot_id, ingredient, lot_number, expires, basis, unit FROM lot_usage "
        "WHERE batch_lot_id = ? ORDER BY ingredient", [lot_id])
    # exact amounts (the view's are REAL, for scripts), every component in one query
    weighed, planned = _amounts(store.rows(
        "SELECT 'weighed' AS basis, lot_id, component_lot_id, consumed_quantity AS amount, "
        "'' AS ingredient FROM weighings WHERE lot_id = ? AND component_lot_id IS NOT NULL "
        "UNION ALL SELECT 'planned', lot_id, component_lot_id, planned_quantity, ingredient "
        "FROM batch_components WHERE lot_id = ? ORDER BY 5", [lot_id, lot_id]))
    for c in used:
        c["quantity"] = weighed.get((lot_id, c["component_lot_id"]), Decimal(0)) \
            if c["basis"] == "weighed" else planned[(lot_id, c["component_lot_id"])]
    return {"lot_id": lot_id, "site": b["site"], "formula_id": b["formula_id"],
            "strength": b["strength"],
            "quantity": b["quantity"], "status": b["status"], "bud": b["bud"],
            "compounded_on": b["compounded_on"], "component_lots": used,
            "label_prints": [p for p in prints if p["kind"] != "dispensing"],
            "dispensed": [_dispensed(p) for p in prints if p["kind"] == "dispensing"],
            **corrections(store, lot_id)}


def _dispensed(p: dict) -> dict:
    return {"lot_id": p["lot_id"], "patient": p["patient"], "rx_number": p["rx_number"],
            "prescriber": p["prescriber"], "dispensed_quantity": p["dispensed_quantity"],
            "date": p["printed_at"][:10], "printed_at": p["printed_at"],
            "printed_by": p["printed_by"], "reprint": p["reprint"], "site": p["site"]}


def recall_component(store: StoreCore, component_lot: str, ingredient: str | None = None) -> list:
    """:func:`recall` plus, per batch, every label print and dispensing label; the same
    four queries whatever the number of batches and prints."""
    rows, prints = _recall_rows(store, component_lot, ingredient)
    for r in rows:
        mine = [dict(p) for p in prints.get(r["batch_lot_id"], [])]
        r["dispensed"] = [_dispensed(p) for p in mine if p["kind"] == "dispensing"]
        r["label_prints"] = [p for p in mine if p["kind"] != "dispensing"]
    return rows
