"""Running the migrations' SQL scripts inside the store's write transaction, in linear
time (see :func:`split_statements`)."""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database


def split_statements(sql: str):
    """The complete SQL statements of ``sql``, stripped, in order: the statements
    ``sqlite_utils.Database.executescript`` runs one by one inside a transaction (so that
    sqlite3's own executescript does not COMMIT first), found in linear time. sqlite-utils
    (3.x) re-joins the statement so far at every character, which is quadratic in a
    statement's length: m019's and m021's triggers made creating a database take 4 s. A
    statement can only end at a ';', so completeness is asked only there; the statements
    are the same strings, so the schema is byte-identical."""
    start = 0
    pos = sql.find(";")
    while pos != -1:
        statement = sql[start:pos + 1].strip()
        if statement and sqlite3.complete_statement(statement):
            yield statement
            start = pos + 1
        pos = sql.find(";", pos + 1)
    rest = sql[start:].strip()
    if rest:
        yield rest


class StoreDatabase(Database):
    """sqlite-utils' Database with :func:`split_statements` for scripts run inside a
    transaction (the migrations run inside the store's ``BEGIN IMMEDIATE``)."""

    def executescript(self, sql: str):
        if not self.conn.in_transaction:
            return super().executescript(sql)
        cursor = self.conn.cursor()
        for statement in split_statements(sql):
            cursor.execute(statement)
        return cursor
