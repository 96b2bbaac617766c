"""The click layer: parse, call the library, print. Nothing else.

Commands live in one module per group (``compounding/cli/<group>.py``) and are imported
only when used (a lazy group), so ``compounding --help`` stays as fast as click itself;
command modules import pydantic, reportlab, sqlite-utils... inside the command bodies.
Library errors (``CompoundingError``) become one ``Error: ...`` line and the error's exit
code, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from functools import cached_property
from pathlib import Path

import click

from ..errors import CompoundingError

#: command name -> "module:attribute". Names whose module does not exist yet are skipped.
COMMANDS = {
    "formulas": "compounding.cli.formulas:formulas",
    "plan": "compounding.cli.plan:plan",
    "bud": "compounding.cli.bud:bud",
    "db": "compounding.cli.db:db",
    "inventory": "compounding.cli.inventory:inventory",
    "batch": "compounding.cli.batch:batch",
    "labels": "compounding.cli.labels:labels",
    "recall": "compounding.cli.recall:recall",
    "users": "compounding.cli.users:users",
    "audit": "compounding.cli.audit:audit",
    "quickstart": "compounding.cli.quickstart:quickstart",
    "printers": "compounding.cli.printers:printers",
    "serve": "compounding.cli.serve:serve",
    "rx": "compounding.cli.rx:rx",
    "capsules": "compounding.cli.capsules:capsules",
}

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


class CompoundingException(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def _convert(exc: CompoundingError) -> click.ClickException:
    return CompoundingException(str(exc), getattr(exc, "exit_code", 1))


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx):
        names = [n for n, target in self.lazy.items()
                 if importlib.util.find_spec(target.partition(":")[0]) is not None]
        return sorted(set(super().list_commands(ctx)) | set(names))

    def get_command(self, ctx, name):
        if name in self.lazy:
            module, _, attr = self.lazy[name].partition(":")
            if importlib.util.find_spec(module) is None:
                return None
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CompoundingError as exc:
            raise _convert(exc) from None
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from None


def _one_line_usage_error(exc: click.UsageError) -> click.ClickException:
    """A usage error as the one ``Error: ...`` line every other error is, exit code 2
    (click would print the command's usage and a "Try ... --help" line before it)."""
    return CompoundingException(exc.format_message(), exc.exit_code)


class App:
    """What every command shares: where settings and formulas are, loaded on demand."""

    def __init__(self, settings_path: str | None, formulas_dir: str | None,
                 templates_dir: str | None = None, environ=None, cwd=None):
        self.environ = os.environ if environ is None else environ
        self.cwd = Path.cwd() if cwd is None else Path(cwd)
        self.settings_option = settings_path
        self.formulas_option = formulas_dir
        self.templates_option = templates_dir

    def data_dir(self, option: str | None, env: str, name: str) -> Path:
        """--option, else $ENV, else ./name if present, else the folder beside the package."""
        if option:
            return Path(option)
        if self.environ.get(env):
            return Path(self.environ[env])
        local = self.cwd / name
        if local.is_dir():
            return local
        return PACKAGE_ROOT / name

    @property
    def formulas_dir(self) -> Path:
        return self.data_dir(self.formulas_option, "COMPOUNDING_FORMULAS", "formulas")

    @property
    def templates_dir(self) -> Path:
        return self.data_dir(self.templates_option, "COMPOUNDING_TEMPLATES", "templates")

    @cached_property
    def settings_path(self):
        from ..settings_file import resolve_path
        return resolve_path(self.settings_option, self.environ, self.cwd)

    @cached_property
    def settings(self):
        from ..settings import load_settings
        return load_settings(self.settings_path)

    @cached_property
    def label_settings(self):
        """The settings a label prints, without the settings models when the file's bytes
        were validated before (issue 18; :mod:`compounding.label_settings`)."""
        from ..label_settings import load_label_settings
        return load_label_settings(self.settings_path)

    @cached_property
    def registry(self):
        from ..formulas import Registry
        return Registry.load(self.formulas_dir)


pass_app = click.make_pass_decorator(App)


def echo_json(obj) -> None:
    import json

    from ..shapes import to_jsonable
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=to_jsonable))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Aligned plain-text columns (numbers are pre-formatted strings)."""
    cols = [headers] + rows
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="compounding", prog_name="compounding")
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False),
              help="Pharmacy settings TOML (else $COMPOUNDING_SETTINGS, else ./pharmacy.toml, "
                   "else built-in defaults).")
@click.option("--formulas", "formulas_dir", type=click.Path(file_okay=False),
              help="Formula folder (else $COMPOUNDING_FORMULAS, else ./formulas, else the "
                   "shipped formulas).")
@click.option("--templates", "templates_dir", type=click.Path(file_okay=False),
              help="Label template folder (else $COMPOUNDING_TEMPLATES, else ./templates, "
                   "else the shipped templates).")
@click.pass_context
def cli(ctx, settings_path, formulas_dir, templates_dir):
    """Formulate, date, record and label Low-Dose Naltrexone (LDN) compounded preparations."""
    ctx.obj = App(settings_path, formulas_dir, templates_dir)
