"""Sites of a pharmacy group (issue 20): site codes, lot IDs with the site, migration m020
(existing rows become site MAIN, digests and lot IDs unchanged), site-owned records."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from compounding import units as u
from compounding.errors import InputError, RefusedError
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings, load_settings
from compounding.sites import validate_site
from compounding.store import Store, lotid
from compounding.store.core import StoreCore
from compounding.store.migrations import migrations
from signoff_support import ROOT, add_users, approve_formulas

DAY = date(2026, 5, 23)


class Clock:
    def __call__(self):
        return datetime(2026, 5, 23, 12, 0, tzinfo=timezone.utc)


# ------------------------------------------------------------------ site codes

@pytest.mark.parametrize("text", ["NYC", "AB", "BOS1", "Z9", "MAIN", "A1B2"])
def test_site_codes_accepted(text):
    assert validate_site(text) == text


@pytest.mark.parametrize("text, message", [
    ("nyc", "site: 'nyc' is not a site code (2-4 characters, upper-case letters A-Z and "
            "digits 0-9, starting with a letter, e.g. NYC)"),
    ("N", "site: 'N' is not a site code (2-4 characters, upper-case letters A-Z and digits "
          "0-9, starting with a letter, e.g. NYC)"),
    ("NYCBO", "site: 'NYCBO' is not a site code (2-4 characters, upper-case letters A-Z and "
              "digits 0-9, starting with a letter, e.g. NYC)"),
    ("1NY", "site: '1NY' is not a site code (2-4 characters, upper-case letters A-Z and "
            "digits 0-9, starting with a letter, e.g. NYC)"),
    ("NY C", "site: 'NY C' is not a site code (2-4 characters, upper-case letters A-Z and "
             "digits 0-9, starting with a letter, e.g. NYC)"),
    ("", "site: '' is not a site code (2-4 characters, upper-case letters A-Z and digits "
         "0-9, starting with a letter, e.g. NYC)"),
    ("NY\u0661", "site: character U+0661 (ARABIC-INDIC DIGIT ONE) at position 3 is not "
                 "allowed in a site code (2-4 characters, upper-case letters A-Z and digits "
                 "0-9, starting with a letter)"),
    ("NY\u200bC", "site: character U+200B (ZERO WIDTH SPACE) at position 3 is not allowed "
                  "in a site code (2-4 characters, upper-case letters A-Z and digits 0-9, "
                  "starting with a letter)"),
    ("\u202eCYN", "site: character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1 is not "
                  "allowed in a site code (2-4 characters, upper-case letters A-Z and digits "
                  "0-9, starting with a letter)"),
    ("NY\x07", "site: character U+0007 (ALERT) at position 3 is not allowed in "
               "a site code (2-4 characters, upper-case letters A-Z and digits 0-9, "
               "starting with a letter)"),
    ("ＮＹＣ", "site: character U+FF2E (FULLWIDTH LATIN CAPITAL LETTER N) at position 1 is "
              "not allowed in a site code (2-4 characters, upper-case letters A-Z and digits "
              "0-9, starting with a letter)"),
    ("X" * 300, "site: '" + "X" * 40 + "...' is not a site code (2-4 characters, upper-case "
                "letters A-Z and digits 0-9, starting with a letter, e.g. NYC)"),
    (1e3, "site: must be a site code (2-4 characters, upper-case letters A-Z and digits "
          "0-9, starting with a letter), not float"),
])
def test_site_codes_refused(text, message):
    with pytest.raises(InputError) as exc:
        validate_site(text)
    assert str(exc.value) == message


@pytest.mark.parametrize("toml, expected", [
    ("", "MAIN"),
    ('site = "NYC"\n', "NYC"),
])
def test_settings_site(tmp_path, toml, expected):
    path = tmp_path / "pharmacy.toml"
    path.write_text(toml)
    assert load_settings(path).site == expected


def test_settings_site_refused_names_the_field(tmp_path):
    path = tmp_path / "pharmacy.toml"
    path.write_text('site = "nyc"\n')
    with pytest.raises(Exception) as exc:
        load_settings(path)
    assert "site: 'nyc' is not a site code" in str(exc.value)


# ------------------------------------------------------------------ lot IDs

@pytest.mark.parametrize("site, seq, expected", [
    ("MAIN", 1, "2605230011"),        # the original form, unchanged
    ("MAIN", 999, "2605239991"),
    ("NYC", 1, "NYC26052300106"),
    ("NYC", 2, "NYC26052300203"),
    ("AB", 1, "AB26052300148"),
    ("BOS1", 999, "BOS126052399911"),
])
def test_make_lot_id(site, seq, expected):
    assert lotid.make_lot_id(DAY, seq, site) == expected
    assert lotid.validate_lot_id(expected) == expected
    assert lotid.lot_site(expected) == site


def test_mod97_is_iso_7064_as_iban():
    # ISO 13616 example IBAN GB82 WEST 1234 5698 7654 32, rearranged as the check runs it
    assert lotid.mod97_valid("WEST12345698765432GB82")
    assert lotid.mod97_check("WEST12345698765432GB") == "82"


def test_every_single_error_and_neighbour_swap_is_caught():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for site in ("NYC", "AB", "BOS1", "Z9"):
        for seq in (1, 7, 500, 999):
            good = lotid.make_lot_id(date(2026, 12, 31), seq, site)
            typos = {good[:i] + c + good[i + 1:] for i in range(len(good)) for c in alphabet}
            typos |= {good[:i] + good[i + 1] + good[i] + good[i + 2:]
                      for i in range(len(good) - 1)}
            typos.discard(good)
            for typo in typos:
                with pytest.raises(InputError):
                    lotid.validate_lot_id(typo)


def test_a_site_id_without_its_site_code_is_not_a_main_id():
    with pytest.raises(InputError, match="is not a batch lot ID"):
        lotid.validate_lot_id("26052300106")


@pytest.mark.parametrize("text, message", [
    ("MAIN26052300137", "lot: 'MAIN26052300137' is not a batch lot ID (10 digits, e.g. "
                        "2605230011), nor a site's (site code and 11 digits, e.g. "
                        "NYC26052300106)"),
    ("nyc26052300106", "lot: 'nyc26052300106' is not a batch lot ID (10 digits, e.g. "
                       "2605230011), nor a site's (site code and 11 digits, e.g. "
                       "NYC26052300106)"),
    ("NYC2605230010\u0666", "lot: 'NYC2605230010٦' is not a batch lot ID (10 digits, e.g. "
                            "2605230011), nor a site's (site code and 11 digits, e.g. "
                            "NYC26052300106)"),
    ("NYC26052300107", "lot: 'NYC26052300107' has wrong check digits (mistyped lot ID?)"),
    ("1e3", "lot: '1e3' is not a batch lot ID (10 digits, e.g. 2605230011), nor a site's "
            "(site code and 11 digits, e.g. NYC26052300106)"),
    ("NYC\u200b26052300106", "lot: 'NYC\\u200b26052300106' is not a batch lot ID (10 digits, "
                             "e.g. 2605230011), nor a site's (site code and 11 digits, e.g. "
                             "NYC26052300106)"),
    ("N" * 300, "lot: '" + "N" * 40 + "...' is not a batch lot ID (10 digits, e.g. "
                "2605230011), nor a site's (site code and 11 digits, e.g. NYC26052300106)"),
])
def test_lot_ids_refused(text, message):
    with pytest.raises(InputError) as exc:
        lotid.validate_lot_id(text)
    assert str(exc.value) == message


@pytest.mark.parametrize("site, drawn_modules, bound", [
    ("MAIN", 110, 110), ("AB", 165, 165), ("NYC", 176, 176), ("ABCD", 187, 187),
    ("BOS1", 165, 187), ("A1B2", None, 187),
])
def test_code128_width_within_the_bound_and_the_label(site, drawn_modules, bound):
    from compounding.labeling import code128
    lot = lotid.make_lot_id(DAY, 1, site)
    drawn = code128.modules(lot)
    assert code128.decode(drawn) == lot
    width = len(drawn) + 2 * lotid.QUIET_ZONE_MODULES
    if drawn_modules is not None:
        assert width == drawn_modules
    assert width <= lotid.code128_modules_site(lot) == bound
    assert bound * lotid.MODULE_MM <= lotid.LABEL_WIDTH_MM


# ------------------------------------------------------------------ m020 on an old database

def old_database(path):
    """A database at the schema before m020 with a lot ID, a component lot and a receipt,
    written (and audited) as the code before sites wrote them."""
    store = StoreCore.open(path, migrate=False)
    with store.write():
        migrations.apply(store.db, stop_before="m020_sites")
    with store.write():
        store.execute("INSERT INTO lot_ids (lot_id, day, seq, allocated_by, allocated_at) "
                      "VALUES ('2605230011', '2026-05-23', 1, 'ana', "
                      "'2026-05-23T09:00:00.000000Z')")
        store.audit("lot-id.allocate", "ana", {"lot_id": "2605230011"}, lot_id="2605230011",
                    records=[store.ref("lot_ids", "2605230011")])
        cid = store.insert("component_lots", {
            "ingredient": "naltrexone-hcl", "lot_number": "NX1", "expires": "2027-01-31",
            "potency_percent": "100", "unit": "mg", "created_by": "ana",
            "created_at": "2026-05-23T09:00:00.000000Z"})
        rid = store.insert("lot_receipts", {
            "component_lot_id": cid, "quantity": "5000", "received_as": "5 g",
            "received_by": "ana", "received_at": "2026-05-23T09:00:00.000000Z"})
        store.audit("inventory.receive", "ana", {}, records=[
            store.ref("component_lots", cid), store.ref("lot_receipts", rid)])
    store.close()


def test_m020_keeps_old_rows_their_ids_and_digests(tmp_path):
    path = tmp_path / "old.db"
    old_database(path)
    with Store.open(path, clock=Clock()) as store:
        assert store.verify() == []
        assert store.rows("SELECT lot_id, site FROM lot_ids") == [
            {"lot_id": "2605230011", "site": "MAIN"}]
        assert store.column("SELECT site FROM component_lots") == ["MAIN"]
        add_users(store, "ana")
        assert store.allocate_lot_id("ana", DAY) == "2605230028"   # MAIN continues
        store.site = "NYC"
        assert store.allocate_lot_id("ana", DAY) == "NYC26052300106"  # NYC starts at 1
        assert store.allocate_lot_id("ana", DAY) == "NYC26052300203"
        assert store.verify() == []
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        con.close()


@pytest.mark.parametrize("sql, message", [
    ("INSERT INTO lot_ids VALUES ('NYC26052300106', '2026-05-23', 1, 'ana', "
     "'2026-05-23T09:00:00Z', 'MAIN')", "CHECK constraint failed"),
    ("INSERT INTO lot_ids VALUES ('2605230011', '2026-05-23', 1, 'ana', "
     "'2026-05-23T09:00:00Z', 'NYC')", "CHECK constraint failed"),
    ("INSERT INTO lot_ids VALUES ('BOS26052300106', '2026-05-23', 1, 'ana', "
     "'2026-05-23T09:00:00Z', 'NYC')", "CHECK constraint failed"),
    ("INSERT INTO lot_ids VALUES ('ny26052300106', '2026-05-23', 1, 'ana', "
     "'2026-05-23T09:00:00Z', 'ny')", "CHECK constraint failed"),
    ("INSERT INTO component_lots (ingredient, lot_number, expires, unit, created_by, "
     "created_at, site) VALUES ('x', 'L', '2027-01-01', 'mg', 'a', '2026-05-23T09:00:00Z', "
     "'N\u200bY')", "CHECK constraint failed"),
    ("UPDATE lot_ids SET site = 'NYC'", "lot_ids is append-only"),
    ("DELETE FROM lot_ids", "lot_ids is append-only"),
])
def test_schema_refuses(tmp_path, sql, message):
    path = tmp_path / "old.db"
    old_database(path)
    Store.open(path).close()
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match=message):
        con.execute(sql)
    con.close()


def test_site_moved_by_plain_sql_is_reported(tmp_path):
    path = tmp_path / "old.db"
    old_database(path)
    Store.open(path).close()
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER component_lots_no_update")
    con.execute("UPDATE component_lots SET site = 'NYC'")
    con.commit()
    con.close()
    with Store.open(path) as store:
        assert store.verify() == [
            "schema: trigger component_lots_no_update is missing (a migration made it)",
            "component_lots 1: record differs from what audit entry 2 recorded"]


# ------------------------------------------------------------------ site-owned records

@pytest.fixture
def reg():
    return Registry.load(ROOT / "formulas")


def make_batch(store, reg):
    f = reg.get("ldn-capsules")
    order = Order.from_text(f, quantity="100", strength="1.5 mg")
    return store.create_batch(f, reg.catalogue, Settings(), order, by="ana",
                              formula_sha256=reg.hashes[f.id])


def test_batches_draw_on_their_own_sites_stock(store_path, reg):
    with Store.open(store_path, clock=Clock()) as store:
        add_users(store, "ana")
        approve_formulas(store, reg)
        store.receive_lot("naltrexone-hcl", "NX-MAIN", date(2027, 5, 31), u.parse("5 g"), "ana")
        store.receive_lot("microcrystalline-cellulose", "MCC-MAIN", date(2027, 12, 31),
                          u.parse("500 g"), "ana")
        store.site = "NYC"
        with pytest.raises(RefusedError, match="not enough naltrexone-hcl|no lot|stock"):
            make_batch(store, reg)  # MAIN's stock is not NYC's
        with pytest.raises(RefusedError) as exc:
            store.receive_lot("naltrexone-hcl", "NX-MAIN", date(2027, 5, 31),
                              u.parse("1 g"), "ana")
        assert str(exc.value) == (
            "lot NX-MAIN of naltrexone-hcl is stock of site MAIN; this site (NYC) cannot "
            "receive into it (the same manufacturer lot at two sites is not supported yet: "
            "ask the other site to transfer it)")
        store.receive_lot("naltrexone-hcl", "NX-NYC", date(2027, 5, 31), u.parse("5 g"), "ana")
        store.receive_lot("microcrystalline-cellulose", "MCC-NYC", date(2027, 12, 31),
                          u.parse("500 g"), "ana")
        rec = make_batch(store, reg)
        assert rec["lot_id"] == "NYC26052300106"
        assert {c["lot_number"] for c in rec["components"]} == {"NX-NYC", "MCC-NYC"}
        assert store.scalar("SELECT site FROM batches") == "NYC"
        assert [b["lot_id"] for b in store.list_batches(site="NYC")] == ["NYC26052300106"]
        assert store.list_batches(site="MAIN") == []
        assert [lot["lot_number"] for lot in store.lots(site="NYC")] == ["NX-NYC", "MCC-NYC"]
        assert {lot["site"] for lot in store.lots()} == {"MAIN", "NYC"}
        main_lot = store.scalar("SELECT id FROM component_lots WHERE lot_number = 'NX-MAIN'")
        with pytest.raises(store.backend.IntegrityError, match="own site's stock"):
            with store.write():
                store.execute("INSERT INTO weighings (lot_id, step, what, ingredient, "
                              "component_lot_id, planned_quantity, planned_unit, quantity, "
                              "unit, consumed_quantity, deviation_percent, weighed_by, weighed_at) VALUES "
                              "('NYC26052300106', 1, 'x', 'naltrexone-hcl', ?, '1', 'mg', "
                              "'1', 'mg', '1', '0', 'ana', '2026-05-23T12:00:00Z')", [main_lot])
        assert store.verify() == []
