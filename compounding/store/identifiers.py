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
