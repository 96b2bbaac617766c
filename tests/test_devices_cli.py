"""Scan and weigh at the command line (issue 16): receiving by a supplier's GS1 DataMatrix,
refusing the wrong ingredient's lot at weighing, a simulated balance filling a weighing, the
component lot label read back, and where each weighing came from on record."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from balance_sim import SimBalance
from compounding.cli import cli
from compounding.store import Store
from signoff_support import ENV, ROOT, setup_db

GS = "\x1d"
NX_GTIN = "09501101530010"     # naltrexone-hcl (formulas/ingredients.toml, sample GTIN)
MCC_GTIN = "09501101530027"    # microcrystalline-cellulose
LACTOSE_GTIN = "09501101530034"
NX_SCAN = f"]d201{NX_GTIN}17300500" f"10NX-2291{GS}11260115"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("COMPOUNDING_SETTINGS", "COMPOUNDING_FORMULAS", "COMPOUNDING_TEMPLATES",
                "COMPOUNDING_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def settings_file(tmp_path, port="/dev/null", protocol="mt-sics", **extra) -> Path:
    values = {"port": port, "protocol": protocol, "readability": "1 mg",
              "min_weighable": "120 mg", "timeout": 2, **extra}
    lines = ["[balances.bench-1]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "pharmacy.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(tmp_path, *args, settings=None):
    pre = ["--formulas", str(ROOT / "formulas"), "--templates", str(ROOT / "templates")]
    if settings is not None:
        pre += ["--settings", str(settings)]
    return CliRunner().invoke(cli, [*pre, *args, "--db", str(tmp_path / "c.db")], env=ENV)


def ok(tmp_path, *args, settings=None) -> str:
    r = run(tmp_path, *args, settings=settings)
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture
def db(tmp_path):
    setup_db(tmp_path / "c.db", "ana")
    return tmp_path / "c.db"


@pytest.fixture
def batch(tmp_path, db):
    """Naltrexone and lactose received by scan; a 100-capsule batch planned on them."""
    ok(tmp_path, "inventory", "receive", "--scan", NX_SCAN, "--quantity", "25 g", "--by", "ana")
    ok(tmp_path, "inventory", "receive", "--scan", f"(01){LACTOSE_GTIN}(17)301231(10)LA-1",
       "--quantity", "500 g", "--by", "ana")
    ok(tmp_path, "inventory", "receive", "--scan", f"]C101{MCC_GTIN}10MCC-118{GS}17301231",
       "--quantity", "500 g", "--by", "ana")
    out = ok(tmp_path, "batch", "create", "ldn-capsules", "--quantity", "100 capsules",
             "--strength", "1.5 mg", "--filler", "lactose-monohydrate", "--by", "ana", "--json")
    return json.loads(out)["lot_id"]


def weighings(db) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT w.step, w.quantity, w.unit, s.amount_source, s.balance_name,"
                           " s.balance_serial, s.balance_line, s.lot_source, s.scan"
                           " FROM weighings w LEFT JOIN weighing_sources s"
                           " ON s.weighing_id = w.id ORDER BY w.id").fetchall()
    finally:
        con.close()


def test_receive_gs1_datamatrix(tmp_path, db):
    out = ok(tmp_path, "inventory", "receive", "--scan", NX_SCAN, "--quantity", "25 g",
             "--potency", "99.2%", "--by", "ana")
    assert out.splitlines() == [
        "Received 25 g of naltrexone-hcl lot NX-2291 (expires 31 MAY 2030, potency 99.2%)",
        "Scanned: GTIN 09501101530010 (naltrexone-hcl, Example API Supplier), produced "
        "15 JAN 2026",
        "On hand: 25 g"]
    con = sqlite3.connect(db)
    row = con.execute("SELECT l.ingredient, l.lot_number, l.expires, l.manufacturer, s.gtin, "
                      "s.production_date, s.scan FROM receipt_scans s JOIN lot_receipts r ON "
                      "r.id = s.receipt_id JOIN component_lots l ON l.id = "
                      "r.component_lot_id").fetchall()
    con.close()
    assert row == [("naltrexone-hcl", "NX-2291", "2030-05-31", "Example API Supplier",
                    NX_GTIN, "2026-01-15", f"(01){NX_GTIN}(17)300500(10)NX-2291(11)260115")]
    with Store.open(db) as store:
        assert store.verify() == []


@pytest.mark.parametrize("args, code, message", [
    (["--scan", f"(01)09501101530041(17)301231(10)S1"], 2,
     "Error: GTIN 09501101530041 is not in the ingredient catalogue (formulas/ingredients.toml "
     "[gtins]); add it with the ingredient it contains, reviewed by a pharmacist"),
    (["sucrose", "--scan", f"(01){MCC_GTIN}(17)301231(10)MCC-1"], 2,
     "Error: ingredient: given sucrose, but the barcode says GTIN 09501101530027, "
     "microcrystalline-cellulose; check the container (the receipt is refused)"),
    (["--scan", f"(01){MCC_GTIN}(17)301231(10)MCC-1", "--lot", "MCC-2"], 2,
     "Error: lot: given 'MCC-2', but the barcode says 'MCC-1'; check the container (the "
     "receipt is refused)"),
    (["--scan", f"(01){MCC_GTIN}(17)301231(10)MCC-1", "--expires", "2030-11"], 2,
     "Error: expires: given 30 NOV 2030, but the barcode says 31 DEC 2030; check the container "
     "(the receipt is refused)"),
    (["--scan", f"(01){MCC_GTIN}(17)301231(10)MCC-1", "--manufacturer", "Other Co"], 2,
     "Error: manufacturer: given 'Other Co', but the barcode says GTIN 09501101530027, made by "
     "'Example Excipients'; check the container (the receipt is refused)"),
    (["--scan", f"]C101{MCC_GTIN}10MCC-117301231"], 2,
     "Error: --scan: the lot (10) 'MCC-117301231' ends in what looks like an expiry (17); the "
     "scanner may have dropped the group separator (GS) after the lot; scan again (the receipt "
     "is refused)"),
    (["--scan", f"(01){MCC_GTIN}(10)MCC-1"], 2,
     "Error: expires: the barcode carries no expiry (17); give --expires from the container"),
    (["--scan", f"(01){MCC_GTIN}(17)301231(10)MCC-1(11)261231"], 2,
     "Error: --scan: the production date (11) 31 DEC 2026 is after today (30 NOV 2026); "
     "check the barcode"),
    (["--scan", "MCC-1"], 2,
     "Error: ingredient: a plain lot barcode does not say which ingredient it is; give the "
     "INGREDIENT argument"),
    (["microcrystalline-cellulose", "--scan", MCC_GTIN, "--expires", "2030-12"], 2,
     "Error: --scan: 09501101530027 is the product code (GTIN) of microcrystalline-cellulose, "
     "not a lot number; scan the lot barcode or give --lot"),
    (["--scan", "MCC\u200b1", "microcrystalline-cellulose"], 2,
     "Error: --scan: character U+200B (ZERO WIDTH SPACE) at position 4 is an invisible "
     "formatting character (zero-width or direction mark)"),
    (["--scan", f"(01){MCC_GTIN}(17)251231(10)MCC-1"], 1,
     "Error: lot MCC-1 of microcrystalline-cellulose expired on 31 DEC 2025; it cannot be "
     "received into stock"),
])
def test_receive_refused(tmp_path, db, args, code, message, monkeypatch):
    import compounding.cli.inventory as inv
    from datetime import date
    monkeypatch.setattr(inv, "_today", lambda: date(2026, 11, 30))
    r = run(tmp_path, "inventory", "receive", *args, "--quantity", "500 g", "--by", "ana")
    assert (r.exit_code, r.output.splitlines()[-1]) == (code, message)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM lot_receipts").fetchone() == (0,)


def test_weigh_wrong_ingredient_refused_before_anything_is_recorded(tmp_path, db, batch):
    for scan in (f"(01){MCC_GTIN}(17)301231(10)MCC-118", "MCC-118"):
        r = run(tmp_path, "batch", "weigh", batch, "--step", "1", "--scan", scan, "--amount",
                "153 mg", "--by", "ana")
        assert (r.exit_code, r.output) == (
            1, "Error: scanned microcrystalline-cellulose lot MCC-118; step 1 needs "
               "naltrexone-hcl\n")
    assert weighings(db) == []


@pytest.mark.parametrize("scan, message", [
    ("NX-9", "Error: scanned naltrexone-hcl lot NX-9, which was never received (not on "
             "record); receive it first: compounding inventory receive"),
    (f"(01){NX_GTIN}(17)300400(10)NX-2291", "Error: scanned naltrexone-hcl lot NX-2291 says it "
     "expires 30 APR 2030, but the lot received expires 31 MAY 2030; check the container"),
    (f"]E0{NX_GTIN[1:]}", "Error: scanned the product code of naltrexone-hcl (GTIN "
     "09501101530010), which has no lot; scan the lot barcode or the pharmacy's lot label"),
    ("2611300012", None),  # this batch's own label at a component step: filled in below
])
def test_weigh_scan_refused(tmp_path, db, batch, scan, message):
    if message is None:
        scan = batch
        message = (f"Error: scanned this batch's own label ({batch}); step 1 needs "
                   "naltrexone-hcl")
    r = run(tmp_path, "batch", "weigh", batch, "--step", "1", "--scan", scan, "--amount",
            "153 mg", "--by", "ana")
    assert (r.exit_code, r.output) == (1, message + "\n")
    assert weighings(db) == []


def test_weigh_by_scan_alone_picks_the_step(tmp_path, db, batch):
    out = ok(tmp_path, "batch", "weigh", batch, "--scan", NX_SCAN, "--amount", "153 mg",
             "--by", "ana")
    assert out.splitlines() == [
        "Step 1 (Naltrexone hydrochloride into the blend): 153 mg from naltrexone-hcl lot "
        "NX-2291, planned 153 mg (0%)",
        f"Lot confirmed by scan: (01){NX_GTIN}(17)300500(10)NX-2291(11)260115",
        "Steps still to weigh: 2"]
    assert weighings(db) == [(1, "153", "mg", "typed", None, None, None, "scan",
                              f"(01){NX_GTIN}(17)300500(10)NX-2291(11)260115")]


def test_mt_sics_balance_fills_a_weighing(tmp_path, db, batch):
    with SimBalance("command", ["S I", "S S     12.6990 g"]) as sim:
        st = settings_file(tmp_path, sim.port, serial_number="B123456789")
        out = ok(tmp_path, "batch", "weigh", batch, "--step", "2", "--from-balance", "bench-1",
                 "--by", "ana", settings=st)
    assert out.splitlines() == [
        "Step 2 (Lactose monohydrate to bring the blend to 12.852 g): 12.699 g from "
        "lactose-monohydrate lot LA-1, planned 12.699 g (0%)",
        "Read from balance bench-1 (serial B123456789, mt-sics): S S     12.6990 g",
        "Steps still to weigh: 1"]
    assert weighings(db) == [(2, "12.699", "g", "balance", "bench-1", "B123456789",
                              "S S     12.6990 g", "planned", None)]
    show = ok(tmp_path, "batch", "show", batch)
    assert "SOURCE" in show
    assert [ln.split("  ")[0] for ln in show.splitlines() if "balance bench-1 (SN B123456789)"
            in ln] == ["2"]
    with Store.open(db) as store:
        assert store.verify() == []


def test_unstable_balance_records_nothing(tmp_path, db, batch):
    with SimBalance("stream", ["US,+00012.699  g", "US,+00012.702  g"]) as sim:
        st = settings_file(tmp_path, sim.port, protocol="ad", serial_number="AD-1")
        r = run(tmp_path, "batch", "weigh", batch, "--step", "2", "--from-balance", "bench-1",
                "--by", "ana", settings=st)
    assert r.exit_code == 1
    assert r.output.startswith("Error: balance bench-1: no stable reading within 2 s; last "
                               "reading 'US,+00012.")
    assert weighings(db) == []


@pytest.mark.parametrize("args, message", [
    ([], "Error: give --amount (typed) or --from-balance NAME, one of them"),
    (["--amount", "1 g", "--from-balance", "bench-1"],
     "Error: give --amount (typed) or --from-balance NAME, one of them"),
    (["--from-balance", "bench-9"],
     "Error: --from-balance: unknown balance 'bench-9'; known: bench-1"),
])
def test_weigh_usage(tmp_path, db, batch, args, message):
    r = run(tmp_path, "batch", "weigh", batch, "--step", "2", *args, "--by", "ana",
            settings=settings_file(tmp_path))
    assert (r.exit_code, r.output.splitlines()[-1]) == (2, message)


def test_component_label_reads_back_and_scans(tmp_path, db, batch):
    from test_labels_support import decode, raster

    out = ok(tmp_path, "inventory", "label", "LA-1")
    pdf_path = tmp_path / "labels" / "component-lactose-monohydrate-LA-1.pdf"
    assert out.splitlines()[:2] == [
        f"Wrote {pdf_path} (1 component lot label, template batch-thermal v1)",
        "lactose-monohydrate lot LA-1, expires 31 DEC 2030; Code 128: LA-1"]
    pdf = pdf_path.read_bytes()
    codes = decode(raster(pdf, 300))
    assert [(c.format.name, c.text) for c in codes] == [("Code128", "LA-1")]
    from test_labels_support import plumber_pages, page_text
    text = page_text(plumber_pages(pdf)[0][2])
    for piece in ("Lactose monohydrate", "Lot: LA-1", "Exp: 31 DEC 2030", "Potency: 100%"):
        assert piece in text
    # what the scanner reads from it identifies the lot at weighing
    ok(tmp_path, "batch", "weigh", batch, "--step", "2", "--scan", codes[0].text, "--amount",
       "12.699 g", "--by", "ana")
    assert weighings(db)[0][7:] == ("scan", "LA-1")


@pytest.mark.parametrize("args, code, message", [
    (["NOPE"], 2, "Error: no component lot 'NOPE' on record (receive it first: compounding "
                  "inventory receive)"),
    (["LA-1", "--template", "nope"], 2, None),
])
def test_component_label_refused(tmp_path, db, batch, args, code, message):
    r = run(tmp_path, "inventory", "label", *args)
    assert r.exit_code == code
    if message:
        assert r.output.splitlines()[-1] == message


def test_batch_lot_scanned_from_its_label(tmp_path, db, batch):
    out = ok(tmp_path, "batch", "weigh", f"]C0{batch}", "--step", "1", "--amount", "153 mg",
             "--by", "ana")
    assert out.startswith("Step 1 ")


def test_expired_at_weighing_with_the_clock_moved(tmp_path, db, batch):
    """A real process under faketime: the lot expired between receipt and weighing."""
    if not Path("/usr/bin/faketime").exists():
        pytest.skip("faketime not installed")
    env = {**os.environ, **ENV, "TZ": "UTC"}
    cmd = ["faketime", "2030-06-15 12:00:00", sys.executable, "-m", "compounding",
           "--formulas", str(ROOT / "formulas"), "batch", "weigh", batch, "--step", "1",
           "--scan", NX_SCAN, "--amount", "153 mg", "--by", "ana", "--db",
           str(tmp_path / "c.db")]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert (r.returncode, r.stderr) == (
        1, "Error: scanned naltrexone-hcl lot NX-2291 expired on 31 MAY 2030; it cannot be "
           "used\n")
    assert weighings(tmp_path / "c.db") == []


def test_kill_while_waiting_for_the_balance_leaves_nothing(tmp_path, db, batch):
    """kill -9 while the command waits for a stable reading: nothing recorded, the database
    intact, and the same weighing succeeds afterwards."""
    with SimBalance("command", ["S I"]) as sim:
        st = settings_file(tmp_path, sim.port, timeout=60)
        env = {**os.environ, **ENV}
        p = subprocess.Popen([sys.executable, "-m", "compounding", "--formulas",
                              str(ROOT / "formulas"), "--settings", str(st), "batch", "weigh",
                              batch, "--step", "2", "--from-balance", "bench-1", "--by", "ana",
                              "--db", str(tmp_path / "c.db")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while b"S\r\n" not in sim.received and time.monotonic() < deadline and \
                p.poll() is None:
            time.sleep(0.05)
        assert b"S\r\n" in sim.received, p.communicate()
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    assert weighings(db) == []
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    with SimBalance("command", ["S S     12.6990 g"]) as sim:
        ok(tmp_path, "batch", "weigh", batch, "--step", "2", "--from-balance", "bench-1",
           "--by", "ana", settings=settings_file(tmp_path, sim.port))
    assert [w[3] for w in weighings(db)] == ["balance"]


def test_source_rows_are_append_only_and_vouched_for(tmp_path, db, batch):
    """A source row cannot be edited or deleted, and one slipped in by SQL is reported."""
    with SimBalance("command", ["S S     12.6990 g"]) as sim:
        ok(tmp_path, "batch", "weigh", batch, "--step", "2", "--from-balance", "bench-1",
           "--by", "ana", settings=settings_file(tmp_path, sim.port))
    con = sqlite3.connect(db)
    for sql in ("UPDATE weighing_sources SET balance_serial = 'X'",
                "DELETE FROM weighing_sources"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(sql)
    wid = con.execute("SELECT id FROM weighings").fetchone()[0]
    con.execute("DROP TRIGGER weighing_sources_no_update")
    con.execute("UPDATE weighing_sources SET balance_serial = 'FORGED' WHERE weighing_id = ?",
                [wid])
    con.commit()
    con.close()
    with Store.open(db) as store:
        assert store.verify() == ["schema: trigger weighing_sources_no_update is missing (a "
                                  "migration made it)",
                                  f"weighing_sources {wid}: record differs from what audit "
                                  f"entry {_audit_id(db, 'batch.weigh-source')} recorded"]


def _audit_id(db, action) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT id FROM audit_log WHERE action = ?", [action]).fetchone()[0]
    finally:
        con.close()


def test_two_processes_race_for_one_step(tmp_path, db, batch):
    """Two technicians weigh step 2 at once from two balances: one weighing is recorded with
    its own balance's source row; the other is refused; the record verifies."""
    with SimBalance("command", ["S S     12.6990 g"]) as a, \
            SimBalance("command", ["S S     12.7010 g"], serial="C987") as b:
        st = tmp_path / "two.toml"
        st.write_text("".join(
            f'[balances.{name}]\nport = "{sim.port}"\nprotocol = "mt-sics"\n'
            f'readability = "1 mg"\nmin_weighable = "120 mg"\n' for name, sim in
            (("bench-1", a), ("bench-2", b))), encoding="utf-8")
        env = {**os.environ, **ENV}
        procs = [subprocess.Popen([sys.executable, "-m", "compounding", "--formulas",
                                   str(ROOT / "formulas"), "--settings", str(st), "batch",
                                   "weigh", batch, "--step", "2", "--from-balance", name,
                                   "--by", "ana", "--db", str(tmp_path / "c.db")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in ("bench-1", "bench-2")]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 1], results
    loser = next(r for r in results if r[2] == 1)
    assert loser[1] == ("Error: step 2 (Lactose monohydrate to bring the blend to 12.852 g) is "
                        "weighed already; to weigh it again give --reweigh REASON (both stay "
                        "on record)\n")
    rows = weighings(db)
    assert len(rows) == 1 and rows[0][3] == "balance"
    assert rows[0][4:6] in (("bench-1", "B123456789"), ("bench-2", "C987"))
    with Store.open(db) as store:
        assert store.verify() == []


@pytest.mark.parametrize("lot", ["\u0662611300012", "\uff12611300012", "2611300012\u200b"])
def test_batch_lot_in_other_digits_refused(tmp_path, db, lot):
    r = run(tmp_path, "batch", "weigh", lot, "--step", "1", "--amount", "1 mg", "--by", "ana")
    assert r.exit_code == 2
    assert r.output.startswith("Error: lot: ")
    assert "is not a batch lot ID (10 digits, e.g. 2605230011)" in r.output


def test_a_weighed_step_is_refused_before_the_balance_is_read(tmp_path, db, batch):
    ok(tmp_path, "batch", "weigh", batch, "--step", "2", "--amount", "12.699 g", "--by", "ana")
    with SimBalance("command", ["S S     12.6990 g"]) as sim:
        r = run(tmp_path, "batch", "weigh", batch, "--step", "2", "--from-balance", "bench-1",
                "--by", "ana", settings=settings_file(tmp_path, sim.port))
        received = sim.received
    assert (r.exit_code, r.output) == (1, "Error: step 2 (Lactose monohydrate to bring the "
                                          "blend to 12.852 g) is weighed already; to weigh it "
                                          "again give --reweigh REASON (both stay on record)\n")
    assert received == b""  # the balance was never asked
