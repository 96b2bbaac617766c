"""click parameter types for text a person types: every identifier and free-text option goes
through the one normaliser (:mod:`compounding.text`) before the library sees it.

A refused value is the one-line ``Error: ...`` of an :class:`~compounding.errors.InputError`
(exit 2) naming the field, the character and its position, e.g. ``Error: lot: character
U+001D (GROUP SEPARATOR) at position 3 is a control character or line break``.
"""

from __future__ import annotations

import click


class PersonText(click.ParamType):
    """Text a person typed, NFC-normalised and trimmed; control, zero-width and bidi-control
    characters refused (:func:`compounding.text.normalize`). Blank becomes ``""``: the
    command (or the library) decides whether the field may be empty."""

    def __init__(self, field: str, kind: str = "text", required: bool = False,
                 max_length: int | None = None):
        self.max_length = max_length
        self.field = field
        self.kind = kind
        self.required = required
        self.name = "text"  # the metavar stays TEXT in --help

    def convert(self, value, param, ctx):
        from ..text import normalize
        if value is None:
            return None
        # an InputError, not click's usage error: one line (the CLI's group turns it into
        # "Error: ..."), like every other refusal
        return normalize(value, self.field, kind=self.kind, required=self.required,
                         max_length=self.max_length)


def identifier(field: str) -> PersonText:
    """A lot number, Rx number, user name, ingredient or formula id."""
    return PersonText(field, "identifier")


def choice(field: str) -> PersonText:
    """An id picked from a list (filler, base, allergen tag): given, it must not be blank; a
    blank value is refused, never read as "the default" (issue 11 attack: ``--base ''`` used
    to plan with the formula's default base)."""
    return PersonText(field, "identifier", required=True)


def supplier_lot(field: str) -> PersonText:
    """A supplier lot number: an identifier no longer than the store takes (40)."""
    return PersonText(field, "identifier", max_length=40)  # == store.inventory.LOT_CHARS (tested)


def name(field: str) -> PersonText:
    """A person's name (patient, prescriber, full name)."""
    return PersonText(field, "name")


def text(field: str) -> PersonText:
    """Free text (directions, reasons, notes)."""
    return PersonText(field, "text")
