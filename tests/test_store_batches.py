"""Store: batches (create, weigh, show, list), BUD from the lots used, label prints, recall,
and the triggers that keep compounding records fixed."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from store_backends import CHECK_FAILED, first_column
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.errors import InputError, NotFoundError, RefusedError
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, signoff
from signoff_support import ENV, PASS, add_users, approve_formulas, setup_db

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = ROOT / "formulas"


class Clock:
    def __init__(self, when):
        self.when = when

    def __call__(self):
        return self.when


@pytest.fixture(scope="module")
def reg():
    return Registry.load(FORMULAS)


@pytest.fixture
def clock():
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def store(store_path, clock):
    s = Store.open(store_path, clock=clock)
    add_users(s, "ana", "bo")  # issue 7: users who act, formulas approved by a pharmacist
    approve_formulas(s)
    yield s
    s.close()


def stock_capsules(store, nx_expires=date(2027, 5, 31), potency="99.2"):
    store.receive_lot("naltrexone-hcl", "NX-LATE", date(2028, 1, 31), u.parse("10 g"), "ana")
    store.receive_lot("naltrexone-hcl", "NX-EARLY", nx_expires, u.parse("5 g"), "ana",
                      potency_percent=Decimal(potency))
    store.receive_lot("microcrystalline-cellulose", "MCC1", date(2027, 12, 31),
                      u.parse("500 g"), "ana")


def create(store, reg, strength="1.5 mg", quantity="100", **kw):
    f = reg.get("ldn-capsules")
    order = Order.from_text(f, quantity=quantity, strength=strength)
    return store.create_batch(f, reg.catalogue, Settings(), order, by="ana",
                              formula_sha256=reg.hashes[f.id], **kw)


def test_create_picks_earliest_expiring_lot_and_plans_with_its_potency(store, reg):
    stock_capsules(store)
    rec = create(store, reg)
    assert rec["lot_id"] == "2603010011" and rec["status"] == "planned"
    comps = {c["ingredient"]: c for c in rec["components"]}
    assert comps["naltrexone-hcl"]["lot_number"] == "NX-EARLY"
    assert comps["naltrexone-hcl"]["chosen"] == "earliest-expiry"
    assert rec["plan"]["potency_percent"] == "99.2"
    assert rec["order"]["potency_percent"] == "100"  # as asked; the lot's potency is planned
    assert rec["formula_snapshot"] == reg.get("ldn-capsules").spec_json()
    assert rec["formula_sha256"] == reg.hashes["ldn-capsules"]
    assert [s["step"] for s in rec["steps"]] == [w["step"] for w in rec["plan"]["weighings"]]
    assert rec["steps_pending"] == [1, 2]
    assert rec["bud"] == "2026-08-27"  # 180 days, day 1 = 1 MAR 2026 (USP <795> cap)
    assert rec["bud_result"]["binding"]["kind"] == "study-capped"
    assert rec["bud_result"]["explanation"][0].startswith("Beyond-use date: 27 AUG 2026")
    # reserved, not consumed
    lot = store.find_lot("naltrexone-hcl", "NX-EARLY")
    assert lot["on_hand"] == Decimal("5000") and lot["reserved"] == Decimal("154")
    assert store.list_batches()[0]["lot_id"] == rec["lot_id"]
    assert store.list_batches("released") == []
    assert store.verify() == []


def test_lot_expiry_binds_the_bud(store, reg):
    stock_capsules(store, nx_expires=date(2026, 6, 30))
    rec = create(store, reg)
    assert rec["bud"] == "2026-06-30"
    assert rec["bud_result"]["binding"]["kind"] == "component-lot"
    assert "naltrexone-hcl lot NX-EARLY" in rec["bud_result"]["binding"]["source"]


def test_named_lots_and_refusals(store, reg):
    stock_capsules(store)
    rec = create(store, reg, component_lots={"naltrexone-hcl": "NX-LATE"})
    assert {c["ingredient"]: (c["lot_number"], c["chosen"]) for c in rec["components"]} == {
        "naltrexone-hcl": ("NX-LATE", "named"),
        "microcrystalline-cellulose": ("MCC1", "earliest-expiry")}
    assert rec["plan"]["potency_percent"] == "100"
    with pytest.raises(RefusedError, match="^lot MCC1 is microcrystalline-cellulose, not "
                                           "naltrexone-hcl$"):
        create(store, reg, component_lots={"naltrexone-hcl": "MCC1"})
    with pytest.raises(InputError, match="sucrose is not used by ldn-capsules"):
        create(store, reg, component_lots={"sucrose": "S"})
    with pytest.raises(RefusedError, match=r"^not enough naltrexone-hcl: the batch needs "
                                           r"9,2\d\d mg and the named lot has that much "
                                           r"available \(lot NX-EARLY 5,000 mg\)$"):
        create(store, reg, quantity="2000", strength="4.5 mg",
               component_lots={"naltrexone-hcl": "NX-EARLY"})


def test_only_expired_or_no_stock_is_refused(store, reg, clock):
    with pytest.raises(RefusedError, match=r"^no stock of naltrexone-hcl \(receive a lot"):
        create(store, reg)
    store.receive_lot("naltrexone-hcl", "NX", date(2026, 3, 10), u.parse("1 g"), "ana")
    clock.when += timedelta(days=20)
    with pytest.raises(RefusedError, match="^no unexpired stock of naltrexone-hcl: every lot"):
        create(store, reg)
    store.receive_lot("naltrexone-hcl", "NX2", date(2027, 3, 10), u.parse("1 g"), "ana")
    with pytest.raises(RefusedError, match="^no stock of microcrystalline-cellulose"):
        create(store, reg)


def test_failed_create_never_reuses_the_lot_id(store, reg, monkeypatch):
    stock_capsules(store)
    real = Store.ref
    calls = {"n": 0}

    def broken(self, table, *key):
        if table == "batches":
            calls["n"] += 1
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return real(self, table, *key)

    monkeypatch.setattr(Store, "ref", broken)
    with pytest.raises(sqlite3.OperationalError, match="simulated"):
        create(store, reg)
    monkeypatch.setattr(Store, "ref", real)
    assert store.list_batches() == []
    rec = create(store, reg)
    assert rec["lot_id"] == "2603010028"  # sequence 002: 001 was spent by the failure
    failed = store.audit_log(action="batch.create-failed")
    assert [(e["lot_id"], e["details"]["error"]) for e in failed] == [
        ("2603010011", "disk I/O error (simulated)")]
    assert store.verify() == []


def test_formula_snapshot_survives_an_edit_of_the_file(store, tmp_path):
    folder = tmp_path / "formulas"
    shutil.copytree(FORMULAS, folder)
    reg = Registry.load(folder)
    stock_capsules(store)
    rec = create(store, reg)
    path = folder / "ldn-capsules.toml"
    path.write_text(path.read_text().replace('overage = "2%"', 'overage = "5%"')
                    .replace("version = 1", "version = 2"))
    reg2 = Registry.load(folder)
    assert reg2.get("ldn-capsules").version == 2
    again = store.get_batch(rec["lot_id"])
    assert again["formula_snapshot"]["overage"] == "2%"
    assert again["formula_version"] == 1


def test_weighing_dilution_steps_by_step_number(store, reg):
    stock_capsules(store)
    rec = create(store, reg, strength="0.1 mcg")
    steps = {s["step"]: s for s in rec["steps"]}
    assert [steps[i]["ingredient"] for i in range(1, 9)] == [
        "naltrexone-hcl", "microcrystalline-cellulose", None, "microcrystalline-cellulose",
        None, "microcrystalline-cellulose", None, "microcrystalline-cellulose"]
    lot = rec["lot_id"]
    with pytest.raises(InputError, match=r"^microcrystalline-cellulose is weighed in several "
                                         r"steps \(2, 4, 6, 8\); give --step N$"):
        store.record_weighing(lot, ingredient="microcrystalline-cellulose",
                              amount=u.parse("1080 mg"), by="bo")
    with pytest.raises(RefusedError, match="^step 3 is an aliquot of a dilution made in this "
                                           "batch; it takes no component lot$"):
        store.record_weighing(lot, step=3, component_lot="MCC1", amount=u.parse("120 mg"),
                              by="bo")
    with pytest.raises(RefusedError, match="^step 1 weighs naltrexone-hcl, not sucrose$"):
        store.record_weighing(lot, step=1, ingredient="sucrose", amount=u.parse("120 mg"),
                              by="bo")
    for s in range(1, 9):
        w = store.record_weighing(lot, step=s, amount=u.q(steps[s]["quantity"],
                                                          steps[s]["unit"]), by="bo")
        assert w["step"] == s and w["complete"] == (s == 8)
        assert w["component_lot"] == (None if steps[s]["ingredient"] is None else
                                      {"naltrexone-hcl": "NX-EARLY"}.get(
                                          steps[s]["ingredient"], "MCC1"))
    done = store.get_batch(lot)
    assert done["status"] == "compounded" and done["steps_pending"] == []
    assert [h["new_status"] for h in done["status_history"]] == ["compounded"]
    # consumption is derived exactly: 1,080 + 3 x 11,880 ... of MCC
    mcc = store.find_lot("microcrystalline-cellulose", "MCC1")
    used = sum(Decimal(steps[s]["quantity"]) for s in (2, 4, 6, 8))
    assert mcc["consumed"] == used and mcc["on_hand"] == Decimal("500000") - used
    with pytest.raises(RefusedError, match="^step 1 .* is weighed already; to weigh it again "
                                           r"give --reweigh REASON"):
        store.record_weighing(lot, step=1, amount=u.parse("120 mg"), by="bo")
    w = store.record_weighing(lot, step=1, amount=u.q(steps[1]["quantity"], steps[1]["unit"]),
                              by="bo", reweigh_reason="spilled, weighed again")
    assert w["reweigh_reason"] == "spilled, weighed again"
    assert len(store.weighings(lot)) == 9
    assert store.verify() == []


def test_weighing_refuses_expired_lot_other_ingredient_and_tolerance(store, reg, clock):
    stock_capsules(store)
    store.receive_lot("naltrexone-hcl", "NX-SHORT", date(2026, 3, 5), u.parse("1 g"), "ana")
    rec = create(store, reg)  # picks NX-SHORT (earliest expiry)
    lot = rec["lot_id"]
    assert {c["ingredient"]: c["lot_number"] for c in rec["components"]}["naltrexone-hcl"] \
        == "NX-SHORT"
    assert rec["bud"] == "2026-03-05"
    with pytest.raises(RefusedError, match="^lot MCC1 is microcrystalline-cellulose, not "
                                           "naltrexone-hcl$"):
        store.record_weighing(lot, step=1, component_lot="MCC1", amount=u.parse("153 mg"),
                              by="bo")
    with pytest.raises(RefusedError, match=r"^step 1: 170 mg is 11\.11% from the planned "
                                           r"153 mg \(tolerance ±5%\)"):
        store.record_weighing(lot, step=1, amount=u.parse("170 mg"), by="bo")
    with pytest.raises(InputError, match="^amount: step 1 is planned as 153 mg; give the amount in mg-compatible units, not mL$"):
        store.record_weighing(lot, step=1, amount=u.parse("0.2 mL"), by="bo")
    with pytest.raises(RefusedError, match=r"^naltrexone-hcl lot NX-EARLY has potency 99\.2% "
                                           r"but the plan was made for 100%"):
        store.record_weighing(lot, step=1, component_lot="NX-EARLY", amount=u.parse("153 mg"),
                              by="bo")
    clock.when += timedelta(days=10)
    with pytest.raises(RefusedError, match="^naltrexone-hcl lot NX-SHORT expired on "
                                           "05 MAR 2026; it cannot be used$"):
        store.record_weighing(lot, step=1, amount=u.parse("153 mg"), by="bo")
    # weighing from another (unexpired) lot recomputes the BUD from the lots actually used
    w = store.record_weighing(lot, ingredient="naltrexone-hcl", component_lot="NX-LATE",
                              amount=u.parse("160 mg"), by="bo")
    assert w["deviation_percent"] == "4.58" and w["bud_changed"] and w["bud"] == "2026-08-27"
    assert store.get_batch(lot)["bud"] == "2026-08-27"
    w = store.record_weighing(lot, step=2, amount=u.parse("14 g"), by="bo",
                              deviation_reason="blend topped up, pharmacist informed")
    assert w["deviation_reason"] == "blend topped up, pharmacist informed"
    assert store.audit_log(action="batch.bud-recomputed")[0]["details"]["from"] == "2026-03-05"
    # the raw trigger refuses what the store refused, for scripts that bypass it
    with pytest.raises(store.backend.IntegrityError, match="component lot had expired"):
        store.db.execute(
            "INSERT INTO weighings (lot_id, step, what, ingredient, component_lot_id, "
            "planned_quantity, planned_unit, quantity, unit, consumed_quantity, "
            "deviation_percent, reweigh_reason, weighed_by, weighed_at) VALUES (?, 1, 'x', "
            "'naltrexone-hcl', 4, '153', 'mg', '153', 'mg', '153', '0', 'r', 'x', "
            "'2026-03-11T00:00:00Z')", [lot])


def test_records_are_fixed_by_triggers(store, reg):
    stock_capsules(store)
    rec = create(store, reg)
    lot = rec["lot_id"]
    store.record_weighing(lot, step=1, amount=u.parse("153 mg"), by="bo")
    store.record_label_print(lot, "container", "container-2in", 1, "a" * 64, 1, "b" * 64,
                             "out.pdf", "ana")
    # m023: an unsigned status change is refused by the schema, through the store or not
    with pytest.raises(RefusedError, match="put on hold only with a signed quarantine"):
        store.set_status(lot, "quarantine", "pharm")
    signoff.quarantine_batch(store, lot, by="pharm", passphrase=PASS, reason="label smudged")
    for table in ("batch_components", "batch_steps", "weighings", "label_prints",
                  "batch_status_history"):
        col = first_column(store, table)
        with pytest.raises(store.backend.IntegrityError, match=f"^{table} is append-only"):
            store.db.execute(f"UPDATE {table} SET {col} = {col}")
        with pytest.raises(store.backend.IntegrityError, match=f"^{table} is append-only"):
            store.db.execute(f"DELETE FROM {table}")
    for sql in ("UPDATE batches SET formula_snapshot = '{}'",
                "UPDATE batches SET plan_json = '{}'", "UPDATE batches SET compounded_by = 'x'"):
        with pytest.raises(store.backend.IntegrityError, match="only status and BUD may change"):
            store.db.execute(sql)
    with pytest.raises(store.backend.IntegrityError, match="cannot be deleted"):
        store.db.execute("DELETE FROM batches")
    with pytest.raises(store.backend.IntegrityError, match=CHECK_FAILED):
        store.db.execute("UPDATE batches SET status = 'shipped'")
    with pytest.raises(store.backend.IntegrityError, match="rejected only with a pharmacist"):
        store.db.execute("UPDATE batches SET status = 'rejected'")
    signoff.reject_batch(store, lot, by="pharm", passphrase=PASS, reason="label smudged")
    with pytest.raises(RefusedError, match="a rejected batch stays rejected"):
        store.set_status(lot, "released", "pharm")
    with pytest.raises(store.backend.IntegrityError, match="BUD of a released or rejected batch"):
        store.db.execute("UPDATE batches SET bud = '2026-03-02'")
    with pytest.raises(RefusedError, match="is rejected; weighings can no longer be recorded"):
        store.record_weighing(lot, step=2, amount=u.parse("14.126 g"), by="bo")
    hist = store.get_batch(lot)["status_history"]
    assert [(h["old_status"], h["new_status"]) for h in hist] == [
        ("planned", "quarantine"), ("quarantine", "rejected")]
    assert store.verify() == []


def test_label_prints_reprint_flag_and_recall(store, reg):
    stock_capsules(store)
    a = create(store, reg)["lot_id"]
    b = create(store, reg, component_lots={"naltrexone-hcl": "NX-LATE"})["lot_id"]
    store.record_weighing(a, step=1, amount=u.parse("154 mg"), by="bo")
    p1 = store.record_label_print(a, "dispensing", "disp", 2, "c" * 64, 1, "d" * 64,
                                  "a.pdf", "ana", patient="Jane Doe", rx_number="RX1",
                                  dispensed_quantity="30 capsules")
    p2 = store.record_label_print(a, "dispensing", "disp", 2, "c" * 64, 1, "e" * 64,
                                  "a2.pdf", "ana", patient="Jane Doe", rx_number="RX1",
                                  dispensed_quantity="30 capsules")
    p3 = store.record_label_print(a, "container", "cont", 1, "c" * 64, 3, "f" * 64,
                                  "c.pdf", "ana")
    assert (p1["reprint"], p2["reprint"], p3["reprint"]) == (False, True, False)
    assert [p["reprint"] for p in store.label_prints(a)] == [False, True, False]
    assert [e["action"] for e in store.audit_log(lot_id=a)][-3:] == [
        "label.print", "label.reprint", "label.print"]
    with pytest.raises(store.backend.IntegrityError, match="reprint must be 1"):
        store.db.execute("INSERT INTO label_prints (lot_id, kind, template_id, "
                         "template_version, template_sha256, copies, pdf_sha256, output_path,"
                         " reprint, printed_by, printed_at) VALUES (?, 'container', 't', 1, ?,"
                         " 1, ?, 'x', 0, 'm', '2026-03-01T00:00:00Z')", [a, "a" * 64, "a" * 64])
    rows = store.recall("NX-EARLY")
    assert [(r["batch_lot_id"], r["basis"], r["quantity"]) for r in rows] == [
        (a, "weighed", Decimal("154"))]
    assert rows[0]["dispensed"][0]["patient"] == "Jane Doe"
    rows = store.recall("MCC1")
    assert [(r["batch_lot_id"], r["basis"]) for r in rows] == [(a, "planned"), (b, "planned")]
    assert store.recall("NX-LATE")[0]["batch_lot_id"] == b
    with pytest.raises(NotFoundError, match="no component lot NOPE on record"):
        store.recall("NOPE")


# ---------------------------------------------------------------- CLI

def run(*args, db):
    if not db.exists():  # issue 7: users with their passphrase, approved formulas
        setup_db(db, "ana", "bo")
    return CliRunner().invoke(cli, [*args, "--db", str(db)], env=ENV)


def test_cli_batch_create_weigh_show_list_recall(tmp_path):
    db = tmp_path / "c.db"
    for args in (["naltrexone-hcl", "--lot", "NX1", "--expires", "2099-05", "--quantity",
                  "5 g", "--potency", "99.2"],
                 ["microcrystalline-cellulose", "--lot", "MCC1", "--expires", "2099-12-31",
                  "--quantity", "500 g"]):
        assert run("inventory", "receive", *args, "--by", "ana", db=db).exit_code == 0
    r = run("batch", "create", "ldn-capsules", "--quantity", "100", "--strength", "1.5 mg",
            "--by", "ana", db=db)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    today = date.today()
    lot = lines[0].split()[1].rstrip(":")
    assert lot.startswith(today.strftime("%y%m%d") + "001")
    assert lines[0] == (f"Batch {lot}: Naltrexone HCl immediate-release capsules, 1.5 mg, "
                        "100 capsules (status planned)")
    assert lines[1].startswith("Beyond-use date: ")
    assert lines[2:5] == [
        "Component lots:",
        "  microcrystalline-cellulose: lot MCC1 (expires 31 DEC 2099, potency 100%, "
        "earliest-expiry)",
        "  naltrexone-hcl: lot NX1 (expires 31 MAY 2099, potency 99.2%, earliest-expiry)"]
    assert any(line.startswith("BATCH PLAN: ") for line in lines)

    r = run("batch", "weigh", lot, "--ingredient", "naltrexone-hcl", "--amount", "154.2 mg",
            "--by", "bo", db=db)
    assert r.output == ("Step 1 (Naltrexone hydrochloride into the blend): 154.2 mg from "
                        "naltrexone-hcl lot NX1, planned 154 mg (0.13%)\n"
                        "Steps still to weigh: 2\n")
    r = run("batch", "weigh", lot, "--step", "2", "--component-lot", "NX1", "--amount",
            "14.126 g", "--by", "bo", db=db)
    assert (r.exit_code, r.output) == (
        1, "Error: lot NX1 is naltrexone-hcl, not microcrystalline-cellulose\n")
    # 102 capsules x 140 mg (MCC at 0.28 g/mL, size #1) = 14,280 mg; 14,280 - 154 = 14,126 mg
    r = run("batch", "weigh", lot, "--step", "2", "--amount", "14.126 g", "--by", "bo", db=db)
    assert r.output.endswith("planned 14.126 g (0%)\nEvery step weighed: batch is now "
                             "compounded\n")
    bad = lot[:9] + str((int(lot[9]) + 1) % 10)
    r = run("batch", "weigh", bad, "--step", "1", "--amount", "1 mg", "--by", "bo", db=db)
    assert (r.exit_code, r.output) == (
        2, f"Error: lot: '{bad}' has a wrong check digit (mistyped lot ID?)\n")

    r = run("batch", "show", lot, "--json", db=db)
    data = json.loads(r.output)
    assert data["status"] == "compounded"
    assert [w["step"] for w in data["weighings"]] == [1, 2]
    assert set(data["plan"]) >= {"formula", "weighings", "ingredients", "drug"}
    assert data["bud_result"]["explanation"][0].startswith("Beyond-use date:")
    r = run("batch", "show", lot, db=db)
    assert r.output.splitlines()[0] == (f"Batch {lot}: Naltrexone HCl immediate-release "
                                        "capsules (formula ldn-capsules version 1)")
    r = run("batch", "list", "--status", "compounded", db=db)
    out = r.output.splitlines()
    assert out[0].split() == ["LOT", "FORMULA", "STRENGTH", "QUANTITY", "STATUS",
                              "COMPOUNDED", "BUD", "WEIGHED"]
    assert out[2].split()[:6] == [lot, "ldn-capsules", "1.5", "mg", "100", "capsules"]
    assert out[2].split()[-1] == "2/2"
    assert run("batch", "list", "--status", "released", db=db).output == \
        "No batches with status released\n"
    r = run("recall", "NX1", db=db)
    assert r.output.splitlines()[0] == "Lot NX1: 1 batch"
    assert r.output.splitlines()[3].split()[-2:] == ["154.2", "mg"]
    r = run("recall", "NX1", "--json", db=db)
    assert json.loads(r.output)[0]["quantity"] == "154.2"
    assert run("recall", "ZZZ", db=db).output == "Error: no component lot ZZZ on record\n"
    r = run("batch", "create", "ldn-capsules", "--quantity", "100", "--strength", "1.5 mg",
            "--component-lot", "naltrexone-hcl", "--by", "ana", db=db)
    assert r.exit_code == 2 and "write INGREDIENT=LOT" in r.output
    r = run("batch", "create", "ldn-oral-liquid", "--quantity", "100 mL", "--by", "ana", db=db)
    assert (r.exit_code, r.output) == (1, "Error: no stock of ascorbic-acid (receive a lot "
                                          "first: compounding inventory receive)\n") or \
        "no stock of" in r.output
    assert run("db", "verify", db=db).exit_code == 0


def test_batch_group_is_lazy_for_later_subcommands():
    from compounding.cli.batch import batch
    assert set(batch.lazy) == {"worksheet", "verify", "release", "reject", "quarantine"}
    r = CliRunner().invoke(cli, ["batch", "--help"])
    for name in ("create", "weigh", "show", "list"):
        assert f"  {name} " in r.output
