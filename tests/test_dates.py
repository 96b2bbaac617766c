"""Dates: strict ISO parsing (one clear line naming the field), month-only expiries, the
ISMP-safe printed form, and calendar-month arithmetic (clamping, leap years)."""

from datetime import date, datetime

import pytest

from compounding.dates import (MONTHS, add_days, add_months, format_date, inclusive_days,
                               last_day_of_month, parse_date, parse_expiry)
from compounding.errors import InputError


@pytest.mark.parametrize("text, expected", [
    ("2026-03-01", date(2026, 3, 1)),
    (" 2028-02-29 ", date(2028, 2, 29)),
    ("1999-12-31", date(1999, 12, 31)),
])
def test_parse_date_accepts_iso(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text, message", [
    ("2026-3-1", "--compounded: '2026-3-1' is not a date; use YYYY-MM-DD (e.g. 2026-03-01)"),
    ("01/03/2026", "--compounded: '01/03/2026' is not a date; use YYYY-MM-DD (e.g. 2026-03-01)"),
    ("2026-03", "--compounded: '2026-03' is not a date; use YYYY-MM-DD (e.g. 2026-03-01)"),
    ("2026-03-01T10:00", "--compounded: '2026-03-01T10:00' is not a date; use YYYY-MM-DD "
                         "(e.g. 2026-03-01)"),
    ("", "--compounded: '' is not a date; use YYYY-MM-DD (e.g. 2026-03-01)"),
    ("2026-02-29", "--compounded: '2026-02-29' is not a date: FEB 2026 has 28 days"),
    ("2026-04-31", "--compounded: '2026-04-31' is not a date: APR 2026 has 30 days"),
    ("2026-13-01", "--compounded: '2026-13-01' is not a date: there is no month 13"),
    ("2026-00-10", "--compounded: '2026-00-10' is not a date: there is no month 00"),
    ("0000-01-01", "--compounded: '0000-01-01' is not a date: there is no year 0000"),
    # attack on issue 11: regex \d took Arabic-Indic digits, so `bud --compounded
    # ٢٠٢٦-١١-٢٥` was dated 25 NOV 2026; only the ASCII digits 0-9 are a date
    ("\u0662\u0660\u0662\u0666-\u0661\u0661-\u0662\u0665",
     "--compounded: '\u0662\u0660\u0662\u0666-\u0661\u0661-\u0662\u0665' is not a date; "
     "use YYYY-MM-DD (e.g. 2026-03-01)"),
    ("\u0968\u0966\u0968\u096c-11-25", "--compounded: '\u0968\u0966\u0968\u096c-11-25' is "
     "not a date; use YYYY-MM-DD (e.g. 2026-03-01)"),
])
def test_parse_date_refuses_with_one_line_naming_the_field(text, message):
    with pytest.raises(InputError) as exc:
        parse_date(text, field="--compounded")
    assert str(exc.value) == message
    assert "\n" not in str(exc.value)
    assert exc.value.exit_code == 2


def test_parse_date_refuses_non_text():
    with pytest.raises(InputError):
        parse_date(None, field="x")


@pytest.mark.parametrize("text, expected", [
    ("2027-05", date(2027, 5, 31)),       # month only: the last day of the month
    ("2027-05-15", date(2027, 5, 15)),
    ("2028-02", date(2028, 2, 29)),       # leap year
    ("2027-02", date(2027, 2, 28)),
    ("2026-04", date(2026, 4, 30)),
    ("2026-12", date(2026, 12, 31)),
])
def test_parse_expiry(text, expected):
    assert parse_expiry(text) == expected


@pytest.mark.parametrize("text, message", [
    ("05/2027", "lot: '05/2027' is not an expiry; use YYYY-MM-DD, or YYYY-MM for the last "
                "day of that month"),
    ("2027-5", "lot: '2027-5' is not an expiry; use YYYY-MM-DD, or YYYY-MM for the last "
               "day of that month"),
    ("2027-13", "lot: '2027-13' is not an expiry: there is no month 13"),
    ("2027-02-30", "lot: '2027-02-30' is not a date: FEB 2027 has 28 days"),
    ("\u0662\u0660\u0662\u0668-\u0660\u0661", "lot: '\u0662\u0660\u0662\u0668-"
     "\u0660\u0661' is not an expiry; use YYYY-MM-DD, or YYYY-MM for the last day of that "
     "month"),
])
def test_parse_expiry_refuses(text, message):
    with pytest.raises(InputError) as exc:
        parse_expiry(text, field="lot")
    assert str(exc.value) == message


@pytest.mark.parametrize("d, text", [
    (date(2027, 5, 23), "23 MAY 2027"),
    (date(2026, 12, 8), "08 DEC 2026"),
    (date(2026, 1, 1), "01 JAN 2026"),
    (date(2028, 2, 29), "29 FEB 2028"),
])
def test_format_date_is_ismp_safe(d, text):
    assert format_date(d) == text


def test_format_date_ignores_locale_month_names():
    assert MONTHS == ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                      "NOV", "DEC")
    assert [format_date(date(2026, m, 1))[3:6] for m in range(1, 13)] == list(MONTHS)


@pytest.mark.parametrize("d, n, expected", [
    (date(2026, 3, 1), 12, date(2027, 3, 1)),
    (date(2026, 1, 31), 1, date(2026, 2, 28)),      # clamped to the month's last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),      # leap year
    (date(2028, 2, 29), 12, date(2029, 2, 28)),     # no 29 FEB 2029
    (date(2028, 2, 29), 48, date(2032, 2, 29)),
    (date(2026, 11, 15), 2, date(2027, 1, 15)),     # over a year end
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
    (date(2026, 3, 1), 0, date(2026, 3, 1)),
])
def test_add_months(d, n, expected):
    assert add_months(d, n) == expected


def test_add_months_refuses_a_datetime():
    with pytest.raises(TypeError):
        add_months(datetime(2026, 3, 1, 12, 0), 1)


def test_small_helpers():
    assert last_day_of_month(2028, 2) == date(2028, 2, 29)
    assert last_day_of_month(2100, 2) == date(2100, 2, 28)   # not a leap year
    assert add_days(date(2028, 2, 28), 1) == date(2028, 2, 29)
    assert inclusive_days(date(2026, 3, 1), date(2026, 3, 1)) == 1
    assert inclusive_days(date(2026, 3, 1), date(2026, 3, 14)) == 14
