"""Sites (issue 20): a site's lot ID (up to 15 characters) fits every shipped label template,
with and without the GS1 DataMatrix, and its Code 128 reads back."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from compounding.labeling import code128
from compounding.labeling.content import LabelData
from compounding.labeling.layout import layout_label
from compounding.labeling.templates import load_templates
from compounding.store import lotid

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = load_templates(ROOT / "templates")
BATCH_TEMPLATES = sorted(t for t in TEMPLATES.templates if not t.startswith("dispensing"))


@pytest.mark.parametrize("template_id", BATCH_TEMPLATES)
@pytest.mark.parametrize("site", ["MAIN", "NYC", "ABCD", "A1B2"])
@pytest.mark.parametrize("gtin", [None, "00312345678906"])
def test_site_lot_ids_fit_every_batch_template(template_id, site, gtin):
    lot = lotid.make_lot_id(date(2026, 5, 23), 999, site)
    item = LabelData(drug="Naltrexone HCl 1.5 mg capsules", form_route="For oral use",
                     quantity="100 capsules", lot=lot, bud=date(2026, 11, 19),
                     storage=("Store at room temperature",), auxiliary=(),
                     compounded_statement="Compounded preparation",
                     pharmacy_name="Sample Compounding Pharmacy",
                     pharmacy_phone="(555) 010-0100", gtin=gtin)
    placed = layout_label(TEMPLATES.templates[template_id], item)
    assert placed.code_zone.x1 <= placed.width
    assert code128.decode(code128.modules(lot)) == lot
