"""The ``[cream]`` table of a cream formula (issue 11, part 7): the bases a batch may be made
in, each with the USP <795> category its water content gives the preparation, and the
default. Like a capsule filler, the base is chosen per batch (``--base``, or ``--avoid``
picks one free of the avoided tags).

Why: the prescriber guide offers the cream to "patients allergic to colorants or any
excipients", but an oil-in-water cream base carries a preservative (parabens) and an
emulsifier (cetostearyl alcohol). An anhydrous base needs neither; it is nonaqueous, so its
USP <795> (2023) default BUD is 180 days (other nonaqueous preparations) instead of 35 days
(aqueous, preserved), while the guide's 28 days ("lasts for 28 days only") still binds both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .spec_types import Category, Density, Id, Spec


class CreamBase(Spec):
    """One base a cream batch may be made in."""

    ingredient: Id = Field(description="catalogue ingredient (kind base)")
    category: Category = Field(description="USP <795> (2023) category of the preparation "
                                           "made in this base")
    water_activity: Literal["aw >= 0.6", "aw < 0.6"]
    density: Density | None = Field(default=None, description="g/mL of the finished "
                                    "preparation in this base (default: the formula's)")

    @model_validator(mode="after")
    def _category_matches_water(self):
        # USP <795> (2023): aqueous means aw >= 0.6
        if self.category.startswith("aqueous") != (self.water_activity == "aw >= 0.6"):
            raise ValueError(f"category {self.category} does not match water_activity "
                             f"{self.water_activity!r} (USP <795>: aqueous means aw >= 0.6)")
        return self


class CreamSpec(Spec):
    """``[cream]``: the bases allowed and the default (the formula's q.s. component)."""

    bases: tuple[CreamBase, ...] = Field(min_length=1)
    default_base: Id

    @model_validator(mode="after")
    def _default_allowed(self):
        ids = [b.ingredient for b in self.bases]
        if len(set(ids)) != len(ids):
            raise ValueError("bases: a base is listed twice")
        if self.default_base not in ids:
            raise ValueError(f"default_base {self.default_base!r} is not in bases")
        return self

    def base(self, ingredient: str) -> CreamBase | None:
        return next((b for b in self.bases if b.ingredient == ingredient), None)

    def ids(self) -> list[str]:
        return [b.ingredient for b in self.bases]


def check_cream(formula, catalogue) -> None:
    """Formula-level rules of ``[cream]`` (ValueError, located by pydantic): only on cream
    formulas; the default base is the q.s. component and gives the formula's own stability
    category; every base is a catalogue base."""
    spec = formula.cream
    if spec is None:
        return
    if formula.dosage_form != "cream":
        raise ValueError("[cream] is only for cream formulas")
    qs = [c.ingredient for c in formula.components if c.qs]
    if qs != [spec.default_base]:
        raise ValueError(f"cream.default_base: {spec.default_base!r} must be the q.s. "
                         f"component ({', '.join(qs) or 'none'})")
    default = spec.base(spec.default_base)
    if (default.category, default.water_activity) != (formula.stability.category,
                                                      formula.stability.water_activity):
        raise ValueError(f"cream.bases: the default base's category {default.category} must be "
                         f"the formula's stability.category {formula.stability.category}")
    if catalogue is None:
        return
    for i, b in enumerate(spec.bases):
        ing = catalogue.ingredients.get(b.ingredient)
        if ing is None:
            raise ValueError(f"cream.bases.{i}.ingredient: unknown ingredient "
                             f"{b.ingredient!r}")
        if ing.kind != "base":
            raise ValueError(f"cream.bases.{i}.ingredient: {b.ingredient!r} is not a base")
