"""A formula as a pharmacist reads it (``compounding formulas show``): the MFR in text."""

from __future__ import annotations

from . import units as u
from .formulas import Catalogue, Formula


def describe(f: Formula, cat: Catalogue, sha256: str | None = None) -> str:
    ing = cat.ingredients
    out: list[str] = []
    add = out.append
    add(f"{f.name}  [{f.id} v{f.version}]")
    if sha256:
        add(f"  file SHA-256 {sha256}")
    add(f"Dosage form: {f.dosage_form}; route: {f.route}")
    add(f"Description: {f.description}")
    basis = ing[f.active.strength_basis].name
    add(f"Active: {ing[f.active.ingredient].name} (strength stated as {basis})")
    s = f.strength
    line = f"Strength: {s.describe()}"
    if s.default:
        line += f"; default {u.fmt(s.default)}"
    if s.common:
        line += f"; common {', '.join(u.fmt(c) for c in s.common)}"
    add(line)
    add(f"Batch size: {u.fmt(f.quantity_min)} to {u.fmt(f.quantity_max)}; "
        f"default overage {u.fmt(f.overage)}; weighing tolerance {u.fmt(f.weighing_tolerance)}")
    if f.components:
        add("Components:")
        for c in f.components:
            amount = "q.s." if c.qs else u.fmt(c.amount)
            tags = ing[c.ingredient].tags
            extra = f"  [{', '.join(tags)}]" if tags else ""
            note = f"  ({c.notes})" if c.notes else ""
            add(f"  - {ing[c.ingredient].name}: {c.role}, {amount}{extra}{note}")
    if f.capsule:
        names = [ing[x].name + (" (default)" if x == f.capsule.default_filler else "")
                 for x in f.capsule.fillers]
        add(f"Fillers allowed: {'; '.join(names)}")
        add(f"Capsule sizes: {', '.join('#' + z for z in f.capsule.sizes)}; at least "
            f"{f.capsule.min_extra_capsules} extra capsule(s) made")
    if f.drops:
        add(f"Drops: {u.number(f.drops.drops_per_ml)} drops per mL (calibrated: "
            f"{f.drops.calibration})")
    if f.device:
        add(f"Device: {f.device.name}, {u.fmt(f.device.ml_per_click)} per click"
            + (f" ({f.device.note})" if f.device.note else ""))
    add(f"Container-closure: {f.container_closure}")
    for cond in f.storage.conditions:
        add(f"Storage ({cond}): {' '.join(f.storage.text(cond))}")
    st = f.stability
    add(f"Stability: USP <795> category {st.category} ({st.water_activity})")
    for study in st.studies:
        add(f"  - study, {study.storage}: {study.duration}; {study.reference}")
    if f.bud_limit:
        add(f"Formula BUD limit: {f.bud_limit.days} days ({f.bud_limit.reason}; "
            f"{f.bud_limit.source})")
    if f.label.auxiliary:
        add(f"Auxiliary labels: {'; '.join(f.label.auxiliary)}")
    for title, items in (("Excipient notes", f.excipient_notes), ("Equipment", f.equipment),
                         ("Steps", f.steps), ("Quality control", f.qc),
                         ("References", f.references)):
        if items:
            add(f"{title}:")
            for i, item in enumerate(items, 1):
                add(f"  {i}. {item}" if title == "Steps" else f"  - {item}")
    return "\n".join(out)

