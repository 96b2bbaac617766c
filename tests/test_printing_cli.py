"""`compounding printers ...` and `labels print/dispense --printer/--format` (issue 14), against
a fake raw printer on 127.0.0.1: exact output, exit codes, what the printer received, and
what the store recorded (a failed print is never recorded)."""

from __future__ import annotations

import hashlib
import json

import pytest

from compounding.printing import zpl
from printing_support import FakePrinter, closed_port
from test_labels_cli import clean_env, lot, run  # noqa: F401 (fixtures)
from test_labels_support import templates

HINT = ("nothing was recorded; to get the label as a file instead use `--output FILE.pdf` "
        "(or `--format zpl --output FILE.zpl`)")


def prun(*args):
    """`compounding printers ...` (no database)."""
    from click.testing import CliRunner

    from compounding.cli import cli
    from test_labels_support import ROOT
    return CliRunner().invoke(cli, ["--templates", str(ROOT / "templates"), *args])


@pytest.fixture
def printer():
    fp = FakePrinter()
    yield fp
    fp.close()


def settings(tmp_path, url, *, check_status=True, timeout=10, default=True, extra=""):
    p = tmp_path / "pharmacy.toml"
    p.write_text(f"""
[printers.zebra1]
language = "zpl"
dpi = 203
connection = "{url}"
timeout_seconds = {timeout}
check_status = {'true' if check_status else 'false'}
description = "bench Zebra"

[printers.laser]
language = "pdf"
dpi = 300
connection = "cups:office-laser"
{extra}
[template_printers]
{'batch-thermal = "zebra1"' if default else ''}
sheet-a4-21 = "laser"
""")
    return p


def prints(tmp_path, lot):
    return json.loads(run(tmp_path, "batch", "show", lot, "--json").stdout)["label_prints"]


def test_printers_list(tmp_path, printer):
    s = settings(tmp_path, printer.url)
    r = prun("--settings", str(s), "printers", "list")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "NAME    LANGUAGE  DPI  CONNECTION" + " " * (len(printer.url) - 10 + 2)
        + "DEFAULT FOR    DESCRIPTION",
        "------  --------  ---  " + "-" * len(printer.url) + "  -------------  -----------",
        "laser   PDF       300  cups:office-laser" + " " * (len(printer.url) - 17 + 2)
        + "sheet-a4-21",
        f"zebra1  ZPL       203  {printer.url}  batch-thermal  bench Zebra",
    ]
    rows = json.loads(prun("--settings", str(s), "printers", "list", "--json").stdout)
    assert rows[1] == {"name": "zebra1", "language": "zpl", "dpi": 203,
                       "connection": printer.url, "timeout_seconds": 10, "check_status": True,
                       "description": "bench Zebra", "default_for": ["batch-thermal"]}


def test_printers_list_none_configured(tmp_path):
    r = prun("printers", "list")
    assert r.exit_code == 0
    assert r.stdout == ("No printers configured (settings: built-in defaults); add "
                        "[printers.NAME] with language, dpi and connection (see "
                        "docs/labels.md, Printers).\n")


@pytest.mark.parametrize("body,line", [
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "http://x:9100"\n',
     "printers.z.connection: 'http://x:9100' is not a printer connection; write "
     "'tcp://HOST:9100' (raw) or 'cups:QUEUE' (through lp)"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "tcp://h:99999"\n',
     "printers.z.connection: 'tcp://h:99999': port must be 1 to 65535"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "tcp://h:９１００"\n',
     "printers.z.connection: 'tcp://h:９１００' is not a printer connection; write "
     "'tcp://HOST:9100' (raw) or 'cups:QUEUE' (through lp)"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "cups:a b"\n',
     "printers.z.connection: 'cups:a b' is not a printer connection; write "
     "'tcp://HOST:9100' (raw) or 'cups:QUEUE' (through lp)"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 200\nconnection = "cups:q"\n',
     "printers.z.dpi: Input should be 152, 203, 300 or 600"),
    ('[printers.z]\nlanguage = "epl"\ndpi = 203\nconnection = "cups:q"\n',
     "printers.z.language: Input should be 'zpl' or 'pdf'"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "cups:q"\ncolour = 1\n',
     "printers.z.colour: unknown key (not in the formula format; see `compounding formulas "
     "schema`)"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "cups:q"\ntimeout_seconds = '
     'nan\n', "printers.z.timeout_seconds: Input should be a finite number"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "cups:q"\ndescription = '
     '"a\\u202eb"\n', "printers.z.description: control or invisible character U+202E is "
     "not allowed (it would garble `printers list`)"),
    ('[printers."Zebra 1"]\nlanguage = "zpl"\ndpi = 203\nconnection = "cups:q"\n',
     "printers.Zebra 1.[key]: String should match pattern '^[a-z0-9][a-z0-9_-]{0,39}$'"),
    ('[printers.z]\nlanguage = "zpl"\ndpi = 203\nconnection = "tcp://' + "h" * 300 + '"\n',
     "printers.z.connection: 'tcp://" + "h" * 300 + "' is not a printer connection; write "
     "'tcp://HOST:9100' (raw) or 'cups:QUEUE' (through lp)"),
    ('[template_printers]\nbatch-thermal = "nope"\n',
     "template_printers.batch-thermal: no printer 'nope' in [printers] (none configured)"),
])
def test_bad_printer_settings_are_one_line_naming_the_key(tmp_path, body, line):
    s = tmp_path / "p.toml"
    s.write_text(body, encoding="utf-8")
    r = prun("--settings", str(s), "printers", "list")
    assert r.exit_code != 0
    assert r.output.splitlines() == [f"Error: {s}: {line}"]


def test_printers_test_sends_a_box_at_the_label_size(tmp_path, printer):
    s = settings(tmp_path, printer.url)
    r = prun("--settings", str(s), "printers", "test", "zebra1")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "Status of zebra1: ready",
        f"Sent a test label to zebra1 ({printer.url}): 57.2 x 31.8 mm (2.25 x 1.25 in), "
        "template batch-thermal, 203 dpi. The box must sit on the label's edges."]
    job = printer.wait_jobs(1)[0]
    assert job == zpl.render_test_label(templates().get("batch-thermal"), "zebra1", 203)
    assert b"^PW457\n^LL254\n" in job and b"^FO0,0^GB457,254,2,B,0^FS" in job
    assert printer.status_queries == 1


@pytest.mark.parametrize("flags,words", [
    ({"paper_out": 1}, "paper out (load labels)"),
    ({"head_open": 1}, "head open (close the print head)"),
    ({"paused": 1}, "paused (press PAUSE to resume)"),
    ({"ribbon_out": 1, "thermal_transfer": 1}, "ribbon out (load ribbon)"),
])
def test_printers_test_refuses_a_printer_that_is_not_ready(tmp_path, flags, words):
    fp = FakePrinter(**flags)
    try:
        s = settings(tmp_path, fp.url)
        r = prun("--settings", str(s), "printers", "test", "zebra1")
        assert r.exit_code == 1
        assert r.output.splitlines() == [
            f"Status of zebra1: NOT READY: {words}",
            f"Error: printer 'zebra1' is not ready: {words}; test label not sent"]
        assert fp.wait_jobs(1, timeout=0.3) == []
    finally:
        fp.close()


def test_printers_test_unknown_printer_or_no_template(tmp_path, printer):
    s = settings(tmp_path, printer.url, default=False)
    r = prun("--settings", str(s), "printers", "test", "zebra2")
    assert (r.exit_code, r.output) == (2, "Error: printer: no printer 'zebra2' in the "
                                          "settings' [printers] (laser, zebra1)\n")
    r = prun("--settings", str(s), "printers", "test", "zebra1")
    assert (r.exit_code, r.output) == (2, "Error: --template: printer 'zebra1' is no "
                                          "template's default printer ([template_printers]); "
                                          "give --template ID\n")


# ---------------------------------------------------------------- labels to a printer

def test_print_to_the_templates_default_printer_sends_and_records(tmp_path, printer, lot):
    s = settings(tmp_path, printer.url)
    r = run(tmp_path, "--settings", str(s), "labels", "print", lot, "--copies", "250",
            "--by", "bob")
    assert r.exit_code == 0, r.output
    job = printer.wait_jobs(1)[0]
    digest = hashlib.sha256(job).hexdigest()
    assert r.stdout.splitlines() == [
        f"Sent to printer zebra1 (250 batch labels, template batch-thermal v1, ZPL, "
        f"{len(job):,} bytes): {printer.url}",
        f"Job SHA-256: {digest}",
        "Recorded."]
    assert job.count(b"^XA") == 1 and b"^PQ250,0,1,Y\n^XZ\n" in job
    (p,) = prints(tmp_path, lot)
    assert (p["copies"], p["pdf_sha256"], p["output_path"], p["reprint"]) == (
        250, digest, f"printer zebra1 ({printer.url})", False)
    assert not (tmp_path / "labels").exists()


def test_print_to_a_named_printer_json_and_reprint(tmp_path, printer, lot):
    s = settings(tmp_path, printer.url, default=False)
    for n in (1, 2):
        r = run(tmp_path, "--settings", str(s), "labels", "print", lot, "--printer", "zebra1",
                "--json", "--by", "bob")
        assert r.exit_code == 0, r.output
    jobs = printer.wait_jobs(2)
    rec = json.loads(r.stdout)
    assert rec == {"lot_id": lot, "kind": "batch", "printer": "zebra1", "sent": printer.url,
                   "output": None, "format": "zpl", "template": "batch-thermal",
                   "template_version": 1,
                   "template_sha256": templates().hashes["batch-thermal"], "labels": 1,
                   "job_sha256": hashlib.sha256(jobs[1]).hexdigest(),
                   "job_bytes": len(jobs[1]), "reprint": True, "omitted_statements": [],
                   "warnings": []}


@pytest.mark.parametrize("case", ["refused", "paper_out", "silent"])
def test_a_failed_print_is_not_recorded_and_says_how_to_get_the_pdf(tmp_path, lot, case):
    fp = FakePrinter(paper_out=1 if case == "paper_out" else 0)
    fp.silent = case == "silent"
    url = f"tcp://127.0.0.1:{closed_port()}" if case == "refused" else fp.url
    try:
        s = settings(tmp_path, url, timeout=1)
        r = run(tmp_path, "--settings", str(s), "labels", "print", lot, "--by", "bob")
        assert r.exit_code == 1
        why = {"refused": "connection refused (printer off, or nothing listening on that "
                          "port)",
               "paper_out": None,
               "silent": "no ~HS status reply within 1 s (if this printer does not answer "
                         "~HS, set check_status = false in [printers.zebra1])"}[case]
        if case == "paper_out":
            line = (f"Error: printer 'zebra1' ({url}) is not ready: paper out (load labels); "
                    f"{HINT}")
        else:
            line = f"Error: printer 'zebra1' ({url}): {why}; {HINT}"
        assert r.output.splitlines() == [line]
        assert fp.wait_jobs(1, timeout=0.2) == []
        assert prints(tmp_path, lot) == []
    finally:
        fp.close()


def test_refused_without_status_check_is_not_recorded(tmp_path, lot):
    url = f"tcp://127.0.0.1:{closed_port()}"
    s = settings(tmp_path, url, check_status=False)
    r = run(tmp_path, "--settings", str(s), "labels", "print", lot, "--printer", "zebra1",
            "--by", "bob")
    assert r.exit_code == 1
    assert r.output == (f"Error: printer 'zebra1' ({url}): connection refused (printer off, "
                        f"or nothing listening on that port); {HINT}\n")
    assert prints(tmp_path, lot) == []


def test_send_failure_inside_the_record_transaction_rolls_back(tmp_path, lot, monkeypatch):
    """The record is written first and committed only after the transport accepted the
    job: a failure (or an interrupt) in the send leaves no record."""
    from compounding.errors import PrinterError
    from compounding.printing import transport

    fp = FakePrinter()
    try:
        s = settings(tmp_path, fp.url)
        for exc in (PrinterError("printer 'zebra1' (x): connection reset by the printer"),
                    KeyboardInterrupt()):
            def boom(*a, _exc=exc, **k):
                raise _exc
            monkeypatch.setattr(transport, "send", boom)
            r = run(tmp_path, "--settings", str(s), "labels", "print", lot, "--by", "bob")
            assert r.exit_code == 1
            assert prints(tmp_path, lot) == []
    finally:
        fp.close()


@pytest.mark.parametrize("args,code,message", [
    (["--printer", "zebra1", "--output", "x.pdf"], 2,
     "--printer and --output: give one (print, or write a file)"),
    (["--printer", "zebra1", "--format", "pdf"], 2,
     "format: printer 'zebra1' takes zpl, not pdf"),
    (["--printer", "nope"], 2,
     "printer: no printer 'nope' in the settings' [printers] (laser, zebra1)"),
    (["--printer", "zebra1", "--template", "sheet-a4-21"], 2,
     "format: template 'sheet-a4-21' is a sheet of 21 labels for an office printer; ZPL is "
     "for thermal roll templates (use --format pdf)"),
    (["--format", "zpl", "--template", "sheet-letter-30", "--output", "x.zpl"], 2,
     "format: template 'sheet-letter-30' is a sheet of 30 labels for an office printer; ZPL "
     "is for thermal roll templates (use --format pdf)"),
    (["--printer", "zebra1", "--start-position", "2"], 2,
     "start position: a thermal roll prints from position 1"),
])
def test_bad_print_options(tmp_path, printer, lot, args, code, message):
    s = settings(tmp_path, printer.url)
    r = run(tmp_path, "--settings", str(s), "labels", "print", lot, *args, "--by", "bob")
    assert (r.exit_code, r.output) == (code, f"Error: {message}\n")
    assert printer.wait_jobs(1, timeout=0.1) == []
    assert prints(tmp_path, lot) == []


def test_zpl_to_a_file_is_written_and_recorded(tmp_path, lot):
    out = tmp_path / "job.zpl"
    r = run(tmp_path, "labels", "print", lot, "--format", "zpl", "--output", str(out),
            "--copies", "3", "--by", "bob")
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert r.stdout.splitlines() == [
        f"Wrote {out} (3 batch labels, template batch-thermal v1, ZPL)",
        f"ZPL SHA-256: {digest}", "Recorded."]
    assert data.startswith(b"^XA\n^FXcompounding label: lot " + lot.encode())
    assert b"^PQ3,0,1,Y" in data
    (p,) = prints(tmp_path, lot)
    assert (p["pdf_sha256"], p["output_path"]) == (digest, str(out))
    r = run(tmp_path, "labels", "print", lot, "--format", "zpl", "--by", "bob")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "labels" / f"{lot}-batch-thermal.zpl").exists()


def test_dispense_to_a_printer(tmp_path, printer, lot):
    s = settings(tmp_path, printer.url)
    r = run(tmp_path, "--settings", str(s), "labels", "dispense", lot, "--patient",
            "O'Brien ^XZ~JR Zoë", "--directions", "Take one capsule at bedtime",
            "--prescriber", "Dr Ana Петрова", "--rx", "RX-77", "--quantity", "30",
            "--printer", "zebra1", "--by", "bob")
    assert r.exit_code == 0, r.output
    job = printer.wait_jobs(1)[0]
    assert b"~" not in job and job.count(b"^XA") == 1 and b"^PW812\n^LL406\n" in job
    p = prints(tmp_path, lot)[-1]
    assert (p["kind"], p["patient"], p["output_path"]) == (
        "dispensing", "O'Brien ^XZ~JR Zoë", f"printer zebra1 ({printer.url})")


@pytest.mark.parametrize("language,page,expect", [
    ("zpl", (162.0, 90.0), ["-o", "raw"]),
    ("pdf", (162.0, 90.0), ["-o", "media=Custom.162x90pt", "-o", "print-scaling=none",
                            "-o", "fit-to-page=false"]),
    ("pdf", (595.2756, 841.8898), ["-o", "media=A4", "-o", "print-scaling=none",
                                   "-o", "fit-to-page=false"]),
    ("pdf", (612.0, 792.0), ["-o", "media=Letter", "-o", "print-scaling=none",
                             "-o", "fit-to-page=false"]),
    ("pdf", (288.0, 144.0), ["-o", "media=Custom.288x144pt", "-o", "print-scaling=none",
                             "-o", "fit-to-page=false"]),
])
def test_lp_options_exact_media_and_no_scaling(language, page, expect):
    from compounding.printing.transport import lp_command
    from compounding.settings import Printer
    p = Printer(language=language, dpi=203, connection="cups:q1")
    assert lp_command(p, "t", language, page) == [
        "lp", "-d", "q1", "-t", "t", "-n", "1", *expect]


@pytest.mark.parametrize("patient,message", [
    # issue 12: the one normaliser (compounding/text.py) refuses these as they are typed
    ("x" * 300, "patient: 300 characters; at most 200"),
    ("x" * 200, "patient: '" + "x" * 200 + "' is too wide for the label even at 8 pt"),
    ("Zo\u200bë", "patient: character U+200B (ZERO WIDTH SPACE) at position 3 is an invisible"),
    ("\u202eAna", "patient: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1 is an "
                  "invisible"),
    ("Ann\x07", "patient: character U+0007 (ALERT) at position 4 is a control "
                "character"),
])
def test_hostile_patient_names_refused_before_anything_is_sent(tmp_path, printer, lot,
                                                               patient, message):
    s = settings(tmp_path, printer.url)
    r = run(tmp_path, "--settings", str(s), "labels", "dispense", lot, "--patient", patient,
            "--directions", "Take one at bedtime", "--prescriber", "Dr A", "--rx", "RX-1",
            "--quantity", "30", "--printer", "zebra1", "--by", "bob")
    assert r.exit_code != 0
    (line,) = r.output.splitlines()
    assert line.startswith(f"Error: {message}"), line
    assert printer.wait_jobs(1, timeout=0.1) == [] and printer.status_queries == 0
    assert prints(tmp_path, lot) == []


@pytest.mark.parametrize("copies", ["1e3", "NaN", "١٠", "0", "10001", " 1_0", "+5", "-1"])
def test_copies_must_be_a_plain_whole_number(tmp_path, printer, lot, copies):
    s = settings(tmp_path, printer.url)
    r = run(tmp_path, "--settings", str(s), "labels", "print", lot, "--copies", copies,
            "--by", "bob")
    assert r.exit_code == 2 and "--copies" in r.output
    assert printer.wait_jobs(1, timeout=0.1) == [] and prints(tmp_path, lot) == []


def test_a_300_dpi_printer_gets_the_label_on_its_own_dot_grid(tmp_path, printer, lot):
    s = settings(tmp_path, printer.url).read_text().replace("dpi = 203", "dpi = 300", 1)
    (tmp_path / "p300.toml").write_text(s)
    r = run(tmp_path, "--settings", str(tmp_path / "p300.toml"), "labels", "print", lot,
            "--by", "bob")
    assert r.exit_code == 0, r.output
    job = printer.wait_jobs(1)[0]
    assert b"^PW675\n^LL375\n" in job and b", 300 dpi\n" in job  # 2.25 x 1.25 in at 300 dpi
    # Code 128 modules: 2 dots at 203 dpi (0.250 mm) -> 3 dots at 300 dpi (0.254 mm)
    widths = {int(w) for w in __import__("re").findall(rb"\^GB(\d+),\d+,\d+,B,0", job)}
    assert min(widths) == 3 and all(w % 3 == 0 for w in widths)
