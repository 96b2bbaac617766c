"""Sites on the command line (issue 20): the site from the settings, listings limited to this
site unless --all-sites, recall across every site naming each batch's and patient's site."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from compounding import units as u
from compounding.cli import cli
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store, dispensing
from signoff_support import ENV, ROOT, add_users, approve_formulas

SHA = "0" * 64


class Clock:
    def __call__(self):
        return datetime(2026, 5, 23, 12, 0, tzinfo=timezone.utc)


def batch_at(store, reg, site, nx_lot, patient):
    """Receive stock at ``site``, make a batch there and print a dispensing label."""
    store.site = site
    store.receive_lot("naltrexone-hcl", nx_lot, date(2027, 5, 31), u.parse("5 g"), "ana")
    store.receive_lot("microcrystalline-cellulose", "MCC-" + site, date(2027, 12, 31),
                      u.parse("500 g"), "ana")
    f = reg.get("ldn-capsules")
    rec = store.create_batch(f, reg.catalogue, Settings(),
                             Order.from_text(f, quantity="100", strength="1.5 mg"),
                             by="ana", formula_sha256=reg.hashes[f.id])
    dispensing.record_label_print(store, rec["lot_id"], "dispensing", "dispensing-thermal", 1,
                                  SHA, 1, SHA, "x.pdf", "ana", patient=patient,
                                  rx_number="RX-" + site, dispensed_quantity="30 capsules")
    return rec["lot_id"]


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """A store with a MAIN batch (from before sites) and an NYC batch, and settings files."""
    tmp = tmp_path_factory.mktemp("group")
    reg = Registry.load(ROOT / "formulas")
    with Store.open(tmp / "g.db", clock=Clock()) as store:
        add_users(store, "ana")
        approve_formulas(store, reg)
        main = batch_at(store, reg, "MAIN", "NX-MAIN", "Ann Main")
        nyc = batch_at(store, reg, "NYC", "NX-NYC", "Nora York")
    (tmp / "nyc.toml").write_text('site = "NYC"\n')
    (tmp / "main.toml").write_text("")
    return tmp, main, nyc


def run(group, settings, *args):
    tmp = group[0]
    return CliRunner().invoke(cli, ["--settings", str(tmp / settings), *args,
                                    "--db", str(tmp / "g.db")], env=ENV)


def test_lot_ids_of_each_site(group):
    _, main, nyc = group
    assert (main, nyc) == ("2605230011", "NYC26052300106")


def test_batch_list_shows_this_site_and_says_others_exist(group):
    r = run(group, "nyc.toml", "batch", "list")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[2].startswith("NYC26052300106  ldn-capsules")
    assert len(r.stdout.splitlines()) == 3
    assert r.stderr == "Showing site NYC only; other sites hold batches too (--all-sites)\n"
    r = run(group, "main.toml", "batch", "list")
    assert [line.split()[0] for line in r.stdout.splitlines()[2:]] == ["2605230011"]


def test_batch_list_all_sites(group):
    r = run(group, "nyc.toml", "batch", "list", "--all-sites")
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["SITE", "LOT", "FORMULA", "STRENGTH", "QUANTITY", "STATUS",
                                "COMPOUNDED", "BUD", "WEIGHED"]
    assert [line.split()[:2] for line in lines[2:]] == [["NYC", "NYC26052300106"],
                                                        ["MAIN", "2605230011"]]
    rows = json.loads(run(group, "nyc.toml", "batch", "list", "--all-sites", "--json").stdout)
    assert [(b["site"], b["lot_id"]) for b in rows] == [("NYC", "NYC26052300106"),
                                                       ("MAIN", "2605230011")]


def test_inventory_list_this_site_and_all_sites(group):
    r = run(group, "nyc.toml", "inventory", "list")
    assert r.exit_code == 0, r.output
    assert sorted(line.split()[1] for line in r.stdout.splitlines()[2:]) == ["MCC-NYC",
                                                                             "NX-NYC"]
    assert r.stderr == ("Showing site NYC only; other sites hold component lots too "
                        "(--all-sites)\n")
    r = run(group, "nyc.toml", "inventory", "list", "--all-sites")
    assert r.stdout.splitlines()[0].split()[:2] == ["SITE", "INGREDIENT"]
    assert sorted((line.split()[0], line.split()[2]) for line in r.stdout.splitlines()[2:]) == [
        ("MAIN", "MCC-MAIN"), ("MAIN", "NX-MAIN"), ("NYC", "MCC-NYC"), ("NYC", "NX-NYC")]
    lots = json.loads(run(group, "main.toml", "inventory", "list", "--json").stdout)
    assert {(x["site"], x["lot_number"]) for x in lots} == {("MAIN", "NX-MAIN"),
                                                           ("MAIN", "MCC-MAIN")}


def test_inventory_list_pages_within_the_site_or_across_all_sites(group):
    """--limit/--no-limit (issue 18) page this site's lots, or every site's with --all-sites;
    the count in the note is of the same lots."""
    r = run(group, "nyc.toml", "inventory", "list", "--limit", "1")
    assert r.exit_code == 0, r.output
    assert [line.split()[1] for line in r.stdout.splitlines()[2:]] == ["NX-NYC"]
    assert r.stderr == ("Showing site NYC only; other sites hold component lots too "
                        "(--all-sites)\n"
                        "Showing the 1 earliest-expiring of 2 lots; --limit N for more, "
                        "--no-limit for every one.\n")
    r = run(group, "nyc.toml", "inventory", "list", "--all-sites", "--limit", "3")
    assert r.exit_code == 0, r.output
    assert [(line.split()[0], line.split()[2]) for line in r.stdout.splitlines()[2:]] == [
        ("MAIN", "NX-MAIN"), ("NYC", "NX-NYC"), ("MAIN", "MCC-MAIN")]
    assert r.stderr == ("Showing the 3 earliest-expiring of 4 lots; --limit N for more, "
                        "--no-limit for every one.\n")
    r = run(group, "nyc.toml", "inventory", "list", "--all-sites", "--no-limit")
    assert r.exit_code == 0 and r.stderr == "", r.output
    assert len(r.stdout.splitlines()[2:]) == 4


def test_recall_searches_every_site_and_names_them(group):
    _, main, nyc = group
    r = run(group, "main.toml", "recall", "--batch", nyc)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith(f"Batch {nyc} (site NYC): ldn-capsules")
    dispensed = r.stdout.split("Dispensed to patients (1):\n")[1].splitlines()
    assert dispensed[0].split()[:3] == ["SITE", "BATCH", "PATIENT"]
    assert dispensed[2].split()[:4] == ["NYC", nyc, "Nora", "York"]
    data = json.loads(run(group, "main.toml", "recall", "--batch", nyc, "--json").stdout)
    assert data["site"] == "NYC" and data["dispensed"][0]["site"] == "NYC"
    rows = json.loads(run(group, "nyc.toml", "recall", "NX-MAIN", "--json").stdout)
    assert [(x["site"], x["batch_lot_id"]) for x in rows] == [("MAIN", main)]
    assert rows[0]["dispensed"][0]["site"] == "MAIN"


def test_single_site_recall_has_no_site_column(group):
    _, main, _ = group
    r = run(group, "main.toml", "recall", "--batch", main)
    assert r.stdout.splitlines()[0].startswith(f"Batch {main}: ldn-capsules")
    assert "SITE" not in r.stdout


@pytest.mark.parametrize("toml, message", [
    ('site = "nyc"\n', "Error: {path}: site: 'nyc' is not a site code (2-4 characters, "
                       "upper-case letters A-Z and digits 0-9, starting with a letter, e.g. "
                       "NYC)"),
    ('site = "NY\u200bC"\n', "Error: {path}: site: character U+200B (ZERO WIDTH SPACE) at "
                             "position 3 is not allowed in a site code (2-4 characters, "
                             "upper-case letters A-Z and digits 0-9, starting with a "
                             "letter)"),
    ("site = 1e3\n", "Error: {path}: site: must be a site code (2-4 characters, upper-case "
                     "letters A-Z and digits 0-9, starting with a letter), not float"),
    ("site = \n", "Error: {path}: not valid TOML (Invalid value (at line 1, column 8))"),
])
def test_bad_site_setting_is_one_line_and_touches_nothing(tmp_path, toml, message):
    settings = tmp_path / "s.toml"
    settings.write_text(toml, encoding="utf-8")
    r = CliRunner().invoke(cli, ["--settings", str(settings), "batch", "list", "--db",
                                 str(tmp_path / "new.db")], env=ENV)
    assert r.exit_code != 0
    assert r.output == message.format(path=settings) + "\n"
    assert not (tmp_path / "new.db").exists()


def test_missing_settings_file_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["--settings", str(tmp_path / "none.toml"), "batch", "list",
                                 "--db", str(tmp_path / "new.db")], env=ENV)
    assert r.output == f"Error: {tmp_path / 'none.toml'}: settings file not found\n"
    assert not (tmp_path / "new.db").exists()


class Days:
    """A clock that moves a day at a time."""

    def __init__(self):
        self.day = 1

    def __call__(self):
        return datetime(2026, 6, self.day, 12, 0, tzinfo=timezone.utc)


def test_batch_list_all_sites_limit_is_the_newest_across_sites(store_path, tmp_path):
    """Attack s4 finding 12: with NYC's one batch older than BOS's, --all-sites --limit N
    listed NYC's (grouped first) and cut BOS's, under a note "the newest N". Now the newest
    N of every site, then grouped by site (this site first), newest first in each."""
    reg = Registry.load(ROOT / "formulas")
    f = reg.get("ldn-capsules")
    clock = Days()
    made = {}
    with Store.open(store_path, clock=clock) as store:
        add_users(store, "ana")
        approve_formulas(store, reg)
        for site in ("NYC", "BOS"):
            store.site = site
            store.receive_lot("naltrexone-hcl", "NX-" + site, date(2027, 5, 31),
                              u.parse("5 g"), "ana")
            store.receive_lot("microcrystalline-cellulose", "MCC-" + site,
                              date(2027, 12, 31), u.parse("500 g"), "ana")
        for day, site in ((1, "NYC"), (2, "BOS"), (3, "BOS"), (4, "NYC"), (5, "BOS"),
                          (5, "BOS")):
            clock.day, store.site = day, site
            rec = store.create_batch(f, reg.catalogue, Settings(),
                                     Order.from_text(f, quantity="30", strength="1.5 mg"),
                                     by="ana", formula_sha256=reg.hashes[f.id])
            made.setdefault(site, []).append(rec["lot_id"])
    (tmp_path / "bos.toml").write_text('site = "BOS"\n')
    (tmp_path / "nyc.toml").write_text('site = "NYC"\n')

    def listing(settings, *args):
        r = CliRunner().invoke(cli, ["--settings", str(tmp_path / settings), "batch", "list",
                                     "--all-sites", *args, "--db", str(store_path)], env=ENV)
        assert r.exit_code == 0, r.output
        return r

    # the 3 newest: BOS day 5 (twice) and NYC day 4; NYC's day-1 batch is not among them
    r = listing("nyc.toml", "--limit", "3")
    assert [line.split()[:2] for line in r.stdout.splitlines()[2:]] == [
        ["NYC", made["NYC"][1]], ["BOS", made["BOS"][3]], ["BOS", made["BOS"][2]]]
    assert r.stderr == ("Showing the newest 3 of 6 batches of every site; --limit N for "
                        "more, --no-limit for every one.\n")
    r = listing("bos.toml", "--limit", "3", "--json")
    assert [(b["site"], b["lot_id"]) for b in json.loads(r.stdout)] == [
        ("BOS", made["BOS"][3]), ("BOS", made["BOS"][2]), ("NYC", made["NYC"][1])]
    r = listing("bos.toml", "--limit", "4")
    assert [line.split()[1] for line in r.stdout.splitlines()[2:]] == [
        made["BOS"][3], made["BOS"][2], made["BOS"][1], made["NYC"][1]]
    r = listing("bos.toml", "--no-limit")
    assert [line.split()[1] for line in r.stdout.splitlines()[2:]] == [
        *made["BOS"][::-1], *made["NYC"][::-1]]
    assert r.stderr == ""
    with Store.open(store_path) as store:  # the library: newest first across sites
        assert [b["lot_id"] for b in store.list_batches(limit=3)] == [
            made["BOS"][3], made["BOS"][2], made["NYC"][1]]
        assert store.count_batches() == 6
