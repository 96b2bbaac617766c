"""Schema docs of the sites (issue 20): the ``site`` column and the lot ID section, kept out
of ``schema.py`` (size limit). Generated into docs/schema.md and the README by cog."""

from __future__ import annotations

from datetime import date

from .. import units as u
from ..sites import DEFAULT_SITE, SITE_RULE
from . import lotid
from .migrations import SITE_TABLES

#: What the ``site`` column means, per table that has one.
SITE_COLUMNS = {
    "lot_ids": "the site the ID was allocated for (issue 20); the day's sequence counts per "
               f"site; `{DEFAULT_SITE}` for IDs made before sites",
    "component_lots": "the site holding the lot's stock (issue 20; the site that first "
                      f"received it); `{DEFAULT_SITE}` for lots received before sites",
    "batches": "the site that made the batch: always its lot ID's site, never changes "
               f"(issue 20); `{DEFAULT_SITE}` for batches made before sites",
    "label_prints": "the site whose installation printed the label (issue 20); "
                    f"`{DEFAULT_SITE}` for prints made before sites",
}
assert set(SITE_COLUMNS) == set(SITE_TABLES)


def lot_id_section() -> str:
    """The README / schema doc paragraph on batch lot IDs, with the Code 128 widths."""
    plain, site4 = "2605230011", lotid.make_lot_id(date(2026, 5, 23), 1, "ABCD")
    return (
        "## Batch lot IDs\n\n"
        "`YYMMDDSSSC`: 10 digits, the compounding date, the sequence of the day "
        f"(001-{lotid.MAX_PER_DAY}) and a GS1 mod-10 check digit over the first nine. "
        "Sortable by date, unique across processes (allocated under the database's write "
        "lock and kept in `lot_ids` forever, so never reused, even after a failed create). "
        f"In Code 128 (code set C, two digits per symbol) it is "
        f"{lotid.code128_modules(plain)} modules with the two 10-module quiet zones: "
        f"**{u.plain(lotid.code128_width_mm(plain))} mm at {lotid.MODULE_MM} mm per "
        f"module**, inside a 2-inch ({lotid.LABEL_WIDTH_MM} mm) label.\n\n"
        f"Sites (issue 20): that form is site `{DEFAULT_SITE}`'s, the default (a database "
        "made before sites, settings naming no site), so every lot ID already printed stays "
        "valid. Any other site (`site = \"NYC\"` in the settings: "
        f"{SITE_RULE}) gets `SITEYYMMDDSSSCC`, e.g. `NYC26052300106`: the site code, the "
        "date and the site's sequence of the day, and two check digits by ISO/IEC 7064 "
        "MOD 97-10 over the whole ID (letters A=10 ... Z=35; the IBAN and LEI scheme), which "
        "catch every single wrong character and every swap of neighbours, in the site code "
        "too. With its site code dropped, a site's ID is 11 digits, never a valid "
        f"`{DEFAULT_SITE}` ID. In Code 128 (site code in set B, the digits in set C) a "
        "4-character site's ID is at most "
        f"{lotid.code128_modules_site(site4)} modules = "
        f"{u.plain(lotid.code128_modules_site(site4) * lotid.MODULE_MM)} mm with quiet "
        "zones: still inside 2 inches.\n")
