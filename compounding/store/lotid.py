"""Internal lot IDs for batches: numeric, short, sortable by date, with a check digit.

Format ``YYMMDDSSSC`` (10 digits): the compounding date, a 3-digit sequence for that day
(001-999) and a GS1 mod-10 check digit over the first nine digits, so a mistyped lot ID
(one wrong digit, most swaps of neighbours) is refused instead of recording a weighing
against another batch.

Why numeric and even-length: Code 128 code set C packs two digits into one 11-module symbol,
so a 10-digit ID is start C + 5 data + check + stop = 11 + 55 + 11 + 13 = 90 modules; with
two 10-module quiet zones 110 modules, i.e. **27.5 mm at 0.25 mm per module**, well inside
a 2-inch (50.8 mm) label. The same 10 characters in code set B (mixed letters and digits)
need 11 + 110 + 11 + 13 + 20 = 165 modules = 41.25 mm. :func:`code128_modules` computes it.

Uniqueness across processes and "never reused" are the store's job: every allocation is a
committed row in the append-only ``lot_ids`` table (see ``store.Store.allocate_lot_id``);
the next sequence is one more than the highest ever allocated that day, so an ID whose batch
failed to save stays used.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from ..errors import InputError

#: Batches one pharmacy may start on one calendar day (3-digit sequence).
MAX_PER_DAY = 999
#: ASCII digits only: ``\\d`` would also take Arabic-Indic or full-width digits.
LOT_ID_RE = re.compile(r"^[0-9]{10}$")

#: Code 128 geometry (ISO/IEC 15417): every symbol 11 modules, stop 13, quiet zone >= 10.
MODULE_MM = Decimal("0.25")
QUIET_ZONE_MODULES = 10
LABEL_WIDTH_MM = Decimal("50.8")  # 2 inches


def check_digit(digits: str) -> int:
    """GS1 mod-10 check digit: weights 3, 1, 3... from the rightmost digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def make_lot_id(day: date, seq: int) -> str:
    if not 1 <= seq <= MAX_PER_DAY:
        raise ValueError(f"sequence {seq} outside 1..{MAX_PER_DAY}")
    body = f"{day:%y%m%d}{seq:03d}"
    return body + str(check_digit(body))


def validate_lot_id(text: str, field: str = "lot") -> str:
    """Return the lot ID if it is well formed (10 digits, check digit right), else InputError."""
    s = (text or "").strip()
    if not LOT_ID_RE.fullmatch(s):
        raise InputError(f"{field}: {text!r} is not a batch lot ID (10 digits, e.g. 2605230011)")
    if check_digit(s[:9]) != int(s[9]):
        raise InputError(f"{field}: {s!r} has a wrong check digit (mistyped lot ID?)")
    return s


def code128_modules(data: str) -> int:
    """Modules of a Code 128 symbol for ``data`` with quiet zones, using code set C for an
    all-digit even-length string and code set B otherwise (no set switching)."""
    if data.isdigit() and len(data) % 2 == 0:
        symbols = len(data) // 2
    else:
        symbols = len(data)
    return 11 + 11 * symbols + 11 + 13 + 2 * QUIET_ZONE_MODULES


def code128_width_mm(data: str, module_mm: Decimal = MODULE_MM) -> Decimal:
    return code128_modules(data) * module_mm
