"""The migrations' scripts are split into statements in linear time (sqlite-utils' own
splitter is quadratic in a statement's length: m019's and m021's triggers made every new
database take about 4 s), into exactly the statements SQLite would run."""

import pytest

from compounding.store import migrations
from compounding.store.sqlite import registered_migrations, split_statements
from compounding.store.sqlite_scripts import StoreDatabase

TRIGGER = ("CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\n  SELECT 'x;y';\nEND;")


@pytest.mark.parametrize("sql, statements", [
    ("SELECT 1; SELECT 2;", ["SELECT 1;", "SELECT 2;"]),
    ("SELECT 'a;b'; SELECT \"c;d\";", ["SELECT 'a;b';", "SELECT \"c;d\";"]),
    ("-- a comment; with a semicolon\nSELECT 1;", ["-- a comment; with a semicolon\nSELECT 1;"]),
    ("/* ; */ SELECT 2;", ["/* ; */ SELECT 2;"]),
    (TRIGGER + "\n  SELECT 3;", [TRIGGER, "SELECT 3;"]),
    ("SELECT 1", ["SELECT 1"]),
    ("  \n ", []),
])
def test_split_statements(sql, statements):
    assert list(split_statements(sql)) == statements


def test_a_store_made_in_a_transaction_has_the_schema_sqlite_makes(tmp_path):
    """Every migration applied through the linear splitter inside a transaction gives the
    same sqlite_master as sqlite3's own executescript outside one."""
    def schema(db):
        return db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                          "ORDER BY type, name").fetchall()

    inside = StoreDatabase(str(tmp_path / "in.db"))
    inside.conn.execute("BEGIN IMMEDIATE")
    for m in registered_migrations(migrations.migrations):
        m.fn(inside)
    inside.conn.execute("COMMIT")
    outside = StoreDatabase(str(tmp_path / "out.db"))
    for m in registered_migrations(migrations.migrations):
        m.fn(outside)
    assert schema(inside) == schema(outside)
    assert len(schema(inside)) > 50
