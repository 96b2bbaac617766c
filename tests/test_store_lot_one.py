"""One lot's stock (`inventory.lot`, what every weighing, adjustment and count checks) read
from the maintained totals (m021) instead of summed from the lot's records: the same values
as the Decimal sums of the records, the same reservations by planned batches, the same
holds; a lot SQL cannot add still summed from its records. Both backends."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from compounding import units as u
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, inventory, lot_holds
from signoff_support import PASS, add_users, approve_formulas
from test_store_lot_stock import ROOT, weigh_all

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(store_path):
    s = Store.open(store_path, clock=lambda: NOW)
    add_users(s, "ana")
    approve_formulas(s)
    s.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("25 g"), "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 5, 31), u.parse("500 g"),
                  "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC2", date(2027, 6, 30), u.parse("80 g"),
                  "ana")
    yield s
    s.close()


def summed(store, lot_id: int) -> dict:
    """The lot as summed with Decimal from its records (the path lot() took before)."""
    row = store.one(inventory._LOT_SQL + " WHERE s.component_lot_id = ?", [lot_id])
    return inventory._lot_out(store, row, store.today())


def reserved_by_hand(store, lot_id: int) -> Decimal:
    """What planned batches not yet weighed from the lot reserve of it, worked out here
    from the rows (not with the store's query)."""
    total = Decimal(0)
    for bc in store.rows("SELECT lot_id, planned_quantity FROM batch_components "
                         "WHERE component_lot_id = ?", [lot_id]):
        status = store.one("SELECT status FROM batches WHERE lot_id = ?", [bc["lot_id"]])
        weighed = store.rows("SELECT id FROM weighings WHERE lot_id = ? AND "
                             "component_lot_id = ?", [bc["lot_id"], lot_id])
        if status["status"] == "planned" and not weighed:
            total += Decimal(bc["planned_quantity"])
    return total


def planned_batch(store, strength="1.5 mg", quantity="30", lots=None) -> dict:
    reg = Registry.load(ROOT / "formulas")
    f = reg.get("ldn-capsules")
    return store.create_batch(f, reg.catalogue, Settings(),
                              Order.from_text(f, quantity=quantity, strength=strength),
                              by="ana", formula_sha256=reg.hashes[f.id],
                              component_lots=lots)


def every_lot_agrees(store) -> dict[str, dict]:
    out = {}
    for (lid,) in store.db.execute("SELECT id FROM component_lots ORDER BY id").fetchall():
        one = store.lot(lid)
        assert one == summed(store, lid)
        assert one["reserved"] == reserved_by_hand(store, lid)
        assert one == next(x for x in store.lots() if x["id"] == lid)
        out[one["lot_number"]] = one
    return out


def test_one_lot_equals_the_sums_of_its_records_through_its_life(store):
    lots = every_lot_agrees(store)
    assert lots["MCC1"]["reserved"] == 0 and lots["MCC1"]["on_hand"] == Decimal("500000")
    # two planned batches reserve stock; one of them weighed from MCC2 reserves no more
    a = planned_batch(store, lots={"microcrystalline-cellulose": "MCC2"})
    b = planned_batch(store, strength="3 mg", quantity="60",
                      lots={"microcrystalline-cellulose": "MCC2"})
    lots = every_lot_agrees(store)
    assert lots["MCC2"]["reserved"] > 0 and lots["NX1"]["reserved"] > 0
    assert lots["MCC2"]["available"] == lots["MCC2"]["on_hand"] - lots["MCC2"]["reserved"]
    before = lots["MCC2"]["reserved"]
    weigh_all(store, a["lot_id"], "ana")
    lots = every_lot_agrees(store)
    assert 0 < lots["MCC2"]["reserved"] < before  # only b reserves it now
    assert lots["MCC2"]["consumed"] > 0
    # a released or rejected batch reserves nothing; a hold shows
    weigh_all(store, b["lot_id"], "ana")
    lot_holds.hold_lot(store, "MCC1", reason="supplier query", by="pharm", passphrase=PASS)
    lots = every_lot_agrees(store)
    assert lots["MCC2"]["reserved"] == 0 and lots["MCC1"]["on_hold"] is True


def test_a_lot_sql_cannot_add_is_summed_from_its_records(store):
    store.receive_lot("sucrose", "S1", date(2027, 1, 1),
                      u.q(Decimal("0.0000000000000000000000000000000000001"), "mg"), "ana")
    store.receive_lot("sucrose", "S1", date(2027, 1, 1), u.parse("2 g"), "ana")
    lid = store.one("SELECT id FROM component_lots WHERE lot_number = 'S1'")["id"]
    assert store.one("SELECT on_hand FROM lot_on_hand WHERE component_lot_id = ?",
                     [lid])["on_hand"] is None
    one = store.lot(lid)
    assert one["on_hand"] == Decimal("2000.0000000000000000000000000000000000001")
    assert one == summed(store, lid)


def test_an_unknown_lot_is_named(store):
    from compounding.errors import NotFoundError
    with pytest.raises(NotFoundError, match="^no component lot with id 999$"):
        store.lot(999)
