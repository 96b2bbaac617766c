"""Scanner text -> Scan (issue 16): GS1 with and without symbology identifiers, FNC1/GS, the
human-readable form, day 00, plain lots, and text no scanner types."""

from datetime import date

import pytest

from compounding.devices.scanning import batch_lot_id, gs1_date, read_scan
from compounding.errors import InputError

TODAY = date(2026, 11, 30)
GS = "\x1d"
NX = "09501101530010"  # sample GTIN of naltrexone-hcl in formulas/ingredients.toml


@pytest.mark.parametrize("text, kind, symbology, gtin, lot, expiry, made", [
    # GS1 DataMatrix with its identifier, GS after the variable-length lot
    (f"]d201{NX}17270531" f"10NX-2291{GS}11260115", "gs1", "]d2", NX, "NX-2291",
     date(2027, 5, 31), date(2026, 1, 15)),
    # GS1-128, lot last (no GS needed), day 00 = last day of the month (Feb 2028: leap)
    (f"]C101{NX}1728020010NX-2291", "gs1", "]C1", NX, "NX-2291", date(2028, 2, 29), None),
    # GS1 QR, day 00 in a 30-day month
    (f"]Q301{NX}1727110010A1", "gs1", "]Q3", NX, "A1", date(2027, 11, 30), None),
    # no identifier, starts with (01) and a valid GTIN; the scanner's Enter stripped
    (f"01{NX}10LOT-7{GS}17270131\r\n", "gs1", None, NX, "LOT-7", date(2027, 1, 31), None),
    # FNC1 sent as a leading GS
    (f"{GS}01{NX}17270131", "gs1", None, NX, None, date(2027, 1, 31), None),
    # human-readable form typed from the label
    (f"(01){NX}(17)270500(10)NX-2291", "gs1", None, NX, "NX-2291", date(2027, 5, 31), None),
    ("(01) 09501101530010 (17) 270500 (10) AB", "gs1", None, NX, "AB", date(2027, 5, 31), None),
    # plain lots, including ones that look like GS1 AIs
    ("MCC-118", "plain", None, None, "MCC-118", None, None),
    ("10ABC", "plain", None, None, "10ABC", None, None),
    ("]C0MCC-118", "plain", "]C0", None, "MCC-118", None, None),
    ("2605230011", "plain", None, None, "2605230011", None, None),
    # a product code alone
    ("]E09501101530010", "gtin", "]E0", NX, None, None, None),
])
def test_read_scan(text, kind, symbology, gtin, lot, expiry, made):
    s = read_scan(text, today=TODAY)
    assert (s.kind, s.symbology, s.gtin, s.lot, s.expiry, s.production_date) == \
        (kind, symbology, gtin, lot, expiry, made)


def test_hri_round_trip():
    s = read_scan(f"]d201{NX}17270531" f"10NX-2291{GS}11260115", today=TODAY)
    assert s.hri() == f"(01){NX}(17)270531(10)NX-2291(11)260115"
    assert s.symbology_name == "GS1 DataMatrix"


@pytest.mark.parametrize("text, message", [
    ("", "scan: the scan is empty"),
    ("  \r\n", "scan: the scan is empty"),
    ("MCC\u200b118", "scan: character U+200B (ZERO WIDTH SPACE) at position 4 is an invisible "
                     "formatting character (zero-width or direction mark)"),
    ("\u202eMCC-118", "scan: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1 is an "
                      "invisible formatting character (zero-width or direction mark)"),
    ("NX\u0661\u0662", "scan: character U+0661 (ARABIC-INDIC DIGIT ONE) at position 3 is a "
                       "digit of another script; barcodes carry ASCII digits 0-9 only"),
    ("\uff10\uff11", "scan: character U+FF10 (FULLWIDTH DIGIT ZERO) at position 1 is a digit of "
                     "another script; barcodes carry ASCII digits 0-9 only"),
    ("MCC\x07118", "scan: character U+0007 (ALERT) at position 4 is a control "
                   "character other than the group separator (GS)"),
    ("Lot Ä", "scan: character U+00C4 (LATIN CAPITAL LETTER A WITH DIAERESIS) at position 5 "
              "is not ASCII; a scanner types printable ASCII and GS only"),
    ("MCC 118", "scan: 'MCC 118' is not a lot number: it has a space; a lot is 1 to 20 "
                "printable ASCII characters without spaces"),
    ("X" * 300, "scan: 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' is not a lot number: it is 300 "
                "characters; a lot is 1 to 20 printable ASCII characters without spaces"),
    ("X" * 3000, "scan: 3000 characters is longer than any barcode (2335 at most)"),
    ("]d2", "scan: the scan has a symbology identifier ]d2 but no data"),
    (f"]d20109501101530011", "scan: (01) GTIN 09501101530011: Invalid GTIN check digit for "
                            "'09501101530011': Expected 0, got 1."),
    ("]d210NX-1", "scan: a lot (10) or expiry (17) without a GTIN (01) is not valid GS1 "
                  "(General Specifications 4.13)"),
    ("]C100095011010000000017", "scan: this is a shipping container code (SSCC "
                                "095011010000000017), not a product: scan the container's own "
                                "barcode"),
    (f"]d201{NX}17271301", "scan: not a valid GS1 element string: (17) '271301' is not a "
                           "valid expiry (YYMMDD)"),
    (f"]d201{NX}17270231", "scan: (17) '270231' is not a date: month 02 of 2027 has 28 days"),
    (f"(01){NX}(10)A(10)B", "scan: AI (10) lot appears twice with different values ('A', 'B')"),
    ("]C0A\x1dB", "scan: a group separator (GS) in a Code 128 scan that is not GS1"),
    (f"(01){NX}(17)270531(10)NX 2291", "scan: (10) 'NX 2291' has a space; GS1 values have "
                                        "none (GS1 character set 82)"),
])
def test_refused(text, message):
    with pytest.raises(InputError) as exc:
        read_scan(text, today=TODAY)
    assert str(exc.value) == message


def test_lost_separator_is_flagged():
    s = read_scan(f"]d201{NX}10NX-229117270531", today=TODAY)
    assert s.lot == "NX-229117270531" and s.expiry is None
    assert s.warnings == ("the lot (10) 'NX-229117270531' ends in what looks like an expiry "
                          "(17); the scanner may have dropped the group separator (GS) after "
                          "the lot",)


@pytest.mark.parametrize("yymmdd, today, expected", [
    ("270500", date(2026, 11, 30), date(2027, 5, 31)),
    ("240200", date(2026, 11, 30), date(2024, 2, 29)),
    ("751231", date(2026, 11, 30), date(2075, 12, 31)),   # 49 years ahead: this century
    ("771231", date(2026, 11, 30), date(1977, 12, 31)),   # 51 years ahead: previous century
    ("010101", date(2099, 6, 1), date(2101, 1, 1)),       # 98 behind: next century
])
def test_gs1_sliding_window(yymmdd, today, expected):
    assert gs1_date(yymmdd, today) == expected


@pytest.mark.parametrize("text, own, expected", [
    ("2605230011", [], "2605230011"),
    ("]C02605230011", [], "2605230011"),
    ("2605230012", [], None),                       # wrong check digit: not our lot ID
    ("MCC-118", [], None),
    (f"]d201{NX}17270531" "102605230011", [NX], "2605230011"),
    (f"]d201{NX}17270531" "102605230011", [], None),  # a supplier's GTIN, not ours
])
def test_batch_lot_id(text, own, expected):
    assert batch_lot_id(read_scan(text, today=TODAY), own) == expected
