"""`compounding batch ...`: create a batch, record weighings, show and list batches.

The worksheet and sign-off subcommands live in other modules (lazy: listed once they exist).
"""

from __future__ import annotations

import click

from . import LazyGroup, echo_json, json_option, params, pass_app, table
from .db import db_option, open_store
from .types import WholeNumber, limit_option


@click.group(cls=LazyGroup, lazy={
    "worksheet": "compounding.cli.worksheet:batch_worksheet",
    "verify": "compounding.cli.signoff:batch_verify",
    "release": "compounding.cli.signoff:batch_release",
    "reject": "compounding.cli.signoff:batch_reject",
    "quarantine": "compounding.cli.signoff:batch_quarantine",
})
def batch():
    """Create batches (compounding records), record weighings, show and list them."""


def _component_lots(values) -> dict[str, str]:
    from ..store.inventory import LOT_CHARS
    from ..text import normalize
    out = {}
    for v in values:
        ing, sep, lot = v.partition("=")
        if not sep or not ing.strip() or not lot.strip():
            raise click.BadParameter(f"{v!r}: write INGREDIENT=LOT (e.g. naltrexone-hcl=NX1)",
                                     param_hint="--component-lot")
        if ing.strip() in out:
            raise click.BadParameter(f"{ing.strip()} named twice", param_hint="--component-lot")
        out[ing.strip()] = normalize(lot, "component lot", kind="identifier",
                                     max_length=LOT_CHARS)
    return out


def _date(iso: str) -> str:
    from ..dates import format_date
    return format_date(iso)


@batch.command(name="create")
@click.argument("formula_id")
@click.option("--quantity", required=True,
              help="Batch size: capsules by count (100), liquids in mL, cream in g.")
@click.option("--strength", help="Strength (e.g. 1.5 mg per capsule); default: the formula's.")
@click.option("--filler", type=params.choice("--filler"), help="Capsule filler ingredient id (default: the formula's).")
@click.option("--capsule-size", help="Capsule size (e.g. 1); default: chosen by the plan.")
@click.option("--base", type=params.choice("--base"), help="Cream base ingredient id (default: the formula's, or with "
              "--avoid the first base free of the avoided tags).")
@click.option("--avoid", multiple=True, metavar="TAG", type=params.choice("--avoid"),
              help="Allergen/intolerance tag the patient must avoid (repeatable), e.g. "
                   "parabens: refused, or for a cream another base is picked.")
@click.option("--storage", type=click.Choice(["refrigerated", "room"]),
              help="Storage condition (default: the formula's first).")
@click.option("--component-lot", "component_lots", multiple=True, metavar="INGREDIENT=LOT",
              help="Use this supplier lot for an ingredient (repeatable). Default: the "
                   "earliest-expiring unexpired lot with enough stock.")
@click.option("--corrects", metavar="LOT", help="The rejected or quarantined batch this new "
              "batch corrects (the link is kept on both records).")
@click.option("--reason", type=params.text("reason"), help="Why, with --corrects.")
@click.option("--confirm-strength", is_flag=True,
              help="Confirm a strength that reads like a usual strength in the other unit "
                   "(4.5 mcg beside the usual 4.5 mg): a 1000-fold look-alike.")
@click.option("--by", "by", type=params.identifier("by"), required=True,
              help="Who compounds the batch.")
@db_option
@json_option
@pass_app
def batch_create(app, formula_id, quantity, strength, filler, capsule_size, base, avoid,
                 storage,
                 component_lots, corrects, reason, confirm_strength, by, db_path, as_json):
    """Plan a batch with the lots in stock, allocate its lot ID and record it.

    The active ingredient's certificate potency is used in the plan. Not enough stock, or
    only expired lots, is refused naming the ingredient. Prints the lot ID and the plan.
    """
    from ..plan import Order

    reg = app.registry
    formula = reg.get(formula_id)
    lots = _component_lots(component_lots)
    order = Order.from_text(formula, quantity=quantity, strength=strength, filler=filler,
                            capsule_size=capsule_size, confirm_strength=confirm_strength,
                            base=base, avoid=avoid)
    with open_store(app, db_path) as store:
        rec = store.create_batch(formula, reg.catalogue, app.settings, order, by=by,
                                 formula_sha256=reg.hashes[formula.id], component_lots=lots,
                                 storage=storage, corrects=corrects, reason=reason)
    if as_json:
        echo_json(rec)
        return
    click.echo(f"Batch {rec['lot_id']}: {formula.name}, {rec['strength']}, {rec['quantity']} "
               f"(status {rec['status']})")
    click.echo(f"Beyond-use date: {_date(rec['bud'])}")
    if rec.get("corrects"):
        click.echo(f"Corrects batch {rec['corrects']['corrects_lot_id']}: "
                   f"{rec['corrects']['reason']}")
    click.echo("Component lots:")
    for c in rec["components"]:
        click.echo(f"  {c['ingredient']}: lot {c['lot_number']} (expires "
                   f"{_date(c['expires'])}, potency {c['potency_percent']}%, {c['chosen']})")
    for note in rec.get("notes", []):  # issue 19: lot picking and low stock
        click.echo(note if note.startswith("Warning:") else f"Picked {note}")
    click.echo("")
    click.echo(rec["plan_text"].rstrip("\n"))


def batch_lot_text(app, text: str) -> str:
    """The batch lot ID in LOT: typed, or scanned from our own label (its Code 128, or the
    GS1 DataMatrix (10) when the formula has a GTIN in the settings). Anything else is
    passed on as typed (the store validates it and says what is wrong)."""
    from ..devices.scanning import batch_lot_id, read_scan
    from ..errors import InputError

    if text.strip().isascii() and text.strip().isdigit():
        return text.strip()
    try:
        scan = read_scan(text, today=_today(), field_name="LOT")
    except InputError:
        return text
    return batch_lot_id(scan, app.settings.gtins.values()) or text


def _today():
    from datetime import datetime
    return datetime.now().astimezone().date()


@batch.command(name="weigh")
@click.argument("lot")
@click.option("--step", type=WholeNumber(min=1),
              help="The plan step number (as printed by `batch show`).")
@click.option("--ingredient", help="Ingredient id of the line weighed (enough on its own when "
                                    "that ingredient has one pending step).")
@click.option("--component-lot", type=params.supplier_lot("component lot"),
              help="Supplier lot used (default: the lot chosen at create).")
@click.option("--scan", "scan_text", metavar="TEXT",
              help="What the scanner typed from the container: a supplier's barcode (GS1 or "
                   "plain lot), the pharmacy's component lot label, or, for an aliquot step, "
                   "this batch's own label. A lot of another ingredient, an expired lot or a "
                   "lot never received is refused before anything is recorded.")
@click.option("--amount", help="Amount actually weighed or measured (e.g. 121.5 mg, 20 mL).")
@click.option("--from-balance", "balance_name", metavar="NAME",
              help="Take the amount from balance NAME in the settings ([balances.NAME]): a "
                   "stable reading, its serial number recorded with the weighing.")
@click.option("--deviation", "deviation_reason", type=params.text("deviation"),
              help="Reason, when the amount is outside the formula's weighing tolerance.")
@click.option("--reweigh", "reweigh_reason", type=params.text("reweigh"),
              help="Reason, to record a step that was already weighed again (both are kept).")
@click.option("--by", "by", type=params.identifier("by"), required=True, help="Who weighed.")
@db_option
@json_option
@pass_app
def batch_weigh(app, lot, step, ingredient, component_lot, scan_text, amount, balance_name,
                deviation_reason, reweigh_reason, by, db_path, as_json):
    """Record the amount weighed or measured for one plan line of batch LOT.

    Every plan line has a step number (see `compounding batch show LOT`). Give --step N, or
    --ingredient ID when that ingredient has a single pending step (or --scan alone: the
    scanned ingredient's pending step). Dilution (aliquot) steps are recorded one by one,
    in order, by step number: the drug and each portion of diluent with --step N (their
    component lot is used), and each aliquot taken from a dilution made in the batch with
    --step N alone (it uses no component lot). The amount is typed (--amount) or read from
    a balance (--from-balance NAME). LOT may be typed or scanned from the batch label. An
    expired lot, or a lot of another ingredient, is refused. The BUD is recomputed from the
    lots actually weighed; when every step is weighed the batch becomes 'compounded'.
    """
    from .. import units as u
    from ..weighing import weigh

    if (amount is None) == (balance_name is None):
        raise click.UsageError("give --amount (typed) or --from-balance NAME, one of them")
    qty = u.parse(amount, {u.MASS, u.VOLUME}, field="--amount") if amount is not None else None
    lot = batch_lot_text(app, lot)
    with open_store(app, db_path) as store:
        done = weigh(store, app.settings, app.registry.catalogue, lot, by=by, step=step,
                     ingredient=ingredient, component_lot=component_lot, scan_text=scan_text,
                     amount=qty, balance=balance_name, deviation_reason=deviation_reason,
                     reweigh_reason=reweigh_reason)
    w, reading, match = done.weighing, done.reading, done.match
    if as_json:
        echo_json(w)
        return
    from .inventory import show_amount
    src = f" from {w['ingredient']} lot {w['component_lot']}" if w["component_lot"] else ""
    click.echo(f"Step {w['step']} ({w['what']}): {show_amount(w['quantity'], w['unit'])}"
               f"{src}, planned {show_amount(w['planned_quantity'], w['planned_unit'])} "
               f"({w['deviation_percent']}%)")
    if reading is not None:
        click.echo(f"Read from balance {reading.balance} (serial {reading.serial_number}, "
                   f"{reading.protocol}): {reading.line}")
    if match is not None:
        click.echo(f"Lot confirmed by scan: {match.text}")
    if w["bud_changed"]:
        click.echo(f"BUD recomputed from the lots weighed: {_date(w['bud'])}")
    if w["complete"]:
        click.echo("Every step weighed: batch is now compounded")
    else:
        click.echo("Steps still to weigh: " + ", ".join(map(str, w["steps_pending"])))


@batch.command(name="show")
@click.argument("lot")
@db_option
@json_option
@pass_app
def batch_show(app, lot, db_path, as_json):
    """Show the compounding record of batch LOT: plan, lots, weighings, BUD, prints."""
    from ..store import device_records

    with open_store(app, db_path, read_only=True) as store:
        rec = store.get_batch(lot)
        plan_text = store.scalar("SELECT plan_text FROM batches WHERE lot_id = ?",
                                 [rec["lot_id"]])
        if not as_json:  # the JSON is the record itself (the bench API's shape)
            rec = device_records.with_sources(store, rec)
            from ..store.dispensing import dispensed_totals
            totals = dispensed_totals(store, rec["lot_id"], batch=rec)
    if as_json:
        echo_json(rec)
        return
    f = rec["formula_snapshot"]
    click.echo(f"Batch {rec['lot_id']}: {f['name']} (formula {rec['formula_id']} version "
               f"{rec['formula_version']})")
    click.echo(f"Strength {rec['strength']}; quantity {rec['quantity']}; made "
               f"{rec['units_made']}; storage {rec['storage']}")
    click.echo(f"Status: {rec['status']}; compounded {_date(rec['compounded_on'])} by "
               f"{rec['compounded_by']}")
    click.echo("")
    for line in rec["bud_result"].get("explanation", []):
        click.echo(line)
    click.echo("")
    click.echo("Component lots:")
    for c in rec["components"]:
        click.echo(f"  {c['ingredient']}: lot {c['lot_number']} (expires "
                   f"{_date(c['expires'])}, potency {c['potency_percent']}%)")
    click.echo("")
    click.echo(plan_text.rstrip("\n"))
    click.echo("")
    from .inventory import show_amount
    rows = []
    for w in rec["weighings"]:
        rows.append([str(w["step"]), w["what"], w["component_lot"] or "-",
                     show_amount(w["planned_quantity"], w["planned_unit"]),
                     show_amount(w["quantity"], w["unit"]), w["deviation_percent"] + "%",
                     w["source_text"], w["weighed_by"], w["weighed_at"]])
    if rows:
        click.echo(table(rows, ["STEP", "WHAT", "LOT", "PLANNED", "WEIGHED", "DEV", "SOURCE",
                                "BY", "AT (UTC)"]))
    else:
        click.echo("No weighings recorded yet")
    if rec["steps_pending"]:
        click.echo("Steps still to weigh: " + ", ".join(map(str, rec["steps_pending"])))
    for p in rec["label_prints"]:
        click.echo(f"Label {p['kind']}{' (reprint)' if p['reprint'] else ''}: "
                   f"{p['copies']} by {p['printed_by']} at {p['printed_at']}")
    from .labels import remaining_line  # issue 12: what is left to dispense
    click.echo(remaining_line(rec["lot_id"], totals))
    for sig in rec.get("signatures", []):
        click.echo(f"Signature: {sig['meaning']} by {sig['signer_name']} ({sig['signer']}, "
                   f"{sig['role']}) at {sig['signed_at']}"
                   + (f": {sig['reason']}" if sig["reason"] else ""))
    if rec.get("corrects"):
        click.echo(f"Corrects batch {rec['corrects']['corrects_lot_id']}: "
                   f"{rec['corrects']['reason']}")
    if rec.get("corrected_by"):
        click.echo(f"Corrected by batch {rec['corrected_by']['lot_id']}: "
                   f"{rec['corrected_by']['reason']}")


#: How many batches `batch list` shows unless told otherwise (issue 18).
LIST_DEFAULT = 50


@batch.command(name="list")
@click.option("--status", type=click.Choice(["planned", "compounded", "released", "rejected",
                                             "quarantine"]), help="Only batches of this status.")
@limit_option(LIST_DEFAULT, "the newest N batches")
@click.option("--no-limit", "--all", "show_all", is_flag=True,
              help="Show every batch (--all is the same).")
@click.option("--all-sites", is_flag=True,
              help="Batches of every site of the group (default: this site's, the settings' "
                   "`site`): the newest N of them all, grouped by site (this site first), "
                   "with a SITE column.")
@db_option
@json_option
@pass_app
def batch_list(app, status, limit, show_all, all_sites, db_path, as_json):
    """List this site's batches, newest first: the newest 50 unless --limit or --no-limit
    says otherwise.

    When there are more, a note on stderr says how many were left out.
    """
    from ..store.sites import others_note
    if show_all and limit is not None:
        raise click.UsageError("give --limit N or --no-limit (--all), not both")
    n = None if show_all else (limit or LIST_DEFAULT)
    with open_store(app, db_path, read_only=True) as store:
        site = None if all_sites else store.site
        rows = store.list_batches(status, n, site)
        total = (store.count_batches(status, site) if n is not None and len(rows) == n
                 else len(rows))
        note = None if all_sites else others_note(store, "batches", "batches")
    if all_sites:  # the newest N of every site, shown by site: this site's first
        rows.sort(key=lambda r: (r["site"] != store.site, r["site"]))
    if note:
        click.echo(note, err=True)
    if as_json:
        echo_json(rows)
    elif not rows:
        click.echo("No batches" + (f" with status {status}" if status else ""))
    else:
        click.echo(table([([r["site"]] if all_sites else []) + [
            r["lot_id"], r["formula_id"], r["strength"], r["quantity"], r["status"],
            _date(r["compounded_on"]), _date(r["bud"]),
            f"{r['steps_weighed']}/{r['steps_planned']}"] for r in rows],
            (["SITE"] if all_sites else []) + [
                "LOT", "FORMULA", "STRENGTH", "QUANTITY", "STATUS", "COMPOUNDED", "BUD",
                "WEIGHED"]))
    if total > len(rows):
        what = f"{status} batches" if status else "batches"
        click.echo(f"Showing the newest {len(rows):,} of {total:,} {what}"
                   f"{' of every site' if all_sites else ''}; --limit N for more, "
                   "--no-limit for every one.", err=True)
