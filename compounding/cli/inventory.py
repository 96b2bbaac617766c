"""`compounding inventory ...`: receive component lots and list stock on hand."""

from __future__ import annotations

import click

from . import LazyGroup, echo_json, json_option, params, pass_app, table
from .db import db_option, open_store
from .types import WholeNumber, limit_option


@click.group(cls=LazyGroup)
def inventory():
    """Receive component lots into stock and list what is on hand."""


def show_amount(value, unit: str) -> str:
    """An amount of a lot for a person: masses in mcg, mg or g as readable, volumes in mL."""
    from .. import units as u
    qty = u.q(value, unit)
    return u.fmt(u.readable_mass(qty) if qty.dim == "mass" else qty)


def show_amount_as(value, unit: str, like) -> str:
    """An amount of a lot in the unit of the quantity ``like`` (what the person typed:
    ``inventory receive --quantity "5 g"`` says "On hand: 5 g", as "10 g" does), when that
    unit expresses it exactly (the value converted back is the same); otherwise as
    :func:`show_amount` (attack s4 finding 14: "5 g" was shown as 5,000 mg, "10 g" as
    10 g)."""
    from .. import units as u
    qty = u.q(value, unit)
    try:
        there = qty.to(like.unit)
    except u.UnitError:
        return show_amount(value, unit)
    if there.to(qty.unit).value != qty.value:
        return show_amount(value, unit)
    return u.fmt(there)


def lot_json(lot: dict) -> dict:
    from ..shapes import lot_json as shape
    return shape(lot)


@inventory.command(name="receive")
@click.argument("ingredient", required=False)
@click.option("--scan", "scan_text", metavar="TEXT",
              help="What the scanner typed from the container: a GS1 barcode (GTIN, lot, "
                   "expiry; with or without ]C1/]d2/]Q3, or as (01)...(17)...(10)...) or a "
                   "plain lot barcode. Options typed as well must agree with it.")
@click.option("--lot", "lot_number", type=params.supplier_lot("lot"),
              help="Supplier lot number as printed on the container (printable ASCII, at "
                   "most 40 characters); from --scan when it has one.")
@click.option("--expires",
              help="Expiry: YYYY-MM-DD, or YYYY-MM for the last day of that month (from "
                   "--scan when it has one).")
@click.option("--quantity", required=True, help="Amount received, with its unit (e.g. 25 g).")
@click.option("--potency", help="Potency from the certificate of analysis (e.g. 99.2%). "
                                "Default 100%.")
@click.option("--manufacturer", type=params.name("manufacturer"),
              help="Manufacturer or supplier (from the catalogue's GTIN entry with --scan).")
@click.option("--by", "by", type=params.identifier("by"), required=True, help="Who received it.")
@click.option("--confirm-case", is_flag=True,
              help="Confirm a new lot number that differs from a recorded lot of the same "
                   "ingredient only by letter case (e.g. nx-2401 beside NX-2401).")
@db_option
@json_option
@pass_app
def inventory_receive(app, ingredient, scan_text, lot_number, expires, quantity, potency,
                      manufacturer, by, confirm_case, db_path, as_json):
    """Receive a component lot (or more of a known lot) into stock.

    Give INGREDIENT, --lot and --expires, or scan the container with --scan: a GS1 barcode
    names the ingredient through its GTIN (formulas/ingredients.toml [gtins]; a GTIN not
    listed there is refused) and carries the lot and expiry (day 00 = the month's last
    day); a plain barcode is the lot, and INGREDIENT and --expires are then typed.
    """
    from decimal import Decimal

    from .. import units as u
    from ..dates import format_date, parse_expiry

    exp = parse_expiry(expires, "expires") if expires is not None else None
    scanned = None
    if scan_text is not None:
        from ..devices.scanning import component_from_scan, read_scan
        today = _today()
        scanned = component_from_scan(read_scan(scan_text, today=today, field_name="--scan"),
                                      app.registry.catalogue, ingredient=ingredient,
                                      lot=lot_number, expiry=exp, manufacturer=manufacturer,
                                      today=today, field_name="--scan")
        ingredient, lot_number, exp = scanned.ingredient, scanned.lot, scanned.expiry
        manufacturer = scanned.manufacturer
    for value, name in ((ingredient, "INGREDIENT"), (lot_number, "--lot"), (exp, "--expires")):
        if value is None:
            raise click.UsageError(f"Missing {'argument' if name.isupper() else 'option'} "
                                   f"'{name}' (give it, or --scan a barcode that has it).")
    app.registry.ingredient(ingredient)  # unknown ingredient: one-line error
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
        if scanned is not None:
            from ..store import device_records
            lot = device_records.receive_scanned(store, scanned, qty, by, potency_percent=pot)
        else:
            lot = store.receive_lot(ingredient, lot_number, exp, qty, by, potency_percent=pot,
                                    manufacturer=manufacturer)
    if as_json:
        out = lot_json({k: v for k, v in lot.items() if k != "receipt_scan"})
        if scanned is not None:
            out["scan"] = scanned.scan.as_json()
        echo_json(out)
        return
    on_hand = show_amount_as(lot["on_hand"], lot["unit"], qty)
    click.echo(f"Received {u.fmt(qty)} of {ingredient} lot {lot['lot_number']} "
               f"(expires {format_date(exp)}, potency {u.plain(lot['potency_percent'])}%)")
    if scanned is not None and scanned.gtin:
        made = (f", produced {format_date(scanned.production_date)}"
                if scanned.production_date else "")
        click.echo(f"Scanned: GTIN {scanned.gtin} ({ingredient}"
                   f"{', ' + scanned.manufacturer if scanned.manufacturer else ''}){made}")
    click.echo(f"On hand: {on_hand}")


def _today():
    """The pharmacy's calendar day (local time), as the store counts it."""
    from datetime import datetime
    return datetime.now().astimezone().date()


#: How many lots `inventory list` shows unless told otherwise (issue 18).
LIST_DEFAULT = 50


@inventory.command(name="list")
@click.option("--expiring-within", "days", type=WholeNumber(min=0, unbounded=True),
              help="Only lots expiring within DAYS days (expired lots included).")
@click.option("--ingredient", help="Only lots of this ingredient.")
@click.option("--all", "show_all", is_flag=True, help="Include lots with nothing on hand.")
@limit_option(LIST_DEFAULT, "the N earliest-expiring lots")
@click.option("--no-limit", is_flag=True, help="Show every lot.")
@click.option("--low", is_flag=True,
              help="Only ingredients at or below their reorder point ([reorder_points] in "
                   "the settings): usable stock is unexpired and not on hold.")
@click.option("--all-sites", is_flag=True,
              help="Lots of every site of the group (default: this site's, the settings' "
                   "`site`), with a SITE column.")
@db_option
@json_option
@pass_app
def inventory_list(app, days, ingredient, show_all, limit, no_limit, low, all_sites, db_path,
                   as_json):
    """List component lots with stock on hand, earliest expiry first (this site's): the
    first 50 unless --limit or --no-limit says otherwise.

    When there are more, a note on stderr says how many were left out.
    """
    from .. import units as u
    from ..dates import format_date
    from ..store.sites import others_note

    if no_limit and limit is not None:
        raise click.UsageError("give --limit N or --no-limit, not both")
    if low:
        if all_sites:
            raise click.UsageError("--low looks at this site's stock (its reorder points); "
                                   "not with --all-sites")
        if limit is not None or no_limit:
            raise click.UsageError("--low lists every ingredient at or below its reorder "
                                   "point; --limit and --no-limit do not apply to it")
        _list_low(app, db_path, as_json)
        return
    n = None if no_limit else (limit or LIST_DEFAULT)
    include_empty = show_all or days is not None
    with open_store(app, db_path, read_only=True) as store:
        lots = store.lots(ingredient=ingredient, expiring_within=days,
                          include_empty=include_empty, limit=n,
                          site=None if all_sites else store.site)
        total = len(lots)
        if n is not None and len(lots) == n:
            total = store.count_lots(ingredient=ingredient, expiring_within=days,
                                     include_empty=include_empty,
                                     site=None if all_sites else store.site)
        note = None if all_sites else others_note(store, "component_lots", "component lots")
    if note:
        click.echo(note, err=True)
    if as_json:
        echo_json([lot_json(x) for x in lots])
    elif not lots:
        click.echo("No component lots" + (f" expiring within {days} days" if days is not None
                                          else " with stock on hand"))
    else:
        rows = []
        for x in lots:
            state = "EXPIRED" if x["expired"] else f"{x['days_to_expiry']} days"
            if x.get("on_hold"):
                state += ", ON HOLD"
            rows.append(([x["site"]] if all_sites else []) + [
                x["ingredient"], x["lot_number"], format_date(x["expires"]), state,
                u.plain(x["potency_percent"]) + "%", show_amount(x["on_hand"], x["unit"]),
                show_amount(x["reserved"], x["unit"])])
        click.echo(table(rows, (["SITE"] if all_sites else []) + [
            "INGREDIENT", "LOT", "EXPIRES", "LEFT", "POTENCY", "ON HAND", "RESERVED"]))
    if total > len(lots):
        click.echo(f"Showing the {len(lots):,} earliest-expiring of {total:,} lots; --limit N "
                   f"for more, --no-limit for every one.", err=True)


@inventory.command(name="label")
@click.argument("lot")
@click.option("--ingredient", help="Ingredient id, when two ingredients have a lot with this "
                                   "number.")
@click.option("--template", "template_id", default="batch-thermal", show_default=True,
              help="Label template whose stock, printer resolution and Code 128 settings are "
                   "used (see `compounding labels templates`).")
@click.option("--copies", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Labels to print.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="PDF to write (default labels/component-<ingredient>-<lot>.pdf).")
@click.option("--force", is_flag=True, help="Replace an existing output file (never the "
              "database, a link or a device).")
@db_option
@json_option
@pass_app
def inventory_label(app, lot, ingredient, template_id, copies, output, force, db_path,
                    as_json):
    """Print a label for received component lot LOT (PDF): ingredient, lot, expiry, potency
    and a Code 128 of the lot number that `batch weigh --scan` reads.

    For a container whose supplier barcode is missing or unreadable. An expired lot gets no
    new label.
    """
    import hashlib
    import re
    from datetime import date
    from pathlib import Path

    from ..dates import format_date
    from ..errors import NotFoundError, RefusedError
    from ..labeling.component import ComponentLot, render_component
    from ..outputs import check_output, write_output
    from ..labeling.templates import load_templates

    template = load_templates(app.templates_dir).get(template_id)
    with open_store(app, db_path) as store:
        protect = (store.path,)
        rows = [r for r in store.lots(lot_number=lot.strip())
                if ingredient is None or r["ingredient"] == ingredient]
    if not rows:
        raise NotFoundError(f"no component lot {lot.strip()!r}"
                            + (f" of {ingredient}" if ingredient else "")
                            + " on record (receive it first: compounding inventory receive)")
    if len(rows) > 1:
        raise click.UsageError(f"lot {lot.strip()!r} exists for "
                               f"{', '.join(sorted(r['ingredient'] for r in rows))}; "
                               "give --ingredient")
    r = rows[0]
    if r["expired"]:
        raise RefusedError(f"{r['ingredient']} lot {r['lot_number']} expired on "
                           f"{format_date(r['expires'])}; it gets no new label (quarantine "
                           "the container)")
    c = ComponentLot(ingredient_id=r["ingredient"],
                     ingredient_name=app.registry.ingredient(r["ingredient"]).name,
                     lot=r["lot_number"], expires=date.fromisoformat(r["expires"]),
                     potency_percent=r["potency_percent"],
                     received=date.fromisoformat(r["received_at"][:10]),
                     manufacturer=r["manufacturer"], pharmacy_name=app.settings.pharmacy.name)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", r["lot_number"])
    path = Path(output) if output else app.cwd / "labels" / f"component-{r['ingredient']}-{safe}.pdf"
    check_output(path, protect=protect, force=force)
    pdf = render_component(template, c, copies=copies)
    write_output(path, pdf, protect=protect, force=force)
    sha = hashlib.sha256(pdf).hexdigest()
    if as_json:
        echo_json({"path": str(path), "ingredient": r["ingredient"], "lot": r["lot_number"],
                   "expires": r["expires"], "copies": copies, "template": template.id,
                   "template_version": template.version, "pdf_sha256": sha})
        return
    click.echo(f"Wrote {path} ({copies} component lot label{'s' if copies != 1 else ''}, "
               f"template {template.id} v{template.version})")
    click.echo(f"{r['ingredient']} lot {r['lot_number']}, expires "
               f"{format_date(r['expires'])}; Code 128: {r['lot_number']}")
    click.echo(f"PDF SHA-256: {sha}")


# ---------------------------------------------------------------- issue 19: the shelf

def _signed_amount(value, unit: str) -> str:
    text = show_amount(abs(value), unit)
    return ("-" if value < 0 else "+" if value > 0 else "") + text


def _adjustment_json(a: dict) -> dict:
    from ..units import plain
    return {**a, "quantity": a["quantity"],
            "on_hand_before": plain(a["on_hand_before"]),
            "on_hand_after": plain(a["on_hand_after"])}


lot_ingredient = click.option("--ingredient",
                              help="The lot's ingredient (needed when two ingredients share "
                                   "the lot number).")


@inventory.command(name="adjust")
@click.argument("lot", type=params.supplier_lot("lot"))
@lot_ingredient
@click.option("--amount", required=True,
              help="Signed change with its unit, e.g. -12.5g; negative (stock out), or "
                   "positive only with --reason count.")
@click.option("--reason", required=True,
              type=click.Choice(["damaged", "spilled", "expired", "recalled", "count", "other"]),
              help="Why the stock changes.")
@click.option("--note", type=params.text("note"), help="What happened (required with --reason other).")
@click.option("--by", required=True, type=params.identifier("by"), help="Who signs the adjustment (passphrase asked).")
@db_option
@json_option
@pass_app
def inventory_adjust(app, lot, ingredient, amount, reason, note, by, db_path, as_json):
    """Adjust the stock on hand of a component lot (a signed record; never below zero)."""
    from decimal import Decimal

    from ..store import stock
    from .passphrases import signer_passphrase

    with open_store(app, db_path) as store:
        a = stock.adjust(store, lot, amount=amount, reason=reason, note=note,
                         ingredient=ingredient, by=by,
                         passphrase=signer_passphrase(app, by, "stock adjustment"))
    if as_json:
        echo_json(_adjustment_json(a))
        return
    click.echo(f"Adjusted {a['ingredient']} lot {a['lot_number']} by "
               f"{_signed_amount(Decimal(a['quantity']), a['unit'])} "
               f"({reason}), signed by {a['signed_by']}")
    click.echo(f"On hand: {show_amount(a['on_hand_before'], a['unit'])} -> "
               f"{show_amount(a['on_hand_after'], a['unit'])}")


@inventory.command(name="dispose-expired")
@click.option("--by", required=True, type=params.identifier("by"), help="Who signs the write-off (passphrase asked).")
@click.option("--yes", "assume_yes", is_flag=True,
              help="Do not ask for confirmation (scripts).")
@db_option
@json_option
@pass_app
def inventory_dispose_expired(app, by, assume_yes, db_path, as_json):
    """Write off every expired component lot that still has stock, after confirmation."""
    from ..dates import format_date
    from ..store import stock
    from .passphrases import signer_passphrase

    with open_store(app, db_path) as store:
        listed = stock.expired_with_stock(store)
        if not listed:
            if as_json:
                echo_json([])
            else:
                click.echo("No expired lots with stock on hand")
            return
        if not as_json or not assume_yes:
            click.echo(table([[x["ingredient"], x["lot_number"], format_date(x["expires"]),
                               show_amount(x["on_hand"], x["unit"])] for x in listed],
                             ["INGREDIENT", "LOT", "EXPIRED", "ON HAND"]),
                       err=as_json)
        if not assume_yes and not click.confirm(
                f"Write off these {len(listed)} lot{'s' if len(listed) != 1 else ''}?",
                err=True):
            raise click.ClickException("nothing written off")
        out = stock.dispose_expired(store, by=by, expected=[x["id"] for x in listed],
                                    passphrase=signer_passphrase(app, by, "write-off"))
    if as_json:
        echo_json([_adjustment_json(a) for a in out])
        return
    click.echo(f"Wrote off {len(out)} expired lot{'s' if len(out) != 1 else ''}, signed by "
               f"{out[0]['signed_by']}")


def _count_json(c: dict) -> dict:
    from ..units import plain
    return {**c, "counted": plain(c["counted"]), "book": plain(c["book"]),
            "variance": plain(c["variance"])}


@inventory.command(name="count")
@click.argument("ingredient_id", metavar="INGREDIENT")
@click.option("--lot", required=True, type=params.supplier_lot("lot"),
              help="Supplier lot number counted.")
@click.option("--counted", required=True, help="What is on the shelf, e.g. 23.4g.")
@click.option("--note", type=params.text("note"), help="Remarks on the count.")
@click.option("--by", required=True, type=params.identifier("by"), help="Who counted.")
@db_option
@json_option
@pass_app
def inventory_count(app, ingredient_id, lot, counted, note, by, db_path, as_json):
    """Record a physical count of a lot: the book figure and the variance."""
    from ..store import stock

    app.registry.ingredient(ingredient_id)
    with open_store(app, db_path) as store:
        c = stock.record_count(store, lot, counted=counted, note=note, by=by,
                               ingredient=ingredient_id)
    if as_json:
        echo_json(_count_json(c))
        return
    click.echo(f"Count {c['id']}: {c['ingredient']} lot {c['lot_number']} counted "
               f"{c['counted_as']}, book "
               f"{show_amount(c['book'], c['unit'])}, variance "
               f"{_signed_amount(c['variance'], c['unit']) or '0'}")
    if c["variance"] != 0:
        click.echo(f"A pharmacist reconciles it: compounding inventory reconcile {c['id']} "
                   "--by PHARMACIST")


@inventory.command(name="reconcile")
@click.argument("count_id", type=WholeNumber(min=1))
@click.option("--by", required=True, type=params.identifier("by"), help="The pharmacist who signs (passphrase asked).")
@db_option
@json_option
@pass_app
def inventory_reconcile(app, count_id, by, db_path, as_json):
    """Adjust the book to a physical count (a pharmacist's signature)."""
    from ..store import stock
    from .passphrases import signer_passphrase

    with open_store(app, db_path) as store:
        c = stock.reconcile_count(store, count_id, by=by,
                                  passphrase=signer_passphrase(app, by, "count adjustment"))
    if as_json:
        echo_json({**_count_json(c), "adjustment": _adjustment_json(c["adjustment"])})
        return
    a = c["adjustment"]
    click.echo(f"Reconciled count {count_id}: {c['ingredient']} lot {c['lot_number']} "
               f"adjusted by {_signed_amount(c['variance'], c['unit'])}, signed by "
               f"{a['signed_by']}")
    click.echo(f"On hand: {show_amount(a['on_hand_after'], c['unit'])}")


def _hold_options(fn):
    for deco in reversed([
            click.argument("lot", type=params.supplier_lot("lot")), lot_ingredient,
            click.option("--reason", required=True, type=params.text("reason"),
                         help="Why (the hold, or its end)."),
            click.option("--by", required=True, type=params.identifier("by"),
                         help="The pharmacist who signs (passphrase asked)."),
            db_option, pass_app]):
        fn = deco(fn)
    return fn


def _hold_or_release(app, action, lot, ingredient, reason, by, db_path):
    from ..store import lot_holds
    from .passphrases import signer_passphrase

    act = lot_holds.hold_lot if action == "hold" else lot_holds.release_lot
    with open_store(app, db_path) as store:
        h = act(store, lot, ingredient=ingredient, reason=reason, by=by,
                passphrase=signer_passphrase(app, by, "lot hold" if action == "hold"
                                             else "hold released"))
        row = store.one("SELECT ingredient, lot_number FROM component_lots WHERE id = ?",
                        [h["component_lot_id"]])
    state = "is on hold" if action == "hold" else "is released from hold"
    click.echo(f"{row['ingredient']} lot {row['lot_number']} {state} ({reason}), "
               f"signed by {h['signed_by']}")


@inventory.command(name="hold")
@_hold_options
def inventory_hold(app, lot, ingredient, reason, by, db_path):
    """Put a component lot on hold: it cannot be chosen for a batch or weighed."""
    _hold_or_release(app, "hold", lot, ingredient, reason, by, db_path)


@inventory.command(name="release-hold")
@_hold_options
def inventory_release_hold(app, lot, ingredient, reason, by, db_path):
    """Release a component lot from hold (not while a recall of it is open)."""
    _hold_or_release(app, "release", lot, ingredient, reason, by, db_path)


@inventory.command(name="movements")
@click.argument("lot", type=params.supplier_lot("lot"))
@lot_ingredient
@db_option
@json_option
@pass_app
def inventory_movements(app, lot, ingredient, db_path, as_json):
    """Every receipt, weighing and adjustment of a lot, with the running balance."""
    from ..dates import format_date
    from ..store import stock
    from ..units import plain

    with open_store(app, db_path, read_only=True) as store:
        m = stock.movements(store, lot, ingredient)
    if as_json:
        echo_json({**m, "on_hand": plain(m["on_hand"]),
                   "movements": [{**x, "change": plain(x["change"]),
                                  "balance": plain(x["balance"])} for x in m["movements"]]})
        return
    unit = m["unit"]
    click.echo(f"{m['ingredient']} lot {m['lot_number']}: "
               f"{show_amount(m['on_hand'], unit)} on hand")
    click.echo(table([[format_date(x["at"][:10]) + " " + x["at"][11:16], x["kind"],
                       x["reason"] or x["batch_lot_id"] or "-",
                       _signed_amount(x["change"], unit), show_amount(x["balance"], unit),
                       x["by"]] for x in m["movements"]],
                     ["WHEN (UTC)", "MOVEMENT", "REASON/BATCH", "CHANGE", "BALANCE", "BY"]))


def _list_low(app, db_path, as_json):
    from .. import units as u
    from ..store import stock

    points = app.settings.reorder_points
    if not points:
        raise click.ClickException("no reorder points in the settings: add "
                                   "[reorder_points] with an amount per ingredient, e.g. "
                                   '"naltrexone-hcl" = "5 g"')
    with open_store(app, db_path, read_only=True) as store:
        low = stock.low_stock(store, points)
    if as_json:
        echo_json([{"ingredient": x["ingredient"], "usable": x["usable"].as_json(),
                    "reorder_point": x["reorder_point"].as_json(), "lots": x["lots"]}
                   for x in low])
        return
    if not low:
        click.echo(f"No ingredient at or below its reorder point ({len(points)} watched)")
        return
    click.echo(table([[x["ingredient"], show_amount(x["usable"].value, x["usable"].unit),
                       show_amount(x["reorder_point"].value, x["reorder_point"].unit),
                       str(x["lots"])] for x in low],
                     ["INGREDIENT", "USABLE", "REORDER POINT", "LOTS"]))
