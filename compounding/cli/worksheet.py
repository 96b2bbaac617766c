"""`compounding batch worksheet LOT`: the compounding worksheet PDF of a stored batch."""

from __future__ import annotations

import click

from . import pass_app
from .db import db_option, open_store


@click.command(name="worksheet")
@click.argument("lot")
@click.option("--output", type=click.Path(dir_okay=False),
              help="PDF to write (default: labels/<lot>-worksheet.pdf).")
@db_option
@pass_app
def batch_worksheet(app, lot, output, db_path):
    """Write the compounding worksheet PDF of LOT: plan, weighing boxes, dilution steps,
    excipient notes, BUD and reason, sign-off lines (any status)."""
    import hashlib
    from pathlib import Path

    from ..labeling.printing import write_atomic
    from ..labeling.worksheet import render_worksheet

    with open_store(app, db_path) as store:
        batch = store.get_batch(lot)
    pdf = render_worksheet(batch, app.settings)
    path = Path(output) if output else app.cwd / "labels" / f"{batch['lot_id']}-worksheet.pdf"
    write_atomic(path, pdf)
    click.echo(f"Wrote {path} (compounding worksheet, lot {batch['lot_id']})")
    click.echo(f"PDF SHA-256: {hashlib.sha256(pdf).hexdigest()}")
