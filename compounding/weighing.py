"""One weighing at the bench or the command line: the scan checked against the step, the
balance read, the weighing and where it came from recorded (issue 16).

``compounding batch weigh`` and the bench's weighing form (its "Read balance" button and its
scan field) both call :func:`weigh`, so a scan of the wrong ingredient, an expired or never
received lot, another batch's label, an unstable or overloaded balance are refused with the
same one-line message at both doors, and always **before** anything is recorded:

1. the scan (``scan_text``) is read (:func:`compounding.devices.scanning.read_scan`) and
   matched to the step (:func:`compounding.devices.scanning.match_scan`): the ingredient
   the step needs, the lot on record, not expired, a barcode expiry equal to the one on
   record; our own batch label only for an aliquot taken from a dilution made in the batch;
2. with a balance, what would make the weighing unrecordable (a closed batch, a step not in
   the plan, a step weighed already without a re-weigh reason) is refused before the balance
   is asked (:func:`compounding.store.device_records.check_before_reading`), then one stable
   reading is taken (:func:`compounding.devices.balances.read_balance`);
3. the weighing and its source row are written in one transaction
   (:func:`compounding.store.device_records.record_weighing`), where every weighing rule
   (tolerance, lot, expiry, stock) is checked again under the write lock.

Not pure: it orchestrates the store and a device, like :mod:`compounding.rx.dispensing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import units as u
from .errors import InputError


@dataclass(frozen=True)
class Weighed:
    """What :func:`weigh` did: the weighing (the CLI's ``--json`` shape, with ``source``),
    the balance reading (``devices.balances.Reading`` or None) and the scan match
    (``devices.scanning.ScanMatch`` or None)."""

    weighing: dict
    reading: object | None = None
    match: object | None = None


def match_step_scan(store, catalogue, settings, lot: str, scan_text: str, *,
                    step: int | None, ingredient: str | None = None,
                    field: str = "--scan"):
    """The scan ``scan_text`` checked against step ``step`` of batch ``lot`` (or, with no
    step, against ``ingredient``, or neither: the scan decides). Reads the store, writes
    nothing. Returns a ``ScanMatch``; raises the one-line refusal of
    :func:`~compounding.devices.scanning.match_scan`, :class:`InputError` for a step not in
    the plan or a scan no scanner types, :class:`~compounding.errors.NotFoundError` for an
    unknown batch or a GTIN not in the catalogue."""
    from .devices.scanning import match_scan, read_scan
    from .store.lotid import validate_lot_id

    lot = validate_lot_id(lot, "LOT")
    today = store.today()
    scan = read_scan(scan_text, today=today, field_name=field)
    steps = {s["step"]: s for s in store.batch_steps(lot)}
    if not steps:
        store.get_batch(lot)  # an unknown batch: its one-line NotFoundError
    aliquot, needs = False, ingredient
    if step is not None:
        if step not in steps:
            raise InputError(f"--step: the plan has steps 1 to {len(steps)}, not {step}",
                             field="step")
        needs = steps[step]["ingredient"]
        aliquot = needs is None
    lots = store.lots(lot_number=scan.lot) if scan.lot else []
    return match_scan(scan, batch=lot, step=step, needs=needs, aliquot=aliquot, lots=lots,
                      catalogue=catalogue, own_gtins=settings.gtins.values(), today=today)


def weigh(store, settings, catalogue, lot: str, *, by: str, step: int | None = None,
          ingredient: str | None = None, component_lot: str | None = None,
          scan_text: str | None = None, amount: u.Quantity | None = None,
          balance: str | None = None, deviation_reason: str | None = None,
          reweigh_reason: str | None = None,
          read_balance: Callable | None = None) -> Weighed:
    """Record one weighing of batch ``lot``: ``amount`` typed (a mass or volume
    :class:`~compounding.units.Quantity`) or read from the balance named ``balance`` in
    ``settings.balances``, exactly one of them. ``scan_text``: what the scanner typed at the
    container (or the batch's own label for an aliquot); ``component_lot``, when also given,
    must be the scanned lot. ``read_balance``: the reader (default
    :func:`compounding.devices.balances.read_balance`; tests pass a stand-in).

    Raises, before anything is recorded: :class:`InputError` (amount and balance both or
    neither, a typed lot that differs from the scanned one, a step not in the plan),
    :class:`~compounding.errors.RefusedError` (the scan's refusals, a closed batch, a step
    weighed already), :class:`~compounding.devices.balances.BalanceError` (timeout,
    unstable, overload, underload, unit, below the minimum weighable quantity, identity,
    port), and the weighing's own refusals.
    """
    from .store import device_records

    if (amount is None) == (balance is None):
        raise InputError("give --amount (typed) or --from-balance NAME, one of them",
                         field="amount")
    match = None
    if scan_text is not None:
        match = match_step_scan(store, catalogue, settings, lot, scan_text, step=step,
                                ingredient=ingredient)
        typed = (component_lot or "").strip()
        if typed and match.kind == "component" and typed != match.lot:
            raise InputError(f"--component-lot {typed} and the scanned lot {match.lot} differ",
                             field="component_lot")
        if step is None and ingredient is None and match.kind == "component":
            ingredient = match.ingredient
    reading = None
    if balance is not None:
        if read_balance is None:
            from .devices.balances import read_balance
        device_records.check_before_reading(store, lot, step=step,
                                            reweigh_reason=reweigh_reason)
        reading = read_balance(settings, balance)
    w = device_records.record_weighing(
        store, lot, reading=reading, match=match, amount=amount, by=by, step=step,
        ingredient=ingredient, component_lot=component_lot,
        deviation_reason=deviation_reason, reweigh_reason=reweigh_reason)
    return Weighed(w, reading, match)


def balance_names(settings) -> list[str]:
    """The balances of the settings (``[balances.NAME]``), sorted by name."""
    return sorted(getattr(settings, "balances", {}) or {})
