"""Helpers for store tests that run on both backends (the ``store_path`` fixture in
conftest.py): what differs between SQLite and PostgreSQL when a test speaks raw SQL."""

from __future__ import annotations

#: A CHECK constraint's refusal, as each database words it.
CHECK_FAILED = "CHECK constraint failed|violates check constraint"


def first_column(store, table: str) -> str:
    """The name of ``table``'s first column."""
    return store.backend.columns(store.db, table)[0][0]


def drop_trigger(store, name: str, table: str) -> None:
    """Drop a trigger by raw SQL (a tamperer with the owner's rights)."""
    if store.backend.__name__.endswith("postgres"):
        store.db.execute(f"DROP TRIGGER {name} ON {table}")
    else:
        store.db.execute(f"DROP TRIGGER {name}")


def commit(store) -> None:
    """Commit raw statements (SQLite's implicit transaction; PostgreSQL autocommits)."""
    if not store.backend.__name__.endswith("postgres"):
        store.db.conn.commit()


def is_postgres(store) -> bool:
    return store.backend.__name__.endswith("postgres")


def drop_trigger_sql(store, name: str, table: str) -> str:
    """``DROP TRIGGER IF EXISTS`` in the store's dialect."""
    return (f"DROP TRIGGER IF EXISTS {name} ON {table}" if is_postgres(store)
            else f"DROP TRIGGER IF EXISTS {name}")


class RawConnection:
    """A second connection to the store's database, for a script writing plain SQL
    (``?`` placeholders on both backends): ``execute``, ``commit``, ``close``."""

    def __init__(self, store):
        from compounding.store import Store
        self.store = Store.open(store.path, migrate=False)

    def execute(self, sql, params=()):
        return self.store.db.execute(sql, params)

    def commit(self):
        commit(self.store)

    def close(self):
        self.store.close()
