"""`compounding capsules calibrate` / `capsules list` and the plans that use a calibration
(issue 11, part 6): exact output and exit codes, hostile input refused in one line with
nothing written, real processes racing for one correction, SIGKILL inside the write, a
read-only database, and `plan` never creating a database. The store's clock is fixed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.store import Store, core
from signoff_support import ENV, ROOT, setup_db

NOW = datetime(2026, 11, 30, 23, 40, tzinfo=timezone.utc)
MCC = "microcrystalline-cellulose"
CAL = ["capsules", "calibrate", "--filler", MCC, "--size", "1"]


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    for var in ("COMPOUNDING_SETTINGS", "COMPOUNDING_FORMULAS", "COMPOUNDING_TEMPLATES",
                "COMPOUNDING_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(core, "_system_clock", lambda: NOW)


@pytest.fixture
def db(tmp_path):
    setup_db(tmp_path / "c.db", "ana")
    return tmp_path / "c.db"


def run(tmp_path, *args, db=True):
    pre = ["--formulas", str(ROOT / "formulas"), "--templates", str(ROOT / "templates")]
    post = ["--db", str(tmp_path / "c.db")] if db else []
    return CliRunner().invoke(cli, [*pre, *args, *post], env=ENV)


def count(path) -> int:
    s = Store.open(path)
    try:
        return s.scalar("SELECT COUNT(*) FROM capsule_calibrations")
    finally:
        s.close()


def test_calibrate_list_and_correct(tmp_path, db):
    r = run(tmp_path, *CAL, "--fill-weight", "312mg", "--capsules", "10", "--filler-lot",
            "MCC-118", "--by", "ana")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "Recorded capsule calibration 1: Microcrystalline cellulose (Avicel PH-102), size #1: "
        "312 mg a capsule (0.624 g/mL; the catalogue assumes 0.28 g/mL)",
        "Plans of microcrystalline-cellulose in size 1 now use calibration 1."]
    r = run(tmp_path, *CAL, "--fill-weight", "151.4 mg", "--corrects", "1", "--reason",
            "typed 312 for 151.4", "--by", "ana")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1:] == [
        "Corrects calibration 1: typed 312 for 151.4",
        "Plans of microcrystalline-cellulose in size 1 now use calibration 2."]
    r = run(tmp_path, "capsules", "list")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "ID  FILLER                      SIZE  FILL WEIGHT  DENSITY     CAPSULES  FILLER LOT  "
        "BY   AT (UTC)              STATUS",
        "--  --------------------------  ----  -----------  ----------  --------  ----------  "
        "---  --------------------  --------------",
        "1   microcrystalline-cellulose  1     312 mg       0.624 g/mL  10        MCC-118     "
        "ana  2026-11-30T23:40:00Z  corrected by 2",
        "2   microcrystalline-cellulose  1     151.4 mg     0.303 g/mL  -         -           "
        "ana  2026-11-30T23:40:00Z  in use",
        "Calibration 2 corrects 1: typed 312 for 151.4"]
    j = json.loads(run(tmp_path, "capsules", "list", "--size", "#1", "--json").output)
    assert [(x["id"], x["current"], x["corrected_by"]) for x in j] == [(1, False, 2),
                                                                      (2, True, None)]
    r = run(tmp_path, "capsules", "list", "--size", "2")
    assert r.output == ("No capsule calibrations recorded for that filler and size: plans "
                        "estimate the fill weight from the filler's assumed density\n")


@pytest.mark.parametrize("args,msg", [
    (["--fill-weight", "NaN mg"], "Error: --fill-weight: "),
    (["--fill-weight", "1e3 mg"], "Error: --fill-weight: "),
    (["--fill-weight", "\u0661\u0665\u0661 mg"], "Error: --fill-weight: "),
    (["--fill-weight", "151.4"], "Error: --fill-weight: "),
    (["--fill-weight", "312 g"], "Error: --fill-weight: 312 g in a size 1 capsule body "),
    (["--fill-weight", "312 mcg"], "Error: --fill-weight: 312 mcg in a size 1 capsule body "),
    (["--fill-weight", "150 mg", "--capsules", "\u0661\u0660"], "Error: Invalid value for "
     "'--capsules': '\u0661\u0660' is not a whole number written with the digits 0-9"),
    (["--fill-weight", "150 mg", "--filler-lot", "\u202eMCC"], "Error: --filler-lot: "
     "character U+202E"),
    (["--fill-weight", "150 mg", "--filler-lot", "X" * 300], "Error: --filler-lot: 300 "
     "characters; at most 40"),
    (["--fill-weight", "150 mg", "--corrects", "1"], "Error: --reason: a correction needs a "
     "reason"),
    (["--fill-weight", "150 mg", "--corrects", "5", "--reason", "x"], "Error: --corrects: no "
     "capsule calibration 5 on record"),
    # attack on issue 11: absurd magnitudes were a decimal.InvalidOperation / OverflowError
    # traceback
    (["--fill-weight", "99999999999999999999999999999 mg"], "Error: --fill-weight: "
     "'99999999999999999999999999999 mg': too large: at most 12 digits before the decimal "
     "point"),
    (["--fill-weight", "150.0000000000000000000000000001 mg"], "Error: --fill-weight: "
     "'150.0000000000000000000000000001 mg': too many decimal places: at most 12"),
    (["--fill-weight", "150 mg", "--corrects", "99999999999999999999", "--reason", "x"],
     "Error: Invalid value for '--corrects': 99999999999999999999 is too large; at most "
     "9223372036854775807"),
    (["--fill-weight", "150 mg", "--capsules", "99999999999999999999"],
     "Error: Invalid value for '--capsules': 99999999999999999999 is not in the range "
     "1<=x<=1000."),
])
def test_hostile_input_is_one_line_and_writes_nothing(tmp_path, db, args, msg):
    r = run(tmp_path, *CAL, *args, "--by", "ana")
    assert r.exit_code != 0
    # one Error line (click's usage errors, as for every whole-number option, come after
    # the usage line)
    lines = [x for x in r.output.splitlines() if x.startswith("Error")]
    assert len(lines) == 1 and lines[0].startswith(msg), r.output
    assert "Traceback" not in r.output
    assert count(db) == 0


@pytest.mark.parametrize("filler", ["microcrystalline\u200b-cellulose", "\u0645\u0645",
                                    "m" * 300, "lactose\x07"])
def test_hostile_filler_names_are_refused(tmp_path, db, filler):
    r = run(tmp_path, "capsules", "calibrate", "--filler", filler, "--size", "1",
            "--fill-weight", "150 mg", "--by", "ana")
    assert r.exit_code == 2 and r.output.startswith("Error: ") and \
        len(r.output.strip().splitlines()) == 1, r.output
    assert count(db) == 0


def test_plan_and_batch_use_the_calibration(tmp_path, db):
    # no calibration: the estimate (0.5 mL x 280 mg/mL = 140 mg)
    r = run(tmp_path, "plan", "ldn-capsules", "-q", "90", "-s", "1.5mg", "--json")
    assert json.loads(r.output)["capsule"]["fill_weight_basis"] == "estimate"
    assert run(tmp_path, *CAL, "--fill-weight", "151.4mg", "--by", "ana").exit_code == 0
    r = run(tmp_path, "plan", "ldn-capsules", "-q", "90", "-s", "1.5mg")
    assert r.exit_code == 0, r.output
    assert ("  Fill weight 151 mg per capsule; total blend 13.892 g for 92 capsules"
            in r.output.splitlines())
    assert ("  Fill weight from capsule calibration 1: Microcrystalline cellulose (Avicel "
            "PH-102) in size #1, 151.4 mg a capsule, measured by ana, recorded "
            "2026-11-30T23:40:00Z") in r.output.splitlines()
    # batch create plans with the store's calibration and keeps which one in its record
    for ing, lot, qty in (("naltrexone-hcl", "NX1", "10 g"), (MCC, "MCC1", "500 g")):
        assert run(tmp_path, "inventory", "receive", ing, "--lot", lot, "--expires",
                   "2030-01-31", "--quantity", qty, "--by", "ana").exit_code == 0
    r = run(tmp_path, "batch", "create", "ldn-capsules", "--quantity", "90", "--strength",
            "1.5 mg", "--by", "ana", "--json")
    assert r.exit_code == 0, r.output
    cap = json.loads(r.output)["plan"]["capsule"]
    assert (cap["fill_weight_basis"], cap["calibration"]["id"], cap["fill_weight"]) == (
        "calibration", 1, {"amount": "151", "unit": "mg"})
    # the worksheet says which calibration; no box for an estimate's measured fill weight
    import io

    import pdfplumber

    from compounding.labeling.worksheet import render_worksheet
    from compounding.settings import Settings
    s = Store.open(db)
    try:
        pdf = render_worksheet(s.get_batch(json.loads(r.output)["lot_id"]), Settings())
    finally:
        s.close()
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        text = " ".join(" ".join(p.extract_text().split()) for p in doc.pages)
    assert ("Fill weight from capsule calibration 1: Microcrystalline cellulose (Avicel "
            "PH-102) in size #1, 151.4 mg a capsule, measured by ana") in text
    assert "Measured fill weight" not in text


def test_plan_never_creates_a_database(tmp_path):
    r = run(tmp_path, "plan", "ldn-capsules", "-q", "90", "-s", "1.5mg", db=False)
    assert r.exit_code == 0 and not (tmp_path / "compounding.db").exists()
    r = run(tmp_path, "plan", "ldn-capsules", "-q", "90", "-s", "1.5mg")
    assert r.exit_code == 2 and not (tmp_path / "c.db").exists()
    assert r.output == (f"Error: --db: {tmp_path / 'c.db'} does not exist (a plan reads capsule "
                        "calibrations from a database, never creates one)\n")


def test_read_only_database_is_one_line(tmp_path, db):
    os.chmod(db, 0o444)
    os.chmod(tmp_path, 0o555)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("running as a user who can write read-only files")
        r = run(tmp_path, *CAL, "--fill-weight", "150 mg", "--by", "ana")
        assert r.exit_code != 0 and r.output.startswith("Error: ")
        assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    finally:
        os.chmod(tmp_path, 0o755)
        os.chmod(db, 0o644)
    assert count(db) == 0


# ---------------------------------------------------------------- real processes

def cmd(db, *args):
    return [sys.executable, "-m", "compounding", "--formulas", str(ROOT / "formulas"),
            *args, "--db", str(db)]


def penv():
    e = {k: v for k, v in os.environ.items() if not k.startswith("COMPOUNDING_")}
    return {**e, **ENV}


def test_two_processes_correcting_one_calibration_record_one(tmp_path, db):
    subprocess.run(cmd(db, *CAL, "--fill-weight", "312 mg", "--by", "ana"), cwd=tmp_path,
                   env=penv(), check=True, capture_output=True)
    procs = [subprocess.Popen(cmd(db, *CAL, "--fill-weight", w, "--corrects", "1",
                                  "--reason", "typo", "--by", "ana"),
                              cwd=tmp_path, env=penv(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for w in ("151.4 mg", "152.4 mg")]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    assert sorted(r[0] for r in results) == [0, 1], results
    loser = next(r for r in results if r[0] == 1)
    assert loser[2].startswith("Error: --corrects: calibration 1 is no longer the latest of "
                               "microcrystalline-cellulose size 1: calibration 2 was recorded "
                               "after it by ana at "), loser
    s = Store.open(db)
    try:
        assert s.scalar("SELECT COUNT(*) FROM capsule_calibrations") == 2
        assert s.verify() == []
    finally:
        s.close()


def test_killed_inside_the_transaction_leaves_nothing(tmp_path, db):
    code = f"""
import sys, time
sys.argv = {cmd(db, *CAL, "--fill-weight", "150 mg", "--by", "ana")[2:]!r}
import compounding.store.core as core
audit = core.StoreCore.audit
def stalled(self, *a, **k):
    out = audit(self, *a, **k)
    print("INSIDE", flush=True)
    time.sleep(60)
    return out
core.StoreCore.audit = stalled
from compounding.cli import cli
cli()
"""
    p = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=penv(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "INSIDE", p.stderr.read()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    s = Store.open(db)
    try:
        assert s.scalar("SELECT COUNT(*) FROM capsule_calibrations") == 0
        assert s.verify() == []
    finally:
        s.close()
    r = subprocess.run(cmd(db, *CAL, "--fill-weight", "150 mg", "--by", "ana"), cwd=tmp_path,
                       env=penv(), capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("Recorded capsule calibration 1: "), \
        r.stderr


@pytest.mark.parametrize("args", [
    [*CAL, "--fill-weight", "150 mg", "--by", "ana"],
    ["capsules", "list"],
    ["plan", "ldn-capsules", "-q", "90", "-s", "1.5mg"],
])
def test_truncated_database_is_one_line(tmp_path, db, args):
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    r = run(tmp_path, *args)
    # issue 12: found from the file's header before SQLite opens it
    assert r.exit_code == 1 and r.output.startswith(
        f"Error: database {db} is truncated or damaged ({size // 2:,} bytes; its header "
        "says "), r.output
    assert r.output.endswith("; it was not changed; restore it from a backup (compounding db "
                             "backup)\n")


@pytest.mark.parametrize("args, msg", [
    # attack on issue 11: a blank --filler/--base/--avoid was read as "the default" (a blank
    # --base planned the paraben base), a blank or unknown --size listed nothing
    (["plan", "ldn-capsules", "-q", "30", "-s", "1 mg", "--filler", ""],
     "Error: --filler: must not be empty"),
    (["plan", "ldn-cream", "-q", "60 g", "-s", "1 mg/g", "--base", " "],
     "Error: --base: must not be empty"),
    (["plan", "ldn-cream", "-q", "60 g", "-s", "1 mg/g", "--avoid", ""],
     "Error: --avoid: must not be empty"),
    (["plan", "ldn-cream", "-q", "60 g", "-s", "1 mg/g", "--avoid", "parabens\u202e"],
     "Error: --avoid: character U+202E"),
    (["bud", "ldn-cream", "--base", ""], "Error: --base: must not be empty"),
    (["bud", "ldn-cream", "--base", "cream-base-preserved\u200b"], "Error: --base: character "
     "U+200B"),
    (["bud", "ldn-capsules", "--filler", ""], "Error: --filler: must not be empty"),
    (["batch", "create", "ldn-cream", "--quantity", "60 g", "--base", "", "--by", "ana"],
     "Error: --base: must not be empty"),
    (["capsules", "list", "--filler", ""], "Error: --filler: must not be empty"),
    (["capsules", "list", "--size", ""], "Error: --size: '' is not a capsule size; sizes: "
     "000, 00, 0, 1, 2, 3, 4, 5"),
    (["capsules", "list", "--size", "7"], "Error: --size: '7' is not a capsule size; sizes: "
     "000, 00, 0, 1, 2, 3, 4, 5"),
])
def test_blank_choice_is_refused_not_read_as_the_default(tmp_path, db, args, msg):
    r = run(tmp_path, *args, db=args[0] != "bud")
    assert r.exit_code == 2, r.output
    assert r.output.splitlines() == [msg] or (r.output.startswith(msg)
                                              and len(r.output.splitlines()) == 1), r.output
    assert "Traceback" not in r.output


def test_a_correction_that_changes_nothing_is_refused(tmp_path, db):
    # attack on issue 11: `--corrects N` with the same figure (140 mg then 0.14 g) recorded a
    # second, identical row and marked the first "corrected"
    r = run(tmp_path, *CAL, "--fill-weight", "140 mg", "--capsules", "10", "--by", "ana")
    assert r.exit_code == 0, r.output
    r = run(tmp_path, *CAL, "--fill-weight", "0.14 g", "--capsules", "10", "--corrects", "1",
            "--reason", "same", "--by", "ana")
    assert r.exit_code == 1
    assert r.output == ("Error: --corrects: calibration 1 already records 140 mg a capsule, 10 "
                        "capsules weighed: a correction must change the fill weight, --capsules "
                        "or --filler-lot\n")
    assert count(db) == 1
    # a correction of a correction that changes the lot is recorded
    r = run(tmp_path, *CAL, "--fill-weight", "140 mg", "--capsules", "10", "--filler-lot",
            "MCC-9", "--corrects", "1", "--reason", "lot left out", "--by", "ana")
    assert r.exit_code == 0, r.output
    r = run(tmp_path, *CAL, "--fill-weight", "141 mg", "--capsules", "10", "--filler-lot",
            "MCC-9", "--corrects", "2", "--reason", "mean re-computed", "--by", "ana")
    assert r.exit_code == 0, r.output
    assert count(db) == 3
