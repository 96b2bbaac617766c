"""The README is generated where it can be, opens with the two commands, and documents
every command; CI runs the same test command the README gives."""

import re
from pathlib import Path

from cogapp import Cog

from compounding.docs import all_commands

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_readme_generated_sections_are_current():
    rc = Cog().main(["cog", "--check", str(README)])
    assert rc == 0, "README is out of date: run `.venv/bin/cog -r README.md`"


def test_every_command_has_help_and_is_in_the_readme():
    text = README.read_text()
    commands = all_commands()
    assert len(commands) >= 5
    for path, cmd in commands:
        name = " ".join(("compounding",) + path)
        assert (cmd.help or "").strip(), f"{name} has no help text"
        assert f"### `{name}`" in text, f"{name} is missing from the README command reference"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)
    setup, tests = blocks[0], blocks[1]
    assert "pip install" in setup and "compounding quickstart" in setup
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.strip() in ci
