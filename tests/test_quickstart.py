"""`compounding quickstart`: the whole workflow on a sample database, never touching an
existing one."""

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from compounding.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def run(tmp_path):
    return CliRunner().invoke(cli, ["--formulas", str(ROOT / "formulas"), "--templates",
                                    str(ROOT / "templates"), "quickstart", "--dir",
                                    str(tmp_path)], catch_exceptions=False)


def test_quickstart_makes_five_released_batches_with_labels(tmp_path):
    r = run(tmp_path)
    assert r.exit_code == 0, r.output
    db = tmp_path / "compounding-sample.db"
    assert db.exists() and (tmp_path / "compounding-sample.toml").exists()
    con = sqlite3.connect(db)
    rows = con.execute("SELECT formula_id, strength, status FROM batches ORDER BY lot_id").fetchall()
    assert rows == [("ldn-capsules", "0.1 mcg", "released"), ("ldn-capsules", "1.5 mg", "released"),
                    ("ldn-oral-liquid", "1 mg/mL", "released"),
                    ("ldn-sublingual-drops", "1 mg/mL", "released"),
                    ("ldn-cream", "1 mg/g", "released")]
    assert con.execute("SELECT COUNT(*) FROM label_prints").fetchone()[0] == 5
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    pdfs = sorted(p.name for p in (tmp_path / "labels").glob("*.pdf"))
    assert len(pdfs) == 10
    assert sum(p.endswith("-worksheet.pdf") for p in pdfs) == 5
    assert "Try next:" in r.output and "SAMPLE" in r.output
    assert "µg" not in r.output


def test_quickstart_never_touches_an_existing_database(tmp_path):
    existing = tmp_path / "compounding-sample.db"
    existing.write_bytes(b"precious")
    r = run(tmp_path)
    assert r.exit_code == 0, r.output
    assert existing.read_bytes() == b"precious"
    assert (tmp_path / "compounding-sample-2.db").exists()
    assert "compounding-sample-2.db" in r.output
