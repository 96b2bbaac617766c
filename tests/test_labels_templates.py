"""Label templates: shipped files validate; a broken or incomplete template never renders."""

from __future__ import annotations

import hashlib

import pytest

from compounding.errors import SpecError
from compounding.labeling.templates import REQUIRED, load_template, load_templates
from test_labels_support import ROOT, templates

SHIPPED = ("batch-thermal", "dispensing-thermal", "sheet-letter-30", "sheet-a4-21")


def test_shipped_templates():
    ts = templates()
    assert sorted(ts.templates) == sorted(SHIPPED)
    got = {tid: (t.kind, t.size_text(), t.stock.per_page, t.dpi) for tid, t in ts.templates.items()}
    assert got == {
        "batch-thermal": ("batch", "2.25 x 1.25 in", 1, 203),
        "dispensing-thermal": ("dispensing", "4 x 2 in", 1, 203),
        "sheet-letter-30": ("batch", "2.625 x 1 in", 30, 300),
        "sheet-a4-21": ("batch", "63.5 x 38.1 mm", 21, 300),
    }
    for tid in SHIPPED:
        assert ts.hashes[tid] == hashlib.sha256(ts.paths[tid].read_bytes()).hexdigest()


@pytest.mark.parametrize("tid", SHIPPED)
def test_modules_are_whole_dots_of_at_least_quarter_mm(tid):
    t = templates().get(tid)
    for spec in (t.layout.barcode, t.layout.datamatrix):
        assert spec.module_dots * 25.4 / t.dpi >= 0.25
    assert t.layout.barcode.quiet_modules >= 10


def test_sheet_geometry():
    letter = templates().get("sheet-letter-30").stock
    assert letter.page_size == (612, 792)
    assert letter.position(0) == (13.5, 36)            # 0.1875 in, 0.5 in
    assert letter.position(29) == pytest.approx((13.5 + 2 * 198, 36 + 9 * 72))
    a4 = templates().get("sheet-a4-21").stock
    x, y = a4.position(20)
    assert (x + a4.label_width) * 25.4 / 72 == pytest.approx(7.2 + 2 * 66.04 + 63.5)
    assert (y + a4.label_height) * 25.4 / 72 == pytest.approx(15.15 + 7 * 38.1)


def _write(tmp_path, text, name="t1"):
    p = tmp_path / f"{name}.toml"
    p.write_text(text, encoding="utf-8")
    return p


BASE = (ROOT / "templates" / "batch-thermal.toml").read_text(encoding="utf-8").replace(
    'id = "batch-thermal"', 'id = "t1"')


def test_template_missing_a_required_field_is_refused(tmp_path):
    text = BASE.replace('fields = ["lot", "bud"]', 'fields = ["lot"]')
    with pytest.raises(SpecError, match="a batch label must show bud"):
        load_template(_write(tmp_path, text))


def test_module_below_quarter_mm_is_refused(tmp_path):
    text = BASE.replace("module_dots = 2          #", "module_dots = 1          #")
    with pytest.raises(SpecError, match=r"layout.barcode.module_dots: 1 dots at 203 dpi is "
                                        r"0.125 mm, below the 0.25 mm minimum; use at least 2"):
        load_template(_write(tmp_path, text))


def test_quiet_zone_below_ten_modules_is_refused(tmp_path):
    text = BASE.replace("quiet_modules = 10", "quiet_modules = 8")
    with pytest.raises(SpecError, match="layout.barcode.quiet_modules"):
        load_template(_write(tmp_path, text))


def test_font_below_six_points_is_refused(tmp_path):
    text = BASE.replace("size = 6\n", "size = 5\n")
    with pytest.raises(SpecError, match="size"):
        load_template(_write(tmp_path, text))


def test_unknown_key_and_bare_length_are_refused(tmp_path):
    with pytest.raises(SpecError, match="unknown key"):
        load_template(_write(tmp_path, BASE.replace('dpi = 203', 'dpi = 203\ncolour = "red"')))
    with pytest.raises(SpecError, match="a length needs its unit"):
        load_template(_write(tmp_path, BASE.replace('"2.25 in"', '2.25')))


def test_id_must_match_file_name(tmp_path):
    with pytest.raises(SpecError, match="must match the file name"):
        load_template(_write(tmp_path, BASE, name="other"))


def test_refer_only_for_batch_auxiliary(tmp_path):
    text = BASE.replace('fields = ["storage"]\nsize = 6.5',
                        'fields = ["storage"]\nsize = 6.5\noverflow = "refer"')
    with pytest.raises(SpecError, match="only for the auxiliary"):
        load_template(_write(tmp_path, text))


def test_folder_lists_every_problem(tmp_path):
    _write(tmp_path, BASE.replace('fields = ["lot", "bud"]', 'fields = ["lot"]'))
    _write(tmp_path, BASE.replace('id = "t1"', 'id = "t2"').replace("dpi = 203", "dpi = 20"),
           name="t2")
    with pytest.raises(SpecError) as exc:
        load_templates(tmp_path)
    assert len(exc.value.problems) == 2


def test_required_fields_cover_usp_795():
    assert set(REQUIRED["batch"]) >= {"drug", "lot", "bud", "storage", "compounded",
                                      "quantity", "form_route", "auxiliary", "pharmacy"}
    assert set(REQUIRED["dispensing"]) >= set(REQUIRED["batch"]) | {
        "patient", "directions", "prescriber", "rx", "dispensed", "excipients"}
