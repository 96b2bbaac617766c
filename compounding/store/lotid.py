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

Sites (issue 20). A pharmacy group shares one store, so a lot ID must be unique across the
group and say where the batch was made. The default site ``MAIN`` (a database made before
sites; settings naming no site, see :mod:`compounding.sites`) keeps the form above, so every
lot ID already printed stays valid. Any other site's lot IDs are ``SITEYYMMDDSSSCC``: the
site code (2-4 of A-Z, 0-9, a letter first), the same date and day sequence (per site), and
**two** check digits by ISO/IEC 7064 MOD 97-10 over the whole ID (letters counted A=10 ...
Z=35, the scheme of IBAN, ISO 13616, and the LEI, ISO 17442). Why two: one decimal check
digit cannot catch every single-character error among 36 symbols (A and K would weigh alike
in any mod-10 sum); MOD 97-10 catches every single substitution and every swap of
neighbours, in the site code too. The digit part is 11 digits, so a site ID with its site
code dropped is never a well-formed ``MAIN`` ID (10 digits). ``NYC26052300106`` is 14
characters; in Code 128 (the site code in set B, then set C for the digits, the odd last
digit in B) it is 156 modules, 44 mm with quiet zones at 0.25 mm a module; a 4-character
site 46.75 mm: still inside 2 inches.

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
from ..sites import DEFAULT_SITE, SITE_RE, validate_site

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


#: A site's lot ID: site code, 9 digits (date, sequence), 2 check digits (ASCII only).
SITE_LOT_ID_RE = re.compile(r"^(?P<site>[A-Z][A-Z0-9]{1,3})(?P<digits>[0-9]{11})$")


def mod97_check(body: str) -> str:
    """The two check digits ISO/IEC 7064 MOD 97-10 appends to ``body`` (digits and upper-case
    A-Z, letters valued A=10 ... Z=35): ``98 - (body·100 mod 97)``, zero-padded."""
    return f"{98 - int(_mod97_digits(body) + '00') % 97:02d}"


def mod97_valid(text: str) -> bool:
    """True when ``text`` (body and its two check digits) passes ISO/IEC 7064 MOD 97-10."""
    return int(_mod97_digits(text)) % 97 == 1


def _mod97_digits(text: str) -> str:
    return "".join(ch if ch.isdigit() else str(ord(ch) - ord("A") + 10) for ch in text)


def make_lot_id(day: date, seq: int, site: str = DEFAULT_SITE) -> str:
    """The lot ID of the ``seq``-th batch of ``day`` at ``site``: ``YYMMDDSSSC`` for the
    default site, ``SITEYYMMDDSSSCC`` for any other (module docstring)."""
    if not 1 <= seq <= MAX_PER_DAY:
        raise ValueError(f"sequence {seq} outside 1..{MAX_PER_DAY}")
    site = validate_site(site)
    body = f"{day:%y%m%d}{seq:03d}"
    if site == DEFAULT_SITE:
        return body + str(check_digit(body))
    return site + body + mod97_check(site + body)


def validate_lot_id(text: str, field: str = "lot") -> str:
    """Return the lot ID if it is well formed, else :class:`InputError` naming ``field``:
    10 digits with a right GS1 check digit (site ``MAIN``), or a site code, 9 digits and
    two right MOD 97-10 check digits (any other site)."""
    s = (text or "").strip() if isinstance(text, str) else ""
    if LOT_ID_RE.fullmatch(s):
        if check_digit(s[:9]) != int(s[9]):
            raise InputError(f"{field}: {s!r} has a wrong check digit (mistyped lot ID?)")
        return s
    m = SITE_LOT_ID_RE.fullmatch(s)
    if m is None or m["site"] == DEFAULT_SITE:
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:40] + "..."
        raise InputError(f"{field}: {shown!r} is not a batch lot ID (10 digits, e.g. "
                         "2605230011), nor a site's (site code and 11 digits, e.g. "
                         "NYC26052300106)")
    if not mod97_valid(s):
        raise InputError(f"{field}: {s!r} has wrong check digits (mistyped lot ID?)")
    return s


def site_lot_id_floor(site: str) -> str:
    """The smallest text any lot ID of ``site`` can be (``site_lot_id_floor(s) <= id <
    site_lot_id_ceiling(s)``; the range may hold other sites' IDs too, e.g. NY and NY1)."""
    return "0" if site == DEFAULT_SITE else site + "0"


def site_lot_id_ceiling(site: str) -> str:
    """Above every lot ID of ``site`` (``":"`` follows ``"9"`` in ASCII)."""
    return ":" if site == DEFAULT_SITE else site + ":"


def lot_site(lot_id: str) -> str:
    """The site a well-formed lot ID belongs to (``MAIN`` for a 10-digit one)."""
    m = SITE_LOT_ID_RE.fullmatch(lot_id)
    return m["site"] if m else DEFAULT_SITE


def code128_modules(data: str) -> int:
    """Modules of a Code 128 symbol for ``data`` with quiet zones, using code set C for an
    all-digit even-length string and code set B otherwise (no set switching)."""
    if data.isdigit() and len(data) % 2 == 0:
        symbols = len(data) // 2
    else:
        symbols = len(data)
    return 11 + 11 * symbols + 11 + 13 + 2 * QUIET_ZONE_MODULES


def code128_modules_site(lot_id: str) -> int:
    """At most how many modules (quiet zones included) the Code 128 symbol of a site's lot
    ID takes: the site code in code set B, a switch to set C, five digit pairs, a switch
    back to B and the odd last digit. python-barcode (compounding/labeling/code128.py)
    encodes it in this many or fewer (fewer when the site code ends in a digit)."""
    m = SITE_LOT_ID_RE.fullmatch(lot_id)
    if m is None:
        return code128_modules(lot_id)
    symbols = len(m["site"]) + 1 + 5 + 2
    return 11 + 11 * symbols + 11 + 13 + 2 * QUIET_ZONE_MODULES


def code128_width_mm(data: str, module_mm: Decimal = MODULE_MM) -> Decimal:
    return code128_modules(data) * module_mm
