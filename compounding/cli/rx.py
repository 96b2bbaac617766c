"""`compounding rx ...`: record prescriptions with titration schedules, show and list them,
and print the patient's dated dose chart (issue 17; rules in docs/titration.md).

Dispensing a fill is `compounding labels dispense LOT --rx RX --fill N`.
"""

from __future__ import annotations


import click

from . import echo_json, json_option, pass_app, table
from .db import db_option, open_store
from .types import WholeNumber


@click.group()
def rx():
    """Prescriptions with LDN titration schedules: record, correct, show, list, dose chart."""


def _schedule_options(fn):
    """The options shared by `rx new` and `rx correct`."""
    opts = [
        click.option("--patient", required=True, help="Patient's name (at most 100 "
                     "characters, printed on the label and chart)."),
        click.option("--prescriber", required=True, help="Prescriber's name."),
        click.option("--formula", "formula_id", required=True,
                     help="Formula id (e.g. ldn-oral-liquid, ldn-capsules)."),
        click.option("--strength", help="Concentration for liquid, drops or cream (e.g. "
                     "'10 mg/mL'); default the formula's. Capsules: leave out (one capsule of "
                     "each step's dose)."),
        click.option("--storage", type=click.Choice(["refrigerated", "room"]),
                     help="Storage of the dispensed batches (default: the formula's first)."),
        click.option("--dose-time", type=click.Choice(["bedtime", "morning", "evening"]),
                     default="bedtime", show_default=True, help="When the dose is taken."),
        click.option("--start-date", required=True, metavar="YYYY-MM-DD",
                     help="The first dose day."),
        click.option("--steps", help="The schedule as steps: '0.5 mg x 7 d, 1 mg x 7 d, "
                     "1.5 mg x 14 d'."),
        click.option("--start", "start_dose", metavar="DOSE",
                     help="Rule form: first dose (e.g. 0.5mg)."),
        click.option("--step", help="Rule form: increase each time (e.g. 0.5mg)."),
        click.option("--every", help="Rule form: days between increases (e.g. 7d)."),
        click.option("--target", help="Rule form: the dose to reach (e.g. 4.5mg)."),
        click.option("--hold", help="Rule form: days at the target (e.g. 30d)."),
        click.option("--confirm-dose", is_flag=True, help="Confirm a dose above 4.5 mg after "
                     "checking with the prescriber (12 mg or more is always refused)."),
        click.option("--by", "by", required=True, help="Who records it (a pharmacist or "
                     "technician user)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _prescribe(app, rx_number, kw):
    from ..dates import parse_date
    from ..rx.prescription import prescribe

    if not kw["start_date"].isascii():
        from ..errors import InputError
        raise InputError(f"start-date: {kw['start_date']!r} is not a date; use YYYY-MM-DD "
                         "with ASCII digits", field="start-date")
    reg = app.registry
    formula = reg.get(kw["formula_id"])
    rule_keys = ("start_dose", "step", "every", "target", "hold")
    rule = None
    if any(kw[k] is not None for k in rule_keys):
        rule = {"start": kw["start_dose"], "step": kw["step"], "every": kw["every"],
                "target": kw["target"], "hold": kw["hold"]}
    rx_ = prescribe(rx_number=rx_number, patient=kw["patient"], prescriber=kw["prescriber"],
                    formula=formula, strength=kw["strength"], storage=kw["storage"],
                    policy=app.settings.bud_policy, dose_time=kw["dose_time"],
                    start=parse_date(kw["start_date"], "start-date"), steps=kw["steps"],
                    rule=rule, confirm_dose=kw["confirm_dose"], rx_settings=app.settings.rx)
    return rx_, reg.hashes[formula.id]


@rx.command(name="new")
@click.argument("rx_number")
@_schedule_options
@db_option
@json_option
@pass_app
def rx_new(app, rx_number, db_path, as_json, **kw):
    """Record prescription RX_NUMBER with its titration schedule (steps or rule).

    Every dose must be measurable with the preparation (mL on the oral syringe's graduation,
    whole drops, one capsule, whole clicks); the fills are sized under the BUD. Prints the
    schedule, doses, half doses and fills.
    """
    from ..store import prescriptions as records

    rx_, sha = _prescribe(app, rx_number, kw)
    with open_store(app, db_path) as store:
        rec = records.record(store, rx_, formula_sha256=sha, by=kw["by"])
    _show(rec, as_json, recorded=True)


@rx.command(name="correct")
@click.argument("rx_number")
@_schedule_options
@click.option("--reason", required=True, help="Why the prescription is corrected.")
@db_option
@json_option
@pass_app
def rx_correct(app, rx_number, reason, db_path, as_json, **kw):
    """Record a corrected version of RX_NUMBER (all details again, and a reason); the
    earlier version stays on record, linked."""
    from ..store import prescriptions as records

    rx_, sha = _prescribe(app, rx_number, kw)
    with open_store(app, db_path) as store:
        rec = records.record(store, rx_, formula_sha256=sha, by=kw["by"], reason=reason,
                             correct=True)
    _show(rec, as_json, recorded=True)


@rx.command(name="show")
@click.argument("rx_number")
@click.option("--version", type=WholeNumber(min=1), help="An earlier version (default: "
              "the latest).")
@db_option
@json_option
@pass_app
def rx_show(app, rx_number, version, db_path, as_json):
    """Show a prescription: schedule, doses as measured, half doses, fills and versions."""
    from ..store import prescriptions as records

    with open_store(app, db_path, read_only=True) as store:
        rec = records.get(store, rx_number, version)
    _show(rec, as_json)


@rx.command(name="list")
@click.option("--patient", help="Only this patient's prescriptions (exact name).")
@db_option
@json_option
@pass_app
def rx_list(app, patient, db_path, as_json):
    """List prescriptions (latest versions), newest first."""
    from ..dates import format_date
    from ..store import prescriptions as records

    with open_store(app, db_path, read_only=True) as store:
        rows = records.list_latest(store, patient)
    if as_json:
        echo_json([_json_row(r) for r in rows])
        return
    if not rows:
        click.echo("No prescriptions on record.")
        return
    click.echo(table([[r["rx_number"], str(r["version"]), r["patient"], r["formula_id"],
                       r["strength"] or "kit", format_date(r["start_date"]),
                       format_date(r["end_date"]), str(r["fills_dispensed"])] for r in rows],
                     ["RX", "VERSION", "PATIENT", "FORMULA", "STRENGTH", "FROM", "TO",
                      "FILLS DISPENSED"]))


@rx.command(name="chart")
@click.argument("rx_number")
@click.option("--fill", "fill_no", type=WholeNumber(min=1),
              help="Only this fill's days (default: the whole course).")
@click.option("--page-size", type=click.Choice(["letter", "a4"]), default="letter",
              show_default=True, help="Paper size.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="PDF to write (default: labels/rx-<RX>-chart[-fill-N].pdf).")
@click.option("--force", is_flag=True, help="Replace an existing output file (never the "
              "database, a link or a device).")
@db_option
@json_option
@pass_app
def rx_chart(app, rx_number, fill_no, page_size, output, force, db_path, as_json):
    """Write the patient's dated dose chart (PDF): one row per day, the amount to measure and
    a box to tick, the back-off half doses and the guide's notes."""
    import hashlib
    from pathlib import Path

    from ..outputs import check_output, write_output
    from ..rx.chart import chart_file_name, chart_for_record, render_chart
    from ..store import prescriptions as records

    with open_store(app, db_path, read_only=True) as store:
        rec = records.get(store, rx_number)
        protect = (store.path,)
    if output:
        check_output(output, protect=protect, force=force)
    ph = app.settings.pharmacy
    content = chart_for_record(rec, pharmacy_name=ph.name, pharmacy_phone=ph.phone,
                               fill_no=fill_no)
    pdf = render_chart(content, page_size)
    path = Path(output) if output else app.cwd / "labels" / chart_file_name(rec["rx_number"],
                                                                          fill_no)
    write_output(path, pdf, protect=protect, force=force)
    digest = hashlib.sha256(pdf).hexdigest()
    if as_json:
        echo_json({"output": str(path), "rx_number": rec["rx_number"], "version": rec["version"],
                   "fill": fill_no, "page_size": page_size, "days": len(content.rows),
                   "pdf_sha256": digest})
        return
    click.echo(f"Wrote {path} (dose chart, {len(content.rows)} days, {page_size}, Rx "
               f"{rec['rx_number']} version {rec['version']})")
    click.echo(f"PDF SHA-256: {digest}")


# ---------------------------------------------------------------- output

def _json_row(r: dict) -> dict:
    return {k: v for k, v in r.items()
            if k not in ("formula_snapshot", "rx_settings", "plan")}


def _show(rec: dict, as_json: bool, recorded: bool = False) -> None:
    from ..dates import format_date
    from .. import units as u

    if as_json:
        out = _json_row(rec)
        out["plan"] = rec["plan"]
        echo_json(out)
        return
    if recorded:
        click.echo(f"Recorded Rx {rec['rx_number']} version {rec['version']}.")
    click.echo(f"Rx {rec['rx_number']} version {rec['version']}"
               + ("" if rec["latest"] else " (superseded)")
               + f": {rec['patient']}, prescribed by {rec['prescriber']}")
    click.echo(f"Preparation: {rec['formula_id']} version {rec['formula_version']}"
               + (f", {rec['strength']}" if rec["strength"] else ", capsule kit")
               + f", stored {rec['storage']}; dose {_when(rec['dose_time'])}")
    click.echo(f"Schedule: {rec['schedule']}")
    click.echo(f"From {format_date(rec['start_date'])} to {format_date(rec['end_date'])}"
               + (" (dose above 4.5 mg confirmed)" if rec["dose_confirmed"] else ""))
    click.echo("Doses (half dose: the guide's back-off, 50% for 7 days):")
    rows = []
    for d in rec["plan"]["doses"]:
        m = d["measure"]
        dose = u.fmt(u.readable_mass(u.q(d["dose"]["amount"], d["dose"]["unit"])))
        amount = u.fmt(u.q(m["amount"]["amount"], m["amount"]["unit"]))
        rows.append([dose, amount + (f" ({m['note']})" if m["note"] else ""), d["half_text"]])
    click.echo(_indent(table(rows, ["DOSE", "MEASURE", "HALF DOSE"])))
    click.echo("Fills (each within the BUD of a batch made on its first day):")
    done = {(f["fill"], f["strength"]): f for f in rec["fills"]}
    rows = []
    for f in rec["plan"]["fills"]:
        for s in f["supplies"]:
            strength = u.fmt(u.readable(u.q(s["strength"]["amount"], s["strength"]["unit"])))
            d = done.get((f["fill"], strength))
            rows.append([str(f["fill"]), format_date(f["first"]), format_date(f["last"]),
                         str(f["days"]), strength,
                         u.fmt(u.q(s["quantity"]["amount"], s["quantity"]["unit"])),
                         f"lot {d['lot_id']} {format_date(d['dispensed_at'])}" if d else "-"])
    click.echo(_indent(table(rows, ["FILL", "FROM", "TO", "DAYS", "STRENGTH", "DISPENSE",
                                    "DISPENSED"])))
    bases = dict.fromkeys(f["bud_basis"] for f in rec["plan"]["fills"])
    for b in bases:
        click.echo(f"  BUD basis: {b}")
    click.echo("Directions:")
    for f in rec["plan"]["fills"]:
        for s in f["supplies"]:
            click.echo(f"  Fill {f['fill']}: {s['directions']}")
    if len(rec["versions"]) > 1:
        click.echo("Versions:")
        for v in rec["versions"]:
            link = (f" corrects version {v['corrects_version']}: {v['reason']}"
                    if v["corrects_version"] else "")
            click.echo(f"  {v['version']}  {v['created_at']}  {v['created_by']}{link}")


def _when(dose_time: str) -> str:
    from ..rx.fills import DOSE_TIMES
    return DOSE_TIMES[dose_time]


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
