"""Store: component lots, derived stock, lot IDs, immutability triggers, audit hash chain."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from store_backends import commit, drop_trigger, first_column, is_postgres
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.errors import InputError, NotFoundError, RefusedError
from compounding.store import Store, lotid
from signoff_support import ENV, add_users

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(store_path):
    s = Store.open(store_path, clock=lambda: NOW)
    add_users(s, "ana", "bo")  # issue 7: whoever acts is a user
    yield s
    s.close()


def test_receive_converts_exactly_and_derives_stock(store):
    lot = store.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("25 g"), "ana",
                            potency_percent=Decimal("99.2"), manufacturer="Acme")
    assert (lot["unit"], lot["received"], lot["on_hand"]) == ("mg", Decimal("25000"),
                                                             Decimal("25000"))
    assert lot["potency_percent"] == Decimal("99.2") and lot["days_to_expiry"] == 456
    lot = store.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("0.5 g"), "bo",
                            potency_percent=Decimal("99.2"))
    assert lot["on_hand"] == Decimal("25500")
    water = store.receive_lot("purified-water", "W1", date(2026, 4, 1), u.parse("1 L"), "ana")
    assert (water["unit"], water["on_hand"]) == ("mL", Decimal("1000"))
    # the view agrees with the exact figures
    rows = store.db.execute("SELECT lot_number, received, consumed, on_hand, unit "
                            "FROM stock_on_hand ORDER BY lot_number").fetchall()
    assert rows == [("NX1", 25500.0, 0.0, 25500.0, "mg"), ("W1", 1000.0, 0.0, 1000.0, "mL")]


def test_receive_refusals(store):
    store.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("25 g"), "ana")
    with pytest.raises(RefusedError, match=r"^lot NX1 of naltrexone-hcl is already on record "
                                           r"with expiry 31 MAY 2027; a further receipt"):
        store.receive_lot("naltrexone-hcl", "NX1", date(2027, 6, 30), u.parse("1 g"), "ana")
    with pytest.raises(RefusedError, match="expired on 28 FEB 2026"):
        store.receive_lot("naltrexone-hcl", "OLD", date(2026, 2, 28), u.parse("1 g"), "ana")
    with pytest.raises(InputError, match="potency"):
        store.receive_lot("naltrexone-hcl", "P", date(2027, 1, 1), u.parse("1 g"), "ana",
                          potency_percent=Decimal("0"))
    with pytest.raises(InputError, match="^by: must not be empty$"):
        store.receive_lot("naltrexone-hcl", "P", date(2027, 1, 1), u.parse("1 g"), " ")
    with pytest.raises(InputError):
        store.receive_lot("naltrexone-hcl", "P", date(2027, 1, 1), u.parse("10 capsules"), "a")


def test_lots_expiring_within_is_parameterised(store):
    store.receive_lot("naltrexone-hcl", "SOON", date(2026, 3, 20), u.parse("1 g"), "ana")
    store.receive_lot("naltrexone-hcl", "LATER", date(2026, 9, 1), u.parse("1 g"), "ana")
    assert [x["lot_number"] for x in store.lots(expiring_within=30)] == ["SOON"]
    assert [x["lot_number"] for x in store.lots(expiring_within=184)] == ["SOON", "LATER"]
    # a hostile lot number is data, never SQL
    evil = "X'; DROP TABLE batches; --"
    store.receive_lot("naltrexone-hcl", evil, date(2027, 1, 1), u.parse("1 g"), "ana")
    assert store.find_lot("naltrexone-hcl", evil)["lot_number"] == evil
    assert "batches" in [t for t, in store.db.execute(
        "SELECT name FROM sqlite_master" if not is_postgres(store)
        else "SELECT tablename FROM pg_tables")]


def test_find_lot_of_another_ingredient_is_refused(store):
    store.receive_lot("naltrexone-base", "NB1", date(2027, 1, 1), u.parse("1 g"), "ana")
    with pytest.raises(RefusedError, match="^lot NB1 is naltrexone-base, not naltrexone-hcl$"):
        store.find_lot("naltrexone-hcl", "NB1")
    with pytest.raises(NotFoundError, match="no lot ZZ of naltrexone-hcl on record"):
        store.find_lot("naltrexone-hcl", "ZZ")


def test_lot_ids_format_check_digit_and_width():
    lid = lotid.make_lot_id(date(2026, 5, 23), 1)
    assert lid == "2605230011" and lotid.validate_lot_id(lid) == lid
    with pytest.raises(InputError, match="wrong check digit"):
        lotid.validate_lot_id("2605230012")
    with pytest.raises(InputError, match="not a batch lot ID"):
        lotid.validate_lot_id("26-0523")
    assert lotid.code128_modules(lid) == 110
    assert lotid.code128_width_mm(lid) == Decimal("27.50")
    assert lotid.code128_width_mm(lid) + 0 < lotid.LABEL_WIDTH_MM
    assert lotid.code128_width_mm("A605230014") == Decimal("41.25")
    # every single-digit typo is caught by the check digit
    for i in range(10):
        for d in "0123456789":
            if d != lid[i]:
                typo = lid[:i] + d + lid[i + 1:]
                with pytest.raises(InputError):
                    lotid.validate_lot_id(typo)


def test_lot_ids_sortable_and_never_reused(store):
    a = store.allocate_lot_id("ana", date(2026, 3, 1))
    b = store.allocate_lot_id("ana", date(2026, 3, 1))
    c = store.allocate_lot_id("ana", date(2026, 3, 2))
    assert a < b < c and (a[:9], b[:9], c[:9]) == ("260301001", "260301002", "260302001")
    with pytest.raises(store.backend.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM lot_ids WHERE lot_id = ?", [b])
    assert store.allocate_lot_id("ana", date(2026, 3, 1))[:9] == "260301003"


@pytest.mark.parametrize("table", ["component_lots", "lot_receipts", "lot_ids", "audit_log"])
def test_plain_sql_cannot_rewrite_history(store, table):
    store.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("25 g"), "ana")
    store.allocate_lot_id("ana")
    col = first_column(store, table)
    with pytest.raises(store.backend.IntegrityError, match=f"^{table} is append-only"):
        store.db.execute(f"UPDATE {table} SET {col} = {col}")
    with pytest.raises(store.backend.IntegrityError, match=f"^{table} is append-only"):
        store.db.execute(f"DELETE FROM {table}")


def test_audit_chain_and_verify_detect_tampering(store):
    base = len(store.audit_log())  # the users' entries (issue 7)
    store.receive_lot("naltrexone-hcl", "NX1", date(2027, 5, 31), u.parse("25 g"), "ana")
    e = store.audit("note", "ana", {"text": "hello"})
    log = store.audit_log()[base:]
    assert [x["action"] for x in log] == ["inventory.receive", "note"]
    assert log[1]["prev_hash"] == log[0]["hash"] and e["id"] == base + 2
    assert store.audit_log(action="note")[0]["details"] == {"text": "hello"}
    assert store.verify() == []
    # a raw insert that does not chain is refused by trigger
    with pytest.raises(store.backend.IntegrityError, match="audit_log: an entry must chain"):
        store.db.execute("INSERT INTO audit_log (id, at, actor, action, details, prev_hash, "
                         "hash) VALUES (?, '2026-03-01T00:00:00Z', 'x', 'y', '{}', ?, ?)",
                         [base + 3, "0" * 64, "1" * 64])
    # someone drops the triggers and edits history: verify still notices
    drop_trigger(store, "lot_receipts_no_update", "lot_receipts")
    store.db.execute("UPDATE lot_receipts SET quantity = '250000'")
    drop_trigger(store, "audit_log_no_update", "audit_log")
    store.db.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = ?", [base + 2])
    drop_trigger(store, "component_lots_no_delete", "component_lots")
    store.db.execute("INSERT INTO component_lots (ingredient, lot_number, expires, unit, "
                     "created_by, created_at) VALUES ('sucrose', 'S', '2027-01-01', 'mg', 'm', "
                     "'2026-03-01T00:00:00Z')")
    commit(store)
    # SQLite: the schema check names the dropped triggers; PostgreSQL: its integrity check
    # and the schema check (against a scratch schema) both do
    pg_dropped = (("audit_log_no_update", "audit_log"),
                  ("component_lots_no_delete", "component_lots"),
                  ("lot_receipts_no_update", "lot_receipts"))
    dropped = [f"integrity_check: trigger {t} on {tb} is missing" for t, tb in (
        pg_dropped[1], pg_dropped[2], pg_dropped[0])] + [
        f"schema: trigger {t} on {tb} is missing (a migration made it)"
        for t, tb in pg_dropped] if is_postgres(store) else [
        "schema: trigger audit_log_no_update is missing (a migration made it)",
        "schema: trigger component_lots_no_delete is missing (a migration made it)",
        "schema: trigger lot_receipts_no_update is missing (a migration made it)"]
    assert store.verify() == dropped + [
        f"lot_receipts 1: record differs from what audit entry {base + 1} recorded",
        f"audit_log {base + 2}: content does not match its hash",
        "component_lots 2: not on the audit log",
    ]


def test_label_prints_mark_reprints(store):
    # a batch row needs the full create path; label prints are tested with batches in
    # test_store_batches.py. Here: an unknown batch is refused.
    with pytest.raises(NotFoundError, match="no batch with lot ID 2603010011"):
        store.record_label_print("2603010011", "container", "t", 1, "a" * 64, 1, "b" * 64,
                                 "x.pdf", "ana")


# ---------------------------------------------------------------- CLI

def run(*args, db):
    if not db.exists():  # issue 7: users who act, with their passphrase
        s = Store.open(db)
        add_users(s, "ana")
        s.close()
    return CliRunner().invoke(cli, [*args, "--db", str(db)], env=ENV)


def test_cli_inventory_receive_and_list(tmp_path):
    db = tmp_path / "c.db"
    r = run("inventory", "receive", "naltrexone-hcl", "--lot", "NX1", "--expires", "2099-05",
            "--quantity", "25 g", "--potency", "99.2", "--manufacturer", "Acme", "--by", "ana",
            db=db)
    assert r.exit_code == 0, r.output
    assert r.output == ("Received 25 g of naltrexone-hcl lot NX1 (expires 31 MAY 2099, "
                        "potency 99.2%)\nOn hand: 25 g\n")
    r = run("inventory", "list", db=db)
    days = (date(2099, 5, 31) - date.today()).days
    lines = r.output.splitlines()
    assert lines[0].split() == ["INGREDIENT", "LOT", "EXPIRES", "LEFT", "POTENCY", "ON", "HAND",
                                "RESERVED"]
    assert lines[2].split() == ["naltrexone-hcl", "NX1", "31", "MAY", "2099", str(days), "days",
                                "99.2%", "25", "g", "0", "mg"]
    r = run("inventory", "list", "--expiring-within", "30", db=db)
    assert r.output == "No component lots expiring within 30 days\n"
    r = run("inventory", "receive", "naltrexone", "--lot", "X", "--expires", "2099-01-01",
            "--quantity", "1 g", "--by", "a", db=db)
    assert r.exit_code == 2 and r.output.startswith("Error: unknown ingredient 'naltrexone'")
    r = run("inventory", "receive", "naltrexone-hcl", "--lot", "X", "--expires", "01/02/2099",
            "--quantity", "1 g", "--by", "a", db=db)
    assert r.exit_code == 2 and r.output.startswith("Error: expires: '01/02/2099'")
    r = run("inventory", "receive", "naltrexone-hcl", "--lot", "X", "--expires", "2099-01-01",
            "--quantity", "1000", "--by", "a", db=db)
    assert r.exit_code == 2 and "a unit is required" in r.output


def test_cli_db_backup_and_verify(tmp_path):
    db = tmp_path / "c.db"
    run("inventory", "receive", "sucrose", "--lot", "S1", "--expires", "2099-01-01",
        "--quantity", "500 g", "--by", "ana", db=db)
    dest = tmp_path / "copy.db"
    r = run("db", "backup", str(dest), db=db)
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"Backed up to {dest} (")
    lines = r.output.splitlines()
    assert lines[0].endswith("integrity ok): 1 component lots, 0 batches, 0 weighings, "
                             "6 audit entries")  # 5: adding the users (issue 7)
    heads = {n: h for n, h in sqlite3.connect(db).execute("SELECT id, hash FROM audit_log")}
    assert lines[1:] == [f"Anchor of {db}: 7 audit entries, head {heads[7]}",
                         f"Anchor of the copy: 6 audit entries, head {heads[6]}"]
    copy = Store.open(dest)
    assert copy.lots()[0]["lot_number"] == "S1"
    copy.close()
    r = run("db", "backup", str(dest), db=db)
    assert r.exit_code == 1 and "already exists" in r.output
    r = run("db", "verify", db=db)
    assert r.output.splitlines()[0] == ("OK: integrity check passed, schema as migrated, 7 "
                                        "audit entries chain, every record matches the "
                                        "audit log")


@pytest.mark.parametrize("typed, shown", [
    ("5 g", "5 g"),            # was "5,000 mg" (attack s4 finding 14) while 10 g said "10 g"
    ("10 g", "10 g"),
    ("0.5 g", "0.5 g"),
    ("750 mg", "750 mg"),
    ("250 mcg", "250 mcg"),
    ("12,500 mg", "12,500 mg"),
])
def test_receive_says_on_hand_in_the_unit_received(tmp_path, typed, shown):
    db = tmp_path / "c.db"
    r = run("inventory", "receive", "naltrexone-hcl", "--lot", "NX1", "--expires", "2099-05",
            "--quantity", typed, "--by", "ana", db=db)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == f"On hand: {shown}"
