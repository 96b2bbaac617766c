"""`compounding plan FORMULA_ID ...`: the batch calculator (what to weigh, in what order)."""

from __future__ import annotations

import click

from . import echo_json, json_option, params, pass_app


@click.command(name="plan")
@click.argument("formula_id")
@click.option("--quantity", "-q", required=True,
              help="Batch size: capsules by count ('100'), liquids and drops in mL, cream in g "
                   "(mL accepted when the formula gives a density).")
@click.option("--strength", "-s", help="Per capsule ('1.5 mg', '0.1 mcg'), mg/mL for liquids "
              "and drops, mg/g for cream. Required for capsules and drops.")
@click.option("--filler", type=params.choice("--filler"), help="Capsule filler ingredient id (one the formula allows).")
@click.option("--base", type=params.choice("--base"), help="Cream base ingredient id (one the formula lists); default: "
              "the formula's, or with --avoid the first base free of the avoided tags.")
@click.option("--capsule-size", help="Capsule size (e.g. 1 or '#0'); default: chosen from "
              "the fill.")
@click.option("--potency", help="Assay of the drug lot from its certificate (default 100%).")
@click.option("--overage", help="Extra made to cover losses (default: the formula's).")
@click.option("--min-weighable", help="Minimum weighable quantity (default: the pharmacy "
              "settings, 120 mg for a Class III balance).")
@click.option("--avoid", multiple=True, metavar="TAG", type=params.choice("--avoid"),
              help="Allergen/intolerance tag the patient must avoid (repeatable), e.g. lactose.")
@click.option("--confirm-strength", is_flag=True,
              help="Confirm a strength that reads like a usual strength in the other unit "
                   "(4.5 mcg beside the usual 4.5 mg): a 1000-fold look-alike.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="Database whose capsule calibrations the plan uses: a SQLite file or "
                   "a postgresql:// URL (else $COMPOUNDING_DB, else the settings' "
                   "`database`, else ./compounding.db; without one the fill weight is an "
                   "estimate). Only read, never created by this command.")
@json_option
@pass_app
def plan(app, formula_id, quantity, strength, filler, base, capsule_size, potency, overage,
         min_weighable, avoid, confirm_strength, db_path, as_json):
    """Calculate a batch: every weighing, dilution steps, capsule fill or drops.

    Capsules use the pharmacy's recorded capsule calibration of the filler and size (see
    `compounding capsules calibrate`) when the database has one; otherwise the fill weight
    is an estimate from the filler's assumed density, and the plan says so.
    """
    from ..plan import Order, make_plan, render_plan_text

    reg = app.registry
    formula = reg.get(formula_id)
    order = Order.from_text(formula, quantity=quantity, strength=strength, filler=filler,
                            capsule_size=capsule_size, potency=potency, overage=overage,
                            min_weighable=min_weighable, avoid=avoid,
                            confirm_strength=confirm_strength, base=base)
    result = make_plan(formula, reg.catalogue, app.settings, order,
                       calibrations=_calibrations(app, db_path, formula))
    if as_json:
        echo_json(result.as_json())
    else:
        click.echo(render_plan_text(result))


def _calibrations(app, db_path, formula) -> dict:
    """The recorded capsule calibrations (issue 11) when ``formula`` makes capsules and the
    database exists; a plan never creates a database."""
    if formula.dosage_form != "capsule":
        return {}
    from pathlib import Path

    from ..store import resolve_db_path
    from .db import open_store, settings_database
    # the same database every command uses: --db, $COMPOUNDING_DB, the settings' database,
    # ./compounding.db (a postgresql:// URL is text: there is no file to look for)
    path = resolve_db_path(db_path, app.environ, app.cwd, settings_database(app))
    missing = isinstance(path, Path) and not path.exists()
    if db_path is None and missing:
        return {}
    if missing:
        from ..errors import InputError
        raise InputError(f"--db: {path} does not exist (a plan reads capsule calibrations "
                         "from a database, never creates one)", field="--db")
    from ..store import calibrations
    with open_store(app, db_path, read_only=True) as store:
        return calibrations.current(store)
