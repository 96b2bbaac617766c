"""`compounding formulas ...`: list, show, validate and describe formula specs."""

from __future__ import annotations

import json

import click

from . import LazyGroup, echo_json, json_option, pass_app, table


@click.group(cls=LazyGroup, lazy={"submit": "compounding.cli.signoff:formulas_submit", "approve": "compounding.cli.signoff:formulas_approve"})
def formulas():
    """List, show and validate formula specs (Master Formulation Records)."""


@formulas.command(name="list")
@json_option
@pass_app
def formulas_list(app, as_json):
    """List every formula: id, version, name, dosage form and strength."""
    reg = app.registry
    rows = [{"id": f.id, "version": f.version, "name": f.name, "dosage_form": f.dosage_form,
             "strength": f.strength.describe()} for f in reg.formulas.values()]
    if as_json:
        echo_json(rows)
        return
    click.echo(table([[r["id"], str(r["version"]), r["name"], r["dosage_form"], r["strength"]]
                      for r in rows], ["ID", "VERSION", "NAME", "FORM", "STRENGTH"]))


@formulas.command(name="show")
@click.argument("formula_id")
@json_option
@pass_app
def formulas_show(app, formula_id, as_json):
    """Show one formula in full (the JSON is the spec itself)."""
    from ..formulas_text import describe

    reg = app.registry
    f = reg.get(formula_id)
    if as_json:
        echo_json(f.spec_json())
        return
    click.echo(describe(f, reg.catalogue, reg.hashes[f.id]))


@formulas.command(name="validate")
@click.argument("paths", nargs=-1, type=click.Path())
@pass_app
def formulas_validate(app, paths):
    """Validate formula files (default: every file in the formula folder).

    Exit 0 when all are valid; exit 1 with one line per problem otherwise.
    """
    from pathlib import Path

    from ..formulas import validate_paths

    targets = [Path(p) for p in paths] or [app.formulas_dir]
    problems = validate_paths(targets)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise click.exceptions.Exit(1)
    n = sum(len([x for x in t.glob("*.toml") if x.name != "ingredients.toml"])
            if t.is_dir() else 1 for t in targets)
    click.echo(f"{n} formula file{'s' if n != 1 else ''} valid")


@formulas.command(name="schema")
def formulas_schema():
    """Print the JSON Schema of the formula file format."""
    from ..formulas import formula_schema

    click.echo(json.dumps(formula_schema(), indent=2, ensure_ascii=False))
