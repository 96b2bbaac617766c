"""Labels of drop- and click-dosed preparations state what one drop or click carries; liquid
volumes carry their mg per mL (issue 11, section 5)."""

from datetime import date
from pathlib import Path

import pytest

from compounding import units as u
from compounding.formulas import Registry
from compounding.labeling.content import Dispensing, dose_unit_text, label_data
from compounding.settings import Settings

REG = Registry.load(Path(__file__).resolve().parent.parent / "formulas")


@pytest.mark.parametrize("fid,strength,text", [
    ("ldn-sublingual-drops", "10 mg/mL", "0.5 mg per drop; 20 drops = 1 mL"),   # 10 / 20
    ("ldn-sublingual-drops", "1.5 mg/mL", "75 mcg per drop; 20 drops = 1 mL"),  # 1.5 / 20
    ("ldn-sublingual-drops", "3 mg/mL", "0.15 mg per drop; 20 drops = 1 mL"),
    # 0.5 mg/g x 1 g/mL x 0.25 mL a click
    ("ldn-cream", "0.5 mg/g", "0.125 mg per Topi-CLICK click; 4 clicks = 1 mL"),
    ("ldn-cream", "1 mg/g", "0.25 mg per Topi-CLICK click; 4 clicks = 1 mL"),
    ("ldn-oral-liquid", "1 mg/mL", None),
    ("ldn-capsules", "1.5 mg", None),
])
def test_dose_unit_text(fid, strength, text):
    got = dose_unit_text(REG.get(fid), u.parse(strength))
    # a number and its unit never split across lines (a no-break space, as every label field)
    assert (got and got.replace("\u00a0", " ")) == text


def _label(fid, strength, quantity, storage, dispensing=None):
    return label_data(REG.get(fid), Settings(), strength=u.parse(strength),
                      quantity=u.parse(quantity), lot="2612010011", bud=date(2026, 12, 14),
                      storage=storage, dispensing=dispensing)


def test_drops_label_states_the_drop_and_liquid_volumes_their_concentration():
    d = _label("ldn-sublingual-drops", "10 mg/mL", "30 mL", "refrigerated")
    assert d.auxiliary[0].replace("\u00a0", " ") == "0.5 mg per drop; 20 drops = 1 mL"
    assert d.field_text("quantity").replace("\u00a0", " ") == "Qty: 30 mL (10 mg/mL)"
    liquid = _label("ldn-oral-liquid", "1 mg/mL", "100 mL", "refrigerated",
                    Dispensing(patient="A", directions="x", prescriber="B", rx_number="1",
                               dispensed_on=date(2026, 12, 1), quantity="60 mL"))
    assert liquid.field_text("quantity").replace("\u00a0", " ") == "Qty: 60 mL (1 mg/mL)"
    caps = _label("ldn-capsules", "1.5 mg", "30 capsules", "room")
    assert caps.field_text("quantity").replace("\u00a0", " ") == "Qty: 30 capsules"
