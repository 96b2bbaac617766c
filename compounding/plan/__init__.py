"""The batch calculator: exactly what to weigh or measure, in what order, for every form
and strength, never asking for a weighing the balance cannot make.

``make_plan(formula, catalogue, settings, order)`` is pure (no clock, no database, no
files). It raises :class:`~compounding.errors.PlanError` (exit 2) with one line naming the
option and what is allowed. See docs/plan.md for the JSON shape and the limits chosen.
"""

from __future__ import annotations

from ..errors import PlanError
from .as_made import AsMade, as_made_strength
from .model import BatchPlan, DilutionStep, DrugSummary, IngredientLine, Order, Weighing

__all__ = ["Order", "BatchPlan", "Weighing", "IngredientLine", "DilutionStep", "DrugSummary",
           "PlanError", "make_plan", "render_plan_text", "as_made_strength", "AsMade"]


def make_plan(formula, catalogue, settings, order: Order, calibrations=None) -> BatchPlan:
    """Plan one batch of ``formula`` for ``order``.

    ``calibrations``: the pharmacy's recorded capsule calibrations, ``{(filler id, capsule
    size): CapsuleCalibration}`` (:func:`compounding.store.calibrations.current`); a capsule
    plan takes the measured fill weight of its filler and size from it when there is one,
    else estimates it from the filler's catalogue density and says so (issue 11).
    """
    from .capsule import plan_capsules
    from .core import Ctx
    from .cream import plan_cream
    from .drops import plan_drops
    from .oral_liquid import plan_oral_liquid

    ctx = Ctx(formula, catalogue, settings, order)
    ctx.calibrations = dict(calibrations or {})
    planner = {"capsule": plan_capsules, "oral-liquid": plan_oral_liquid,
               "sublingual-drops": plan_drops, "cream": plan_cream}[formula.dosage_form]
    return planner(ctx)


def render_plan_text(plan: BatchPlan) -> str:
    """The terminal worksheet (aligned columns, ISMP-formatted amounts)."""
    from .render import render
    return render(plan)
