"""``db verify`` on a big store (issue 20, session 5): each record table is read once,
streamed, instead of one look-up per record (on PostgreSQL each look-up was a round trip:
``db copy`` of the ten-year store, which verifies both ends, was estimated at hours), and
the whole check reads one state of the database, so a record a service writes while verify
runs is not reported as missing from the audit log. On both backends.
"""

from __future__ import annotations

from datetime import date

import pytest

from compounding import units as u
from compounding.store import Store, audit
from compounding.store.core import StoreCore
from signoff_support import add_users


@pytest.fixture
def store(store_path):
    s = Store.open(store_path)
    add_users(s, "ana")
    yield s
    s.close()


def receive(store, n, start=0):
    for i in range(start, start + n):
        store.receive_lot("naltrexone-hcl", f"NX{i:03d}", date(2027, 1, 1), u.parse("1 g"),
                          "ana")


def statements(store, monkeypatch) -> int:
    """How many statements verify sends through the store's connection (the streamed
    table reads are one each, on their own cursor)."""
    count = [0]
    real = store.db.execute

    def execute(*a, **kw):
        count[0] += 1
        return real(*a, **kw)
    monkeypatch.setattr(store.db, "execute", execute)
    try:
        assert audit.verify(store) == []
    finally:
        monkeypatch.setattr(store.db, "execute", real)
    return count[0]


def test_verify_reads_tables_not_records(store, monkeypatch):
    receive(store, 3)
    few = statements(store, monkeypatch)
    receive(store, 30, start=3)
    many = statements(store, monkeypatch)
    # ten times the records, the same statements (it was one more per record and reference)
    assert many == few

    def per_record(*a, **kw):
        raise AssertionError("verify looked a record up by its key")
    monkeypatch.setattr(StoreCore, "record_digest", per_record)
    assert audit.verify(store) == []


def test_a_record_written_while_verify_runs_is_not_missing_from_the_log(
        store, store_path, monkeypatch):
    receive(store, 2)
    other = Store.open(store_path)  # another process's connection (a service)
    real_ops = audit.backend_ops
    written = []

    class Ops:
        """The backend's operations, with a write by the other connection just before the
        first record table is read (after the log was read)."""

        def __init__(self, ops):
            self.ops = ops

        def read_snapshot(self, db):
            return self.ops.read_snapshot(db)

        def iter_rows(self, db, table, names, *a):
            if not written:
                receive(other, 1, start=50)
                written.append(table)
            return self.ops.iter_rows(db, table, names, *a)

    monkeypatch.setattr(audit, "backend_ops", lambda s: Ops(real_ops(s)))
    try:
        assert audit.verify(store) == []  # the log and the tables as they were together
        assert written
        monkeypatch.setattr(audit, "backend_ops", real_ops)
        assert audit.verify(store) == []  # and the new lot, with its entry, next time
        assert [x["lot_number"] for x in store.lots()][-1] == "NX050"
    finally:
        other.close()


def test_a_changed_and_a_removed_record_are_named_in_entry_order(store, store_path):
    receive(store, 3)
    from store_backends import drop_trigger, commit
    ids = [r["id"] for r in store.rows("SELECT id FROM lot_receipts ORDER BY id")]
    drop_trigger(store, "lot_receipts_no_update", "lot_receipts")
    drop_trigger(store, "lot_receipts_no_delete", "lot_receipts")
    store.execute("UPDATE lot_receipts SET quantity = '2' WHERE id = ?", [ids[2]])
    store.execute("DELETE FROM lot_receipts WHERE id = ?", [ids[0]])
    commit(store)
    problems = [p for p in audit.verify(store) if p.startswith("lot_receipts ") and
                "record differs" in p]
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"lot_receipts {ids[0]}: record differs from what audit "
                                  "entry")
    assert problems[1].startswith(f"lot_receipts {ids[2]}: record differs from what audit "
                                  "entry")
