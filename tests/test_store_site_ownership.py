"""Site ownership (issue 20): stock and batches belong to a site; another site's
installation may look at them (recall searches every site) but not act on them: weigh,
verify, release, reject, lift a hold, print, dispense, adjust, count or write off. Each
refusal is one line naming the batch or lot and its site; nothing is recorded. On both
backends."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from compounding import units as u
from compounding.errors import RefusedError
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, pending, signoff, stock
from signoff_support import PASS, ROOT, add_users, approve_formulas, weigh_all


class Clock:
    def __call__(self):
        return datetime(2026, 5, 23, 12, 0, tzinfo=timezone.utc)


LOT = "NYC26052300106"
BATCH = (f"batch {LOT} belongs to site NYC; this site (MAIN) cannot {{act}} it (each site "
         "acts on its own batches; recall lookups search every site)")
STOCK = ("lot NX1 of naltrexone-hcl is stock of site NYC; this site (MAIN) cannot {act} it "
         "(each site keeps its own stock)")


def nyc_store(path):
    """Site NYC's stock and a weighed batch (NYC26052300106), and a count of its lot."""
    reg = Registry.load(ROOT / "formulas")
    store = Store.open(path, clock=Clock())
    store.site = "NYC"
    add_users(store, "ana")
    approve_formulas(store, reg)
    store.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("5 g"), "ana")
    store.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 12, 31),
                      u.parse("500 g"), "ana")
    f = reg.get("ldn-capsules")
    rec = store.create_batch(f, reg.catalogue, Settings(), Order.from_text(
        f, quantity="100", strength="1.5 mg"), by="ana", formula_sha256=reg.hashes[f.id])
    assert rec["lot_id"] == LOT
    weigh_all(store, LOT, "ana")
    count = stock.record_count(store, "NX1", counted=u.parse("4 g"), by="ana")
    return store, count["id"]


def label(store, kind="batch", **more):
    return store.record_label_print(LOT, kind, "capsule-batch", 1, "0" * 64, 1, "0" * 64,
                                    "/tmp/x.pdf", "ana", **more)


DISPENSE = dict(patient="Ann Lee", rx_number="RX1", dispensed_quantity="30 capsules")

ACTS = [
    ("weigh", BATCH.format(act="record a weighing for"),
     lambda s, c: s.record_weighing(LOT, step=1, amount=u.parse("1 g"), by="ana",
                                    reweigh_reason="again")),
    ("verify", BATCH.format(act="verify"),
     lambda s, c: signoff.verify_batch(s, LOT, by="pharm", passphrase=PASS)),
    ("release", BATCH.format(act="release"),
     lambda s, c: signoff.release_batch(s, LOT, by="pharm", passphrase=PASS)),
    ("reject", BATCH.format(act="reject"),
     lambda s, c: signoff.reject_batch(s, LOT, by="pharm", passphrase=PASS, reason="spilt")),
    ("lift hold", BATCH.format(act="lift the hold on"),
     lambda s, c: signoff.lift_hold(s, LOT, by="pharm", passphrase=PASS, reason="cleared")),
    ("print", BATCH.format(act="print a label of"), lambda s, c: label(s)),
    ("dispense", BATCH.format(act="dispense from"),
     lambda s, c: label(s, "dispensing", **DISPENSE)),
    ("announce a print", BATCH.format(act="print a label of"),
     lambda s, c: pending.begin(s, lot_id=LOT, target="x", output_path="/tmp/x.pdf",
                                temp_path=None, sha256="0" * 64, record={}, by="ana")),
    ("announce a dispense", BATCH.format(act="dispense from"),
     lambda s, c: pending.begin(s, lot_id=LOT, target="x", output_path="/tmp/x.pdf",
                                temp_path=None, sha256="0" * 64,
                                record={"kind": "dispensing", **DISPENSE}, by="ana")),
    ("adjust", STOCK.format(act="adjust the stock of"),
     lambda s, c: stock.adjust(s, "NX1", amount="-1 g", reason="spilled", by="ana",
                               passphrase=PASS)),
    ("count", STOCK.format(act="count"),
     lambda s, c: stock.record_count(s, "NX1", counted=u.parse("4 g"), by="ana")),
    ("reconcile", STOCK.format(act=f"reconcile stock count {{c}} of"),
     lambda s, c: stock.reconcile_count(s, c, by="pharm", passphrase=PASS)),
]


@pytest.mark.parametrize("act, message, call", ACTS, ids=[a[0] for a in ACTS])
def test_another_sites_batch_or_stock_is_refused(store_path, act, message, call):
    store, count_id = nyc_store(store_path)
    try:
        store.site = "MAIN"  # the same group database, another installation
        entries = store.scalar("SELECT COUNT(*) FROM audit_log")
        with pytest.raises(RefusedError) as exc:
            call(store, count_id)
        assert str(exc.value) == message.replace("{c}", str(count_id))
        assert store.scalar("SELECT COUNT(*) FROM audit_log") == entries  # nothing recorded
        assert store.verify() == []
    finally:
        store.close()


def test_the_owning_site_still_acts_and_expired_stock_is_this_sites(store_path):
    store, _ = nyc_store(store_path)
    try:
        label(store)  # NYC prints its own batch's label
        assert store.scalar("SELECT site FROM label_prints") == "NYC"
        # MAIN's write-off of expired stock lists only MAIN's lots (NYC's lot expires too)
        store.site = "MAIN"
        later = date(2028, 1, 1)
        assert stock.expired_with_stock(store, later) == []
        assert stock.dispose_expired(store, by="pharm", passphrase=PASS, today=later) == []
        store.site = "NYC"
        assert {x["lot_number"] for x in stock.expired_with_stock(store, later)} == \
            {"NX1", "MCC1"}
    finally:
        store.close()
