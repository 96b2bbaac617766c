"""The dispensing (patient) label's prescription facts, checked once for the CLI and the bench.

:func:`dispensing_for` turns what a person typed (``labels dispense`` options or the bench's
dispensing form) into a :class:`~compounding.labeling.content.Dispensing`: every field must
be non-empty, and the quantity must be of the batch's kind and not more than was made
(:func:`~compounding.labeling.content.dispensed_quantity`).
"""

from __future__ import annotations

from datetime import date

from ..errors import InputError
from .content import Dispensing, dispensed_quantity


def check_given(*, patient: str, directions: str, prescriber: str, rx_number: str) -> None:
    """Every typed prescription field is there: :class:`InputError` naming the first empty
    one (patient, directions, prescriber, rx)."""
    for name, value in (("patient", patient), ("directions", directions),
                        ("prescriber", prescriber), ("rx", rx_number)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{name}: must not be empty", field=name)


def dispensing_for(batch: dict, *, patient: str, directions: str, prescriber: str,
                   rx_number: str, quantity: str, dispensed_on: date) -> Dispensing:
    """Raise :class:`InputError` naming the field (patient, directions, prescriber, rx,
    quantity) when one is empty or wrong."""
    check_given(patient=patient, directions=directions, prescriber=prescriber,
                rx_number=rx_number)
    if not isinstance(quantity, str) or not quantity.strip():
        raise InputError("quantity: must not be empty", field="quantity")
    # the Rx number follows the prescriptions' rule (the #15 attacker: an Rx number of
    # '<script>alert(1)</script>' was accepted here, though `rx new` refuses it)
    from ..rx.prescription import check_rx_number
    rx_number = check_rx_number(rx_number)
    return Dispensing(patient=patient.strip(), directions=directions.strip(),
                      prescriber=prescriber.strip(), rx_number=rx_number.strip(),
                      dispensed_on=dispensed_on, quantity=dispensed_quantity(batch, quantity))
