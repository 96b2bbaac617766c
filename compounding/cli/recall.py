"""`compounding recall COMPONENT_LOT` / `recall --batch LOT`: everything downstream of a
supplier lot or a batch (batches, label prints, dispensing labels: patient, Rx, date), the
read-only look; and the recall as a record (issue 19): `recall open`, `contact`, `show`,
`list`, `close`, `report`."""

from __future__ import annotations

import click

from . import echo_json, json_option, params, pass_app, table
from .db import db_option, open_store


def _date(iso: str) -> str:
    from ..dates import format_date
    return format_date(iso)


def _site_table(rows: list[list[str]], headers: list[str], sites: list[str] | None) -> str:
    """``table`` with a SITE column first when ``sites`` is given (issue 20: only when the
    store acts for, or the rows involve, a site other than MAIN)."""
    if sites is None:
        return table(rows, headers)
    return table([[s, *r] for s, r in zip(sites, rows)], ["SITE", *headers])


def _prints_table(prints: list[dict], show_sites: bool = False) -> str:
    return _site_table(
        [[p["lot_id"], p["kind"], f"{p['template_id']} v{p['template_version']}",
          str(p["copies"]), "yes" if p["reprint"] else "no", p["printed_by"],
          p["printed_at"][:19] + "Z"] for p in prints],
        ["BATCH", "KIND", "TEMPLATE", "COPIES", "REPRINT", "BY", "AT (UTC)"],
        [p["site"] for p in prints] if show_sites else None)


def _dispensed_table(rows: list[dict], show_sites: bool = False) -> str:
    return _site_table(
        [[d["lot_id"], d["patient"] or "-", d["rx_number"] or "-", _date(d["date"]),
          d["dispensed_quantity"] or "-", d["prescriber"] or "-", d["printed_by"]]
         for d in rows],
        ["BATCH", "PATIENT", "RX", "DISPENSED", "QUANTITY", "PRESCRIBER", "BY"],
        [d["site"] for d in rows] if show_sites else None)


def _downstream(prints: list[dict], dispensed: list[dict], show_sites: bool = False) -> None:
    click.echo("")
    if prints:
        click.echo(f"Label prints ({len(prints)}):")
        click.echo(_prints_table(prints, show_sites))
    else:
        click.echo("No batch labels printed")
    click.echo("")
    if dispensed:
        click.echo(f"Dispensed to patients ({len(dispensed)}):")
        click.echo(_dispensed_table(dispensed, show_sites))
    else:
        click.echo("No dispensing labels printed")


class RecallGroup(click.Group):
    """``recall LOT`` (and ``recall --batch LOT``) stays the read-only listing: anything that
    is not a subcommand name goes to ``recall lookup``."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["lookup", *args]
        return super().parse_args(ctx, args)


@click.group(cls=RecallGroup, name="recall")
def recall():
    """Look downstream of a lot (`recall LOT`), and work a recall to its end.

    `recall COMPONENT_LOT` or `recall --batch LOT` lists everything downstream (the same as
    `recall lookup ...`; use `lookup` for a lot named like a subcommand). `recall open`
    holds the lot and quarantines the batches; `contact`, `show`, `list`, `close` and
    `report` follow it to its end.
    """


@recall.command(name="lookup")
@click.argument("component_lot", required=False, type=params.identifier("component lot"))
@click.option("--ingredient", help="Only the lot of this ingredient (when two ingredients "
                                    "share a lot number).")
@click.option("--batch", "batch_lot", metavar="LOT",
              help="Recall one batch instead of a supplier lot.")
@db_option
@json_option
@pass_app
def recall_lookup(app, component_lot, ingredient, batch_lot, db_path, as_json):
    """List everything downstream of supplier lot COMPONENT_LOT, or of batch --batch LOT.

    Every batch that used (or is planned to use) the lot, with status and BUD; every label
    printed for those batches; every dispensing label (patient, Rx number, date dispensed),
    so each patient who received it can be called. Every site of the group is searched;
    when more than one site is involved, a SITE column says where each batch was made and
    each label (and patient) was printed. Exit 0 also when nothing used it (the lot
    exists); exit 2 when no such lot is on record.
    """
    from ..errors import InputError
    from ..store import dispensing
    from ..store.sites import multi_site

    if (component_lot is None) == (batch_lot is None):
        raise InputError("give a supplier lot (COMPONENT_LOT) or --batch LOT, not both")
    if batch_lot is not None and ingredient:
        raise InputError("--ingredient applies to a supplier lot, not to --batch")
    with open_store(app, db_path, read_only=True) as store:
        if batch_lot is not None:
            rec = dispensing.recall_batch(store, batch_lot)
            show_sites = multi_site(store, [rec["site"], *(
                p["site"] for p in rec["label_prints"] + rec["dispensed"])])
        else:
            rows = dispensing.recall_component(store, component_lot, ingredient)
            show_sites = multi_site(store, [*(r["site"] for r in rows), *(
                p["site"] for r in rows for p in r["label_prints"] + r["dispensed"])])
    if batch_lot is not None:
        _show_batch(rec, as_json, show_sites)
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
    click.echo(_site_table([[r["batch_lot_id"], r["ingredient"], r["formula_id"], r["status"],
                             _date(r["bud"]), r["basis"],
                             show_amount(r["quantity"], r["unit"])] for r in rows],
                           ["BATCH", "INGREDIENT", "FORMULA", "STATUS", "BUD", "USE",
                            "QUANTITY"], [r["site"] for r in rows] if show_sites else None))
    seen = set()
    prints, dispensed = [], []
    for r in rows:
        if r["batch_lot_id"] in seen:
            continue
        seen.add(r["batch_lot_id"])
        prints += r["label_prints"]
        dispensed += r["dispensed"]
    _downstream(prints, dispensed, show_sites)


def _show_batch(rec: dict, as_json: bool, show_sites: bool = False) -> None:
    if as_json:
        echo_json(rec)
        return
    where = f" (site {rec['site']})" if show_sites else ""
    click.echo(f"Batch {rec['lot_id']}{where}: {rec['formula_id']}, {rec['strength']}, "
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
    _downstream(rec["label_prints"], rec["dispensed"], show_sites)


# ---------------------------------------------------------------- issue 19: recall as a record

def _show_recall(rec: dict, show_sites: bool = False) -> None:
    subject = (f"{rec['ingredient']} lot {rec['lot']}" if rec["kind"] == "component-lot"
               else f"batch {rec['lot']}")
    from ..store.signatures import person_time
    click.echo(f"Recall {rec['recall_id']}: {subject} ({rec['status']})")
    click.echo(f"Reason: {rec['reason']}")
    click.echo(f"Opened by {rec['opened_by']} at {person_time(rec['opened_at'])}")
    click.echo("")
    if rec["batches"]:
        click.echo(f"Batches ({len(rec['batches'])}):")
        click.echo(_site_table([[b["lot_id"], b["formula_id"], b["strength"] or "-",
                                 b["status_before"], b["action"], b["status"]]
                                for b in rec["batches"]],
                               ["BATCH", "FORMULA", "STRENGTH", "WAS", "ACTION", "NOW"],
                               [b["site"] for b in rec["batches"]] if show_sites else None))
    else:
        click.echo("No batch used it")
    click.echo("")
    if rec["patients"]:
        click.echo(f"Patients ({len(rec['patients'])}; reached {rec['reached']}, still to "
                   f"reach {len(rec['to_reach'])}):")
        click.echo(_site_table([[p["rx_number"], p["patient"] or "-", p["lot_id"],
                                 _date(p["dispensed_on"]), p["dispensed_quantity"] or "-",
                                 p["outcome"] or "NOT CONTACTED"] for p in rec["patients"]],
                               ["RX", "PATIENT", "BATCH", "DISPENSED", "QUANTITY",
                                "OUTCOME"],
                               [p["site"] for p in rec["patients"]] if show_sites else None))
    else:
        click.echo("No patient was dispensed from these batches")
    c = rec["closure"]
    if c:
        click.echo("")
        click.echo(f"Closed by {c['closed_by']} at {person_time(c['closed_at'])}: {c['note']}")
        if c["incomplete_reason"]:
            click.echo(f"Closed without every outcome: {c['incomplete_reason']}")
    elif rec["patients"]:
        click.echo("")
        click.echo(f"Record each call: compounding recall contact {rec['recall_id']} --rx RX "
                   "--outcome reached|message-left|unreachable --by USER")


def _sites_shown(store, rec: dict) -> bool:
    """Whether a recall's report names sites: when its batches or patients are not all at
    the default site (``store.sites.multi_site``)."""
    from ..store.sites import multi_site
    return multi_site(store, [x["site"] for x in rec["batches"] + rec["patients"]])


@recall.command(name="open")
@click.argument("component_lot", required=False, type=params.supplier_lot("component lot"))
@click.option("--ingredient", help="The supplier lot's ingredient (when two share the number).")
@click.option("--batch", "batch_lot", metavar="LOT", help="Recall one batch instead.")
@click.option("--reason", required=True, type=params.text("reason"), help="Why (supplier notice, test result...).")
@click.option("--by", required=True, type=params.identifier("by"), help="The pharmacist who signs (passphrase asked).")
@db_option
@json_option
@pass_app
def recall_open(app, component_lot, ingredient, batch_lot, reason, by, db_path, as_json):
    """Open a recall: hold the lot, quarantine every downstream batch, list the patients."""
    from ..store import recalls
    from .passphrases import signer_passphrase

    with open_store(app, db_path) as store:
        rec = recalls.open_recall(store, component_lot=component_lot, ingredient=ingredient,
                                  batch=batch_lot, reason=reason, by=by,
                                  passphrase=signer_passphrase(app, by, "recall opened"))
        show_sites = _sites_shown(store, rec)
    if as_json:
        echo_json(rec)
        return
    n = sum(1 for b in rec["batches"] if b["action"] == "quarantined")
    click.echo(f"Opened recall {rec['recall_id']}"
               + (f"; lot {rec['lot']} of {rec['ingredient']} is on hold"
                  if rec["kind"] == "component-lot" else "")
               + f"; {n} batch{'es' if n != 1 else ''} quarantined (released and partly "
                 "dispensed batches too, so nothing left on the shelf goes out)")
    click.echo("")
    _show_recall(rec, show_sites)


@recall.command(name="contact")
@click.argument("recall_id", metavar="RECALL")
@click.option("--rx", required=True, type=params.identifier("rx"), help="The patient's Rx number.")
@click.option("--outcome", required=True,
              type=click.Choice(["reached", "message-left", "unreachable"]),
              help="What the call came to.")
@click.option("--note", type=params.text("note"), help="What was said or agreed.")
@click.option("--by", required=True, type=params.identifier("by"), help="Who called.")
@db_option
@json_option
@pass_app
def recall_contact(app, recall_id, rx, outcome, note, by, db_path, as_json):
    """Record one attempt to reach a patient of a recall."""
    from ..store import recalls

    with open_store(app, db_path) as store:
        rec = recalls.record_contact(store, recall_id, rx=rx, outcome=outcome, note=note,
                                     by=by)
    if as_json:
        echo_json(rec)
        return
    click.echo(f"Recall {rec['recall_id']}: Rx {rx.strip()} {outcome}; still to reach "
               f"{len(rec['to_reach'])} of {len(rec['patients'])}")


@recall.command(name="show")
@click.argument("recall_id", metavar="RECALL")
@db_option
@json_option
@pass_app
def recall_show(app, recall_id, db_path, as_json):
    """Show a recall: its batches, every patient and who is still to be reached."""
    from ..store import recalls

    with open_store(app, db_path, read_only=True) as store:
        rec = recalls.show_recall(store, recall_id)
        show_sites = _sites_shown(store, rec)
    if as_json:
        echo_json(rec)
        return
    _show_recall(rec, show_sites)


@recall.command(name="list")
@click.option("--status", type=click.Choice(["open", "closed"]), help="Only these.")
@db_option
@json_option
@pass_app
def recall_list(app, status, db_path, as_json):
    """List recalls, newest first, with their progress."""
    from ..store import recalls

    with open_store(app, db_path, read_only=True) as store:
        rows = recalls.list_recalls(store, status)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No recalls" + (f" {status}" if status else ""))
        return
    click.echo(table([[str(r["recall_id"]), r["kind"], r["lot"], r["status"],
                       _date(r["opened_at"][:10]), str(r["quarantined"]),
                       f"{r['contacted']}/{r['patients']}"] for r in rows],
                     ["RECALL", "KIND", "LOT", "STATUS", "OPENED", "QUARANTINED",
                      "CONTACTED"]))


@recall.command(name="close")
@click.argument("recall_id", metavar="RECALL")
@click.option("--note", required=True, type=params.text("note"), help="How the recall ended.")
@click.option("--incomplete-reason", type=params.text("incomplete reason"),
              help="Why it closes while some patient has no outcome.")
@click.option("--by", required=True, type=params.identifier("by"), help="The pharmacist who signs (passphrase asked).")
@db_option
@json_option
@pass_app
def recall_close(app, recall_id, note, incomplete_reason, by, db_path, as_json):
    """Close a recall once every patient has an outcome (or with a stated reason)."""
    from ..store import recalls
    from .passphrases import signer_passphrase

    with open_store(app, db_path) as store:
        rec = recalls.close_recall(store, recall_id, note=note, by=by,
                                   incomplete_reason=incomplete_reason,
                                   passphrase=signer_passphrase(app, by, "recall closed"))
    if as_json:
        echo_json(rec)
        return
    click.echo(f"Closed recall {rec['recall_id']}: {len(rec['patients'])} patient"
               f"{'s' if len(rec['patients']) != 1 else ''}, {rec['reached']} reached")


@recall.command(name="report")
@click.argument("recall_id", metavar="RECALL")
@click.option("--output", type=click.Path(dir_okay=False),
              help="PDF to write (default: labels/recall-<N>.pdf).")
@click.option("--page-size", type=click.Choice(["letter", "a4"]), default="letter",
              show_default=True, help="Paper size.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@db_option
@pass_app
def recall_report(app, recall_id, output, page_size, force, db_path):
    """Write the recall report PDF for the file: what, why, batches, patients, contacts."""
    import hashlib
    from pathlib import Path

    from ..labeling.recall_report import render_recall_report
    from ..outputs import check_output, write_output
    from ..store import recalls

    with open_store(app, db_path) as store:
        rec = recalls.show_recall(store, recall_id)
        protect = (store.path,)
    path = Path(output) if output else app.cwd / "labels" / f"recall-{rec['recall_id']}.pdf"
    check_output(path, protect=protect, force=force)
    pdf = render_recall_report(rec, app.settings.pharmacy.name, page_size)
    write_output(path, pdf, protect=protect, force=force)
    click.echo(f"Wrote {path} (recall {rec['recall_id']}, {rec['status']})")
    click.echo(f"PDF SHA-256: {hashlib.sha256(pdf).hexdigest()}")
