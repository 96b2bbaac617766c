"""`compounding labels ...` and `compounding batch worksheet`: exact output, exit codes, the
print record (template id, version, hash, PDF SHA-256, reprint flag) and the PDFs."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from signoff_support import ENV, release_db, setup_db
from test_labels_support import ROOT, decode, page_text, plumber_pages, raster, templates


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("COMPOUNDING_SETTINGS", "COMPOUNDING_FORMULAS", "COMPOUNDING_TEMPLATES",
                "COMPOUNDING_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def run(tmp_path, *args):
    pre = ["--formulas", str(ROOT / "formulas"), "--templates", str(ROOT / "templates")]
    return CliRunner().invoke(cli, [*pre, *args, *(["--db", str(tmp_path / "c.db")]
                                                   if args[0] not in ("labels",) or
                                                   args[1] != "templates" else [])],
                                env=ENV)  # issue 7: the acting user's passphrase


@pytest.fixture
def lot(tmp_path):
    setup_db(tmp_path / "c.db", "alice", "bob", templates=True)  # issue 7: users, approvals
    for ing, lot_no, qty in (("naltrexone-hcl", "NX1", "10 g"),
                             ("lactose-monohydrate", "LA1", "500 g")):
        r = run(tmp_path, "inventory", "receive", ing, "--lot", lot_no, "--expires",
                "2030-01-31", "--quantity", qty, "--by", "alice")
        assert r.exit_code == 0, r.output
    r = run(tmp_path, "batch", "create", "ldn-capsules", "--quantity", "100 capsules",
            "--strength", "1.5 mg", "--filler", "lactose-monohydrate", "--by", "alice", "--json")
    assert r.exit_code == 0, r.output
    lot_id = json.loads(r.stdout)["lot_id"]
    release_db(tmp_path / "c.db", lot_id)  # issue 7: labels print only for a released batch
    return lot_id


def test_templates_table():
    r = CliRunner().invoke(cli, ["--templates", str(ROOT / "templates"), "labels", "templates"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "ID                  VERSION  KIND        SIZE            PER PAGE  DPI  NAME",
        "------------------  -------  ----------  --------------  --------  ---  "
        "--------------------------------------------------",
        "batch-thermal       1        batch       2.25 x 1.25 in  1         203  "
        "Batch label, thermal roll 2.25 x 1.25 in",
        "dispensing-thermal  1        dispensing  4 x 2 in        1         203  "
        "Dispensing label, thermal roll 4 x 2 in",
        "sheet-a4-21         1        batch       63.5 x 38.1 mm  21        300  "
        "Batch labels, A4 sheet of 21 (63.5 x 38.1 mm)",
        "sheet-letter-30     1        batch       2.625 x 1 in    30        300  "
        "Batch labels, US Letter sheet of 30 (2.625 x 1 in)",
    ]


def test_templates_json():
    r = CliRunner().invoke(cli, ["--templates", str(ROOT / "templates"), "labels",
                                 "templates", "--json"])
    rows = json.loads(r.stdout)
    ts = templates()
    assert [(x["id"], x["version"], x["sha256"]) for x in rows] == [
        (tid, 1, ts.hashes[tid]) for tid in sorted(ts.templates)]
    assert rows[0]["labels_per_page"] == 1 and rows[2]["labels_per_page"] == 21


def test_print_records_and_marks_reprint(tmp_path, lot):
    out = tmp_path / "a.pdf"
    r = run(tmp_path, "labels", "print", lot, "--output", str(out), "--by", "bob")
    assert r.exit_code == 0, r.output
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert r.stdout.splitlines() == [
        f"Wrote {out} (1 batch label, template batch-thermal v1)",
        f"PDF SHA-256: {digest}",
        "Recorded.",
    ]
    assert {(b.format.name, b.text) for b in decode(raster(out.read_bytes(), 203))} == {
        ("Code128", lot)}
    out2 = tmp_path / "b.pdf"
    r = run(tmp_path, "labels", "print", lot, "--template", "sheet-a4-21", "--copies", "3",
            "--start-position", "20", "--output", str(out2), "--by", "bob", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["reprint"] is True and rec["labels"] == 3
    assert rec["template"] == "sheet-a4-21" and rec["template_version"] == 1
    assert rec["template_sha256"] == templates().hashes["sheet-a4-21"]
    assert rec["pdf_sha256"] == hashlib.sha256(out2.read_bytes()).hexdigest()
    assert len(plumber_pages(out2.read_bytes())) == 2  # positions 20, 21, then page 2
    show = json.loads(run(tmp_path, "batch", "show", lot, "--json").stdout)
    prints = show["label_prints"]
    assert [(p["template_id"], p["copies"], p["reprint"], p["printed_by"]) for p in prints] == [
        ("batch-thermal", 1, False, "bob"), ("sheet-a4-21", 3, True, "bob")]
    assert prints[0]["pdf_sha256"] == digest


_PRINT_AND_LIST_MODULES = """
import sys
from compounding.cli import cli
cli.main(sys.argv[1:], standalone_mode=False)
heavy = ("sqlite_utils", "pydantic", "compounding.printing.jobs", "compounding.printing.zpl")
print("loaded:", sorted(m for m in heavy if m in sys.modules))
"""


def test_a_pdf_print_loads_no_sqlite_utils_pydantic_or_printer_modules(tmp_path, lot):
    """Issue 18, the fixed cost of a print: once the settings and templates are in the
    cache, printing a PDF opens the (migrated) store, checks and records the print without
    importing sqlite-utils (migrations only), pydantic (validation of files not seen
    before) or the printer and ZPL modules."""
    import os
    import subprocess
    import sys

    env = {**os.environ, **ENV, "COMPOUNDING_CACHE_DIR": str(tmp_path / "cache")}
    args = ["--formulas", str(ROOT / "formulas"), "--templates", str(ROOT / "templates"),
            "labels", "print", lot, "--by", "alice", "--db", str(tmp_path / "c.db"),
            "--output", str(tmp_path / "l.pdf"), "--force"]
    outs = [subprocess.run([sys.executable, "-c", _PRINT_AND_LIST_MODULES, *args],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
            for _ in range(2)]  # the first fills the cache
    assert [o.returncode for o in outs] == [0, 0], [o.stderr for o in outs]
    assert "Recorded" in outs[1].stdout
    assert outs[1].stdout.splitlines()[-1] == "loaded: []"


def test_default_output_is_labels_folder_in_cwd(tmp_path, lot):
    r = run(tmp_path, "labels", "print", lot, "--by", "bob")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "labels" / f"{lot}-batch-thermal.pdf").exists()


def test_dispense(tmp_path, lot):
    out = tmp_path / "d.pdf"
    r = run(tmp_path, "labels", "dispense", lot, "--patient", "Zoë Nguyễn", "--directions",
            "Take one capsule at bedtime", "--prescriber", "Dr Ana Петрова", "--rx", "RX-77",
            "--quantity", "30", "--output", str(out), "--by", "bob", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["kind"] == "dispensing" and rec["template"] == "dispensing-thermal"
    text = page_text(plumber_pages(out.read_bytes())[0][2])
    for s in ("Zoë Nguyễn", "Take one capsule at bedtime", "Rx: RX-77", "Qty: 30 capsules",
              "Contains lactose.", "Naltrexone HCl 1.5 mg capsules", f"Lot: {lot}"):
        assert s in text
    show = json.loads(run(tmp_path, "batch", "show", lot, "--json").stdout)
    p = show["label_prints"][-1]
    assert (p["kind"], p["patient"], p["rx_number"], p["dispensed_quantity"]) == (
        "dispensing", "Zoë Nguyễn", "RX-77", "30 capsules")


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--patient", "王小明"], 1,
     "Error: patient: no shipped font can draw '王' (U+738B), '小' (U+5C0F), '明' (U+660E); "
     "refusing to print a label with a missing character"),
    (["--quantity", "500"], 2,
     "Error: quantity: 500 capsules is more than the batch made (100 capsules)"),
    (["--quantity", "30 mL"], 2, None),
    (["--template", "batch-thermal"], 2,
     "Error: template: 'batch-thermal' is a batch label template; use a dispensing template"),
])
def test_dispense_refusals_write_nothing(tmp_path, lot, args, code, message):
    base = {"--patient": "A B", "--directions": "Take one", "--prescriber": "Dr C",
            "--rx": "1", "--quantity": "30"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    out = tmp_path / "x.pdf"
    flat = [x for kv in base.items() for x in kv]
    r = run(tmp_path, "labels", "dispense", lot, *flat, *args[len(args):], "--output", str(out),
            "--by", "bob")
    assert r.exit_code == code, r.output
    if message:
        assert r.output.splitlines()[-1] == message
    assert not out.exists()


def test_print_refusals(tmp_path, lot):
    r = run(tmp_path, "labels", "print", lot, "--template", "sheet-a4-21", "--start-position",
            "22", "--output", str(tmp_path / "x.pdf"), "--by", "bob")
    assert r.exit_code == 2
    assert r.output.splitlines()[-1] == ("Error: start position: 22 is out of range; template "
                                         "'sheet-a4-21' has positions 1 to 21")
    r = run(tmp_path, "labels", "print", lot, "--template", "nope", "--by", "bob")
    assert r.exit_code == 2 and "unknown label template 'nope'" in r.output
    from datetime import date

    from compounding.store.lotid import make_lot_id
    r = run(tmp_path, "labels", "print", make_lot_id(date(2020, 1, 1), 1), "--by", "bob")
    assert r.exit_code == 2 and r.output.startswith("Error: no batch with lot ID")
    assert not (tmp_path / "x.pdf").exists()


def test_batch_worksheet(tmp_path, lot):
    out = tmp_path / "w.pdf"
    r = run(tmp_path, "batch", "worksheet", lot, "--output", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"Wrote {out} (compounding worksheet, lot {lot})",
        f"PDF SHA-256: {hashlib.sha256(out.read_bytes()).hexdigest()}"]
    text = " ".join(page_text(p[2]) for p in plumber_pages(out.read_bytes()))
    for s in (f"Compounding worksheet: lot {lot}", "Naltrexone hydrochloride",
              "Lactose monohydrate", "Component lot", "Amount", "weighed", "Initials",
              "Dilution (aliquot) steps", "Allergen / known-effect tags in this batch: lactose",
              "Fast-release fillers only", "BUD:", "Compounded by", "Verified by, pharmacist"):
        assert s in text, s


def test_help_lists_commands():
    r = CliRunner().invoke(cli, ["labels", "--help"])
    assert r.exit_code == 0
    for name in ("templates", "print", "dispense"):
        assert name in r.output


def test_worksheet_prints_recorded_weighings(tmp_path):
    # After compounding, the worksheet carries what was actually weighed, from which lot, by
    # whom (the quickstart weighs every step as planned).
    import pdfplumber
    from compounding.cli import cli as root
    r = CliRunner().invoke(root, ["--formulas", str(ROOT / "formulas"), "--templates",
                                  str(ROOT / "templates"), "quickstart", "--dir",
                                  str(tmp_path)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    ws = sorted((tmp_path / "labels").glob("*-worksheet.pdf"))[1]  # 1.5 mg capsules
    with pdfplumber.open(ws) as pdf:
        text = pdf.pages[0].extract_text()
    assert "recorded values printed" in text
    assert "SAMPLE-NX-2401" in text and "tess" in text
