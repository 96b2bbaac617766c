"""`compounding batch worksheet LOT`: the compounding worksheet PDF of a stored batch."""

from __future__ import annotations

import click

from . import pass_app
from .db import db_option, open_store


@click.command(name="worksheet")
@click.argument("lot")
@click.option("--output", type=click.Path(dir_okay=False),
              help="PDF to write (default: labels/<lot>-worksheet.pdf).")
@click.option("--force", is_flag=True, help="Replace an existing output file (never the "
              "database, a link or a device).")
@db_option
@pass_app
def batch_worksheet(app, lot, output, force, db_path):
    """Write the compounding worksheet PDF of LOT: plan, weighing boxes, dilution steps,
    excipient notes, BUD and reason, sign-off lines (any status). Recorded weighings say
    whether the amount came from a balance (its name and serial number) or was typed."""
    import hashlib
    from pathlib import Path

    from ..labeling.worksheet import render_worksheet
    from ..outputs import check_output, write_output

    from ..store import device_records

    with open_store(app, db_path, read_only=True) as store:
        batch = device_records.with_sources(store, store.get_batch(lot))
        protect = (store.path,)
    path = Path(output) if output else app.cwd / "labels" / f"{batch['lot_id']}-worksheet.pdf"
    check_output(path, protect=protect, force=force)
    pdf = render_worksheet(batch, app.settings)
    write_output(path, pdf, protect=protect, force=force)
    click.echo(f"Wrote {path} (compounding worksheet, lot {batch['lot_id']})")
    click.echo(f"PDF SHA-256: {hashlib.sha256(pdf).hexdigest()}")
