"""Cream: drug per gram, base q.s. to the batch mass; a drug amount below the minimum is
diluted in the cream base itself (a concentrate: no new excipient for allergic patients).
For a metered device (Topi-CLICK) the plan gives mg per click from the device's mL per click
and the formula's density.
"""

from __future__ import annotations

from decimal import ROUND_CEILING

from .. import units as u
from .core import Ctx, show, tidy
from .dilution import plan_solid, round_step
from .model import BatchPlan


def plan_cream(ctx: Ctx) -> BatchPlan:
    f, o = ctx.formula, ctx.order
    base = next(c for c in f.components if c.qs)
    for c in f.components:
        ctx.check_avoid(c.ingredient, "--formula")
    ctx.tag_warnings([c.ingredient for c in f.components])
    qty_mg = o.quantity.to("mg").value
    total = round_step(qty_mg * (1 + ctx.overage / 100), ctx.readability, ROUND_CEILING)
    per_g = ctx.strength.to("mg/g").value
    target = per_g * total / 1000
    name = ctx.ing[ctx.drug_id].name
    al = plan_solid(target, ctx.c0, mwq=ctx.mwq, readability=ctx.readability,
                    max_ratio=ctx.max_ratio, max_take=total - ctx.mwq,
                    what=f"{name} {show(u.q(target, 'mg'))}",
                    sensitivity=ctx.sensitivity, budget=ctx.budget)
    ctx.record_aliquot(al, ctx.drug_id, base.ingredient, "into the cream")
    base_add = total - al.into_batch
    bname = ctx.ing[base.ingredient].name
    ctx.weigh(f"{bname} to bring the cream to {show(u.q(total, 'mg'))}", base.ingredient,
              u.q(base_add, "mg"))
    mg = lambda v: u.q(v, "mg")
    drug_in = al.delivered / ctx.c0
    theo_drug = tidy(per_g * qty_mg / 1000 * ctx.salt)  # own form, no potency (issue 11)
    ctx.line(ctx.drug_id, "active", mg(theo_drug), mg(al.weighed), mg(tidy(drug_in)))
    ctx.line(base.ingredient, base.role, mg(tidy(qty_mg - theo_drug)),
             ctx.total_weighed(base.ingredient), mg(tidy(total - drug_in)), qs=True)
    cream = {"drug_per_g": u.q(per_g, "mg/g"), "base": base.ingredient,
             "base_amount": mg(base_add), "total": mg(total), "density": f.density}
    device = None
    if f.device is not None:
        ml = f.device.ml_per_click.to("mL").value
        per_ml = per_g * f.density.to("g/mL").value if f.density is not None else None
        device = {"name": f.device.name, "ml_per_click": f.device.ml_per_click,
                  "mg_per_ml": None if per_ml is None else u.q(tidy(per_ml), "mg/mL"),
                  "mg_per_click": None if per_ml is None else u.q(tidy(per_ml * ml), "mg"),
                  "note": f.device.note}
        if per_ml is None:
            ctx.warnings.append(f"{f.id} has no density: mg per click cannot be stated; "
                                "calibrate the device by weighing 10 clicks")
    return ctx.build(units_to_make=u.q(total / 1000, "g"), drug=ctx.drug_summary(target, al.delivered),
                     cream=cream, device=device)
