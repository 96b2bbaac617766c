"""Usage errors are one ``Error: ...`` line (exit code 2), like every other error: click's
own "Usage: ..." and "Try '... --help'" lines are not printed before it."""

import subprocess
import sys

import pytest

CASES = [
    (["batch", "list", "--limit", "x"],
     "Error: Invalid value for '--limit': 'x' is not a whole number written with the digits "
     "0-9"),
    (["batch", "lis"], "Error: No such command 'lis'. Did you mean 'list'?"),
    (["--bogus"], "Error: No such option '--bogus'."),
    (["labels", "print"], "Error: Missing argument 'LOT'."),
    (["batch", "weigh"], "Error: Missing argument 'LOT'."),
    (["nosuch"], "Error: No such command 'nosuch'."),
]


@pytest.mark.parametrize("args, line", CASES)
def test_usage_error_is_one_line(tmp_path, args, line):
    r = subprocess.run([sys.executable, "-c", "from compounding.cli import cli; cli()", *args],
                       capture_output=True, text=True, cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr.splitlines()) == (2, "", [line])


def test_help_still_shows_usage():
    r = subprocess.run([sys.executable, "-c", "from compounding.cli import cli; cli()",
                        "batch", "list", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("Usage: ")
