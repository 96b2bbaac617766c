"""`compounding bud FORMULA_ID`: the beyond-use date of a batch, and why.

Thin layer over :func:`compounding.bud.compute_bud`: reads the clock (for the default
compounding date), parses the options strictly, prints the explanation or the JSON.
"""

from __future__ import annotations

import datetime as dt

import click

from . import echo_json, json_option, params, pass_app


def _today() -> dt.date:
    """The pharmacy's local date (the one place the BUD command reads the clock)."""
    return dt.date.today()


@click.command(name="bud")
@click.argument("formula_id")
@click.option("--compounded", metavar="YYYY-MM-DD",
              help="Compounding date (day 1 of the BUD). Default: today.")
@click.option("--storage", metavar="refrigerated|room",
              help="Storage condition of the batch. Default: the formula's first one.")
@click.option("--policy", metavar="usp795|stability-data",
              help="BUD policy. Default: bud_policy in the pharmacy settings (usp795).")
@click.option("--component-expiry", "component_expiries", multiple=True,
              metavar="INGREDIENT=YYYY-MM-DD|YYYY-MM",
              help="Expiry of a component lot used (repeat for each lot). The name may carry "
                   "the lot, e.g. 'naltrexone-hcl lot ABC123=2027-05'; YYYY-MM means the "
                   "last day of that month.")
@click.option("--filler", metavar="ID", type=params.choice("--filler"),
              help="Capsule filler used (default: the formula's default filler); a study "
                   "that covered other fillers does not apply.")
@click.option("--base", metavar="ID", type=params.choice("--base"),
              help="Cream base used (default: the formula's default base); an anhydrous base "
                   "is nonaqueous under USP <795>.")
@click.option("--shorten-to", metavar="YYYY-MM-DD",
              help="Hand-set an earlier BUD (never a later one); needs --reason.")
@click.option("--reason", type=params.text("reason"), metavar="TEXT", help="Why the BUD is shortened by hand.")
@json_option
@pass_app
def bud(app, formula_id, compounded, storage, policy, component_expiries, filler, base,
        shorten_to, reason, as_json):
    """Compute a batch's beyond-use date and show which limit binds it.

    The BUD is the earliest of: the policy's limit (a stability study for this storage,
    capped at 180 days under usp795, else the USP <795> category default), the formula's
    own limit, and every component lot's expiry; a hand-set date may only shorten it. The
    day of compounding is day 1 (USP <795> 10.3).
    """
    from ..bud import compute_bud
    from ..dates import format_date, parse_date, parse_expiry
    from ..errors import BudError

    formula = app.registry.get(formula_id)
    if filler is not None and (formula.capsule is None or filler not in formula.capsule.fillers):
        allowed = ", ".join(formula.capsule.fillers) if formula.capsule else "none (not a capsule formula)"
        raise BudError(f"--filler: {filler!r} is not a filler of {formula.id}; allowed: {allowed}")
    made = parse_date(compounded, field="--compounded") if compounded is not None else _today()
    storage = storage if storage is not None else formula.storage.conditions[0]
    policy = policy if policy is not None else app.settings.bud_policy

    expiries: dict[str, dt.date] = {}
    for item in component_expiries:
        label, sep, text = item.rpartition("=")
        label = label.strip()
        if not sep or not label:
            raise BudError(f"--component-expiry: {item!r} must be INGREDIENT=YYYY-MM-DD "
                           "or INGREDIENT=YYYY-MM")
        if label in expiries:
            raise BudError(f"--component-expiry: {label!r} is given twice; give each lot once "
                           "(e.g. 'naltrexone-hcl lot ABC123=2027-05')")
        expiries[label] = parse_expiry(text, field=f"--component-expiry {label}")

    shorten = parse_date(shorten_to, field="--shorten-to") if shorten_to is not None else None
    if shorten is not None and (reason is None or not reason.strip()):
        raise BudError("--shorten-to needs --reason TEXT (why the BUD is shortened)")
    if shorten is None and reason is not None:
        raise BudError("--reason is only used with --shorten-to")

    result = compute_bud(formula, made, storage, expiries, policy=policy,
                         shorten_to=shorten, reason=reason, filler=filler, base=base)

    # Warnings go to stderr so --json output stays clean.
    from ..formulas import used_ingredients
    known = used_ingredients(formula)
    for label in expiries:
        if label.split()[0] not in known:
            click.echo(f"Warning: {label!r} does not start with an ingredient id of "
                       f"{formula.id} ({', '.join(known)}); its expiry still limits the BUD",
                       err=True)
    today = _today()
    if compounded is not None and made > today:
        click.echo(f"Warning: the compounding date {format_date(made)} is after today "
                   f"({format_date(today)}); check --compounded", err=True)
    if result.bud < today:
        click.echo(f"Warning: this BUD ({format_date(result.bud)}) has already passed "
                   f"(today is {format_date(today)})", err=True)

    if as_json:
        echo_json(result.as_json())
        return
    for line in result.explain():
        click.echo(line)
