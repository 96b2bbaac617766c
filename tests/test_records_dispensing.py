"""Dispensing adds up (issue 12, part 7): the total dispensed from a batch never exceeds what
it made; the remaining quantity is shown; a label for a new patient or Rx is a new dispense,
a reprint is the same Rx printed again and is not counted twice. In the library, the CLI,
the schema (triggers) and under two real processes racing for the last capsules."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from compounding.store import Store
from signoff_support import release_db
from test_labels_cli import clean_env, run  # noqa: F401 (fixture)
from test_labels_cli import lot as _lot  # noqa: F401
from test_rx_race import cmd, env

DISP = ["--directions", "Take one capsule at bedtime", "--prescriber", "Dr C"]


@pytest.fixture
def lot90(tmp_path, _lot):
    """A released batch of 90 capsules (the issue's example), beside the fixture's 100."""
    r = run(tmp_path, "batch", "create", "ldn-capsules", "--quantity", "90 capsules",
            "--strength", "1.5 mg", "--filler", "lactose-monohydrate", "--by", "alice",
            "--json")
    assert r.exit_code == 0, r.output
    lot_id = json.loads(r.stdout)["lot_id"]
    release_db(tmp_path / "c.db", lot_id)
    return lot_id


def dispense(tmp_path, lot, patient, rx, qty, *extra, out=None):
    out = out or tmp_path / f"{rx}-{patient.replace(' ', '_')}.pdf"
    return run(tmp_path, "labels", "dispense", lot, "--patient", patient, "--rx", rx,
               "--quantity", qty, *DISP, *extra, "--output", str(out), "--force", "--by",
               "bob")


def test_180_capsules_from_a_90_capsule_batch_refused_at_the_fourth(tmp_path, lot90):
    for i, left in ((1, 60), (2, 30), (3, 0)):
        r = dispense(tmp_path, lot90, f"Patient {i}", f"RX-{i}", "30")
        assert r.exit_code == 0, r.output
        assert r.stdout.splitlines()[-2:] == [
            "Recorded.",
            f"Lot {lot90}: made 90 capsules, dispensed {90 - left} capsules ({i} "
            f"dispense{'s' if i > 1 else ''}), {left} capsules left."]
    out = tmp_path / "fourth.pdf"
    r = dispense(tmp_path, lot90, "Patient 4", "RX-4", "30", out=out)
    assert r.exit_code == 1
    assert r.output.splitlines() == [
        f"Error: quantity: 30 capsules is more than lot {lot90} has left: made 90 capsules, "
        "dispensed 90 capsules in 3 dispenses, 0 capsules left; nothing was printed or "
        "recorded"]
    assert not out.exists() and not list(tmp_path.glob(".compounding-tmp-*"))
    show = run(tmp_path, "batch", "show", lot90)
    assert f"Lot {lot90}: made 90 capsules, dispensed 90 capsules (3 dispenses), 0 capsules " \
           "left." in show.stdout.splitlines()
    store = Store.open(tmp_path / "c.db")
    try:
        assert store.scalar("SELECT COUNT(*) FROM label_prints WHERE lot_id = ? AND kind = "
                            "'dispensing'", [lot90]) == 3
        assert store.scalar("SELECT COUNT(*) FROM pending_outputs") == 0
        assert store.verify() == []
    finally:
        store.close()


def test_reprint_is_the_same_rx_again_and_not_counted(tmp_path, lot90):
    assert dispense(tmp_path, lot90, "Ann Lee", "RX-1", "60").exit_code == 0
    r = dispense(tmp_path, lot90, "Ann Lee", "RX-1", "60")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-2:] == [
        "Recorded as a REPRINT (this Rx was dispensed from this lot before; not counted "
        "again).",
        f"Lot {lot90}: made 90 capsules, dispensed 60 capsules (1 dispense), 30 capsules left."]
    # a new patient is a new dispense, counted
    r = dispense(tmp_path, lot90, "Bo Chan", "RX-2", "30")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1].endswith("dispensed 90 capsules (2 dispenses), 0 "
                                              "capsules left.")
    prints = json.loads(run(tmp_path, "batch", "show", lot90, "--json").stdout)["label_prints"]
    assert [(p["rx_number"], p["reprint"]) for p in prints if p["kind"] == "dispensing"] == [
        ("RX-1", False), ("RX-1", True), ("RX-2", False)]


@pytest.mark.parametrize(("patient", "rx", "qty", "extra", "message"), [
    ("Ann Lee", "RX-1", "30", [],
     "Error: Rx RX-1 was dispensed from lot {lot} on {day} (60 capsules for Ann Lee); a "
     "reprint must repeat that label exactly (patient, prescriber, directions, quantity); a "
     "new supply needs a new Rx number or the next fill of a recorded prescription (--fill N)"),
    ("Cy Park", "RX-1", "60", [],
     "Error: Rx RX-1 was dispensed from lot {lot} for another patient (Ann Lee); one Rx "
     "number is one patient"),
    ("Ann Lee", "RX-1", "60", ["--directions", "Take two"], None),
    ("Dee Roe", "RX-9", "31", [],
     "Error: quantity: 31 capsules is more than lot {lot} has left: made 90 capsules, "
     "dispensed 60 capsules in 1 dispense, 30 capsules left; nothing was printed or "
     "recorded"),
])
def test_same_rx_other_label_refused(tmp_path, lot90, patient, rx, qty, extra, message):
    assert dispense(tmp_path, lot90, "Ann Lee", "RX-1", "60").exit_code == 0
    out = tmp_path / "other.pdf"
    r = run(tmp_path, "labels", "dispense", lot90, "--patient", patient, "--rx", rx,
            "--quantity", qty, *DISP, *extra, "--output", str(out), "--by", "bob")
    assert r.exit_code == 1, r.output
    from datetime import datetime, timezone
    day = datetime.now(timezone.utc).date().isoformat()
    if message:
        assert r.output.splitlines() == [message.format(lot=lot90, day=day)]
    else:
        assert r.output.startswith(f"Error: Rx RX-1 was dispensed from lot {lot90}")
    assert not out.exists()


@pytest.mark.parametrize(("qty", "message"), [
    ("1e3", "Error: quantity: '1e3'"),
    ("NaN", "Error: quantity: 'NaN'"),
    ("٣٠", "Error: quantity: '٣٠'"),
    ("30.5", "Error: quantity: '30.5'"),
    ("0", "Error: quantity: '0'"),
    ("-30", "Error: quantity: '-30'"),
    ("30 mL", "Error: quantity: '30 mL': is a volume; expected a count (e.g. '100 capsules')"),
    ("91", "Error: quantity: 91 capsules is more than the batch made (90 capsules)"),
])
def test_hostile_quantities_refused_before_anything(tmp_path, lot90, qty, message):
    out = tmp_path / "q.pdf"
    r = dispense(tmp_path, lot90, "Ann Lee", "RX-1", qty, out=out)
    assert r.exit_code == 2, r.output
    assert r.output.splitlines()[-1].startswith(message), r.output
    assert not out.exists()


def test_schema_refuses_a_total_above_what_was_made(tmp_path, lot90):
    assert dispense(tmp_path, lot90, "Ann Lee", "RX-1", "60").exit_code == 0
    conn = sqlite3.connect(tmp_path / "c.db")
    try:
        pid = conn.execute("SELECT id FROM label_prints WHERE kind = 'dispensing'").fetchone()[0]
        row = conn.execute("SELECT * FROM dispensings").fetchone()
        assert row == (pid, lot90, "RX-1", 0, "Ann Lee", "60", "capsules", 60000, 90000,
                       60000)
        label = ("INSERT INTO label_prints (lot_id, kind, template_id, template_version, "
                 "template_sha256, copies, pdf_sha256, output_path, reprint, patient, "
                 "rx_number, printed_by, printed_at) VALUES (?, 'dispensing', 't', 1, ?, 1, ?,"
                 " 'x', 0, 'Bo', 'RX-2', 'm', '2026-03-01T00:00:00Z')")
        pid2 = conn.execute(label, [lot90, "a" * 64, "a" * 64]).lastrowid
        for sql, why in (
            ("INSERT INTO dispensings VALUES (?, ?, 'RX-2', 0, 'Bo', '31', 'capsules', 31000,"
             " 90000, 91000)", "CHECK constraint failed: total_milli <= made_milli"),
            ("INSERT INTO dispensings VALUES (?, ?, 'RX-2', 0, 'Bo', '31', 'capsules', 31000,"
             " 200000, 91000)", "must add up and stay within"),
            ("INSERT INTO dispensings VALUES (?, ?, 'RX-2', 0, 'Bo', '1', 'capsules', 1000,"
             " 90000, 1000)", "must add up and stay within"),
            ("INSERT INTO dispensings VALUES (?, ?, 'RX-2', 0, 'Al', '1', 'capsules', 1000,"
             " 90000, 61000)", "needs its own first-print dispensing label"),
            ("UPDATE dispensings SET quantity_milli = 1", "append-only"),
            ("DELETE FROM dispensings", "append-only"),
        ):
            with pytest.raises(sqlite3.IntegrityError, match=why):
                conn.execute(sql, [pid2, lot90] if "?" in sql else [])
        conn.execute("INSERT INTO dispensings VALUES (?, ?, 'RX-2', 0, 'Bo', '30', 'capsules',"
                     " 30000, 90000, 90000)", [pid2, lot90])  # exactly what is left: taken
        # a reprint-flagged dispensing label of an Rx never dispensed
        with pytest.raises(sqlite3.IntegrityError, match="repeats an earlier dispense"):
            conn.execute("INSERT INTO label_prints (lot_id, kind, template_id, "
                         "template_version, template_sha256, copies, pdf_sha256, output_path,"
                         " reprint, patient, rx_number, printed_by, printed_at) VALUES "
                         "(?, 'dispensing', 't', 1, ?, 1, ?, 'x', 1, 'Bo', 'RX-3', 'm', "
                         "'2026-03-01T00:00:00Z')", [lot90, "a" * 64, "a" * 64])
    finally:
        conn.close()


def test_two_processes_racing_for_the_last_capsules(tmp_path, lot90):
    assert dispense(tmp_path, lot90, "Ann Lee", "RX-1", "30").exit_code == 0
    db = tmp_path / "c.db"
    procs = [subprocess.Popen(
        cmd(db, "labels", "dispense", lot90, "--patient", f"P{i}", "--rx", f"RX-R{i}",
            "--quantity", "60", *DISP, "--output", str(tmp_path / f"r{i}.pdf"), "--by", "bob"),
        cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in (1, 2)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    assert sorted(r[0] for r in results) == [0, 1], results
    loser = next(r for r in results if r[0] == 1)
    assert loser[2].startswith("Error: quantity: 60 capsules is more than lot "), loser
    assert len(list(tmp_path.glob("r*.pdf"))) == 1
    store = Store.open(db)
    try:
        assert store.scalar("SELECT SUM(quantity_milli) FROM dispensings") == 90000
        assert store.scalar("SELECT COUNT(*) FROM pending_outputs") == 0
        assert store.verify() == []
    finally:
        store.close()


def test_rx_differing_only_by_case_needs_confirm_case(tmp_path, lot90):
    """Issue 12, class 8: an Rx number that differs from a recorded one only by case (rx-1
    beside RX-1, for another patient) reads as the same Rx on a label: refused unless
    --confirm-case; the recorded spelling itself (a reprint) is never refused."""
    assert dispense(tmp_path, lot90, "Ann Lee", "RX-1", "30").exit_code == 0
    out = tmp_path / "case.pdf"
    r = dispense(tmp_path, lot90, "Bo Chan", "rx-1", "30", out=out)
    assert (r.exit_code, r.output.splitlines()) == (1, [
        "Error: rx: rx-1 differs from recorded Rx RX-1 only by case; check the prescription "
        "and type it as recorded, or repeat with --confirm-case if it is a different "
        "prescription; nothing was printed or recorded"])
    assert not out.exists()
    r = dispense(tmp_path, lot90, "Bo Chan", "rx-1", "30", "--confirm-case", out=out)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == (
        f"Lot {lot90}: made 90 capsules, dispensed 60 capsules (2 dispenses), 30 capsules "
        "left.")
    for rx, patient in (("RX-1", "Ann Lee"), ("rx-1", "Bo Chan")):  # reprints as recorded
        r = dispense(tmp_path, lot90, patient, rx, "30")
        assert r.exit_code == 0, r.output
        assert r.stdout.splitlines()[-2].startswith("Recorded as a REPRINT")
    r = dispense(tmp_path, lot90, "Cy Dee", "Rx-1", "30")
    assert (r.exit_code, r.output.splitlines()[0].split(" only by case")[0]) == (
        1, "Error: rx: Rx-1 differs from recorded Rx RX-1, rx-1")
    store = Store.open(tmp_path / "c.db")
    try:
        assert store.scalar("SELECT COUNT(*) FROM dispensings WHERE lot_id = ?", [lot90]) == 2
    finally:
        store.close()


@pytest.mark.parametrize("field", ["patient", "prescriber", "directions"])
def test_right_to_left_refusal_names_the_field_typed(tmp_path, lot90, field):
    """A block holding several fields (Rx, prescriber, date) named them all joined
    ('rx+prescriber+dispensed'); the refusal names the one field at fault."""
    given = {"patient": "Ann Lee", "prescriber": "Dr C",
             "directions": "Take one capsule at bedtime"}
    given[field] = "\u062f. \u0639\u0644\u064a"
    out = tmp_path / "rtl.pdf"
    r = run(tmp_path, "labels", "dispense", lot90, "--rx", "RX-7", "--quantity", "30",
            *[x for k, v in given.items() for x in (f"--{k}", v)], "--output", str(out),
            "--by", "bob")
    assert r.exit_code != 0
    assert r.output.splitlines() == [
        f"Error: {field}: right-to-left script ('\u062f' (U+062F), '\u0639' (U+0639), "
        "'\u0644' (U+0644)) is not supported on labels yet (it would print reversed and "
        "unjoined); write the name in a left-to-right script as on the prescription record"]
    assert not out.exists()


@pytest.mark.parametrize("rx", ["<script>alert(1)</script>", "RX 1", "R" * 31, "-RX1",
                                "RX#1"])
def test_rx_number_follows_the_prescriptions_rule(tmp_path, lot90, rx):
    """The #15 attacker: `labels dispense --rx '<script>...'` was accepted, though `rx new`
    allows only 1 to 30 ASCII letters, digits, '-', '/' and '.'."""
    out = tmp_path / "rx.pdf"
    r = dispense(tmp_path, lot90, "Ann Lee", rx, "30", out=out)
    assert r.exit_code == 2, r.output
    assert r.output.splitlines()[-1] == (
        f"Error: rx: {rx!r} is not an Rx number; use 1 to 30 ASCII letters, digits, '-', "
        "'/' or '.', starting with a letter or digit")
    assert not out.exists()
