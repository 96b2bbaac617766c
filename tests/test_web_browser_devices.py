"""End to end in a real browser (Playwright, Debian's Chromium) against a live `compounding
serve`, with an MT-SICS balance played on a pseudo-terminal (issues 16 and 17): a scan of the
wrong ingredient refused at the weighing, the right one confirmed, "Read balance" filling a
weighing, an overloaded balance refused on the page; a prescription's page, its dose chart
and a fill dispensed with its label downloaded. Screenshots go to $BENCH_SCREENSHOTS when
set (docs/img/ holds two of them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from balance_sim import SimBalance
from web_support import PHARM, ROOT, TECH, build_sample, live_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


def cli(settings, db, *args, passphrase=None):
    exe = Path(sys.executable).with_name("compounding")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "compounding"]
    env = {**os.environ, **({"COMPOUNDING_PASSPHRASE": passphrase} if passphrase else {})}
    r = subprocess.run([*cmd, "--settings", str(settings), "--formulas", str(ROOT / "formulas"),
                        "--templates", str(ROOT / "templates"), *args, "--db", str(db)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_scan_read_balance_and_dispense_a_fill(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    import sqlite3
    db, settings = build_sample(tmp_path)
    con = sqlite3.connect(db)  # the sample's lot IDs carry the day it was built
    lots = dict(con.execute("SELECT formula_id || ' ' || strength, lot_id FROM batches "
                            "WHERE status = 'released'").fetchall())
    con.close()
    caps, liq = lots["ldn-capsules 1.5 mg"], lots["ldn-oral-liquid 1 mg/mL"]
    shots = tmp_path / "screens"
    shots.mkdir()

    def snap(page, name):
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    with SimBalance("command", ["S I     0.1100 g", "S S     0.1268 g"]) as bal:
        settings.write_text(settings.read_text() + f"""
[balances.bench-1]
port = "{bal.port}"
protocol = "mt-sics"
readability = "0.1 mg"
min_weighable = "20 mg"
model = "XPR205"
timeout = 3
""", encoding="utf-8")
        cli(settings, db, "rx", "new", "RX-3001", "--formula", "ldn-oral-liquid", "--patient",
            "Zoë Nguyễn", "--prescriber", "Dr A. Example", "--start-date",
            date.today().isoformat(), "--start", "0.5mg", "--step", "0.5mg", "--every", "7d",
            "--target", "4.5mg", "--hold", "30d", "--by", PHARM[0], passphrase=PHARM[1])
        with live_server(db, settings, cwd=tmp_path) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = browser.new_context(viewport={"width": 1280, "height": 900},
                                           accept_downloads=True).new_page()
                errors = []
                page.on("console",
                        lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(url + "/login")
                page.get_by_label("User").fill(TECH[0])
                page.get_by_label("Passphrase").fill(TECH[1])
                page.get_by_role("button", name="Sign in").click()

                page.get_by_role("link", name="New batch").click()
                page.get_by_label("Quantity").fill("30")
                page.get_by_label("Strength").fill("1.5 mg")
                expect(page.locator("#plan-preview")).to_contain_text("1.5 mg")
                page.get_by_role("button", name="Create batch").click()
                expect(page).to_have_url(re.compile(r"/batches/\d{10}$"))
                lot = page.url.rsplit("/", 1)[1]

                # the scanner types the wrong ingredient's lot and Enter: refused at once
                scan = page.get_by_label("Scan the container, step 1", exact=True)
                scan.fill("SAMPLE-MCC-118")
                scan.press("Enter")
                expect(page.locator("#scanned-1")).to_have_text(
                    "Error: scanned microcrystalline-cellulose lot SAMPLE-MCC-118; step 1 "
                    "needs naltrexone-hcl")
                expect(page).to_have_url(re.compile(rf"/batches/{lot}$"))  # nothing posted
                # the right container: confirmed, its lot filled in, the amount focused
                scan.fill("SAMPLE-NX-2401")
                scan.press("Enter")
                expect(page.locator("#scanned-1")).to_have_text(
                    "naltrexone-hcl lot SAMPLE-NX-2401 confirmed by scan")
                expect(page.get_by_label("Component lot, step 1", exact=True)) \
                    .to_have_value("SAMPLE-NX-2401")
                expect(page.get_by_label("Amount weighed, step 1", exact=True)).to_be_focused()
                snap(page, "bench-weighing-scan")

                # Read balance: the stable reading fills the weighing, with the balance's
                # serial number (MT-SICS I4) on record
                page.locator("#step-1").get_by_role("button", name="Read balance").click()
                expect(page.locator(".flash.ok")).to_contain_text(
                    "Step 1 recorded: 126.8 mg against 127 mg planned (-0.16%); read from "
                    "balance bench-1 (serial B123456789, mt-sics): S S 0.1268 g; lot "
                    "confirmed by scan: SAMPLE-NX-2401")
                expect(page.locator("#step-1")).to_have_class("done")
                expect(page.locator("#step-1 .source")).to_have_text(
                    "balance bench-1 (SN B123456789), lot scanned")
                snap(page, "bench-read-balance")

                # an overloaded balance: one line on the page, nothing recorded
                bal.replies = [b"S +"]
                page.locator("#step-2").get_by_role("button", name="Read balance").click()
                expect(page.locator(".flash.error")).to_have_text(
                    re.compile(r"^Error: balance bench-1: .*overload"))
                expect(page.locator("#step-2")).to_have_class("pending")
                snap(page, "bench-balance-refused")

                # the prescription, its chart and a fill dispensed
                page.get_by_role("link", name="Prescriptions").click()
                page.get_by_role("link", name="RX-3001").click()
                expect(page.locator("h1")).to_have_text("Rx RX-3001")
                with page.expect_download() as dl:
                    page.get_by_role("link", name="Dose chart PDF (A4)").click()
                assert Path(dl.value.path()).read_bytes().startswith(b"%PDF")
                assert dl.value.suggested_filename == "rx-RX-3001-chart.pdf"
                snap(page, "bench-rx")
                page.get_by_label("Batch lot (scan the batch label)").fill(caps)
                page.get_by_role("button", name="Dispense fill").click()
                expect(page.locator(".flash.error")).to_have_text(
                    f"Error: lot {caps} is ldn-capsules; Rx RX-3001 is for "
                    "ldn-oral-liquid")
                page.get_by_label("Batch lot (scan the batch label)").fill(liq)
                page.get_by_role("button", name="Dispense fill").click()
                expect(page.locator(".flash.ok").first).to_contain_text(
                    f"Fill 1 of Rx RX-3001 dispensed from lot {liq}: 55 mL")
                expect(page.locator("#fill-1")).to_have_class("done")
                with page.expect_download() as dl:
                    page.get_by_role("link", name="Download the label PDF").click()
                assert Path(dl.value.path()).read_bytes().startswith(b"%PDF")
                snap(page, "bench-rx-dispensed")
                # the refusals above are 4xx answers, which Chromium logs as such; nothing else
                assert [e for e in errors if not re.fullmatch(
                    r"Failed to load resource: the server responded with a status of "
                    r"40[03] \((Forbidden|Bad Request)\)", e)] == []
                assert len(errors) == 3
            finally:
                browser.close()
        received = bal.received
    assert received.startswith(b"I4\r\n") and received.count(b"S\r\n") >= 3
    out = os.environ.get("BENCH_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        for p in shots.iterdir():
            shutil.copy(p, Path(out) / p.name)
    assert sorted(p.name for p in shots.iterdir()) == [
        "bench-balance-refused.png", "bench-read-balance.png", "bench-rx-dispensed.png",
        "bench-rx.png", "bench-weighing-scan.png"]
