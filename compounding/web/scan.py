"""What the bench's scan field received, turned into a batch lot ID.

Scanners are keyboards: they type the data and Enter (DOMAIN.md "Printing and scanning").
The batch label carries the lot ID twice: a Code 128 of the 10-digit lot ID, and (with a
GTIN in the settings) a GS1 DataMatrix ``(01) GTIN (17) BUD (10) LOT``, which a scanner set
to send symbology identifiers prefixes with ``]d2`` (``]C1`` for GS1-128). A GS1 string is
read with biip (a well-kept GS1 parser); a plain one must be a lot ID whose check digit is
right (:func:`compounding.store.lotid.validate_lot_id`), so a mistyped digit opens nothing.
Issue 16 brings the full scanner module; this reads only what the bench's field needs.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import InputError
from ..store import lotid

#: ISO/IEC 15424 symbology identifier: ']' + code letter + modifier digit.
SYMBOLOGY_ID = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
#: Longest scan accepted (a GS1 DataMatrix on a label is far shorter).
MAX_SCAN = 200


def lot_from_scan(text: str) -> str:
    """The batch lot ID in a scan or typed text; :class:`InputError` naming the field."""
    raw = text if isinstance(text, str) else ""
    if len(raw) > MAX_SCAN:
        raise InputError(f"scan: {len(raw)} characters is too long for a lot ID or a label "
                         f"barcode (at most {MAX_SCAN})", field="scan")
    # keep the GS1 group separator (ASCII 29); drop other control and format characters
    # (a scanner's CR/LF, zero-width or direction marks pasted with the text)
    cleaned = "".join(c for c in raw if c == "\x1d" or unicodedata.category(c)[0] != "C")
    cleaned = cleaned.strip()
    if not cleaned:
        raise InputError("scan: empty; scan a batch label or type its 10-digit lot ID",
                         field="scan")
    if SYMBOLOGY_ID.match(cleaned) or cleaned.startswith(("01", "\x1d")) and len(cleaned) > 16:
        lot = _gs1_lot(cleaned)
        if lot is not None:
            return lotid.validate_lot_id(lot, "scan")
    if SYMBOLOGY_ID.match(cleaned):
        cleaned = cleaned[3:]
    if not cleaned.isascii():
        # lotid's \d also matches other scripts' digits; a label barcode never has them
        raise InputError(f"scan: {cleaned!r} is not a batch lot ID (10 digits 0-9, e.g. "
                         "2605230011)", field="scan")
    return lotid.validate_lot_id(cleaned, "scan")


def _gs1_lot(text: str) -> str | None:
    import biip
    try:
        result = biip.parse(text)
    except Exception:  # biip raises its own ParseError subclasses; treated as "not GS1"
        return None
    msg = result.gs1_message
    if msg is None:
        return None
    for es in msg.element_strings:
        if es.ai.ai == "10":
            return es.value
    return None
