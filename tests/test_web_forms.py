"""The bench's forms attacked (issue 15): typed text goes through the CLI's normaliser on
every form and API body; a look-alike strength can be confirmed as in the CLI; a print id
too large for SQLite is a 404, not a 500; a form posted twice (a double click) does its
work once."""

from __future__ import annotations

import re
import sqlite3
import threading

import httpx
import pytest

from web_support import (PHARM, TECH, build_sample, client, copy_sample, csrf_of, errors_of,
                         live_server, sign_in)

ONCE_RE = re.compile(r'name="once" value="([^"]+)"')


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture
def bench(sample, tmp_path):
    db, settings = copy_sample(*sample, tmp_path)
    return {"db": db, "settings": settings, "tmp": tmp_path,
            "c": client(db, settings, tmp_path / "labels")}


def count(db, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def new_batch(c, csrf, strength="1.5 mg") -> str:
    r = c.post("/batches", data={"csrf_token": csrf, "formula": "ldn-capsules",
                                 "quantity": "30", "strength": strength})
    assert r.status_code == 303, errors_of(r.text)
    return r.headers["location"].rsplit("/", 1)[1]


def released_capsules(c):
    return next(b["lot_id"] for b in c.get("/api/v1/batches", params={"status": "released"})
                .json() if b["formula_id"] == "ldn-capsules")


# ---------------------------------------------------------------- typed text, as the CLI

NUL = "character U+0000 (NULL) at position 1 is a control character or line break"
ZWSP = ("character U+200B (ZERO WIDTH SPACE) at position 2 is an invisible formatting "
        "character (zero-width or direction mark)")
RLO = ("character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1 is an invisible formatting "
       "character (zero-width or direction mark)")


@pytest.mark.parametrize("field,value,message", [
    ("deviation_reason", "\x00\x01", f"deviation: {NUL}"),
    ("deviation_reason", "\u202e", f"deviation: {RLO}"),
    ("deviation_reason", "x" * 1001, "deviation: 1001 characters; at most 1000"),
    ("component_lot", "S\u200bX", f"component lot: {ZWSP}"),
    ("component_lot", "L" * 41, "component lot: 41 characters; at most 40"),
])
def test_weighing_text_is_the_cli_normaliser(bench, field, value, message):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf)
    before = count(bench["db"], "weighings")
    form = {"csrf_token": csrf, "step": "1", "amount": "200 mg", field: value}
    r = c.post(f"/batches/{lot}/weigh", data=form)
    assert r.status_code == 400 and errors_of(r.text) == [message]
    r = c.post(f"/api/v1/batches/{lot}/weighings", headers={"X-CSRF-Token": csrf},
               json={"step": 1, "amount": "200 mg", field: value})
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert count(bench["db"], "weighings") == before  # nothing recorded


@pytest.mark.parametrize("field,value,message", [
    ("patient", "A\x00B", "patient: character U+0000 (NULL) at position 2 is a control "
                          "character or line break"),
    ("prescriber", "A\u200bB", f"prescriber: {ZWSP}"),
    ("prescriber", "x" * 300, "prescriber: 300 characters; at most 200"),
    ("rx", "\u202eRX", f"rx: {RLO}"),
    ("rx", "R" * 65, "rx: 65 characters; at most 64"),
    ("directions", "Take\u200bone", "directions: character U+200B (ZERO WIDTH SPACE) at "
                                    "position 5 is an invisible formatting character "
                                    "(zero-width or direction mark)"),
])
def test_dispensing_text_is_the_cli_normaliser(bench, field, value, message):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = released_capsules(c)
    before = count(bench["db"], "label_prints")
    form = {"csrf_token": csrf, "patient": "Ann Lee", "directions": "Take one at bedtime",
            "prescriber": "Dr A. Smith", "rx": "RX-9", "quantity": "30", field: value}
    r = c.post(f"/batches/{lot}/dispense", data=form)
    assert r.status_code == 400 and errors_of(r.text) == [message]
    assert count(bench["db"], "label_prints") == before


def test_receiving_and_signing_text_is_the_cli_normaliser(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    form = {"csrf_token": csrf, "ingredient": "naltrexone-hcl", "lot": "NX-9",
            "expires": "2028-01", "quantity": "10 g"}
    for field, value, message in (
            ("lot", "NX\x1d9", "lot: character U+001D (GROUP SEPARATOR) at position 3 is a "
                               "control character or line break"),
            ("manufacturer", "Med\u200bisca", "manufacturer: character U+200B (ZERO WIDTH "
                                              "SPACE) at position 4 is an invisible "
                                              "formatting character (zero-width or "
                                              "direction mark)")):
        r = c.post("/inventory", data={**form, field: value})
        assert r.status_code == 400 and errors_of(r.text) == [message]
    lots = count(bench["db"], "component_lots")
    # a reason of control characters is no reason (the CLI's --reason refuses it)
    csrf = sign_in(c, *PHARM)
    lot = released_capsules(c)
    r = c.post(f"/batches/{lot}/quarantine", data={"csrf_token": csrf, "passphrase": PHARM[1],
                                                   "reason": "\x01"})
    assert r.status_code == 400
    assert errors_of(r.text) == ["reason: character U+0001 (START OF HEADING) at position 1 "
                                 "is a control character or line break"]
    assert c.get(f"/api/v1/batches/{lot}").json()["status"] == "released"
    assert count(bench["db"], "component_lots") == lots


# ---------------------------------------------------------------- labels, print ids

def test_a_print_id_beyond_sqlite_is_not_found(bench):
    c = bench["c"]
    sign_in(c, *TECH)
    lot = released_capsules(c)
    for pid in ("99999999999999999999999", "abc", "-1", "1e3", "\u0661"):
        r = c.get(f"/batches/{lot}/prints/{pid}.pdf")
        assert r.status_code == 404, (pid, r.text[:200])
        assert errors_of(r.text) == [f"no label print {pid} for batch {lot}"]


def test_a_long_template_name_is_an_unknown_template(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    lot = released_capsules(c)
    r = c.post(f"/batches/{lot}/labels", data={"csrf_token": csrf, "template": "x" * 300})
    assert r.status_code == 404
    (msg,) = errors_of(r.text)
    assert msg.startswith(f"unknown label template '{'x' * 300}'; known: batch-thermal")


# ---------------------------------------------------------------- --confirm-strength

def test_a_look_alike_strength_is_confirmed_on_the_bench_and_the_api(bench):
    c = bench["c"]
    csrf = sign_in(c, *TECH)
    message = ("--strength: 1.5 mcg looks like the usual 1.5 mg (1000-fold: 1.5 mcg is 1/1000 "
               "of 1.5 mg); if 1.5 mcg is meant, give --confirm-strength")
    form = {"csrf_token": csrf, "formula": "ldn-capsules", "quantity": "30",
            "strength": "1.5 mcg"}
    r = c.post("/batches", data=form)
    assert r.status_code == 400 and errors_of(r.text) == [message]
    assert 'name="confirm_strength"' in r.text
    r = c.get("/api/v1/plan", params={"formula": "ldn-capsules", "quantity": "30",
                                      "strength": "1.5 mcg"})
    assert r.json() == {"error": message}
    r = c.get("/api/v1/plan", params={"formula": "ldn-capsules", "quantity": "30",
                                      "strength": "1.5 mcg", "confirm_strength": "true"})
    assert r.status_code == 200 and "1.5 mcg" in r.json()["text"]
    r = c.post("/batches", data={**form, "confirm_strength": "on"})
    assert r.status_code == 303
    lot = r.headers["location"].rsplit("/", 1)[1]
    assert c.get(f"/api/v1/batches/{lot}").json()["strength"] == "1.5 mcg"
    body = {"formula": "ldn-capsules", "quantity": "30", "strength": "1.5 mcg"}
    r = c.post("/api/v1/batches", headers={"X-CSRF-Token": csrf}, json=body)
    assert (r.status_code, r.json()) == (400, {"error": message})
    r = c.post("/api/v1/batches", headers={"X-CSRF-Token": csrf},
               json={**body, "confirm_strength": True})
    assert r.status_code == 201 and r.json()["strength"] == "1.5 mcg"


# ---------------------------------------------------------------- one post per form

def test_a_form_posted_twice_does_its_work_once(bench):
    c = bench["c"]
    sign_in(c, *TECH)
    page = c.get("/batches/new").text
    form = {"csrf_token": csrf_of(page), "once": ONCE_RE.search(page).group(1),
            "formula": "ldn-capsules", "quantity": "30", "strength": "2 mg"}
    before = count(bench["db"], "batches")
    first = c.post("/batches", data=form)
    second = c.post("/batches", data=form)
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert count(bench["db"], "batches") == before + 1
    shown = c.get(first.headers["location"]).text
    assert "this form was sent twice (a double click or a resend); it was done once" in shown
    # a new rendering of the form is a new form
    page = c.get("/batches/new").text
    third = c.post("/batches", data={**form, "once": ONCE_RE.search(page).group(1)})
    assert third.status_code == 303 and third.headers["location"] != first.headers["location"]
    assert count(bench["db"], "batches") == before + 2


def test_a_refused_form_may_be_sent_again(bench):
    c = bench["c"]
    sign_in(c, *TECH)
    page = c.get("/batches/new").text
    form = {"csrf_token": csrf_of(page), "once": ONCE_RE.search(page).group(1),
            "formula": "ldn-capsules", "quantity": "30", "strength": "1.5 mcg"}
    assert c.post("/batches", data=form).status_code == 400
    r = c.post("/batches", data={**form, "confirm_strength": "on"})
    assert r.status_code == 303  # the refused post was forgotten


def test_every_form_carries_a_one_time_token(bench):
    c = bench["c"]
    sign_in(c, *PHARM)
    lot = released_capsules(c)
    for path in ("/batches/new", f"/batches/{lot}", f"/batches/{lot}/verify", "/inventory",
                 "/approvals"):
        html = c.get(path).text
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", html, re.S)
        for f in forms:
            if 'action="/logout"' in f:
                continue
            assert 'name="once"' in f, (path, f[:200])
        tokens = ONCE_RE.findall(html)
        assert len(tokens) == len(set(tokens))


def test_a_double_click_on_a_live_server_creates_one_batch(sample, tmp_path):
    db, settings = copy_sample(*sample, tmp_path)
    with live_server(db, settings, cwd=tmp_path) as url:
        h = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
        r = h.post("/login", data={"user": TECH[0], "passphrase": TECH[1],
                                   "csrf_token": csrf_of(h.get("/login").text)})
        assert r.status_code == 303
        page = h.get("/batches/new").text
        form = {"csrf_token": csrf_of(page), "once": ONCE_RE.search(page).group(1),
                "formula": "ldn-capsules", "quantity": "30", "strength": "2 mg"}
        before = count(db, "batches")
        got = []

        def post():
            with httpx.Client(base_url=url, cookies=h.cookies, follow_redirects=False,
                              timeout=60) as x:
                got.append(x.post("/batches", data=form))

        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status_code for r in got] == [303] * 4
        assert len({r.headers["location"] for r in got}) == 1
        assert count(db, "batches") == before + 1


# ---------------------------------------------------------------- a session ends mid-form

def test_a_weighing_sent_after_the_session_ended_says_so_and_records_nothing(sample,
                                                                              tmp_path):
    now = [1000.0]
    db, settings = copy_sample(*sample, tmp_path)
    c = client(db, settings, tmp_path / "labels", session_clock=lambda: now[0])
    csrf = sign_in(c, *TECH)
    lot = new_batch(c, csrf)
    before = count(db, "weighings")
    now[0] += 15 * 60 + 1  # the technician left the form open past the idle timeout
    r = c.post(f"/batches/{lot}/weigh", data={"csrf_token": csrf, "step": "1",
                                              "amount": "126 mg"})
    assert (r.status_code, r.headers["location"]) == (303, "/login?ended=1")
    assert count(db, "weighings") == before
    page = c.get(r.headers["location"])
    assert page.status_code == 200
    assert errors_of(page.text) == [
        "your session ended (no request for more than 15 minutes, or the bench was "
        "restarted); nothing was recorded from a form you sent after that: sign in and enter "
        "it again"]
    sign_in(c, *TECH)  # and signing in again works as before


# ---------------------------------------------------------------- sign-in and recall text

@pytest.mark.parametrize("typed,message", [
    ("\x00", "user: character U+0000 (NULL) at position 1 is a control character or line "
             "break"),
    ("tess\u200b", "user: character U+200B (ZERO WIDTH SPACE) at position 5 is an invisible "
                   "formatting character (zero-width or direction mark)"),
    ("x" * 300, "user: 300 characters; at most 64"),
])
def test_a_sign_in_name_of_odd_characters_is_one_line_not_a_500(bench, typed, message):
    # a NUL user name reached the audit log, whose CHECK refused it: a 500, connection reset
    c = bench["c"]
    r = c.post("/login", data={"user": typed, "passphrase": TECH[1],
                               "csrf_token": csrf_of(c.get("/login").text)})
    assert r.status_code == 400 and errors_of(r.text) == [message]
    assert sign_in(c, *TECH)  # the form still works


def test_the_library_refuses_a_control_character_user_name(bench):
    from compounding.errors import InputError
    from compounding.store import Store, users
    with Store.open(bench["db"]) as store:
        before = len(store.audit_log())
        with pytest.raises(InputError, match=r"^by: character U\+0000 \(NULL\)"):
            users.authenticate(store, "\x00", "x", "test")
        assert len(store.audit_log()) == before


def test_a_recall_lot_is_the_cli_normaliser(bench):
    c = bench["c"]
    sign_in(c, *TECH)
    message = ("component lot: character U+200B (ZERO WIDTH SPACE) at position 15 is an "
               "invisible formatting character (zero-width or direction mark)")
    r = c.get("/recall", params={"lot": "SAMPLE-NX-2401\u200b"})
    assert r.status_code == 400 and errors_of(r.text) == [message]
    r = c.get("/api/v1/recall", params={"lot": "SAMPLE-NX-2401\u200b"})
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert c.get("/api/v1/recall", params={"lot": " SAMPLE-NX-2401 "}).status_code == 200
