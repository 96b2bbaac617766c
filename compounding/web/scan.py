"""What the bench's scan field received, turned into a batch lot ID.

The scan is read by :func:`compounding.devices.scanning.read_scan` (issue 16: symbology
identifiers, GS1 via biip, refusal of control, zero-width, right-to-left and non-ASCII
characters). The batch label carries the lot ID as a Code 128 and, with a GTIN in the
settings, inside a GS1 DataMatrix ``(01) GTIN (17) BUD (10) LOT``; either opens the batch.
The lot must then be a batch lot ID with a right check digit
(:func:`compounding.store.lotid.validate_lot_id`), so a mistyped digit opens nothing.
"""

from __future__ import annotations

from datetime import date

from ..errors import InputError
from ..store import lotid


def lot_from_scan(text: str, today: date, own_gtins=None) -> str:
    """The batch lot ID in a scan or typed text; :class:`InputError` naming the field.

    ``own_gtins``: the GTINs on this pharmacy's batch labels (``Settings.gtins`` values);
    when given, a GS1 barcode of any other GTIN (a supplier's container, whose lot (10)
    may look like one of our lot IDs) is refused instead of opening a batch."""
    from ..devices.scanning import read_scan
    scan = read_scan(text if isinstance(text, str) else "", today=today, field_name="scan")
    if scan.warnings:
        raise InputError("scan: " + "; ".join(scan.warnings))
    if own_gtins is not None and scan.kind == "gs1" and scan.gtin not in set(own_gtins):
        raise InputError(f"scan: GTIN {scan.gtin} is not on this pharmacy's batch labels (a "
                         "supplier's container? scan it at its weighing); scan the batch "
                         "label or type its lot ID")
    if not scan.lot:
        raise InputError("scan: the barcode carries no lot (a product code?); scan the batch "
                         "label or type its 10-digit lot ID")
    if not scan.lot.isascii():  # read_scan refuses these already; kept as a guard
        raise InputError(f"scan: {scan.lot!r} is not a batch lot ID")
    return lotid.validate_lot_id(scan.lot, "scan")
