"""`db verify` and the clock (issue 12): an audit entry whose time is more than a few
seconds before the entry before it - the clock was moved back, or an entry was inserted -
is a warning line naming both entries. Not a problem (the exit status stays 0: clocks are
corrected in real pharmacies), but never silent. Table-driven with a fixed clock on both
backends, and real processes with the clock moved back by faketime."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from compounding.store import Store, audit
from signoff_support import ENV, setup_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def back(entry: int, at: float, before: int, before_at: float, span: str) -> str:
    return (f"audit_log {entry}: its time {stamp(at)} is {span} before entry {before}'s "
            f"({stamp(before_at)}): the clock was moved back, or the entry was inserted; "
            "check both entries")


CASES = [
    # name, seconds after T0 of each entry, the warnings
    ("in order", [0, 1, 1, 3600], []),
    ("same instant", [0, 0, 0], []),
    ("back within the 5 s tolerance", [0, -5], []),
    ("back 6 s", [0, -6], [back(2, -6, 1, 0, "6 s")]),
    ("moved back 2 h, then on: one warning", [0, 60, -7140, -7139, 120],
     [back(3, -7140, 2, 60, "2 h")]),
    ("moved back twice", [0, -86400 - 61, 10, -30],
     [back(2, -86461, 1, 0, "1 d 1 min 1 s"), back(4, -30, 3, 10, "40 s")]),
]


@pytest.mark.parametrize("name, times, warnings", CASES, ids=[c[0] for c in CASES])
def test_time_going_backwards_is_a_warning_naming_the_entries(store_path, name, times,
                                                              warnings):
    now = [T0]
    with Store.open(store_path, clock=lambda: now[0]) as s:
        first = s.scalar("SELECT COUNT(*) FROM audit_log")
        assert first == 0
        for i, t in enumerate(times):
            now[0] = T0 + timedelta(seconds=t)
            with s.write():
                s.audit("note", "ana", {"n": i})
        report = audit.verify_report(s)
    assert report["problems"] == []
    assert report["warnings"] == warnings


FAKETIME = shutil.which("faketime")


@pytest.mark.skipif(FAKETIME is None, reason="faketime not installed (Debian package faketime)")
def test_a_command_run_with_the_clock_moved_back_is_flagged_by_db_verify(tmp_path):
    db = tmp_path / "c.db"
    setup_db(db)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("COMPOUNDING_")},
           **ENV}
    base = [sys.executable, "-m", "compounding"]
    p = subprocess.run([FAKETIME, "-f", "-3h", *base, "users", "add", "tom", "--role",
                        "technician", "--by", "pharm", "--db", str(db)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([*base, "users", "add", "eve", "--role", "technician", "--by",
                        "pharm", "--db", str(db)], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    with Store.open(db) as s:
        rows = s.rows("SELECT id, at FROM audit_log ORDER BY id")
    moved = [r["id"] for r in rows if r["at"] < rows[0]["at"]]
    assert moved  # the entries written three hours "earlier"
    p = subprocess.run([*base, "db", "verify", "--db", str(db)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("OK: integrity check passed")
    (line,) = p.stderr.splitlines()
    m = re.fullmatch(r"Warning: audit_log (\d+): its time (\S+) is 2 h 59 min( \d+ s)? before "
                     r"entry (\d+)'s \((\S+)\): the clock was moved back, or the entry was "
                     r"inserted; check both entries", line)
    assert m, line
    assert (int(m.group(1)), int(m.group(4))) == (moved[0], moved[0] - 1)
    p = subprocess.run([*base, "db", "verify", "--json", "--db", str(db)], env=env,
                       capture_output=True, text=True, timeout=120)
    import json
    data = json.loads(p.stdout)
    assert (p.returncode, data["ok"], len(data["warnings"])) == (0, True, 1)
