"""Dispensing one fill of a recorded prescription: check the lot against the fill, print the
dispensing label with the fill's directions, and record the fill (issue 17).

The lot must be of the prescription's formula and strength (for a capsule kit: one of the
fill's strengths), and its own BUD must cover the fill's last dose day (the fill was sized
for a batch made on its first day; a lot made earlier, or with a component expiring
sooner, may not last). A fill whose dates have all passed is refused (correct the
prescription with a new start date). The label print, the dispense and the fill record
are one transaction: both are kept or neither (and the PDF gets its name only after it).

A fill already dispensed from the same lot is a reprint (issue 12 part 7: "a reprint is the
same Rx printed again"): the label of that dispense is printed again from its records (the
prescription version, patient, prescriber, directions, quantity and dispensing date of the
first label), recorded as a reprint and never counted again, and no fill is recorded. A
fill dispensed from another lot is refused, naming the lot to reprint from; a fill whose
days have all passed is not reprinted (conservative: the patient should have none of that
supply left; the first label's PDF stays on record).

Not pure: it orchestrates the store and the label printer, like
:mod:`compounding.labeling.printing`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from .. import units as u
from ..dates import format_date
from ..errors import InputError, RefusedError


def _fill_plan(p: dict, fill_no: int) -> dict:
    fills = p["plan"]["fills"]
    if not 1 <= fill_no <= len(fills):
        raise InputError(f"fill: Rx {p['rx_number']} has fill{'s 1 to' if len(fills) > 1 else ''}"
                         f" {len(fills)}; not {fill_no}", field="fill")
    return fills[fill_no - 1]


def _qty(d: dict) -> u.Quantity:
    return u.q(d["amount"], d["unit"])


def prepare(store, *, lot_id: str, rx_number: str, fill_no: int) -> dict:
    """Everything the label and the record need, checked: ``{"prescription", "fill",
    "supply", "batch", "quantity", "directions"}``. Raises a one-line error otherwise."""
    from ..store import prescriptions as records

    p = records.get(store, rx_number)
    fill = _fill_plan(p, fill_no)
    batch = store.get_batch(lot_id)
    lot = batch["lot_id"]
    if batch["formula_id"] != p["formula_id"]:
        raise RefusedError(f"lot {lot} is {batch['formula_id']}; Rx {rx_number} is for "
                           f"{p['formula_id']}")
    made = u.parse(batch["strength"], {u.MASS, u.CONCENTRATION}, field="strength")
    supplies = fill["supplies"]
    supply = next((s for s in supplies if _qty(s["strength"]) == made), None)
    if supply is None:
        wanted = ", ".join(u.fmt(u.readable(_qty(s["strength"]))) for s in supplies)
        raise RefusedError(f"lot {lot} is {u.fmt(u.readable(made))}; fill {fill_no} of Rx "
                           f"{rx_number} needs {wanted}")
    last = date.fromisoformat(fill["last"])
    bud = date.fromisoformat(batch["bud"])
    if bud < last:
        raise RefusedError(f"lot {lot}'s BUD {format_date(bud)} is before the last dose day of "
                           f"fill {fill_no} ({format_date(last)}); use a newer lot")
    today = store.today()
    if today > last:
        raise RefusedError(f"fill {fill_no} of Rx {rx_number} ran {format_date(fill['first'])} "
                           f"to {format_date(last)}, already past; record a corrected "
                           "prescription (rx correct) with a new start date")
    strength_text = u.fmt(u.readable(made))
    for f in p["fills"]:
        if f["fill"] == fill_no and f["strength"] == strength_text:
            raise RefusedError(f"fill {fill_no} of Rx {rx_number} ({strength_text}) was "
                               f"already dispensed on {format_date(f['dispensed_at'])} from lot "
                               f"{f['lot_id']}")
    return {"prescription": p, "fill": fill, "supply": supply, "batch": batch,
            "strength": strength_text, "quantity": u.fmt(_qty(supply["quantity"])),
            "directions": supply["directions"]}


def _local_day(stamp: str) -> date:
    """The pharmacy's calendar day (local time, as ``store.today()``) of a store UTC stamp."""
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone().date()


def prepare_reprint(store, *, lot_id: str, rx_number: str, fill_no: int) -> dict | None:
    """When fill ``fill_no`` of Rx ``rx_number`` (in the lot's strength) was already
    dispensed from ``lot_id``: everything the reprint of its label needs, from the records of
    that dispense: ``{"prescription"`` (the version the fill was recorded against),
    ``"fill"`` (its plan), ``"batch"``, ``"strength"``, ``"quantity"``, ``"directions"``,
    ``"reprint_of"`` (the fill record), ``"label"`` (the first label print) and
    ``"dispensed_on"`` (the first label's day)``}``. None when that fill was not dispensed.

    Raises :class:`RefusedError` for a fill dispensed from another lot (naming it) or whose
    days have all passed; :class:`InputError` / :class:`NotFoundError` for an unknown Rx,
    fill or lot (issue 12 part 7)."""
    from ..store import prescriptions as records

    p = records.get(store, rx_number)
    _fill_plan(p, fill_no)
    batch = store.get_batch(lot_id)
    lot = batch["lot_id"]
    made = u.parse(batch["strength"], {u.MASS, u.CONCENTRATION}, field="strength")
    strength_text = u.fmt(u.readable(made))
    done = [f for f in p["fills"] if f["fill"] == fill_no and f["strength"] == strength_text]
    if not done:
        return None
    f = done[0]
    if f["lot_id"] != lot:
        raise RefusedError(f"fill {fill_no} of Rx {rx_number} ({strength_text}) was already "
                           f"dispensed on {format_date(f['dispensed_at'])} from lot "
                           f"{f['lot_id']}; to print its label again, give lot {f['lot_id']}")
    if store.today() > date.fromisoformat(f["last_day"]):
        raise RefusedError(f"fill {fill_no} of Rx {rx_number} ran {format_date(f['first_day'])} "
                           f"to {format_date(f['last_day'])}, already past; its label is not "
                           "printed again (nothing was printed or recorded)")
    version = records.get(store, rx_number, version=f["prescription_version"])
    label = store.one("SELECT * FROM label_prints WHERE id = ?", [f["label_print_id"]])
    return {"prescription": version, "fill": _fill_plan(version, fill_no), "batch": batch,
            "strength": strength_text, "quantity": f["quantity"],
            "directions": f["directions"], "reprint_of": f, "label": label,
            "dispensed_on": _local_day(label["printed_at"])}


def dispense_fill(store, templates, settings, *, lot_id: str, rx_number: str, fill_no: int,
                  template_id: str, by: str, output: Path | None = None,
                  printer: str | None = None, fmt: str | None = None, force: bool = False):
    """Print the dispensing label of fill ``fill_no`` from ``lot_id`` and record the fill:
    to the PDF ``output``, or to ``printer`` (a printer of ``settings.printers``, issue 14's
    :func:`~compounding.printing.jobs.print_job`; one of the two). Returns ``(result, fill
    record, prepared)``.

    The label print, the dispense (counted against what the lot made) and the fill record
    are one transaction; the PDF gets its name only after it (issue 12: a kill at any step
    leaves both or neither, see :mod:`compounding.store.pending`). The fill is checked again
    under the write lock, so two processes dispensing one fill cannot both record it. To a
    printer: the print record, the send and the fill record are one write transaction (a
    printer that is not ready records nothing).

    A fill already dispensed from this lot prints its label again (:func:`prepare_reprint`):
    the result's ``reprint`` is True, the record is the first dispense's fill record, and
    nothing is counted or recorded as a fill."""
    from ..labeling.content import Dispensing, dispensed_quantity
    from ..labeling.printing import print_labels
    from ..store import prescriptions as records

    if (output is None) == (printer is None):
        raise InputError("print: give either a printer or an output file", field="printer")
    by = store.acting(by)  # authenticate before the write lock is taken
    again = prepare_reprint(store, lot_id=lot_id, rx_number=rx_number, fill_no=fill_no)
    if again is not None:
        first = again["label"]
        disp = Dispensing(patient=first["patient"], directions=first["directions"],
                          prescriber=first["prescriber"], rx_number=first["rx_number"],
                          dispensed_on=again["dispensed_on"],
                          quantity=dispensed_quantity(again["batch"], again["quantity"]),
                          fill=fill_no, reprint=True)
        if printer is not None:  # no fill to record: the print's own steps (announced,
            from ..printing.jobs import print_job  # sent, recorded) keep a kill on record
            result = print_job(store, templates, settings, lot_id, template_id=template_id,
                               by=by, printer=printer, fmt=fmt, dispensing=disp)
        else:
            result = print_labels(store, templates, settings, lot_id,
                                  template_id=template_id, by=by, output=output,
                                  dispensing=disp, force=force)
        return result, again["reprint_of"], again
    ready = prepare(store, lot_id=lot_id, rx_number=rx_number, fill_no=fill_no)
    p = ready["prescription"]
    disp = Dispensing(patient=p["patient"], directions=ready["directions"],
                      prescriber=p["prescriber"], rx_number=p["rx_number"],
                      dispensed_on=store.today(),
                      quantity=dispensed_quantity(ready["batch"], ready["quantity"]),
                      fill=fill_no)
    done = {}

    def record_fill(label_print: dict) -> None:  # inside the print's write transaction
        now = prepare(store, lot_id=lot_id, rx_number=rx_number, fill_no=fill_no)
        if now["prescription"]["id"] != p["id"]:
            raise RefusedError(f"Rx {rx_number} was corrected while the label was made; "
                               "dispense again from the new version")
        done["rec"] = records.record_fill(
            store, prescription=now["prescription"], fill=fill_no, strength=now["strength"],
            lot_id=now["batch"]["lot_id"], quantity=now["quantity"],
            first_day=now["fill"]["first"], last_day=now["fill"]["last"],
            directions=now["directions"], label_print_id=label_print["id"], by=by)

    if printer is not None:
        from ..printing.jobs import print_job
        with store.write():
            result = print_job(store, templates, settings, lot_id, template_id=template_id,
                               by=by, printer=printer, fmt=fmt, dispensing=disp)
            record_fill(result.record)
        return result, done["rec"], ready
    result = print_labels(store, templates, settings, lot_id, template_id=template_id,
                          by=by, output=output, dispensing=disp, force=force,
                          also_record=record_fill)
    return result, done["rec"], ready
