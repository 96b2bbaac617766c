"""Parameter types shared by the command groups (imports only click).

:class:`WholeNumber`: ``click.IntRange`` for counts, steps, days, versions and fill
numbers, taking the ASCII digits 0-9 only: Python's ``int()`` also reads ``'١٠'``
(Arabic-Indic digits) and ``' 1_0 '``, which a pharmacy record must not silently accept.
"""

from __future__ import annotations

import click

#: the largest INTEGER SQLite stores (a larger id or count is refused, never passed on)
SQLITE_MAX_INTEGER = 2**63 - 1


class WholeNumber(click.IntRange):
    """click.IntRange that takes ASCII digits only: Python's int() also reads '١٠' (Arabic-
    Indic digits) and ' 1_0 ', which a label count must not silently accept."""

    def __init__(self, *args, unbounded: bool = False, **kwargs):
        # unbounded: the value never reaches SQLite as an INTEGER (e.g. --expiring-within,
        # where a huge number of days means "every lot"); otherwise a value past SQLite's
        # INTEGER is refused
        super().__init__(*args, **kwargs)
        self.unbounded = unbounded

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not (value.isascii() and value.isdigit()):
            self.fail(f"{value!r} is not a whole number written with the digits 0-9",
                      param, ctx)
        if isinstance(value, str):
            digits = value.lstrip("0")
            # a number past 20 digits is shown by its first 20 and its length: one short line,
            # not the number echoed back in full (and past int()'s 4,300-digit limit)
            shown = value if len(digits) <= 20 else f"{value[:20]}... ({len(value):,} digits)"
            if (not self.unbounded and (self.max is None or self.max > SQLITE_MAX_INTEGER)
                    and (len(digits) > 19 or int(digits or "0") > SQLITE_MAX_INTEGER)):
                # an id or count past what SQLite stores: an OverflowError traceback otherwise
                self.fail(f"{shown} is too large; at most {SQLITE_MAX_INTEGER}", param, ctx)
            if self.max is not None and len(digits) > 20:
                self.fail(f"{shown} is not in the range {self._describe_range()}", param, ctx)
        return super().convert(value, param, ctx)
