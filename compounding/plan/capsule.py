"""Capsules: count with overage, capsule size and fill weight, drug (or its last dilution)
and filler to the total blend.

Fill weight = the pharmacy's recorded capsule calibration of the filler and size when there
is one (issue 11: measured by the punch method, :mod:`.calibration`), else capsule body volume
x filler bulk density from the catalogue, an estimate the plan and worksheet say is one (the
drug is a small share of the blend, so the blend is taken at the filler's density; the
formula's QC checks the real fill weight on 10 capsules).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .. import units as u
from ..errors import PlanError
from .calibration import CAPSULE_BODY_ML
from .core import Ctx, show, tidy
from .dilution import plan_solid, round_step
from .model import BatchPlan

#: Above this share of the blend (percent) the drug no longer fills "like the filler":
#: the fill-by-filler-density estimate is refused and a larger capsule is chosen.
MAX_DRUG_SHARE = Decimal("25")


def plan_capsules(ctx: Ctx) -> BatchPlan:
    f, o = ctx.formula, ctx.order
    spec = f.capsule
    # -- filler
    filler_id = o.filler or spec.default_filler
    if filler_id not in spec.fillers:
        ing = ctx.ing.get(filler_id)
        why = f" ({ing.refused_reason})" if ing is not None and ing.refused_reason else ""
        raise PlanError(f"--filler: {filler_id!r} is not allowed for {f.id}{why}; allowed: "
                        f"{', '.join(spec.fillers)}")
    ctx.check_avoid(filler_id, "--filler", [x for x in spec.fillers if x != filler_id])
    filler = ctx.ing[filler_id]
    density = filler.density.to("mg/mL").value  # mg per mL

    # -- how many to make: formula overage, at least min_extra_capsules extra
    n = int(o.quantity.value)
    extra = max(spec.min_extra_capsules,
                int((n * ctx.overage / 100).to_integral_value(rounding=ROUND_CEILING)))
    units = n + extra

    per_cap = ctx.strength.to("mg").value  # basis mg per capsule
    per_cap_weighed = per_cap / ctx.c0  # weighed-form mg per capsule

    # -- capsule size: the smallest allowed size whose fill weight can itself be checked on
    # the balance (>= the minimum weighable) and keeps the drug under MAX_DRUG_SHARE.
    # issue 11: a recorded calibration of this filler and size gives the measured fill
    # weight (rounded down to the readability: never more powder than was measured to fit)
    def fill_of(size):
        cal = ctx.calibrations.get((filler_id, size))
        if cal is not None:
            return round_step(cal.fill_weight.to("mg").value, ctx.readability, ROUND_FLOOR)
        return round_step(CAPSULE_BODY_ML[size] * density, ctx.readability)

    def share_ok(size):
        return per_cap_weighed * 100 <= MAX_DRUG_SHARE * fill_of(size)

    sizes = sorted(spec.sizes, key=lambda s: CAPSULE_BODY_ML[s])
    if o.capsule_size is not None:
        size = o.capsule_size
        if size not in spec.sizes:
            raise PlanError(f"--capsule-size: {size!r} is not allowed for {f.id}; allowed: "
                            f"{', '.join(spec.sizes)}")
        if not share_ok(size):
            raise PlanError(f"--capsule-size: size {size} holds {show(u.q(fill_of(size), 'mg'))}"
                            f" of {filler.name}; {show(ctx.strength)} of drug would be more "
                            f"than {u.number(MAX_DRUG_SHARE)}% of the fill: choose a larger size")
        chosen_by = "order"
    else:
        fitting = [s for s in sizes if share_ok(s)]
        if not fitting:
            raise PlanError(f"--strength: {show(ctx.strength)} does not fit any allowed capsule "
                            f"size of {f.id} with {filler.name}")
        good = [s for s in fitting if fill_of(s) >= ctx.mwq]
        size = good[0] if good else fitting[-1]
        chosen_by = "fill"
    fill = fill_of(size)
    calibration = ctx.calibrations.get((filler_id, size))
    if fill <= 0:
        raise PlanError(f"--capsule-size: size {size} holds less than the balance readability "
                        f"of {filler.name} by its calibration: choose a larger size")
    if fill < ctx.mwq:
        ctx.warnings.append(
            f"Capsule size {size} holds {show(u.q(fill, 'mg'))}, below the minimum weighable "
            f"{show(u.q(ctx.mwq, 'mg'))}: single capsules cannot be check-weighed on this "
            "balance; weigh 10 together")
    blend = fill * units

    # -- the drug (directly, or through dilutions in the filler)
    target = per_cap * units
    al = plan_solid(target, ctx.c0, mwq=ctx.mwq, readability=ctx.readability,
                    max_ratio=ctx.max_ratio, max_take=blend - ctx.mwq,
                    what=f"{ctx.ing[ctx.drug_id].name} {show(u.q(target, 'mg'))}",
                    sensitivity=ctx.sensitivity, budget=ctx.budget)
    ctx.record_aliquot(al, ctx.drug_id, filler_id, "into the blend")
    filler_add = blend - al.into_batch
    ctx.weigh(f"{filler.name} to bring the blend to {show(u.q(blend, 'mg'))}", filler_id,
              u.q(filler_add, "mg"))

    drug_in_blend = al.delivered / ctx.c0  # weighed-form mg in the blend
    mg = lambda v: u.q(v, "mg")
    # issue 11: "theoretical" is the ingredient in its own (weighed) form for the ordered
    # quantity, before potency and overage: 450 mg of base is 498.06 mg of the HCl
    theo_drug = tidy(per_cap * n * ctx.salt)
    ctx.line(ctx.drug_id, "active", theoretical=mg(theo_drug),
             to_weigh=mg(al.weighed), in_batch=mg(tidy(drug_in_blend)))
    ctx.line(filler_id, "filler", theoretical=mg(tidy(fill * n - theo_drug)),
             to_weigh=ctx.total_weighed(filler_id), in_batch=mg(tidy(blend - drug_in_blend)))
    ctx.tag_warnings([filler_id])
    capsule = {
        "size": size,
        "size_chosen_by": chosen_by,
        "body_volume": u.q(CAPSULE_BODY_ML[size], "mL"),
        "filler": filler_id,
        "filler_name": filler.name,
        "filler_density": filler.density,
        "fill_weight": mg(fill),
        "drug_per_capsule": ctx.strength,
        "ordered": u.q(n, "capsules"),
        "extra": u.q(extra, "capsules"),
        "min_extra": u.q(spec.min_extra_capsules, "capsules"),
        "total_blend": mg(blend),
        "filler_amount": mg(filler_add),
        "filler_total": ctx.total_weighed(filler_id),
        "drug_share_percent": tidy(drug_in_blend / blend * 100, 4),
    }
    capsule.update(fill_basis(filler, size, calibration))
    if calibration is None:
        ctx.warnings.append(capsule["fill_weight_note"])
    return ctx.build(units_to_make=u.q(units, "capsules"),
                     drug=ctx.drug_summary(target, al.delivered), capsule=capsule)


def fill_basis(filler, size: str, calibration) -> dict:
    """Where the plan's fill weight comes from (issue 11): ``fill_weight_basis``
    (``"calibration"`` or ``"estimate"``), ``calibration`` (the record's JSON, or None) and
    ``fill_weight_note``, the sentence the plan, worksheet and PDF print."""
    if calibration is not None:
        return {"fill_weight_basis": "calibration", "calibration": calibration.as_json(),
                "fill_weight_note": (f"Fill weight from capsule "
                                     f"{calibration.describe(filler.name)}")}
    return {"fill_weight_basis": "estimate", "calibration": None,
            "fill_weight_note": (
                f"Fill weight is an estimate from an assumed density of "
                f"{u.fmt(filler.density)} for {filler.name} ("
                f"{filler.density_source or 'source not recorded'}); no capsule calibration of "
                f"{filler.name} in size {size} is recorded: measure the fill weight of 10 "
                "capsules (punch method) before filling, and record it with `compounding "
                "capsules calibrate`")}
