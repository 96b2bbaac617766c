"""Whole-table operations of each backend, for ``db copy`` (:mod:`.copy`) and ``db verify``
(:mod:`.audit`): reading a table in chunks, one read snapshot, bulk inserts, triggers
suspended (``load_order``, ``columns``, ``iter_rows``, ``insert_many``, ``read_snapshot``,
``suspended_triggers``, ``checkpoint``). SQLite's are in :mod:`.sqlite` itself,
PostgreSQL's in :mod:`.pg_copy` (imported only for a PostgreSQL store)."""

from __future__ import annotations

from .core import StoreCore


def backend_ops(store: StoreCore):
    """The module with the whole-table functions for ``store``'s backend: :mod:`.sqlite`
    itself, or :mod:`.pg_copy` for :mod:`.postgres`."""
    from . import sqlite
    if store.backend is sqlite:
        return sqlite
    from . import pg_copy
    return pg_copy
