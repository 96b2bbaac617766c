"""Identifier look-ups the one normaliser needs (issue 12, class 8): lot numbers that differ
from a recorded one only by letter case.

Functions over the :class:`~compounding.store.Store` public API (``store.rows``).
"""

from __future__ import annotations

from ..text import fold


def case_variants(store, ingredient: str, lot_number: str) -> list[str]:
    """Recorded lot numbers of ``ingredient`` equal to ``lot_number`` except for case.

    An exact match is not a variant (more of a known lot); ``[]`` when there is none.
    SQLite's ``lower()`` folds ASCII only, so the comparison is done here with the Unicode
    case fold (:func:`compounding.text.fold`).
    """
    key = fold(lot_number)
    rows = store.rows("SELECT lot_number FROM component_lots WHERE ingredient = ? "
                      "ORDER BY id", [ingredient])
    return [r["lot_number"] for r in rows
            if r["lot_number"] != lot_number and fold(r["lot_number"]) == key]


def rx_case_variants(store, rx_number: str) -> list[str]:
    """Recorded Rx numbers (on dispensing labels or prescriptions) equal to ``rx_number``
    except for case; ``[]`` when there is none or ``rx_number`` itself is recorded. An Rx number is one
    prescription of one patient, so ``rx-1001`` beside a recorded ``RX-1001`` is either a
    typing slip or a new Rx that reads the same on a label (issue 12, class 8)."""
    key = fold(rx_number)
    rows = store.rows("SELECT DISTINCT rx_number FROM label_prints WHERE rx_number IS NOT NULL "
                      "UNION SELECT DISTINCT rx_number FROM prescriptions ORDER BY 1")
    if any(r["rx_number"] == rx_number for r in rows):
        return []  # a recorded Rx as typed (a reprint, or a variant confirmed before)
    return [r["rx_number"] for r in rows if fold(r["rx_number"]) == key]
