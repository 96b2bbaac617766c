"""End to end in a real browser: Playwright driving Debian's Chromium against a live
`compounding serve` on 127.0.0.1 (issue 15). One technician-and-pharmacist session in one
test (a browser start costs seconds); a screenshot of every page is saved and the run's
pictures go to $BENCH_SCREENSHOTS when set (docs/img/ holds a few of them)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from web_support import PHARM, TECH, build_sample, live_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


def test_technician_and_pharmacist_at_the_bench(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from test_labels_support import decode, raster

    db, settings = build_sample(tmp_path)
    shots = tmp_path / "screens"
    shots.mkdir()

    def snap(page, name):
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    with live_server(db, settings, cwd=tmp_path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        dialogs = []
        try:
            tech = browser.new_context(viewport={"width": 1280, "height": 860},
                                       accept_downloads=True).new_page()
            tech.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            errors = []
            tech.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            # sign in
            tech.goto(url + "/login")
            snap(tech, "01-sign-in")
            tech.get_by_label("User").fill(TECH[0])
            tech.get_by_label("Passphrase").fill(TECH[1])
            tech.get_by_role("button", name="Sign in").click()
            expect(tech.get_by_label("Scan or type a lot")).to_be_focused()
            snap(tech, "02-work-queue")

            # a new batch with the live plan preview
            tech.get_by_role("link", name="New batch").click()
            tech.get_by_label("Quantity").fill("30")
            tech.get_by_label("Strength").fill("1.5 mg")
            expect(tech.locator("#plan-preview")).to_contain_text("1.5 mg")
            snap(tech, "03-new-batch")
            tech.get_by_role("button", name="Create batch").click()
            expect(tech).to_have_url(re.compile(r"/batches/\d{10}$"))
            lot = tech.url.rsplit("/", 1)[1]

            # every weighing, the tolerance shown as the amount is typed
            n = tech.locator("input.amount").count()
            assert n >= 3
            for step in range(1, n + 1):
                amount = tech.get_by_label(f"Amount weighed, step {step}", exact=True)
                amount.fill(amount.get_attribute("placeholder").replace("\u00a0", " "))
                expect(tech.locator(f"#tol-{step}")).to_contain_text("within tolerance")
                if step == 1:
                    snap(tech, "04-weighing")
                tech.get_by_role("button", name=f"Record step {step}", exact=True).click()
                expect(tech.locator(f"#step-{step}")).to_have_class("done")
            expect(tech.locator(".status")).to_have_text("compounded")
            snap(tech, "05-batch-weighed")

            # a technician's release post is refused by the server (the CLI's message)
            csrf = tech.locator("input[name=csrf_token]").first.get_attribute("value")
            r = tech.request.post(f"{url}/batches/{lot}/release",
                                  form={"csrf_token": csrf, "passphrase": TECH[1]},
                                  max_redirects=0)
            assert r.status == 403
            assert (f"tess is a technician; only a pharmacist may release batch {lot}"
                    in r.text())
            # a form post without the CSRF token is refused
            r = tech.request.post(f"{url}/batches/{lot}/weigh",
                                  form={"step": "1", "amount": "1 mg", "reweigh_reason": "x"},
                                  max_redirects=0)
            assert r.status == 403 and "CSRF token is missing or wrong" in r.text()

            # the pharmacist verifies and releases, typing the passphrase at each signature
            ph = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
            ph.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            ph.goto(url + "/login")
            ph.get_by_label("User").fill(PHARM[0])
            ph.get_by_label("Passphrase").fill(PHARM[1])
            ph.get_by_role("button", name="Sign in").click()
            ph.get_by_role("link", name="Verification", exact=True).click()
            snap(ph, "06-verification-queue")
            ph.get_by_role("link", name=lot).click()
            expect(ph.locator("ul.checks")).to_contain_text("[PASS] every plan step weighed")
            snap(ph, "07-verification")
            verify = ph.locator(f"form[action='/batches/{lot}/verify']")
            verify.get_by_label("Passphrase").fill(PHARM[1])
            ph.get_by_role("button", name="Verify", exact=True).click()
            expect(ph.locator(".flash.ok")).to_contain_text(f"Batch {lot} verified")
            release = ph.locator(f"form[action='/batches/{lot}/release']")
            release.get_by_label("Passphrase").fill(PHARM[1])
            ph.get_by_role("button", name="Release", exact=True).click()
            expect(ph.locator(".flash.ok")).to_contain_text(f"Batch {lot} released")
            expect(ph.locator(".status")).to_have_text("released")
            for path, name in (("/approvals", "10-approvals"), ("/inventory", "11-inventory")):
                ph.goto(url + path)
                snap(ph, name)

            # the technician prints the labels and downloads the PDF; its barcode decodes
            tech.goto(f"{url}/batches/{lot}")
            tech.get_by_role("button", name="Print labels").click()
            expect(tech.locator(".flash.ok").first).to_contain_text("Labels printed to PDF")
            snap(tech, "08-labels-printed")
            with tech.expect_download() as dl:
                tech.get_by_role("link", name="Download the label PDF").click()
            pdf = Path(dl.value.path()).read_bytes()
            assert pdf.startswith(b"%PDF")
            texts = {b.text for b in decode(raster(pdf, 300))}
            assert lot in texts

            # a patient named like a script is shown as text (and runs nothing)
            evil = "<script>alert(1)</script>"
            tech.get_by_label("Patient").fill(evil)
            tech.get_by_label("Directions").fill("Take one capsule at bedtime")
            tech.get_by_label("Prescriber").fill("Dr A. Smith")
            tech.get_by_label("Rx number").fill("RX-1")
            tech.get_by_label("Quantity dispensed").fill("30")
            tech.get_by_role("button", name="Print dispensing label").click()
            expect(tech.locator(".flash.ok").first).to_contain_text(evil)
            tech.goto(f"{url}/recall?batch={lot}")
            expect(tech.get_by_role("cell", name=evil)).to_be_visible()
            snap(tech, "09-recall")
            tech.goto(f"{url}/batches/{lot}/audit")
            snap(tech, "12-audit")
            assert dialogs == []
            assert errors == []
        finally:
            browser.close()

    out = os.environ.get("BENCH_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        for p in shots.iterdir():
            shutil.copy(p, Path(out) / p.name)
    assert len(list(shots.iterdir())) == 12
