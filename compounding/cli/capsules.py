"""`compounding capsules ...`: the pharmacy's capsule calibrations (issue 11, part 6).

`capsules calibrate` records the fill weight measured per capsule of a filler and capsule
size (punch method); plans of that filler and size then use it instead of the estimate from
the filler's assumed density, and say which calibration they used. `capsules list` shows
every calibration, which one plans use, and what was corrected.
"""

from __future__ import annotations

import click

from . import echo_json, json_option, params, pass_app, table
from .db import db_option, open_store
from .types import WholeNumber


@click.group()
def capsules():
    """Capsule calibrations: the measured fill weight of a filler in a capsule size."""


def _density(row) -> str:
    from decimal import Decimal

    from .. import units as u
    from ..plan.calibration import CAPSULE_BODY_ML
    d = Decimal(row["fill_weight_mg"]) / CAPSULE_BODY_ML[row["capsule_size"]] / 1000
    return f"{u.number(u.sig(d, 3))} g/mL"


@capsules.command(name="calibrate")
@click.option("--filler", required=True, type=params.identifier("--filler"),
              help="Filler ingredient id from the catalogue (e.g. microcrystalline-cellulose).")
@click.option("--size", "capsule_size", required=True,
              help="Capsule size: 000, 00, 0, 1, 2, 3, 4 or 5 ('#1' accepted).")
@click.option("--fill-weight", required=True,
              help="Mean fill weight of ONE capsule with a unit, e.g. '312 mg' (weigh N filled "
                   "capsules, subtract N empty shells, divide by N).")
@click.option("--capsules", "capsules_weighed", type=WholeNumber(min=1, max=1000),
              help="How many capsules were weighed for the mean (e.g. 10).")
@click.option("--filler-lot", type=params.supplier_lot("--filler-lot"),
              help="Supplier lot of the filler measured (density varies by lot).")
@click.option("--corrects", type=WholeNumber(min=1), metavar="ID",
              help="Correct calibration ID (the latest of this filler and size): a mistyped "
                   "figure; the old record stays, linked. Needs --reason.")
@click.option("--reason", type=params.text("--reason"), help="Why, with --corrects.")
@click.option("--by", "by", type=params.identifier("by"), required=True,
              help="Who measured the fill weight.")
@db_option
@json_option
@pass_app
def capsules_calibrate(app, filler, capsule_size, fill_weight, capsules_weighed, filler_lot,
                       corrects, reason, by, db_path, as_json):
    """Record a measured capsule fill weight; plans of that filler and size then use it.

    The figure is refused when it would mean a powder lighter than 0.1 g/mL or denser
    than 1.6 g/mL in that capsule body (a unit or typing slip). A new measurement of the
    same filler and size replaces the old one in plans; --corrects marks a wrong record.
    """
    from .. import units as u
    from ..store import calibrations

    weight = u.parse(fill_weight, u.MASS, field="--fill-weight")
    reg = app.registry
    with open_store(app, db_path) as store:
        rec = calibrations.record(store, reg.catalogue, filler=filler, capsule_size=capsule_size,
                                  fill_weight=weight, by=by, capsules_weighed=capsules_weighed,
                                  filler_lot=filler_lot, corrects=corrects, reason=reason)
    if as_json:
        echo_json(rec)
        return
    ing = reg.catalogue.ingredients[rec["filler"]]
    assumed = f"; the catalogue assumes {u.fmt(ing.density)}" if ing.density else ""
    click.echo(f"Recorded capsule calibration {rec['id']}: {ing.name}, size "
               f"#{rec['capsule_size']}: {u.fmt(u.q(rec['fill_weight_mg'], 'mg'))} a capsule "
               f"({_density(rec)}{assumed})")
    if rec["corrects"]:
        click.echo(f"Corrects calibration {rec['corrects']}: {rec['reason']}")
    click.echo(f"Plans of {rec['filler']} in size {rec['capsule_size']} now use calibration "
               f"{rec['id']}.")


@capsules.command(name="list")
@click.option("--filler", type=params.choice("--filler"), help="Only this filler.")
@click.option("--size", "capsule_size", help="Only this capsule size.")
@db_option
@json_option
@pass_app
def capsules_list(app, filler, capsule_size, db_path, as_json):
    """Every capsule calibration, oldest first: which one plans use, what was corrected."""
    from .. import units as u
    from ..plan.model import normalise_size
    from ..store import calibrations

    from ..errors import InputError
    from ..plan.calibration import CAPSULE_BODY_ML

    size = normalise_size(capsule_size)
    if capsule_size is not None and size not in CAPSULE_BODY_ML:
        # a blank or unknown size is refused, not read as "every size" or "none recorded"
        raise InputError(f"--size: {capsule_size!r} is not a capsule size; sizes: "
                         f"{', '.join(CAPSULE_BODY_ML)}", field="--size")
    with open_store(app, db_path, read_only=True) as store:
        rows = calibrations.history(store, filler=filler, capsule_size=size)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No capsule calibrations recorded" + (" for that filler and size"
                                                          if filler or size else "")
                   + ": plans estimate the fill weight from the filler's assumed density")
        return

    def status(r):
        if r["current"]:
            return "in use"
        if r["corrected_by"]:
            return f"corrected by {r['corrected_by']}"
        return "superseded"
    click.echo(table([[str(r["id"]), r["filler"], r["capsule_size"],
                       u.fmt(u.q(r["fill_weight_mg"], "mg")), _density(r),
                       str(r["capsules_weighed"] or "-"), r["filler_lot"] or "-",
                       r["recorded_by"], r["recorded_at"][:19] + "Z", status(r)]
                      for r in rows],
                     ["ID", "FILLER", "SIZE", "FILL WEIGHT", "DENSITY", "CAPSULES",
                      "FILLER LOT", "BY", "AT (UTC)", "STATUS"]))
    for r in rows:
        if r["corrects"]:
            click.echo(f"Calibration {r['id']} corrects {r['corrects']}: {r['reason']}")
