"""m005 (issue 8): `lot_stock` keeps each lot's totals so stock needs no sum over ten years of
weighings; it always equals the sums of the records and refuses any other value; recall and
stock views give the same answers as before and reach the new indexes."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timezone

import pytest
from store_backends import is_postgres
from sqlite_utils import Database

from compounding import units as u
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store
from compounding.store.migrations import migrations
from signoff_support import ROOT, add_users, approve_formulas, weigh_all

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SUMS = ("SELECT s.received, s.consumed, "
        "(SELECT COALESCE(SUM(CAST(quantity AS DOUBLE PRECISION)), 0) FROM lot_receipts "
        "WHERE component_lot_id = l.id),"
        " (SELECT COALESCE(SUM(CAST(consumed_quantity AS DOUBLE PRECISION)), 0) FROM weighings "
        "WHERE component_lot_id = l.id) FROM component_lots l "
        "JOIN lot_stock s ON s.component_lot_id = l.id")


@pytest.fixture
def store(store_path):
    s = Store.open(store_path, clock=lambda: NOW)
    add_users(s, "ana")
    approve_formulas(s)
    s.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("25 g"), "ana")
    s.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("0.5 g"), "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 5, 31), u.parse("500 g"),
                  "ana")
    yield s
    s.close()


def make_weighed_batch(store) -> str:
    reg = Registry.load(ROOT / "formulas")
    f = reg.get("ldn-capsules")
    rec = store.create_batch(f, reg.catalogue, Settings(),
                             Order.from_text(f, quantity="30", strength="1.5 mg"), by="ana",
                             formula_sha256=reg.hashes[f.id])
    weigh_all(store, rec["lot_id"], "ana")
    return rec["lot_id"]


def test_lot_stock_follows_receipts_and_weighings(store):
    make_weighed_batch(store)
    rows = store.db.execute(SUMS).fetchall()
    assert len(rows) == 2
    for received, consumed, r_sum, c_sum in rows:
        assert (received, consumed) == (r_sum, c_sum)
    nx = store.lots(lot_number="NX1")[0]
    row = store.db.execute("SELECT received, consumed, on_hand FROM stock_on_hand "
                           "WHERE lot_number = 'NX1'").fetchone()
    assert row == (float(nx["received"]), float(nx["consumed"]), float(nx["on_hand"]))
    assert nx["consumed"] > 0


@pytest.mark.parametrize("sql", [
    "UPDATE lot_stock SET received = received + 1",
    "UPDATE lot_stock SET consumed = consumed + 0.001",
    "UPDATE lot_stock SET component_lot_id = component_lot_id + 100",
    "DELETE FROM lot_stock",
    "INSERT INTO lot_stock (component_lot_id, received, consumed) VALUES (99, 5, 0)",
])
def test_lot_stock_cannot_be_edited(store, sql):
    with pytest.raises(store.backend.IntegrityError, match="lot_stock is derived"):
        store.db.execute(sql)


def test_recall_by_lot_number_uses_the_indexes(store):
    lot = make_weighed_batch(store)
    assert [r["batch_lot_id"] for r in store.recall("NX1")] == [lot]
    if is_postgres(store):
        pytest.skip("SQLite's EXPLAIN QUERY PLAN; PostgreSQL's planner scans tables this "
                    "small whatever the indexes (its speed is measured in bench/)")
    plan = " ".join(r[3] for r in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM lot_usage WHERE lot_number = 'NX1'"))
    assert "SCAN w" not in plan and "SCAN bc" not in plan
    assert "component_lots_lot_number" in plan


def test_upgrade_backfills_lot_stock(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    migrations.apply(db, stop_before="m005_scale_indexes_and_lot_stock")
    db.execute("INSERT INTO component_lots (ingredient, lot_number, expires, potency_percent, "
               "unit, created_by, created_at) VALUES ('naltrexone-hcl', 'OLD1', '2099-01-31', "
               "'99.5', 'mg', 'ana', '2026-01-02T03:04:05.000000Z')")
    for q in ("5000", "250.5"):
        db.execute("INSERT INTO lot_receipts (component_lot_id, quantity, received_as, "
                   "received_by, received_at) VALUES (1, ?, 'x', 'ana', "
                   "'2026-01-02T03:04:05.000000Z')", [q])
    db.conn.commit()
    db.close()
    store = Store.open(path)
    try:
        assert store.db.execute("SELECT received, consumed FROM lot_stock").fetchall() == [
            (5250.5, 0.0)]
        assert store.db.execute("SELECT on_hand FROM stock_on_hand").fetchone() == (5250.5,)
    finally:
        store.close()


def test_grouped_exact_totals_equal_the_per_lot_decimal_sums(store):
    # Long listings use three grouped SQL sums in 10^-6 units; they must equal the per-lot
    # Decimal sums exactly, and a lot with a finer amount falls back to Decimal.
    make_weighed_batch(store)
    for i in range(60):
        store.receive_lot("glycerol", f"G{i:02d}", date(2027, 1, 1), u.parse(f"{i + 1}.123456 g"),
                          "ana")
    store.receive_lot("sucrose", "FINE", date(2027, 1, 1), u.parse("0.0000000001 g"), "ana")
    long_list = {x["id"]: x for x in store.lots()}
    assert len(long_list) > 50
    for lid, row in long_list.items():
        exact = store.lot(lid)
        for key in ("received", "consumed", "reserved", "on_hand", "available"):
            assert row[key] == exact[key], (row["lot_number"], key)
    fine = next(x for x in long_list.values() if x["lot_number"] == "FINE")
    assert fine["on_hand"] == u.q("0.0000001", "mg").value  # 7 decimals: Decimal fallback
