"""The batch calculator's input (:class:`Order`) and output (:class:`BatchPlan`) models.

``Order`` is what the technician asks for; ``Order.from_text`` parses command-line text
through the one quantity parser, naming the option in every error. ``BatchPlan`` is what
to weigh, in what order, and what the batch then contains; ``as_json()`` is the shape
scripts and the label printer read (documented in docs/plan.md).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from .. import units as u
from ..errors import PlanError
from ..units import Quantity

_CFG = ConfigDict(arbitrary_types_allowed=True, extra="forbid")


def qjson(qty: Quantity | None) -> dict | None:
    return None if qty is None else qty.as_json()


def djson(value: Decimal | None) -> str | None:
    return None if value is None else u.plain(value)


# ---------------------------------------------------------------- input

#: Percent inputs accepted for --potency (a certificate assay) and --overage.
POTENCY_RANGE = (Decimal("50"), Decimal("150"))
OVERAGE_RANGE = (Decimal("0"), Decimal("50"))


def _percent(text: str | None, field: str, low: Decimal, high: Decimal) -> Decimal | None:
    """A percent from text; a bare number means percent (``98.5`` = ``98.5%``)."""
    if text is None:
        return None
    t = str(text).strip()
    if re.fullmatch(r"[0-9][0-9,]*(?:\.[0-9]+)?", t):
        t += "%"
    qty = u.parse(t, u.PERCENT, field=field, positive=False)
    if qty.unit != "%":
        raise PlanError(f"{field}: {text!r}: give a plain percent such as 98.5%")
    if not low <= qty.value <= high:
        raise PlanError(f"{field}: {text!r}: must be between {u.number(low)}% and "
                        f"{u.number(high)}%")
    return qty.value


def normalise_size(size: str | None) -> str | None:
    if size is None:
        return None
    s = str(size).strip().lstrip("#").strip()
    if s.lower().startswith("size"):
        s = s[4:].strip().lstrip("#")
    return s


class Order(BaseModel):
    """One batch request. Amounts are Quantities; percents are Decimals."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", frozen=True)

    quantity: Quantity
    strength: Quantity | None = None
    filler: str | None = None
    capsule_size: str | None = None
    potency_percent: Decimal = Decimal("100")
    overage_percent: Decimal | None = None
    min_weighable: Quantity | None = None
    avoid: tuple[str, ...] = ()
    #: issue 11: the strength was confirmed although its number is a usual strength in the
    #: other unit (4.5 mcg beside the usual 4.5 mg)
    confirm_strength: bool = False
    #: issue 11: the cream base (default: the formula's, or one free of the avoided tags)
    base: str | None = None
    #: a cream quantity or strength was given by volume and converted with the formula's
    #: density (a base of another density then needs it as a mass)
    by_volume: bool = False

    @classmethod
    def from_text(cls, formula, *, quantity: str, strength: str | None = None,
                  filler: str | None = None, capsule_size: str | None = None,
                  potency: str | None = None, overage: str | None = None,
                  min_weighable: str | None = None, avoid=(),
                  confirm_strength: bool = False, base: str | None = None) -> "Order":
        """Parse command-line text for ``formula``; every error names its option.

        Quantity: capsules by count (``100`` or ``100 capsules``); liquids and drops in
        mL or L; cream in g (mL accepted when the formula gives a density).
        Strength: mg or mcg per capsule; mg/mL for liquids and drops; mg/g for cream
        (mg/mL accepted when the formula gives a density).
        """
        form = formula.dosage_form
        by_volume = False
        if form == "capsule":
            qty = _field(quantity, u.COUNT, "--quantity", "capsules are counted (e.g. '100' "
                         "or '100 capsules')", dims={"capsules"}, default_unit="capsules")
            st = None if strength is None else _field(
                strength, u.MASS, "--strength", "a capsule strength is a mass per capsule "
                "(e.g. '1.5 mg' or '0.1 mcg')")
        elif form in ("oral-liquid", "sublingual-drops"):
            qty = _field(quantity, u.VOLUME, "--quantity",
                         f"a {form} batch is a volume (e.g. '100 mL')")
            st = None if strength is None else _field(
                strength, u.CONCENTRATION, "--strength",
                "the strength is a concentration (e.g. '1 mg/mL')", dims={"w/v"})
        else:  # cream
            qty = _cream_quantity(formula, quantity)
            st = None if strength is None else _cream_strength(formula, strength)
            by_volume = _is_volume(quantity) or (strength is not None and _is_volume(strength))
        mwq = None if min_weighable is None else _field(
            min_weighable, u.MASS, "--min-weighable", "give a mass such as '120 mg'")
        pot = _percent(potency, "--potency", *POTENCY_RANGE)
        ov = _percent(overage, "--overage", *OVERAGE_RANGE)
        return cls(quantity=qty, strength=st, filler=filler or None,
                   capsule_size=normalise_size(capsule_size),
                   potency_percent=Decimal("100") if pot is None else pot,
                   overage_percent=ov, min_weighable=mwq,
                   avoid=tuple(a.strip().lower() for a in avoid if a and a.strip()),
                   confirm_strength=bool(confirm_strength), base=base or None,
                   by_volume=by_volume)


def _is_volume(text) -> bool:
    qty = _try(text, None)
    return qty is not None and (qty.kind == u.VOLUME or qty.dim == "w/v")


def _try(text, kinds, dims=None):
    try:
        return u.parse(text, kinds, dims=dims, positive=False)
    except Exception:
        return None


def _parses_as(text, kind, dims=None) -> bool:
    """True unless the text is a well-formed quantity of another kind (so the parser's own
    message, e.g. about 'cc' or a decimal comma, is kept for malformed text)."""
    try:
        qty = u.parse(text, None, positive=False)
    except Exception:
        return True  # let the real parse raise its precise message
    return qty.kind == kind and (dims is None or qty.dim in dims)


def _field(text, kind, field, expected, dims=None, default_unit=None) -> Quantity:
    """Parse one option; a well-formed quantity of the wrong kind gets ``expected``."""
    bare = re.fullmatch(r"\s*[0-9][0-9,]*(?:\.[0-9]+)?\s*", str(text))
    if not (bare and default_unit) and not _parses_as(text, kind, dims):
        _wrong_kind(text, field, expected)
    return u.parse(text, kind, field=field, dims=dims, default_unit=default_unit)


def _wrong_kind(text, field, expected):
    qty = _try(text, None)
    what = f"is a {qty.kind}" if qty is not None and qty.kind != u.COUNT else \
        f"is a count of {qty.unit}" if qty is not None else "is not accepted"
    raise PlanError(f"{field}: {text!r} {what}; {expected}")


def _cream_quantity(formula, text):
    qty = _try(text, None)
    if qty is not None and qty.kind == u.VOLUME:
        if formula.density is None:
            raise PlanError(f"--quantity: {text!r}: {formula.id} has no density, so give "
                            "the batch as a mass (e.g. '100 g')")
        vol = u.parse(text, u.VOLUME, field="--quantity")
        return u.q(vol.base * formula.density.to("g/mL").value, "g")
    if qty is not None and qty.kind != u.MASS:
        _wrong_kind(text, "--quantity", "a cream batch is a mass (e.g. '100 g'), or a volume "
                    "when the formula gives a density")
    return u.parse(text, u.MASS, field="--quantity")


def _cream_strength(formula, text):
    qty = _try(text, None)
    if qty is not None and qty.kind == u.CONCENTRATION and qty.dim == "w/v":
        if formula.density is None:
            raise PlanError(f"--strength: {text!r}: {formula.id} has no density, so give "
                            "the strength per gram (e.g. '0.5 mg/g')")
        c = u.parse(text, u.CONCENTRATION, field="--strength")
        return u.q(c.base / formula.density.to("g/mL").value, "mg/g")
    if qty is not None and not (qty.kind == u.CONCENTRATION and qty.dim == "w/w"):
        _wrong_kind(text, "--strength", "a cream strength is per gram (e.g. '0.5 mg/g')")
    return u.parse(text, u.CONCENTRATION, field="--strength", dims={"w/w"})


# ---------------------------------------------------------------- output

class Weighing(BaseModel):
    """One physical weighing or measurement. ``step`` is 1-based, unique and stable: the
    store keys the recorded weighing by it."""

    model_config = _CFG

    step: int
    what: str
    ingredient: str | None  # catalogue id; None for a take of a dilution intermediate
    amount: Quantity
    action: str  # "weigh" | "measure" | "make-up"
    dilution: int | None = None  # the dilution step this weighing belongs to

    def as_json(self) -> dict:
        return {"step": self.step, "what": self.what, "ingredient": self.ingredient,
                "action": self.action, "dilution": self.dilution,
                "amount": u.plain(self.amount.value), "unit": self.amount.unit}


class IngredientLine(BaseModel):
    model_config = _CFG

    id: str
    name: str
    role: str
    theoretical: Quantity  # for the ordered quantity: no overage, potency or salt correction
    to_weigh: Quantity  # total weighed or measured (every step together); q.s.: final amount
    in_batch: Quantity  # what ends up in the finished batch
    qs: bool = False
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "qs": self.qs,
                "tags": list(self.tags), "theoretical": qjson(self.theoretical),
                "to_weigh": qjson(self.to_weigh), "in_batch": qjson(self.in_batch)}


class DilutionStep(BaseModel):
    """One dilution: ``amount_in`` of ``material`` made up to ``total`` with ``diluent``."""

    model_config = _CFG

    number: int  # 1-based over the whole plan
    ingredient: str  # the ingredient being diluted
    action: str  # "dilute" (solid, by weight) | "dissolve" | "dilute-volume"
    material: str  # ingredient id, or "dilution N"
    amount_in: Quantity
    diluent: str
    diluent_amount: Quantity | None  # weighed diluent; None when made up to volume
    total: Quantity
    ratio: Decimal | None  # 1 in N; None for dissolving a solid (limited by solubility)
    concentration: Quantity  # of the ingredient (drug: on the strength basis, potency-corrected)
    take: Quantity  # amount of this dilution used next
    take_contains: Quantity  # ingredient in the take (drug: on the strength basis)

    def as_json(self) -> dict:
        return {"number": self.number, "ingredient": self.ingredient, "action": self.action,
                "material": self.material, "amount_in": qjson(self.amount_in),
                "diluent": self.diluent, "diluent_amount": qjson(self.diluent_amount),
                "total": qjson(self.total), "ratio": djson(self.ratio),
                "concentration": qjson(self.concentration), "take": qjson(self.take),
                "take_contains": qjson(self.take_contains)}


class DrugSummary(BaseModel):
    model_config = _CFG

    ingredient: str  # weighed form (catalogue id)
    basis: str  # strength basis (catalogue id)
    salt_factor: Decimal  # mass of weighed form per mass of basis
    potency_percent: Decimal
    target: Quantity  # pure drug on the strength basis the batch must contain
    delivered: Quantity  # what the plan puts in after potency, salt and rounding
    error_percent: Decimal
    #: worst case the balance can add along the drug's weighings: above / below (percent)
    uncertainty_percent: Decimal = Decimal(0)
    uncertainty_below_percent: Decimal = Decimal(0)
    uncertainty_budget_percent: Decimal | None = None
    balance_sensitivity: Quantity | None = None

    def as_json(self) -> dict:
        return {"ingredient": self.ingredient, "basis": self.basis,
                "salt_factor": u.plain(self.salt_factor),
                "potency_percent": u.plain(self.potency_percent),
                "target": qjson(self.target), "delivered": qjson(self.delivered),
                "error_percent": u.plain(self.error_percent),
                "uncertainty_percent": u.plain(self.uncertainty_percent),
                "uncertainty_below_percent": u.plain(self.uncertainty_below_percent),
                "uncertainty_budget_percent": djson(self.uncertainty_budget_percent),
                "balance_sensitivity": qjson(self.balance_sensitivity)}


class BatchPlan(BaseModel):
    """What to weigh, in order, and what the batch then contains."""

    model_config = _CFG

    formula_id: str
    formula_version: int
    formula_name: str
    dosage_form: str
    strength: Quantity | None
    quantity: Quantity  # as ordered
    units_to_make: Quantity  # capsules, mL or g actually made (overage included)
    ingredients: list[IngredientLine]
    weighings: list[Weighing]
    dilution_steps: list[DilutionStep]
    drug: DrugSummary
    min_weighable: Quantity
    readability: Quantity
    min_volume: Quantity
    volume_readability: Quantity
    max_dilution_ratio: int
    potency_percent: Decimal
    overage_percent: Decimal
    rounding: list[str]
    warnings: list[str]
    capsule: dict[str, Any] | None = None
    drops: dict[str, Any] | None = None
    device: dict[str, Any] | None = None
    cream: dict[str, Any] | None = None

    def as_json(self) -> dict:
        return {
            "formula": {"id": self.formula_id, "version": self.formula_version,
                        "name": self.formula_name, "dosage_form": self.dosage_form},
            "strength": qjson(self.strength),
            "quantity": qjson(self.quantity),
            "units_to_make": qjson(self.units_to_make),
            "ingredients": [i.as_json() for i in self.ingredients],
            "weighings": [w.as_json() for w in self.weighings],
            "drug": self.drug.as_json(),
            "dilution_steps": [d.as_json() for d in self.dilution_steps],
            "capsule": _jsonify(self.capsule),
            "drops": _jsonify(self.drops),
            "device": _jsonify(self.device),
            "cream": _jsonify(self.cream),
            "min_weighable": qjson(self.min_weighable),
            "readability": qjson(self.readability),
            "min_volume": qjson(self.min_volume),
            "volume_readability": qjson(self.volume_readability),
            "max_dilution_ratio": self.max_dilution_ratio,
            "potency_percent": u.plain(self.potency_percent),
            "overage_percent": u.plain(self.overage_percent),
            "rounding": list(self.rounding),
            "warnings": list(self.warnings),
        }


def _jsonify(obj):
    if obj is None:
        return None
    if isinstance(obj, Quantity):
        return obj.as_json()
    if isinstance(obj, Decimal):
        return u.plain(obj)
    if isinstance(obj, dict):
        return {k: _jsonify(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonify(v) for v in obj]
    return obj
