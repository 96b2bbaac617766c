"""The bench's scan field and "Read balance" button at each weighing (issue 16) and its
prescription pages and fill dispensing (issue 17), through FastAPI's TestClient with a
balance played on a pseudo-terminal (tests/balance_sim.py). Each refusal is the CLI's
message, one line, and records nothing."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

from balance_sim import SimBalance
from web_support import PHARM, TECH, build_sample, client, copy_sample, errors_of, sign_in

FLASH_RE = re.compile(r'class="flash ok" role="status">([^<]*)<')


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("sample"))


def balance_toml(name: str, port: str, protocol: str = "mt-sics", **extra) -> str:
    values = {"port": port, "protocol": protocol, "readability": "0.1 mg",
              "min_weighable": "20 mg", "timeout": 1, **extra}
    body = "\n".join(f'{k} = {v if isinstance(v, int) else chr(34) + v + chr(34)}'
                     for k, v in values.items())
    return f"\n[balances.{name}]\n{body}\n"


def bench_with(sample, tmp_path, extra_settings: str = ""):
    db, settings = copy_sample(*sample, tmp_path)
    settings.write_text(settings.read_text() + extra_settings, encoding="utf-8")
    return db, settings, client(db, settings, tmp_path / "labels")


def new_batch(c, csrf, strength="1.5 mg", quantity="30") -> str:
    r = c.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                 "quantity": quantity, "strength": strength})
    assert r.status_code == 303, errors_of(r.text)
    return r.headers["location"].rsplit("/", 1)[1]


def flash(c, url) -> list[str]:
    import html
    return [html.unescape(x) for x in FLASH_RE.findall(c.get(url).text)]


def sample_lots(db) -> dict:
    """The quickstart's released batches by what they are (their lot IDs carry the day the
    sample was built), and the liquid's lot ID with a wrong check digit."""
    con = sqlite3.connect(db)
    try:
        rows = dict(con.execute("SELECT formula_id || ' ' || strength, lot_id FROM batches "
                                "WHERE status = 'released'").fetchall())
    finally:
        con.close()
    liq = rows["ldn-oral-liquid 1 mg/mL"]
    return {"caps": rows["ldn-capsules 1.5 mg"], "liq": liq,
            "bad": liq[:-1] + str((int(liq[-1]) + 1) % 10)}


def sources(db) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT w.step, w.quantity, w.unit, l.lot_number, "
                           "s.amount_source, s.balance_name, s.balance_serial, s.lot_source "
                           "FROM weighings w LEFT JOIN weighing_sources s ON "
                           "s.weighing_id = w.id LEFT JOIN component_lots l ON "
                           "l.id = w.component_lot_id ORDER BY w.id").fetchall()
    finally:
        con.close()


def count(db, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


# ---------------------------------------------------------------- Read balance (issue 16)

def test_read_balance_fills_the_weighing_and_records_the_balance(sample, tmp_path):
    with SimBalance("command", ["S I     0.1100 g", "S S     0.1215 g"]) as bal:
        db, _, c = bench_with(sample, tmp_path, balance_toml("bench-1", bal.port))
        csrf = sign_in(c, *TECH)
        lot = new_batch(c, csrf)
        before = len(sources(db))
        page = c.get(f"/batches/{lot}").text
        assert page.count(">Read balance</button>") == page.count('class="weigh"') >= 3
        r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                                  "action": "balance",
                                                  "scan": "SAMPLE-NX-2401"})
        assert r.status_code == 303, errors_of(r.text)
        assert r.headers["location"] == f"/batches/{lot}#step-1"
        assert bal.received.startswith(b"I4\r\n") and b"S\r\n" in bal.received
    assert flash(c, f"/batches/{lot}") == [
        "Step 1 recorded: 121.5 mg against 127 mg planned (-4.33%); read from balance "
        "bench-1 (serial B123456789, mt-sics): S S     0.1215 g; lot confirmed by scan: "
        "SAMPLE-NX-2401"]
    rows = sources(db)
    assert len(rows) == before + 1
    assert rows[-1] == (1, "0.1215", "g", "SAMPLE-NX-2401", "balance", "bench-1",
                        "B123456789", "scan")
    page = c.get(f"/batches/{lot}").text
    assert '<span class="source">balance bench-1 (SN B123456789), lot scanned</span>' in page


@pytest.mark.parametrize("replies, status, message", [
    (["S +"], 400, "balance bench-1: overload (S +): take weight off the pan"),
    (["S D     0.1215 g"], 400, None),   # never stable: the timeout's message
    ([], 400, None),                     # silent balance
    (["S S     0.1215 oz"], 400, None),  # not grams
])
def test_balance_refusals_are_one_line_and_record_nothing(sample, tmp_path, replies, status,
                                                          message):
    from compounding.devices.balances import read_balance
    from compounding.errors import CompoundingError
    from compounding.settings import load_settings
    with SimBalance("command", replies or ["S I"], serial=None if not replies else
                    "B123456789") as bal:
        db, settings, c = bench_with(sample, tmp_path, balance_toml("bench-1", bal.port))
        csrf = sign_in(c, *TECH)
        lot = new_batch(c, csrf)
        before = sources(db)
        r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                                  "action": "balance"})
        assert r.status_code == status
        (shown,) = errors_of(r.text)
        # the same words as the library gives the CLI, for the same balance
        try:
            read_balance(load_settings(settings), "bench-1")
        except CompoundingError as exc:
            cli_message = str(exc)
        else:
            cli_message = None
    assert shown == cli_message
    if message:
        assert shown.startswith(message.split(":")[0])
    assert "\n" not in shown and shown.startswith("balance bench-1: ")
    assert sources(db) == before


@pytest.mark.parametrize("extra, form, message", [
    ("", {}, "balance: no balance is configured; add a [balances.NAME] table to the pharmacy "
             "settings (docs/devices.md), or type the amount"),
    ("two", {}, "balance: choose the balance you weighed on: bench-1, bench-2"),
    ("two", {"balance": "bench-9"}, "--from-balance: unknown balance 'bench-9'; known: "
                                     "bench-1, bench-2"),
    ("one", {"amount": "127 mg"}, "amount: a typed amount and a balance reading, not both; "
                                  "clear the amount to read the balance"),
])
def test_balance_choice_refusals(sample, tmp_path, extra, form, message):
    toml = {"": "", "one": balance_toml("bench-1", "/dev/null"),
            "two": balance_toml("bench-1", "/dev/null") + balance_toml("bench-2",
                                                                       "/dev/null")}[extra]
    db, _, c = bench_with(sample, tmp_path, toml)
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf)
    page = c.get(f"/batches/{lot}").text
    assert ('<label for="balance-1">Balance, step 1</label>' in page) == (extra == "two")
    before = sources(db)
    r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                              "action": "balance", **form})
    assert r.status_code == 400
    assert errors_of(r.text) == [message]
    assert sources(db) == before


def test_api_weighing_from_a_balance_and_its_refusal(sample, tmp_path):
    with SimBalance("command", ["S S     0.1270 g"]) as bal:
        db, _, c = bench_with(sample, tmp_path, balance_toml("bench-1", bal.port))
        csrf = sign_in(c, *TECH)
        lot = new_batch(c, csrf)
        r = c.post(f"/api/v1/batches/{lot}/weighings", headers={"X-CSRF-Token": csrf},
                   json={"step": 1, "from_balance": "bench-1"})
        assert r.status_code == 201, r.text
        w = r.json()
        assert (w["quantity"], w["unit"], w["source"]["balance_serial"]) == \
            ("0.127", "g", "B123456789")
        r = c.post(f"/api/v1/batches/{lot}/weighings", headers={"X-CSRF-Token": csrf},
                   json={"step": 1, "from_balance": "bench-1"})
        assert r.status_code == 403
        assert r.json() == {"error": "step 1 (Naltrexone hydrochloride for dilution 1) is "
                                     "weighed already; to weigh it again give --reweigh "
                                     "REASON (both stay on record)"}
    r = c.get("/api/v1/balances")
    assert r.json() == [{"name": "bench-1", "protocol": "mt-sics", "model": None,
                         "serial_number": None, "readability": "0.1 mg",
                         "min_weighable": "20 mg"}]


def test_two_reads_of_one_balance_at_once_one_is_refused(sample, tmp_path):
    """The port is opened exclusively: a second weighing reading the same balance (another
    bench client, or the CLI) is told it is in use instead of sharing its replies."""
    import serial
    with SimBalance("command", ["S S     0.1270 g"]) as bal:
        db, _, c = bench_with(sample, tmp_path, balance_toml("bench-1", bal.port))
        csrf = sign_in(c, *TECH)
        lot = new_batch(c, csrf)
        holder = serial.Serial(bal.port, exclusive=True)  # someone else is reading it
        try:
            r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                                      "action": "balance"})
        finally:
            holder.close()
        assert errors_of(r.text) == [f"balance bench-1: port {bal.port} is in use: another "
                                     "weighing is reading this balance; try again when it is "
                                     "done"]
        assert r.status_code == 400
        r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                                  "action": "balance"})
        assert r.status_code == 303, errors_of(r.text)


# ---------------------------------------------------------------- the scan field (issue 16)

@pytest.mark.parametrize("scan, message", [
    ("SAMPLE-MCC-118", "scanned microcrystalline-cellulose lot SAMPLE-MCC-118; step 1 needs "
                       "naltrexone-hcl"),
    ("NX-NEVER-1", "scanned naltrexone-hcl lot NX-NEVER-1, which was never received (not on "
                   "record); receive it first: compounding inventory receive"),
    ("{caps}", "scanned the label of batch {caps}; this weighing is for batch {lot}"),
    ("SAMPLE\u200bNX", "--scan: character U+200B (ZERO WIDTH SPACE) at position 7 is an "
                       "invisible formatting character (zero-width or direction mark)"),
])
def test_scan_refusals_at_the_weighing_page_and_api(sample, tmp_path, scan, message):
    db, _, c = bench_with(sample, tmp_path)
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf)
    scan = scan.format(**sample_lots(db))
    message = message.format(lot=lot, **sample_lots(db))
    before = sources(db)
    r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                              "amount": "127 mg", "scan": scan})
    assert errors_of(r.text) == [message]
    assert r.status_code in (400, 403)
    r2 = c.get(f"/api/v1/batches/{lot}/steps/1/scan", params={"code": scan})
    assert (r2.status_code, r2.json()) == (r.status_code, {"error": message})
    assert sources(db) == before


def test_an_expired_lot_scanned_is_refused(sample, tmp_path):
    from compounding.store import Store
    from compounding import units as u
    db, _, c = bench_with(sample, tmp_path)
    with Store.open(db) as store:
        store.receive_lot("naltrexone-hcl", "NX-OLD-1", date.today() + timedelta(days=1),
                          u.q("5", "g"), "tess")
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf)
    from datetime import datetime, timezone
    later = client(db, tmp_path / "sample.toml", tmp_path / "labels")  # three days on
    later.app.state.bench.config.store_clock = \
        lambda: datetime.now(timezone.utc) + timedelta(days=3)
    csrf2 = sign_in(later, *TECH)
    r = later.get(f"/api/v1/batches/{lot}/steps/1/scan", params={"code": "NX-OLD-1"})
    exp = (date.today() + timedelta(days=1)).strftime("%d %b %Y").upper()
    assert r.json() == {"error": f"scanned naltrexone-hcl lot NX-OLD-1 expired on {exp}; it "
                                 "cannot be used"}
    before = sources(db)
    r = later.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf2, "step": "1",
                                                  "amount": "127 mg", "scan": "NX-OLD-1"})
    assert errors_of(r.text) == [f"scanned naltrexone-hcl lot NX-OLD-1 expired on {exp}; "
                                 "it cannot be used"]
    assert sources(db) == before


def test_a_scan_confirms_the_lot_and_is_recorded(sample, tmp_path):
    db, _, c = bench_with(sample, tmp_path)
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf)
    r = c.get(f"/api/v1/batches/{lot}/steps/1/scan", params={"code": "SAMPLE-NX-2401"})
    assert r.json() == {"ok": True, "kind": "component", "lot": "SAMPLE-NX-2401",
                        "ingredient": "naltrexone-hcl", "scan": "SAMPLE-NX-2401",
                        "message": "naltrexone-hcl lot SAMPLE-NX-2401 confirmed by scan"}
    r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                              "amount": "127 mg", "scan": "SAMPLE-NX-2401",
                                              "component_lot": "SAMPLE-NX-2401"})
    assert r.status_code == 303, errors_of(r.text)
    assert sources(db)[-1] == (1, "127", "mg", "SAMPLE-NX-2401", "typed", None, None, "scan")
    # a typed lot that is not the scanned one is refused (the CLI's words)
    r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "2",
                                              "amount": "1 mg", "scan": "SAMPLE-MCC-118",
                                              "component_lot": "SAMPLE-MCC-119"})
    assert errors_of(r.text) == ["--component-lot SAMPLE-MCC-119 and the scanned lot "
                                 "SAMPLE-MCC-118 differ"]


def test_an_aliquot_step_takes_the_batch_own_label(sample, tmp_path):
    db, _, c = bench_with(sample, tmp_path)
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf, strength="0.1 mcg", quantity="100")
    steps = c.get(f"/api/v1/batches/{lot}").json()["steps"]
    aliquot = [s["step"] for s in steps if s["ingredient"] is None]
    assert aliquot, "the 0.1 mcg capsules plan has an aliquot step"
    n = aliquot[0]
    page = c.get(f"/batches/{lot}").text
    assert f'<label for="scan-{n}">Scan the batch label, step {n}</label>' in page
    r = c.get(f"/api/v1/batches/{lot}/steps/{n}/scan", params={"code": lot})
    assert r.json()["kind"] == "batch"
    r = c.get(f"/api/v1/batches/{lot}/steps/{n}/scan", params={"code": "SAMPLE-NX-2401"})
    assert r.json() == {"error": f"step {n} is an aliquot of a dilution made in this batch; "
                                 f"scan the batch's own label ({lot}), not a component lot"}


# ---------------------------------------------------------------- prescriptions (issue 17)

def rx_new(db, settings, rx="RX-2001", formula="ldn-oral-liquid", extra=()):
    from compounding.cli import cli
    from web_support import ROOT
    r = CliRunner().invoke(cli, [
        "--settings", str(settings), "--formulas", str(ROOT / "formulas"), "--templates",
        str(ROOT / "templates"), "rx", "new", rx, "--formula", formula, "--patient",
        "Zoë Nguyễn", "--prescriber", "Dr A. Example", "--start-date",
        date.today().isoformat(), *extra, "--by", PHARM[0], "--db", str(db)],
        env={"COMPOUNDING_PASSPHRASE": PHARM[1]})
    assert r.exit_code == 0, r.output
    return rx


LIQUID = ("--start", "0.5mg", "--step", "0.5mg", "--every", "7d", "--target", "4.5mg",
          "--hold", "30d")


def test_prescription_list_show_and_chart(sample, tmp_path):
    db, settings, c = bench_with(sample, tmp_path)
    rx_new(db, settings, "RX-2001/A", extra=LIQUID)
    sign_in(c, *TECH)
    page = c.get("/rx").text
    assert '<a href="/rx/view?rx=RX-2001%2FA">RX-2001/A</a>' in page
    assert "Zoë Nguyễn" in page
    assert "No prescriptions on record for Nobody" in c.get("/rx?patient=Nobody").text
    page = c.get("/rx/view", params={"rx": "RX-2001/A"}).text
    assert "<tr><td>0.5 mg</td><td>0.5 mL</td>" in page
    assert page.count('<tr id="fill-') == 3
    assert '<button type="submit">Dispense fill</button>' in page
    for params, box in [({"page_size": "letter"}, b"612 792"), ({"page_size": "a4"},
                                                                 b"595.2756 841.8898"),
                        ({"fill": "2"}, b"612 792")]:
        r = c.get("/rx/chart.pdf", params={"rx": "RX-2001/A", **params})
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        assert box in r.content
        name = "rx-RX-2001-A-chart" + ("-fill-2" if "fill" in params else "") + ".pdf"
        assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
    for params, status, message in [
            ({"rx": "RX-2001/A", "fill": "4"}, 400, "fill: Rx RX-2001/A has 3 fills; not 4"),
            ({"rx": "RX-2001/A", "fill": "\u0661"}, 400,
             "fill: '\u0661' must be a whole number from 1 to 10000"),
            ({"rx": "RX-2001/A", "page_size": "legal"}, 400,
             "page-size: 'legal' is not one of letter, a4"),
            ({"rx": "RX-NONE"}, 404, "rx: no prescription 'RX-NONE' on record")]:
        r = c.get("/rx/chart.pdf", params=params)
        assert r.status_code == status
        assert re.search(r"<p[^>]*>([^<]*)</p>", r.text.split("<main>")[1]).group(1) \
            .endswith(message.replace("'", "&#39;")), r.text
    assert c.get("/rx/view", params={"rx": "RX-NONE"}).status_code == 404


def test_dispense_a_fill_records_it_and_reprints_a_second(sample, tmp_path):
    db, settings, c = bench_with(sample, tmp_path)
    rx_new(db, settings, extra=LIQUID)
    csrf = sign_in(c, *TECH)
    caps, liq, bad = (sample_lots(db)[k] for k in ("caps", "liq", "bad"))
    prints, fills = count(db, "label_prints"), count(db, "prescription_fills")
    refusals = [
        ({"lot": caps}, 403, f"lot {caps} is ldn-capsules; Rx RX-2001 is for "
                              "ldn-oral-liquid"),
        ({"lot": bad}, 400, None),                    # a wrong check digit
        ({"lot": liq, "fill": "7"}, 400, "fill: Rx RX-2001 has fills 1 to 3; not 7"),
        ({"lot": liq, "fill": "2"}, 403, None),       # the lot's BUD is too early
        ({"lot": ""}, 400, "lot: scan the batch label or type its 10-digit lot ID"),
    ]
    for form, status, message in refusals:
        r = c.post("/rx/dispense", data={"csrf_token": csrf, "rx": "RX-2001", "fill": "1",
                                         **form})
        assert r.status_code == status, (form, errors_of(r.text))
        (shown,) = errors_of(r.text)
        if message:
            assert shown == message
    assert (count(db, "label_prints"), count(db, "prescription_fills")) == (prints, fills)
    r = c.post("/rx/dispense", data={"csrf_token": csrf, "rx": "RX-2001", "fill": "1",
                                     "lot": liq})
    assert r.status_code == 303, errors_of(r.text)
    assert r.headers["location"] == "/rx/view?rx=RX-2001#fills"
    page = c.get("/rx/view", params={"rx": "RX-2001"})
    first = date.today()
    last = first + timedelta(days=34)
    fmt = lambda d: d.strftime("%d %b %Y").upper()  # noqa: E731
    assert FLASH_RE.findall(page.text) == [
        f"Fill 1 of Rx RX-2001 dispensed from lot {liq}: 55 mL, {fmt(first)} to "
        f"{fmt(last)}; label printed to PDF. Directions: Follow the dose chart. Start with "
        f"0.5 mL (0.5 mg) by mouth at bedtime on {fmt(first)}."]
    link = re.search(rf'href="(/batches/{liq}/prints/\d+\.pdf)"', page.text).group(1)
    pdf = c.get(link)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert (count(db, "label_prints"), count(db, "prescription_fills")) == \
        (prints + 1, fills + 1)
    # the same fill from the same lot again: its label is reprinted (issue 12 part 7),
    # recorded as a reprint, no second fill, nothing counted again
    r = c.post("/rx/dispense", data={"csrf_token": csrf, "rx": "RX-2001", "fill": "1",
                                     "lot": liq})
    assert r.status_code == 303, errors_of(r.text)
    page = c.get("/rx/view", params={"rx": "RX-2001"})
    assert FLASH_RE.findall(page.text) == [
        f"Fill 1 of Rx RX-2001 label printed again from lot {liq}: 55 mL, {fmt(first)} to "
        f"{fmt(last)}; label printed to PDF. Directions: Follow the dose chart. Start with "
        f"0.5 mL (0.5 mg) by mouth at bedtime on {fmt(first)}. Recorded as a REPRINT (this "
        f"fill was dispensed from this lot on {fmt(first)}; not counted again)."]
    assert (count(db, "label_prints"), count(db, "prescription_fills")) == \
        (prints + 2, fills + 1)
    assert count(db, "label_prints WHERE reprint = 1 AND kind = 'dispensing'") == 1
    # recall of the lot reaches the patient
    rec = c.get("/api/v1/recall", params={"batch": liq}).json()
    assert any(d["patient"] == "Zoë Nguyễn" and d["rx_number"] == "RX-2001"
               for d in rec["dispensed"])


def test_dispense_form_needs_csrf(sample, tmp_path):
    db, settings, c = bench_with(sample, tmp_path)
    rx_new(db, settings, extra=LIQUID)
    sign_in(c, *TECH)
    r = c.post("/rx/dispense", data={"csrf_token": "x", "rx": "RX-2001", "fill": "1",
                                     "lot": sample_lots(db)["liq"]})
    assert r.status_code == 403
    assert count(db, "prescription_fills") == 0


def test_dispense_a_fill_to_a_printer_and_a_printer_not_ready(sample, tmp_path):
    """The fill's label sent to a ZPL printer (a fake raw printer on 127.0.0.1): sent,
    recorded with the fill; a printer reporting paper out records nothing."""
    from printing_support import FakePrinter
    fp, out = FakePrinter(), FakePrinter(paper_out=1)
    try:
        db, settings, c = bench_with(sample, tmp_path, f"""
[printers.zebra-1]
language = "zpl"
dpi = 203
connection = "{fp.url}"
check_status = true
[printers.zebra-2]
language = "zpl"
dpi = 203
connection = "{out.url}"
check_status = true
[template_printers]
dispensing-thermal = "zebra-1"
""")
        rx_new(db, settings, extra=LIQUID)
        liq = sample_lots(db)["liq"]
        csrf = sign_in(c, *TECH)
        page = c.get("/rx/view", params={"rx": "RX-2001"}).text
        assert '<option value="zebra-1" selected>' in page
        r = c.post("/rx/dispense", data={"csrf_token": csrf, "rx": "RX-2001", "fill": "1",
                                         "lot": liq, "printer": "zebra-2"})
        assert r.status_code == 502
        (shown,) = errors_of(r.text)
        assert shown.startswith("printer 'zebra-2' (tcp://127.0.0.1:") and "paper out" in shown
        assert count(db, "prescription_fills") == 0 and out.jobs == []
        r = c.post("/rx/dispense", data={"csrf_token": csrf, "rx": "RX-2001", "fill": "1",
                                         "lot": liq, "printer": "zebra-1"})
        assert r.status_code == 303, errors_of(r.text)
        (job,) = fp.wait_jobs(1)
        assert job.startswith(f"^XA\n^FXcompounding label: lot {liq}, template "
                              "dispensing-thermal v1, 203 dpi".encode())
        got = flash(c, "/rx/view?rx=RX-2001")
        assert len(got) == 1 and "; label sent to printer zebra-1 (" in got[0]
        assert count(db, "prescription_fills") == 1
    finally:
        fp.close()
        out.close()


@pytest.mark.parametrize("method, url, data, status, message", [
    ("post", "/batches/{lot}/weigh", {"step": "\u0661", "action": "balance"}, 400,
     "step: '\u0661' is not a step number (1, 2, 3...)"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "action": "delete"}, 400,
     "action: 'delete' is not one of record, balance"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "action": "balance",
                                      "balance": "bench-1\u202e"}, 400,
     "--from-balance: unknown balance 'bench-1\\u202e'; known: bench-1"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "action": "balance", "balance": "x" * 300},
     400, "--from-balance: unknown balance '" + "x" * 40 + "'... (300 characters); known: "
          "bench-1"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "amount": "NaN mg"}, 400,
     "--amount: 'NaN mg': does not start with a number; write e.g. '1.5 mg'"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "amount": "1e3 mg"}, 400,
     "--amount: '1e3 mg': scientific notation is not accepted; write the number in full"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "amount": "127 mg",
                                      "scan": "\u05d0\u05d1"}, 400,
     "--scan: character U+05D0 (HEBREW LETTER ALEF) at position 1 is not ASCII; a scanner "
     "types printable ASCII and GS only"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "amount": "127 mg", "scan": "A" * 300},
     400, "--scan: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' is not a lot number: it is 300 "
          "characters; a lot is 1 to 20 printable ASCII characters without spaces"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "amount": "127 mg", "scan": "NX\x07"},
     400, "--scan: character U+0007 (ALERT) at position 3 is a control "
          "character other than the group separator (GS)"),
    ("post", "/batches/{lot}/weigh", {"step": "1", "amount": "127 mg",
                                      "scan": "\uff11\uff12"}, 400,
     "--scan: character U+FF11 (FULLWIDTH DIGIT ONE) at position 1 is a digit of another "
     "script; barcodes carry ASCII digits 0-9 only"),
    ("get", "/api/v1/batches/{lot}/steps/1/scan", {"code": "1e3"}, 403,
     "scanned naltrexone-hcl lot 1e3, which was never received (not on record); receive it "
     "first: compounding inventory receive"),
    ("get", "/api/v1/batches/{lot}/steps/1/scan", {"code": ""}, 400,
     "--scan: the scan is empty"),
    ("get", "/api/v1/batches/{lot}/steps/9/scan", {"code": "SAMPLE-NX-2401"}, 400,
     "--step: the plan has steps 1 to 4, not 9"),
    ("get", "/api/v1/batches/{bad}/steps/1/scan", {"code": "SAMPLE-NX-2401"}, 400,
     "LOT: '{bad}' has a wrong check digit (mistyped lot ID?)"),
    ("get", "/rx/chart.pdf", {"rx": "RX\u202e1"}, 400,
     "rx: 'RX\\u202e1' is not an Rx number; use 1 to 30 ASCII letters, digits, '-', '/' or "
     "'.', starting with a letter or digit"),
    ("get", "/rx/view", {"rx": ""}, 400,
     "rx: '' is not an Rx number; use 1 to 30 ASCII letters, digits, '-', '/' or '.', "
     "starting with a letter or digit"),
    ("get", "/scan", {"code": "(01)09501101530010(17)300500(10){liq}"}, 303,
     "scan: GTIN 09501101530010 is not on this pharmacy's batch labels (a supplier's "
     "container? scan it at its weighing); scan the batch label or type its lot ID"),
    ("post", "/rx/dispense", {"rx": "RX-1", "fill": "1", "lot": "{liq}"}, 404,
     "rx: no prescription 'RX-1' on record"),
])
def test_hostile_input_is_one_line(sample, tmp_path, method, url, data, status, message):
    db, _, c = bench_with(sample, tmp_path, balance_toml("bench-1", "/dev/null"))
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf)
    before = sources(db)
    names = {"lot": lot, **sample_lots(db)}
    url = url.format(**names)
    data = {k: v.format(**names) if k in ("lot", "code") else v for k, v in data.items()}
    message = message.format(**names) if "{bad}" in message else message
    if method == "post":
        r = c.post(url, data={"csrf_token": csrf, **data})
    else:
        r = c.get(url, params=data)
    assert r.status_code == status
    if url.startswith("/api/"):
        assert r.json() == {"error": message}
    elif status == 303:  # the queue's scan field: back to the queue with the line
        assert r.headers["location"] == "/"
        assert errors_of(c.get("/").text) == [message]
    else:
        assert errors_of(r.text) == [message]
    assert sources(db) == before
