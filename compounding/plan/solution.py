"""Shared by the oral liquid and the sublingual drops: drug, each excipient by % w/v (or
v/v), vehicle q.s. to volume. An amount below the minimum weighable quantity is weighed
as more, dissolved in the vehicle to a stated stock volume, and a measured volume of the
stock (at least the minimum measurable volume) goes into the batch.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from .. import units as u
from ..errors import PlanError
from .core import Ctx, show, tidy
from .dilution import plan_solution, round_step

#: The batch volume made (ordered volume plus overage) is rounded up to this (mL): the
#: final volume is made up in a graduated cylinder or flask, not to 0.01 mL.
BATCH_VOLUME_STEP = Decimal("1")
#: One stock solution may bring at most this share of the batch volume, and all stocks
#: together at most :data:`MAX_STOCKS_SHARE` (the other ingredients need room to dissolve).
MAX_STOCK_SHARE = Decimal("0.5")
MAX_STOCKS_SHARE = Decimal("0.8")


def plan_liquid_parts(ctx: Ctx):
    """Record every weighing of a liquid batch; return (volume made mL, target, aliquot)."""
    f, o = ctx.formula, ctx.order
    qty_ml = o.quantity.to("mL").value
    volume = round_step(qty_ml * (1 + ctx.overage / 100), BATCH_VOLUME_STEP, ROUND_CEILING)
    vehicle = next(c for c in f.components if c.qs)
    for c in f.components:
        ctx.check_avoid(c.ingredient, "--formula")
    ctx.tag_warnings([c.ingredient for c in f.components])
    max_take = volume * MAX_STOCK_SHARE

    def solve(target, c0, what, iid):
        drug = iid == ctx.drug_id  # the uncertainty budget is about the drug's strength
        return plan_solution(target, c0, mwq=ctx.mwq, readability=ctx.readability,
                             min_volume=ctx.vmin, volume_readability=ctx.vread,
                             max_ratio=ctx.max_ratio, max_take=max_take, what=what,
                             sensitivity=ctx.sensitivity if drug else None,
                             budget=ctx.budget if drug else None)

    conc = ctx.strength.to("mg/mL").value
    target = conc * volume
    drug_name = ctx.ing[ctx.drug_id].name
    al = solve(target, ctx.c0, f"{drug_name} {show(u.q(target, 'mg'))}", ctx.drug_id)
    ctx.record_aliquot(al, ctx.drug_id, vehicle.ingredient, "into the batch")
    mg = lambda v: u.q(v, "mg")
    ctx.line(ctx.drug_id, "active", theoretical=mg(tidy(conc * qty_ml * ctx.salt)),
             to_weigh=mg(al.weighed),
             in_batch=mg(tidy(al.delivered / ctx.c0)))
    stock_volume = Decimal(0) if al.direct else al.into_batch

    for c in f.components:
        if c.qs:
            continue
        name = ctx.ing[c.ingredient].name
        p = c.amount.value
        if c.amount.unit == "% v/v":
            vol = round_step(p / 100 * volume, ctx.vread)
            if vol < ctx.vmin:
                raise PlanError(f"--quantity: {name} {u.fmt(c.amount)} of this batch is "
                                f"{u.fmt(u.q(vol, 'mL'))}, below the minimum measurable "
                                f"{u.fmt(u.q(ctx.vmin, 'mL'))}: make a larger batch")
            ctx.weigh(f"{name} ({u.fmt(c.amount)})", c.ingredient, u.q(vol, "mL"), "measure")
            ctx.line(c.ingredient, c.role, u.q(p / 100 * qty_ml, "mL"), u.q(vol, "mL"),
                     u.q(vol, "mL"))
            continue
        if c.amount.unit == "% w/v":  # g per 100 mL = 10 x p mg per mL
            need, theo = p * 10 * volume, p * 10 * qty_ml
        else:  # % w/w needs the preparation's density
            if f.density is None:
                raise PlanError(f"{f.id}: {name} is given in % w/w but the formula has no "
                                "density")
            dens = f.density.to("mg/mL").value
            need, theo = p / 100 * volume * dens, p / 100 * qty_ml * dens
        ex = solve(need, Decimal(1), f"{name} {show(mg(need))}", c.ingredient)
        ctx.record_aliquot(ex, c.ingredient, vehicle.ingredient, "into the batch",
                           label=f"({u.fmt(c.amount)})")
        if not ex.direct:
            stock_volume += ex.into_batch
        ctx.line(c.ingredient, c.role, mg(theo), mg(ex.weighed), mg(tidy(ex.delivered)))

    if stock_volume > volume * MAX_STOCKS_SHARE:
        raise PlanError(f"--quantity: the stock solutions ({u.fmt(u.q(stock_volume, 'mL'))}) "
                        f"would be more than {u.number(MAX_STOCKS_SHARE * 100)}% of a "
                        f"{u.fmt(u.q(volume, 'mL'))} batch: make a larger batch")
    vname = ctx.ing[vehicle.ingredient].name
    ctx.weigh(f"{vname} q.s. to {u.fmt(u.q(volume, 'mL'))}", vehicle.ingredient,
              u.q(volume, "mL"), "make-up")
    ctx.line(vehicle.ingredient, vehicle.role, o.quantity.to("mL"), u.q(volume, "mL"),
             u.q(volume, "mL"), qs=True)
    if BATCH_VOLUME_STEP and volume != qty_ml * (1 + ctx.overage / 100):
        ctx.rounding.append(f"The batch volume ({u.fmt(o.quantity)} plus "
                            f"{u.number(ctx.overage)}% overage) is rounded up to a whole mL: "
                            f"{u.fmt(u.q(volume, 'mL'))}")
    return volume, target, al
