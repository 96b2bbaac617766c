"""`compounding quickstart`: the whole workflow on a sample database, in one command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from . import pass_app, table


def program(argv0: str | None = None, which=None) -> str:
    """How to type this program again in the same shell (issue 12: the "Try next" commands
    must run as printed): ``compounding`` when that name on PATH is this program, else the
    path it was started with (``.venv/bin/compounding``), else ``python -m compounding``."""
    import os
    import shlex
    import shutil
    import sys

    argv0 = sys.argv[0] if argv0 is None else argv0
    which = shutil.which if which is None else which
    if not argv0 or argv0.endswith("__main__.py") or Path(argv0).name != "compounding":
        return f"{shlex.quote(sys.executable)} -m compounding"
    on_path = which("compounding")
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return "compounding"
    return shlex.quote(argv0)


@click.command(name="quickstart")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".",
              show_default=True, help="Where the sample database and settings are created.")
@click.option("--labels-dir", type=click.Path(file_okay=False),
              help="Where label and worksheet PDFs go (default: labels/ in --dir).")
@pass_app
def quickstart(app, directory, labels_dir):
    """Make a SAMPLE database and run the whole workflow on it: users, stock, approvals,
    five batches made, verified, released and labelled.

    Creates compounding-sample.db and compounding-sample.toml in --dir (a new name such as
    compounding-sample-2.db if one exists: an existing database is never touched), then
    prints what it made and the commands to try next.
    """
    from ..dates import format_date
    from ..quickstart import (BATCHES, PHARMACIST, SAMPLE_DB, SAMPLE_SETTINGS, TECHNICIAN,
                              free_name, run, steps)

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    db_path = free_name(directory, SAMPLE_DB)
    settings_path = free_name(directory, SAMPLE_SETTINGS)
    out_dir = Path(labels_dir) if labels_dir else directory / "labels"
    registry = app.registry
    names = steps(len(BATCHES))
    click.echo(f"Creating SAMPLE database {db_path} (sample data only, not for patients)")
    with click.progressbar(length=len(names), label="Working", show_pos=True,
                           item_show_func=lambda n: n) as bar:
        result = run(db_path, settings_path, out_dir, registry, app.templates_dir,
                     dt.date.today(), progress=lambda name: bar.update(1, name))
    click.echo("")
    rows = [[b.lot_id, b.formula_id, b.strength, b.quantity,
             format_date(b.bud), b.status] for b in result.batches]
    click.echo(table(rows, ["LOT", "FORMULA", "STRENGTH", "QUANTITY", "BUD", "STATUS"]))
    click.echo("")
    click.echo(f"Database:  {result.db_path}")
    click.echo(f"Settings:  {result.settings_path}")
    click.echo(f"Labels and worksheets ({len(result.files)} PDFs) in {out_dir}/")
    ph, te = PHARMACIST, TECHNICIAN
    click.echo(f"Sample users: {ph[0]} ({ph[1]}, passphrase {ph[3]}), "
               f"{te[0]} ({te[1]}, passphrase {te[3]})")
    import shlex
    lot = result.batches[1].lot_id
    prog = program()
    db = f"--db {shlex.quote(str(result.db_path))}"
    s = f"--settings {shlex.quote(str(result.settings_path))}"
    click.echo("")
    click.echo("Try next:")
    for cmd in (
        f"{prog} batch list {db}",
        f"{prog} batch show {lot} {db}",
        f"{prog} inventory list {db}",
        f"{prog} plan ldn-capsules --quantity 30 --strength 0.5mg",
        f"{prog} bud ldn-oral-liquid",
        f"COMPOUNDING_PASSPHRASE={te[3]} {prog} {s} labels dispense {lot} {db} "
        f"--patient 'Zoë Nguyễn' --directions 'Take one capsule at bedtime' "
        f"--prescriber 'Dr A. Smith' --rx RX-1001 --quantity 30 --by {te[0]}",
        f"{prog} recall SAMPLE-NX-2401 {db}",
        f"{prog} audit --batch {lot} {db}",
    ):
        click.echo(f"  {cmd}")
    click.echo("")
    click.echo(f"The bench in a browser (runs until Ctrl-C; sign in as {te[0]} or {ph[0]}):")
    click.echo(f"  {prog} {s} serve {db}")
    click.echo("  then open http://127.0.0.1:8000/")
