"""Sublingual drops: a solution (see solution.py) dosed by counting drops.

mg per drop = concentration / the formula's calibrated drops per mL (USP <1101>: drop size
depends on the liquid and the dropper, so it is a recorded calibration, not assumed).
A concentration is refused when the formula's reference dose (0.5 mg) would need fewer
than ``min_drops_per_dose`` or more than ``max_drops_per_dose`` drops.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .. import units as u
from ..errors import PlanError
from .core import Ctx, pct, show, tidy
from .model import BatchPlan
from .solution import plan_liquid_parts

#: Doses in the table (prescriber guide: usual LDN doses 0.5 to 4.5 mg).
DOSE_TABLE_MG = tuple(Decimal(d) for d in ("0.5", "1", "1.5", "3", "4.5"))


def drops_facts(ctx: Ctx) -> dict:
    spec = ctx.formula.drops
    conc = ctx.strength.to("mg/mL").value
    per_drop = conc / spec.drops_per_ml  # mg (basis) per drop
    ref = spec.reference_dose.to("mg").value
    need = ref / per_drop
    limit = spec.drop_limit(per_drop)  # issue 11: never past max_dose (below 12 mg)
    if not spec.min_drops_per_dose <= need <= spec.max_drops_per_dose:
        lo = ref * spec.drops_per_ml / spec.max_drops_per_dose
        hi = ref * spec.drops_per_ml / spec.min_drops_per_dose
        raise PlanError(
            f"--strength: {u.fmt(ctx.strength)} gives {show(u.q(tidy(per_drop), 'mg'))} per "
            f"drop, so a {show(spec.reference_dose)} dose needs {u.number(tidy(need, 4))} drops "
            f"(allowed {spec.min_drops_per_dose} to {spec.max_drops_per_dose}); use "
            f"{u.number(tidy(lo, 4))} to {u.number(tidy(hi, 4))} mg/mL")
    table = []
    # issue 11: a dose in whole drops must be within half the strength tolerance (the dropper
    # itself may be 15% off, USP <1101>, so rounding may not use the whole tolerance)
    tol = ctx.formula.strength_tolerance.value / 2
    for dose in DOSE_TABLE_MG:
        exact = dose / per_drop
        whole = max(1, int(exact.to_integral_value(rounding=ROUND_HALF_UP)))
        given = per_drop * whole
        dev = pct((given - dose) / dose * 100)
        within = spec.min_drops_per_dose <= whole <= limit
        table.append({"dose": u.q(dose, "mg"), "drops_exact": tidy(exact, 6),
                      "drops": whole, "dose_given": u.q(tidy(given), "mg"),
                      "deviation_percent": dev, "within_limits": within})
        if not within:
            ctx.warnings.append(f"A {show(u.q(dose, 'mg'))} dose needs {whole} drops, outside "
                                f"{spec.min_drops_per_dose} to {limit} drops per dose (at most "
                                f"{show(spec.max_dose)} a dose: drops.max_dose)")
        elif abs(dev) > tol:
            ctx.warnings.append(f"A {show(u.q(dose, 'mg'))} dose is "
                                f"{u.number(tidy(exact, 3))} drops: {whole} drops give "
                                f"{show(u.q(tidy(given), 'mg'))} ({'+' if dev > 0 else ''}"
                                f"{u.number(dev.normalize())}%), more than ±{u.number(tol)}% "
                                "(half the strength tolerance: the dropper itself may be 15% "
                                "off, USP <1101>)")
    return {"drops_per_ml": spec.drops_per_ml, "calibration": spec.calibration,
            "mg_per_drop": u.q(tidy(per_drop), "mg"),
            "reference_dose": spec.reference_dose, "drops_for_reference_dose": tidy(need, 6),
            "min_drops_per_dose": spec.min_drops_per_dose,
            "max_drops_per_dose": spec.max_drops_per_dose, "max_dose": spec.max_dose,
            "drop_limit": limit, "largest_dose": u.q(tidy(per_drop * limit), "mg"),
            "dose_table": table}


def plan_drops(ctx: Ctx) -> BatchPlan:
    drops = drops_facts(ctx)  # refuse a bad concentration before any arithmetic
    volume, target, al = plan_liquid_parts(ctx)
    return ctx.build(units_to_make=u.q(volume, "mL"),
                     drug=ctx.drug_summary(target, al.delivered), drops=drops)
