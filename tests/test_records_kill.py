"""No PDF without a record, no record without a PDF (issue 12, part 2), in real processes
killed with SIGKILL at each step of a print (the ``COMPOUNDING_TEST_KILL_AT`` hook of
compounding.store.pending): announced, written to the temporary name, recorded, renamed.
The next print finishes or clears what was left, says so on stderr, and puts it on the
audit log; afterwards every recorded print has its file with the recorded SHA-256, no
temporary file is left, and `db verify` is clean."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
from pathlib import Path

import pytest

from compounding.store import Store
from printing_support import FakePrinter
from test_labels_cli import clean_env, lot, run  # noqa: F401 (fixtures)
from test_rx_race import cmd, env


def killed(tmp_path, point, *args):
    p = subprocess.run(cmd(tmp_path / "c.db", *args), cwd=tmp_path,
                       env={**env(), "COMPOUNDING_TEST_KILL_AT": point},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stdout, p.stderr)


def state(tmp_path):
    store = Store.open(tmp_path / "c.db")
    try:
        return (store.rows("SELECT id, lot_id, kind, pdf_sha256, output_path, reprint FROM "
                           "label_prints ORDER BY id"),
                store.rows("SELECT * FROM pending_outputs"),
                [e["action"] for e in store.audit_log()],
                store.verify())
    finally:
        store.close()


def files_match_records(tmp_path, prints):
    for p in prints:
        if p["output_path"].startswith("printer "):
            continue
        data = Path(p["output_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == p["pdf_sha256"], p


EXPECT = {
    # point: (recorded after the kill, file in place after the kill, note of the next print)
    "reserved": (False, False, "Note: a print of lot {lot} to {out} by bob at {at} stopped "
                 "before it was recorded; nothing was recorded"),
    "written": (False, False, "Note: a print of lot {lot} to {out} by bob at {at} stopped "
                "before it was recorded; nothing was recorded; its temporary file was "
                "removed"),
    "recorded": (True, False, "Note: print #1 of lot {lot} (by bob at {at}) was recorded but "
                 "its process stopped before the PDF got its name; it is now at {out}"),
    "renamed": (True, True, None),
}


@pytest.mark.parametrize("point", list(EXPECT))
@pytest.mark.parametrize("command", ["print", "dispense"])
def test_kill_9_at_each_step_of_a_print(tmp_path, lot, point, command):
    out = tmp_path / "out" / "label.pdf"
    args = (["labels", "print", lot] if command == "print" else
            ["labels", "dispense", lot, "--patient", "Ann Lee", "--rx", "RX-1", "--quantity",
             "60", "--directions", "Take one", "--prescriber", "Dr C"])
    killed(tmp_path, point, *args, "--output", str(out), "--by", "bob")
    recorded, placed, note = EXPECT[point]
    prints, pending, _, problems = state(tmp_path)
    assert problems == []
    assert len(prints) == int(recorded) and len(pending) == 1
    assert out.exists() == placed
    temps = list(out.parent.glob(".compounding-tmp-*")) if out.parent.exists() else []
    assert len(temps) == int(point in ("written", "recorded"))
    at = pending[0]["started_at"]
    # the next print (another lot file) resolves it first
    nxt = tmp_path / "next.pdf"
    r = run(tmp_path, "labels", "print", lot, "--output", str(nxt), "--by", "bob")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == ([note.format(lot=lot, out=out, at=at)] if note else [])
    prints, pending, actions, problems = state(tmp_path)
    assert problems == [] and pending == []
    assert not list(out.parent.glob(".compounding-tmp-*"))
    files_match_records(tmp_path, prints)
    assert out.exists() == recorded
    assert actions[-1] == ("label.reprint" if command == "print" and recorded else
                           "label.print")
    recovery = {"reserved": "label.print_abandoned", "written": "label.print_abandoned",
                "recorded": "label.file_recovered"}.get(point)
    assert (recovery in actions) if recovery else not {
        "label.print_abandoned", "label.file_recovered", "label.file_missing"} & set(actions)
    if command == "dispense":  # the reservation of an abandoned dispense is released
        r = run(tmp_path, "batch", "show", lot)
        line = (f"Lot {lot}: made 100 capsules, dispensed 60 capsules (1 dispense), 40 "
                "capsules left." if recorded else
                f"Lot {lot}: made 100 capsules, dispensed 0 capsules (0 dispenses), 100 "
                "capsules left.")
        assert line in r.stdout.splitlines()


def test_recorded_file_whose_name_was_taken_is_kept_beside_it(tmp_path, lot):
    out = tmp_path / "label.pdf"
    killed(tmp_path, "recorded", "labels", "print", lot, "--output", str(out), "--by", "bob")
    out.write_bytes(b"someone else's file")
    r = run(tmp_path, "labels", "print", lot, "--output", str(tmp_path / "n.pdf"), "--by",
            "bob")
    assert r.exit_code == 0, r.output
    alt = tmp_path / "label-print1.pdf"
    assert r.stderr.splitlines()[0].endswith(f"it is now at {alt}")
    assert out.read_bytes() == b"someone else's file"
    prints, pending, _, problems = state(tmp_path)
    assert hashlib.sha256(alt.read_bytes()).hexdigest() == prints[0]["pdf_sha256"]
    assert pending == [] and problems == []


def test_recorded_file_removed_meanwhile_is_reported(tmp_path, lot):
    out = tmp_path / "label.pdf"
    killed(tmp_path, "recorded", "labels", "print", lot, "--output", str(out), "--by", "bob")
    for t in tmp_path.glob(".compounding-tmp-*"):
        t.unlink()
    r = run(tmp_path, "labels", "print", lot, "--output", str(tmp_path / "n.pdf"), "--by",
            "bob")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[0].startswith("Warning: print #1 of lot ")
    assert r.stderr.splitlines()[0].endswith(f"is recorded but its file is missing or "
                                             f"altered ({out}); reprint it")
    assert state(tmp_path)[2][-2] == "label.file_missing"


def test_a_running_print_is_left_alone(tmp_path, lot):
    """A pending row of a live process (this test's own) is not touched by another print."""
    store = Store.open(tmp_path / "c.db")
    try:
        from compounding.store import pending
        pid = pending.begin(store, lot_id=lot, target="file", output_path=str(tmp_path / "x"),
                            temp_path=str(tmp_path / ".compounding-tmp-live"),
                            sha256="a" * 64, record={"kind": "batch"}, by="bob")
    finally:
        store.close()
    r = run(tmp_path, "labels", "print", lot, "--output", str(tmp_path / "n.pdf"), "--by",
            "bob")
    assert r.exit_code == 0 and r.stderr == ""
    assert [p["id"] for p in state(tmp_path)[1]] == [pid]


@pytest.mark.parametrize("point", ["reserved", "sent"])
def test_kill_9_around_a_printer_send_is_recorded_as_maybe_printed(tmp_path, lot, point):
    fp = FakePrinter()
    try:
        s = tmp_path / "p.toml"
        s.write_text(f'[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "{fp.url}"\n'
                     "check_status = false\n")
        killed(tmp_path, point, "--settings", str(s), "labels", "print", lot, "--printer", "z",
               "--by", "bob")
        if point == "sent":
            assert len(fp.wait_jobs(1)) == 1
        else:
            assert fp.jobs == []
        prints, pending, _, _ = state(tmp_path)
        assert prints == [] and len(pending) == 1
        r = run(tmp_path, "--settings", str(s), "labels", "print", lot, "--printer", "z",
                "--by", "bob", "--json")
        assert r.exit_code == 0, r.output
        assert r.stderr.splitlines()[0].endswith(
            "stopped while being sent; it is now recorded as printed (print #1): check "
            "whether the printer printed it")
        assert json.loads(r.stdout)["reprint"] is True
    finally:
        fp.close()
    prints, pending, actions, problems = state(tmp_path)
    assert [p["reprint"] for p in prints] == [0, 1] and pending == [] and problems == []
    store = Store.open(tmp_path / "c.db")
    try:
        first = [e for e in store.audit_log() if e["action"] == "label.print"][-1]
        assert first["details"]["recovered"]["note"] == (
            "sent or being sent when its process stopped; may not have printed")
    finally:
        store.close()
