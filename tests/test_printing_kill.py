"""kill -9 while printing (issue 14), in real processes: killed while waiting for the
printer's status (nothing was announced: nothing is recorded), and killed mid-send to a
jammed printer that stops reading (issue 12: the job was announced before the send, so the
next print records it as printed, marked recovered, and says so: the printer may have
printed it). Either way the database stays whole and unlocked and the next print works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from printing_support import FakePrinter
from signoff_support import ENV
from test_labels_cli import clean_env, lot, run  # noqa: F401 (fixtures)
from test_labels_support import ROOT

#: The child: the real CLI, with the job made 3 MB (more than loopback buffers hold) so the
#: send blocks on a printer that stops reading.
CHILD = """
import sys
from compounding.printing import jobs
real = jobs.render_job
def big(*a, **k):
    data, lays = real(*a, **k)
    return data + b"^FX" + b"x" * 3_000_000 + b"\\n", lays
if sys.argv[1] == "big":
    jobs.render_job = big
from compounding.cli import cli
cli.main(sys.argv[2:], prog_name="compounding")
"""


def settings(tmp_path, url, check_status=True):
    p = tmp_path / "pharmacy.toml"
    p.write_text(f'[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "{url}"\n'
                 f"timeout_seconds = 60\ncheck_status = {str(check_status).lower()}\n")
    return p


def _child(tmp_path, mode, settings_path, lot):
    args = ["--formulas", str(ROOT / "formulas"), "--templates", str(ROOT / "templates"),
            "--settings", str(settings_path), "labels", "print", lot, "--printer", "z",
            "--by", "bob", "--db", str(tmp_path / "c.db")]
    return subprocess.Popen([sys.executable, "-c", CHILD, mode, *args],
                            env={**os.environ, **ENV}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("stage", ["status", "send"])
def test_kill_9_while_printing_records_nothing(tmp_path, lot, stage):
    fp = FakePrinter(stall=stage == "send")
    fp.silent = stage == "status"
    try:
        # "send": no status query, so the one connection the printer stalls is the job's
        proc = _child(tmp_path, "big" if stage == "send" else "plain",
                      settings(tmp_path, fp.url, check_status=stage == "status"), lot)
        if stage == "status":
            assert _wait(lambda: fp.status_queries >= 1)
        else:
            assert _wait(lambda: fp.stalled >= 1) and fp.status_queries == 0
        time.sleep(0.5)  # blocked: in recv (status) or in sendall (the jammed printer)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        fp.close()
    show = json.loads(run(tmp_path, "batch", "show", lot, "--json").stdout)
    assert show["label_prints"] == []
    r = run(tmp_path, "db", "verify")
    assert r.exit_code == 0, r.output
    ok = FakePrinter()
    try:
        r = run(tmp_path, "--settings", str(settings(tmp_path, ok.url)), "labels", "print",
                lot, "--printer", "z", "--by", "bob")
        assert r.exit_code == 0, r.output
        assert len(ok.wait_jobs(1)) == 1
    finally:
        ok.close()
    prints = json.loads(run(tmp_path, "batch", "show", lot, "--json").stdout)["label_prints"]
    if stage == "status":  # killed before the job was announced
        assert r.stderr == ""
        assert [(p["output_path"], p["reprint"]) for p in prints] == [
            (f"printer z ({ok.url})", False)]
    else:  # announced, killed mid-send: recorded by the next print, which says so
        assert r.stderr.startswith(f"Warning: a print of lot {lot} to printer z ({fp.url}) "
                                   "by bob at ")
        assert r.stderr.endswith(" stopped while being sent; it is now recorded as printed "
                                 "(print #1): check whether the printer printed it\n")
        assert [(p["output_path"], p["reprint"]) for p in prints] == [
            (f"printer z ({fp.url})", False), (f"printer z ({ok.url})", True)]
    assert run(tmp_path, "db", "verify").exit_code == 0


@pytest.mark.skipif(not __import__("shutil").which("faketime"), reason="faketime not installed")
@pytest.mark.parametrize("clock", ["@2030-01-01 00:00:00", "+1y x10"])
def test_a_silent_printer_times_out_with_the_clock_frozen_or_racing(tmp_path, clock):
    """The ~HS wait ends (and refuses) whatever the wall clock does: socket timeouts run on
    the kernel's timers, the deadline on the monotonic clock."""
    fp = FakePrinter()
    fp.silent = True
    try:
        s = tmp_path / "p.toml"
        s.write_text(f'[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "{fp.url}"\n'
                     f'timeout_seconds = 2\n[template_printers]\nbatch-thermal = "z"\n')
        r = subprocess.run(["faketime", "-f", clock, sys.executable, "-m", "compounding",
                            "--templates", str(ROOT / "templates"), "--settings", str(s),
                            "printers", "test", "z"], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)
        assert r.returncode == 1
        assert r.stderr == (f"Error: printer 'z' ({fp.url}): no ~HS status reply within 2 s "
                            f"(if this printer does not answer ~HS, set check_status = false "
                            f"in [printers.z])\n")
        assert fp.jobs == []
    finally:
        fp.close()
