"""GS1 identifiers: GTIN check digits (GS1 General Specifications, 7.9.1 mod-10).

Pure and below every other module: the ingredient catalogue (formulas), the settings and
the DataMatrix encoder all validate GTINs with it.
"""

from __future__ import annotations

import re
from functools import lru_cache


def gtin_check_digit(first13: str) -> int:
    """GS1 mod-10 check digit for the first 13 digits of a GTIN-14."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(first13))
    return (10 - total % 10) % 10


def validate_gtin(value: str) -> str:
    """Accept GTIN-8/12/13/14 digits, return the 14-digit form; refuse a bad check digit."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{8}|[0-9]{12,14}", value):
        raise ValueError(f"GTIN {value!r} must be 8, 12, 13 or 14 digits")
    return _checked(value)


@lru_cache(maxsize=256)
def _checked(value: str) -> str:
    """The check-digit part of :func:`validate_gtin`, kept per GTIN (a pharmacy has a handful;
    every label with a DataMatrix checks its GTIN twice: encoding and reading back)."""
    g = value.zfill(14)
    # Issue 12: a GTIN identifies a trade item; the all-zero number passes the mod-10 check
    # (its check digit is 0) but identifies nothing. ``\d`` would also take non-ASCII digits.
    if set(g) == {"0"}:
        raise ValueError(f"GTIN {value!r} is all zeros, which identifies no trade item")
    if gtin_check_digit(g[:13]) != int(g[13]):
        raise ValueError(f"GTIN {value!r} has a wrong check digit (expected "
                         f"{gtin_check_digit(g[:13])})")
    return g
