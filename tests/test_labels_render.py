"""Rendered labels: barcodes scan back exactly off a thermal-style raster, text stays inside
its label and off the barcodes, every required element is there, Unicode renders, text that
cannot fit is refused by name."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import pytest

from compounding import units as u
from compounding.errors import InputError, LabelError
from compounding.formulas import STORAGE_TEXT
from compounding.labeling.layout import layout_label
from compounding.labeling.render import render, render_with_layouts
from compounding.labeling.templates import REFER_TEXT
from test_labels_support import (BUD, GTIN, LOT, decode, item, page_text, plumber_pages,
                                 raster, registry, templates)

SHIPPED = ("batch-thermal", "dispensing-thermal", "sheet-letter-30", "sheet-a4-21")
FORMULAS = ("ldn-capsules", "ldn-oral-liquid", "ldn-sublingual-drops", "ldn-cream")
DM_TEXT = f"(01){GTIN}(17)270523(10){LOT}"


def _kind(tid):
    return templates().get(tid).kind


@lru_cache(maxsize=None)
def _pdf(tid, formula_id="ldn-capsules", gtin=True, start=1, copies=1):
    t = templates().get(tid)
    return render(t, [item(formula_id, gtin=gtin, kind=t.kind)], start_position=start,
                  copies=copies)


def _label_boxes(t, n, start=1):
    """(page, x0, top, x1, bottom) in points of the n labels printed from ``start``."""
    out = []
    for k in range(n):
        pos = start - 1 + k
        page, idx = divmod(pos, t.stock.per_page)
        x, y = t.stock.position(idx)
        out.append((page, x, y, x + t.stock.label_width, y + t.stock.label_height))
    return out


def _crop(img, box, dpi, margin=0.0):
    _, x0, y0, x1, y1 = box
    s = dpi / 72
    return img.crop((int((x0 - margin) * s), int((y0 - margin) * s),
                     int((x1 + margin) * s) + 1, int((y1 + margin) * s) + 1))


# ---------------------------------------------------------------- barcodes scan back

@pytest.mark.parametrize("tid", SHIPPED)
@pytest.mark.parametrize("formula_id", FORMULAS)
def test_every_barcode_reads_back_at_template_dpi_and_300(tid, formula_id):
    t = templates().get(tid)
    copies = 1 if t.stock.per_page == 1 else 2
    pdf = _pdf(tid, formula_id, True, 1, copies)
    for dpi in sorted({t.dpi, 300, 203}):
        pages = {}
        for box in _label_boxes(t, copies):
            if box[0] not in pages:
                pages[box[0]] = raster(pdf, dpi, box[0])
            found = {(r.format.name, r.text) for r in decode(_crop(pages[box[0]], box, dpi))}
            assert found == {("Code128", LOT), ("DataMatrix", DM_TEXT)}, (dpi, box)


def test_code128_is_plain_code128_and_datamatrix_is_gs1():
    img = raster(_pdf("batch-thermal"), 203)
    ids = {r.format.name: r.symbology_identifier for r in decode(img)}
    assert ids == {"Code128": "]C0", "DataMatrix": "]d2"}


def test_no_datamatrix_without_a_gtin():
    img = raster(_pdf("batch-thermal", gtin=False), 203)
    assert [(r.format.name, r.text) for r in decode(img)] == [("Code128", LOT)]


@pytest.mark.parametrize("tid", SHIPPED)
def test_bars_lie_on_the_dot_grid(tid):
    t = templates().get(tid)
    pdf = _pdf(tid, "ldn-capsules", False, 2 if t.stock.per_page > 1 else 1)
    (w, h, chars, rects), *_ = plumber_pages(pdf)
    dot = 72 / t.dpi
    widths = set()
    for r in rects:
        for v in (r["x0"], r["x1"], r["top"], r["bottom"]):
            assert abs(v / dot - round(v / dot)) < 1e-3, (v, v / dot)
        widths.add(round((r["x1"] - r["x0"]) / dot))
    m = t.layout.barcode.module_dots
    assert min(widths) == m and all(wd % m == 0 for wd in widths)
    assert m * 25.4 / t.dpi >= 0.25


# ---------------------------------------------------------------- geometry with pdfplumber

def _zones(rects, module):
    """Code 128 zone (bars + 10-module quiet zones) and DataMatrix zone, from the drawn rects."""
    tallest = max(r["bottom"] - r["top"] for r in rects)
    bars = [r for r in rects if r["bottom"] - r["top"] > tallest - 0.01]
    dm = [r for r in rects if r not in bars]
    zones = [(min(r["x0"] for r in bars) - 10 * module, min(r["top"] for r in bars),
              max(r["x1"] for r in bars) + 10 * module, max(r["bottom"] for r in bars))]
    if dm:
        zones.append((min(r["x0"] for r in dm), min(r["top"] for r in dm),
                      max(r["x1"] for r in dm), max(r["bottom"] for r in dm)))
    return zones


@pytest.mark.parametrize("tid", SHIPPED)
@pytest.mark.parametrize("formula_id", FORMULAS)
def test_text_inside_its_label_and_off_the_barcodes(tid, formula_id):
    t = templates().get(tid)
    n = 1 if t.stock.per_page == 1 else 3
    start = 1 if n == 1 else 2
    pdf = _pdf(tid, formula_id, True, start, n)
    pages = plumber_pages(pdf)
    module = t.layout.barcode.module_dots * 72 / t.dpi
    seen = 0
    for page, x0, y0, x1, y1 in _label_boxes(t, n, start):
        _, _, chars, rects = pages[page]
        mine = [c for c in chars if x0 <= (c["x0"] + c["x1"]) / 2 <= x1
                and y0 <= (c["top"] + c["bottom"]) / 2 <= y1]
        assert mine
        for c in mine:
            assert x0 <= c["x0"] and c["x1"] <= x1 and y0 <= c["top"] and c["bottom"] <= y1, c
        zones = _zones([r for r in rects if x0 <= r["x0"] and r["x1"] <= x1
                        and y0 <= r["top"] and r["bottom"] <= y1], module)
        for c in mine:
            for zx0, zt, zx1, zb in zones:
                assert c["x1"] <= zx0 or c["x0"] >= zx1 or c["bottom"] <= zt or c["top"] >= zb, \
                    (c["text"], c["x0"], c["top"], zones)
        seen += len(mine)
    assert seen == sum(len(p[2]) for p in pages)  # every character belongs to a label


# ---------------------------------------------------------------- required elements

def _elements(kind, formula_id="ldn-capsules"):
    f = registry().get(formula_id)
    out = {
        "drug name and strength": "Naltrexone HCl 1.5 mg capsules",
        "route": "For oral use",
        "quantity": "Qty: 30 capsules" if kind == "dispensing" else "Qty: 100 capsules",
        "lot": f"Lot: {LOT}",
        "bud with month name": "BUD: 23 MAY 2027",
        "storage": STORAGE_TEXT[f.storage.conditions[0]],
        "protect from light": "Protect from light.",
        "auxiliary": "Swallow whole with water.",
        "compounded statement": "Compounded preparation",
        "pharmacy name": "Sample Compounding Pharmacy",
        "pharmacy phone": "Tel (555) 010-0100",
    }
    if kind == "dispensing":
        out.update({
            "patient": "Zoë Nguyễn", "directions": "Take one capsule at bedtime",
            "prescriber": "Prescriber: Dr Ana Петрова", "rx number": "Rx: RX-1234567",
            "date dispensed": "Dispensed: 25 MAY 2026", "excipients": "Contains lactose.",
            "children": "Keep out of the sight and reach of children.",
            "pharmacy address": "1 Example Street, Springfield",
        })
    return out


CASES = [(tid, name) for tid in SHIPPED for name in _elements(_kind(tid))]


@pytest.mark.parametrize(("tid", "element"), CASES)
def test_required_element_present(tid, element):
    expected = _elements(_kind(tid))[element]
    _, _, chars, _ = plumber_pages(_pdf(tid, "ldn-capsules", False))[0]
    assert expected in page_text(chars)


@pytest.mark.parametrize("tid", SHIPPED)
def test_required_barcode_present(tid):
    img = raster(_pdf(tid, "ldn-capsules", False), templates().get(tid).dpi)
    assert ("Code128", LOT) in {(r.format.name, r.text) for r in decode(img)}


@pytest.mark.parametrize("formula_id", FORMULAS)
def test_every_formula_shows_its_storage_and_auxiliary_on_the_batch_label(formula_id):
    f = registry().get(formula_id)
    _, _, chars, _ = plumber_pages(_pdf("batch-thermal", formula_id, False))[0]
    text = page_text(chars)
    for s in f.storage.text(f.storage.conditions[0]):
        assert s in text
    for s in f.label.auxiliary:
        assert s in text


def test_amounts_and_dates_follow_ismp():
    low = item(strength=u.q("0.0001", "mg"))
    assert low.drug == "Naltrexone HCl 0.1\u00a0mcg capsules"
    _, _, chars, _ = plumber_pages(render(templates().get("batch-thermal"), [low]))[0]
    text = page_text(chars)
    assert "Naltrexone HCl 0.1 mcg capsules" in text
    assert "µg" not in text and "1.0 " not in text and " .5" not in text
    assert "23 MAY 2027" in text and "2027-05-23" not in text and "5/23" not in text


# ---------------------------------------------------------------- Unicode and fitting

@pytest.mark.parametrize("name", ["Zoë Nguyễn", "Αλέξανδρος Παπαδόπουλος", "Анна Иванова",
                                  "Siobhán Ó Briain"])
def test_unicode_patient_names_render(name):
    t = templates().get("dispensing-thermal")
    pdf = render(t, [item(kind="dispensing", patient=name)])
    _, _, chars, _ = plumber_pages(pdf)[0]
    assert name in page_text(chars)


def test_character_no_font_can_draw_is_refused_naming_the_field():
    t = templates().get("dispensing-thermal")
    with pytest.raises(LabelError, match=r"^patient: no shipped font can draw '王' \(U\+738B\)"):
        render(t, [item(kind="dispensing", patient="王小明")])


def _with_directions(text):
    d = item(kind="dispensing")
    return dataclasses.replace(d, dispensing=dataclasses.replace(d.dispensing, directions=text))


def test_long_text_wraps_then_shrinks_but_not_below_six_points():
    t = templates().get("dispensing-thermal")
    long = ("Take one capsule by mouth at bedtime. If vivid dreams occur, take it in the "
            "morning instead. If side effects trouble you, halve the dose for 7 days.")
    lay = layout_label(t, _with_directions(long))
    sizes = dict(lay.sizes)
    assert sizes["directions"] < 10 and all(s >= 6 for s in sizes.values())
    assert len([ln for ln in lay.lines if ln.field == "directions"]) >= 2


def test_text_that_cannot_fit_is_refused_naming_the_field():
    t = templates().get("dispensing-thermal")
    with pytest.raises(LabelError, match=r"^directions: the text does not fit on template "
                                         r"'dispensing-thermal' even at"):
        render(t, [_with_directions("Take one capsule at bedtime. " * 30)])
    with pytest.raises(LabelError, match=r"^directions: 'X{200}' is too wide"):
        render(t, [_with_directions("X" * 200)])


def test_auxiliary_statements_that_cannot_fit_are_left_to_the_dispensing_label():
    aux = ("Shake well before use", "Measure with the oral syringe provided",
           "Do not use if the seal is broken; return it to the pharmacy for a replacement",
           "Discard any liquid left after the beyond-use date printed on this label")
    big = dataclasses.replace(item("ldn-oral-liquid"), auxiliary=aux)
    pdf, lays = render_with_layouts(templates().get("batch-thermal"), [big])
    assert lays[0].omitted and lays[0].omitted == aux[len(aux) - len(lays[0].omitted):]
    text = page_text(plumber_pages(pdf)[0][2])
    assert REFER_TEXT in text and aux[0] + "." in text
    disp = dataclasses.replace(item("ldn-oral-liquid", kind="dispensing"), auxiliary=aux)
    text = page_text(plumber_pages(render(templates().get("dispensing-thermal"), [disp]))[0][2])
    assert all(a in text for a in aux) and REFER_TEXT not in text


def test_lot_too_long_for_the_label_is_refused():
    with pytest.raises(LabelError, match="^barcode: the Code 128 of lot"):
        render(templates().get("batch-thermal"), [item(lot="ABCDEFGHIJKLMNOPQRST")])


# ---------------------------------------------------------------- pages, positions, copies

def test_sheet_start_position_and_page_overflow():
    t = templates().get("sheet-letter-30")
    pdf = render(t, [item()], start_position=29, copies=3)
    pages = plumber_pages(pdf)
    assert len(pages) == 2
    boxes = _label_boxes(t, 3, 29)
    assert [b[0] for b in boxes] == [0, 0, 1]
    for page, x0, y0, x1, y1 in boxes:
        chars = pages[page][2]
        assert any(x0 <= c["x0"] and c["x1"] <= x1 and y0 <= c["top"] and c["bottom"] <= y1
                   for c in chars)
    # nothing above the 29th position on the first page
    first_top = t.stock.position(28)[1]
    assert min(c["top"] for c in pages[0][2]) >= first_top


def test_roll_copies_are_pages_and_items_keep_their_order():
    t = templates().get("batch-thermal")
    a, b = item(lot="2605230014"), item(lot="2605230022")
    pdf = render(t, [a, b], copies=2)
    lots = [next(r.text for r in decode(raster(pdf, 203, i)) if r.format.name == "Code128")
            for i in range(4)]
    assert lots == ["2605230014", "2605230014", "2605230022", "2605230022"]


@pytest.mark.parametrize(("start", "copies"), [(0, 1), (31, 1), (1, 0)])
def test_bad_start_position_or_copies(start, copies):
    with pytest.raises(InputError):
        render(templates().get("sheet-letter-30"), [item()], start_position=start,
               copies=copies)
    with pytest.raises(InputError, match="roll template prints from position 1"):
        render(templates().get("batch-thermal"), [item()], start_position=2)


def test_rendering_is_deterministic():
    t = templates().get("batch-thermal")
    assert render(t, [item(gtin=True)]) == render(t, [item(gtin=True)])


def test_bud_for_datamatrix_comes_from_the_label():
    assert item(gtin=True).bud == BUD


# ---------------------------------------------------------------- copies (issue 18)

@pytest.mark.parametrize(("tid", "per_copy"), [("batch-thermal", 200), ("sheet-letter-30", 40)])
def test_copies_are_drawn_once_and_placed_n_times(tid, per_copy):
    """A label printed N times is two form XObjects (text, barcodes) drawn once; each further
    copy costs at most ``per_copy`` bytes of PDF (issue 18: 200)."""
    t = templates().get(tid)
    one = render(t, [item(gtin=True)], copies=1)
    many = render(t, [item(gtin=True)], copies=301)
    assert (len(many) - len(one)) / 300 <= per_copy
    assert many.count(b"/Subtype /Form") == 2
    assert one.count(b"/Subtype /Form") == 0


def test_every_roll_copy_is_a_page_that_scans():
    import pypdfium2 as pdfium

    t = templates().get("batch-thermal")
    a, b = item(lot="2605230014"), item(lot="2605230022", gtin=True)
    pdf = render(t, [a, b, a], copies=3)
    assert len(pdfium.PdfDocument(pdf)) == 9
    want = [["2605230014"]] * 3 + [["2605230022", DM_TEXT.replace(LOT, "2605230022")]] * 3 \
        + [["2605230014"]] * 3
    assert [sorted(r.text for r in decode(raster(pdf, 203, i))) for i in range(9)] == \
        [sorted(w) for w in want]


def test_copies_look_exactly_like_a_single_label():
    """The same pixels whether a label is drawn in place (1 copy) or placed from its forms."""
    for tid in ("batch-thermal", "sheet-letter-30"):
        t = templates().get(tid)
        one = raster(render(t, [item(gtin=True)], copies=1), 300)
        many = render(t, [item(gtin=True)], copies=3)
        if t.stock.per_page == 1:
            for i in range(3):
                assert raster(many, 300, i).tobytes() == one.tobytes()
        else:
            img = raster(many, 300)
            box = _label_boxes(t, 1)[0]
            assert _crop(img, box, 300).tobytes() == _crop(one, box, 300).tobytes()


_RENDER_SCRIPT = """
import hashlib, sys
if sys.argv[1] == 'python':
    sys.modules['_rl_accel'] = None  # ReportLab falls back to its pure-Python functions
from reportlab.lib import rl_accel
from test_labels_support import item, templates
from compounding.labeling.render import render
pdfs = [render(templates().get(t), [item(f, gtin=True, kind=templates().get(t).kind)], copies=c)
        for t in ('batch-thermal', 'dispensing-thermal', 'sheet-letter-30')
        for f in ('ldn-capsules', 'ldn-oral-liquid') for c in (1, 3)]
print(sorted(rl_accel._c_funcs), hashlib.sha256(b''.join(pdfs)).hexdigest())
"""


def test_rl_accel_is_used_and_pdfs_are_byte_identical_without_it():
    """Issue 18: ReportLab's C accelerator (rl-accel) is picked up, and the PDFs are the same
    bytes as with ReportLab's pure-Python functions."""
    import subprocess
    import sys
    from pathlib import Path

    out = {}
    for mode in ("accel", "python"):
        got = subprocess.run([sys.executable, "-c", _RENDER_SCRIPT, mode], check=True,
                             capture_output=True, text=True, cwd=Path(__file__).parent)
        out[mode] = got.stdout.split()
    accel, python = out["accel"], out["python"]
    assert "'fp_str'," in accel and "'instanceStringWidthTTF'," in accel
    assert python[0] == "[]"
    assert accel[-1] == python[-1]
