"""The patient's dated dose chart: one row per day, what to measure, a box to tick.

Issue 17: pharmacists hand patients a dated chart so that a weekly change needs no new
prescription. The chart names the patient (on every page), the preparation with its
concentration beside every mL (NCPDP/ISMP: the concentration always shown with a volume),
the back-off rule with each step's half dose written out (LDN 2026 Prescriber Guide:
"reducing the dose by 50% for 7 days, before increasing it again"), the guide's note that
night-time doses can cause vivid dreams or insomnia, and the pharmacy's name and phone.
Dates carry month names (ISMP: never all-numeric). Letter and A4.

:func:`chart_content` is pure (schedule, measurer, names and dates are arguments);
:func:`render_chart` draws it with ReportLab and the shipped DejaVu fonts (a character the
font cannot draw is refused, never printed as a box).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from ..dates import format_date
from ..errors import InputError
from .fills import DOSE_TIMES, ROUTE_TEXT
from .measure import Measurer
from .schedule import BACK_OFF_DAYS, Schedule, dose_text

PAGE_SIZES = ("letter", "a4")
_UNIT_GAP = re.compile(r"([0-9]) (?=(?:mcg|mg|mL|g|drops?|capsules?|clicks?|days?)\b)")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

#: LDN 2026 Prescriber Guide, Side Effects: "LDN can cause sleep disturbances if taken at
#: nighttime ... vivid dreams, or insomnia". What to do is the pharmacist's usual advice
#: (tell the prescriber, who may move the dose to the morning): not a change made alone.
NIGHT_NOTE = ("Taken at night, LDN can cause vivid dreams or difficulty sleeping (LDN 2026 "
              "Prescriber Guide). This often settles. If it troubles you, tell your prescriber "
              "or pharmacist: the dose may be moved to the morning. Do not change the time "
              "without asking.")


@dataclass(frozen=True)
class ChartRow:
    on: date
    dose: str        # "0.5 mg"
    amount: str      # "0.5 mL of 1 mg/mL", "1 capsule (1.5 mg)", "3 drops"
    new_dose: bool   # the first day of a new dose


@dataclass(frozen=True)
class StepLine:
    first: date
    last: date
    dose: str
    amount: str
    half: str        # the back-off dose as measured, or why it cannot be


@dataclass(frozen=True)
class ChartContent:
    patient: str
    rx_number: str
    prescriber: str
    preparation: str      # "Naltrexone HCl 1 mg/mL oral liquid"
    how: str              # "Take by mouth at bedtime, measured with the oral syringe"
    pharmacy_name: str
    pharmacy_phone: str
    title: str            # "Dose chart" / "Dose chart, fill 2 of 3"
    rows: tuple[ChartRow, ...]
    steps: tuple[StepLine, ...]
    back_off: str
    night_note: str
    notes: tuple[str, ...] = ()


def _amount(measure, form: str, strength_text: str | None) -> str:
    if form == "oral-liquid":
        # NCPDP/ISMP: the concentration beside every volume
        return f"{measure.text().split(' (')[0]} of {strength_text}"
    if form == "capsule":
        return measure.text()
    return measure.text().split(" (")[0]


def chart_content(schedule: Schedule, measurer: Measurer, *, patient: str, rx_number: str,
                  prescriber: str, preparation: str, dose_time: str, pharmacy_name: str,
                  pharmacy_phone: str, first: date | None = None, last: date | None = None,
                  title: str = "Dose chart") -> ChartContent:
    """What the chart says, from ``first`` to ``last`` (default the whole course)."""
    if dose_time not in DOSE_TIMES:
        raise InputError(f"dose time: {dose_time!r}; allowed: {', '.join(DOSE_TIMES)}",
                         field="dose_time")
    form = measurer.form
    strength_text = None
    if measurer.strength is not None:
        from ..units import fmt
        strength_text = fmt(measurer.strength)
    measures = {d: measurer.measure(d) for d in schedule.doses()}
    rows, prev = [], None
    for day in schedule.days(first, last):
        m = measures[day.dose]
        rows.append(ChartRow(day.on, dose_text(day.dose), _amount(m, form, strength_text),
                             prev is not None and day.dose != prev))
        prev = day.dose
    if not rows:
        raise InputError("chart: no dose days in the dates asked for", field="chart")
    steps = []
    for seg in schedule.segments(first, last):
        m = measures[seg.dose]
        half = measurer.half_dose(seg.dose)
        half_text = (_amount(half.measure, form, strength_text) +
                     (f" ({dose_text(half.measure.delivered)})" if form != "capsule" else "")
                     if half.measure else half.note)
        if half.measure and half.measure.note:
            half_text += f"; {half.measure.note}"
        steps.append(StepLine(seg.first, seg.last, dose_text(seg.dose),
                              _amount(m, form, strength_text), half_text))
    verb, route = ROUTE_TEXT[form]
    device = {"oral-liquid": ", measured with the oral syringe provided",
              "sublingual-drops": ", drops counted from the dropper provided",
              "cream": ", measured with the dispenser's clicks",
              "capsule": ", one capsule a day, swallowed whole"}[form]
    how = f"{verb} {route} {DOSE_TIMES[dose_time]}{device}."
    back_off = (f"If side effects trouble you, take HALF your current dose for "
                f"{BACK_OFF_DAYS} days (the half dose for each step is in the table above), "
                "then go back up to the chart's dose, and tell your prescriber or pharmacist "
                "(LDN 2026 Prescriber Guide). Do not go above the chart's dose.")
    return ChartContent(patient=patient, rx_number=rx_number, prescriber=prescriber,
                        preparation=preparation, how=how, pharmacy_name=pharmacy_name,
                        pharmacy_phone=pharmacy_phone, title=title, rows=tuple(rows),
                        steps=tuple(steps), back_off=back_off, night_note=NIGHT_NOTE)


def render_chart(content: ChartContent, page_size: str = "letter") -> bytes:
    """PDF bytes of the chart on ``letter`` or ``a4`` paper (portrait)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, LETTER
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas as rl_canvas
    from reportlab.platypus import (Flowable, Paragraph, SimpleDocTemplate, Spacer, Table,
                                    TableStyle)

    from ..labeling.fonts import BOLD, NBSP, REGULAR, clean, register

    if page_size not in PAGE_SIZES:
        raise InputError(f"page size: {page_size!r}; allowed: {', '.join(PAGE_SIZES)}",
                         field="page_size")
    register()
    pagesize = LETTER if page_size == "letter" else A4
    margin = 14 * mm
    width = pagesize[0] - 2 * margin
    body = ParagraphStyle("body", fontName=REGULAR, fontSize=9.5, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=10.5)
    bold = ParagraphStyle("bold", parent=body, fontName=BOLD)
    h1 = ParagraphStyle("h1", parent=body, fontName=BOLD, fontSize=15, leading=18)
    name_style = ParagraphStyle("name", parent=body, fontName=BOLD, fontSize=13, leading=16)
    cell = ParagraphStyle("cell", parent=body, fontSize=10, leading=12)
    cell_b = ParagraphStyle("cellb", parent=cell, fontName=BOLD)

    def P(text, style=body, field="chart"):
        # a number and its unit never split across lines (0.75 / mg)
        text = _UNIT_GAP.sub("\\1" + NBSP, clean(str(text), field, style.fontName))
        return Paragraph(escape(text), style)

    class Box(Flowable):
        """The box a patient ticks."""

        def __init__(self, size):
            super().__init__()
            self.size = size

        def wrap(self, *_):
            return self.size, self.size

        def draw(self):
            self.canv.setLineWidth(1)
            self.canv.rect(0, 0, self.size, self.size)

    c = content
    story = [P(f"{c.title}: {c.preparation}", h1, "preparation"), Spacer(1, 3),
             P(f"Patient: {c.patient}", name_style, "patient")]
    info = [[P("Rx", small), P(c.rx_number, small, "rx"),
             P("Prescriber", small), P(c.prescriber, small, "prescriber")],
            [P("From", small), P(format_date(c.rows[0].on), small),
             P("To", small), P(format_date(c.rows[-1].on), small)],
            [P("Pharmacy", small), P(c.pharmacy_name, small, "pharmacy"),
             P("Phone", small), P(c.pharmacy_phone, small, "pharmacy")]]
    t = Table(info, colWidths=[0.12 * width, 0.38 * width, 0.14 * width, 0.36 * width])
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                           ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                           ("BACKGROUND", (2, 0), (2, -1), colors.whitesmoke)]))
    story += [Spacer(1, 4), t, Spacer(1, 4), P(c.how, bold)]

    # the steps with their half doses
    story += [Spacer(1, 6), P("Your doses", bold)]
    rows = [[P(h, small) for h in ("Dates", "Dose", "Measure", "Back-off half dose")]]
    for s in c.steps:
        rows.append([P(f"{format_date(s.first)} to {format_date(s.last)}", small),
                     P(s.dose, small), P(s.amount, small), P(s.half, small)])
    t = Table(rows, colWidths=[0.3 * width, 0.12 * width, 0.25 * width, 0.33 * width],
              repeatRows=1)
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                           ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [t, Spacer(1, 5), P(c.back_off, small), Spacer(1, 3), P(c.night_note, small)]
    for n in c.notes:
        story.append(P(n, small))

    # one row per day
    story += [Spacer(1, 8), P("Tick the box when you have taken the dose", bold), Spacer(1, 2)]
    box = 11
    rows = [[P(h, cell_b) for h in ("Date", "Day", "Dose", "Measure", "Taken")]]
    marks = []
    for i, r in enumerate(c.rows, start=1):
        st = cell_b if r.new_dose else cell
        amount = r.amount + ("  (new dose)" if r.new_dose else "")
        rows.append([P(format_date(r.on), st), P(WEEKDAYS[r.on.weekday()], st),
                     P(r.dose, st), P(amount, st), Box(box)])
        if r.new_dose:
            marks.append(i)
    t = Table(rows, colWidths=[0.2 * width, 0.1 * width, 0.15 * width, 0.43 * width,
                               0.12 * width], repeatRows=1)
    style = [("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
             ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
             ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("ALIGN", (4, 0), (4, -1), "CENTER"),
             ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)]
    for i in marks:
        style += [("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fff2b3")),
                  ("LINEABOVE", (0, i), (-1, i), 1.5, colors.black)]
    t.setStyle(TableStyle(style))
    story.append(t)

    footer_left = clean(f"{c.patient} · Rx {c.rx_number} · {c.preparation}", "patient")
    footer_right = clean(f"{c.pharmacy_name} · Tel {c.pharmacy_phone}", "pharmacy")

    class NumberedCanvas(rl_canvas.Canvas):
        """Page N of M on every page (M is known only after the last page)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved = []

        def showPage(self):
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total):
            self.setFont(REGULAR, 7.5)
            y = 8 * mm
            right = f"{footer_right} · page {self._pageNumber} of {total}"
            room = width - self.stringWidth(right, REGULAR, 7.5) - 12
            self.drawString(margin, y, _fit(self, footer_left, room))
            self.drawRightString(margin + width, y, right)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=pagesize, leftMargin=margin, rightMargin=margin,
                            topMargin=margin, bottomMargin=16 * mm, invariant=1,
                            title=f"{c.title} Rx {c.rx_number}", creator="compounding")
    doc.build(story, canvasmaker=NumberedCanvas)
    return buf.getvalue()


def _fit(canv, text: str, width: float) -> str:  # float-ok: point geometry
    """Shorten a footer text with an ellipsis to fit ``width`` points (the header has it
    whole)."""
    from ..labeling.fonts import REGULAR
    if canv.stringWidth(text, REGULAR, 7.5) <= width:
        return text
    while text and canv.stringWidth(text + "…", REGULAR, 7.5) > width:
        text = text[:-1]
    return text + "…"


def chart_for_record(rec: dict, *, pharmacy_name: str, pharmacy_phone: str | None,
                     fill_no: int | None = None) -> ChartContent:
    """The chart of a stored prescription (``store.prescriptions.get``): the whole course, or
    fill ``fill_no`` only (its first to last day). The one path from a record to a chart, for
    ``compounding rx chart`` and the bench's download. Raises :class:`InputError` (field
    ``fill``) for a fill the prescription does not have."""
    from .prescription import from_record

    p = from_record(rec, rec["steps"])
    fills = rec["plan"]["fills"]
    first = last = None
    title = "Dose chart"
    if fill_no is not None:
        if not 1 <= fill_no <= len(fills):
            raise InputError(f"fill: Rx {rec['rx_number']} has {len(fills)} fill"
                             f"{'s' if len(fills) != 1 else ''}; not {fill_no}", field="fill")
        f = fills[fill_no - 1]
        first, last = date.fromisoformat(f["first"]), date.fromisoformat(f["last"])
        title = f"Dose chart, fill {fill_no} of {len(fills)}"
    return chart_content(p.schedule, p.measurer, patient=p.patient, rx_number=p.rx_number,
                         prescriber=p.prescriber, preparation=p.preparation(),
                         dose_time=p.dose_time, pharmacy_name=pharmacy_name,
                         pharmacy_phone=pharmacy_phone, first=first, last=last, title=title)


def chart_file_name(rx_number: str, fill_no: int | None = None) -> str:
    """``rx-<RX>-chart[-fill-N].pdf``, the Rx number made safe for a file name."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-.") else "-" for c in rx_number)
    return f"rx-{safe}-chart" + (f"-fill-{fill_no}" if fill_no else "") + ".pdf"
