"""Cream: drug per gram, base q.s. to the batch mass; a drug amount below the minimum is
diluted in the cream base itself (a concentrate: no new excipient for allergic patients).
For a metered device (Topi-CLICK) the plan gives mg per click from the device's mL per click
and the density of the preparation in the chosen base.

The base is chosen per batch like a capsule filler (issue 11): ``--base``, else the
formula's default, unless the patient avoids a tag the default carries (``--avoid
parabens``): then the first base the formula lists that is free of every avoided tag. The
plan names the base, its USP <795> category and what it contains.
"""

from __future__ import annotations

from decimal import ROUND_CEILING

from .. import units as u
from ..errors import PlanError
from .core import Ctx, show, tidy
from .dilution import plan_solid, round_step
from .model import BatchPlan


def choose_base(ctx: Ctx) -> tuple[str, str | None]:
    """The base ingredient id for this batch and, when ``--avoid`` moved it off the
    default, the sentence saying why. Raises :class:`PlanError` for a base the formula does
    not list, or one carrying an avoided tag (naming a base free of it, if any)."""
    f, o = ctx.formula, ctx.order
    qs = next(c for c in f.components if c.qs)
    options = f.cream.ids() if f.cream is not None else [qs.ingredient]
    default = f.cream.default_base if f.cream is not None else qs.ingredient
    if o.base is not None:
        if o.base not in options:
            raise PlanError(f"--base: {o.base!r} is not a base of {f.id}; allowed: "
                            f"{', '.join(options)}")
        ctx.check_avoid(o.base, "--base", [x for x in options if x != o.base])
        return o.base, None
    avoid = set(o.avoid)
    hit = [t for t in ctx.ing[default].tags if t in avoid]
    if not hit:
        return default, None
    free = [x for x in options if not avoid & set(ctx.ing[x].tags)]
    if not free:
        ctx.check_avoid(default, "--base")  # raises: no base free of the tags
    why = (f"Base {free[0]} ({ctx.ing[free[0]].name}) chosen for --avoid {', '.join(hit)}: "
           f"the default base {default} contains {', '.join(hit)}")
    return free[0], why


def plan_cream(ctx: Ctx) -> BatchPlan:
    f, o = ctx.formula, ctx.order
    qs = next(c for c in f.components if c.qs)
    base_id, why = choose_base(ctx)
    for c in f.components:
        if not c.qs:
            ctx.check_avoid(c.ingredient, "--formula")
    if why:
        ctx.warnings.append(why)
    used = [base_id if c.qs else c.ingredient for c in f.components]
    ctx.tag_warnings(used)
    option = f.cream.base(base_id) if f.cream is not None else None
    density = (option.density if option is not None and option.density is not None
               else f.density)
    if o.by_volume and density != f.density:
        raise PlanError(f"--quantity/--strength: give the batch as a mass (g) and the strength "
                        f"per g with base {base_id}: its density ({u.fmt(density)}) is not the "
                        f"formula's ({u.fmt(f.density)}) the volume was converted with")
    qty_mg = o.quantity.to("mg").value
    total = round_step(qty_mg * (1 + ctx.overage / 100), ctx.readability, ROUND_CEILING)
    per_g = ctx.strength.to("mg/g").value
    target = per_g * total / 1000
    name = ctx.ing[ctx.drug_id].name
    al = plan_solid(target, ctx.c0, mwq=ctx.mwq, readability=ctx.readability,
                    max_ratio=ctx.max_ratio, max_take=total - ctx.mwq,
                    what=f"{name} {show(u.q(target, 'mg'))}",
                    sensitivity=ctx.sensitivity, budget=ctx.budget)
    ctx.record_aliquot(al, ctx.drug_id, base_id, "into the cream")
    base_add = total - al.into_batch
    base = ctx.ing[base_id]
    ctx.weigh(f"{base.name} to bring the cream to {show(u.q(total, 'mg'))}", base_id,
              u.q(base_add, "mg"))
    mg = lambda v: u.q(v, "mg")
    drug_in = al.delivered / ctx.c0
    theo_drug = tidy(per_g * qty_mg / 1000 * ctx.salt)  # own form, no potency (issue 11)
    ctx.line(ctx.drug_id, "active", mg(theo_drug), mg(al.weighed), mg(tidy(drug_in)))
    ctx.line(base_id, qs.role, mg(tidy(qty_mg - theo_drug)),
             ctx.total_weighed(base_id), mg(tidy(total - drug_in)), qs=True)
    category = option.category if option is not None else f.stability.category
    cream = {"drug_per_g": u.q(per_g, "mg/g"), "base": base_id, "base_amount": mg(base_add),
             "total": mg(total), "density": density,
             # issue 11: which base, its USP <795> category, what it contains
             "base_name": base.name, "base_category": category,
             "base_water_activity": (option.water_activity if option is not None
                                     else f.stability.water_activity),
             "base_tags": list(base.tags),
             "base_contains": base.notes or ("carries " + ", ".join(base.tags) if base.tags
                                             else "no tagged excipient")}
    device = None
    if f.device is not None:
        ml = f.device.ml_per_click.to("mL").value
        per_ml = per_g * density.to("g/mL").value if density is not None else None
        device = {"name": f.device.name, "ml_per_click": f.device.ml_per_click,
                  "mg_per_ml": None if per_ml is None else u.q(tidy(per_ml), "mg/mL"),
                  "mg_per_click": None if per_ml is None else u.q(tidy(per_ml * ml), "mg"),
                  "note": f.device.note}
        if per_ml is None:
            ctx.warnings.append(f"{f.id} has no density: mg per click cannot be stated; "
                                "calibrate the device by weighing 10 clicks")
    return ctx.build(units_to_make=u.q(total / 1000, "g"), drug=ctx.drug_summary(target, al.delivered),
                     cream=cream, device=device)
