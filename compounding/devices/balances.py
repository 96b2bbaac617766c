"""What a balance said, turned into a typed reading: :func:`read_balance` -> :class:`Reading`.

Why: a weight a person reads off a display and types is a weight that can be mistyped
(a 0.4 mg dose that contained 450 mg, shared/DOMAIN.md). A balance connected by its
serial port sends the number itself, with its own judgement of stability.

Protocols (shared/DOMAIN.md, "Printing and scanning"; the makers' interface manuals):

``mt-sics``
    Mettler Toledo Standard Interface Command Set, level 0. We send ``S`` (send a stable
    weight); the balance answers ``S S <value> <unit>`` when stable, ``S I`` when it cannot
    (still moving after its own timeout, busy), ``S +`` / ``S -`` over or under its range;
    ``ES`` / ``ET`` / ``EL`` are syntax, transmission and logical errors. ``I4`` asks for the
    serial number (``I4 A "<serial>"``), checked against the settings.
``ad``
    A&D standard format, continuous ("stream") or on request (command ``Q``):
    ``ST,+00123.45  g`` with the header ``ST`` stable, ``US`` unstable, ``OL`` overload,
    ``QT`` counting mode (refused).
``ohaus``
    OHAUS print format, continuous or on request (command ``IP``, immediate print):
    ``    123.45 g  `` stable, ``    123.45 g ?`` unstable (the ``?`` is the instability
    indicator), an optional legend ``G`` / ``N`` / ``NET``; accumulated ``TOTAL`` lines and
    lines that are not a weight are skipped. Overload prints no weight (``OL``, ``O-L``,
    ``-OL-``) and is refused.

Rules kept here (conservative; every refusal is a :class:`BalanceError`, one line):

- only a reading the balance calls stable is taken; a continuous balance must send the
  *same* stable value twice in a row (one garbled line on a noisy cable is never taken),
  and the first line after opening the port is dropped (it may be the tail of a line);
- no stable reading within the timeout, overload, underload, a negative or zero weight,
  and a unit other than g, mg or kg (ounces, grains, carats, pieces, percent) are refused:
  set the balance to grams;
- numbers are read strictly (ASCII digits and one point): no exponent, NaN or other script
  digits, however the line was corrupted; the value becomes a ``Decimal``, never a float;
- a reading below the balance's minimum weighable quantity (USP <1176>: for a 5% error,
  MWQ = sensitivity / 0.05) is refused by :func:`check_reading`.

No store access: the caller records the reading with the weighing. Time (seconds) is
float arithmetic on the monotonic clock: a duration, not a dose.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from decimal import Decimal

from .. import units as u
from ..errors import CompoundingError, InputError

PROTOCOLS = ("mt-sics", "ad", "ohaus")
PROTOCOL_NAMES = {"mt-sics": "Mettler Toledo MT-SICS", "ad": "A&D standard format",
                  "ohaus": "OHAUS print format"}
#: Weight units a reading may come in and their exact factor to the unit we keep.
UNIT_FACTORS = {"g": ("g", Decimal(1)), "mg": ("mg", Decimal(1)),
                "kg": ("g", Decimal(1000))}
#: The on-demand print request each protocol sends when the balance is silent.
REQUESTS = {"mt-sics": b"S\r\n", "ad": b"Q\r\n", "ohaus": b"IP\r\n"}
#: Seconds of silence before a request is sent (again).
REQUEST_AFTER_S = 0.5  # float-ok: seconds
#: Least seconds between requests after an unstable line.
REASK_S = 0.25  # float-ok: seconds
#: Seconds to wait for the MT-SICS serial number (I4) answer.
IDENTIFY_TIMEOUT_S = 2.0  # float-ok: seconds
#: Longest line a balance sends; a longer run without a line end is noise.
MAX_LINE = 120

_NUMBER = r"[+-]?\s*[0-9]+(?:\.[0-9]+)?"


class BalanceError(CompoundingError, RuntimeError):
    """A balance that could not give a usable reading (exit code 1). Fields: ``balance``
    (the settings name) and ``reason`` (one of ``timeout``, ``unstable``, ``overload``,
    ``underload``, ``unit``, ``value``, ``port``, ``in-use``, ``identity``, ``config``,
    ``below-mwq``)."""

    def __init__(self, balance: str, reason: str, message: str):
        super().__init__(f"balance {balance}: {message}", balance=balance, reason=reason)


@dataclass(frozen=True)
class Line:
    """One line from a balance, parsed: ``status`` is ``stable``, ``unstable``,
    ``overload``, ``underload``, ``busy``, ``error``, ``serial`` or ``other`` (not a
    weight: skipped)."""

    status: str
    value: Decimal | None = None
    unit: str | None = None
    text: str = ""


def _number(text: str) -> Decimal:
    return Decimal(re.sub(r"\s+", "", text))


_MT_WEIGHT = re.compile(rf"S\s+([SD])\s+({_NUMBER})\s+(\S+)")
_MT_SERIAL = re.compile(r'I4\s+A\s+"([^"]*)"')


def parse_mt_sics(text: str) -> Line:
    """One MT-SICS response line (without its CR LF)."""
    s = text.strip()
    m = _MT_WEIGHT.fullmatch(s)
    if m:
        return Line("stable" if m[1] == "S" else "unstable", _number(m[2]), m[3], s)
    m = _MT_SERIAL.fullmatch(s)
    if m:
        return Line("serial", unit=m[1], text=s)
    if re.fullmatch(r"S\s+\+", s):
        return Line("overload", text=s)
    if re.fullmatch(r"S\s+-", s):
        return Line("underload", text=s)
    if re.fullmatch(r"S\s+I", s):
        return Line("busy", text=s)
    if s in ("ES", "ET", "EL"):
        return Line("error", text=s)
    return Line("other", text=s)


_AD = re.compile(rf"(ST|US|OL|QT|WT),\s*({_NUMBER})?\s*([A-Za-z%]*)\s*")


def parse_ad(text: str) -> Line:
    """One A&D standard-format line: ``ST,+00123.45  g``."""
    s = text.strip()
    m = _AD.fullmatch(s)
    if not m:
        if s.startswith("OL"):
            return Line("overload", text=s)
        return Line("other", text=s)
    head, num, unit = m[1], m[2], m[3]
    if head == "OL":
        return Line("overload", text=s)
    if head == "QT":
        return Line("other", text=s)  # counting mode: pieces, not a weight
    if num is None or not unit:
        return Line("other", text=s)
    return Line("stable" if head in ("ST", "WT") else "unstable", _number(num), unit, s)


_OHAUS = re.compile(rf"({_NUMBER})\s+([A-Za-z%:]+)\s*(\?)?\s*(G|N|NET|B/G|GROSS)?")


def parse_ohaus(text: str) -> Line:
    """One OHAUS print line: ``    123.45 g`` (stable) or ``    123.45 g ?`` (unstable).
    Models set to an A&D-compatible output send ``ST,`` / ``US,`` / ``OL,`` lines (DOMAIN:
    "A&D and OHAUS print ... a stability flag"): those are read as :func:`parse_ad` does."""
    s = text.strip()
    if re.match(r"(ST|US|OL|QT|WT),", s):
        return parse_ad(s)
    m = _OHAUS.fullmatch(s)
    if m:
        return Line("unstable" if m[3] else "stable", _number(m[1]), m[2], s)
    if re.search(r"(^|[^A-Za-z])(-?O-?L-?)([^A-Za-z]|$)|OVERLOAD", s, re.I):
        return Line("overload", text=s)
    if re.search(r"UNDERLOAD|(^|[^A-Za-z])-?U-?L-?([^A-Za-z]|$)", s, re.I):
        return Line("underload", text=s)
    return Line("other", text=s)


PARSERS = {"mt-sics": parse_mt_sics, "ad": parse_ad, "ohaus": parse_ohaus}


@dataclass(frozen=True)
class Reading:
    """A stable weight from a named balance: ``quantity`` in g or mg exactly as the balance
    sent it (kg converted to g), ``line`` the raw line, ``serial_number`` the balance's own
    (MT-SICS ``I4``) or the one in the settings."""

    balance: str
    serial_number: str
    protocol: str
    quantity: u.Quantity
    line: str
    model: str | None = None

    def as_json(self) -> dict:
        return {"balance": self.balance, "serial_number": self.serial_number,
                "protocol": self.protocol, "model": self.model,
                "quantity": self.quantity.as_json(), "text": u.fmt(self.quantity),
                "line": self.line}


def to_quantity(balance: str, line: Line) -> u.Quantity:
    """A stable line's weight as a Quantity; refuses other units and non-positive values."""
    unit = line.unit or ""
    if unit not in UNIT_FACTORS:
        raise BalanceError(balance, "unit", f"sends weights in {unit!r}; set the balance to "
                           "grams (g) or milligrams (mg)")
    if line.value is None or line.value <= 0:
        raise BalanceError(balance, "value", f"reads {line.text!r}: a weight must be above "
                           "zero (tare the container, then add the ingredient)")
    target, factor = UNIT_FACTORS[unit]
    return u.q(line.value * factor, target)


class _LineReader:
    """Lines from a pyserial-like port (``read(n)``, ``write(b)``, ``timeout``)."""

    def __init__(self, port):
        self.port = port
        self.buf = b""

    def line(self, wait: float) -> str | None:  # float-ok: seconds
        """The next complete line within ``wait`` seconds, or None. A line with bytes that
        are not printable ASCII, or a run longer than :data:`MAX_LINE` without a line end,
        comes back as '' (unreadable: the caller skips it)."""
        end = time.monotonic() + max(wait, 0.0)
        while True:
            m = re.search(rb"[\r\n]", self.buf)
            if m:
                raw, self.buf = self.buf[:m.start()], self.buf[m.end():]
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("ascii")
                except UnicodeDecodeError:
                    return ""
                return "" if any(not " " <= c <= "~" for c in text) else text
            if len(self.buf) > MAX_LINE:
                self.buf = b""
                return ""
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.port.timeout = min(left, 0.1)
            chunk = self.port.read(1)
            if chunk:
                waiting = getattr(self.port, "in_waiting", 0)
                if waiting:
                    chunk += self.port.read(waiting)
                self.buf += chunk


def identify_mt_sics(port, balance: str, wait: float = IDENTIFY_TIMEOUT_S) -> str | None:  # float-ok: seconds
    """Ask an MT-SICS balance for its serial number (``I4``); None if it does not answer."""
    reader = _LineReader(port)
    port.write(b"I4\r\n")
    end = time.monotonic() + wait
    while (left := end - time.monotonic()) > 0:
        text = reader.line(left)
        if text is None:
            return None
        ln = parse_mt_sics(text)
        if ln.status == "serial":
            return ln.unit.strip() or None
        if ln.status == "error" or text.strip().startswith("I4 I"):
            return None
    return None


def read_stable(port, protocol: str, balance: str, timeout: float) -> tuple[u.Quantity, str]:  # float-ok: seconds
    """Read until the balance gives a stable weight; return (quantity, raw line).

    ``port`` is an open pyserial port (or anything with ``read``, ``write``, ``timeout``,
    ``reset_input_buffer``). Raises :class:`BalanceError` on overload, underload, a unit
    that is not a mass, or no stable reading within ``timeout`` seconds (naming the last
    unstable value seen).
    """
    if protocol not in PARSERS:
        raise BalanceError(balance, "config", f"unknown protocol {protocol!r}; allowed: "
                           f"{', '.join(PROTOCOLS)}")
    parse = PARSERS[protocol]
    continuous = protocol != "mt-sics"
    reader = _LineReader(port)
    try:
        port.reset_input_buffer()
    except (AttributeError, OSError):
        pass
    start = time.monotonic()
    deadline = start + timeout
    request = REQUESTS[protocol]
    port.write(request)
    last_request = time.monotonic()
    first = continuous  # drop the first line of a stream: it may be a line's tail
    last_unstable: Line | None = None
    previous: Line | None = None
    while (left := deadline - time.monotonic()) > 0:
        text = reader.line(min(left, REQUEST_AFTER_S))
        if text is None:  # silent: ask (again)
            if time.monotonic() - last_request >= REQUEST_AFTER_S:
                port.write(request)
                last_request = time.monotonic()
            continue
        if first:  # dropped; ask at once for a whole line (an on-demand balance waits)
            first = False
            port.write(request)
            last_request = time.monotonic()
            continue
        ln = parse(text) if text else Line("other")
        if ln.status == "overload":
            raise BalanceError(balance, "overload", f"overload ({text.strip()!r}): the load is "
                               "above the balance's capacity")
        if ln.status == "underload":
            raise BalanceError(balance, "underload", f"underload ({text.strip()!r}): put the "
                               "weighing pan back, re-zero and weigh again")
        if ln.status == "unstable":
            last_unstable, previous = ln, None
            # ask again (MT-SICS answered SI-style; an on-demand balance waits to be asked),
            # at most every REASK_S seconds so a streaming balance is not flooded
            if not continuous or time.monotonic() - last_request >= REASK_S:
                port.write(request)
                last_request = time.monotonic()
            continue
        if ln.status in ("busy", "error"):
            previous = None
            port.write(request)
            last_request = time.monotonic()
            continue
        if ln.status != "stable":
            previous = None
            continue
        if not continuous:
            return to_quantity(balance, ln), ln.text
        if previous is not None and previous.value == ln.value and previous.unit == ln.unit:
            return to_quantity(balance, ln), ln.text
        previous = ln
        port.write(request)  # the confirming line (an on-demand balance waits to be asked)
        last_request = time.monotonic()
    seen = (f"; last reading {last_unstable.text.strip()!r} was unstable"
            if last_unstable is not None else "; it sent no usable reading")
    raise BalanceError(balance, "timeout", f"no stable reading within {timeout:g} s{seen} "
                       "(check the draft shield, the cable and the port settings)")


def check_reading(reading: Reading, min_weighable: u.Quantity) -> None:
    """Refuse a reading below the balance's minimum weighable quantity (USP <1176>)."""
    if reading.quantity < min_weighable:
        raise BalanceError(reading.balance, "below-mwq",
                           f"{u.fmt(reading.quantity)} is below this balance's minimum "
                           f"weighable quantity {u.fmt(min_weighable)} (USP <1176>); weigh "
                           "on a more sensitive balance or use the aliquot method")


def open_port(spec, balance: str):
    """Open the balance's port with pyserial (a device path such as ``/dev/ttyUSB0`` or
    ``COM3``, or a pyserial URL such as ``socket://10.0.0.5:4001`` for a serial server)."""
    import serial

    try:
        # exclusive: one reader at a time (pyserial flock()s the port on POSIX; Windows ports
        # are exclusive anyway), so two weighings, at the bench and the CLI or two bench
        # clients, never share one balance's replies
        return serial.serial_for_url(
            spec.port, baudrate=spec.baudrate, bytesize=spec.bytesize,
            parity={"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN,
                    "odd": serial.PARITY_ODD}[spec.parity],
            stopbits=spec.stopbits, timeout=0.1, write_timeout=2,
            xonxoff=spec.handshake == "xon-xoff", rtscts=spec.handshake == "rts-cts",
            exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        if "exclusively lock" in str(exc):
            raise BalanceError(balance, "in-use", f"port {spec.port} is in use: another weighing "
                               "is reading this balance; try again when it is done") from None
        raise BalanceError(balance, "port", f"cannot open port {spec.port}: {exc}") from None


def read_balance(settings, name: str, *, timeout: float | None = None, port=None) -> Reading:  # float-ok: seconds
    """The stable reading of the balance ``name`` in ``settings.balances``.

    The public entry for the CLI and the bench. Opens the port from the settings (or uses
    ``port``, an already-open pyserial-like object, for tests), checks the balance's serial
    number (MT-SICS ``I4`` against ``serial_number`` in the settings, when both exist),
    waits up to ``timeout`` seconds (default: the balance's ``timeout`` setting) for a stable
    weight and refuses a reading below the balance's minimum weighable quantity.

    Raises :class:`~compounding.errors.InputError` for an unknown balance name and
    :class:`BalanceError` for everything the balance does wrong.
    """
    balances = getattr(settings, "balances", {}) or {}
    spec = balances.get(name)
    if spec is None:
        known = ", ".join(sorted(balances)) or "none; add a [balances.NAME] table to the settings"
        shown = repr(name) if len(str(name)) <= 40 else \
            f"{str(name)[:40]!r}... ({len(str(name))} characters)"
        raise InputError(f"--from-balance: unknown balance {shown}; known: {known}")
    wait = float(spec.timeout) if timeout is None else timeout  # float-ok: seconds
    own = port is None
    if own:
        port = open_port(spec, name)
    try:
        serial_number = spec.serial_number
        if spec.protocol == "mt-sics":
            reported = identify_mt_sics(port, name)
            if reported and spec.serial_number and reported != spec.serial_number:
                raise BalanceError(name, "identity", f"the balance on {spec.port} reports "
                                   f"serial number {reported!r}, the settings say "
                                   f"{spec.serial_number!r}: is another balance on this port?")
            serial_number = reported or spec.serial_number
        if not serial_number:
            raise BalanceError(name, "identity", "no serial number: the balance did not report "
                               "one (MT-SICS I4); set serial_number in its settings")
        try:
            qty, line = read_stable(port, spec.protocol, name, wait)
        except OSError as exc:
            raise BalanceError(name, "port", f"port {spec.port} failed: {exc}") from None
    except OSError as exc:
        raise BalanceError(name, "port", f"port {spec.port} failed: {exc}") from None
    finally:
        if own:
            port.close()
    reading = Reading(balance=name, serial_number=serial_number, protocol=spec.protocol,
                      quantity=qty, line=line.strip(), model=spec.model)
    check_reading(reading, spec.min_weighable)
    return reading
