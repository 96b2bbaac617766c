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


#: The most rows a listing's ``--limit`` asks for (issue 18); more is ``--no-limit``.
MAX_PAGE = 1_000_000_000


class PageSize(click.ParamType):
    """A listing's ``--limit N`` (``batch list``, ``inventory list``): a whole number from 1
    to :data:`MAX_PAGE`, typed as ASCII digits and nothing else (no spaces, signs,
    underscores, exponents or other scripts' digits: ``int()`` would take ``' 5'``,
    ``'1_000'`` and ``'٣'``). One type, so every paged listing takes and refuses the same
    text in the same words (attack s4 finding 11)."""

    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, str) and value.isascii() and value.isdigit():
            text = value
        else:
            self.fail(f"{value!r} is not a whole number written with the digits 0-9", param,
                      ctx)
        digits = text.lstrip("0")
        if digits and len(digits) <= 10 and 1 <= int(digits) <= MAX_PAGE:
            return int(digits)
        # a number past 20 digits is shown by its first 20 and its length: one short line,
        # never the number echoed back in full (nor int() past its 4,300-digit limit)
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text):,} digits)"
        self.fail(f"{shown} is not from 1 to {MAX_PAGE:,} (--no-limit shows every one)",
                  param, ctx)


def limit_option(default: int, what: str):
    """The ``--limit N`` option of a listing: :class:`PageSize`, the same metavar and help
    wording everywhere (``what``: ``"the newest N batches"``)."""
    return click.option("--limit", type=PageSize(), default=None, metavar="N",
                        help=f"Show {what} (default {default}; 1 to {MAX_PAGE:,}).")
