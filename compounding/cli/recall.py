"""`compounding recall COMPONENT_LOT` / `recall --batch LOT`: everything downstream of a
supplier lot or a batch (batches, label prints, dispensing labels: patient, Rx, date)."""

from __future__ import annotations

import click

from . import echo_json, json_option, params, pass_app, table
from .db import db_option, open_store


def _date(iso: str) -> str:
    from ..dates import format_date
    return format_date(iso)


def _prints_table(prints: list[dict]) -> str:
    return table([[p["lot_id"], p["kind"], f"{p['template_id']} v{p['template_version']}",
                   str(p["copies"]), "yes" if p["reprint"] else "no", p["printed_by"],
                   p["printed_at"][:19] + "Z"] for p in prints],
                 ["BATCH", "KIND", "TEMPLATE", "COPIES", "REPRINT", "BY", "AT (UTC)"])


def _dispensed_table(rows: list[dict]) -> str:
    return table([[d["lot_id"], d["patient"] or "-", d["rx_number"] or "-",
                   _date(d["date"]), d["dispensed_quantity"] or "-", d["prescriber"] or "-",
                   d["printed_by"]] for d in rows],
                 ["BATCH", "PATIENT", "RX", "DISPENSED", "QUANTITY", "PRESCRIBER", "BY"])


def _downstream(prints: list[dict], dispensed: list[dict]) -> None:
    click.echo("")
    if prints:
        click.echo(f"Label prints ({len(prints)}):")
        click.echo(_prints_table(prints))
    else:
        click.echo("No batch labels printed")
    click.echo("")
    if dispensed:
        click.echo(f"Dispensed to patients ({len(dispensed)}):")
        click.echo(_dispensed_table(dispensed))
    else:
        click.echo("No dispensing labels printed")


@click.command(name="recall")
@click.argument("component_lot", required=False, type=params.identifier("component lot"))
@click.option("--ingredient", help="Only the lot of this ingredient (when two ingredients "
                                    "share a lot number).")
@click.option("--batch", "batch_lot", metavar="LOT",
              help="Recall one batch instead of a supplier lot.")
@db_option
@json_option
@pass_app
def recall(app, component_lot, ingredient, batch_lot, db_path, as_json):
    """List everything downstream of supplier lot COMPONENT_LOT, or of batch --batch LOT.

    Every batch that used (or is planned to use) the lot, with status and BUD; every label
    printed for those batches; every dispensing label (patient, Rx number, date dispensed),
    so each patient who received it can be called. Exit 0 also when nothing used it (the lot
    exists); exit 2 when no such lot is on record.
    """
    from ..errors import InputError
    from ..store import dispensing

    if (component_lot is None) == (batch_lot is None):
        raise InputError("give a supplier lot (COMPONENT_LOT) or --batch LOT, not both")
    if batch_lot is not None and ingredient:
        raise InputError("--ingredient applies to a supplier lot, not to --batch")
    with open_store(app, db_path) as store:
        if batch_lot is not None:
            rec = dispensing.recall_batch(store, batch_lot)
        else:
            rows = dispensing.recall_component(store, component_lot, ingredient)
    if batch_lot is not None:
        _show_batch(rec, as_json)
        return
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
                       _date(r["bud"]), r["basis"],
                       show_amount(r["quantity"], r["unit"])] for r in rows],
                     ["BATCH", "INGREDIENT", "FORMULA", "STATUS", "BUD", "USE", "QUANTITY"]))
    seen = set()
    prints, dispensed = [], []
    for r in rows:
        if r["batch_lot_id"] in seen:
            continue
        seen.add(r["batch_lot_id"])
        prints += r["label_prints"]
        dispensed += r["dispensed"]
    _downstream(prints, dispensed)


def _show_batch(rec: dict, as_json: bool) -> None:
    if as_json:
        echo_json(rec)
        return
    click.echo(f"Batch {rec['lot_id']}: {rec['formula_id']}, {rec['strength']}, "
               f"{rec['quantity']}; status {rec['status']}; BUD {_date(rec['bud'])}")
    if rec["corrects"]:
        click.echo(f"Corrects batch {rec['corrects']['corrects_lot_id']}")
    if rec["corrected_by"]:
        click.echo(f"Corrected by batch {rec['corrected_by']['lot_id']}")
    from .inventory import show_amount
    click.echo("Component lots:")
    click.echo(table([[c["ingredient"], c["lot_number"], _date(c["expires"]), c["basis"],
                       show_amount(c["quantity"], c["unit"])] for c in rec["component_lots"]],
                     ["INGREDIENT", "LOT", "EXPIRES", "USE", "QUANTITY"]))
    _downstream(rec["label_prints"], rec["dispensed"])
