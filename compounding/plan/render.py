"""The batch plan as a worksheet a technician follows and a pharmacist verifies.

Aligned columns; every amount through the ISMP formatter (``mcg``, never the micro sign, no trailing
zero, always a leading zero, thousands separated by commas).
"""

from __future__ import annotations

from .. import units as u
from .core import show
from .model import BatchPlan


def _table(rows: list[list[str]], headers: list[str], right: set[int]) -> list[str]:
    cols = [headers] + rows
    widths = [max(len(r[i]) for r in cols) for i in range(len(headers))]

    def line(r):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _human(qty, plan: BatchPlan):
    """Issue 11: a derived amount for a person carries no precision beyond what can be
    weighed or measured: rounded to the balance (or measuring) readability when it is at
    least that; smaller amounts (a drug in micrograms) keep 4 significant figures."""
    from decimal import ROUND_HALF_EVEN
    step = plan.readability if qty.kind == u.MASS else \
        plan.volume_readability if qty.kind == u.VOLUME else None
    if step is None or qty.value == 0:
        return qty
    if qty >= step:
        return u.round_to(qty, step, rounding=ROUND_HALF_EVEN)
    return u.q(u.sig(qty.value, 4).normalize(), qty.unit)


def _1(value):
    """A percent for a person: one decimal place is all a worst case needs."""
    from decimal import ROUND_HALF_EVEN, Decimal
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)


def _pct(value) -> str:
    return f"{u.number(value)}%"


def render(plan: BatchPlan) -> str:
    out: list[str] = []
    add = out.append
    form = plan.dosage_form
    add(f"BATCH PLAN: {plan.formula_name}  [{plan.formula_id} v{plan.formula_version}]")
    per = " per capsule" if form == "capsule" else ""
    facts = []
    if plan.strength is not None:
        facts.append(("Strength", show(plan.strength) + per))
    make = f"{u.fmt(plan.quantity)} ordered; make {show(plan.units_to_make)} " \
           f"(overage {_pct(plan.overage_percent)}"
    if plan.capsule:
        n = plan.capsule["min_extra"].value
        make += f", at least {u.number(n)} extra capsule{'' if n == 1 else 's'}"
    facts.append(("Quantity", make + ")"))
    facts.append(("Balance", f"minimum weighable {show(plan.min_weighable)}, readability "
                  f"{show(plan.readability)}; dilutions at most 1 in {plan.max_dilution_ratio}"))
    if any(w.action == "measure" for w in plan.weighings):
        facts.append(("Measuring", f"at least {u.fmt(plan.min_volume)}, read to "
                      f"{u.fmt(plan.volume_readability)}"))
    d = plan.drug
    facts.append(("Potency", _pct(plan.potency_percent)
                  + ("" if d.salt_factor == 1 else
                     f"; salt factor {u.number(d.salt_factor)} ({d.ingredient} weighed, "
                     f"strength as {d.basis})")))
    facts.append(("Drug", f"target {show(d.target)}, delivered {show(d.delivered)} "
                  f"(error {_pct(d.error_percent)})"))
    if d.balance_sensitivity is not None:
        facts.append(("Balance error", f"worst case +{_pct(_1(d.uncertainty_percent))} / "
                      f"-{_pct(_1(d.uncertainty_below_percent))} from the drug's weighings "
                      f"(sensitivity {show(d.balance_sensitivity)}; budget "
                      f"{_pct(d.uncertainty_budget_percent)})"))
    w = max(len(k) for k, _ in facts)
    for k, v in facts:
        add(f"{(k + ':').ljust(w + 1)}  {v}")

    if plan.capsule:
        c = plan.capsule
        how = "chosen by fill weight" if c["size_chosen_by"] == "fill" else "as ordered"
        add("")
        add("CAPSULES")
        calibrated = c.get("fill_weight_basis") == "calibration"
        add(f"  Size #{c['size']} ({how}): body {u.fmt(c['body_volume'])}; "
            f"{c['filler_name']}" + (" (calibrated fill weight)" if calibrated else
                                     f" at {u.fmt(c['filler_density'])}"))
        add(f"  Fill weight {show(c['fill_weight'])} per capsule; total blend "
            f"{show(c['total_blend'])} for {u.fmt(plan.units_to_make)}")
        add(f"  Filler added to the blend {show(c['filler_amount'])} (all filler "
            f"{show(c['filler_total'])}); drug share of blend {_pct(c['drug_share_percent'])}")
        if c.get("fill_weight_basis") == "estimate":
            add("  Fill weight is an ESTIMATE (assumed density; see warnings). Measured fill "
                "weight (10 capsules / 10): ____________ mg   by: ______")
        elif calibrated:  # issue 11: which recorded calibration the plan used
            add(f"  {c['fill_weight_note']}")
    if plan.cream:
        c = plan.cream
        add("")
        add("CREAM")
        add(f"  Drug per g {show(c['drug_per_g'])}; base added {show(c['base_amount'])}; "
            f"total {show(c['total'])}")
        if c.get("base_name"):  # issue 11: the base chosen for this batch and what it contains
            add(f"  Base: {c['base_name']} ({c['base_category']}); {c['base_contains']}")
    if plan.device:
        dv = plan.device
        per_click = show(dv["mg_per_click"]) if dv["mg_per_click"] is not None else "not stated"
        add(f"  {dv['name']}: {u.fmt(dv['ml_per_click'])} per click = {per_click} per click")
        if dv.get("note"):
            add(f"  {dv['note']}")

    add("")
    add("INGREDIENTS")
    rows = [[i.name, i.role, show(_human(i.theoretical, plan)),
             ("q.s. to " if i.qs and i.to_weigh.kind == u.VOLUME else "") + show(i.to_weigh),
             show(_human(i.in_batch, plan))] for i in plan.ingredients]
    out.extend("  " + x for x in _table(
        rows, ["INGREDIENT", "ROLE", "THEORETICAL", "WEIGH/MEASURE", "IN BATCH"], {2, 3, 4}))

    if plan.dilution_steps:
        add("")
        add("DILUTIONS (aliquot method)")
        rows = []
        for s in plan.dilution_steps:
            diluent = show(s.diluent_amount) if s.diluent_amount is not None else "to volume"
            ratio = f"1 in {u.number(s.ratio)}" if s.ratio is not None else "dissolve"
            material = s.material if s.material.startswith("dilution") else s.ingredient
            rows.append([str(s.number), material, show(s.amount_in), diluent, show(s.total),
                         ratio, show(s.concentration), show(s.take), show(s.take_contains)])
        out.extend("  " + x for x in _table(
            rows, ["#", "TAKE OF", "AMOUNT", "+ DILUENT", "TOTAL", "RATIO", "CONCENTRATION",
                   "USE", "CONTAINS"], {0, 2, 3, 4, 6, 7, 8}))

    add("")
    add("WEIGHINGS AND MEASUREMENTS (in this order)")
    rows = [[str(x.step), x.action, x.what, show(x.amount)] for x in plan.weighings]
    out.extend("  " + x for x in _table(rows, ["STEP", "ACTION", "WHAT", "AMOUNT"], {0, 3}))

    if plan.drops:
        dr = plan.drops
        add("")
        add(f"DROPS: {u.number(dr['drops_per_ml'])} drops per mL (calibrated); "
            f"{show(dr['mg_per_drop'])} per drop; at most {dr['drop_limit']} drops a dose "
            f"({show(dr['largest_dose'])}, limit {show(dr['max_dose'])})")
        rows = [[show(r["dose"]), str(r["drops"]), show(r["dose_given"]),
                 _pct(r["deviation_percent"]), "" if r["within_limits"] else "outside limits"]
                for r in dr["dose_table"]]
        out.extend("  " + x for x in _table(
            rows, ["DOSE", "DROPS", "GIVES", "DEVIATION", ""], {0, 1, 2, 3}))

    add("")
    add("ROUNDING")
    out.extend(f"  - {r}" for r in plan.rounding)
    if plan.warnings:
        add("")
        add("WARNINGS")
        out.extend(f"  ! {w_}" for w_ in plan.warnings)
    return "\n".join(out)
