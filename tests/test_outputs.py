"""Issue 12, class 1: an output path never destroys anything (compounding.outputs and the
--output of labels print, labels dispense and batch worksheet)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.errors import InputError
from compounding.outputs import TEMP_PREFIX, check_output, write_output
from signoff_support import ENV
from test_labels_cli import lot, run  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    for var in ("COMPOUNDING_SETTINGS", "COMPOUNDING_FORMULAS", "COMPOUNDING_TEMPLATES",
                "COMPOUNDING_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def _make(tmp_path, kind):
    p = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "dir":
        p.mkdir()
    elif kind == "symlink":
        (tmp_path / "real.pdf").write_bytes(b"keep")
        p.symlink_to(tmp_path / "real.pdf")
    elif kind == "dangling":
        p.symlink_to(tmp_path / "nowhere.pdf")
    elif kind == "hardlink":
        (tmp_path / "real.pdf").write_bytes(b"keep")
        os.link(tmp_path / "real.pdf", p)
    elif kind == "file":
        p.write_bytes(b"keep")
    return p


@pytest.mark.parametrize("kind, force, message", [
    ("fifo", True, "output: {p} is not a regular file (device, FIFO or socket); name a "
                   "regular file"),
    ("dir", True, "output: {p} is a directory; name a file in it"),
    ("symlink", True, "output: {p} is a symbolic link; name a regular file (links are never "
                      "followed for output)"),
    ("dangling", True, "output: {p} is a symbolic link; name a regular file (links are never "
                       "followed for output)"),
    ("hardlink", True, "output: {p} has other hard links; name a new file"),
    ("file", False, "output: {p} exists; use --force to replace it, or choose another name"),
])
def test_refused_paths(tmp_path, kind, force, message):
    p = _make(tmp_path, kind)
    with pytest.raises(InputError) as e:
        write_output(p, b"%PDF", force=force)
    assert str(e.value) == message.format(p=p)
    assert [x.name for x in tmp_path.iterdir() if x.name.startswith(TEMP_PREFIX)] == []
    if kind in ("symlink", "hardlink", "file"):
        assert (tmp_path / ("real.pdf" if kind != "file" else "target")).read_bytes() == b"keep"


def test_device_refused():
    with pytest.raises(InputError) as e:
        check_output("/dev/null", force=True)
    assert str(e.value) == ("output: /dev/null is not a regular file (device, FIFO or socket); "
                            "name a regular file")


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_database_and_companions_refused_by_any_name(tmp_path, suffix):
    db = tmp_path / "c.db"
    for s in ("", "-wal", "-shm"):
        (tmp_path / f"c.db{s}").write_bytes(b"db")
    other = tmp_path / "sub" / ".." / f"c.db{suffix}"
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError) as e:
        write_output(other, b"%PDF", protect=[db], force=True)
    assert str(e.value) == (f"output: {other} is the database or one of its files; choose "
                            "another file name")
    if suffix != "-journal":
        assert (tmp_path / f"c.db{suffix}").read_bytes() == b"db"


def test_database_through_hard_link_refused(tmp_path):
    db = tmp_path / "c.db"
    db.write_bytes(b"db")
    os.link(db, tmp_path / "alias.pdf")
    with pytest.raises(InputError, match="is the database or one of its files"):
        write_output(tmp_path / "alias.pdf", b"%PDF", protect=[db], force=True)
    assert db.read_bytes() == b"db"


def test_too_long_name_is_one_line(tmp_path):
    p = tmp_path / ("x" * 300 + ".pdf")
    with pytest.raises(InputError) as e:
        write_output(p, b"%PDF")
    assert str(e.value).endswith(": the file name is too long for the file system (304 "
                                 "characters); choose a shorter name")
    assert "\n" not in str(e.value)


def test_force_replaces_regular_file_and_umask_is_respected(tmp_path):
    p = tmp_path / "a.pdf"
    p.write_bytes(b"old")
    script = ("import os, sys; os.umask(0o027); from compounding.outputs import write_output; "
              "write_output(sys.argv[1], b'%PDF-new', force=True); "
              "write_output(sys.argv[2], b'%PDF-2')")
    subprocess.run([sys.executable, "-c", script, str(p), str(tmp_path / "b.pdf")],
                   check=True)
    assert p.read_bytes() == b"%PDF-new"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "b.pdf").stat().st_mode) == 0o640


def test_cli_output_is_the_database(tmp_path, lot):
    db = tmp_path / "c.db"
    before = db.read_bytes()
    for args in (["labels", "print", lot, "--by", "bob", "--force"],
                 ["labels", "dispense", lot, "--patient", "A B", "--directions", "x",
                  "--prescriber", "Dr C", "--rx", "RX1", "--quantity", "30", "--by", "bob",
                  "--force"],
                 ["batch", "worksheet", lot, "--force"]):
        for target in (db, tmp_path / "c.db-wal", tmp_path / "c.db-shm"):
            r = run(tmp_path, *args, "--output", str(target))
            assert r.exit_code == 2, r.output
            assert r.output == (f"Error: output: {target} is the database or one of its "
                                "files; choose another file name\n")
    assert db.read_bytes()[:16] == before[:16] == b"SQLite format 3\x00"


def test_cli_existing_output_needs_force(tmp_path, lot):
    out = tmp_path / "w.pdf"
    out.write_bytes(b"keep")
    r = run(tmp_path, "batch", "worksheet", lot, "--output", str(out))
    assert (r.exit_code, r.output) == (2, f"Error: output: {out} exists; use --force to "
                                          "replace it, or choose another name\n")
    assert out.read_bytes() == b"keep"
    r = run(tmp_path, "batch", "worksheet", lot, "--output", str(out), "--force")
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF")


def test_cli_refused_output_records_no_print(tmp_path, lot):
    out = tmp_path / "l.pdf"
    out.write_bytes(b"keep")
    r = run(tmp_path, "labels", "print", lot, "--output", str(out), "--by", "bob")
    assert r.exit_code == 2
    r = run(tmp_path, "recall", "--batch", lot)
    assert "No batch labels printed" in r.output
