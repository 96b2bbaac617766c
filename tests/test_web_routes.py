"""The bench's routes through FastAPI's TestClient: sign-in, sessions, CSRF, roles, the
technician and pharmacist flows, the same refusals as the CLI, the JSON API's shapes."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from click.testing import CliRunner

from web_support import (PHARM, TECH, build_sample, client, copy_sample, csrf_of, errors_of,
                         sign_in)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def shared_app(sample, tmp_path_factory):
    """One application for the module (building FastAPI's routes costs ~0.4 s); each test
    points it at its own copy of the sample database and starts with no sessions."""
    db, settings = copy_sample(*sample, tmp_path_factory.mktemp("first"))
    return client(db, settings, db.parent / "labels").app


@pytest.fixture
def bench(sample, shared_app, tmp_path):
    from fastapi.testclient import TestClient
    from compounding.web.sessions import SessionStore
    db, settings = copy_sample(*sample, tmp_path)
    b = shared_app.state.bench
    b.config.db_path, b.labels_dir = db, tmp_path / "labels"
    b.sessions = SessionStore(b.sessions.idle_seconds)
    return {"db": db, "settings": settings, "labels": tmp_path / "labels",
            "c": TestClient(shared_app, follow_redirects=False)}


def cli(bench, *args, passphrase=None):
    from compounding.cli import cli as root
    env = {"COMPOUNDING_PASSPHRASE": passphrase} if passphrase else {}
    return CliRunner().invoke(root, ["--settings", str(bench["settings"]), *args[:2],
                                     "--db", str(bench["db"]), *args[2:]], env=env)


def new_batch(bench, c, csrf, strength="1.5 mg", quantity="30"):
    r = c.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                 "quantity": quantity, "strength": strength})
    assert r.status_code == 303, errors_of(r.text)
    return r.headers["location"].rsplit("/", 1)[1]


def planned_and_ten_percent_over(step) -> tuple[str, str]:
    """(the planned amount as printed, an amount 10% over it as typed); 1.1 x P is exact in
    Decimal, so the deviation is exactly 10%."""
    from decimal import Decimal
    from compounding import units as u
    p = u.q(Decimal(step["quantity"]), step["unit"])
    return u.fmt(p), u.fmt(u.q(p.value * Decimal("1.1"), p.unit))


def weigh_all(c, csrf, lot):
    steps = c.get(f"/api/v1/batches/{lot}").json()["steps"]
    for s in steps:
        r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": str(s["step"]),
                                                  "amount": f"{s['quantity']} {s['unit']}"})
        assert r.status_code == 303, errors_of(r.text)
    return steps


# ---------------------------------------------------------------- sign-in and sessions

def test_login_page_headers_and_cookie(bench):
    r = bench["c"].get("/login")
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "<script>" not in r.text and " style=" not in r.text  # CSP: nothing inline
    for name in ('<label for="user">User</label>', '<label for="passphrase">Passphrase</label>',
                 '<button type="submit">Sign in</button>'):
        assert name in r.text


@pytest.mark.parametrize("user, passphrase, status, message", [
    ("tess", "wrong-passphrase", 403,
     "wrong passphrase for tess (attempt 1; 5 in a row lock the user)"),
    ("nobody", "whatever-pass", 403,
     "no user 'nobody'; a pharmacist adds users with `compounding users add`"),
    ("", "whatever-pass", 400, "user: type your user name"),
    ("t\u200bess", "sample-technician", 400,  # the CLI's --by normaliser
     "user: character U+200B (ZERO WIDTH SPACE) at position 2 is an invisible formatting "
     "character (zero-width or direction mark)"),
])
def test_sign_in_refusals(bench, user, passphrase, status, message):
    c = bench["c"]
    r = c.post("/login", data={"user": user, "passphrase": passphrase,
                               "csrf_token": csrf_of(c.get("/login").text)})
    assert r.status_code == status
    assert errors_of(r.text) == [message]


def test_five_wrong_passphrases_lock_the_user_as_in_the_cli(bench):
    c = bench["c"]
    for i in range(1, 6):
        r = c.post("/login", data={"user": "tess", "passphrase": "wrong-passphrase",
                                   "csrf_token": csrf_of(c.get("/login").text)})
    assert len(errors_of(r.text)) == 1 and errors_of(r.text)[0].startswith(
        "wrong passphrase for tess: 5 wrong in a row, the user is now locked for 15 minutes "
        "(until ")
    r = c.post("/login", data={"user": "tess", "passphrase": TECH[1],
                               "csrf_token": csrf_of(c.get("/login").text)})
    assert r.status_code == 403
    assert errors_of(r.text)[0].startswith("user tess is locked after 5 wrong passphrases")


def test_session_id_changes_at_sign_in(bench):
    c = bench["c"]
    c.get("/login")
    before = c.cookies.get("bench_session")
    sign_in(c, *TECH)
    assert c.cookies.get("bench_session") not in (None, before)


@pytest.mark.parametrize("url", ["/", "/batches/new", "/inventory", "/verification",
                                 "/approvals", "/recall", "/scan?code=2605230011",
                                 "/batches/2605230011", "/batches/2605230011/verify",
                                 "/batches/2605230011/audit", "/batches/2605230011/worksheet.pdf",
                                 "/batches/2605230011/prints/1.pdf"])
def test_pages_need_a_session(bench, url):
    r = bench["c"].get(url)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_idle_timeout_ends_the_session(sample, tmp_path):
    now = [1000.0]
    db, settings = copy_sample(*sample, tmp_path)
    c = client(db, settings, tmp_path / "labels", session_clock=lambda: now[0])
    sign_in(c, *TECH)
    now[0] += 15 * 60  # exactly the default idle timeout: still live
    assert c.get("/").status_code == 200
    now[0] += 15 * 60 + 1
    r = c.get("/")
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=1")


def test_idle_timeout_is_a_setting(sample, tmp_path):
    db, settings = copy_sample(*sample, tmp_path)
    settings.write_text(settings.read_text() + "\n[web]\nsession_idle_minutes = 1\n")
    now = [0.0]
    c = client(db, settings, tmp_path / "labels", session_clock=lambda: now[0])
    sign_in(c, *TECH)
    now[0] += 61
    assert c.get("/").status_code == 303


def test_a_deactivated_user_is_signed_out_at_the_next_request(bench):
    from compounding.store import Store, signoff
    c = bench["c"]
    sign_in(c, *TECH)
    with Store.open(bench["db"]) as store:
        signoff.deactivate_user(store, "tess", by="pat", passphrase=PHARM[1])
    r = c.get("/")
    assert (r.status_code, r.headers["location"]) == (303, "/login")


def test_sign_out_needs_the_csrf_token_and_ends_the_session(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    assert c.post("/logout", data={}).status_code == 403
    assert c.get("/").status_code == 200
    assert c.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert c.get("/").status_code == 303


# ---------------------------------------------------------------- CSRF on every form post

@pytest.mark.parametrize("path", ["/batches", "/batches/{lot}/weigh", "/batches/{lot}/labels",
                                  "/batches/{lot}/dispense", "/batches/{lot}/verify",
                                  "/batches/{lot}/release", "/batches/{lot}/reject",
                                  "/batches/{lot}/quarantine", "/batches/{lot}/lift",
                                  "/inventory", "/approvals/formula/ldn-cream/submit",
                                  "/approvals/formula/ldn-cream/approve", "/logout"])
def test_every_form_post_needs_the_csrf_token(bench, path):
    c = bench["c"]
    sign_in(c, *PHARM)
    lot = c.get("/api/v1/batches").json()[0]["lot_id"]
    before = len(c.get("/api/v1/audit").json())
    for token in (None, "", "forged-token", "x" * 300):
        data = {"passphrase": PHARM[1], "reason": "x", "amount": "1 mg", "step": "1"}
        if token is not None:
            data["csrf_token"] = token
        r = c.post(path.format(lot=lot), data=data)
        assert r.status_code == 403
        assert errors_of(r.text) == ["form refused: its CSRF token is missing or wrong "
                                     "(reload the page and try again)"]
    assert len(c.get("/api/v1/audit").json()) == before  # nothing happened


def test_every_post_route_of_the_pages_checks_the_csrf_token(bench, shared_app):
    """Found from the application's routes, so a form added later is covered too."""
    from fastapi.routing import APIRoute
    c = bench["c"]
    sign_in(c, *PHARM)
    lot = c.get("/api/v1/batches").json()[0]["lot_id"]
    fill = {"lot": lot, "kind": "formula", "subject_id": "ldn-cream", "act": "approve",
            "print_id": "1"}
    paths = sorted(r.path for r in shared_app.routes
                   if isinstance(r, APIRoute) and "POST" in r.methods and r.path != "/login")
    assert {"/batches/{lot}/weigh", "/batches/{lot}/release", "/logout"} <= set(paths)
    before = len(c.get("/api/v1/audit").json())
    for path in paths:
        r = c.post(path.format(**fill), data={"passphrase": PHARM[1], "csrf_token": "x"})
        assert (path, r.status_code) == (path, 403)
        assert errors_of(r.text) == ["form refused: its CSRF token is missing or wrong "
                                     "(reload the page and try again)"], path
    assert len(c.get("/api/v1/audit").json()) == before


# ---------------------------------------------------------------- the technician's work

def test_technician_creates_weighs_and_the_record_matches_the_cli(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(bench, c, csrf)
    page = c.get(f"/batches/{lot}").text
    assert f"Batch {lot} created: 1.5 mg, 30 capsules" in page
    steps = weigh_all(c, csrf, lot)
    rec = c.get(f"/api/v1/batches/{lot}").json()
    assert rec["status"] == "compounded"
    assert [w["weighed_by"] for w in rec["weighings"]] == ["tess"] * len(steps)
    shown = cli(bench, "batch", "show", lot, "--json")
    assert shown.exit_code == 0
    assert json.loads(shown.output) == rec  # the API's shape is the CLI's


def test_the_tolerance_check_is_a_dry_run(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(bench, c, csrf)
    step = c.get(f"/api/v1/batches/{lot}").json()["steps"][0]
    url = f"/api/v1/batches/{lot}/steps/{step['step']}/check"
    planned, far_amount = planned_and_ten_percent_over(step)
    ok = c.get(url, params={"amount": f"{step['quantity']} {step['unit']}"}).json()
    assert ok == {"ok": True, "deviation_percent": "0", "planned": planned, "amount": planned,
                  "message": f"{planned} against {planned} planned: 0% (within tolerance)"}
    far = c.get(url, params={"amount": far_amount}).json()
    assert far == {"ok": False, "message": f"step 1: {far_amount} is 10% from the planned "
                   f"{planned} (tolerance ±5%); weigh again, or record it with --deviation "
                   "REASON"}
    with_reason = c.get(url, params={"amount": far_amount, "deviation_reason": "spill"}).json()
    assert with_reason["ok"] is True and with_reason["deviation_percent"] == "10"
    assert c.get(f"/api/v1/batches/{lot}").json()["weighings"] == []  # nothing stored


@pytest.mark.parametrize("field, value", [
    ("amount", "NaN mg"), ("amount", "1e3 mg"), ("amount", "١٢٠ mg"), ("amount", "120\u200b mg"),
    ("amount", "120"), ("amount", "-5 mg"), ("amount", "x" * 300), ("amount", "\u202e120 mg"),
    ("step", "99"), ("step", "1e1"), ("step", "٣"),
])
def test_bad_weighing_input_gets_the_cli_message(bench, field, value):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(bench, c, csrf)
    data = {"csrf_token": csrf, "step": "1", "amount": "120 mg", field: value}
    r = c.post(f"/batches/{lot}/weigh", data=data)
    assert r.status_code in (400, 403)
    (web_msg,) = errors_of(r.text)
    args = ["batch", "weigh", lot, "--by", "tess", "--amount", data["amount"]]
    if data["step"].isascii() and data["step"].isdigit():
        args += ["--step", data["step"]]
        res = cli(bench, *args, passphrase=TECH[1])
        assert res.exit_code != 0
        assert res.output.strip().splitlines()[-1] == f"Error: {web_msg}"
    else:
        assert web_msg == f"step: {data['step']!r} is not a step number (1, 2, 3...)"
    assert c.get(f"/api/v1/batches/{lot}").json()["weighings"] == []


@pytest.mark.parametrize("strength, quantity", [
    ("NaN mg", "30"), ("1e3 mg", "30"), ("1.5 mg", "٣٠"), ("1.5 mg", "30\u200b"),
    ("4.6 mg", "30"), ("1.5 mg/mL", "30"), ("1.5", "30"), ("1.5 mg", "0"),
])
def test_bad_batch_orders_get_the_cli_message(bench, strength, quantity):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    r = c.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                 "quantity": quantity, "strength": strength})
    assert r.status_code == 400
    (web_msg,) = errors_of(r.text)
    res = cli(bench, "batch", "create", "ldn-capsules", "--quantity", quantity, "--strength",
              strength, "--by", "tess", passphrase=TECH[1])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == f"Error: {web_msg}"


def test_out_of_tolerance_needs_a_reason_then_is_highlighted(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(bench, c, csrf)
    planned, far = planned_and_ten_percent_over(c.get(f"/api/v1/batches/{lot}").json()["steps"][0])
    r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                              "amount": far})
    assert r.status_code == 403
    assert errors_of(r.text) == [f"step 1: {far} is 10% from the planned {planned} (tolerance "
                                 "±5%); weigh again, or record it with --deviation REASON"]
    assert f'value="{far}"' in r.text  # what was typed is kept
    r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                              "amount": far,
                                              "deviation_reason": "over-weighed"})
    assert r.status_code == 303
    sign_in(c, *PHARM)
    page = c.get(f"/batches/{lot}/verify").text
    assert re.search(r'<tr class="deviation-row">\s*<td>1</td>', page)
    assert "<strong>deviation: over-weighed</strong>" in page


# ---------------------------------------------------------------- signatures and roles

def test_technician_release_is_refused_with_the_cli_message(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(bench, c, csrf)
    weigh_all(c, csrf, lot)
    r = c.post(f"/batches/{lot}/release", data={"csrf_token": csrf, "passphrase": TECH[1]})
    assert r.status_code == 403
    msg = f"tess is a technician; only a pharmacist may release batch {lot}"
    assert errors_of(r.text) == [msg]
    res = cli(bench, "batch", "release", lot, "--by", "tess", passphrase=TECH[1])
    assert res.output.strip() == f"Error: {msg}"
    assert c.get(f"/api/v1/batches/{lot}").json()["status"] == "compounded"


def test_pharmacist_verifies_and_releases_with_the_passphrase_each_time(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(bench, c, csrf)
    weigh_all(c, csrf, lot)
    csrf = sign_in(c, *PHARM)
    page = c.get(f"/batches/{lot}/verify").text
    assert "[PASS] every plan step weighed (4 of 4)" in page
    for name in ('<button type="submit">Verify</button>',
                 '<button type="submit">Release</button>'):
        assert name in page
    r = c.post(f"/batches/{lot}/verify", data={"csrf_token": csrf, "passphrase": ""})
    assert r.status_code == 403
    assert errors_of(r.text) == ["wrong passphrase for pat (attempt 1; 5 in a row lock the "
                                 "user)"]
    r = c.post(f"/batches/{lot}/verify", data={"csrf_token": csrf, "passphrase": PHARM[1]})
    assert r.status_code == 303
    r = c.post(f"/batches/{lot}/release", data={"csrf_token": csrf, "passphrase": PHARM[1]})
    assert r.status_code == 303
    rec = c.get(f"/api/v1/batches/{lot}").json()
    assert rec["status"] == "released"
    assert [s["meaning"] for s in rec["signatures"]] == ["verified", "released"]


def test_labels_print_to_a_recorded_pdf_and_download(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = c.get("/api/v1/batches", params={"status": "released"}).json()[0]["lot_id"]
    r = c.post(f"/batches/{lot}/labels", data={"csrf_token": csrf, "template": "batch-thermal",
                                               "copies": "2", "start_position": "1"})
    assert r.status_code == 303
    page = c.get(f"/batches/{lot}").text
    link = re.search(r'<a class="download" href="([^"]+)"', page).group(1)
    pdf = c.get(link)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    prints = c.get(f"/api/v1/batches/{lot}").json()["label_prints"]
    assert prints[-1]["pdf_sha256"] == hashlib.sha256(pdf.content).hexdigest()
    assert (prints[-1]["copies"], prints[-1]["reprint"], prints[-1]["printed_by"]) == \
        (2, True, "tess")  # the quickstart printed this batch once already


@pytest.mark.parametrize("copies, message", [
    ("0", "copies: '0' must be a whole number from 1 to 10000"),
    ("1e3", "copies: '1e3' must be a whole number from 1 to 10000"),
    ("٢", "copies: '٢' must be a whole number from 1 to 10000"),
    ("NaN", "copies: 'NaN' must be a whole number from 1 to 10000"),
])
def test_bad_copies_are_refused(bench, copies, message):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = c.get("/api/v1/batches", params={"status": "released"}).json()[0]["lot_id"]
    r = c.post(f"/batches/{lot}/labels", data={"csrf_token": csrf, "copies": copies})
    assert (r.status_code, errors_of(r.text)) == (400, [message])


def test_a_changed_pdf_on_disk_is_not_served(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = c.get("/api/v1/batches", params={"status": "released"}).json()[0]["lot_id"]
    c.post(f"/batches/{lot}/labels", data={"csrf_token": csrf})
    p = c.get(f"/api/v1/batches/{lot}").json()["label_prints"][-1]
    from pathlib import Path
    Path(p["output_path"]).write_bytes(b"%PDF-1.4 not the printed file")
    r = c.get(f"/batches/{lot}/prints/{p['id']}.pdf")
    assert r.status_code == 503
    assert "changed on disk since it was printed" in errors_of(r.text)[0]


def test_script_in_a_patient_name_is_shown_as_text(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = next(b["lot_id"] for b in c.get("/api/v1/batches", params={"status": "released"})
               .json() if b["formula_id"] == "ldn-capsules")
    evil = "<script>alert(1)</script>"
    r = c.post(f"/batches/{lot}/dispense", data={
        "csrf_token": csrf, "patient": evil, "directions": "Take one at bedtime",
        "prescriber": "Dr <b>Bold</b>", "rx": "RX-1", "quantity": "30"})
    assert r.status_code == 303, errors_of(r.text)
    page = c.get("/recall", params={"batch": lot}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert evil not in page and "<b>Bold</b>" not in page


def test_the_dispensing_form_counts_a_new_rx_and_not_a_reprint(bench):
    """Issue 12 part 7 at the bench: the batch page's dispensing form says what is left
    after a new dispense and says REPRINT for the same Rx printed again (not counted)."""
    import html
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = next(b["lot_id"] for b in c.get("/api/v1/batches", params={"status": "released"})
               .json() if b["formula_id"] == "ldn-capsules")
    form = {"csrf_token": csrf, "patient": "Ann Lee", "directions": "Take one at bedtime",
            "prescriber": "Dr C", "rx": "RX-77", "quantity": "30"}
    flashes = []
    for _ in range(2):
        r = c.post(f"/batches/{lot}/dispense", data=form)
        assert r.status_code == 303, errors_of(r.text)
        page = c.get(r.headers["location"]).text
        flashes.append([html.unescape(x) for x in
                        re.findall(r'class="flash ok" role="status">([^<]*)<', page)])
    made = int(next(b for b in c.get("/api/v1/batches", params={"status": "released"}).json()
                    if b["lot_id"] == lot)["quantity"].split()[0])
    assert re.fullmatch(rf"Dispensing label printed to PDF for Ann Lee \(Rx RX-77\)\. Lot "
                        rf"{lot}: made {made} capsules, dispensed (\d+) capsules \((\d+) "
                        rf"dispenses?\), (\d+) capsules left\.", flashes[0][0]), flashes
    n, k, left = map(int, re.search(r"dispensed (\d+) capsules \((\d+) dispenses?\), (\d+)",
                                    flashes[0][0]).groups())
    assert n + left == made
    assert flashes[1] == [
        f"Dispensing label printed to PDF for Ann Lee (Rx RX-77), recorded as a REPRINT (this "
        f"Rx was dispensed from this lot before; not counted again). Lot {lot}: made {made} "
        f"capsules, dispensed {n} capsules ({k} dispense{'s' if k != 1 else ''}), {left} "
        "capsules left."]


# ---------------------------------------------------------------- scanning

@pytest.mark.parametrize("scan, location_or_error", [
    ("{lot}", "/batches/{lot}"),
    (" {lot}\r\n", "/batches/{lot}"),
    ("]C0{lot}", "/batches/{lot}"),
    ("]d201003123456789061726123110{lot}", "/batches/{lot}"),
    ("", "scan: the scan is empty"),
    ("{bad}", "scan: '{bad}' has a wrong check digit (mistyped lot ID?)"),
    ("١٢٣٤٥٦٧٨٩٠", "scan: character U+0661 (ARABIC-INDIC DIGIT ONE) at position 1 is a digit "
                   "of another script; barcodes carry ASCII digits 0-9 only"),
    ("\u200f{lot}", "scan: character U+200F (RIGHT-TO-LEFT MARK) at position 1 is an "
                    "invisible formatting character (zero-width or direction mark)"),
    ("x" * 300, "scan: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is not a lot number: it is 300 "
                "characters; a lot is 1 to 20 printable ASCII characters without spaces"),
    ("]E00312345678906", "scan: the barcode carries no lot (a product code?); scan the batch "
                       "label or type its 10-digit lot ID"),
])
def test_scan_field(bench, scan, location_or_error):
    c = bench["c"]
    sign_in(c, *TECH)
    lot = c.get("/api/v1/batches").json()[0]["lot_id"]
    bad = lot[:9] + str((int(lot[9]) + 1) % 10)
    r = c.get("/scan", params={"code": scan.format(lot=lot, bad=bad)})
    assert r.status_code == 303
    expected = location_or_error.format(lot=lot, bad=bad)
    if expected.startswith("/"):
        assert r.headers["location"] == expected
    else:
        assert r.headers["location"] == "/"
        assert errors_of(c.get("/").text) == [expected]


# ---------------------------------------------------------------- the JSON API

def test_openapi_document_lists_the_api(bench):
    doc = bench["c"].get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "Compounding bench API"
    for path in ("/batches", "/batches/{lot}", "/batches/{lot}/weighings",
                 "/batches/{lot}/verify", "/batches/{lot}/release", "/inventory", "/plan",
                 "/recall", "/audit"):
        assert path in doc["paths"]


def test_api_needs_credentials(bench):
    r = bench["c"].get("/api/v1/batches")
    assert r.status_code == 401
    assert r.json() == {"error": "sign in at the bench, or send an API token "
                                 "(Authorization: Bearer <token>)"}


@pytest.mark.parametrize("cli_args, api_path", [
    (("batch", "list", "--json"), "/api/v1/batches"),
    (("inventory", "list", "--json"), "/api/v1/inventory"),
    (("recall", "SAMPLE-NX-2401", "--json"), "/api/v1/recall?lot=SAMPLE-NX-2401"),
])
def test_api_shapes_are_the_cli_json(bench, cli_args, api_path):
    c = bench["c"]
    sign_in(c, *TECH)
    api = c.get(api_path).json()
    res = cli(bench, *cli_args)
    assert res.exit_code == 0, res.output
    assert api == json.loads(res.output)


def test_api_write_with_the_session_needs_the_csrf_header(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(bench, c, csrf)
    s1 = c.get(f"/api/v1/batches/{lot}").json()["steps"][0]
    body = {"step": 1, "amount": f"{s1['quantity']} {s1['unit']}"}
    r = c.post(f"/api/v1/batches/{lot}/weighings", json=body)
    assert (r.status_code, r.json()) == (403, {"error": "write refused: the X-CSRF-Token "
                                                        "header is missing or wrong"})
    r = c.post(f"/api/v1/batches/{lot}/weighings", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert (r.json()["step"], r.json()["quantity"], r.json()["unit"]) == \
        (1, s1["quantity"], s1["unit"])


@pytest.mark.parametrize("body, message", [
    ({"step": 1, "amount": 120}, "amount: Input should be a valid string"),
    ({"step": 1, "amount": "120 mg", "extra": 1}, "extra: Extra inputs are not permitted"),
    ({"step": 0, "amount": "120 mg"}, "step: Input should be greater than or equal to 1"),
])
def test_api_bodies_are_strict(bench, body, message):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = c.get("/api/v1/batches").json()[0]["lot_id"]
    r = c.post(f"/api/v1/batches/{lot}/weighings", json=body, headers={"X-CSRF-Token": csrf})
    assert (r.status_code, r.json()) == (400, {"error": message})


# ---------------------------------------------------------------- serve

@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("192.0.2.10", False), ("::", False),
    ("bench.example", False),
])
def test_loopback_hosts(host, loopback):
    from compounding.cli.serve import is_loopback
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("args, message", [
    (["--port", "0"], "Invalid value for '--port': 0 is not in the range 1<=x<=65535."),
    (["--port", "1e3"], "Invalid value for '--port': '1e3' is not a whole number written "
                        "with the digits 0-9"),
    (["--port", "８０００"], "Invalid value for '--port': '８０００' is not a whole number "
                         "written with the digits 0-9"),
    (["--port", "٨٠٠٠"], "Invalid value for '--port': '٨٠٠٠' is not a whole number "
                         "written with the digits 0-9"),
    (["--port", "65536"], "Invalid value for '--port': 65536 is not in the range "
                          "1<=x<=65535."),
    (["--workers", "0"], "Invalid value for '--workers': 0 is not in the range 1<=x<=16."),
    (["--workers", "NaN"], "Invalid value for '--workers': 'NaN' is not a whole number "
                           "written with the digits 0-9"),
    (["--workers", "2\u200b"], "Invalid value for '--workers': '2\\u200b' is not a whole "
                               "number written with the digits 0-9"),
])
def test_serve_option_errors(args, message):
    from compounding.cli import cli as root
    res = CliRunner().invoke(root, ["serve", *args])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == f"Error: {message}"


def test_labels_go_to_a_configured_printer(sample, tmp_path):
    """A ZPL printer on raw TCP (a listener on 127.0.0.1 standing in for it): the job is
    sent and recorded; an unreachable printer is refused (502) and nothing is recorded."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = []

    def accept():
        conn, _ = srv.accept()
        conn.settimeout(10)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        got.append(data)
        conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    db, settings = copy_sample(*sample, tmp_path)
    dead = free_port_closed()
    settings.write_text(settings.read_text() + f"""
[printers.zebra-1]
language = "zpl"
dpi = 203
connection = "tcp://127.0.0.1:{port}"
check_status = false
description = "print station"

[printers.gone]
language = "zpl"
dpi = 203
connection = "tcp://127.0.0.1:{dead}"
check_status = false
timeout_seconds = 2

[template_printers]
batch-thermal = "zebra-1"
""")
    c = client(db, settings, tmp_path / "labels")
    csrf = sign_in(c, *TECH)
    lot = next(b["lot_id"] for b in c.get("/api/v1/batches", params={"status": "released"})
               .json() if b["formula_id"] == "ldn-capsules")
    page = c.get(f"/batches/{lot}").text
    assert '<option value="zebra-1" selected>zebra-1 (ZPL, 203 dpi): print station</option>' \
        in page
    before = len(c.get(f"/api/v1/batches/{lot}").json()["label_prints"])
    r = c.post(f"/batches/{lot}/labels", data={"csrf_token": csrf, "printer": "gone"})
    assert r.status_code == 502
    assert len(c.get(f"/api/v1/batches/{lot}").json()["label_prints"]) == before
    r = c.post(f"/batches/{lot}/labels", data={"csrf_token": csrf, "printer": "zebra-1",
                                               "copies": "2"})
    assert r.status_code == 303
    t.join(15)
    srv.close()
    assert got and got[0].startswith(b"^XA") and b"^PQ2" in got[0]
    prints = c.get(f"/api/v1/batches/{lot}").json()["label_prints"]
    assert len(prints) == before + 1
    assert prints[-1]["pdf_sha256"] == hashlib.sha256(got[0]).hexdigest()
    assert prints[-1]["output_path"] == f"printer zebra-1 (tcp://127.0.0.1:{port})"
    flash = c.get(f"/batches/{lot}").text
    assert "Labels sent to printer zebra-1" in flash


def free_port_closed() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("field, value", [
    ("expires", "2020-01-31"), ("expires", "31/01/2030"), ("quantity", "25"),
    ("quantity", "1e3 g"), ("quantity", "٢٥ g"), ("potency", "NaN"), ("potency", "120%"),
    ("lot", "LOT\u200b1"), ("lot", "x" * 300),
])
def test_receiving_refusals_match_the_cli(bench, field, value):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    form = {"ingredient": "glycerol", "lot": "WEB-GLY-1", "expires": "2030-01-31",
            "quantity": "500 g", "potency": "", "manufacturer": "", field: value}
    r = c.post("/inventory", data={"csrf_token": csrf, **form})
    assert r.status_code in (400, 403)
    (web_msg,) = errors_of(r.text)
    args = ["inventory", "receive", "glycerol", "--lot", form["lot"], "--expires",
            form["expires"], "--quantity", form["quantity"], "--by", "tess"]
    if form["potency"]:
        args += ["--potency", form["potency"]]
    res = cli(bench, *args, passphrase=TECH[1])
    assert res.exit_code != 0
    assert res.output.strip().splitlines()[-1] == f"Error: {web_msg}"


def test_inventory_receives_and_highlights_expiry(bench):
    from datetime import date, timedelta
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    soon = (date.today() + timedelta(days=10)).isoformat()
    r = c.post("/inventory", data={"csrf_token": csrf, "ingredient": "glycerol",
                                   "lot": "WEB-GLY-SOON", "expires": soon,
                                   "quantity": "500 g", "potency": "99.5%"})
    assert r.status_code == 303
    page = c.get("/inventory").text
    assert "Received 500 g of glycerol lot WEB-GLY-SOON" in page
    row = re.search(r'<tr class="([^"]*)">\s*<td>glycerol</td><td>WEB-GLY-SOON</td>', page)
    assert row and row.group(1) == "expiring"
    assert c.get("/api/v1/inventory", params={"ingredient": "glycerol"}).json()[0][
        "lot_number"] == "WEB-GLY-SOON"


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("0.0.0.0", True),
                                          ("::", True), ("localhost", False)])
def test_serve_warns_when_not_on_loopback(monkeypatch, tmp_path, host, warned):
    """The server itself is replaced by a recorder: what serve prints and what it runs."""
    import uvicorn
    from compounding.cli import cli as root
    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw))
    res = CliRunner().invoke(root, ["serve", "--db", str(tmp_path / "b.db"), "--host", host,
                                    "--port", "8123"])
    assert res.exit_code == 0, res.output
    assert ran == [{"host": host, "port": 8123, "log_level": "warning", "access_log": False,
                    "server_header": False, "proxy_headers": False}]
    warning = (f"Warning: serving on {host}, not loopback: anyone who can reach this address "
               "sees the sign-in page. Put the bench behind a TLS reverse proxy "
               "(docs/bench.md) and never expose plain HTTP beyond this machine.")
    assert (warning in res.output) is warned


def test_label_preview_is_a_png_at_the_template_dpi_and_records_nothing(bench):
    import io

    from PIL import Image

    from test_labels_support import decode
    c = bench["c"]
    sign_in(c, *TECH)
    lot = released_capsules_lot(c)
    before = c.get(f"/api/v1/batches/{lot}").json()["label_prints"]
    page = c.get(f"/batches/{lot}").text
    assert f'<img src="/batches/{lot}/labels/preview.png?template=batch-thermal"' in page
    r = c.get(f"/batches/{lot}/labels/preview.png", params={"template": "batch-thermal"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    # 2.25 x 1.25 in at the template's 203 dpi, under a 16-pixel "PREVIEW" band
    assert img.size == (457, 254 + 16)
    assert lot in {b.text for b in decode(img.crop((0, 16, 457, 270)))}
    assert c.get(f"/api/v1/batches/{lot}").json()["label_prints"] == before
    r = c.get(f"/batches/{lot}/labels/preview.png", params={"template": "dispensing-thermal"})
    assert r.status_code == 400
    assert errors_of(r.text) == ["template: 'dispensing-thermal' is a dispensing label "
                                 "template; the preview shows batch labels"]


def released_capsules_lot(c):
    return next(b["lot_id"] for b in c.get("/api/v1/batches", params={"status": "released"})
                .json() if b["formula_id"] == "ldn-capsules")


@pytest.mark.parametrize("page, status, message", [
    ("1", 200, None), ("2", 200, "No lots with stock on page 2."),
    ("0", 400, "page: '0' is not a page number (1, 2, 3...)"),
    ("1e3", 400, "page: '1e3' is not a page number (1, 2, 3...)"),
    ("٢", 400, "page: '٢' is not a page number (1, 2, 3...)"),
])
def test_inventory_pages(bench, page, status, message):
    c = bench["c"]
    sign_in(c, *TECH)
    r = c.get("/inventory", params={"page": page})
    assert r.status_code == status
    if status != 200:
        assert errors_of(r.text) == [message]
    elif message:
        assert message in r.text  # the sample has fewer than 50 lots
    else:
        assert f"Page {page}, 50 lots a page" in r.text


def test_approvals_page_lists_formulas_and_templates(bench):
    """The approvals page renders for a pharmacist (its route function once shadowed the
    store's approvals module, so the page failed with an AttributeError)."""
    c = bench["c"]
    sign_in(c, *PHARM)
    r = c.get("/approvals")
    assert r.status_code == 200, r.text[:300]
    assert "ldn-capsules" in r.text and "ldn-cream" in r.text


# ---------------------------------------------------------------- malformed page addresses

def test_a_form_field_sent_as_a_file_is_a_page_with_one_line_not_json(bench):
    r = bench["c"].post("/login", files={"user": ("a.txt", b"tess")}, data={"passphrase": "x"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "Error: user: Input should be a valid string" in r.text and "detail" not in r.text


def test_an_unknown_page_is_a_page_with_one_line_not_json(bench):
    c = bench["c"]
    sign_in(c, *TECH)
    url, status, line = "/no-such-page", 404, "Error: no page at /no-such-page"
    r = c.get(url)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert line in r.text and "detail" not in r.text
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_wrong_method_on_a_page_is_405_with_one_line(bench):
    c = bench["c"]
    sign_in(c, *TECH)
    r = c.delete("/inventory")
    assert r.status_code == 405 and "Error: DELETE is not allowed at /inventory" in r.text


def test_an_unknown_api_address_answers_json_with_the_error_key(bench):
    r = bench["c"].get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert r.json() == {"error": "no API endpoint at /api/v1/no-such-thing"}
