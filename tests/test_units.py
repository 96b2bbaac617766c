"""The strict units layer: what it accepts, what it refuses, and how it prints."""

from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from compounding import units as u
from compounding.errors import InputError, UnitError
from compounding.units import Quantity, fmt, parse, q


@pytest.mark.parametrize("text, value, unit", [
    ("4.5 mg", "4.5", "mg"),
    ("4.5mg", "4.5", "mg"),
    ("  4.5   mg ", "4.5", "mg"),
    ("0.1 mcg", "0.1", "mcg"),
    ("0.1 \u00b5g", "0.1", "mcg"),   # micro sign U+00B5
    ("0.1 \u03bcg", "0.1", "mcg"),   # Greek mu U+03BC
    ("0.1ug", "0.1", "mcg"),
    ("2 g", "2", "g"),
    ("100 mL", "100", "mL"),
    ("100 ml", "100", "mL"),
    ("1 L", "1", "L"),
    ("1 mg/mL", "1", "mg/mL"),
    ("1 mg/ml", "1", "mg/mL"),
    ("1 mg / mL", "1", "mg/mL"),
    ("500 mcg/mL", "500", "mcg/mL"),
    ("500 \u00b5g/mL", "500", "mcg/mL"),
    ("0.5 mg/g", "0.5", "mg/g"),
    ("100 capsules", "100", "capsules"),
    ("1 capsule", "1", "capsules"),
    ("3 drops", "3", "drops"),
    ("98.5%", "98.5", "%"),
    ("0.5% w/v", "0.5", "% w/v"),
    ("20 % w/w", "20", "% w/w"),
    ("1,000 mg", "1000", "mg"),
    ("12,345.5 mg", "12345.5", "mg"),
])
def test_accepts(text, value, unit):
    got = parse(text)
    assert got.unit == unit
    assert got.value == Decimal(value)


def test_exact_input_value_is_kept():
    assert str(parse("1.50 mg").value) == "1.50"
    assert parse("1.50 mg") == parse("1.5 mg")


@pytest.mark.parametrize("text, reason", [
    ("4.5", "a unit is required"),
    ("4.5 Mg", "ambiguous by its capitals"),
    ("4.5 mG", "ambiguous by its capitals"),
    ("4.5 MG", "ambiguous by its capitals"),
    ("5 cc", "write mL"),
    ("10 IU", "international units are not accepted"),
    ("10 U", "'U'/'units' are not accepted"),
    ("1000 units", "'U'/'units' are not accepted"),
    ("1 gr", "grains"),
    ("1,5 mg", "decimal comma is not accepted; use a point"),
    ("1,50 mg", "decimal comma"),
    ("-1 mg", "negative amounts are not accepted"),
    ("\u22121 mg", "negative amounts are not accepted"),
    ("0 mg", "must be greater than zero"),
    ("1e-3 mg", "scientific notation"),
    ("1E3 mg", "scientific notation"),
    ("\u00bd mg", "fractions are not accepted"),
    ("1/2 mg", "fractions are not accepted"),
    ("2.5 mg / 5 mL", "a number in the denominator is not accepted"),
    ("2.5 mg/5mL", "a number in the denominator is not accepted"),
    (".5 mg", "missing leading zero: write 0.5"),
    ("mg", "does not start with a number"),
    ("", "is empty"),
    ("1.5 furlongs", "unknown unit"),
    ("5 l", "lower-case 'l'"),
    ("1.5 mg/kg", "unknown concentration unit"),
    ("2.5 capsules", "whole number"),
    ("5% x/y", "percent may be followed only by"),
    # attack on issue 11: more digits than Decimal's 28 broke a quantize (traceback) or were
    # rounded in a stock sum (10^29 g received showed 100,000,...,000 g on hand)
    ("99999999999999999999999999999 mg", "too large: at most 12 digits before the decimal"),
    ("1,000,000,000,000 g", "too large: at most 12 digits"),
    ("0.0000000000000000001 mg", "too many decimal places: at most 12"),
])
def test_refuses(text, reason):
    with pytest.raises(UnitError) as exc:
        parse(text, field="--strength")
    msg = str(exc.value)
    assert reason in msg
    assert msg.startswith("--strength: ")
    assert "\n" not in msg
    # the errors are input errors (CLI exit 2) and plain ValueErrors for library callers
    assert isinstance(exc.value, InputError) and isinstance(exc.value, ValueError)


def test_wrong_kind_is_refused_with_an_example():
    with pytest.raises(UnitError, match=r"is a mass; expected a concentration \(e.g. '1 mg/mL'\)"):
        parse("1 mg", u.CONCENTRATION, field="--strength")
    with pytest.raises(UnitError, match="is a mass; expected a count"):
        parse("100 mg", u.COUNT, field="--quantity", default_unit="capsules")


def test_bare_count_with_default_unit():
    assert parse("100", u.COUNT, default_unit="capsules") == q(100, "capsules")
    with pytest.raises(UnitError, match="whole number"):
        parse("100.5", u.COUNT, default_unit="capsules")


def test_zero_allowed_when_asked():
    assert parse("0%", u.PERCENT, positive=False).value == 0


def test_dims_restrict_concentrations():
    with pytest.raises(UnitError, match="expected units of w/v"):
        parse("1 mg/g", u.CONCENTRATION, dims={"w/v"})


@pytest.mark.parametrize("qty, text", [
    (q("1.0", "mg"), "1 mg"),
    (q("1.50", "mg"), "1.5 mg"),
    (q("0.5", "mg"), "0.5 mg"),
    (q("0.1", "mcg"), "0.1 mcg"),
    (q("1000", "mg"), "1,000 mg"),
    (q("1234567.25", "mg"), "1,234,567.25 mg"),
    (q("100", "mL"), "100 mL"),
    (q("1", "capsules"), "1 capsule"),
    (q("30", "drops"), "30 drops"),
    (q("98.5", "%"), "98.5%"),
    (q("0.5", "% w/v"), "0.5% w/v"),
    (q("1E+3", "mg"), "1,000 mg"),
    (q("0.00010", "mg"), "0.0001 mg"),
])
def test_formatter_ismp(qty, text):
    assert fmt(qty) == text


def test_formatter_never_prints_micro_sign():
    assert "\u00b5" not in fmt(parse("5 \u00b5g"))
    assert fmt(parse("5 \u00b5g")) == "5 mcg"


def test_conversions_are_exact():
    assert q("0.1", "mcg").to("mg").value == Decimal("0.0001")
    assert q("1.5", "mg") == q("1500", "mcg")
    assert q("1", "mg/mL").to("mcg/mL").value == Decimal("1000")
    with pytest.raises(UnitError):
        q("1", "mg").to("mL")


def test_floats_are_refused_in_code():
    with pytest.raises(TypeError):
        q(1.5, "mg")  # float-ok: proving floats are refused


def test_readable_mass_and_rounding():
    assert fmt(u.readable_mass(q("0.0001", "mg"))) == "0.1 mcg"
    assert fmt(u.readable_mass(q("150", "mg"))) == "150 mg"
    assert fmt(u.readable_mass(q("25000", "mg"))) == "25 g"
    assert u.round_to(q("120.5", "mg"), q("1", "mg")) == q("121", "mg")
    assert u.round_to(q("0.1234", "g"), q("1", "mg")) == q("123", "mg")


def test_parse_percent_range():
    assert u.parse_percent("98.5%", low=Decimal(50), high=Decimal(150)) == Decimal("98.5")
    with pytest.raises(UnitError, match="between 50% and 150%"):
        u.parse_percent("10%", field="--potency", low=Decimal(50), high=Decimal(150))
    with pytest.raises(UnitError, match="a unit is required"):
        u.parse_percent("98.5", field="--potency")


# ---------------------------------------------------------------- property tests

_units = st.sampled_from(sorted(u.UNITS))
_values = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("10000000"),
                      allow_nan=False, allow_infinity=False, places=6)


@settings(max_examples=500, deadline=None)
@given(_values, _units)
def test_round_trip_parse_format(value, unit):
    qty = Quantity(value, unit)
    if qty.kind == u.COUNT:
        qty = Quantity(value.to_integral_value() or Decimal(1), unit)
    text = fmt(qty)
    assert parse(text) == qty
    assert "\u00b5" not in text and not text.startswith(".")
    number = text.split(" ")[0].rstrip("%")
    if "." in number:
        assert not number.endswith("0"), text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_parser_never_crashes_on_junk(text):
    try:
        got = parse(text)
    except UnitError:
        return
    assert got.value > 0


def test_readable_picks_the_unit_a_person_reads():
    assert fmt(u.readable(q("0.0102", "mg"))) == "10.2 mcg"
    assert fmt(u.readable(q("13499.99", "mg"))) == "13.49999 g"
    assert fmt(u.readable(q("0.01", "mg/g"))) == "10 mcg/g"
    assert fmt(u.readable(q("100", "mg/g"))) == "100 mg/g"
    assert fmt(u.readable(q("500", "mcg/mL"))) == "0.5 mg/mL"
    assert fmt(u.readable(q("0.45", "g/mL"))) == "0.45 g/mL"
    assert fmt(u.readable(q("4.31", "mL"))) == "4.31 mL"



def test_twelve_digits_either_side_of_the_point_are_accepted():
    assert parse("999,999,999,999 g").value == Decimal("999999999999")
    assert parse("000000000000000001 mg").value == Decimal("1")
    assert parse("0.000000000001 mg").value == Decimal("0.000000000001")
