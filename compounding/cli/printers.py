"""`compounding printers ...`: the printers of the settings, and a test label for each.

Printers are configured once in the pharmacy settings (``[printers.NAME]``: language, dpi,
connection; ``[template_printers]``: a default printer per label template), issue 14.
"""

from __future__ import annotations

import click

from . import echo_json, json_option, pass_app, table


@click.group(name="printers")
def printers():
    """List the configured label printers; print a test label."""


@printers.command(name="list")
@json_option
@pass_app
def printers_list(app, as_json):
    """List the printers of the settings: name, language, dpi, connection, the templates
    that print to it by default."""
    s = app.settings
    rows = []
    for name in sorted(s.printers):
        p = s.printers[name]
        rows.append({"name": name, "language": p.language, "dpi": p.dpi,
                     "connection": p.connection, "timeout_seconds": p.timeout_seconds,
                     "check_status": p.check_status, "description": p.description,
                     "default_for": sorted(t for t, n in s.template_printers.items()
                                           if n == name)})
    if as_json:
        echo_json(rows)
        return
    if not rows:
        where = app.settings_path or "built-in defaults"
        click.echo(f"No printers configured (settings: {where}); add [printers.NAME] with "
                   f"language, dpi and connection (see docs/labels.md, Printers).")
        return
    click.echo(table([[r["name"], r["language"].upper(), str(r["dpi"]), r["connection"],
                       ", ".join(r["default_for"]) or "-", r["description"]] for r in rows],
                     ["NAME", "LANGUAGE", "DPI", "CONNECTION", "DEFAULT FOR", "DESCRIPTION"]))


@printers.command(name="test")
@click.argument("name")
@click.option("--template", "template_id",
              help="Label template whose label size the test label shows (default: the "
                   "template this printer is the default printer of).")
@json_option
@pass_app
def printers_test(app, name, template_id, as_json):
    """Print a test label on printer NAME: a box on the label's edges at the template's
    label size, with the size in mm and inches; on ZPL over TCP, first the printer's ~HS
    status (paper out, head open, paused)."""
    from ..errors import InputError, PrinterError
    from ..labeling.templates import load_templates
    from ..labeling.testpage import render_test_page, size_text
    from ..printing import transport, zpl
    from ..printing.jobs import get_printer

    p = get_printer(app.settings, name)
    if template_id is None:
        mine = sorted(t for t, n in app.settings.template_printers.items() if n == name)
        if not mine:
            raise InputError(f"--template: printer {name!r} is no template's default printer "
                             f"([template_printers]); give --template ID", field="template")
        template_id = mine[0]
    t = load_templates(app.templates_dir).get(template_id)
    status = None
    if p.transport == "tcp" and p.language == "zpl":
        status = transport.query_status(name, p)
        if not as_json:
            click.echo(f"Status of {name}: {status.summary()}")
        if status.problems():
            raise PrinterError(f"printer {name!r} is not ready: {', '.join(status.problems())}; "
                               f"test label not sent", printer=name)
    if p.language == "zpl":
        data = zpl.render_test_label(t, name, p.dpi)
    else:
        data = render_test_page(t, name, p.dpi)
    sent = transport.send(name, p, data, title=f"test label {t.id}", language=p.language,
                          page=t.stock.page_size)
    if as_json:
        echo_json({"printer": name, "template": t.id, "label_size": size_text(t),
                   "language": p.language, "dpi": p.dpi, "sent": sent.detail,
                   "bytes": sent.bytes,
                   "status": None if status is None else status.summary()})
        return
    click.echo(f"Sent a test label to {name} ({sent.detail}): {size_text(t)}, template "
               f"{t.id}, {p.dpi} dpi. The box must sit on the label's edges.")
