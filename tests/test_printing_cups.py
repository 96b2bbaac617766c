"""Printing through CUPS (issue 14) with a PRIVATE cupsd (own config, spool and port on
127.0.0.1, stopped after the tests) whose queues point at a fake raw printer
(``socket://127.0.0.1:PORT``). Skipped, with the reason, when cupsd or lp is missing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from printing_support import FakePrinter, closed_port
from test_labels_cli import clean_env, lot, run  # noqa: F401 (fixtures)

CUPSD = "/usr/sbin/cupsd"
pytestmark = pytest.mark.skipif(
    not (Path(CUPSD).exists() and shutil.which("lp") and shutil.which("lpadmin")),
    reason="CUPS is not installed (Debian: apt-get install cups cups-bsd; CI: .ci/run)")

CONF = """Listen 127.0.0.1:{port}
LogLevel warn
WebInterface No
Browsing No
DefaultAuthType None
<Location />
  Order allow,deny
  Allow all
</Location>
<Location /admin>
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
    Allow all
  </Limit>
</Policy>
"""
FILES = """ServerRoot {d}
RequestRoot {d}/spool
TempDir {d}/tmp
CacheDir {d}/cache
StateDir {d}/state
AccessLog {d}/log/access_log
ErrorLog {d}/log/error_log
PageLog {d}/log/page_log
User lp
Group lp
SystemGroup root
FileDevice No
"""


@pytest.fixture(scope="module")
def cups():
    """(server 'host:port', fake printer): a private cupsd with a queue 'zq' to the fake."""
    d = Path(tempfile.mkdtemp(prefix="i14-cupsd-"))
    for sub in ("spool", "tmp", "cache", "state", "log"):
        (d / sub).mkdir()
    os.chmod(d, 0o755)
    port = closed_port()
    (d / "cupsd.conf").write_text(CONF.format(port=port))
    (d / "cups-files.conf").write_text(FILES.format(d=d))
    proc = subprocess.Popen([CUPSD, "-f", "-c", str(d / "cupsd.conf"), "-s",
                             str(d / "cups-files.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    server = f"127.0.0.1:{port}"
    env = {**os.environ, "CUPS_SERVER": server}
    fp = FakePrinter()
    try:
        for _ in range(100):
            if subprocess.run(["lpstat", "-r"], env=env, capture_output=True,
                              text=True).stdout.strip() == "scheduler is running":
                break
            if proc.poll() is not None:
                pytest.skip(f"the private cupsd did not start: "
                            f"{(d / 'log' / 'error_log').read_text()[-300:]}")
            time.sleep(0.05)
        r = subprocess.run(["lpadmin", "-p", "zq", "-E", "-v",
                            f"socket://127.0.0.1:{fp.port}"], env=env, capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"lpadmin could not add a queue to the private cupsd: {r.stderr}")
        yield server, fp
    finally:
        fp.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def settings(tmp_path, queue="zq"):
    p = tmp_path / "pharmacy.toml"
    p.write_text(f"""
[printers.zebra-cups]
language = "zpl"
dpi = 203
connection = "cups:{queue}"

[printers.laser]
language = "pdf"
dpi = 300
connection = "cups:{queue}"
""")
    return p


def prints(tmp_path, lot):
    return json.loads(run(tmp_path, "batch", "show", lot, "--json").stdout)["label_prints"]


def test_zpl_goes_raw_through_the_queue(tmp_path, lot, cups, monkeypatch):
    server, fp = cups
    monkeypatch.setenv("CUPS_SERVER", server)
    before = len(fp.jobs)
    r = run(tmp_path, "--settings", str(settings(tmp_path)), "labels", "print", lot,
            "--printer", "zebra-cups", "--copies", "5", "--json", "--by", "bob")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    job = fp.wait_jobs(before + 1, timeout=30)[before]
    assert rec["sent"].startswith("cups:zq request zq-")
    assert hashlib.sha256(job).hexdigest() == rec["job_sha256"]  # byte for byte: raw
    assert job.startswith(b"^XA\n") and b"^PQ5,0,1,Y\n^XZ\n" in job
    (p,) = prints(tmp_path, lot)
    assert p["output_path"] == "printer zebra-cups (cups:zq)"


def test_a_sheet_pdf_goes_through_the_queue(tmp_path, lot, cups, monkeypatch):
    server, fp = cups
    monkeypatch.setenv("CUPS_SERVER", server)
    before = len(fp.jobs)
    r = run(tmp_path, "--settings", str(settings(tmp_path)), "labels", "print", lot,
            "--printer", "laser", "--template", "sheet-a4-21", "--by", "bob")
    assert r.exit_code == 0, r.output
    job = fp.wait_jobs(before + 1, timeout=30)[before]
    assert job.startswith(b"%PDF-")
    assert r.stdout.splitlines()[0].startswith(
        "Sent to printer laser (1 batch label, template sheet-a4-21 v1, PDF, ")


@pytest.mark.parametrize("case", ["no-queue", "no-server"])
def test_a_refused_queue_is_not_recorded(tmp_path, lot, cups, monkeypatch, case):
    server, fp = cups
    monkeypatch.setenv("CUPS_SERVER", server if case == "no-queue"
                       else f"127.0.0.1:{closed_port()}")
    r = run(tmp_path, "--settings", str(settings(tmp_path, queue="nope")), "labels", "print",
            lot, "--printer", "zebra-cups", "--by", "bob")
    assert r.exit_code == 1
    (line,) = r.output.splitlines()
    assert line.startswith("Error: printer 'zebra-cups' (cups:nope): lp refused the job: ")
    assert line.endswith("; nothing was recorded; to get the label as a file instead use "
                         "`--output FILE.pdf` (or `--format zpl --output FILE.zpl`)")
    assert prints(tmp_path, lot) == []


def test_pdf_test_page_through_the_queue(tmp_path, cups, monkeypatch):
    from test_labels_support import page_text, plumber_pages
    server, fp = cups
    monkeypatch.setenv("CUPS_SERVER", server)
    before = len(fp.jobs)
    from test_printing_cli import prun
    r = prun("--settings", str(settings(tmp_path)), "printers", "test", "laser",
             "--template", "sheet-letter-30")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Sent a test label to laser (cups:zq request zq-")
    assert r.stdout.endswith("): 66.7 x 25.4 mm (2.625 x 1 in), template sheet-letter-30, "
                             "300 dpi. The box must sit on the label's edges.\n")
    job = fp.wait_jobs(before + 1, timeout=30)[before]
    text = page_text(plumber_pages(job)[0][2])
    assert text.count("66.7 x 25.4 mm (2.625 x 1 in)") == 30  # one box per label position
