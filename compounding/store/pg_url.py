"""PostgreSQL connection strings as people type them (issue 20): which text names a
PostgreSQL database, how it may be shown, and the keyword/value form refused.

- :func:`redact`: the one way a connection string is shown anywhere (a message, stdout,
  the JSON output, an anchor file, an audit entry): a password in it, however written, as
  ``***``. Passwords belong in ``~/.pgpass``, ``$PGPASSFILE`` or ``$PGPASSWORD``
  (docs/deploy.md); one typed into a URL anyway must not travel further.
- :func:`refuse_keyword_value`: libpq's other form, ``host=... dbname=... user=...`` (what
  psql and pg_dump take), is not a file name: given as ``--db``, ``$COMPOUNDING_DB`` or
  the settings' ``database`` it would become a new SQLite file named after it (password
  and all) and the records would go there, not to the group's server (attack s4, finding
  6). It is refused in one line showing the URL to type instead.

Light on purpose (no driver imported): the CLI checks ``--db`` before anything opens.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from ..errors import InputError

_URL = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)

#: Connection parameters whose value is a secret (libpq: ``password`` and the client key's
#: ``sslpassword``).
SECRET_KEYWORDS = frozenset({"password", "sslpassword"})

#: libpq's connection parameter key words (PostgreSQL 15 documentation, 34.1.2 "Parameter
#: Key Words"): a value whose words start ``KEYWORD=`` with one of these is a keyword/value
#: connection string, not a file name.
KEYWORDS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile",
    "channel_binding", "connect_timeout", "client_encoding", "options", "application_name",
    "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
    "requiressl", "sslcompression", "sslcert", "sslkey", "sslpassword", "sslrootcert",
    "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
    "ssl_max_protocol_version", "krbsrvname", "gsslib", "service", "target_session_attrs"})

_KEYWORD_AT = re.compile(r"(?:^|\s)(" + "|".join(sorted(KEYWORDS, key=len, reverse=True))
                         + r")\s*=", re.IGNORECASE)
_SECRET_PAIR = re.compile(r"\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^&\s\"']*)",
                          re.IGNORECASE)


def is_url(text) -> bool:
    """True when ``text`` names a PostgreSQL database as a URL (``postgresql://...`` or
    ``postgres://...``)."""
    return isinstance(text, str) and bool(_URL.match(text))


def redact(text: str) -> str:
    """``text`` (a URL, a keyword/value string, or a message holding either) with every
    password shown as ``***``: the URL's ``user:PASSWORD@``, a ``password=`` or
    ``sslpassword=`` query parameter however its name is percent-encoded
    (``%70assword=``), and any ``password=VALUE`` / ``password = 'VALUE'`` pair."""
    text = str(text)
    m = _URL.match(text)
    if m:
        scheme, rest = text[:m.end()], text[m.end():]
        # the user information: libpq reads it up to the first @ before the first /; up to
        # the last @ before the query here, so a password holding / or @ is hidden whole
        query = rest.find("?")
        at = rest.rfind("@", 0, query if query >= 0 else len(rest))
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            rest = f"{user}:***{rest[at:]}"
        query = rest.find("?")
        if query >= 0:
            pairs = rest[query + 1:].split("&")
            for i, pair in enumerate(pairs):
                key, eq, _ = pair.partition("=")
                if eq and unquote(key).strip().lower() in SECRET_KEYWORDS:
                    pairs[i] = f"{key}=***"
            rest = rest[:query + 1] + "&".join(pairs)
        text = scheme + rest
    return _SECRET_PAIR.sub(lambda g: g[1] + "***", text)


def scrub(message: str, url: str) -> str:
    """A driver's ``message`` about ``url`` (libpq may quote the URL or its parts) with the
    URL and any password in it redacted."""
    return redact(message.replace(url, redact(url)))


def parse_keyword_value(text: str) -> dict[str, str] | None:
    """libpq's ``keyword = value`` pairs (a value may be single-quoted, with ``\\'`` and
    ``\\\\`` inside), or None when ``text`` does not parse as such."""
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return out or None
        m = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*").match(text, i)
        if not m:
            return None
        key, i = m[1].lower(), m.end()
        if i < n and text[i] == "'":
            value, i = [], i + 1
            while i < n and text[i] != "'":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            if i >= n:
                return None  # an unclosed quote
            i += 1
            out[key] = "".join(value)
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            out[key] = text[start:i]


def url_for(pairs: dict[str, str] | None) -> str:
    """The ``postgresql://`` URL that names what the keyword/value ``pairs`` name, without
    any password (``USER``, ``HOST`` and ``NAME`` where the pairs give none); other
    parameters (``sslmode`` ...) as query parameters."""
    pairs = dict(pairs or {})
    for secret in SECRET_KEYWORDS:
        pairs.pop(secret, None)
    user = quote(pairs.pop("user", "USER"), safe="")
    host = pairs.pop("host", "HOST")
    port = pairs.pop("port", "")
    dbname = quote(pairs.pop("dbname", "NAME"), safe="")
    query = {}
    if host.startswith("/"):  # a Unix socket folder: as a parameter
        query["host"], host = host, ""
    query.update(pairs)
    tail = "&".join(f"{k}={quote(v, safe='/')}" for k, v in query.items())
    return (f"postgresql://{user}@{host}{':' + port if port else ''}/{dbname}"
            + (f"?{tail}" if tail else ""))


def refuse_keyword_value(text: str, source: str) -> None:
    """Raise :class:`InputError` (one line naming ``source``: ``--db``, ``$COMPOUNDING_DB``,
    the settings file) when ``text`` is a libpq keyword/value connection string rather than
    a file path or a URL; the line shows what was given, password redacted, and the URL to
    give instead."""
    if is_url(text) or not _KEYWORD_AT.search(text):
        return
    shown = " ".join(redact(text).split())
    if len(shown) > 120:
        shown = shown[:117] + "..."
    raise InputError(f"{source}: {shown!r} is a libpq keyword/value connection string, not a "
                     f"database file; give it as a URL: {url_for(parse_keyword_value(text))} "
                     "(the password in ~/.pgpass, $PGPASSFILE or $PGPASSWORD, never in the "
                     "URL)", field=source)
