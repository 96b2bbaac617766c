"""Names ``db init-roles`` writes into its SQL script unquoted (issue 20): the database, the
owner role and the service role. A name PostgreSQL would refuse is refused here, in one line
naming the option, before a script is printed that psql would stop half-way through (after
the roles were already made: attack s4, finding 10)."""

from __future__ import annotations

import re

from ..errors import InputError

_PLAIN = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: PostgreSQL's key words that cannot name a role or a database unquoted: those of category
#: "reserved" (R) and "reserved (can be function or type)" (T) in PostgreSQL 15's
#: ``pg_get_keywords()`` (the documentation's Appendix C, "SQL Key Words", Table C.1).
#: tests/test_db_init_roles.py checks this list against the test cluster's own.
RESERVED_WORDS = frozenset("""
    all analyse analyze and any array as asc asymmetric both case cast check collate column
    constraint create current_catalog current_date current_role current_time
    current_timestamp current_user default deferrable desc distinct do else end except false
    fetch for foreign from grant group having in initially intersect into lateral leading
    limit localtime localtimestamp not null offset on only or order placing primary
    references returning select session_user some symmetric table then to trailing true
    union unique user using variadic when where window with
    authorization binary collation concurrently cross current_schema freeze full ilike inner
    is isnull join left like natural notnull outer overlaps right similar tablesample verbose
""".split())

#: Role names PostgreSQL keeps for itself: ``public`` (every role) and ``none`` are refused
#: by CREATE ROLE ("role name ... is reserved"), and the prefix ``pg_`` is reserved for
#: system roles (PostgreSQL 15 documentation, CREATE ROLE and 22.5 "Predefined Roles"). The
#: prefix is refused for the database too, to keep one rule for the three names.
RESERVED_ROLES = frozenset({"public", "none"})


def need_role_name(value: str, option: str, *, role: bool = True) -> str:
    """``value`` if it is a plain lower-case PostgreSQL name (``a-z``, digits, ``_``, at most
    63 characters, not starting with a digit) that PostgreSQL accepts unquoted: no reserved
    key word, no ``pg_`` prefix, and for a role (``role``) not ``public`` or ``none``. Else
    :class:`InputError`, one line naming ``option``."""
    if not isinstance(value, str) or not _PLAIN.fullmatch(value):
        raise InputError(f"{option}: {value!r} is not a plain PostgreSQL name (lower-case "
                         "a-z, digits 0-9 and _, at most 63 characters, not starting with "
                         "a digit)", field=option)
    what = "role" if role else "database"
    if value in RESERVED_WORDS:
        raise InputError(f"{option}: {value!r} is a reserved word in PostgreSQL's SQL and "
                         f"cannot name a {what} unquoted; choose another name", field=option)
    if value.startswith("pg_"):
        raise InputError(f"{option}: {value!r} starts with pg_, which PostgreSQL reserves for "
                         "its own roles; choose another name", field=option)
    if role and value in RESERVED_ROLES:
        raise InputError(f"{option}: {value!r} is a role name PostgreSQL reserves; choose "
                         "another name", field=option)
    return value
