"""Oral liquid (fixed 1 mg/mL for the LDN formula): drug, excipients by % w/v, vehicle q.s."""

from __future__ import annotations

from .. import units as u
from .core import Ctx
from .model import BatchPlan
from .solution import plan_liquid_parts


def plan_oral_liquid(ctx: Ctx) -> BatchPlan:
    volume, target, al = plan_liquid_parts(ctx)
    return ctx.build(units_to_make=u.q(volume, "mL"),
                     drug=ctx.drug_summary(target, al.delivered))
