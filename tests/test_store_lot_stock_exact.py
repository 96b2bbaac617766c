"""m019 (issue 18): `lot_stock_exact` keeps each component lot's received, consumed and
adjusted totals exactly (decimal text cut into whole-number chunks) so `inventory list` reads
one row a lot. Every movement kind feeds it: after a random mix of receipts, weighings,
re-weighs, adjustments (write-offs and reconciled counts), holds and dispensings the
maintained sums equal a from-scratch Decimal recomputation of the records; it refuses edits,
falls back to Decimal for amounts it cannot hold, and is filled in when an older database is
upgraded."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timezone
from decimal import Decimal, localcontext

import pytest
from sqlite_utils import Database

from compounding import units as u
from compounding.store import Store, dispensing, lot_holds, stock
from compounding.store.exact_sums import CHUNKS, NANO
from compounding.store.migrations import migrations
from store_backends import is_postgres
from signoff_support import PASS, add_users, approve_formulas
from test_store_lot_stock import make_weighed_batch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
KINDS = {"received": "SELECT quantity FROM lot_receipts WHERE component_lot_id = ?",
         "consumed": "SELECT consumed_quantity FROM weighings WHERE component_lot_id = ?",
         "adjusted": "SELECT quantity FROM stock_adjustments WHERE component_lot_id = ?"}


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


def recomputed(store, lid) -> dict[str, Decimal]:
    """Each total summed from the records with Decimal at 200 digits (Decimal's default 28
    would round 2 + 0.6349206349206349206349206349)."""
    with localcontext() as ctx:
        ctx.prec = 200
        out = {k: sum((Decimal(r[0]) for r in store.db.execute(sql, [lid])), Decimal(0))
               for k, sql in KINDS.items()}
        out["on_hand"] = out["received"] - out["consumed"] + out["adjusted"]
    return out


def plain(d: Decimal) -> str:
    """The text m021 keeps, from a Decimal (independent of the SQL): no exponent, no
    trailing decimal zeros, '0' for zero."""
    text = format(d, "f")  # not normalize(): it rounds to the context's 28 digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if d == 0 else text


def chunks_of(text: str) -> list[int]:
    """The chunks of one amount, computed in Python independently of the SQL."""
    sign = -1 if text.startswith("-") else 1
    ip, _, fp = text.lstrip("-").partition(".")
    fp = fp.ljust(36, "0")
    return [sign * (int(ip) * NANO + int(fp[:9])), sign * int(fp[9:18]),
            sign * int(fp[18:27]), sign * int(fp[27:36])]


def check_every_lot(store):
    """The maintained rows equal the chunk sums of the records; the listing equals the
    Decimal recomputation, lot by lot, and the per-lot Decimal path says the same."""
    listed = {x["id"]: x for x in store.lots()}
    ids = [r[0] for r in store.db.execute("SELECT id FROM component_lots")]
    assert sorted(listed) == sorted(ids)
    for lid in ids:
        row = store.db.execute("SELECT * FROM lot_stock_exact WHERE component_lot_id = ?",
                               [lid]).fetchone()
        want = []
        for sql in KINDS.values():
            parts = [chunks_of(r[0]) for r in store.db.execute(sql, [lid])]
            want += [sum(p[i] for p in parts) for i in range(len(CHUNKS))]
        assert list(row[1:]) == want + [0]
        sums = recomputed(store, lid)
        on_hand = store.db.execute(  # m021: the same totals as text, and the sign
            "SELECT received, consumed, adjusted, on_hand, on_hand_sign FROM lot_on_hand "
            "WHERE component_lot_id = ?", [lid]).fetchone()
        assert list(on_hand) == [plain(sums[k]) for k in ("received", "consumed", "adjusted",
                                                          "on_hand")] + \
            [(sums["on_hand"] > 0) - (sums["on_hand"] < 0)]
        x = listed[lid]
        assert {k: x[k] for k in sums} == sums
        assert x == store.lot(lid)
        assert x["on_hold"] == (lot_holds.current_hold(store, lid) is not None)
    with_stock = [x["id"] for x in listed.values() if x["on_hand"] > 0]
    assert sorted(x["id"] for x in store.lots(include_empty=False)) == sorted(with_stock)
    assert store.count_lots(include_empty=False) == len(with_stock)


def amount_of(text: str) -> u.Quantity:
    """An amount built from code, not parsed: since #11 the parser refuses more than 12
    decimals typed in, but finer amounts still reach the store (through a density, or
    recorded before #11), and the sums must stay exact for them."""
    value, unit = text.split()
    return u.q(Decimal(value), unit)


RECEIPTS = ["1 g", "0.000000001 mg", "12.5 mg", "0.1234567891 g", "3.333333333333333 mg",
            "0.6349206349206349206349206349 mg", "250 mg", "7 kg"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_movement_kind_keeps_the_sums_exact(store, seed):
    rng = random.Random(seed)
    lot_id = make_weighed_batch(store)
    steps = [s for s in store.get_batch(lot_id)["steps"] if s["ingredient"]]
    lots = {"NX1": "naltrexone-hcl", "MCC1": "microcrystalline-cellulose"}  # lot: ingredient
    held = set()
    for i in range(40):
        op = rng.choice(["receive", "weigh", "adjust", "count", "hold", "dispense"])
        lot_number = rng.choice(sorted(lots))
        ingredient = lots[lot_number]
        if op == "receive":
            if rng.random() < 0.3:  # a new lot of the same ingredient
                lot_number = f"{lot_number}-{i}"
                lots[lot_number] = ingredient
            store.receive_lot(ingredient, lot_number, date(2027, 5, 31),
                              amount_of(rng.choice(RECEIPTS)), "ana")
        elif op == "weigh":
            s = rng.choice(steps)
            lot_number = store.get_batch(lot_id)["steps"][s["step"] - 1].get("lot_number")
            amount = u.q(Decimal(s["quantity"]) * Decimal(rng.choice(["1", "0.97", "1.03"])),
                         s["unit"])
            try:
                store.record_weighing(lot_id, step=s["step"], amount=amount, by="ana",
                                      reweigh_reason="spilled, weighed again",
                                      deviation_reason="re-weighed after a spill")
            except Exception as exc:  # a held or emptied lot is refused, and says why
                assert "hold" in str(exc) or "stock" in str(exc) or "enough" in str(exc), exc
        elif op == "adjust":
            on_hand = store.lots(lot_number=lot_number)[0]["on_hand"]
            take = min(on_hand, Decimal(rng.choice(["0.001", "1.5", "12.345"])))
            take = take.quantize(Decimal("0.001"), rounding="ROUND_DOWN")
            if take > 0:
                stock.adjust(store, lot_number, amount=f"-{take} mg", reason="spilled",
                             by="pharm", passphrase=PASS)
        elif op == "count":
            on_hand = store.lots(lot_number=lot_number)[0]["on_hand"]
            counted = (on_hand + Decimal(rng.choice(["2.5", "-0.75", "0.001"]))).quantize(
                Decimal("0.001"), rounding="ROUND_DOWN")
            c = stock.record_count(store, lot_number, counted=f"{max(counted, 0)} mg",
                                   by="ana")
            if not c["reconciled"]:
                stock.reconcile_count(store, c["id"], by="pharm", passphrase=PASS)
        elif op == "hold":
            if lot_number in held:
                lot_holds.release_lot(store, lot_number, reason="checked", by="pharm",
                                      passphrase=PASS)
                held.discard(lot_number)
            else:
                lot_holds.hold_lot(store, lot_number, reason="supplier query", by="pharm",
                                   passphrase=PASS)
                held.add(lot_number)
        else:
            dispensing.record_label_print(store, lot_id, "dispensing", "dispensing-thermal", 1,
                                          "0" * 64, 1, "1" * 64, "labels/x.pdf", "ana",
                                          patient="A Patient", rx_number=f"RX{i}",
                                          dispensed_quantity="1 capsules")  # m017
        if i % 8 == 7:
            check_every_lot(store)
    check_every_lot(store)
    kinds = {r[0] for r in store.db.execute(
        "SELECT 'adjusted' FROM stock_adjustments UNION SELECT 'consumed' FROM weighings "
        "UNION SELECT 'received' FROM lot_receipts")}
    assert kinds == {"adjusted", "consumed", "received"}


@pytest.mark.parametrize(("amount", "exact_in_sql"), [
    ("1 g", True), ("0.000000001 mg", True), ("99999.999999999 mg", True),
    ("0.0000000001 g", True),          # 0.0000001 mg: 7 decimals
    ("0.1234567891 mg", True),         # 10 decimals: the 10^-18 chunk
    ("0.6349206349206349206349206349 mL", True),  # 28 decimals, as through a density
    ("0.000000000000000000000000000000000001 mg", True),  # 36 decimals
    ("0.0000000000000000000000000000000000001 mg", False),  # 37: summed with Decimal
    ("99999999 g", False),             # 11 integer digits in mg: summed with Decimal
    ("1.5 mL", True),
])
def test_listing_equals_the_decimal_sums_of_the_records(store, amount, exact_in_sql):
    make_weighed_batch(store)
    ing = "glycerol" if amount.endswith("mL") else "sucrose"
    store.receive_lot(ing, "X1", date(2027, 1, 1), amount_of(amount), "ana")
    store.receive_lot(ing, "X1", date(2027, 1, 1), u.parse("2 " + amount.split()[1]), "ana")
    inexact = dict(store.db.execute(
        "SELECT l.lot_number, x.inexact FROM lot_stock_exact x JOIN component_lots l"
        " ON l.id = x.component_lot_id"))
    assert (inexact["X1"] == 0) is exact_in_sql
    listed = store.lots()
    assert {x["lot_number"] for x in listed} == {"NX1", "MCC1", "X1"}
    for x in listed:
        assert {k: x[k] for k in KINDS} | {"on_hand": x["on_hand"]} == \
            recomputed(store, x["id"])
        assert x == store.lot(x["id"])  # the per-lot Decimal path says the same


def test_a_lot_emptied_below_the_ninth_decimal_is_decided_exactly(store):
    """Received 0.0000000001 mg (10th decimal) and nothing else: SQL's e9 column says 0, the
    finer chunk says there is stock; the listing and the count both keep it."""
    store.receive_lot("sucrose", "TINY", date(2027, 1, 1), amount_of("0.0000000000001 g"), "ana")
    got = store.lots(include_empty=False, ingredient="sucrose")
    assert [(x["lot_number"], x["on_hand"]) for x in got] == [("TINY", Decimal("1E-10"))]
    assert store.count_lots(include_empty=False, ingredient="sucrose") == 1


@pytest.mark.parametrize("sql", [
    "UPDATE lot_stock_exact SET received_e9 = received_e9 + 1",
    "UPDATE lot_stock_exact SET received_e36 = received_e36 + 1",
    "UPDATE lot_stock_exact SET consumed_e9 = consumed_e9 + 7",
    "UPDATE lot_stock_exact SET adjusted_e9 = adjusted_e9 - 1",
    "UPDATE lot_stock_exact SET inexact = 1",
    "UPDATE lot_stock_exact SET component_lot_id = component_lot_id + 100",
    "DELETE FROM lot_stock_exact",
    "INSERT INTO lot_stock_exact VALUES (99, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
    "UPDATE lot_on_hand SET on_hand = '1' || on_hand",
    "UPDATE lot_on_hand SET on_hand_sign = 0",
    "UPDATE lot_on_hand SET received = '0'",
    "UPDATE lot_on_hand SET on_hand = NULL, on_hand_sign = NULL",
    "UPDATE lot_on_hand SET component_lot_id = component_lot_id + 100",
    "DELETE FROM lot_on_hand",
    "INSERT INTO lot_on_hand VALUES (99, '5', '0', '0', '5', 1)",
])
def test_lot_stock_exact_cannot_be_edited(store, sql):
    with pytest.raises(store.backend.IntegrityError, match=r"lot_(stock_exact|on_hand) is "
                       "derived"):
        store.db.execute(sql)


def test_lot_stock_exact_cannot_be_truncated_on_postgresql(store):
    if not is_postgres(store):
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(store.backend.IntegrityError, match="lot_stock_exact is derived"):
        store.db.execute("TRUNCATE lot_stock_exact")
    with pytest.raises(store.backend.IntegrityError, match="lot_on_hand is derived"):
        store.db.execute("TRUNCATE lot_on_hand")


def test_limit_pages_and_count_says_how_many_in_all(store):
    for i in range(5):
        store.receive_lot("sucrose", f"S{i}", date(2027, 1, 1 + i), u.parse("1 g"), "ana")
    assert [x["lot_number"] for x in store.lots(limit=3)] == ["S0", "S1", "S2"]
    assert store.count_lots() == 7
    assert store.count_lots(ingredient="sucrose") == 5
    for bad in (0, -1, True, 2.0, "3"):
        with pytest.raises(Exception, match="limit"):
            store.lots(limit=bad)


def test_upgrade_fills_lot_stock_exact(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    migrations.apply(db, stop_before="m019_exact_lot_stock")
    db.execute("INSERT INTO component_lots (ingredient, lot_number, expires, potency_percent, "
               "unit, created_by, created_at) VALUES ('naltrexone-hcl', 'OLD1', '2099-01-31', "
               "'99.5', 'mg', 'ana', '2026-01-02T03:04:05.000000Z')")
    for q in ("5000", "250.5", "0.1234567891"):
        db.execute("INSERT INTO lot_receipts (component_lot_id, quantity, received_as, "
                   "received_by, received_at) VALUES (1, ?, 'x', 'ana', "
                   "'2026-01-02T03:04:05.000000Z')", [q])
    db.conn.commit()
    db.close()
    store = Store.open(path)
    try:
        assert store.db.execute("SELECT received_e9, received_e18, consumed_e9, adjusted_e9, "
                                "inexact FROM lot_stock_exact").fetchall() == \
            [(5250623456789, 100000000, 0, 0, 0)]
        assert store.db.execute("SELECT on_hand, on_hand_sign FROM lot_on_hand").fetchall() \
            == [("5250.6234567891", 1)]  # m021 filled too
        assert store.lots()[0]["on_hand"] == Decimal("5250.6234567891")
    finally:
        store.close()


#: Chunk totals (e9, e18, e27, e36) of any sign, un-normalised as summed columns are, and
#: the exact text m021 must write for them.
NORMAL_CASES = [
    ((0, 0, 0, 0), "0", 0),
    ((1, 0, 0, 0), "0.000000001", 1),
    ((-1, 0, 0, 0), "-0.000000001", -1),
    ((0, 0, 0, 1), "0.000000000000000000000000000000000001", 1),
    ((0, -1, 0, 0), "-0.000000000000000001", -1),
    ((5 * NANO, 0, 0, 0), "5", 1),
    ((0, NANO, 0, 0), "0.000000001", 1),             # a carry makes a whole chunk
    ((1, -NANO, 0, 0), "0", 0),                      # ... and cancels exactly
    ((-3, NANO - 1, 0, 0), "-0.000000002000000001", -1),
    ((25500 * NANO, 0, 0, 0), "25500", 1),
    ((12345678900000000, 999999999, 999999999, 999999999),
     "12345678.900000000999999999999999999999999999", 1),
    ((-12345678900000000, -999999999, 5, -999999999),
     "-12345678.900000000999999998999999995999999999", -1),
    ((10 * NANO, 0, 0, 0), "10", 1),                 # integer zeros kept
    ((500000000, 0, 0, 0), "0.5", 1),
]


@pytest.mark.parametrize(("chunks", "text", "sign"), NORMAL_CASES)
def test_m021_writes_the_exact_text_of_any_chunk_total(chunks, text, sign):
    from compounding.store.exact_sums import normal_sql
    s, t = normal_sql(*(str(c) for c in chunks))
    got = sqlite3.connect(":memory:").execute(f"SELECT {t}, {s}").fetchone()
    with localcontext() as ctx:
        ctx.prec = 200
        want = sum((Decimal(c) / 10 ** (9 * (i + 1)) for i, c in enumerate(chunks)),
                   Decimal(0))
    assert got == (text, sign)
    assert Decimal(text) == want


def test_m021_text_matches_decimal_on_random_totals():
    from compounding.store.exact_sums import normal_sql
    rng = random.Random(21)
    db = sqlite3.connect(":memory:")
    s, t = normal_sql("?1", "?2", "?3", "?4")
    for _ in range(2000):
        chunks = [rng.choice([0, rng.randint(-10 ** 15, 10 ** 15), rng.randint(-10 ** 11, 10 ** 11),
                              rng.randint(-3, 3)]) for _ in range(4)]
        with localcontext() as ctx:
            ctx.prec = 200
            want = sum((Decimal(c) / 10 ** (9 * (i + 1)) for i, c in enumerate(chunks)),
                       Decimal(0))
        assert db.execute(f"SELECT {s}, {t}", chunks).fetchone() == \
            ((want > 0) - (want < 0), plain(want))
