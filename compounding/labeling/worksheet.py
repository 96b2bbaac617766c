"""The compounding worksheet PDF for one stored batch (``compounding batch worksheet LOT``).

What the person at the bench fills in, on paper, next to the record the store keeps: the
plan, every weighing in order (dilution steps included) with boxes for the component lot,
the amount weighed and initials, the dilution steps, the formula's method and QC checks,
the excipient notes and allergen tags, the BUD with its reason, and sign-off lines for the
compounder and the pharmacist (USP <795> Compounding Record).

Pure: takes the batch record (``Store.get_batch``) and the settings, returns PDF bytes.
Amounts are formatted by the units layer, dates by ``format_date`` (month names).
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from .. import units as u
from .fonts import BOLD, REGULAR, clean, register


def _q(d) -> str:
    """A plan amount ``{"amount", "unit"}`` as a person reads it."""
    if not d:
        return ""
    return u.fmt(u.readable(u.q(str(d["amount"]), d["unit"])))


def _amount(amount, unit) -> str:
    if amount is None or unit is None:
        return ""
    return u.fmt(u.readable(u.q(str(amount), unit)))


def _date(iso: str | None) -> str:
    from ..dates import format_date
    return format_date(iso) if iso else ""


def render_worksheet(batch: dict, settings) -> bytes:
    """PDF bytes of the worksheet (US Letter, portrait)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import LETTER
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import inch
    from reportlab.platypus import (KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table,
                                    TableStyle)

    register()
    body = ParagraphStyle("body", fontName=REGULAR, fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)
    h1 = ParagraphStyle("h1", parent=body, fontName=BOLD, fontSize=14, leading=17,
                        spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=body, fontName=BOLD, fontSize=10.5, leading=13,
                        spaceBefore=8, spaceAfter=3)

    def P(text, style=body, field="worksheet"):
        return Paragraph(escape(clean(str(text), field, style.fontName)), style)

    f = batch["formula_snapshot"]
    plan = batch.get("plan") or {}
    cat = batch.get("catalogue_snapshot") or {}
    lot = batch["lot_id"]
    story = []
    story.append(P(f"Compounding worksheet: lot {lot}", h1))
    story.append(P(f"{f['name']} ({f['id']} version {batch.get('formula_version', f.get('version'))}"
                   f", file SHA-256 {str(batch.get('formula_sha256', ''))[:16]}…)", body))
    info = [
        ["Strength", batch.get("strength", ""), "Quantity ordered", batch.get("quantity", "")],
        ["Dosage form", f.get("dosage_form", ""), "Units to make", batch.get("units_made", "")],
        ["Route", f.get("route", ""), "Storage", batch.get("storage", "")],
        ["Compounded on", _date(batch.get("compounded_on")), "Status", batch.get("status", "")],
        ["Compounder", batch.get("compounded_by", ""), "Pharmacy", settings.pharmacy.name],
    ]
    t = Table([[P(c, small) for c in row] for row in info],
              colWidths=[1.1 * inch, 2.3 * inch, 1.2 * inch, 2.4 * inch])
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                           ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                           ("BACKGROUND", (2, 0), (2, -1), colors.whitesmoke)]))
    story += [Spacer(1, 4), t]

    # ingredients
    story.append(P("Ingredients", h2))
    planned_lots = {c["ingredient"]: c.get("lot_number") for c in batch.get("components", [])}
    rows = [[P(h, small) for h in ("Ingredient", "Role", "Allergen tags", "Theoretical",
                                   "To weigh", "Planned lot")]]
    for ing in plan.get("ingredients", []):
        tags = ", ".join(ing.get("tags") or (cat.get(ing["id"], {}).get("tags") or [])) or "none"
        rows.append([P(ing.get("name", ing["id"]), small), P(ing.get("role", ""), small),
                     P(tags, small), P(_q(ing.get("theoretical")), small),
                     P(_q(ing.get("to_weigh")), small),
                     P(planned_lots.get(ing["id"]) or "", small)])
    t = Table(rows, colWidths=[1.9 * inch, 0.9 * inch, 1.0 * inch, 0.9 * inch, 0.9 * inch,
                               1.4 * inch], repeatRows=1)
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)]))
    story.append(t)

    # weighings with boxes
    # The latest recorded weighing of each step fills its boxes (a re-weigh replaces the
    # first on the sheet; both stay in the database); a step not yet weighed stays blank.
    # Each recorded amount says where it came from when the record carries it (issue 16:
    # "balance bench-1 (SN B123456789)" or "typed"; ", lot scanned" when the lot was scanned).
    recorded = {}
    for rw in batch.get("weighings") or []:
        recorded[rw.get("step")] = rw
    title = ("Weighings, in order (recorded values printed; fill in any blank box)"
             if recorded else "Weighings, in order (fill in every box)")
    story.append(P(title, h2))
    rows = [[P(h, small) for h in ("Step", "What", "Amount", "Component lot",
                                   "Amount weighed", "Initials")]]
    for w in plan.get("weighings", []):
        rw = recorded.get(w.get("step"))
        done = ["", "", ""]
        if rw:
            weighed = _amount(rw.get("quantity"), rw.get("unit"))
            if rw.get("source_text"):  # issue 16: from a balance (name, serial) or typed
                weighed += f" ({rw['source_text']})"
            done = [P(rw.get("component_lot") or "(this batch)", small),
                    P(weighed, small),
                    P(rw.get("weighed_by") or "", small)]
        rows.append([P(str(w.get("step", "")), small), P(w.get("what", ""), small),
                     P(_amount(w.get("amount"), w.get("unit")), small), *done])
    # a blank row keeps its write-in height; a recorded one grows with its source text
    heights = [None] + [None if recorded.get(w.get("step")) and
                        recorded[w.get("step")].get("source_text") else 0.36 * inch
                        for w in plan.get("weighings", [])]
    t = Table(rows, colWidths=[0.45 * inch, 2.2 * inch, 0.85 * inch, 1.3 * inch, 1.5 * inch,
                               0.7 * inch], repeatRows=1, rowHeights=heights)
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                           ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story.append(t)

    # dilution steps
    steps = plan.get("dilution_steps") or []
    story.append(P("Dilution (aliquot) steps", h2))
    if not steps:
        story.append(P("None: every amount is at or above the minimum weighable quantity."))
    def name(iid):
        return (cat.get(iid) or {}).get("name", iid)

    for d in steps:
        if d.get("action") == "dissolve" or not d.get("diluent_amount"):
            made = (f"{_q(d.get('amount_in'))} of {name(d.get('material'))} dissolved in "
                    f"{name(d.get('diluent'))} and made up to {_q(d.get('total'))} "
                    f"({_q(d.get('concentration'))})")
        else:
            made = (f"{_q(d.get('amount_in'))} of {name(d.get('material'))} + "
                    f"{_q(d.get('diluent_amount'))} of {name(d.get('diluent'))} = "
                    f"{_q(d.get('total'))} (1 in {d.get('ratio')}, "
                    f"{_q(d.get('concentration'))})")
        desc = (f"Dilution {d.get('number')}: {made}; take {_q(d.get('take'))}, containing "
                f"{_q(d.get('take_contains'))}.")
        story.append(P(desc, small))

    # capsule / method / QC
    cap = plan.get("capsule")
    if cap:
        story.append(P("Capsules", h2))
        story.append(P(f"Size {cap.get('size')}; fill weight {_q(cap.get('fill_weight'))}; "
                       f"filler {cap.get('filler_name', cap.get('filler'))}; total blend "
                       f"{_q(cap.get('total_blend'))}.", small))
        if cap.get("fill_weight_note"):  # issue 11: an estimate until measured
            story.append(P(cap["fill_weight_note"] + ".", small))
        if cap.get("fill_weight_note") and cap.get("fill_weight_basis") != "calibration":
            story.append(P("Measured fill weight (10 capsules / 10): ______________ mg    "
                           "Initials: ______", small))
    story.append(P("Method", h2))
    for i, s in enumerate(f.get("steps", []), start=1):
        story.append(P(f"{i}. {s}", small))
    qrows = [[P(q, small), P("Result:", small), P("Initials:", small)] for q in f.get("qc", [])]
    if qrows:
        t = Table(qrows, colWidths=[4.2 * inch, 1.9 * inch, 0.9 * inch])
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(KeepTogether([P("Quality control", h2), t]))

    # excipients and allergens
    story.append(P("Excipient notes and allergen tags", h2))
    tags = sorted({t for ing in plan.get("ingredients", [])
                   for t in (ing.get("tags") or cat.get(ing["id"], {}).get("tags") or [])})
    story.append(P("Allergen / known-effect tags in this batch: " + (", ".join(tags) or "none"),
                   small))
    cream = plan.get("cream") or {}
    if cream.get("base_name"):  # issue 11: the base chosen for this batch
        story.append(P(f"Base used: {cream['base_name']} ({cream.get('base_category')}); "
                       f"{cream.get('base_contains')}", small))
    for n in f.get("excipient_notes", []):
        story.append(P(f"• {n}", small))
    for w in plan.get("warnings", []):
        story.append(P(f"Warning: {w}", small))

    # BUD
    story.append(P("Beyond-use date", h2))
    bud = batch.get("bud_result") or {}
    binding = bud.get("binding") or {}
    story.append(P(f"BUD: {_date(batch.get('bud'))} ({binding.get('days', '?')} days, day of "
                   f"compounding = day 1)", ParagraphStyle("b", parent=body, fontName=BOLD)))
    for key in ("rule", "source", "note"):
        if binding.get(key):
            story.append(P(f"{key.capitalize()}: {binding[key]}", small))
    story.append(P(f"Storage: {' '.join(_storage_text(f, batch.get('storage')))}", small))

    # sign-off
    story.append(P("Sign-off", h2))
    sig = Table([[P("Compounded by (name, signature)", small), "", P("Date / time", small), ""],
                 [P("Verified by, pharmacist (name, signature)", small), "",
                  P("Date / time", small), ""]],
                colWidths=[2.2 * inch, 2.6 * inch, 0.9 * inch, 1.3 * inch],
                rowHeights=[0.45 * inch, 0.45 * inch])
    sig.setStyle(TableStyle([("LINEBELOW", (1, 0), (1, -1), 0.8, colors.black),
                             ("LINEBELOW", (3, 0), (3, -1), 0.8, colors.black),
                             ("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
    story.append(KeepTogether([sig]))

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=LETTER, leftMargin=0.6 * inch,
                            rightMargin=0.6 * inch, topMargin=0.6 * inch,
                            bottomMargin=0.6 * inch, invariant=1,
                            title=f"Compounding worksheet {lot}", creator="compounding")

    def footer(canvas, doc_):
        canvas.setFont(REGULAR, 7.5)
        canvas.drawString(0.6 * inch, 0.35 * inch,
                          f"Lot {lot} · {f['id']} v{f.get('version')} · page {doc_.page}")

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def _storage_text(formula_snapshot: dict, condition: str) -> list[str]:
    from ..formulas import StorageSpec

    return StorageSpec.model_validate(formula_snapshot["storage"]).text(condition)
