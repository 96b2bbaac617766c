"""Calendar dates: one strict parser and one safe formatter for the whole package.

Why this module exists: a date on a medication label or worksheet that a reader can
misread is a patient-safety problem. All-numeric dates are read day-first in the UK and
month-first in the US (ISMP error-prone abbreviations), so every date a person reads is
printed with a month name: ``23 MAY 2027``. Every date a person types is ISO 8601
(``YYYY-MM-DD``), and nothing else is guessed at: ``3/4/2026`` is refused, not read.

Pure functions, standard library only (no clock: callers pass the dates in).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

from .errors import InputError

#: English month abbreviations, fixed here rather than taken from ``strftime("%b")``,
#: which follows the process locale (``mai`` in French, ``Mär`` in German).
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")  # ASCII digits only (\d reads ٢٠٢٦ as 2026)
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")


def _where(field: str | None) -> str:
    return f"{field}: " if field else ""


def _real_date(year: int, month: int, day: int, text: str, field: str | None) -> date:
    if not 1 <= month <= 12:
        raise InputError(f"{_where(field)}{text!r} is not a date: there is no month {month:02d}")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise InputError(f"{_where(field)}{text!r} is not a date: {MONTHS[month - 1]} {year:04d} "
                         f"has {last} days")
    if year < 1:
        raise InputError(f"{_where(field)}{text!r} is not a date: there is no year 0000")
    return date(year, month, day)


def _as_text(text, field: str | None) -> str:
    if not isinstance(text, str):
        raise InputError(f"{_where(field)}{text!r} is not a date; use YYYY-MM-DD")
    return text.strip()


def parse_date(text: str, field: str | None = "date") -> date:
    """Parse a strict ISO date ``YYYY-MM-DD`` (e.g. ``2026-03-01``).

    Anything else (``2026-3-1``, ``01/03/2026``, ``2026-02-30``, a time) raises a one-line
    :class:`InputError` naming ``field``.
    """
    s = _as_text(text, field)
    m = _DATE_RE.fullmatch(s)
    if not m:
        raise InputError(f"{_where(field)}{s!r} is not a date; use YYYY-MM-DD (e.g. 2026-03-01)")
    return _real_date(int(m[1]), int(m[2]), int(m[3]), s, field)


def parse_expiry(text: str, field: str | None = "expiry") -> date:
    """Parse an expiry date: ``YYYY-MM-DD``, or ``YYYY-MM`` meaning the LAST day of that month.

    A month-only expiry (``EXP 05/2027``) runs to the end of that month (issue 4 and
    shared/DOMAIN.md; the same convention as GS1 AI (17) with DD = 00), so ``2027-05`` is
    31 May 2027.
    """
    s = _as_text(text, field)
    if _DATE_RE.fullmatch(s):
        return parse_date(s, field)
    m = _MONTH_RE.fullmatch(s)
    if not m:
        raise InputError(f"{_where(field)}{s!r} is not an expiry; use YYYY-MM-DD, or YYYY-MM "
                         "for the last day of that month")
    year, month = int(m[1]), int(m[2])
    if not 1 <= month <= 12:
        raise InputError(f"{_where(field)}{s!r} is not an expiry: there is no month {month:02d}")
    if year < 1:
        raise InputError(f"{_where(field)}{s!r} is not an expiry: there is no year 0000")
    return last_day_of_month(year, month)


def format_date(d: date | str) -> str:
    """``23 MAY 2027``: two-digit day, upper-case English month, four-digit year.

    Safe for US and UK readers alike (ISMP: never an all-numeric date on a label). Takes a
    date, or the ISO text the store keeps (``2027-05-23``, or a ``...T12:00:00Z`` stamp).
    """
    if isinstance(d, str):
        d = date.fromisoformat(d[:10])
    return f"{d.day:02d} {MONTHS[d.month - 1]} {d.year:04d}"


def iso(d: date) -> str:
    """``2027-05-23`` (for JSON and files; people get :func:`format_date`)."""
    return d.isoformat()


def last_day_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(d: date, n: int) -> date:
    """The same day of the month ``n`` calendar months later (or earlier, for ``n < 0``).

    When that day does not exist in the target month it is clamped to the month's last day:
    ``add_months(2026-01-31, 1) == 2026-02-28``; ``add_months(2028-02-29, 12) == 2029-02-28``.
    """
    if isinstance(d, datetime):
        raise TypeError("add_months takes a date, not a datetime")
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise off_calendar(d, f"{n} months")
    day = min(d.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def off_calendar(d: date, span: str) -> InputError:
    """The one error for a date that runs off the calendar (issue 11): before 01 JAN 0001 or
    after 31 DEC 9999, the range the software can print and store."""
    return InputError(f"date: {span} from {format_date(d)} runs off the calendar (dates "
                      f"must fall between {format_date(date.min)} and {format_date(date.max)})"
                      "; check the date given", field="date")


def add_days(d: date, n: int) -> date:
    """``d`` plus ``n`` days; one :class:`InputError` line when that leaves the calendar."""
    try:
        return d + timedelta(days=n)
    except OverflowError:
        raise off_calendar(d, f"{n} days") from None


def inclusive_days(start: date, end: date) -> int:
    """Days from ``start`` to ``end`` counting both: the same day is 1 (USP <795> 10.3 day 1)."""
    return (end - start).days + 1
