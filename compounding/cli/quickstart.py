"""`compounding quickstart`: the whole workflow on a sample database, in one command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from . import pass_app, table


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
    lot = result.batches[1].lot_id
    db = f"--db {result.db_path}"
    s = f"--settings {result.settings_path}"
    click.echo("")
    click.echo("Try next:")
    for cmd in (
        f"compounding batch list {db}",
        f"compounding batch show {lot} {db}",
        f"compounding inventory list {db}",
        "compounding plan ldn-capsules --quantity 30 --strength 0.5mg",
        "compounding bud ldn-oral-liquid",
        f"COMPOUNDING_PASSPHRASE={te[3]} compounding {s} labels dispense {lot} {db} "
        f"--patient 'Zoë Nguyễn' --directions 'Take one capsule at bedtime' "
        f"--prescriber 'Dr A. Smith' --rx RX-1001 --quantity 30 --by {te[0]}",
        f"compounding recall SAMPLE-NX-2401 {db}",
        f"compounding audit --batch {lot} {db}",
        f"compounding {s} serve {db}   (the bench: http://127.0.0.1:8000/, sign in as "
        f"{te[0]} or {ph[0]})",
    ):
        click.echo(f"  {cmd}")
