"""`compounding recall COMPONENT_LOT`: every batch that used a supplier lot."""

from __future__ import annotations

import click

from . import echo_json, json_option, pass_app, table
from .db import db_option, open_store


@click.command(name="recall")
@click.argument("component_lot")
@click.option("--ingredient", help="Only the lot of this ingredient (when two ingredients "
                                    "share a lot number).")
@db_option
@json_option
@pass_app
def recall(app, component_lot, ingredient, db_path, as_json):
    """List every batch that used (or is planned to use) supplier lot COMPONENT_LOT.

    With status, BUD and the patients whose labels were printed. Exit 0 also when no batch
    used it (the lot exists); exit 2 when no such lot is on record.
    """
    from datetime import date

    from ..dates import format_date

    store = open_store(app, db_path)
    try:
        rows = store.recall(component_lot, ingredient)
    finally:
        store.close()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"No batch used lot {component_lot}")
        return
    batches = sorted({r["batch_lot_id"] for r in rows})
    click.echo(f"Lot {component_lot}: {len(batches)} batch{'es' if len(batches) != 1 else ''}")
    from .inventory import show_amount
    click.echo(table([[r["batch_lot_id"], r["ingredient"], r["formula_id"], r["status"],
                       format_date(date.fromisoformat(r["bud"])), r["basis"],
                       show_amount(r["quantity"], r["unit"])] for r in rows],
                     ["BATCH", "INGREDIENT", "FORMULA", "STATUS", "BUD", "USE", "QUANTITY"]))
    for r in rows:
        for d in r["dispensed"]:
            click.echo(f"  {r['batch_lot_id']}: {d['patient'] or '-'} (Rx {d['rx_number'] or '-'}"
                       f", labelled {d['printed_at']})")
