"""What every dosage form shares: checking the order, the drug's correction factors,
recording weighings and dilution steps in the order they are done, and the warnings.

Pure: everything comes in as arguments (formula, catalogue, settings, order).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from .. import units as u
from ..errors import PlanError
from ..formulas import KNOWN_TAGS, Catalogue, Formula
from ..settings import Settings
from ..units import Quantity
from .dilution import Aliquot
from .model import (OVERAGE_RANGE, POTENCY_RANGE, BatchPlan, DilutionStep, DrugSummary,
                    IngredientLine, Order, Weighing)

#: Warn when the lot's assay is outside this range (percent).
POTENCY_WARN = (Decimal("90"), Decimal("110"))
#: Warn when the overage is above this percent.
OVERAGE_WARN = Decimal("10")
#: Rounding half a readability must stay within 1% of any weighed amount, so the minimum
#: weighable quantity may not be below 50 x the balance readability.
MWQ_READABILITY_FACTOR = 50
#: Largest minimum weighable quantity accepted (a balance worse than this is not a
#: compounding balance for LDN; every capsule fill would be below it).
MWQ_MAX = u.q("1", "g")

FORM_QUANTITY_DIM = {"capsule": "capsules", "oral-liquid": "volume",
                     "sublingual-drops": "volume", "cream": "mass"}
FORM_QUANTITY_TEXT = {"capsule": "a count of capsules (e.g. '100')",
                      "oral-liquid": "a volume (e.g. '100 mL')",
                      "sublingual-drops": "a volume (e.g. '30 mL')",
                      "cream": "a mass (e.g. '100 g')"}
FORM_STRENGTH_DIM = {"capsule": "mass", "oral-liquid": "w/v", "sublingual-drops": "w/v",
                     "cream": "w/w"}


def show(qty: Quantity) -> str:
    """ISMP text for a person: masses in the unit they read best (mcg, mg or g)."""
    if qty.kind == u.MASS:
        qty = u.readable_mass(qty)
    elif qty.unit in ("mg/g", "mcg/g") and qty.to("mg/g").value < Decimal("0.1"):
        qty = qty.to("mcg/g")
    elif qty.unit in ("mg/mL", "mcg/mL") and qty.to("mg/mL").value < Decimal("0.1"):
        qty = qty.to("mcg/mL")
    return u.fmt(qty)


def tidy(value: Decimal, digits: int = 6) -> Decimal:
    """A derived (not weighed) figure to ``digits`` significant figures, never rounding
    away a whole unit (``2059485.1234`` stays ``2059485.123``)."""
    if not value:
        return value
    exp = min(value.adjusted() - digits + 1, -3)
    return value.quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_EVEN).normalize()


def pct(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)


class Ctx:
    """The checked order and the plan being built."""

    def __init__(self, formula: Formula, catalogue: Catalogue, settings: Settings,
                 order: Order):
        self.formula, self.catalogue, self.settings, self.order = (
            formula, catalogue, settings, order)
        self.ing = catalogue.ingredients
        self.form = formula.dosage_form
        self.readability = settings.balance.readability.to("mg").value
        self.vmin = settings.measuring.min_volume.to("mL").value
        self.vread = settings.measuring.readability.to("mL").value
        self.max_ratio = settings.max_dilution_ratio
        # Issue 11: the worst-case error the balance may put into the drug's weighings.
        self.sensitivity = settings.balance.sensitivity_mg()
        b = settings.balance.uncertainty_budget
        self.budget = b.value if b is not None else formula.strength_tolerance.value / 2
        self.budget_source = ("balance.uncertainty_budget" if b is not None else
                              "half the formula's strength tolerance")
        self.warnings: list[str] = []
        #: issue 11: recorded capsule calibrations, {(filler, size): CapsuleCalibration}
        self.calibrations: dict = {}
        self.weighings: list[Weighing] = []
        self.dilutions: list[DilutionStep] = []
        self.lines: list[IngredientLine] = []
        self.rounding: list[str] = []
        self._check_mwq()
        self._check_percents()
        self._check_quantity()
        self.strength = self._check_strength()
        self._check_options()
        self._check_avoid_tags()
        a = formula.active
        self.drug_id, self.basis_id = a.ingredient, a.strength_basis
        # Mass of the weighed form carrying 1 mass unit of the basis (HCl/base 1.1068).
        self.salt = catalogue.salt_factor(a.strength_basis, a.ingredient)
        # Basis units per mg of weighed material: potency divides the amount to weigh.
        self.c0 = self.potency / 100 / self.salt

    # ------------------------------------------------------------ checks
    def _check_mwq(self):
        s, o = self.settings, self.order
        mwq = o.min_weighable if o.min_weighable is not None else s.balance.min_weighable
        field = "--min-weighable" if o.min_weighable is not None else "balance.min_weighable"
        if mwq.kind != u.MASS:
            raise PlanError(f"{field}: {u.fmt(mwq)} is not a mass; give e.g. '120 mg'")
        low = s.balance.readability * MWQ_READABILITY_FACTOR
        if mwq < low or mwq > MWQ_MAX:
            raise PlanError(f"{field}: {u.fmt(mwq)} is outside {show(low)} to {show(MWQ_MAX)} "
                            f"(at least {MWQ_READABILITY_FACTOR} x the balance readability "
                            f"{show(s.balance.readability)}, so rounding stays within 1%)")
        self.mwq = mwq.to("mg").value

    def _check_percents(self):
        o, f = self.order, self.formula
        self.potency = o.potency_percent
        lo, hi = POTENCY_RANGE
        if not lo <= self.potency <= hi:
            raise PlanError(f"--potency: {u.number(self.potency)}% must be between "
                            f"{u.number(lo)}% and {u.number(hi)}%")
        if not POTENCY_WARN[0] <= self.potency <= POTENCY_WARN[1]:
            self.warnings.append(
                f"Potency {u.number(self.potency)}% is outside 90% to 110%: check the "
                "certificate of analysis and the lot before use")
        self.overage = f.overage.value if o.overage_percent is None else o.overage_percent
        lo, hi = OVERAGE_RANGE
        if not lo <= self.overage <= hi:
            raise PlanError(f"--overage: {u.number(self.overage)}% must be between "
                            f"{u.number(lo)}% and {u.number(hi)}%")
        if self.overage > OVERAGE_WARN:
            self.warnings.append(f"Overage {u.number(self.overage)}% is above 10%: "
                                 "a pharmacist should confirm it")

    def _check_quantity(self):
        f, qty = self.formula, self.order.quantity
        dim = FORM_QUANTITY_DIM[self.form]
        if qty.dim != dim:
            raise PlanError(f"--quantity: {u.fmt(qty)} is the wrong kind for {f.id}; give "
                            f"{FORM_QUANTITY_TEXT[self.form]}")
        if qty.value <= 0:
            raise PlanError(f"--quantity: {u.fmt(qty)} must be greater than zero")
        if not f.quantity_min <= qty <= f.quantity_max:
            raise PlanError(f"--quantity: {u.fmt(qty)} is outside the batch range for {f.id}: "
                            f"{u.fmt(f.quantity_min)} to {u.fmt(f.quantity_max)}")

    def _check_strength(self) -> Quantity:
        f, st = self.formula, self.order.strength
        spec = f.strength
        dim = FORM_STRENGTH_DIM[self.form]
        if spec.fixed is not None:
            if st is not None and (st.dim != spec.fixed.dim or st != spec.fixed):
                raise PlanError(f"--strength: {f.id} is made only at {u.fmt(spec.fixed)}; "
                                f"{u.fmt(st)} needs a different formula")
            return spec.fixed
        if st is None:
            if spec.default is not None:
                return spec.default
            raise PlanError(f"--strength is required for {f.id}: {spec.describe()}"
                            + (" per capsule" if self.form == "capsule" else ""))
        if st.dim != dim:
            raise PlanError(f"--strength: {u.fmt(st)} is the wrong kind for {f.id}; give "
                            f"{spec.describe()}")
        if st.value <= 0:
            raise PlanError(f"--strength: {u.fmt(st)} must be greater than zero")
        if not spec.min <= st <= spec.max:
            raise PlanError(f"--strength: {u.fmt(st)} is outside the range for {f.id}: "
                            f"{spec.describe()}" + (" per capsule" if self.form == "capsule"
                                                     else ""))
        self._check_look_alike(st)
        return st

    def _check_look_alike(self, st: Quantity):
        """Issue 11: a strength whose number is a usual strength of the formula in the other
        unit (mg <-> mcg: 4.5 mcg beside the usual 4.5 mg) is a 1000-fold look-alike; it needs
        --confirm-strength. Ultra-low doses are legitimate: a confirmation, not a ban."""
        swap = {"mg": "mcg", "mcg": "mg", "mg/mL": "mcg/mL", "mcg/mL": "mg/mL",
                "mg/g": "mcg/g", "mcg/g": "mg/g"}
        for usual in self.formula.strength.common:
            other = swap.get(usual.unit)
            if other is None or st.unit != other or st.value != usual.value:
                continue
            if self.order.confirm_strength:
                self.warnings.append(f"Strength {u.fmt(st)} confirmed (--confirm-strength): it "
                                     f"reads like the usual {u.fmt(usual)}, 1000 times more")
                return
            big, small = (usual, st) if usual > st else (st, usual)
            raise PlanError(f"--strength: {u.fmt(st)} looks like the usual {u.fmt(usual)} "
                            f"(1000-fold: {u.fmt(small)} is 1/1000 of {u.fmt(big)}); if "
                            f"{u.fmt(st)} is meant, give --confirm-strength")

    def _check_options(self):
        o, f = self.order, self.formula
        if self.form != "capsule":
            if o.filler is not None:
                raise PlanError(f"--filler is only for capsule formulas, not {f.id} "
                                f"({self.form})")
            if o.capsule_size is not None:
                raise PlanError(f"--capsule-size is only for capsule formulas, not {f.id} "
                                f"({self.form})")
        if self.form != "cream" and o.base is not None:
            raise PlanError(f"--base is only for cream formulas, not {f.id} ({self.form})")

    def _check_avoid_tags(self):
        for tag in self.order.avoid:
            if tag not in KNOWN_TAGS:
                raise PlanError(f"--avoid: unknown tag {tag!r}; known: {', '.join(KNOWN_TAGS)}")

    def check_avoid(self, ingredient_id: str, option: str, alternatives=()):
        """Refuse an ingredient carrying a tag the patient must avoid; name an alternative."""
        ing = self.ing[ingredient_id]
        hit = [t for t in self.order.avoid if t in ing.tags]
        if not hit:
            return
        ok = [a for a in alternatives if not set(self.order.avoid) & set(self.ing[a].tags)]
        tags = ", ".join(hit)
        if ok:
            raise PlanError(f"--avoid {tags}: {ingredient_id} ({ing.name}) contains {tags}; "
                            f"use {option} {ok[0]}")
        raise PlanError(f"--avoid {tags}: {self.formula.id} contains {ingredient_id} "
                        f"({ing.name}), which carries {tags}, and has no alternative; "
                        "choose another formula")

    def tag_warnings(self, ingredient_ids):
        for iid in ingredient_ids:
            ing = self.ing[iid]
            if ing.tags:
                self.warnings.append(f"{ing.name} carries {', '.join(ing.tags)}: check the "
                                     "patient's allergies and intolerances")

    # ------------------------------------------------------------ recording
    def weigh(self, what: str, ingredient: str | None, amount: Quantity, action: str = "weigh",
              dilution: int | None = None) -> Weighing:
        w = Weighing(step=len(self.weighings) + 1, what=what, ingredient=ingredient,
                     amount=amount, action=action, dilution=dilution)
        self.weighings.append(w)
        return w

    def record_aliquot(self, al: Aliquot, ingredient_id: str, diluent_id: str,
                       purpose: str, *, label: str | None = None) -> None:
        """Weighings (and dilution steps) for one aliquot plan, in the order they are done."""
        name = self.ing[ingredient_id].name
        dil_name = self.ing[diluent_id].name
        mg = lambda v: u.q(v, "mg")
        if al.direct:
            self.weigh(f"{name} {label or purpose}", ingredient_id, mg(al.weighed))
            return
        first = len(self.dilutions) + 1
        self.weigh(f"{name} for dilution {first}", ingredient_id, mg(al.weighed),
                   dilution=first)
        for i, st in enumerate(al.stages):
            n = first + i
            last = i == len(al.stages) - 1
            material = ingredient_id if i == 0 else f"dilution {n - 1}"
            nxt = purpose if last else f"for dilution {n + 1}"
            if st.action == "dilute":
                self.weigh(f"{dil_name} to dilute to {show(mg(st.total))} (dilution {n})",
                           diluent_id, mg(st.diluent), dilution=n)
                self.weigh(f"Dilution {n} {nxt}", None, mg(st.take), dilution=n)
                total, conc = mg(st.total), u.q(tidy(st.concentration * 1000), "mg/g")
                amount_in, diluent_amount, take = mg(st.amount_in), mg(st.diluent), mg(st.take)
            else:
                self.weigh(f"{dil_name} to make up to {u.fmt(u.q(st.total, 'mL'))} "
                           f"(dilution {n})", diluent_id, u.q(st.total, "mL"), "make-up",
                           dilution=n)
                self.weigh(f"Dilution {n} {nxt}", None, u.q(st.take, "mL"), "measure",
                           dilution=n)
                total, conc = u.q(st.total, "mL"), u.q(tidy(st.concentration), "mg/mL")
                amount_in = mg(st.amount_in) if st.action == "dissolve" else u.q(
                    st.amount_in, "mL")
                diluent_amount, take = None, u.q(st.take, "mL")
            self.dilutions.append(DilutionStep(
                number=n, ingredient=ingredient_id, action=st.action, material=material,
                amount_in=amount_in, diluent=diluent_id, diluent_amount=diluent_amount,
                total=total, ratio=None if st.ratio is None else tidy(st.ratio),
                concentration=conc, take=take, take_contains=mg(tidy(st.take_contains))))
        if al.medium == "solution":
            self.rounding_note("volume")

    def rounding_note(self, kind: str):
        text = {
            "mass": f"Masses are rounded to the balance readability, {show(u.q(self.readability, 'mg'))} "
                    "(half up); only the last take of a dilution is rounded, so every "
                    "concentration is exact",
            "volume": f"Measured volumes are rounded to {u.fmt(u.q(self.vread, 'mL'))} and are "
                      f"at least {u.fmt(u.q(self.vmin, 'mL'))}",
        }[kind]
        if text not in self.rounding:
            self.rounding.append(text)

    # ------------------------------------------------------------ result
    def drug_weighings(self) -> list[Decimal]:
        """mg of every balance weighing that carries the drug: the drug itself and each
        weighed take of one of its dilutions (measured volumes are not balance weighings)."""
        mine = {d.number for d in self.dilutions if d.ingredient == self.drug_id}
        return [w.amount.to("mg").value for w in self.weighings if w.action == "weigh" and (
            w.ingredient == self.drug_id or (w.ingredient is None and w.dilution in mine))]

    def drug_summary(self, target_mg: Decimal, delivered_mg: Decimal) -> DrugSummary:
        from .dilution import error_percent, worst_case
        high, low = worst_case(self.drug_weighings(), self.sensitivity)
        return DrugSummary(ingredient=self.drug_id, basis=self.basis_id,
                           salt_factor=tidy(self.salt), potency_percent=self.potency,
                           target=u.q(target_mg, "mg"), delivered=u.q(tidy(delivered_mg), "mg"),
                           error_percent=pct(error_percent(delivered_mg, target_mg)),
                           uncertainty_percent=pct(high), uncertainty_below_percent=pct(low),
                           uncertainty_budget_percent=self.budget,
                           balance_sensitivity=u.q(self.sensitivity, "mg"))

    def line(self, iid: str, role: str, theoretical: Quantity, to_weigh: Quantity,
             in_batch: Quantity, qs: bool = False):
        ing = self.ing[iid]
        self.lines.append(IngredientLine(id=iid, name=ing.name, role=role,
                                         theoretical=theoretical, to_weigh=to_weigh,
                                         in_batch=in_batch, qs=qs, tags=ing.tags))

    def total_weighed(self, iid: str, unit: str = "mg") -> Quantity:
        ws = [w.amount for w in self.weighings if w.ingredient == iid and w.action == "weigh"]
        total = u.q(0, unit)
        for a in ws:
            total = total + a
        return total

    def build(self, *, units_to_make: Quantity, drug: DrugSummary, **parts) -> BatchPlan:
        f, s = self.formula, self.settings
        self.rounding_note("mass")
        self.rounding.sort(key=lambda t: not t.startswith("Masses"))
        return BatchPlan(
            formula_id=f.id, formula_version=f.version, formula_name=f.name,
            dosage_form=f.dosage_form, strength=self.strength, quantity=self.order.quantity,
            units_to_make=units_to_make, ingredients=self.lines, weighings=self.weighings,
            dilution_steps=self.dilutions, drug=drug, min_weighable=u.q(self.mwq, "mg"),
            readability=s.balance.readability, min_volume=s.measuring.min_volume,
            volume_readability=s.measuring.readability, max_dilution_ratio=self.max_ratio,
            potency_percent=self.potency, overage_percent=self.overage,
            rounding=self.rounding, warnings=self.warnings, **parts)
