"""ZPL for thermal printers (issue 14): the same laid-out label as the PDF, checked in an
independent renderer (zpl-renderer-js, the zebrash WebAssembly build, under node) at 203 and
300 dpi with every barcode decoded by zxing-cpp, and compared pixel by pixel with the PDF."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from compounding.errors import InputError
from compounding.labeling.render import render
from compounding.printing import zpl
from test_labels_support import BUD, GTIN, LOT, ROOT, decode, item, raster, templates

THERMAL = ("batch-thermal", "dispensing-thermal")
SHEETS = ("sheet-a4-21", "sheet-letter-30")
FORMULAS = ("ldn-capsules", "ldn-oral-liquid", "ldn-sublingual-drops", "ldn-cream")
DM_TEXT = f"(01){GTIN}(17){BUD:%y%m%d}(10){LOT}"
DPMM = {203: 8, 300: 12}  # the renderer's dots per mm for each head
NODE_MODULES = ROOT / ".ci" / "node" / "node_modules"
SCRIPT = Path(__file__).with_name("zpl_render.cjs")
#: the known ZPL commands a label job may contain (anything else means broken escaping)
COMMANDS = {"XA", "XZ", "FX", "CI", "PW", "LL", "LH", "PO", "FO", "GF", "GB", "FS", "PQ"}


def _renderer_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (CI installs it in .ci/run)"
    if not (NODE_MODULES / "zpl-renderer-js" / "package.json").exists():
        return f"zpl-renderer-js is not installed under {NODE_MODULES} (CI: .ci/run)"
    return None


needs_renderer = pytest.mark.skipif(_renderer_missing() is not None,
                                    reason=_renderer_missing() or "")


def _zpl(tid, formula_id, dpi, copies=1, **kw):
    t = templates().get(tid)
    return zpl.render_zpl(t, [item(formula_id, gtin=True, kind=t.kind, **kw)], copies=copies,
                          dpi=dpi)


@lru_cache(maxsize=1)
def _rendered(tmp: str):
    """Every thermal template x formula x dpi rendered by zpl-renderer-js in ONE node run
    (media exactly ^PW x ^LL: the renderer centres a narrower ^PW on wider media)."""
    jobs, keys = [], []
    for tid in THERMAL:
        for fid in FORMULAS:
            for dpi in (203, 300):
                data, _ = _zpl(tid, fid, dpi)
                pw, ll = (int(re.search(rb"\^%s(\d+)" % c, data)[1]) for c in (b"PW", b"LL"))
                stem = Path(tmp) / f"{tid}-{fid}-{dpi}"
                stem.with_suffix(".zpl").write_bytes(data)
                jobs.append({"zpl": str(stem.with_suffix(".zpl")),
                             "png": str(stem.with_suffix(".png")),
                             "width_mm": pw / DPMM[dpi], "height_mm": ll / DPMM[dpi],
                             "dpmm": DPMM[dpi]})
                keys.append((tid, fid, dpi))
    spec = Path(tmp) / "jobs.json"
    spec.write_text(json.dumps(jobs))
    r = subprocess.run(["node", str(SCRIPT), str(NODE_MODULES), str(spec)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    from PIL import Image
    return {k: Image.open(j["png"]).convert("L") for k, j in zip(keys, jobs)}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return _rendered(str(tmp_path_factory.mktemp("zpl")))


@needs_renderer
@pytest.mark.parametrize("dpi", (203, 300))
@pytest.mark.parametrize("formula_id", FORMULAS)
@pytest.mark.parametrize("tid", THERMAL)
def test_every_barcode_decodes_in_the_independent_renderer(rendered, tid, formula_id, dpi):
    img = rendered[(tid, formula_id, dpi)]
    found = {(r.format.name, r.text, r.symbology_identifier) for r in decode(img)}
    assert found == {("Code128", LOT, "]C0"), ("DataMatrix", DM_TEXT, "]d2")}


def _ink(img):
    return img.point(lambda v: 255 if v < 128 else 0).convert("1")


def _agreement(a, b) -> float:
    """Share of a's ink dots that b also inks within one dot."""
    from PIL import ImageChops, ImageFilter
    grown = b.convert("L").filter(ImageFilter.MaxFilter(3))
    miss = ImageChops.subtract(a.convert("L"), grown)
    total = sum(1 for v in a.convert("L").get_flattened_data() if v)
    return 1 - sum(1 for v in miss.get_flattened_data() if v) / total


@needs_renderer
@pytest.mark.parametrize("formula_id", FORMULAS)
@pytest.mark.parametrize("tid", THERMAL)
def test_zpl_draws_the_same_label_as_the_pdf(rendered, tid, formula_id):
    """Layout once, drawn twice: at the template's dpi the ZPL (in the independent renderer)
    and the PDF (rasterised like a thermal head) ink the same dots, text included."""
    t = templates().get(tid)
    pdf = raster(render(t, [item(formula_id, gtin=True, kind=t.kind)]), t.dpi).convert("L")
    z = rendered[(tid, formula_id, t.dpi)]
    w, h = min(pdf.width, z.width), min(pdf.height, z.height)
    a, b = _ink(pdf.crop((0, 0, w, h))), _ink(z.crop((0, 0, w, h)))
    assert _agreement(a, b) > 0.97 and _agreement(b, a) > 0.97


@pytest.mark.parametrize("tid", THERMAL)
@pytest.mark.parametrize("dpi", (203, 300))
def test_label_size_is_set_in_the_job(tid, dpi):
    t = templates().get(tid)
    data, _ = _zpl(tid, "ldn-capsules", dpi)
    text = data.decode()
    w_in, h_in = t.stock.label_width / 72, t.stock.label_height / 72
    assert f"^PW{round(w_in * dpi)}\n" in text and f"^LL{round(h_in * dpi)}\n" in text
    assert text.startswith("^XA\n^FXcompounding label: lot 2605230014, template "
                           f"{tid} v1, {dpi} dpi\n^CI28\n")
    assert text.endswith("^PQ1,0,1,Y\n^XZ\n")


def test_all_copies_in_one_format_and_one_job():
    one, _ = _zpl("batch-thermal", "ldn-capsules", 203, copies=1)
    many, _ = _zpl("batch-thermal", "ldn-capsules", 203, copies=10000)
    assert many.count(b"^XA") == 1 and many.count(b"^XZ") == 1
    assert many.replace(b"^PQ10000,", b"^PQ1,") == one  # same size: starts at once


@pytest.mark.parametrize("copies", (0, -1, 100_000_000, 1.5, "2"))
def test_bad_copies_refused(copies):
    with pytest.raises(InputError, match="copies"):
        _zpl("batch-thermal", "ldn-capsules", 203, copies=copies)


@pytest.mark.parametrize("tid", SHEETS)
def test_sheet_templates_are_not_zpl(tid):
    with pytest.raises(InputError) as e:
        _zpl(tid, "ldn-capsules", 300)
    assert str(e.value) == (f"format: template {tid!r} is a sheet of "
                            f"{templates().get(tid).stock.per_page} labels for an office "
                            f"printer; ZPL is for thermal roll templates (use --format pdf)")


@pytest.mark.parametrize("text,escaped", [
    ("plain Lot 12", "plain Lot 12"),
    ("a^XZ~JR", "a_5EXZ_7EJR"),
    ("back\\slash_under", "back_5Cslash_5Funder"),
    ("Zoë", "Zo_C3_AB"),
    ("tab\there\x00", "tab_09here_00"),
    ("\u200bzw\u202ertl", "_E2_80_8Bzw_E2_80_AErtl"),
])
def test_field_data_escaping(text, escaped):
    assert zpl.fh_escape(text) == escaped


@pytest.mark.parametrize("patient", [
    "O'Brien ^XZ^XA~JR \\ _", "Zoë Nguyễn", "Ана Петрова", "x" * 40])
def test_hostile_names_cannot_break_the_job(patient):
    """Names are drawn as bitmaps: no caret or tilde of a name reaches the command stream."""
    data, lays = _zpl("dispensing-thermal", "ldn-capsules", 203, patient=patient)
    text = data.decode()
    assert "~" not in text
    cmds = [c[:2] for c in text.split("^")[1:]]
    assert set(cmds) <= COMMANDS, set(cmds) - COMMANDS
    assert text.count("^XA") == 1 and text.count("^XZ") == 1
    assert any(ln.text.startswith(patient.split()[0]) for ln in lays[0].lines)


@pytest.mark.parametrize("template_dpi_dots,dpi,expect", [(2, 203, 2), (2, 300, 3),
                                                           (3, 300, 5), (2, 600, 6)])
def test_modules_recounted_in_the_printers_dots_never_narrower(template_dpi_dots, dpi,
                                                               expect):
    t = templates().get("batch-thermal")
    t = t.model_copy(update={"layout": t.layout.model_copy(update={
        "barcode": t.layout.barcode.model_copy(update={"module_dots": template_dpi_dots})})})
    t2 = zpl.template_for_dpi(t, dpi)
    assert t2.dpi == dpi and t2.layout.barcode.module_dots == expect
    assert expect / dpi >= template_dpi_dots / 203 - 1e-9


def test_rendering_is_deterministic():
    a, _ = _zpl("dispensing-thermal", "ldn-oral-liquid", 300)
    b, _ = _zpl("dispensing-thermal", "ldn-oral-liquid", 300)
    assert a == b


@pytest.mark.parametrize("reply,error", [
    (b"", "printer status: the ~HS reply is incomplete (0 of 3 strings)"),
    (b"\x02030,0,0,0254,000,0,0,0,000,0,0,0\x03\r\n",
     "printer status: the ~HS reply is incomplete (1 of 3 strings)"),
    (b"\x02030,0,0\x03\x02001,0,0,0,0,2,0,0,00000000,1,000\x03\x021234,0\x03",
     "printer status: ~HS string 1 is not understood (b'030,0,0')"),
    (b"\x02030,0,0,0254,000,0,0,0,000,0,0,0\x03\x02001,0,x,0,0,2,0,0,00000000,1,000\x03"
     b"\x021234,0\x03", "printer status: ~HS string 2 is not understood "
     "(b'001,0,x,0,0,2,0,0,00000000,1,000')"),
])
def test_malformed_status_replies_are_refused_not_guessed(reply, error):
    from compounding.errors import PrinterError
    from compounding.printing.status import parse_hs
    with pytest.raises(PrinterError) as e:
        parse_hs(reply)
    assert str(e.value) == error


def test_status_flags_in_words():
    from compounding.printing.status import parse_hs
    from printing_support import hs_reply
    assert parse_hs(hs_reply()).summary() == "ready"
    st = parse_hs(hs_reply(paper_out=1, head_open=1, ribbon_out=1, formats=2, remaining=40))
    assert st.problems() == ["paper out (load labels)", "head open (close the print head)"]
    assert st.summary() == ("NOT READY: paper out (load labels), head open (close the print "
                            "head); 2 format(s) waiting, 40 label(s) left in the batch")
