"""What a barcode scanner typed, turned into typed values: :func:`read_scan` -> :class:`Scan`.

A scanner is a keyboard: it types the symbol's data and Enter (shared/DOMAIN.md, "Printing
and scanning"). What it types for a GS1 symbol depends on its set-up:

- a symbology identifier first when enabled (ISO/IEC 15424): ``]C1`` GS1-128, ``]d2`` GS1
  DataMatrix, ``]Q3`` GS1 QR Code, ``]e0`` GS1 DataBar; ``]C0`` / ``]d1`` / ``]Q1`` are the
  same symbologies *without* GS1 data (a plain Code 128 lot label, for example);
- FNC1 as the group separator character GS (ASCII 29) after a variable-length field that is
  not last (GS1 General Specifications 7.8.6);
- or the human-readable interpretation printed under the symbol, typed by a person:
  ``(01)09501101530003(17)270531(10)NX-2291``.

GS1 element strings are parsed with biip (https://github.com/jodal/biip, a maintained parser
of the GS1 General Specifications AI table); this module adds the pharmacy's rules:

- (01) GTIN must have a right check digit; (10) lot and (17) expiry are only valid with a
  (01) GTIN (GS1 General Specifications 4.13, shared/DOMAIN.md);
- (17) YYMMDD with DD = 00 means the last day of the month; the century follows the GS1
  sliding window (General Specifications 7.12) counted from ``today``, which the caller
  passes in (no clock here);
- text without a GS1 symbology identifier, without GS and not in (AI) form is GS1 only when
  it starts with a valid (01) GTIN; anything else is a *plain* scan (a lot text): a lot
  printed as ``10ABC`` must not turn into AI (10) (DOMAIN: "lots that look like AI strings
  confuse" scanners);
- a scan is printable ASCII (GS1 character set 82 is a subset of it) plus GS: control,
  zero-width, right-to-left and non-ASCII characters (``١٢٣`` Arabic-Indic digits,
  full-width digits) are refused naming the character, never silently dropped;
- a (10) lot that swallowed an expiry because the scanner dropped the GS (``LOT117270531``)
  is flagged (:attr:`Scan.warnings`) so the caller can refuse it.

Pure: no store, no clock, no files.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from ..errors import InputError

GS = "\x1d"
#: GS1 symbology identifiers (GS1 General Specifications figure 5.1.2-2) -> name.
GS1_SYMBOLOGIES = {"]C1": "GS1-128", "]d2": "GS1 DataMatrix", "]Q3": "GS1 QR Code",
                   "]e0": "GS1 DataBar", "]J1": "GS1 DotCode"}
#: Symbology identifiers of the same symbols carrying plain (non-GS1) data.
PLAIN_SYMBOLOGIES = {"]C0": "Code 128", "]d1": "Data Matrix", "]Q1": "QR Code",
                     "]A0": "Code 39", "]I0": "Interleaved 2 of 5"}
#: Product-code symbologies: the data is a bare GTIN (no lot, no expiry).
GTIN_SYMBOLOGIES = {"]E0": "EAN-13 / UPC-A", "]E4": "EAN-8", "]I1": "ITF-14"}

#: Longest scan accepted: a GS1 DataMatrix holds at most 2,335 characters; nothing a
#: pharmacy scans comes near it, and a longer "scan" is pasted text.
MAX_SCAN_CHARS = 2335
#: A plain lot text: printable ASCII without spaces, 1 to 20 characters, the limit of
#: GS1 AI (10) and of the Code 128 lot on our labels (labeling/content.py).
PLAIN_LOT_RE = re.compile(r"[\x21-\x7e]{1,20}")

AI_NAMES = {"00": "SSCC", "01": "GTIN", "02": "GTIN of contained items", "10": "lot",
            "11": "production date", "15": "best before date", "17": "expiry",
            "21": "serial number", "30": "count", "37": "count of items"}


@dataclass(frozen=True)
class Scan:
    """One scan, parsed.

    ``kind``: ``"gs1"`` (GS1 element strings), ``"gtin"`` (a product code alone: EAN/UPC/ITF)
    or ``"plain"`` (any other text, taken as a lot). ``text`` is the scan as typed, with the
    Enter stripped; ``data`` the part after any symbology identifier. Dates are
    :class:`datetime.date`; ``gtin`` is always 14 digits.
    """

    text: str
    kind: str
    data: str
    symbology: str | None = None
    symbology_name: str | None = None
    gtin: str | None = None
    lot: str | None = None
    expiry: date | None = None
    production_date: date | None = None
    serial: str | None = None
    elements: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def hri(self) -> str:
        """Human-readable form: ``(01)09501101530003(17)270531(10)NX-2291``, or the text."""
        if self.kind == "gs1":
            return "".join(f"({ai}){value}" for ai, value in self.elements)
        return self.data

    def as_json(self) -> dict:
        return {"kind": self.kind, "symbology": self.symbology,
                "symbology_name": self.symbology_name, "gtin": self.gtin, "lot": self.lot,
                "expiry": self.expiry.isoformat() if self.expiry else None,
                "production_date": (self.production_date.isoformat()
                                    if self.production_date else None),
                "serial": self.serial, "hri": self.hri(), "warnings": list(self.warnings)}


def _where(field_name: str | None) -> str:
    return f"{field_name}: " if field_name else ""


def _char_name(ch: str) -> str:
    from ..text import describe
    return describe(ch)


def clean_text(text, field_name: str | None = "scan") -> str:
    """The scan without the scanner's Enter (CR, LF) and surrounding spaces; refuses
    anything a scanner does not type: empty text, control characters other than GS,
    non-ASCII characters (digits of other scripts, zero-width and direction marks), and
    text longer than :data:`MAX_SCAN_CHARS`. Raises :class:`InputError` naming the
    character and its position (1-based)."""
    if not isinstance(text, str):
        raise InputError(f"{_where(field_name)}expected the text a scanner typed")
    s = text.strip(" \r\n\t")
    if not s:
        raise InputError(f"{_where(field_name)}the scan is empty")
    if len(s) > MAX_SCAN_CHARS:
        raise InputError(f"{_where(field_name)}{len(s)} characters is longer than any barcode "
                         f"({MAX_SCAN_CHARS} at most)")
    for i, ch in enumerate(s, start=1):
        if ch == GS or " " <= ch <= "~":
            continue
        if ch.isdigit():
            why = "a digit of another script; barcodes carry ASCII digits 0-9 only"
        elif unicodedata.category(ch) == "Cf":
            why = "an invisible formatting character (zero-width or direction mark)"
        elif unicodedata.category(ch).startswith("C"):
            why = "a control character other than the group separator (GS)"
        else:
            why = "not ASCII; a scanner types printable ASCII and GS only"
        raise InputError(f"{_where(field_name)}character {_char_name(ch)} at position {i} is "
                         f"{why}")
    return s


def gs1_date(yymmdd: str, today: date, ai: str = "17") -> date:
    """A GS1 date field: YYMMDD; DD = 00 is the month's last day (General Specifications
    3.4.7); the century by the sliding window of General Specifications 7.12: a year 51 to
    99 years ahead of ``today`` is in the previous century, 50 or more years behind it in
    the next one."""
    if not re.fullmatch(r"[0-9]{6}", yymmdd):
        raise InputError(f"scan: ({ai}) {yymmdd!r} is not a GS1 date (YYMMDD)")
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    century = today.year - today.year % 100
    diff = yy - today.year % 100
    if 51 <= diff <= 99:
        century -= 100
    elif -99 <= diff <= -50:
        century += 100
    year = century + yy
    if not 1 <= mm <= 12:
        raise InputError(f"scan: ({ai}) {yymmdd!r} is not a date: there is no month {mm:02d}")
    last = calendar.monthrange(year, mm)[1]
    if dd == 0:
        dd = last
    if dd > last:
        raise InputError(f"scan: ({ai}) {yymmdd!r} is not a date: month {mm:02d} of {year} "
                         f"has {last} days")
    return date(year, mm, dd)


def _split_symbology(s: str) -> tuple[str | None, str | None, str]:
    if not s.startswith("]"):
        return None, None, s
    prefix = s[:3]
    for table in (GS1_SYMBOLOGIES, PLAIN_SYMBOLOGIES, GTIN_SYMBOLOGIES):
        if prefix in table:
            return prefix, table[prefix], s[3:]
    if re.fullmatch(r"\][A-Za-z][0-9A-Za-z]", prefix):
        return prefix, f"symbology {prefix}", s[3:]
    return None, None, s


def _looks_gs1(data: str) -> bool:
    """Without a symbology identifier: GS1 only if it starts with GS, is in (AI) form, or
    starts with AI (01) and a GTIN-14 whose check digit is right."""
    if data.startswith(GS) or data.startswith("("):
        return True
    m = re.match(r"01([0-9]{14})", data)
    return bool(m) and _check_digit_ok(m.group(1))


def _check_digit_ok(digits: str) -> bool:
    """GS1 mod-10 check digit (the last digit) of a GTIN or of our batch lot IDs."""
    from biip.checksums import gs1_standard_check_digit
    return gs1_standard_check_digit(digits[:-1]) == int(digits[-1])


def _parse_gs1(data: str, field_name: str | None):
    from biip import ParseConfig, ParseError
    from biip.gs1_messages import GS1Message

    # dates are checked by gs1_date below (with the caller's today and a clearer message)
    config = ParseConfig(gs1_element_strings_verify_date=False)
    if data.startswith("("):
        # spaces may stand around the (AI) brackets of a typed HRI line; inside a value they
        # would be dropped silently by the parser ('MCC 7' -> 'MCC7'): refuse them instead
        squeezed = re.sub(r"\s*([()])\s*", r"\1", data)
        m = re.search(r"\((\d+)\)([^(]*\s[^(]*)", squeezed)
        if m:
            raise InputError(f"{_where(field_name)}({m[1]}) {m[2].strip()!r} has a space; GS1 "
                             "values have none (GS1 character set 82)")
        data = squeezed
    try:
        if data.startswith("("):
            return GS1Message.parse_hri(data, config=config)
        return GS1Message.parse(data.lstrip(GS), config=config)
    except ParseError as exc:
        m = re.match(r"Failed to match '(.*)' with GS1 AI \((\d+)\) pattern", str(exc), re.S)
        m2 = re.match(r"Failed to get GS1 Application Identifier from '(.*)'\.?$", str(exc), re.S)
        if m2:
            rest = m2[1].replace("\\x1d", "<GS>")
            why = f"no GS1 application identifier at {_printable(rest)[:40]!r}"
        elif m and m[1].startswith(m[2]):
            ai, value = m[2], m[1][len(m[2]):]
            why = (f"({ai}) {_printable(value)[:40]!r} is not a valid "
                   f"{AI_NAMES.get(ai, 'value')}"
                   + (" (YYMMDD)" if ai in ("11", "15", "17") else ""))
        else:
            why = _printable(str(exc)).replace("\\x1d", "<GS>")
        raise InputError(f"{_where(field_name)}not a valid GS1 element string: {why}") from None


def _printable(s: str) -> str:
    return s.replace(GS, "<GS>")


def read_scan(text, *, today: date, field_name: str | None = "scan") -> Scan:
    """Parse what a scanner typed.

    ``today`` places two-digit years (GS1 sliding window). Returns a :class:`Scan`; raises
    :class:`InputError` (one line naming ``field_name``) for text no scanner types, a GS1
    string that does not parse, a wrong GTIN check digit, a lot or expiry without a GTIN,
    an AI given twice with different values, or a plain lot text outside printable ASCII
    1-20 characters.
    """
    s = clean_text(text, field_name)
    symbology, sym_name, data = _split_symbology(s)
    if not data:
        raise InputError(f"{_where(field_name)}the scan has a symbology identifier "
                         f"{symbology} but no data")
    if symbology in GTIN_SYMBOLOGIES:
        return Scan(text=s, kind="gtin", data=data, symbology=symbology,
                    symbology_name=sym_name, gtin=_gtin(data, field_name))
    if symbology in GS1_SYMBOLOGIES or (symbology is None and _looks_gs1(data)):
        return _gs1_scan(s, data, symbology, sym_name, today, field_name)
    if GS in data:
        raise InputError(f"{_where(field_name)}a group separator (GS) in a {sym_name or 'plain'} "
                         "scan that is not GS1")
    if not PLAIN_LOT_RE.fullmatch(data):
        why = ("has a space" if " " in data else f"is {len(data)} characters"
               if len(data) > 20 else "is not printable ASCII")
        raise InputError(f"{_where(field_name)}{data[:40]!r} is not a lot number: it {why}; "
                         "a lot is 1 to 20 printable ASCII characters without spaces")
    return Scan(text=s, kind="plain", data=data, symbology=symbology, symbology_name=sym_name,
                lot=data)


def _gtin(value: str, field_name: str | None) -> str:
    from biip import ParseError
    from biip.gtin import Gtin

    try:
        return Gtin.parse(value).as_gtin_14()
    except ParseError as exc:
        raise InputError(f"{_where(field_name)}{value!r} is not a GTIN: {exc}") from None


def _gs1_scan(s, data, symbology, sym_name, today, field_name) -> Scan:
    msg = _parse_gs1(data, field_name)
    elements: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for es in msg.element_strings:
        ai, value = es.ai.ai, es.value
        if ai in seen and seen[ai] != value:
            raise InputError(f"{_where(field_name)}AI ({ai}) {AI_NAMES.get(ai, '')} appears "
                             f"twice with different values ({seen[ai]!r}, {value!r})")
        if ai == "01" and es.gtin_error:
            raise InputError(f"{_where(field_name)}(01) GTIN {value}: {es.gtin_error}")
        seen[ai] = value
        elements.append((ai, value))
    if "00" in seen and "01" not in seen:
        raise InputError(f"{_where(field_name)}this is a shipping container code (SSCC "
                         f"{seen['00']}), not a product: scan the container's own barcode")
    if ("10" in seen or "17" in seen) and "01" not in seen:
        raise InputError(f"{_where(field_name)}a lot (10) or expiry (17) without a GTIN (01) "
                         "is not valid GS1 (General Specifications 4.13)")
    if "01" not in seen:
        raise InputError(f"{_where(field_name)}the GS1 data has no GTIN (01): "
                         f"{_printable(data)[:60]!r}")
    warnings = []
    lot = seen.get("10")
    if lot is not None and "17" not in seen and re.search(
            r"17[0-9][0-9](0[1-9]|1[0-2])[0-9][0-9]$", lot):
        warnings.append(f"the lot (10) {lot!r} ends in what looks like an expiry (17); the "
                        "scanner may have dropped the group separator (GS) after the lot")
    return Scan(text=s, kind="gs1", data=data, symbology=symbology, symbology_name=sym_name,
                gtin=seen["01"], lot=lot,
                expiry=gs1_date(seen["17"], today, "17") if "17" in seen else None,
                production_date=gs1_date(seen["11"], today, "11") if "11" in seen else None,
                serial=seen.get("21"), elements=tuple(elements), warnings=tuple(warnings))


def batch_lot_id(scan: Scan, own_gtins) -> str | None:
    """The batch lot ID a scan of one of *our* batch labels carries, else None.

    Our labels carry the lot ID as a Code 128 (a 10-digit ID with a check digit,
    ``store/lotid.py``) and, when the settings give the formula a GTIN, a GS1 DataMatrix
    (01) GTIN (17) BUD (10) lot. ``own_gtins``: the GTINs of our own formulas
    (``Settings.gtins`` values, 14 digits).
    """
    if scan.kind == "gs1":
        if scan.gtin in set(own_gtins) and scan.lot:
            candidate = scan.lot
        else:
            return None
    elif scan.kind == "plain":
        candidate = scan.lot
    else:
        return None
    # the lot ID format of store/lotid.py: YYMMDDSSS + a GS1 mod-10 check digit
    if candidate and re.fullmatch(r"[0-9]{10}", candidate) and _check_digit_ok(candidate):
        return candidate
    return None


@dataclass(frozen=True)
class ScannedComponent:
    """What a supplier's container says about itself: ingredient (from the GTIN in the
    catalogue, or given), lot, expiry, production date, GTIN and manufacturer."""

    ingredient: str | None
    lot: str
    expiry: date | None
    production_date: date | None = None
    gtin: str | None = None
    manufacturer: str | None = None
    scan: Scan | None = None


def _disagree(what: str, given, scanned, shown_given=None, shown_scanned=None) -> InputError:
    return InputError(f"{what}: given {shown_given or given}, but the barcode says "
                      f"{shown_scanned or scanned}; check the container (the receipt is "
                      "refused)")


def component_from_scan(scan: Scan, catalogue, *, ingredient: str | None = None,
                        lot: str | None = None, expiry: date | None = None,
                        manufacturer: str | None = None, today: date,
                        field_name: str = "scan") -> ScannedComponent:
    """Resolve a receipt from a scan and the options typed by hand (which must agree).

    - GS1: the GTIN must be in the catalogue (:meth:`Catalogue.trade_item`; a GTIN not in it
      is refused naming it); it gives the ingredient and the manufacturer. The barcode's lot
      (10) and expiry (17) are used; a value typed by hand must be the same. A lot that
      looks as if it swallowed an expiry (lost GS) is refused. A production date (11) after
      ``today`` or after the expiry is refused.
    - A product code alone (EAN/UPC): ingredient from the GTIN; lot and expiry typed.
    - Plain: the text is the lot; the ingredient must be given; a GTIN typed as the "lot"
      is refused.

    Raises :class:`InputError` (bad or disagreeing input) or
    :class:`~compounding.errors.NotFoundError` (GTIN not in the catalogue).
    """
    from ..dates import format_date
    from ..errors import NotFoundError

    if scan.kind in ("gs1", "gtin"):
        item = catalogue.trade_item(scan.gtin)
        if ingredient is not None and ingredient != item.ingredient:
            raise _disagree("ingredient", ingredient, item.ingredient,
                            shown_scanned=f"GTIN {scan.gtin}, {item.ingredient}")
        if scan.warnings:
            raise InputError(f"{field_name}: {scan.warnings[0]}; scan again (the receipt is "
                             "refused)")
        scanned_lot = scan.lot
        if lot is not None and scanned_lot is not None and lot != scanned_lot:
            raise _disagree("lot", repr(lot), repr(scanned_lot))
        final_lot = scanned_lot or lot
        if final_lot is None:
            raise InputError("lot: the barcode carries no lot (10); give --lot from the "
                             "container")
        if expiry is not None and scan.expiry is not None and expiry != scan.expiry:
            raise _disagree("expires", format_date(expiry), format_date(scan.expiry))
        final_exp = scan.expiry or expiry
        if final_exp is None:
            raise InputError("expires: the barcode carries no expiry (17); give --expires "
                             "from the container")
        made = scan.production_date
        if made is not None and made > today:
            raise InputError(f"{field_name}: the production date (11) {format_date(made)} is "
                             f"after today ({format_date(today)}); check the barcode")
        if made is not None and made > final_exp:
            raise InputError(f"{field_name}: the production date (11) {format_date(made)} is "
                             f"after the expiry {format_date(final_exp)}; check the barcode")
        maker = item.manufacturer
        if manufacturer is not None and maker is not None and \
                manufacturer.strip() != maker:
            raise _disagree("manufacturer", repr(manufacturer.strip()), repr(maker),
                            shown_scanned=f"GTIN {scan.gtin}, made by {maker!r}")
        return ScannedComponent(item.ingredient, final_lot, final_exp, made, scan.gtin,
                                maker or manufacturer, scan)
    # plain
    if scan.lot in catalogue.gtins or (scan.lot.isdigit() and len(scan.lot) in (8, 12, 13) and
                                       scan.lot.zfill(14) in catalogue.gtins):
        g = scan.lot.zfill(14)
        raise InputError(f"{field_name}: {scan.lot} is the product code (GTIN) of "
                         f"{catalogue.gtins[g].ingredient}, not a lot number; scan the lot "
                         "barcode or give --lot")
    if ingredient is None:
        raise InputError("ingredient: a plain lot barcode does not say which ingredient it is; "
                         "give the INGREDIENT argument")
    if lot is not None and lot != scan.lot:
        raise _disagree("lot", repr(lot), repr(scan.lot))
    if ingredient not in catalogue.ingredients:
        raise NotFoundError(f"unknown ingredient {ingredient!r}; known: "
                            f"{', '.join(sorted(catalogue.ingredients))}")
    return ScannedComponent(ingredient, scan.lot, expiry, None, None, manufacturer, scan)


@dataclass(frozen=True)
class ScanMatch:
    """A scan matched to a weighing step: a component lot (``kind="component"``, with its
    ingredient and lot number) or this batch's own label (``kind="batch"``, for an aliquot
    taken from a dilution made in it)."""

    kind: str
    lot: str
    ingredient: str | None
    text: str  # the scan as recorded: human-readable GS1 form or the plain text


def match_scan(scan: Scan, *, batch: str, step: int | None, needs: str | None,
               aliquot: bool, lots: list[dict], catalogue, own_gtins, today: date) -> ScanMatch:
    """Check a scan against the plan step about to be weighed, before anything is recorded.

    ``needs``: the ingredient the step weighs (None when not known yet: then the scan
    decides); ``aliquot``: the step takes an aliquot of a dilution made in ``batch``.
    ``lots``: every component lot on record whose number is the scanned lot (dicts with
    ``ingredient``, ``lot_number``, ``expires`` ISO, as the store lists them).

    Refused (:class:`~compounding.errors.RefusedError`, one line): a lot of another
    ingredient ("scanned microcrystalline-cellulose lot MCC-118; step 1 needs
    naltrexone-hcl"), a lot not received, an expired lot, a barcode expiry that differs from
    the one on record, another batch's label, a component at an aliquot step, a product code
    without a lot. A GTIN not in the catalogue is a NotFoundError naming it.
    """
    from ..dates import format_date
    from ..errors import RefusedError

    where = f"step {step}" if step is not None else "this weighing"
    own = batch_lot_id(scan, own_gtins)
    if own is not None and (scan.kind == "gs1" or not lots):
        if aliquot and own == batch:
            return ScanMatch("batch", own, None, scan.hri())
        if own != batch:
            raise RefusedError(f"scanned the label of batch {own}; this weighing is for batch "
                               f"{batch}")
        raise RefusedError(f"scanned this batch's own label ({own}); {where} needs "
                           f"{needs or 'a component lot'}")
    if aliquot:
        raise RefusedError(f"{where} is an aliquot of a dilution made in this batch; scan the "
                           f"batch's own label ({batch}), not a component lot")
    if scan.kind == "gtin":
        item = catalogue.trade_item(scan.gtin)
        raise RefusedError(f"scanned the product code of {item.ingredient} (GTIN {scan.gtin}), "
                           "which has no lot; scan the lot barcode or the pharmacy's lot label")
    if scan.warnings:
        raise RefusedError(f"scan: {scan.warnings[0]}; scan again")
    if scan.kind == "gs1":
        ingredient = catalogue.trade_item(scan.gtin).ingredient
        if scan.lot is None:
            raise RefusedError(f"scanned {ingredient} (GTIN {scan.gtin}) without a lot (10); "
                               "scan the lot barcode or the pharmacy's lot label")
        if needs is not None and ingredient != needs:
            raise RefusedError(f"scanned {ingredient} lot {scan.lot}; {where} needs {needs}")
        mine = [x for x in lots if x["ingredient"] == ingredient]
    else:
        found = sorted({x["ingredient"] for x in lots})
        if needs is not None:
            mine = [x for x in lots if x["ingredient"] == needs]
            if not mine and found:
                raise RefusedError(f"scanned {' and '.join(found)} lot {scan.lot}; {where} "
                                   f"needs {needs}")
            ingredient = needs
        else:
            if len(found) > 1:
                raise RefusedError(f"lot {scan.lot} is on record for {' and '.join(found)}; "
                                   "give --step N or --ingredient ID")
            mine = list(lots)
            ingredient = found[0] if found else None
    if not mine:
        what = f"{ingredient} lot {scan.lot}" if ingredient else f"lot {scan.lot}"
        raise RefusedError(f"scanned {what}, which was never received (not on record); "
                           "receive it first: compounding inventory receive")
    rec = mine[0]
    expires = date.fromisoformat(rec["expires"])
    if scan.expiry is not None and scan.expiry != expires:
        raise RefusedError(f"scanned {ingredient} lot {scan.lot} says it expires "
                           f"{format_date(scan.expiry)}, but the lot received expires "
                           f"{format_date(expires)}; check the container")
    if expires < today:
        raise RefusedError(f"scanned {ingredient} lot {scan.lot} expired on "
                           f"{format_date(expires)}; it cannot be used")
    return ScanMatch("component", rec["lot_number"], ingredient, scan.hri())
