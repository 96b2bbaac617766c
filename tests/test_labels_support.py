"""Shared helpers for the label tests (no tests here): real formulas, content, rasterising."""

from __future__ import annotations

import io
from datetime import date
from functools import lru_cache
from pathlib import Path

from compounding import units as u
from compounding.formulas import Registry
from compounding.labeling.content import (Dispensing, batch_ingredient_ids, ingredient_tags,
                                          label_data)
from compounding.labeling.templates import load_templates
from compounding.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GTIN = "00614141000012"  # GS1's documentation example, valid check digit
LOT = "2605230014"
BUD = date(2027, 5, 23)

ORDERS = {
    "ldn-capsules": (u.q("1.5", "mg"), u.q("100", "capsules"), "lactose-monohydrate"),
    "ldn-oral-liquid": (u.q("1", "mg/mL"), u.q("100", "mL"), None),
    "ldn-sublingual-drops": (u.q("1", "mg/mL"), u.q("30", "mL"), None),
    "ldn-cream": (u.q("1", "mg/g"), u.q("50", "g"), None),
}


@lru_cache(maxsize=None)
def registry() -> Registry:
    return Registry.load(ROOT / "formulas")


@lru_cache(maxsize=None)
def templates():
    return load_templates(ROOT / "templates")


def settings(gtin: bool = False) -> Settings:
    return Settings(gtins={fid: GTIN for fid in ORDERS} if gtin else {})


def dispensing(patient="Zoë Nguyễn", quantity="30\u00a0capsules") -> Dispensing:
    return Dispensing(patient=patient, directions="Take one capsule at bedtime",
                      prescriber="Dr Ana Петрова", rx_number="RX-1234567",
                      dispensed_on=date(2026, 5, 25), quantity=quantity)


def item(formula_id="ldn-capsules", *, gtin=False, kind="batch", lot=LOT, strength=None,
         **disp):
    reg = registry()
    f = reg.get(formula_id)
    s, q, filler = ORDERS[formula_id]
    tags = ingredient_tags(reg.catalogue, batch_ingredient_ids(f, filler))
    return label_data(f, settings(gtin), strength=strength or s, quantity=q, lot=lot, bud=BUD,
                      storage=f.storage.conditions[0], ingredient_tags=tags,
                      dispensing=dispensing(**disp) if kind == "dispensing" else None)


def raster(pdf: bytes, dpi: int, page: int = 0):
    """Render a page like a thermal head: no anti-aliasing of text, paths or images."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    img = doc[page].render(scale=dpi / 72, no_smoothtext=True, no_smoothpath=True,
                           no_smoothimage=True).to_pil()
    doc.close()
    return img


def decode(img):
    import zxingcpp

    return zxingcpp.read_barcodes(img.convert("L"))


def plumber_pages(pdf: bytes):
    import pdfplumber

    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return [(p.width, p.height, list(p.chars), list(p.rects)) for p in doc.pages]


def page_text(chars) -> str:
    """Text of a set of chars, lines joined by spaces (wrapping never breaks a word)."""
    rows: dict[float, list] = {}
    for ch in chars:
        rows.setdefault(round(ch["top"], 1), []).append(ch)
    out = []
    for top in sorted(rows):
        line = sorted(rows[top], key=lambda c: c["x0"])
        s = ""
        prev = None
        for c in line:
            if prev is not None and c["x0"] - prev["x1"] > 0.8:
                s += " "
            s += c["text"]
            prev = c
        out.append(s)
    return " ".join(" ".join(out).split())
