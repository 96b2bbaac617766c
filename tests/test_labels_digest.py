"""Issue 18: making labels faster must not change a single byte of the PDFs.

The SHA-256 of each PDF below was recorded with the code as it was before the print-speed
work of session 4 (commit e86a091: ReportLab's public drawing calls, the original barcode
encoders and read-back checks), with ReportLab 5.1.0 and rl-accel. Every shipped template,
every formula, with and without the GS1 DataMatrix, one copy and several, a sheet started
part-way and labels of many different lots: the same input must give the same bytes.

A different ReportLab version writes different bytes for the same drawing (the digests
would have to be recorded again from the code before the change); the test says so rather
than comparing. Print the digests of the current code: ``python tests/test_labels_digest.py``.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import date

import pytest

#: ReportLab version the digests were recorded with.
RECORDED_WITH = "5.1.0"

TEMPLATES = ("batch-thermal", "dispensing-thermal", "sheet-letter-30", "sheet-a4-21")
FORMULAS = ("ldn-capsules", "ldn-oral-liquid", "ldn-sublingual-drops", "ldn-cream")


def _lots(n: int) -> list[str]:
    from compounding.store.lotid import make_lot_id

    return [make_lot_id(date(2026, 5, 1 + i // 999), 1 + i % 999) for i in range(n)]


def _cases():
    """name -> (template id, [item kwargs...], start position, copies)."""
    out = {}
    for tid in TEMPLATES:
        for fid in FORMULAS:
            for gtin in (False, True):
                for copies in (1, 3):
                    out[f"{tid}/{fid}/{'gs1' if gtin else 'plain'}/x{copies}"] = (
                        tid, [dict(formula_id=fid, gtin=gtin)], 1, copies)
    out["batch-thermal/40 lots/gs1"] = ("batch-thermal", [
        dict(formula_id=FORMULAS[i % 4], gtin=True, lot=lot) for i, lot in enumerate(_lots(40))],
        1, 1)
    out["batch-thermal/lot 99123 and a mixed lot/gs1/x2"] = ("batch-thermal", [
        dict(gtin=True, lot="99123"), dict(gtin=True, lot="A1-b/2.c_3%")], 1, 2)
    out["sheet-letter-30/45 lots from position 7/gs1"] = ("sheet-letter-30", [
        dict(formula_id=FORMULAS[i % 4], gtin=i % 3 > 0, lot=lot)
        for i, lot in enumerate(_lots(45))], 7, 1)
    out["sheet-a4-21/3 lots from position 20/x4"] = ("sheet-a4-21", [
        dict(gtin=True, lot=lot) for lot in _lots(3)], 20, 4)
    out["dispensing-thermal/patients/gs1"] = ("dispensing-thermal", [
        dict(gtin=True, patient=p) for p in ("Zoë Nguyễn", "Ana Петрова", "Παύλος Ω",
                                              "A very long patient name " * 3)], 1, 1)
    return out


def _pdf(tid, items, start, copies) -> bytes:
    from test_labels_support import item, templates

    from compounding.labeling.render import render

    t = templates().get(tid)
    return render(t, [item(kind=t.kind, **kw) for kw in items], start_position=start,
                  copies=copies)


def digests() -> dict[str, str]:
    return {name: hashlib.sha256(_pdf(*case)).hexdigest() for name, case in _cases().items()}


EXPECTED = {
    'batch-thermal/ldn-capsules/plain/x1': '1c9dfc14c5f4ca913ee8fb449d41c210b08e16c211ca8e559b63fd8faaf3e170',
    'batch-thermal/ldn-capsules/plain/x3': '548ddf7e1dcafbe2ebcb4ed56ef32f8fdc7207b5baf9242ae1fc9a28665a90f7',
    'batch-thermal/ldn-capsules/gs1/x1': '3fdd0db058502db88ca9e9b09131b6b89ccb014e74783eaa5961794c46c115a3',
    'batch-thermal/ldn-capsules/gs1/x3': 'e0517f75f7357a6e8067b6503480f0a176bc9a89689039635bfc887b8abe6737',
    'batch-thermal/ldn-oral-liquid/plain/x1': '575b499c60d164857c5f55cfcd46ab4c5a5419e56731d42ccae9fcb7575fa7a1',
    'batch-thermal/ldn-oral-liquid/plain/x3': '5f26695b95654f95e7d93c7a2ebf7ccad3d8091f2f2aafbe4574a259bacbd55a',
    'batch-thermal/ldn-oral-liquid/gs1/x1': 'dafeb086b45ef0f8b30d856215a3bf50b681b0bc409ec660498dbf86f02d103d',
    'batch-thermal/ldn-oral-liquid/gs1/x3': '963c19a0ba80d4831e7ad7481667082b4118590d04926d1e687ea42607e4e04d',
    'batch-thermal/ldn-sublingual-drops/plain/x1': '35420b6503451c6b7abd16eac3111c33033ff8686b3d854ef8c932d63bed1ec8',
    'batch-thermal/ldn-sublingual-drops/plain/x3': 'baa171c690917830ec717ace87fc3e0a9c5cb93e71e0e26dbe1a332eceb79c0b',
    'batch-thermal/ldn-sublingual-drops/gs1/x1': '33eae411eb0e12b53f306cbeda3445bd6216d63948fed42f7f3c25d9b90fc33c',
    'batch-thermal/ldn-sublingual-drops/gs1/x3': '924756ce4e5c800616fb0f6a9df055e8c6ab01d3fe9fd5d22920a5dc8a0f109f',
    'batch-thermal/ldn-cream/plain/x1': '076a160da4fb38ca9c7102dd349a96c149136f3f1879909ce5e8762a513f0c4a',
    'batch-thermal/ldn-cream/plain/x3': '43ab25cc4498cfe19f6055e467a0ef252d29764742250d171bc25db8f3119b64',
    'batch-thermal/ldn-cream/gs1/x1': '410f2d09fd3c243be373ce51e31700c7b672b6e894570db272bb548cc900e420',
    'batch-thermal/ldn-cream/gs1/x3': 'cf9e4eac472a3d3c59f48281ab41fc9c24c5cea3d0376d80d3c132f720c7ee8c',
    'dispensing-thermal/ldn-capsules/plain/x1': 'bfff937a942575e7320d0475e6d1ce35eea35749cb8d4171fc68e560ad50a359',
    'dispensing-thermal/ldn-capsules/plain/x3': '1c67ad054bbb14095f063e46a2de27aba99b6721f98c39fff509597064a4e711',
    'dispensing-thermal/ldn-capsules/gs1/x1': '90ce9f9b93c592861dbc2e16301794b3a22a1be8976c747f981a4a0e484f2659',
    'dispensing-thermal/ldn-capsules/gs1/x3': '5a24e386aa15f7bfbeda84074cf5ba6eb771d720dd8c2a23af6ec6692e72da3b',
    'dispensing-thermal/ldn-oral-liquid/plain/x1': '855995461d08a77bdff6bfc23f01458cb7d4060f2ce73cb82921d0c47ad6c382',
    'dispensing-thermal/ldn-oral-liquid/plain/x3': 'd049ee65a534208f9404299eeadfe91e75e23017955c38ebcf1f187808351cb3',
    'dispensing-thermal/ldn-oral-liquid/gs1/x1': '1a076ea0177c2baaf1ffd6934e8376d622a7a76d3bd368a10a845e5b24b5496b',
    'dispensing-thermal/ldn-oral-liquid/gs1/x3': 'c9eaa6335cd0bec3c8ec8c8dc2033c88ca27aee13f9781df6d2a110ff3b8827d',
    'dispensing-thermal/ldn-sublingual-drops/plain/x1': '95faaa466f2c8b6a83c1d7e9d3d54a60141d6db4ac5a5b926c116e0a8f720380',
    'dispensing-thermal/ldn-sublingual-drops/plain/x3': '094595b970a18e44aeb013bc06b7e7cc4ca531cf1592d03051dffaeb92658523',
    'dispensing-thermal/ldn-sublingual-drops/gs1/x1': 'f983d2806f0cb5f15703a8fbbae5be8fc2c90b7ba4b3c4498534f1c2807d0e1e',
    'dispensing-thermal/ldn-sublingual-drops/gs1/x3': '5d10445c95c07718cdd258048fd6eafe0d94a1b04473c93a4aace06451ffe818',
    'dispensing-thermal/ldn-cream/plain/x1': '7172f6f50baa42eeb55937edc53f027958d1f7716dad3d7217f9c5ae6177c91f',
    'dispensing-thermal/ldn-cream/plain/x3': 'c7dc7bdcf0eadfb1aee1f63150110f8ae8cab5529e10390f1034ef78c4559ac5',
    'dispensing-thermal/ldn-cream/gs1/x1': '605e4e1d71d2165647b16d96e0e7a80a7334b024e0e12ded64fb840d6a856cfb',
    'dispensing-thermal/ldn-cream/gs1/x3': '2d5f6ced2a4df811bd672ee67d9d18994991ee34db8d74af66947289e5e5688a',
    'sheet-letter-30/ldn-capsules/plain/x1': '5426d6669bbe997b27e1a33e96af178f4f9a367dd6efbd9ec7d57b0bf008d897',
    'sheet-letter-30/ldn-capsules/plain/x3': '5dd034f5cb0ce1bba9c60d7ff28069f57ea4a2820e9313185f4b5491e89709cc',
    'sheet-letter-30/ldn-capsules/gs1/x1': 'd5b7d0fc63ce0098646e973d0bc1a902ff315e7762d6bcad44c27e19498a701c',
    'sheet-letter-30/ldn-capsules/gs1/x3': 'b32d3ce96c49eae50929c1b433f340dab34425063d812d47f40083562d567ac4',
    'sheet-letter-30/ldn-oral-liquid/plain/x1': '9ac9f01285bbb284a82160eccb8f6612132ca751f3aebb9378c1b76167c3dabb',
    'sheet-letter-30/ldn-oral-liquid/plain/x3': '6d63c4c45140e85ba08874df8362ca0946d681283560bdaaa6fa79050bd067ad',
    'sheet-letter-30/ldn-oral-liquid/gs1/x1': '6fc3638e9f0b38ee49ef90ae2ed188aab2ba0a23fbe302ef0949c6453d958d1c',
    'sheet-letter-30/ldn-oral-liquid/gs1/x3': 'abec4ec1ab7dc360e7624a89bfdfd91faa15d9a303d3835f18da37eab4e4af54',
    'sheet-letter-30/ldn-sublingual-drops/plain/x1': '0c1ef4ac7a1529dd306619074586e53d4b5b15b96037cabfdcb5668238ef82b8',
    'sheet-letter-30/ldn-sublingual-drops/plain/x3': '6880a4480890b5013487c9687fa7d17f83980531a751fde34e63e5696240f7b3',
    'sheet-letter-30/ldn-sublingual-drops/gs1/x1': 'd291ad71c45562a098affa4abbfbb4ab73143a6153ae8b154d79df2b52ff65f0',
    'sheet-letter-30/ldn-sublingual-drops/gs1/x3': 'a128a8472b71afff1a97f6c141883b571cc8cc78f45a274dbb636019ea903f21',
    'sheet-letter-30/ldn-cream/plain/x1': '10832aded16f49bcd14e6a8abbf245345cb489e5fd6d43f550e0d1af38b9648d',
    'sheet-letter-30/ldn-cream/plain/x3': '301c976f63faf5e6b60cb1191325d12da2f338d73457fda199f1c9ad2c38644e',
    'sheet-letter-30/ldn-cream/gs1/x1': 'e54e32491974f4b820e4d3794698af41cd2e9b94562537e0ac621a79af98503a',
    'sheet-letter-30/ldn-cream/gs1/x3': 'f1481abb070e2de3a68f84f80cd308fe4795636f48a337b376e59c97aa14ba5e',
    'sheet-a4-21/ldn-capsules/plain/x1': 'b0dc6e9af19faaa8657ff0048c84fa96abce5b38c9f4a2d63ed95dc70af400f9',
    'sheet-a4-21/ldn-capsules/plain/x3': '8e94ccfdc5a9b7d1d01cb9754ac1c8bd1108b553ae2ea5bbf11e5cb120e6746f',
    'sheet-a4-21/ldn-capsules/gs1/x1': '16a2d93d790d1a8c20066bca5979b7f5653184e6e8cc55f6d23d22a0f4ef3126',
    'sheet-a4-21/ldn-capsules/gs1/x3': '84173fd8880bd5615c9e4da1f21ff4f76bad2723ab4bcc756e3aa4485e180e31',
    'sheet-a4-21/ldn-oral-liquid/plain/x1': '841fc061c92b4b4d87bfec3902db3712e7fefd1f8545b4ee395ae997a8bcc992',
    'sheet-a4-21/ldn-oral-liquid/plain/x3': '19ce369585ce51371d224ed162f8b9c2231d2d66d647b47821d41873ca3cc68f',
    'sheet-a4-21/ldn-oral-liquid/gs1/x1': '85b636a2d17479ee15a9f22ea6385564b1c406f3616f27121d634d0f2e4880c8',
    'sheet-a4-21/ldn-oral-liquid/gs1/x3': '61fa0e01983e1ee04f67ccaca1840e8aaa31f743e2546f32e2628eb1131cd617',
    'sheet-a4-21/ldn-sublingual-drops/plain/x1': 'cabbe30cb09c8ff1ecd91ecc0ac308e5102760e18979dc44a45a73dab5afee5c',
    'sheet-a4-21/ldn-sublingual-drops/plain/x3': '99f68a065c65870562c6949e58b3ad325c9d1d2ddb7629909277e87643ea6192',
    'sheet-a4-21/ldn-sublingual-drops/gs1/x1': 'afb4e919d4ac640891e80ea9ff0282db372b1d807886312e55adc8f282b93de2',
    'sheet-a4-21/ldn-sublingual-drops/gs1/x3': '16562e2d57521151475e705ae7f00905981c518899122b137085c8f976b44a8d',
    'sheet-a4-21/ldn-cream/plain/x1': '7ba23ce31610833bf669956af2ef87ebac3e82c13ead4f058089363dbbf0ce35',
    'sheet-a4-21/ldn-cream/plain/x3': 'ef69dbde33e1281a0c827fa4f746f85a372ed1e2d5911062212eef02643db9b9',
    'sheet-a4-21/ldn-cream/gs1/x1': '671480db25e7c55f93c5195c0b446adae08cfb39cd1bdb9830ea1c26e40e1cff',
    'sheet-a4-21/ldn-cream/gs1/x3': '5cfab13f7c8b68cd58129eb22cc1f31f201fc003b32f3b47710711acc17097fb',
    'batch-thermal/40 lots/gs1': '48170d6d2f977b285e38885b391e83f8f010dd94a1bd882b0ebe0301b2cdc244',
    'batch-thermal/lot 99123 and a mixed lot/gs1/x2': 'f8bba57e9313f66796db6276d8f867971e3c29c4f3d3d43a9de0ad58d1822973',
    'sheet-letter-30/45 lots from position 7/gs1': 'fc4b00c5a13ca7db189131dcc31cde9bf246c3ae5af84c4f2b8d98d06b36e20c',
    'sheet-a4-21/3 lots from position 20/x4': 'd6260991bf68ab47cc938a452d3789b5b46b9e7fd8f5d99717b68ebb540db1b7',
    'dispensing-thermal/patients/gs1': '0399237c0f3ca58e15ce8e849266ee1d6a849733c71dd8acffc93b428fdf80a8',
}


@pytest.mark.parametrize("name", sorted(_cases()))
def test_pdf_bytes_are_those_of_the_code_before_the_speed_work(name):
    from reportlab import Version

    if Version != RECORDED_WITH:
        pytest.skip(f"digests recorded with ReportLab {RECORDED_WITH}, this is {Version}")
    assert hashlib.sha256(_pdf(*_cases()[name])).hexdigest() == EXPECTED[name]


def test_every_case_has_a_recorded_digest():
    assert sorted(EXPECTED) == sorted(_cases())


class _ReportLabCalls:
    """The label's marks drawn with ReportLab's own drawing calls, as render.py drew them
    before issue 18's speed work: the reference the faster writer must equal on any
    ReportLab version."""

    def __init__(self, c, dot):
        self.c, self.dot = c, dot

    def at(self, tx, ty):
        self.c.saveState()
        self.c.translate(tx, ty)

    def done(self):
        self.c.restoreState()

    def text(self, lay):
        t = self.c.beginText()
        cur = None
        for ln in lay.lines:
            if (ln.font, ln.size) != cur:
                t.setFont(ln.font, ln.size)
                cur = (ln.font, ln.size)
            t.setTextOrigin(ln.x, -ln.baseline)
            t.textOut(ln.text)
        self.c.drawText(t)

    def codes(self, lay):
        dot, p = self.dot, self.c.beginPath()
        h = lay.bars_height * dot
        y_pdf = -(lay.bars_top + lay.bars_height) * dot
        for x, w in lay.bars.bars:
            p.rect((lay.bars_x + x) * dot, y_pdf, w * dot, h)
        if lay.matrix is not None:
            m = lay.matrix_module
            for r, row in enumerate(lay.matrix.rows):
                y = -(lay.matrix_top + (r + 1) * m) * dot
                c0 = None
                for col, dark in enumerate(row + (False,)):
                    if dark and c0 is None:
                        c0 = col
                    elif not dark and c0 is not None:
                        p.rect((lay.matrix_x + c0 * m) * dot, y, (col - c0) * m * dot, m * dot)
                        c0 = None
        self.c.drawPath(p, stroke=0, fill=1)


@pytest.mark.parametrize("name", ["batch-thermal/40 lots/gs1",
                                  "batch-thermal/lot 99123 and a mixed lot/gs1/x2",
                                  "sheet-letter-30/45 lots from position 7/gs1",
                                  "dispensing-thermal/patients/gs1",
                                  "sheet-a4-21/ldn-cream/gs1/x3"])
def test_the_fast_writer_writes_what_reportlabs_own_calls_write(name, monkeypatch):
    """Whatever the ReportLab version: render's operator writer (text lines and rectangles
    kept as text once written) gives the same bytes as ReportLab's drawing calls."""
    from compounding.labeling import render

    case = _cases()[name]
    fast = _pdf(*case)
    monkeypatch.setattr(render, "_Marks", _ReportLabCalls)
    assert _pdf(*case) == fast


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    for k, v in digests().items():
        print(f"    {k!r}: {v!r},")
