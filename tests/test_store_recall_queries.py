"""Recall on a big store (issue 20): `recall LOT` and `recall --batch` run a fixed number of
statements whatever the number of batches, prints and components (one round trip each on a
server database), on both backends, and answer exactly what the per-batch look-ups did."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from compounding import units as u
from compounding.errors import NotFoundError
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, dispensing
from compounding.store.batches import batch_row, corrections
from plan_support import StatementCounter
from signoff_support import add_users, approve_formulas, weigh_all

FORMULAS = Path(__file__).resolve().parent.parent / "formulas"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def reg():
    return Registry.load(FORMULAS)


@pytest.fixture
def store(store_path):
    s = Store.open(store_path, clock=lambda: NOW)
    add_users(s, "ana", "bo")
    approve_formulas(s)
    s.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("25 g"), "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 5, 31), u.parse("900 g"),
                  "ana")
    yield s
    s.close()


def batch(store, reg, how: str, prints: int = 0, nx: str = "NX1", mcc: str = "MCC1") -> str:
    """A capsule batch with ``nx`` and ``mcc`` (NX1, MCC1): ``how`` = ``weighed`` (every step), ``partly``
    (step 1 twice: two weighings to add up) or ``planned``; then a container label and
    ``prints`` dispensing labels (two patients, and a reprint of the first)."""
    f = reg.get("ldn-capsules")
    lot = store.create_batch(f, reg.catalogue, Settings(), Order.from_text(
        f, quantity="90", strength="1.5 mg"), by="ana", formula_sha256=reg.hashes[f.id],
        component_lots={"naltrexone-hcl": nx, "microcrystalline-cellulose": mcc}
    )["lot_id"]
    if how == "weighed":
        weigh_all(store, lot, "bo")
    elif how == "partly":
        store.record_weighing(lot, step=1, amount=u.parse("137.5 mg"), by="bo")
        store.record_weighing(lot, step=1, amount=u.parse("138.25 mg"), by="bo",
                             reweigh_reason="spilled")
    store.record_label_print(lot, "container", "cont", 1, "c" * 64, 2, "f" * 64, "c.pdf",
                             "ana")
    for i in range(prints):
        patient, rx = (("Jane Doe", f"RX{lot}-1") if i % 2 == 0 else
                       ("John Roe", f"RX{lot}-2"))
        store.record_label_print(lot, "dispensing", "disp", 2, "c" * 64, 1, f"{i:064d}",
                                 f"d{i}.pdf", "ana", patient=patient, rx_number=rx,
                                 prescriber="Dr Who", dispensed_quantity="30 capsules")
    return lot


# ---------------------------------------------------------------- the look-ups as they were

def old_recall_component(store, component_lot, ingredient=None):
    """recall_component as it was before issue 20's speed work: several statements per
    batch (kept here as the reference the set-based version must equal)."""
    sql = ("SELECT u.*, b.site FROM lot_usage u JOIN batches b ON b.lot_id = u.batch_lot_id"
           " WHERE u.lot_number = ?")
    params = [component_lot]
    if ingredient is not None:
        sql += " AND u.ingredient = ?"
        params.append(ingredient)
    rows = store.rows(sql + " ORDER BY u.batch_lot_id, u.ingredient", params)
    for r in rows:
        if r["basis"] == "weighed":
            r["quantity"] = sum((Decimal(str(x)) for x in store.column(
                "SELECT consumed_quantity FROM weighings WHERE lot_id = ? AND "
                "component_lot_id = ?", [r["batch_lot_id"], r["component_lot_id"]])),
                Decimal(0))
        else:
            r["quantity"] = Decimal(str(store.scalar(
                "SELECT planned_quantity FROM batch_components WHERE lot_id = ? AND "
                "component_lot_id = ?", [r["batch_lot_id"], r["component_lot_id"]])))
        r["dispensed"] = store.rows(
            "SELECT patient, rx_number, prescriber, dispensed_quantity, printed_at, kind, site"
            " FROM label_prints WHERE lot_id = ? AND (patient IS NOT NULL"
            " OR rx_number IS NOT NULL) ORDER BY id", [r["batch_lot_id"]])
    plain = [{**r, "dispensed": list(r["dispensed"])} for r in rows]
    for r in rows:
        prints = old_prints(store, r["batch_lot_id"])
        r["label_prints"] = [p for p in prints if p["kind"] != "dispensing"]
        r["dispensed"] = [dispensing._dispensed(p) for p in prints if p["kind"] == "dispensing"]
    return plain, rows


def old_prints(store, lot_id):
    rows = store.rows(
        "SELECT id, lot_id, kind, template_id, template_version, copies, reprint, patient, "
        "rx_number, prescriber, dispensed_quantity, output_path, printed_by, printed_at, "
        "site FROM label_prints WHERE lot_id = ? ORDER BY id", [lot_id])
    for r in rows:
        r["reprint"] = bool(r["reprint"])
    return rows


def old_recall_batch(store, lot_id):
    b = batch_row(store, lot_id)
    prints = old_prints(store, lot_id)
    used = store.rows(
        "SELECT component_lot_id, ingredient, lot_number, expires, basis, unit FROM lot_usage "
        "WHERE batch_lot_id = ? ORDER BY ingredient", [lot_id])
    for c in used:
        if c["basis"] == "weighed":
            c["quantity"] = sum((Decimal(x) for x in store.column(
                "SELECT consumed_quantity FROM weighings WHERE lot_id = ? AND "
                "component_lot_id = ?", [lot_id, c["component_lot_id"]])), Decimal(0))
        else:
            c["quantity"] = Decimal(store.scalar(
                "SELECT planned_quantity FROM batch_components WHERE lot_id = ? AND "
                "component_lot_id = ?", [lot_id, c["component_lot_id"]]))
    return {"lot_id": lot_id, "site": b["site"], "formula_id": b["formula_id"],
            "strength": b["strength"], "quantity": b["quantity"], "status": b["status"],
            "bud": b["bud"], "compounded_on": b["compounded_on"], "component_lots": used,
            "label_prints": [p for p in prints if p["kind"] != "dispensing"],
            "dispensed": [dispensing._dispensed(p) for p in prints
                          if p["kind"] == "dispensing"],
            **corrections(store, lot_id)}


def exact(value):
    """Rows with their key order and each Decimal's exponent (``1.50`` is not ``1.5``)."""
    if isinstance(value, dict):
        return [(k, exact(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return value


# ---------------------------------------------------------------- the same answers

def test_recall_answers_as_the_per_batch_lookups_did(store, reg):
    lots = [batch(store, reg, "weighed", prints=3), batch(store, reg, "partly", prints=1),
            batch(store, reg, "planned"), batch(store, reg, "weighed")]
    store.site = "NYC"  # another site's batch, a recall from MAIN finds it
    store.receive_lot("naltrexone-hcl", "NX-NYC", date(2027, 5, 31), u.parse("5 g"), "ana")
    store.receive_lot("microcrystalline-cellulose", "MCC-NYC", date(2027, 5, 31),
                      u.parse("500 g"), "ana")
    nyc = batch(store, reg, "partly", prints=2, nx="NX-NYC", mcc="MCC-NYC")
    store.site = "MAIN"
    for lot_number, ingredient in (("NX1", None), ("MCC1", None), ("NX-NYC", None),
                                   ("NX1", "naltrexone-hcl")):
        plain, full = old_recall_component(store, lot_number, ingredient)
        assert exact(dispensing.recall(store, lot_number, ingredient)) == exact(plain)
        assert exact(dispensing.recall_component(store, lot_number, ingredient)) == \
            exact(full)
    for fn in (dispensing.recall, dispensing.recall_component):
        with pytest.raises(NotFoundError, match="^no component lot NX1 on record$"):
            fn(store, "NX1", "sucrose")
    rows = dispensing.recall_component(store, "NX1")
    assert {r["batch_lot_id"] for r in rows} == set(lots)
    partly = next(r for r in rows if r["batch_lot_id"] == lots[1])
    assert (partly["basis"], partly["quantity"]) == ("weighed", Decimal("275.75"))
    assert [r["site"] for r in dispensing.recall_component(store, "NX-NYC")] == ["NYC"]
    for lot in lots + [nyc]:
        assert exact(dispensing.recall_batch(store, lot)) == exact(old_recall_batch(store, lot))


# ---------------------------------------------------------------- a fixed number of statements

def statements(store, fn, *args) -> int:
    with StatementCounter(store) as n:
        fn(store, *args)
    return n.count


def test_recall_of_a_supplier_lot_runs_the_same_statements_for_1_or_5_batches(store, reg):
    first = batch(store, reg, "weighed", prints=1)
    one = {name: statements(store, fn, "NX1") for name, fn in (
        ("recall", dispensing.recall), ("recall_component", dispensing.recall_component))}
    one_batch = statements(store, dispensing.recall_batch, first)
    for how, prints in (("partly", 3), ("planned", 2), ("weighed", 4), ("planned", 0)):
        batch(store, reg, how, prints)
    assert len(dispensing.recall_component(store, "NX1")) == 5
    many = {name: statements(store, fn, "NX1") for name, fn in (
        ("recall", dispensing.recall), ("recall_component", dispensing.recall_component))}
    assert many == one
    assert one == {"recall": 4, "recall_component": 4}  # and counted at all
    # one batch with more prints and weighings: the same number as the first
    busy = batch(store, reg, "partly", prints=5)
    assert statements(store, dispensing.recall_batch, busy) == one_batch == 6
