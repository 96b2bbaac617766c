"""Leftover temporary files (issue 12 part 2, "clean up leftovers on the next open"): a
worksheet (or any --output) killed with SIGKILL between writing its temporary file and
renaming it leaves ``.compounding-tmp-HOST-PID-START-RANDOM.pdf`` beside the target; the
next run into that folder removes the temporary files of its own naming whose process is
gone, and says so on stderr. Everything else stays: a live process's file, another
host's, the older random-only naming, a label print's recorded temporary file (owned by
the pending-print recovery), a link. Real processes killed with SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess

from compounding import outputs
from test_labels_cli import clean_env, lot  # noqa: F401 (fixtures)
from test_rx_race import cmd, env

OWNED = re.compile(r"\.compounding-tmp-[0-9a-f]{6}-[0-9]+-[0-9a-f]{8}-[0-9a-f]{16}\.pdf\Z")


def worksheet(tmp_path, out, kill_at=None):
    extra = {"COMPOUNDING_TEST_KILL_AT": kill_at} if kill_at else {}
    return subprocess.run(cmd(tmp_path / "c.db", "batch", "worksheet", LOT[0], "--output",
                              str(out)), cwd=tmp_path, env={**env(), **extra},
                          capture_output=True, text=True, timeout=120)


LOT: list = []


def test_a_killed_worksheet_leaves_a_temporary_file_the_next_run_removes(tmp_path, lot):
    LOT[:] = [lot]
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "ws.pdf"
    p = worksheet(tmp_path, out, kill_at="output-temporary")
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stdout, p.stderr)
    (left,) = folder.iterdir()
    assert OWNED.match(left.name), left.name
    assert not out.exists() and left.read_bytes().startswith(b"%PDF")
    size = left.stat().st_size
    dead_pid = left.name.split("-")[3]
    host = left.name.split("-")[2]
    me = outputs.temp_name(folder / "x.pdf")          # this (live) test process's naming
    start = me.name.split("-")[4]
    other_start = "0" * 7 + ("1" if start[-1] != "1" else "2")
    other_host = "0" * 5 + ("1" if host[-1] != "1" else "2")
    kept = {
        "live": me.name,
        "other host": f".compounding-tmp-{other_host}-{dead_pid}-{start}-{'a' * 16}.pdf",
        "old naming": ".compounding-tmp-0123456789abcdef.pdf",
        "recorded label": ".compounding-tmp-rec-0123456789abcdef.pdf",
        "not ours": ".compounding-tmpx-0123.pdf",
    }
    removed = {
        # this test's pid, but another start: the pid was reused, the owner is gone
        "pid reused": f".compounding-tmp-{host}-{os.getpid()}-{other_start}-{'b' * 16}.pdf",
    }
    for name in [*kept.values(), *removed.values()]:
        (folder / name).write_bytes(b"%PDF-1.4 partial")
    target = tmp_path / "precious.pdf"
    target.write_bytes(b"keep me")
    link = folder / f".compounding-tmp-{host}-{dead_pid}-{start}-{'c' * 16}.pdf"
    link.symlink_to(target)
    p = worksheet(tmp_path, out)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == f"Wrote {out} (compounding worksheet, lot {lot})"
    assert sorted(p.stderr.splitlines()) == sorted([
        f"Removed {left.name} from {folder} ({size:,} bytes), a temporary file left by "
        f"process {dead_pid}, which stopped before finishing its output",
        f"Removed {removed['pid reused']} from {folder} (16 bytes), a temporary file left "
        f"by process {os.getpid()}, which stopped before finishing its output"])
    assert sorted(x.name for x in folder.iterdir()) == sorted(
        [*kept.values(), link.name, "ws.pdf"])
    assert target.read_bytes() == b"keep me"
    assert out.read_bytes().startswith(b"%PDF")
    # the next run finds nothing more to remove
    out.unlink()
    p = worksheet(tmp_path, out)
    assert (p.returncode, p.stderr) == (0, "")


def test_a_temporary_name_always_fits_and_names_its_owner(tmp_path):
    long = tmp_path / ("n" * 250 + ".pdf")
    t = outputs.temp_name(long)
    assert OWNED.match(t.name) and len(t.name) <= 69 and t.parent == tmp_path
    assert t.name.split("-")[3] == str(os.getpid())
    r = outputs.temp_name(long, recorded=True)
    assert r.name.startswith(outputs.RECORDED_PREFIX) and len(r.name) <= 69
    assert outputs.clean_stale(tmp_path / "missing-folder") == []
