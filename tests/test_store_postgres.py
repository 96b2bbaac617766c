"""The PostgreSQL backend (issue 20): what only it has, and that it mirrors SQLite.

The store's behaviour on both backends is tested by the store tests themselves, through the
parametrised ``store_path`` fixture (conftest.py); this file covers the backend's own parts:
the migration set mirroring SQLite's, placeholders, the URL, the roles and grants, errors.
"""

from __future__ import annotations

import pytest

from compounding.store import postgres, resolve_db_path
from compounding.store.pg_migrations import MIGRATIONS
from compounding.store.sqlite import known_migrations


def test_the_postgresql_migrations_mirror_the_sqlite_ones_by_name_in_order():
    assert [n for n, _ in MIGRATIONS] == known_migrations()


@pytest.mark.parametrize("sql, params, out", [
    ("SELECT * FROM t WHERE a = ? AND b = ?", True, "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("INSERT INTO t (a) VALUES (:a)", True, "INSERT INTO t (a) VALUES (%(a)s)"),
    ("SELECT 'is it? :no' WHERE x LIKE '5%' AND y = ?", True,
     "SELECT 'is it? :no' WHERE x LIKE '5%%' AND y = %s"),
    ("SELECT x::numeric, 10 % 3 FROM t WHERE a = ?", True,
     "SELECT x::numeric, 10 %% 3 FROM t WHERE a = %s"),
    ("SELECT 'it''s ?' , ?", True, "SELECT 'it''s ?' , %s"),
    ("SELECT '5%' FROM t", False, "SELECT '5%' FROM t"),
])
def test_placeholders_are_translated_outside_literals(sql, params, out):
    assert postgres.translate(sql, params) == out


@pytest.mark.parametrize("given, expected", [
    ("postgresql://svc@db.example:5432/ldn", "postgresql://svc@db.example:5432/ldn"),
    ("postgres://svc@db/ldn", "postgres://svc@db/ldn"),
    ("POSTGRESQL://svc@db/ldn", "POSTGRESQL://svc@db/ldn"),
])
def test_a_url_stays_text_and_a_path_is_a_path(given, expected, tmp_path):
    assert resolve_db_path(given, {}, tmp_path) == expected
    assert resolve_db_path(None, {"COMPOUNDING_DB": given}, tmp_path) == expected
    assert str(resolve_db_path("postgresql.db", {}, tmp_path)) == "postgresql.db"


@pytest.mark.parametrize("url, shown", [
    ("postgresql://svc:s3cret@db:5432/ldn", "postgresql://svc:***@db:5432/ldn"),
    ("postgresql://svc@db:5432/ldn", "postgresql://svc@db:5432/ldn"),
    ("postgres://:pw@db/ldn", "postgres://:***@db/ldn"),
])
def test_a_password_in_the_url_is_never_shown(url, shown):
    assert postgres.redact(url) == shown
