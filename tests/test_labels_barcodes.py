"""Code 128 and GS1 DataMatrix: symbol tables, decode-back checks, the python-barcode '99' bug."""

from __future__ import annotations

from datetime import date

import pytest
from PIL import Image

from compounding.errors import LabelError
from compounding.labeling import code128, datamatrix
from test_labels_support import GTIN, decode


def test_symbol_table_matches_python_barcode():
    """Our ISO/IEC 15417 table (typed from the standard) agrees with python-barcode's."""
    from barcode.charsets import code128 as pb

    for value, pattern in enumerate(code128.PATTERNS[:106]):
        mods = "".join(("1" if i % 2 == 0 else "0") * int(w) for i, w in enumerate(pattern))
        assert pb.CODES[value] == mods


@pytest.mark.parametrize("text", ["2605230014", "9912345678", "99", "0", "LDN-26-a",
                                  "A1b2C3", "123456789"])
def test_round_trip(text):
    bars = code128.layout_bars(text, 2)
    assert code128.read_bars(bars) == text
    code128.verify(bars, text)


def test_python_barcode_leading_99_bug_is_caught_and_fixed():
    """python-barcode drops a leading '99' in code set C; our decoder sees it, our subclass
    fixes it, and verify() refuses any symbol that reads something else."""
    from barcode.codex import Code128

    raw = Code128("99123").build()[0]
    if code128.decode(raw) != "99123":  # the installed python-barcode has the bug
        assert code128.decode(raw) == "123"
    assert code128.decode(code128.modules("99123")) == "99123"


def test_verify_refuses_a_symbol_that_says_something_else():
    bars = code128.layout_bars("2605230014", 2)
    with pytest.raises(LabelError, match="reads '2605230014', not '2605230015'"):
        code128.verify(bars, "2605230015")


def test_tampered_bar_is_refused():
    bars = code128.layout_bars("2605230014", 2)
    x, w = bars.bars[3]
    bad = code128.Bars(bars.text, 2, bars.quiet, bars.bars[:3] + ((x, w + 2),) + bars.bars[4:],
                       bars.width)
    with pytest.raises(LabelError):
        code128.read_bars(bad)


def test_bars_are_whole_dots_and_quiet_zone_ten_modules():
    for dots in (2, 3):
        b = code128.layout_bars("2605230014", dots)
        assert all(x % dots == 0 and w % dots == 0 for x, w in b.bars)
        assert b.quiet == 10 * dots
        # 10-digit numeric lot: start C + 5 + check = 7 symbols x 11 + stop 13 = 90 modules
        assert b.width == 90 * dots
    with pytest.raises(LabelError, match="quiet zone"):
        code128.layout_bars("1", 2, quiet_modules=9)


def test_non_ascii_lot_refused():
    with pytest.raises(LabelError, match="printable ASCII"):
        code128.modules("Lot-é")


# ---------------------------------------------------------------- DataMatrix

def _image(sym, module=4, quiet=2):
    side = (sym.size + 2 * quiet) * module
    img = Image.new("L", (side, side), 255)
    px = img.load()
    for r, c in sym.dark_modules():
        for y in range((r + quiet) * module, (r + quiet + 1) * module):
            for x in range((c + quiet) * module, (c + quiet + 1) * module):
                px[x, y] = 0
    return img


@pytest.mark.parametrize("lot", ["2605230014", "A", "ABCDEFGHIJ0123456789", "lot-7/b"])
def test_gs1_datamatrix_decodes_with_zxing(lot):
    es = datamatrix.gs1_element_string(GTIN, date(2027, 5, 23), lot)
    sym = datamatrix.encode(es)
    datamatrix.verify(sym, GTIN, date(2027, 5, 23), lot)
    [res] = decode(_image(sym))
    assert res.format.name == "DataMatrix"
    assert res.symbology_identifier == "]d2"  # GS1 DataMatrix (FNC1 first)
    assert res.text == f"(01){GTIN}(17)270523(10){lot}"


@pytest.mark.parametrize("size", [s[0] for s in datamatrix.SIZES if s[0] >= 18])
def test_every_symbol_size_decodes(size):
    spec = next(s for s in datamatrix.SIZES if s[0] == size)
    # FNC1 + (01) 8 + (17) 4 + "10" 1 = 14 codewords, then one codeword per letter: full
    es = f"01{GTIN}17270523" + "10" + "A" * (spec[2] - 14)
    sym = datamatrix.encode(es)
    assert sym.size == size
    assert datamatrix.read(sym.rows) == es
    res = decode(_image(sym, module=3))
    assert res and res[0].bytes.decode().replace("\x1d", "") == es.replace("\x1d", "")


def test_gtin_check_digit_and_date_are_validated():
    with pytest.raises(LabelError, match="check digit"):
        datamatrix.gs1_element_string("00614141000013", date(2027, 5, 23), "1")
    with pytest.raises(LabelError, match="YYMMDD"):
        datamatrix.gs1_element_string(GTIN, date(1999, 5, 23), "1")
    with pytest.raises(LabelError, match="character set 82"):
        datamatrix.gs1_element_string(GTIN, date(2027, 5, 23), "lot with space")


def test_damaged_symbol_is_refused():
    sym = datamatrix.encode(datamatrix.gs1_element_string(GTIN, date(2027, 5, 23), "1"))
    rows = [list(r) for r in sym.rows]
    rows[5][5] = not rows[5][5]
    with pytest.raises(LabelError, match="Reed-Solomon"):
        datamatrix.read(rows)
    rows = [list(r) for r in sym.rows]
    rows[-1][3] = False
    with pytest.raises(LabelError, match="finder"):
        datamatrix.read(rows)


def test_verify_refuses_wrong_content():
    sym = datamatrix.encode(datamatrix.gs1_element_string(GTIN, date(2027, 5, 23), "1"))
    with pytest.raises(LabelError, match="refusing to print"):
        datamatrix.verify(sym, GTIN, date(2027, 5, 24), "1")


@pytest.mark.parametrize("bad", ["\u0660\u0660\u0663\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0666",
                                 "0031234567890\u200b6", "1e13", " 00312345678906", "00312345678907"])
def test_gtin_refuses_non_ascii_digits_hidden_characters_and_bad_check_digits(bad):
    from compounding.gs1 import validate_gtin

    with pytest.raises(ValueError, match="GTIN"):
        validate_gtin(bad)
    assert validate_gtin("00312345678906") == "00312345678906"


# ---------------------------------------------------------------- issue 18: table-driven

def _gf_mul(a, b):
    """GF(256) product, polynomial 0x12D, by shift-and-add (no tables)."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x12D
        b >>= 1
    return out


def _textbook_ecc(data, n):
    """Reed-Solomon check codewords by long division of data * x^n by prod (x - 2^i),
    i = 1..n, written out without the module's tables."""
    g = [1]
    root = 1
    for _ in range(n):
        root = _gf_mul(root, 2)
        g = [a ^ _gf_mul(b, root) for a, b in zip(g + [0], [0] + g)]
    rem = list(data) + [0] * n
    for i in range(len(data)):
        f = rem[i]
        if f:
            for j, c in enumerate(g):
                rem[i + j] ^= _gf_mul(f, c)
    return rem[-n:]


@pytest.mark.parametrize("spec", datamatrix.SIZES, ids=lambda s: f"{s[0]}x{s[0]}")
def test_reed_solomon_tables_agree_with_textbook_division(spec):
    """rs_ecc (a table of products) equals long division; the syndrome check (tables of
    powers of the generator's roots) passes a codeword and refuses any one codeword
    changed, every position, every size."""
    import random

    rng = random.Random(spec[0])
    _, _, n_data, n_ecc = spec
    for _ in range(5):
        data = [rng.randrange(256) for _ in range(n_data)]
        ecc = datamatrix.rs_ecc(data, n_ecc)
        assert ecc == _textbook_ecc(data, n_ecc)
        word = data + ecc
        assert datamatrix._syndromes_zero(word, n_ecc)
        for k in range(len(word)):
            bad = list(word)
            bad[k] ^= rng.randrange(1, 256)
            assert not datamatrix._syndromes_zero(bad, n_ecc)


def test_read_takes_the_modules_as_drawn_whatever_their_truth_values():
    """read() is given the rows the renderer draws (booleans); other truthy values are
    dark too, as they were before the table-driven reader."""
    sym = datamatrix.encode(datamatrix.gs1_element_string(GTIN, date(2027, 5, 23), "2605230014"))
    es = sym.element_string
    assert datamatrix.read([[2 if d else 0 for d in r] for r in sym.rows]) == es
    assert datamatrix.read([["x" if d else "" for d in r] for r in sym.rows]) == es
    assert datamatrix.read([[d or None for d in r] for r in sym.rows]) == es


def test_touching_bars_read_as_one_wider_bar():
    """A bar widened to touch the next one is one wide bar: one bar and one space fewer."""
    bars = code128.layout_bars("2605230014", 2)
    (x1, w1), (x2, w2) = bars.bars[0], bars.bars[1]
    joined = code128.Bars(bars.text, 2, bars.quiet, ((x1, x2 - x1), (x2, w2)) + bars.bars[2:],
                          bars.width)
    with pytest.raises(LabelError, match="wrong number of bars and spaces"):
        code128.read_bars(joined)
