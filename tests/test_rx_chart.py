"""The dose chart PDF (issue 17): one row per day with month names, the concentration
beside every mL, the half doses, the guide's notes, the patient on every page, Letter and A4,
and a refusal for a character the shipped font cannot draw. Text is read back from the PDF."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pdfplumber
import pytest

from compounding import units as u
from compounding.errors import InputError, LabelError
from compounding.formulas import Registry
from compounding.rx import chart as C
from compounding.rx import measure as M
from compounding.rx import schedule as S
from compounding.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ST = Settings()


@pytest.fixture(scope="module")
def reg():
    return Registry.load(ROOT / "formulas")


def content(reg, formula, strength, steps, patient="Zoë Nguyễn", dose_time="bedtime", **kw):
    sch = S.build(date(2026, 12, 1), steps=steps)
    m = M.Measurer(reg.get(formula), u.parse(strength) if strength else None, ST.rx,
                   kit=tuple(sch.doses()))
    return C.chart_content(sch, m, patient=patient, rx_number="RX-1001",
                           prescriber="Dr A. Example", preparation="Naltrexone HCl test",
                           dose_time=dose_time, pharmacy_name="Sample Compounding Pharmacy",
                           pharmacy_phone="(555) 010-0100", **kw)


def pages(pdf: bytes) -> list[str]:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return [p.extract_text() for p in doc.pages]


def test_liquid_chart_rows_and_notes(reg):
    c = content(reg, "ldn-oral-liquid", None, "0.5 mg x 2 d, 1 mg x 2 d")
    text = pages(C.render_chart(c, "letter"))
    assert len(text) == 1
    lines = text[0].splitlines()
    assert lines[:2] == ["Dose chart: Naltrexone HCl test", "Patient: Zoë Nguyễn"]
    assert "Take by mouth at bedtime, measured with the oral syringe provided." in lines
    assert "Pharmacy Sample Compounding Pharmacy Phone (555) 010-0100" in lines
    assert lines[lines.index("Date Day Dose Measure Taken") + 1:][:4] == [
        "01 DEC 2026 Tue 0.5 mg 0.5 mL of 1 mg/mL",
        "02 DEC 2026 Wed 0.5 mg 0.5 mL of 1 mg/mL",
        "03 DEC 2026 Thu 1 mg 1 mL of 1 mg/mL (new dose)",
        "04 DEC 2026 Fri 1 mg 1 mL of 1 mg/mL",
    ]
    assert "03 DEC 2026 to 04 DEC 2026 1 mg 1 mL of 1 mg/mL 0.5 mL of 1 mg/mL (0.5 mg)" in lines
    joined = " ".join(lines)
    assert "take HALF your current dose for 7 days" in joined
    assert "vivid dreams or difficulty sleeping" in joined
    assert lines[-1] == ("Zoë Nguyễn · Rx RX-1001 · Naltrexone HCl test Sample Compounding "
                         "Pharmacy · Tel (555) 010-0100 · page 1 of 1")


@pytest.mark.parametrize("size, expected", [("letter", (612, 792)), ("a4", (595, 842))])
def test_page_sizes_and_patient_on_every_page(reg, size, expected):
    c = content(reg, "ldn-oral-liquid", None, "1 mg x 30 d, 1.5 mg x 30 d")
    with pdfplumber.open(io.BytesIO(C.render_chart(c, size))) as doc:
        assert (round(doc.pages[0].width), round(doc.pages[0].height)) == expected
        n = len(doc.pages)
        assert n >= 2
        for i, p in enumerate(doc.pages, 1):
            assert p.extract_text().splitlines()[-1].startswith("Zoë Nguyễn · Rx RX-1001")
            assert p.extract_text().splitlines()[-1].endswith(f"page {i} of {n}")


def test_capsule_and_drops_amounts(reg):
    caps = content(reg, "ldn-capsules", None, "1.5 mg x 1 d, 3 mg x 1 d")
    assert [(r.dose, r.amount) for r in caps.rows] == [("1.5 mg", "1 capsule (1.5 mg)"),
                                                       ("3 mg", "1 capsule (3 mg)")]
    assert [s.half for s in caps.steps] == [
        "0.75 mg: no 0.75 mg capsules in this kit; ask the pharmacy (do not open or split "
        "capsules)", "1 capsule (1.5 mg)"]
    drops = content(reg, "ldn-sublingual-drops", "10 mg/mL", "0.5 mg x 1 d, 1 mg x 1 d")
    assert [(r.dose, r.amount) for r in drops.rows] == [("0.5 mg", "1 drop"),
                                                        ("1 mg", "2 drops")]
    assert [s.half for s in drops.steps] == [
        "0.25 mg is less than one drop (0.5 mg each at 10 mg/mL); ask the prescriber or "
        "pharmacist", "1 drop (0.5 mg)"]


def test_chart_for_part_of_the_course(reg):
    c = content(reg, "ldn-oral-liquid", None, "0.5 mg x 7 d, 1 mg x 7 d",
                first=date(2026, 12, 6), last=date(2026, 12, 9), title="Dose chart, fill 2")
    assert [r.on.day for r in c.rows] == [6, 7, 8, 9]
    assert [r.new_dose for r in c.rows] == [False, False, True, False]


def test_a_character_the_font_cannot_draw_is_refused(reg):
    c = content(reg, "ldn-oral-liquid", None, "1 mg x 1 d", patient="患者")
    with pytest.raises(LabelError, match=r"patient: no shipped font can draw '患' \(U\+60A3\)"):
        C.render_chart(c)


def test_bad_page_size_and_dose_time(reg):
    c = content(reg, "ldn-oral-liquid", None, "1 mg x 1 d")
    with pytest.raises(InputError, match="page size: 'legal'; allowed: letter, a4"):
        C.render_chart(c, "legal")
    with pytest.raises(InputError, match="dose time: 'noon'; allowed: bedtime, morning, evening"):
        content(reg, "ldn-oral-liquid", None, "1 mg x 1 d", dose_time="noon")


def test_same_content_same_pdf(reg):
    c = content(reg, "ldn-cream", None, "0.5 mg x 3 d")
    assert C.render_chart(c) == C.render_chart(c)
