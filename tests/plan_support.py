"""Query plans on both backends (issue 20): which tables a query reads whole.

A documented query or a store look-up that reads a growing table whole (every weighing,
every batch) gets slower every year; one that reaches each table through an index condition
costs the same on the ten-year store as on a new one. :func:`whole_reads` names the tables a
statement reads whole, from the planner itself:

- SQLite: ``EXPLAIN QUERY PLAN``; a ``SCAN`` of a table (not of a subquery, view or CTE the
  plan builds) is a whole read, a ``SEARCH`` is not. SQLite plans without statistics as if
  every table were large, so a small test store shows the ten-year plan.
- PostgreSQL: ``EXPLAIN (FORMAT JSON)`` with ``enable_seqscan`` off (its planner would
  otherwise scan a test store's tiny tables whatever the indexes); a sequential scan, or an
  index scan with no index condition, is a whole read. With sequential scans off the planner
  still scans when no index can serve the query, which is what this looks for.

Also :func:`pg_spelling`, the one translation the documented queries need on PostgreSQL
(bench/bench_pg.py uses it too), and :class:`StatementCounter`.
"""

from __future__ import annotations

import json
import re

#: SQLite's date arithmetic in two documented queries, as PostgreSQL writes it.
PG_DATES = [("date('now', 'localtime', '+' || :days || ' days')",
             "to_char(CURRENT_DATE + CAST(:days AS integer), 'YYYY-MM-DD')"),
            ("date('now', 'localtime')", "to_char(CURRENT_DATE, 'YYYY-MM-DD')")]


def pg_spelling(sql: str) -> str:
    """A documented query (SQLite's dialect) as it runs on PostgreSQL."""
    for a, b in PG_DATES:
        sql = sql.replace(a, b)
    return sql


def is_postgres(store) -> bool:
    return store.backend.__name__.endswith("postgres")


def whole_reads(store, sql: str, params=()) -> set[str]:
    """The tables ``sql`` reads whole on ``store``'s backend (names as in the schema)."""
    if is_postgres(store):
        return _pg_whole_reads(store, pg_spelling(sql), params)
    return _sqlite_whole_reads(store, sql, params)


def _sqlite_whole_reads(store, sql: str, params) -> set[str]:
    rows = store.db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    details = [r[3] for r in rows]
    # what the plan builds itself (subqueries, views, CTEs): scanning those reads no table
    built = {m.group(2) for d in details
             for m in [re.match(r"(CO-ROUTINE|MATERIALIZE) (\S+)", d)] if m}
    master = store.db.execute("SELECT type, name, sql FROM sqlite_master "
                              "WHERE type IN ('table', 'view')").fetchall()
    tables = {n for t, n, _ in master if t == "table"}
    views = {n for t, n, _ in master if t == "view"}
    aliases = _aliases([sql, *(x for t, _, x in master if t == "view")], tables | views)
    out = set()
    for d in details:
        m = re.match(r"SCAN (\S+)", d)
        if not m or m.group(1) in built or m.group(1).startswith("("):
            continue
        name = m.group(1)
        named = {name} if name in tables | views else aliases.get(name, {name})
        out |= named - views
    return out


def _aliases(texts: list[str], names: set[str]) -> dict[str, set[str]]:
    """``alias -> {tables or views}`` for ``FROM t a`` / ``JOIN t AS a`` in ``texts`` (the
    statement and every view: SQLite's plan calls a table by its alias). An alias used for
    two tables maps to both (a scan of it counts as a whole read of each: the cautious
    answer)."""
    out: dict[str, set[str]] = {}
    for text in texts:
        for t, a in re.findall(r"(?=\b(\w+)\s+(?:AS\s+)?(\w+)\b)", text):
            if t in names and a.upper() not in _WORDS and a not in names:
                out.setdefault(a, set()).add(t)
    return out


_WORDS = {"ON", "WHERE", "JOIN", "LEFT", "INNER", "GROUP", "ORDER", "UNION", "LIMIT", "AS",
          "USING", "AND", "OR", "SET", "VALUES"}


def _pg_whole_reads(store, sql: str, params) -> set[str]:
    db = store.db
    db.execute("SET enable_seqscan = off")
    try:
        plan = db.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
    finally:
        db.execute("RESET enable_seqscan")
    if isinstance(plan, str):
        plan = json.loads(plan)
    out: set[str] = set()

    def walk(node):
        kind = node.get("Node Type")
        rel = node.get("Relation Name")
        if kind == "Seq Scan":
            out.add(rel)
        elif kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
            out.add(rel)
        elif kind == "Bitmap Heap Scan" and not _has_index_cond(node):
            out.add(rel)
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return out


def _has_index_cond(node) -> bool:
    return any("Index Cond" in c or _has_index_cond(c) for c in node.get("Plans", []))


class StatementCounter:
    """Counts the statements a store runs (every query goes through ``store.db.execute``
    on both backends): ``with StatementCounter(store) as n: ...; n.count``."""

    def __init__(self, store):
        self.store = store
        self.count = 0
        #: ``(sql, params)`` of each statement, in order
        self.calls: list[tuple[str, object]] = []

    def __enter__(self):
        db = self.store.db
        self._orig = db.execute

        def counted(sql, *args, **kw):
            self.count += 1
            params = args[0] if args else kw.get("params", kw.get("parameters"))
            self.calls.append((sql, params if params is not None else ()))
            return self._orig(sql, *args, **kw)
        db.execute = counted
        return self

    def __exit__(self, *exc):
        del self.store.db.execute  # the instance attribute; the class's method again
        return False
