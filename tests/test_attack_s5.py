"""Attack session 5 on ``db verify``'s one-pass check (issue 20: the log read once, each
record table streamed once, in one snapshot): what it must still name, and never crash on.

- an audit entry whose details are valid JSON of the wrong shape (a tamperer's edit, or a
  damaged page: a bit flipped inside a key name) was a traceback (``KeyError``,
  ``TypeError: unhashable``...), in the old per-record check as in the new one; it is now
  a problem line naming the entry, and the records it named are not vouched for;
- a value turned into a BLOB by plain SQL (SQLite: a TEXT column takes one as it is), in a
  record or in an audit entry, was ``TypeError: not JSON serialisable: bytes``; it is now
  the record that differs, or the entry whose content does not match its hash;
- rows slipped in by SQL are named in the order the check always named them (the order
  ``SELECT key FROM table`` lists them: SQLite walks a covering index, e.g. by site),
  not in the order the streamed read happens to give;
- a damaged schema whose SQLite error message is not UTF-8 was a ``UnicodeDecodeError``
  traceback when the file was opened; it is one line.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.store import Store, audit
from signoff_support import add_users
from store_backends import commit, drop_trigger, is_postgres


@pytest.fixture
def store(store_path):
    s = Store.open(store_path)
    add_users(s, "ana")
    for i in range(4):
        s.receive_lot("naltrexone-hcl", f"NX{i:03d}", date(2027, 1, 1), u.parse("1 g"), "ana")
    yield s
    s.close()


def receive_entry(store, n: int) -> int:
    """The id of the audit entry of the ``n``-th receipt (1-based)."""
    return [r["id"] for r in store.rows(
        "SELECT id FROM audit_log WHERE action = 'inventory.receive' ORDER BY id")][n - 1]


def no_traceback(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- unreadable references

MALFORMED = [
    '[1]',
    '{"records": {"a": 1}}',
    '{"records": [1]}',
    '{"records": [{"table": "lot_receipts"}]}',
    '{"records": [{"table": "lot_receipts", "key": 2, "sha256": "x"}]}',
    '{"records": [{"table": ["lot_receipts"], "key": [2], "sha256": "x"}]}',
    '{"records": [{"table": "lot_receipts", "key": [[2]], "sha256": "x"}]}',
    '{"records": [{"table": "lot_receipts", "key": [{"id": 2}], "sha256": "x"}]}',
]


@pytest.mark.parametrize("details", MALFORMED)
def test_unreadable_record_references_are_a_problem_not_a_traceback(store, details):
    entry = receive_entry(store, 2)
    receipt = store.scalar("SELECT id FROM lot_receipts ORDER BY id LIMIT 1 OFFSET 1")
    drop_trigger(store, "audit_log_no_update", "audit_log")
    store.db.execute("UPDATE audit_log SET details = ? WHERE id = ?", [details, entry])
    commit(store)
    problems = audit.verify(store)
    mine = [p for p in problems if p.startswith(f"audit_log {entry}:")]
    assert mine[0] == f"audit_log {entry}: content does not match its hash"
    assert mine[1].startswith(f"audit_log {entry}: its record references cannot be read ("), \
        problems
    # what the entry vouched for is no longer vouched for
    assert f"lot_receipts {receipt}: not on the audit log" in problems


def test_unreadable_references_through_the_cli_are_lines_and_exit_1(tmp_path):
    path = tmp_path / "c.db"
    with Store.open(path) as s:
        add_users(s, "ana")
        s.receive_lot("naltrexone-hcl", "NX1", date(2027, 1, 1), u.parse("1 g"), "ana")
        entry = receive_entry(s, 1)
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_log_no_update")
    # a bit flipped in a key name on a damaged page: "key" read as "kez"
    details = con.execute("SELECT details FROM audit_log WHERE id = ?", [entry]).fetchone()[0]
    con.execute("UPDATE audit_log SET details = ? WHERE id = ?",
                [details.replace('"key"', '"kez"'), entry])
    con.commit()
    con.close()
    result = CliRunner().invoke(cli, ["db", "verify", "--db", str(path)])
    no_traceback(result)
    assert result.exit_code == 1
    assert f"audit_log {entry}: content does not match its hash" in result.output
    assert f"audit_log {entry}: its record references cannot be read" in result.output


# ---------------------------------------------------------------- a BLOB where text was

def sqlite_store(tmp_path):
    path = tmp_path / "c.db"
    with Store.open(path) as s:
        add_users(s, "ana")
        for i in range(3):
            s.receive_lot("naltrexone-hcl", f"NX{i}", date(2027, 1, 1), u.parse("1 g"), "ana",
                          manufacturer="Acme")
        entry = receive_entry(s, 2)
    return path, entry


def test_a_record_value_turned_into_a_blob_is_a_changed_record(tmp_path):
    path, entry = sqlite_store(tmp_path)
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER component_lots_no_update")
    # the same bytes, as a BLOB: a digest of it must not match the text's
    con.execute("UPDATE component_lots SET manufacturer = CAST(manufacturer AS BLOB) "
                "WHERE id = 2")
    con.commit()
    con.close()
    with Store.open(path, read_only=True) as s:
        problems = audit.verify(s)
    assert f"component_lots 2: record differs from what audit entry {entry} recorded" \
        in problems
    result = CliRunner().invoke(cli, ["db", "verify", "--db", str(path)])
    no_traceback(result)
    assert result.exit_code == 1


@pytest.mark.parametrize("column", ["actor", "action", "details", "prev_hash"])
def test_an_audit_entry_value_turned_into_a_blob_does_not_match_its_hash(tmp_path, column):
    path, entry = sqlite_store(tmp_path)
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute(f"UPDATE audit_log SET {column} = CAST({column} AS BLOB) WHERE id = ?",
                [entry])
    con.commit()
    con.close()
    with Store.open(path, read_only=True) as s:
        problems = audit.verify(s)
    assert f"audit_log {entry}: content does not match its hash" in problems
    result = CliRunner().invoke(cli, ["db", "verify", "--db", str(path)])
    no_traceback(result)
    assert result.exit_code == 1


# ---------------------------------------------------------------- the order rows are named in

def test_rows_not_on_the_log_are_named_in_the_order_verify_always_gave(store):
    """Three lots slipped in by SQL, at three sites: SQLite lists ``SELECT id FROM
    component_lots`` through the covering index on ``site`` (AAA, MAIN, ZZZ), which is the
    order the per-record check named them in; the streamed read goes by rowid."""
    drop_trigger(store, "component_lots_no_update", "component_lots")
    row = store.one("SELECT * FROM component_lots WHERE id = 3")
    for new_id, site, number in ((100, "MAIN", "A1"), (50, "ZZZ", "A2"), (75, "AAA", "A3")):
        values = {**row, "id": new_id, "site": site, "lot_number": number}
        store.db.execute(f"INSERT INTO component_lots ({', '.join(values)}) VALUES "
                         f"({', '.join('?' for _ in values)})", list(values.values()))
    # PostgreSQL: an update moves the row to the end of the heap
    store.db.execute("UPDATE component_lots SET manufacturer = 'x' WHERE id = 100")
    commit(store)
    listed = [r["id"] for r in store.rows("SELECT id FROM component_lots")
              if r["id"] in (50, 75, 100)]
    if not is_postgres(store):
        assert listed == [75, 100, 50]  # the covering index on site
    named = [p for p in audit.verify(store) if p.endswith(": not on the audit log")]
    assert named == [f"component_lots {i}: not on the audit log" for i in listed]


# ---------------------------------------------------------------- a damaged schema

def test_a_damaged_schema_whose_message_is_not_utf8_is_one_line(tmp_path):
    path, _ = sqlite_store(tmp_path)
    con = sqlite3.connect(path)
    con.execute("PRAGMA writable_schema = ON")
    # an unterminated quote around a byte that is not UTF-8: SQLite's message quotes it
    bad = (b"CREATE TRIGGER lot_receipts_no_update BEFORE UPDATE ON lot_receipts BEGIN "
           b"SELECT 1 '\xbf; END")
    con.execute("UPDATE sqlite_master SET sql = CAST(? AS TEXT) "
                "WHERE name = 'lot_receipts_no_update'", [bad])
    con.commit()
    con.close()
    result = CliRunner().invoke(cli, ["db", "verify", "--db", str(path)])
    no_traceback(result)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {path} is not a compounding database or is corrupt "
                               "(malformed database schema (lot_receipts_no_update)")


# ---------------------------------------------------------------- what db verify prints

def test_a_name_stored_by_plain_sql_cannot_print_a_line_of_its_own(tmp_path):
    # A report line shows what the database holds; a trigger (or a record key) stored by
    # plain SQL with a line break and "OK: ..." in its name printed that as a line of its
    # own among the problems (attack s5, found, fixed in the CLI for every line it prints).
    path = tmp_path / "s.db"
    s = Store.open(path)
    add_users(s, "ana")
    s.close()
    con = sqlite3.connect(path)
    forged = ("x\nOK: integrity check passed, schema as migrated, 9 audit entries chain, "
              "every record matches the audit log\u202e")
    con.execute(f'CREATE TRIGGER "{forged}" AFTER INSERT ON users BEGIN SELECT 1; END')
    con.commit()
    con.close()
    r = CliRunner().invoke(cli, ["db", "verify", "--db", str(path)])
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert not any(line.startswith("OK:") for line in lines), r.output
    assert any("x\\x0aOK: integrity check passed" in line and "\\u202e" in line
               for line in lines), r.output
    # the JSON keeps the text as it is (JSON escapes it itself)
    r = CliRunner().invoke(cli, ["db", "verify", "--db", str(path), "--json"])
    assert r.exit_code == 1
    assert any(forged in p for p in json.loads(r.output)["problems"]), r.output
