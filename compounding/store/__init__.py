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


def resolve_db_path(option: str | None, environ=None, cwd=None) -> Path:
    """``--db PATH``, else ``$COMPOUNDING_DB``, else ``compounding.db`` in ``cwd``."""
    environ = os.environ if environ is None else environ
    if option:
        return Path(option)
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    return Path(cwd or Path.cwd()) / DEFAULT_FILE


__all__ = ["Store", "StoreError", "resolve_db_path", "ENV_VAR", "DEFAULT_FILE"]
