"""Issue 19: stock adjustments, counts, lot holds, low stock, recall as a record."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from store_backends import RawConnection

from compounding import units as u
from compounding.errors import InputError, RefusedError
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, recalls, stock, lot_holds
from signoff_support import PASS, add_users, approve_formulas, release

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self, when):
        self.when = when

    def __call__(self):
        return self.when


@pytest.fixture(scope="module")
def reg():
    return Registry.load(ROOT / "formulas")


@pytest.fixture
def store(store_path):
    s = Store.open(store_path, clock=Clock(datetime(2026, 3, 1, 12, 0,
                                                           tzinfo=timezone.utc)))
    add_users(s, "ana", "bo")
    approve_formulas(s)
    s.receive_lot("naltrexone-hcl", "NX-EARLY", date(2027, 5, 31), u.parse("5 g"), "ana")
    s.receive_lot("naltrexone-hcl", "NX-LATE", date(2028, 1, 31), u.parse("10 g"), "ana")
    s.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 12, 31),
                  u.parse("500 g"), "ana")
    yield s
    s.close()


def create(store, reg, settings=None, **kw):
    f = reg.get("ldn-capsules")
    order = Order.from_text(f, quantity="100", strength="1.5 mg")
    return store.create_batch(f, reg.catalogue, settings or Settings(), order, by="ana",
                              formula_sha256=reg.hashes[f.id], **kw)


def on_hand(store, lot):
    return store.find_lot("naltrexone-hcl", lot)["on_hand"]


# ---------------------------------------------------------------- adjustments

@pytest.mark.parametrize("amount, reason, after", [
    ("-12.5 mg", "spilled", Decimal("4987.5")),
    ("-1 g", "damaged", Decimal("4000")),
    ("-5 g", "other", Decimal("0")),
])
def test_adjustment_changes_stock_exactly(store, amount, reason, after):
    a = stock.adjust(store, "NX-EARLY", amount=amount, reason=reason, by="ana",
                     passphrase=PASS, note="dropped the vial", ingredient="naltrexone-hcl")
    assert a["on_hand_before"] == Decimal("5000") and a["on_hand_after"] == after
    assert on_hand(store, "NX-EARLY") == after
    assert store.verify() == []


@pytest.mark.parametrize("amount, reason, message", [
    ("12.5 mg", "spilled", "takes stock away; give a negative amount"),
    ("-5.1 g", "damaged", "would leave it below zero"),
    ("-1 mL", "damaged", "is kept by mass"),
    ("-1e3 mg", "damaged", "scientific notation"),
    ("--1 mg", "damaged", "more than one sign"),
    ("-NaN mg", "damaged", "amount"),
    ("-1 mg", "stolen", "--reason: one of damaged"),
    ("-1 mg", "other", "--note"),
])
def test_adjustment_refusals(store, amount, reason, message):
    with pytest.raises((InputError, RefusedError), match=message):
        stock.adjust(store, "NX-EARLY", amount=amount, reason=reason, by="ana",
                     passphrase=PASS, ingredient="naltrexone-hcl")
    assert on_hand(store, "NX-EARLY") == Decimal("5000")


def test_positive_adjustment_only_for_a_count_by_a_pharmacist(store):
    with pytest.raises(RefusedError, match="only a pharmacist"):
        stock.adjust(store, "NX-EARLY", amount="1 g", reason="count", by="ana",
                     passphrase=PASS, note="found a box")
    a = stock.adjust(store, "NX-EARLY", amount="1 g", reason="count", by="pharm",
                     passphrase=PASS, note="found a box")
    assert a["on_hand_after"] == Decimal("6000")


def test_adjustments_are_append_only_and_vouched_for(store):
    stock.adjust(store, "NX-EARLY", amount="-1 g", reason="damaged", by="ana", passphrase=PASS)
    db = RawConnection(store)
    with pytest.raises(store.backend.DatabaseError, match="append-only"):
        db.execute("UPDATE stock_adjustments SET quantity = '-2000'")
    with pytest.raises(store.backend.DatabaseError, match="append-only"):
        db.execute("DELETE FROM stock_adjustments")
    # a row slipped in by plain SQL (triggers kept) is reported by verify
    db.execute("INSERT INTO stock_adjustments (component_lot_id, quantity, entered_as, reason,"
               " signed_by, signer_role, signed_at) SELECT id, '-1', '-1 mg', 'damaged', 'ana',"
               " 'technician', '2026-03-01T12:00:00Z' FROM component_lots LIMIT 1")
    db.commit()
    db.close()
    assert any("stock_adjustments" in p for p in store.verify())


def test_dispose_expired_writes_off_every_expired_lot(store):
    store.receive_lot("naltrexone-hcl", "NX-OLD", date(2026, 3, 5), u.parse("2 g"), "ana")
    later = Store.open(store.path, clock=Clock(datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)))
    try:
        listed = stock.expired_with_stock(later)
        assert [x["lot_number"] for x in listed] == ["NX-OLD"]
        with pytest.raises(RefusedError, match="changed since they were listed"):
            stock.dispose_expired(later, by="ana", passphrase=PASS, expected=[])
        out = stock.dispose_expired(later, by="ana", passphrase=PASS,
                                    expected=[x["id"] for x in listed])
        assert [(a["lot_number"], a["reason"], a["on_hand_after"]) for a in out] == \
            [("NX-OLD", "expired", Decimal(0))]
        assert stock.expired_with_stock(later) == []
    finally:
        later.close()


def test_count_records_variance_and_a_pharmacist_reconciles(store):
    c = stock.record_count(store, "NX-EARLY", counted="4.9 g", by="ana",
                           ingredient="naltrexone-hcl")
    assert (c["book"], c["counted"], c["variance"], c["reconciled"]) == \
        (Decimal("5000"), Decimal("4900"), Decimal("-100"), False)
    assert on_hand(store, "NX-EARLY") == Decimal("5000")  # the book waits for a signature
    with pytest.raises(RefusedError, match="only a pharmacist"):
        stock.reconcile_count(store, c["id"], by="ana", passphrase=PASS)
    r = stock.reconcile_count(store, c["id"], by="pharm", passphrase=PASS)
    assert r["reconciled"] and r["adjustment"]["on_hand_after"] == Decimal("4900")
    assert on_hand(store, "NX-EARLY") == Decimal("4900")
    with pytest.raises(RefusedError, match="already reconciled by pharm"):
        stock.reconcile_count(store, c["id"], by="pharm", passphrase=PASS)
    z = stock.record_count(store, "NX-EARLY", counted="0 g", by="ana")
    assert z["variance"] == Decimal("-4900")


def test_movements_running_balance(store, reg):
    rec = create(store, reg)
    store.record_weighing(rec["lot_id"], step=1, amount=u.q(rec["steps"][0]["quantity"],
                                                            rec["steps"][0]["unit"]), by="ana")
    stock.adjust(store, "NX-EARLY", amount="-1 g", reason="damaged", by="ana", passphrase=PASS)
    m = stock.movements(store, "NX-EARLY")
    assert [x["kind"] for x in m["movements"]] == ["receipt", "weighing", "adjustment"]
    assert m["on_hand"] == on_hand(store, "NX-EARLY")
    view = store.rows("SELECT kind, balance FROM stock_movements WHERE lot_number = "
                      "'NX-EARLY' ORDER BY at, source_id")
    assert [v["kind"] for v in view] == ["receipt", "weighing", "adjustment"]
    assert Decimal(str(view[-1]["balance"])) == m["on_hand"]
    soh = store.one("SELECT on_hand, adjusted FROM stock_on_hand WHERE lot_number = 'NX-EARLY'")
    assert Decimal(str(soh["on_hand"])) == m["on_hand"] and soh["adjusted"] == -1000


# ---------------------------------------------------------------- holds and FEFO

def test_held_lot_is_passed_over_refused_and_cannot_be_weighed(store, reg):
    rec = create(store, reg)  # plans NX-EARLY (earliest expiry)
    lot_holds.hold_lot(store, "NX-EARLY", reason="supplier notice", by="pharm",
                       passphrase=PASS, ingredient="naltrexone-hcl")
    step = rec["steps"][0]
    with pytest.raises(RefusedError, match="NX-EARLY is on hold .supplier notice.*cannot be "
                                           "weighed"):
        store.record_weighing(rec["lot_id"], step=step["step"],
                              amount=u.q(step["quantity"], step["unit"]), by="ana")
    with pytest.raises(RefusedError, match="on hold"):
        create(store, reg, component_lots={"naltrexone-hcl": "NX-EARLY"})
    rec2 = create(store, reg)
    comps = {c["ingredient"]: c["lot_number"] for c in rec2["components"]}
    assert comps["naltrexone-hcl"] == "NX-LATE"
    assert any("NX-LATE" in n and "first expiry first out" in n and "NX-EARLY" in n
               for n in rec2["notes"])
    with pytest.raises(RefusedError, match="already"):
        lot_holds.hold_lot(store, "NX-EARLY", reason="again", by="pharm", passphrase=PASS)
    with pytest.raises(RefusedError, match="only a pharmacist"):
        lot_holds.release_lot(store, "NX-EARLY", reason="ok", by="ana", passphrase=PASS)
    lot_holds.release_lot(store, "NX-EARLY", reason="supplier cleared it", by="pharm",
                          passphrase=PASS)
    store.record_weighing(rec["lot_id"], step=step["step"],
                          amount=u.q(step["quantity"], step["unit"]), by="ana")


def test_every_lot_on_hold_is_named_not_called_out_of_stock(store, reg):
    for lot in ("NX-EARLY", "NX-LATE"):
        lot_holds.hold_lot(store, lot, reason="audit", by="pharm", passphrase=PASS)
    with pytest.raises(RefusedError, match="every unexpired lot with stock is on hold"):
        create(store, reg)


def test_low_stock_against_reorder_points(store, reg):
    settings = Settings.model_validate({"reorder_points": {"naltrexone-hcl": "15 g"}})
    low = stock.low_stock(store, settings.reorder_points)
    assert [(x["ingredient"], x["usable"], x["lots"]) for x in low] == \
        [("naltrexone-hcl", u.q("15000", "mg"), 2)]
    assert stock.low_stock(store, {"naltrexone-hcl": u.q("14", "g")}) == []
    lot_holds.hold_lot(store, "NX-LATE", reason="audit", by="pharm", passphrase=PASS)
    assert stock.low_stock(store, {"naltrexone-hcl": u.q("14", "g")})[0]["usable"] == \
        u.q("5000", "mg")
    rec = create(store, reg, settings=Settings.model_validate(
        {"reorder_points": {"naltrexone-hcl": "5 g"}}))
    assert any(n.startswith("Warning: naltrexone-hcl stock is at or below its reorder point")
               for n in rec["notes"])


# ---------------------------------------------------------------- recalls

def dispensed_batch(store, reg):
    from compounding.store import dispensing
    rec = create(store, reg)
    release(store, rec["lot_id"])
    for rx, patient in (("RX-1", "Ada Lovelace"), ("RX-2", "Alan Turing")):
        dispensing.record_label_print(store, rec["lot_id"], "dispensing", "dispensing-thermal",
                                      1, "0" * 64, 1, "1" * 64, "/tmp/x.pdf", "ana",
                                      patient=patient, rx_number=rx, prescriber="Dr Who",
                                      dispensed_quantity="30 capsules")
    return rec["lot_id"]


def test_recall_holds_the_lot_quarantines_batches_and_lists_patients(store, reg):
    lot = dispensed_batch(store, reg)
    planned = create(store, reg)["lot_id"]  # also NX-EARLY, not weighed yet
    r = recalls.open_recall(store, component_lot="NX-EARLY", ingredient="naltrexone-hcl",
                            reason="supplier recall 2026-17", by="pharm", passphrase=PASS)
    assert r["status"] == "open" and r["kind"] == "component-lot"
    assert {b["lot_id"]: (b["status_before"], b["action"], b["status"])
            for b in r["batches"]} == {lot: ("released", "quarantined", "quarantine"),
                                       planned: ("planned", "quarantined", "quarantine")}
    assert [(p["rx_number"], p["patient"]) for p in r["patients"]] == \
        [("RX-1", "Ada Lovelace"), ("RX-2", "Alan Turing")]
    assert lot_holds.current_hold(store, store.find_lot("naltrexone-hcl", "NX-EARLY")["id"])
    with pytest.raises(RefusedError, match="already open: recall 1, opened by pharm"):
        recalls.open_recall(store, component_lot="NX-EARLY", reason="again", by="phil",
                            passphrase=PASS)
    with pytest.raises(RefusedError, match="stays on hold until recall 1 is closed"):
        lot_holds.release_lot(store, "NX-EARLY", reason="x", by="pharm", passphrase=PASS)
    with pytest.raises(RefusedError, match="2 patients without an outcome"):
        recalls.close_recall(store, 1, note="done", by="pharm", passphrase=PASS)
    recalls.record_contact(store, 1, rx="RX-1", outcome="message-left", by="ana")
    recalls.record_contact(store, 1, rx="RX-1", outcome="reached", by="ana", note="returned")
    with pytest.raises(RefusedError, match="Rx RX-9 is not among the patients"):
        recalls.record_contact(store, 1, rx="RX-9", outcome="reached", by="ana")
    s = recalls.show_recall(store, 1)
    assert [p["rx_number"] for p in s["to_reach"]] == ["RX-2"]
    with pytest.raises(RefusedError, match="only a pharmacist"):
        recalls.close_recall(store, 1, note="done", by="ana", passphrase=PASS)
    recalls.record_contact(store, 1, rx="RX-2", outcome="unreachable", by="bo")
    closed = recalls.close_recall(store, 1, note="all patients handled", by="pharm",
                                  passphrase=PASS)
    assert closed["status"] == "closed" and closed["contacted"] == 2 and closed["reached"] == 1
    with pytest.raises(RefusedError, match="closed by pharm"):
        recalls.record_contact(store, 1, rx="RX-2", outcome="reached", by="bo")
    row = store.one("SELECT * FROM recall_status WHERE recall_id = 1")
    assert (row["status"], row["patients"], row["quarantined"]) == ("closed", 2, 2)
    assert store.verify() == []


def test_recall_close_with_stated_reason(store, reg):
    lot = dispensed_batch(store, reg)
    recalls.open_recall(store, batch=lot, reason="label misprint", by="pharm", passphrase=PASS)
    c = recalls.close_recall(store, 1, note="closing", incomplete_reason="patients moved away",
                             by="pharm", passphrase=PASS)
    assert c["closure"]["incomplete_reason"] == "patients moved away"


def test_schema_refuses_a_second_open_recall_and_early_closure(store, reg):
    lot = dispensed_batch(store, reg)
    recalls.open_recall(store, batch=lot, reason="x", by="pharm", passphrase=PASS)
    db = RawConnection(store)
    with pytest.raises(store.backend.DatabaseError, match="already open"):
        db.execute("INSERT INTO recalls (lot_id, reason, opened_by, opened_at) VALUES "
                   "(?, 'y', 'pharm', '2026-03-01T12:00:00Z')", [lot])
    with pytest.raises(store.backend.DatabaseError, match="once every patient has an outcome"):
        db.execute("INSERT INTO recall_closures (recall_id, note, closed_by, closed_at) "
                   "VALUES (1, 'n', 'pharm', '2026-03-01T12:00:00Z')")
    db.close()


# ---------------------------------------------------------------- found by the attack pass

def test_a_hold_placed_before_the_recall_stays_until_the_recall_closes(store, reg):
    """Attack finding: a pharmacist's hold, then a recall of the lot; releasing the hold
    must be refused while the recall is open (it was allowed: the recall reused the hold)."""
    lot_holds.hold_lot(store, "NX-EARLY", reason="supplier notice", by="pharm",
                       passphrase=PASS, ingredient="naltrexone-hcl")
    recalls.open_recall(store, component_lot="NX-EARLY", reason="supplier recall",
                        by="pharm", passphrase=PASS)
    with pytest.raises(RefusedError, match="stays on hold until recall 1 is closed"):
        lot_holds.release_lot(store, "NX-EARLY", reason="cleared", by="pharm",
                              passphrase=PASS)
    db = RawConnection(store)
    with pytest.raises(store.backend.DatabaseError, match="open recall stays on hold"):
        db.execute("INSERT INTO lot_holds (component_lot_id, action, reason, signed_by, "
                   "signer_role, signed_at) SELECT id, 'release', 'x', 'pharm', 'pharmacist',"
                   " '2026-03-01T12:00:00Z' FROM component_lots WHERE lot_number = 'NX-EARLY'")
    db.close()
    with pytest.raises(RefusedError, match="on hold"):
        create(store, reg, component_lots={"naltrexone-hcl": "NX-EARLY"})
    recalls.close_recall(store, 1, note="no patients", by="pharm", passphrase=PASS)
    lot_holds.release_lot(store, "NX-EARLY", reason="cleared after the recall", by="pharm",
                          passphrase=PASS)


@pytest.mark.parametrize("amount, message", [
    ("-0.0000001 mg", "finer than 0.001 mg"),
    ("+5 g", "no plus sign"),
    ("\u22125 g", r"U\+2212; type a negative amount with the keyboard.s minus sign"),
    ("-0 g", "'-0 g'"),
])
def test_adjustment_amount_messages_name_what_was_typed(store, amount, message):
    with pytest.raises(InputError, match=message):
        stock.adjust(store, "NX-EARLY", amount=amount, reason="spilled", by="ana",
                     passphrase=PASS)
    assert on_hand(store, "NX-EARLY") == Decimal("5000")
