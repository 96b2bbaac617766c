"""`compounding inventory ...`: receive component lots and list stock on hand."""

from __future__ import annotations

import click

from . import LazyGroup, echo_json, json_option, params, pass_app, table
from .db import db_option, open_store
from .types import WholeNumber


@click.group(cls=LazyGroup)
def inventory():
    """Receive component lots into stock and list what is on hand."""


def show_amount(value, unit: str) -> str:
    """An amount of a lot for a person: masses in mcg, mg or g as readable, volumes in mL."""
    from .. import units as u
    qty = u.q(value, unit)
    return u.fmt(u.readable_mass(qty) if qty.dim == "mass" else qty)


def lot_json(lot: dict) -> dict:
    from ..shapes import lot_json as shape
    return shape(lot)


@inventory.command(name="receive")
@click.argument("ingredient")
@click.option("--lot", "lot_number", required=True, type=params.supplier_lot("lot"),
              help="Supplier lot number as printed on the container (printable ASCII, at "
                   "most 40 characters).")
@click.option("--expires", required=True,
              help="Expiry: YYYY-MM-DD, or YYYY-MM for the last day of that month.")
@click.option("--quantity", required=True, help="Amount received, with its unit (e.g. 25 g).")
@click.option("--potency", help="Potency from the certificate of analysis (e.g. 99.2%). "
                                "Default 100%.")
@click.option("--manufacturer", type=params.name("manufacturer"), help="Manufacturer or supplier.")
@click.option("--by", "by", type=params.identifier("by"), required=True, help="Who received it.")
@click.option("--confirm-case", is_flag=True,
              help="Confirm a new lot number that differs from a recorded lot of the same "
                   "ingredient only by letter case (e.g. nx-2401 beside NX-2401).")
@db_option
@json_option
@pass_app
def inventory_receive(app, ingredient, lot_number, expires, quantity, potency, manufacturer,
                      by, confirm_case, db_path, as_json):
    """Receive a component lot (or more of a known lot) into stock."""
    from decimal import Decimal

    from .. import units as u
    from ..dates import format_date, parse_expiry

    app.registry.ingredient(ingredient)  # unknown ingredient: one-line error
    exp = parse_expiry(expires, "expires")
    qty = u.parse(quantity, {u.MASS, u.VOLUME}, field="quantity")
    pot = Decimal("100")
    if potency is not None:
        p = u.parse(potency if potency.strip().endswith("%") else potency.strip() + "%",
                    u.PERCENT, field="potency")
        if p.unit != "%":
            raise click.BadParameter("give a plain percent such as 99.2%", param_hint="--potency")
        pot = p.value
    from ..errors import RefusedError
    from ..store.identifiers import case_variants

    with open_store(app, db_path) as store:
        variants = case_variants(store, ingredient, lot_number)
        if variants and not confirm_case:
            shown = ", ".join(variants)
            raise RefusedError(f"lot: {lot_number} differs from recorded lot {shown} of "
                               f"{ingredient} only by case; check the container and repeat "
                               "with --confirm-case if it is a different lot")
        lot = store.receive_lot(ingredient, lot_number, exp, qty, by, potency_percent=pot,
                                manufacturer=manufacturer)
    if as_json:
        echo_json(lot_json(lot))
        return
    on_hand = show_amount(lot["on_hand"], lot["unit"])
    click.echo(f"Received {u.fmt(qty)} of {ingredient} lot {lot['lot_number']} "
               f"(expires {format_date(exp)}, potency {u.plain(lot['potency_percent'])}%)")
    click.echo(f"On hand: {on_hand}")


@inventory.command(name="list")
@click.option("--expiring-within", "days", type=WholeNumber(min=0),
              help="Only lots expiring within DAYS days (expired lots included).")
@click.option("--ingredient", help="Only lots of this ingredient.")
@click.option("--all", "show_all", is_flag=True, help="Include lots with nothing on hand.")
@db_option
@json_option
@pass_app
def inventory_list(app, days, ingredient, show_all, db_path, as_json):
    """List component lots with stock on hand, earliest expiry first."""
    from .. import units as u
    from ..dates import format_date

    with open_store(app, db_path) as store:
        lots = store.lots(ingredient=ingredient, expiring_within=days,
                          include_empty=show_all or days is not None)
    if as_json:
        echo_json([lot_json(x) for x in lots])
        return
    if not lots:
        click.echo("No component lots" + (f" expiring within {days} days" if days is not None
                                          else " with stock on hand"))
        return
    rows = []
    for x in lots:
        state = "EXPIRED" if x["expired"] else f"{x['days_to_expiry']} days"
        rows.append([x["ingredient"], x["lot_number"],
                     format_date(x["expires"]), state,
                     u.plain(x["potency_percent"]) + "%", show_amount(x["on_hand"], x["unit"]),
                     show_amount(x["reserved"], x["unit"])])
    click.echo(table(rows, ["INGREDIENT", "LOT", "EXPIRES", "LEFT", "POTENCY", "ON HAND",
                            "RESERVED"]))
