"""The bench at one site of a group (issue 20): the work queue and the verification queue
list this site's batches, say when other sites hold batches too, and list every site on
request (?all_sites=1); another site's batch is looked at, never acted on."""

from __future__ import annotations

import re
from datetime import date

import pytest

from compounding import units as u
from compounding.formulas import Registry
from compounding.plan import Order
from compounding.settings import Settings
from compounding.store import Store
from web_support import PHARM, ROOT, TECH, build_sample, client, copy_sample, csrf_of, \
    errors_of, sign_in

LOT_LINK = re.compile(r'<a href="/batches/([A-Z0-9]+)">')


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """The quickstart sample (site MAIN, released batches) plus one NYC batch, planned; and
    the bench's settings for site NYC."""
    db, settings = copy_sample(*build_sample(tmp_path_factory.mktemp("s")),
                               tmp_path_factory.mktemp("g"))
    reg = Registry.load(ROOT / "formulas")
    with Store.open(db) as store:
        main_lots = [r["lot_id"] for r in store.rows("SELECT lot_id FROM batches")]
        store.site = "NYC"
        store.receive_lot("naltrexone-hcl", "NX-NYC", date(2030, 5, 31), u.parse("5 g"),
                          TECH[0])
        store.receive_lot("microcrystalline-cellulose", "MCC-NYC", date(2030, 12, 31),
                          u.parse("500 g"), TECH[0])
        f = reg.get("ldn-capsules")
        nyc = store.create_batch(f, reg.catalogue, Settings(), Order.from_text(
            f, quantity="100", strength="1.5 mg"), by=TECH[0],
            formula_sha256=reg.hashes[f.id])["lot_id"]
    text = settings.read_text()
    nyc_settings = settings.with_name("nyc.toml")
    nyc_settings.write_text('site = "NYC"\n' + text)
    return db, settings, nyc_settings, main_lots, nyc


@pytest.mark.parametrize("page", ["/", "/verification"])
def test_queues_list_this_sites_batches_unless_asked(group, page):
    db, _, nyc_settings, main_lots, nyc = group
    c = client(db, nyc_settings, db.parent / "labels")
    sign_in(c, *PHARM)
    html = c.get(page).text
    shown = set(LOT_LINK.findall(html))
    assert not shown & set(main_lots)
    if page == "/":
        assert shown == {nyc}
    assert ('Showing site NYC only; other sites hold batches too: '
            '<a href="?all_sites=1">show every site</a>') in html
    every = c.get(page + "?all_sites=1").text
    if page == "/":
        assert set(LOT_LINK.findall(every)) == {nyc, *main_lots}
    assert 'Showing every site: <a href="?">only site NYC</a>' in every


def test_a_single_site_bench_shows_no_site_note(group):
    db, settings, _, main_lots, nyc = group
    c = client(db, settings, db.parent / "labels")  # site MAIN
    sign_in(c, *PHARM)
    html = c.get("/").text
    assert set(LOT_LINK.findall(html)) == set(main_lots)
    assert "Showing site MAIN only; other sites hold batches too" in html


def test_another_sites_batch_cannot_be_released_at_the_bench(group, tmp_path):
    db, settings, _, main_lots, _ = group
    db2, settings2 = copy_sample(db, settings, tmp_path)
    nyc_settings = settings2.with_name("nyc.toml")
    nyc_settings.write_text('site = "NYC"\n' + settings2.read_text())
    c = client(db2, nyc_settings, tmp_path / "labels")
    token = sign_in(c, *PHARM)
    lot = main_lots[0]
    r = c.post(f"/batches/{lot}/reject", data={"csrf_token": token, "reason": "test",
                                               "passphrase": PHARM[1]})
    page = c.get(r.headers["location"]).text if r.status_code == 303 else r.text
    assert errors_of(page) == [f"batch {lot} belongs to site MAIN; this site (NYC) cannot "
                               "reject it (each site acts on its own batches; recall lookups "
                               "search every site)"]
