"""Balances on a pseudo-terminal (issue 16): MT-SICS, A&D and OHAUS lines, stable readings,
unit conversion, and the refusals (unstable, overload, wrong unit, noise, below the MWQ)."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from balance_sim import SimBalance
from compounding.devices.balances import (BalanceError, parse_ad, parse_mt_sics, parse_ohaus,
                                          read_balance)
from compounding.errors import InputError
from compounding.formulas import validation_messages
from compounding.settings import Settings


def settings(port, protocol, **extra):
    spec = {"port": port, "protocol": protocol, "readability": "0.1 mg",
            "min_weighable": "10 mg", "timeout": 1}
    if protocol != "mt-sics":
        spec["serial_number"] = "AD-0042"
    spec.update(extra)
    return Settings.model_validate({"balances": {"bench-1": spec}})


@pytest.mark.parametrize("parse, line, status, value, unit", [
    (parse_mt_sics, "S S      0.12345 g", "stable", "0.12345", "g"),
    (parse_mt_sics, "S D      0.12 g", "unstable", "0.12", "g"),
    (parse_mt_sics, "S S     -1.5 g", "stable", "-1.5", "g"),
    (parse_mt_sics, "S +", "overload", None, None),
    (parse_mt_sics, "S -", "underload", None, None),
    (parse_mt_sics, "S I", "busy", None, None),
    (parse_mt_sics, "ES", "error", None, None),
    (parse_mt_sics, "S S      1e3 g", "other", None, None),
    (parse_mt_sics, "S S      NaN g", "other", None, None),
    (parse_mt_sics, "S S      \u0661.5 g", "other", None, None),
    (parse_ad, "ST,+00123.45  g", "stable", "123.45", "g"),
    (parse_ad, "US,+00123.40  g", "unstable", "123.40", "g"),
    (parse_ad, "ST,-00000.10  g", "stable", "-0.10", "g"),
    (parse_ad, "OL,+9999999E+19", "overload", None, None),
    (parse_ad, "QT,+00000012 PC", "other", None, None),
    (parse_ad, "ST,+0012.345 mg", "stable", "12.345", "mg"),
    (parse_ohaus, "     192.21 g", "stable", "192.21", "g"),
    (parse_ohaus, "       0.01 g ?", "unstable", "0.01", "g"),
    (parse_ohaus, "      0.211 kg ?", "unstable", "0.211", "kg"),
    (parse_ohaus, "     12.50 g    N", "stable", "12.50", "g"),
    (parse_ohaus, "     207.80 g TOTAL", "other", None, None),
    (parse_ohaus, "   -OL-", "overload", None, None),
    (parse_ohaus, "ST,+00012.34  g", "stable", "12.34", "g"),
    (parse_ohaus, "OL,+9999999E+19", "overload", None, None),
])
def test_parse_lines(parse, line, status, value, unit):
    got = parse(line)
    assert (got.status, got.value, got.unit) == (status, Decimal(value) if value else None, unit)


@pytest.mark.parametrize("mode, protocol, replies, garbage, grams", [
    # MT-SICS: busy once (still settling), then stable
    ("command", "mt-sics", ["S I", "S S      0.12345 g"], b"", "0.12345"),
    # MT-SICS reporting in mg; in kg (converted exactly)
    ("command", "mt-sics", ["S S    123.4 mg"], b"", "0.1234"),
    ("command", "mt-sics", ["S S    0.0125 kg"], b"", "12.5"),
    # A&D stream: unstable, then two equal stable lines; a cut line first
    ("stream", "ad", ["US,+00012.30  g", "ST,+00012.34  g", "ST,+00012.34  g"], b"34  g\r\n",
     "12.34"),
    # noisy A&D stream: garbled and non-ASCII lines between readings are skipped; one stable
    # line alone is not enough (the second one differs), the repeated one is taken
    ("stream", "ad", ["ST,+00012.84  g", "\xff\xfeST,+000", "ST,+00012.34  g",
                      "S#,+0001?.34", "ST,+00012.34  g", "ST,+00012.34  g"], b"", "12.34"),
    # OHAUS on request (IP): the first reply is dropped, unstable, then stable twice
    ("command", "ohaus", ["   12.3456 g ?", "   12.3456 g ?", "   12.3457 g"], b"", "12.3457"),
    ("stream", "ohaus", ["   0.5000 g   N"], b"", "0.5000"),
])
def test_stable_reading(mode, protocol, replies, garbage, grams):
    with SimBalance(mode, replies, garbage=garbage) as sim:
        r = read_balance(settings(sim.port, protocol), "bench-1")
    assert r.quantity.to("g").value == Decimal(grams)
    assert r.balance == "bench-1"
    assert r.serial_number == ("B123456789" if protocol == "mt-sics" else "AD-0042")


def test_mt_sics_sends_identify_then_weigh():
    with SimBalance("command", ["S S      0.5000 g"]) as sim:
        r = read_balance(settings(sim.port, "mt-sics", serial_number="B123456789"), "bench-1")
        received = sim.received
    assert received == b"I4\r\nS\r\n"
    assert r.as_json() == {"balance": "bench-1", "serial_number": "B123456789",
                           "protocol": "mt-sics", "model": None,
                           "quantity": {"amount": "0.5", "unit": "g"}, "text": "0.5 g",
                           "line": "S S      0.5000 g"}


@pytest.mark.parametrize("mode, protocol, replies, extra, message", [
    ("command", "mt-sics", ["S +"], {},
     "balance bench-1: overload ('S +'): the load is above the balance's capacity"),
    ("command", "mt-sics", ["S -"], {},
     "balance bench-1: underload ('S -'): put the weighing pan back, re-zero and weigh again"),
    ("command", "mt-sics", ["S I"], {},
     "balance bench-1: no stable reading within 1 s; it sent no usable reading (check the "
     "draft shield, the cable and the port settings)"),
    ("command", "mt-sics", ["S D      0.51 g", "S D      0.52 g"], {},
     "balance bench-1: no stable reading within 1 s; last reading 'S D      0.52 g' was "
     "unstable (check the draft shield, the cable and the port settings)"),
    ("stream", "ad", ["US,+00012.34  g"], {},
     "balance bench-1: no stable reading within 1 s; last reading 'US,+00012.34  g' was "
     "unstable (check the draft shield, the cable and the port settings)"),
    # a stable value that never repeats (noise on the line): never taken
    ("stream", "ad", ["ST,+00012.30  g", "ST,+00012.34  g"], {},
     "balance bench-1: no stable reading within 1 s; it sent no usable reading (check the "
     "draft shield, the cable and the port settings)"),
    ("stream", "ad", ["OL,+9999999E+19"], {},
     "balance bench-1: overload ('OL,+9999999E+19'): the load is above the balance's capacity"),
    ("stream", "ohaus", ["     12.3456 oz"], {},
     "balance bench-1: sends weights in 'oz'; set the balance to grams (g) or milligrams (mg)"),
    ("command", "mt-sics", ["S S      0.0000 g"], {},
     "balance bench-1: reads 'S S      0.0000 g': a weight must be above zero (tare the "
     "container, then add the ingredient)"),
    ("command", "mt-sics", ["S S     -0.0021 g"], {},
     "balance bench-1: reads 'S S     -0.0021 g': a weight must be above zero (tare the "
     "container, then add the ingredient)"),
    ("command", "mt-sics", ["S S      0.0021 g"], {},
     "balance bench-1: 0.0021 g is below this balance's minimum weighable quantity 10 mg "
     "(USP <1176>); weigh on a more sensitive balance or use the aliquot method"),
    ("command", "mt-sics", ["S S      1.0 g"], {"serial_number": "OTHER-1"},
     "balance bench-1: the balance on {port} reports serial number 'B123456789', the "
     "settings say 'OTHER-1': is another balance on this port?"),
])
def test_refused(mode, protocol, replies, extra, message):
    with SimBalance(mode, replies) as sim:
        with pytest.raises(BalanceError) as exc:
            read_balance(settings(sim.port, protocol, **extra), "bench-1")
    assert str(exc.value) == message.format(port=sim.port)


def test_mt_sics_without_serial_number_anywhere():
    with SimBalance("command", ["S S      1.0 g"], serial=None) as sim:
        with pytest.raises(BalanceError) as exc:
            read_balance(settings(sim.port, "mt-sics"), "bench-1")
    assert str(exc.value) == ("balance bench-1: no serial number: the balance did not report "
                              "one (MT-SICS I4); set serial_number in its settings")


def test_mt_sics_serial_from_settings_when_not_reported():
    with SimBalance("command", ["S S      1.0 g"], serial=None) as sim:
        r = read_balance(settings(sim.port, "mt-sics", serial_number="MT-77"), "bench-1")
    assert r.serial_number == "MT-77"


def test_unknown_balance_and_missing_port(tmp_path):
    s = settings(str(tmp_path / "ttyUSB9"), "mt-sics")
    with pytest.raises(InputError) as exc:
        read_balance(s, "bench-2")
    assert str(exc.value) == "--from-balance: unknown balance 'bench-2'; known: bench-1"
    with pytest.raises(BalanceError) as exc:
        read_balance(s, "bench-1")
    assert str(exc.value).startswith(f"balance bench-1: cannot open port {tmp_path}/ttyUSB9: ")


@pytest.mark.parametrize("spec, problem", [
    ({"protocol": "ad"}, "balances.b.serial_number: required for a ad balance (it does not "
                         "report its own; it is recorded with every weighing)"),
    ({"baudrate": 9601}, "balances.b.baudrate: 9601 is not a balance baud rate; allowed: 1200, "
                         "2400, 4800, 9600, 19200, 38400, 57600, 115200"),
    ({"protocol": "sartorius"}, "balances.b.protocol: Input should be 'mt-sics', 'ad' or "
                                "'ohaus'"),
    ({"min_weighable": "0.05 mg"}, "balances.b: min_weighable is below readability"),
    ({"readability": "0.1"}, "balances.b.readability: '0.1': a unit is required (e.g. mg, "
                             "mcg, mL, mg/mL)"),
    ({"timeout": "nan"}, "balances.b.timeout: Input should be a finite number"),
    ({"timeout": 0}, "balances.b.timeout: Input should be greater than 0"),
    ({"serial_number": "AB\u200bC"}, "balances.b.serial_number: String should match pattern "
                                     "'^[\\x21-\\x7e]+(?: [\\x21-\\x7e]+)*$'"),
])
def test_settings_refused(spec, problem):
    base = {"port": "/dev/ttyUSB0", "protocol": "mt-sics", "readability": "0.1 mg",
            "min_weighable": "10 mg"}
    base.update(spec)
    with pytest.raises(ValidationError) as exc:
        Settings.model_validate({"balances": {"b": base}})
    assert [f"{loc}: {msg}" for loc, msg in validation_messages(exc.value)] == [problem]
