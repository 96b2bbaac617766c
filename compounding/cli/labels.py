"""`compounding labels ...`: list label templates, print batch labels and dispensing labels.

Template approval (`labels approve`) is added by the sign-off module (lazy: listed once it
exists).
"""

from __future__ import annotations

import click

from . import LazyGroup, echo_json, json_option, params, pass_app, table
from .db import db_option, open_store
from .types import WholeNumber


@click.group(cls=LazyGroup, lazy={"approve": "compounding.cli.signoff:labels_approve", "submit": "compounding.cli.signoff:labels_submit"})
def labels():
    """List label templates; print batch labels and dispensing labels (PDF or ZPL, to a file or
    a printer)."""


def _templates(app):
    from ..labeling.templates import load_templates
    return load_templates(app.templates_dir)


@labels.command(name="templates")
@json_option
@pass_app
def labels_templates(app, as_json):
    """List the label templates: id, version, kind, label size, labels per page, dpi."""
    ts = _templates(app)
    rows = []
    for tid in sorted(ts.templates):
        t = ts.templates[tid]
        rows.append({**t.summary(), "sha256": ts.hashes[tid]})
    if as_json:
        echo_json(rows)
        return
    click.echo(table([[r["id"], str(r["version"]), r["kind"], r["label_size"],
                       str(r["labels_per_page"]), str(r["dpi"]), r["name"]] for r in rows],
                     ["ID", "VERSION", "KIND", "SIZE", "PER PAGE", "DPI", "NAME"]))


def _report(result, as_json):
    for line in getattr(result, "notes", ()):  # recovery of killed prints (issue 12)
        click.echo(line, err=True)
    if as_json:
        echo_json(result.as_json())
        return
    t = result.template
    n = result.labels
    what = "dispensing label" if t.kind == "dispensing" else "batch label"
    what = f"{n} {what}{'s' if n != 1 else ''}, template {t.id} v{t.version}"
    if getattr(result, "printer", None):
        click.echo(f"Sent to printer {result.printer} ({what}, {result.format.upper()}, "
                   f"{result.job_bytes:,} bytes): {result.sent}")
        click.echo(f"Job SHA-256: {result.job_sha256}")
    elif getattr(result, "format", "pdf") == "zpl":
        click.echo(f"Wrote {result.path} ({what}, ZPL)")
        click.echo(f"ZPL SHA-256: {result.job_sha256}")
    else:
        click.echo(f"Wrote {result.path} ({what})")
        click.echo(f"PDF SHA-256: {result.pdf_sha256}")
    totals = getattr(result, "dispensing", None)
    if result.reprint and totals:
        click.echo("Recorded as a REPRINT (this Rx was dispensed from this lot before; not "
                   "counted again).")
    elif result.reprint:
        click.echo("Recorded as a REPRINT (this batch was printed before).")
    else:
        click.echo("Recorded.")
    if totals:
        click.echo(remaining_line(result.record["lot_id"], totals))
    for w in result.warnings:
        click.echo(f"Warning: {w}")
    for s in result.omitted:
        click.echo(f"Note: not on this label for lack of room (the dispensing label carries "
                   f"it): {s}", err=True)


def _output(app, output, lot, template_id, fmt="pdf"):
    from pathlib import Path

    from ..labeling.printing import default_output
    if output:
        return Path(output)
    return default_output(app.cwd, lot, template_id).with_suffix(f".{fmt}")


printer_option = click.option(
    "--printer", "printer",
    help="Send to this printer from the settings' [printers.NAME] (default: the template's "
         "printer in [template_printers], if any, unless --output is given).")
format_option = click.option(
    "--format", "fmt", type=click.Choice(["pdf", "zpl"]),
    help="pdf or zpl (ZPL II for thermal printers). Files default to pdf; a printer takes "
         "its configured language.")


def _print(app, store, templates, lot, template_id, by, output, printer, fmt, force=False,
           **kw):
    """One print: to a printer (named or the template's default) or to a file."""
    from ..errors import InputError

    if printer and output:
        raise InputError("--printer and --output: give one (print, or write a file)",
                         field="printer")
    if printer is None and output is None:
        from ..printing.jobs import default_printer
        printer = default_printer(app.label_settings, template_id)
    if printer is not None or fmt == "zpl":
        # printers and ZPL only (issue 18: a PDF to a file imports none of it)
        from ..printing.jobs import print_job
        if printer is not None:
            return print_job(store, templates, app.settings, lot, template_id=template_id,
                             by=by, printer=printer, fmt=fmt, **kw)
        return print_job(store, templates, app.settings, lot, template_id=template_id,
                         by=by, output=_output(app, output, lot, template_id, fmt), fmt=fmt,
                         force=force, **kw)
    from ..labeling.printing import print_labels
    path = _output(app, output, lot, template_id, fmt or "pdf")
    return print_labels(store, templates, app.label_settings, lot, template_id=template_id,
                        by=by, output=path, force=force, **kw)


@labels.command(name="print")
@click.argument("lot")
@click.option("--template", "template_id", default="batch-thermal", show_default=True,
              help="Label template id (see `compounding labels templates`).")
@click.option("--copies", type=WholeNumber(min=1, max=10000), default=1, show_default=True,
              help="Number of labels.")
@click.option("--start-position", type=WholeNumber(min=1), default=1, show_default=True,
              help="First label position on a part-used sheet (1 = top left, then along the "
                   "row).")
@click.option("--output", type=click.Path(dir_okay=False),
              help="File to write (default: labels/<lot>-<template>.pdf, or .zpl).")
@printer_option
@format_option
@click.option("--by", "by", type=params.identifier("by"), required=True,
              help="Who prints the labels.")
@click.option("--force", is_flag=True, help="Replace an existing output file (never the "
              "database, a link or a device).")
@db_option
@json_option
@pass_app
def labels_print(app, lot, template_id, copies, start_position, output, printer, fmt, by,
                 force, db_path, as_json):
    """Print the batch labels of LOT to a printer or a file (PDF or ZPL) and record the print
    (a second print is a reprint; a failed send is not recorded)."""
    templates = _templates(app)
    with open_store(app, db_path) as store:
        result = _print(app, store, templates, lot, template_id, by, output, printer, fmt,
                        copies=copies, start_position=start_position, force=force)
    _report(result, as_json)


@labels.command(name="dispense")
@click.argument("lot")
@click.option("--patient", type=params.name("patient"),
              help="Patient name (left-to-right scripts the font covers). Not with --fill.")
@click.option("--directions", type=params.text("directions"),
              help="Directions for use. Not with --fill.")
@click.option("--prescriber", type=params.name("prescriber"),
              help="Prescriber name. Not with --fill.")
@click.option("--rx", "rx_number", required=True, type=params.identifier("rx"),
              help="Prescription (Rx) number.")
@click.option("--quantity",
              help="Quantity dispensed, in the batch's unit (e.g. '30 capsules', '30 mL'). "
                   "Not with --fill.")
@click.option("--confirm-case", is_flag=True,
              help="Dispense under an Rx number that differs from a recorded one only by "
                   "letter case (refused without it: check the prescription first).")
@click.option("--fill", "fill_no", type=WholeNumber(min=1),
              help="Dispense fill N of the recorded prescription --rx (see `rx show`): "
                   "patient, prescriber, quantity and directions come from it, and the fill is "
                   "recorded against it.")
@click.option("--template", "template_id", default="dispensing-thermal", show_default=True,
              help="Dispensing label template id.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="File to write (default: labels/<lot>-<template>.pdf, or .zpl).")
@printer_option
@format_option
@click.option("--by", "by", type=params.identifier("by"), required=True, help="Who dispenses.")
@click.option("--force", is_flag=True, help="Replace an existing output file (never the "
              "database, a link or a device).")
@db_option
@json_option
@pass_app
def labels_dispense(app, lot, patient, directions, prescriber, rx_number, quantity,
                    confirm_case, fill_no, template_id, output, printer, fmt, by, force,
                    db_path, as_json):
    """Print a dispensing (patient) label for LOT and record it (patient, Rx number, date).

    With --fill N the label is for fill N of prescription --rx (issue 17): its directions,
    quantity and dates, checked against the lot (formula, strength, BUD), and the fill is
    recorded against the prescription.
    """
    from ..errors import InputError

    given = {"patient": patient, "directions": directions, "prescriber": prescriber,
             "quantity": quantity}
    if fill_no is not None:
        if printer and output:
            raise InputError("--printer and --output: give one (print, or write a file)",
                             field="printer")
        if printer is None and output is None:  # the template's printer, as labels print
            from ..printing.jobs import default_printer
            printer = default_printer(app.label_settings, template_id)
        if fmt == "zpl" and not printer:  # a fill's label goes to a printer or a PDF
            raise InputError("--format zpl: with --fill, give --printer NAME (a ZPL file of "
                             "a fill is not written); or write the fill's PDF with --output",
                             field="format")
        extra = [f"--{k}" for k, v in given.items() if v is not None]
        if extra:
            raise InputError(f"{', '.join(extra)}: not with --fill; the recorded prescription "
                             "gives them", field=extra[0][2:])
        from ..rx.dispensing import dispense_fill
        templates = _templates(app)
        with open_store(app, db_path) as store:
            result, rec, ready = dispense_fill(
                store, templates, app.settings, lot_id=lot, rx_number=rx_number.strip(),
                fill_no=fill_no, template_id=template_id, by=by, printer=printer, fmt=fmt,
                output=None if printer else _output(app, output, lot, template_id),
                force=force)
        if as_json:
            echo_json({**result.as_json(), "rx_number": rx_number.strip(), "fill": fill_no,
                       "prescription_version": ready["prescription"]["version"],
                       "quantity": rec["quantity"], "first_day": rec["first_day"],
                       "last_day": rec["last_day"], "directions": rec["directions"]})
            return
        _report(result, False)
        click.echo(f"Fill {fill_no} of Rx {rx_number.strip()} (version "
                   f"{ready['prescription']['version']}): {rec['quantity']}, "
                   f"{_date(rec['first_day'])} to {_date(rec['last_day'])}")
        click.echo(f"Directions: {rec['directions']}")
        return
    for name, value in given.items():
        if value is None:
            raise InputError(f"{name}: --{name} is required (or --fill N for a recorded "
                             "prescription)", field=name)
    from ..labeling.dispensing import dispensing_for, check_given
    check_given(patient=patient, directions=directions, prescriber=prescriber,
                rx_number=rx_number)  # before the store opens: the typing error first
    templates = _templates(app)
    with open_store(app, db_path) as store:
        batch = store.get_batch(lot)
        _need_rx_case(store, rx_number, confirm_case)
        # the same checks and label facts as the bench's dispensing form (issue 15)
        disp = dispensing_for(batch, patient=patient, directions=directions,
                              prescriber=prescriber, rx_number=rx_number, quantity=quantity,
                              dispensed_on=store.today())
        result = _print(app, store, templates, lot, template_id, by, output, printer, fmt,
                        dispensing=disp, force=force)
    _report(result, as_json)


def _need_rx_case(store, rx_number: str, confirm_case: bool) -> None:
    """Refuse an Rx number that differs from a recorded one only by case (issue 12, class
    8: the same rule as a supplier lot's --confirm-case), unless confirmed."""
    from ..errors import RefusedError
    from ..store.identifiers import rx_case_variants
    variants = rx_case_variants(store, rx_number)
    if variants and not confirm_case:
        raise RefusedError(f"rx: {rx_number} differs from recorded Rx {', '.join(variants)} "
                           "only by case; check the prescription and type it as recorded, or "
                           "repeat with --confirm-case if it is a different prescription; "
                           "nothing was printed or recorded", field="rx")


def remaining_line(lot_id: str, totals: dict) -> str:
    """``Lot L: made 90 capsules, dispensed 60 capsules (2 dispenses), 30 capsules left.``
    (:func:`compounding.store.dispensing.remaining_text`, shared with the bench)."""
    from ..store.dispensing import remaining_text
    return remaining_text(lot_id, totals)


def _date(iso: str) -> str:
    from ..dates import format_date
    return format_date(iso)
