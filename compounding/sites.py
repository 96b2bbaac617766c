"""Sites of a pharmacy group (issue 20): the short code each installation names itself by.

A group of pharmacies (or an outsourcing facility with several rooms) shares one store:
formulas, approvals, label templates and users are group-wide; component lots (stock),
batches and label prints belong to the site that received, made or printed them, and a
batch lot ID carries its site (:mod:`compounding.store.lotid`).

The rule for a site code (``site = "NYC"`` in the settings file):

- 2 to 4 characters, upper-case ASCII letters ``A-Z`` and digits ``0-9``, the first a letter
  (so a site's lot ID never starts with a digit and can never be read as a bare 10-digit ID);
- typed exactly: lower case, spaces, other scripts' letters or digits, control and
  invisible characters are refused, never folded (a label must say what the database says).

``MAIN`` is the default site: a database made before sites existed, and an installation
whose settings name no site, is site ``MAIN``. Its lot IDs keep the original form (10 digits,
no site code), so every lot ID already printed on a label stays valid forever. A group has
at most one ``MAIN`` site (``db copy`` refuses a second store of the same site).

This module is pure and light (no pydantic, no database) so the CLI can read the site on
every command without loading the full settings.
"""

from __future__ import annotations

import re

from .errors import InputError

#: The site of a database made before sites, and of settings that name none.
DEFAULT_SITE = "MAIN"
#: 2-4 characters, A-Z and 0-9, starting with a letter (ASCII only: no ``\\w``, no ``\\d``).
SITE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,3}$")
#: The rule in words, for messages and docs.
SITE_RULE = "2-4 characters, upper-case letters A-Z and digits 0-9, starting with a letter"


def validate_site(value, field: str = "site") -> str:
    """``value`` if it is a valid site code, else :class:`InputError` naming ``field``, what
    was given (control and invisible characters by code point) and the rule."""
    if not isinstance(value, str):
        raise InputError(f"{field}: must be a site code ({SITE_RULE}), not "
                         f"{type(value).__name__}")
    if SITE_RE.fullmatch(value):
        return value
    for i, ch in enumerate(value, start=1):
        if not " " <= ch <= "~":
            from .text import describe
            raise InputError(f"{field}: character {describe(ch)} at position {i} is "
                             f"not allowed in a site code ({SITE_RULE})")
    shown = value if len(value) <= 40 else value[:40] + "..."
    raise InputError(f"{field}: {shown!r} is not a site code ({SITE_RULE}, e.g. NYC)")


def site_from_toml_text(text: str, source: str) -> str:
    """The ``site`` key of a settings file's text (``source`` names the file in errors);
    :data:`DEFAULT_SITE` when the file names none. A file that is not TOML is one
    :class:`InputError` line naming it."""
    import tomllib

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from None
    if "site" not in raw:
        return DEFAULT_SITE
    return validate_site(raw["site"], f"{source}: site")
