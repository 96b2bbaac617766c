"""The SQLite store: component lots, compounding records, label prints and the audit trail.

``Store.open(path)`` creates, migrates and opens the database. A small core
(:mod:`.core`, with the SQLite backend in :mod:`.sqlite`) plus one module per record family;
:class:`Store` (:mod:`.store`) is a thin facade over them. docs/store.md says which module
owns which tables; the schema is :mod:`.migrations`, documented by :mod:`.schema`
(``docs/schema.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreError
from .store import Store

ENV_VAR = "COMPOUNDING_DB"
DEFAULT_FILE = "compounding.db"


def _as_path(value: str, source: str = "--db") -> Path | str:
    """A ``postgresql://`` URL stays text (a ``Path`` would fold its ``//``); anything else
    is a SQLite file path. Refused (:class:`StoreError` naming ``source``): an empty value,
    SQLite's ``:memory:`` (every write would vanish when the command ends) and ``file:``
    URIs (read and written as different files): a database here is a file path or a
    PostgreSQL URL (issue 12 part 6 attack); a libpq keyword/value connection string
    (``host=... dbname=...``, :func:`.pg_url.refuse_keyword_value`: it would become a new
    SQLite file named after it, attack s4 finding 6)."""
    text = str(value)
    if not text.strip():
        raise StoreError(f"{source}: empty; give a database file path or a "
                         "postgresql://USER@HOST:PORT/NAME URL")
    if text.strip() == ":memory:" or text[:5].lower() == "file:":
        raise StoreError(f"{source}: {text!r} is not allowed (an in-memory database or a "
                         "file: URI); give a database file path or a "
                         "postgresql://USER@HOST:PORT/NAME URL")
    from .pg_url import is_url, refuse_keyword_value
    if is_url(text):
        return text
    refuse_keyword_value(text, source)  # 'host=... dbname=...' is not a file name
    return Path(value)


def resolve_db_path(option: str | None, environ=None, cwd=None,
                    settings_db: Path | str | None = None) -> Path | str:
    """``--db PATH``, else ``$COMPOUNDING_DB``, else ``settings_db`` (the settings file's
    ``database``, already resolved against its folder), else ``compounding.db`` in ``cwd``.
    A ``postgresql://USER@HOST:PORT/NAME`` URL (issue 20) is returned as text and opens the
    PostgreSQL backend; a path is a SQLite file."""
    environ = os.environ if environ is None else environ
    if option is not None and str(option) != "":
        return _as_path(option)
    if option is not None:
        raise StoreError("--db: empty; give a database file path or a "
                         "postgresql://USER@HOST:PORT/NAME URL")
    if environ.get(ENV_VAR):
        return _as_path(environ[ENV_VAR], f"${ENV_VAR}")
    if settings_db:
        return _as_path(str(settings_db), "settings database")
    return Path(cwd or Path.cwd()) / DEFAULT_FILE


__all__ = ["Store", "StoreError", "resolve_db_path", "ENV_VAR", "DEFAULT_FILE"]
