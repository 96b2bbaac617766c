"""The shared dilution (aliquot) planner: how to put a small amount into a batch when the
balance cannot weigh it (USP <1176> minimum weighable quantity; the aliquot method).

Two media:

- **solid** (powder in filler, or drug in cream base), by weight: weigh ``B`` >= the minimum
  of the material, add diluent to ``B x r`` (a 1 in ``r`` dilution, ``r`` <= the pharmacy's
  ``max_dilution_ratio``), mix geometrically, weigh ``B`` of that for the next step; the last
  step's take (>= the minimum) carries the amount needed.
- **solution**, by volume: weigh ``B`` >= the minimum, dissolve and make up to a standard
  volumetric-flask volume (the stock; its concentration is capped by
  :data:`STOCK_MAX_CONCENTRATION`, a solubility margin, not by the dilution ratio); further
  steps take ``I`` mL and make up to ``V`` mL (1 in ``V/I`` <= ``max_dilution_ratio``); the
  last take is a measured volume >= the minimum measurable volume.

Every intermediate amount is chosen as an exact multiple of the balance (or measure)
readability, so concentrations are exact and only the final take is rounded: the delivered
amount differs from the target by at most half a readability over the take, and the plan is
refused if that is above :data:`MAX_ERROR_PERCENT`. The search takes the fewest steps; among
plans with the fewest steps it prefers 1 in 10 / 1 in 100 / 1 in 1000 dilutions (easy to
check), then the least dilution (solid) or the least stock volume (solution).

All amounts here are Decimals in mg (mass) and mL (volume); callers wrap them in Quantities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from itertools import combinations_with_replacement, product
from math import prod

from ..errors import PlanError
from ..units import number

#: The delivered amount must be within this percent of the target (issue 3).
MAX_ERROR_PERCENT = Decimal("1")
#: At most this share of a dilution may be taken as its aliquot: the rest covers the loss
#: to mortar, slab or flask (and a take of 100% would mean the step was not needed).
MAX_TAKE_FRACTION = Decimal("0.9")
#: More serial dilutions than this are refused (each one adds handling error).
MAX_STEPS = 8
#: Largest solid dilution (mg) the planner asks for: a practical limit of one mortar or mixing
#: jar (unconfirmed, a conservative house figure). Above it the balance is too coarse for the
#: chain and the plan is refused (issue 11: "needs a more sensitive balance").
MAX_DILUTION_MG = Decimal("50000")
MAX_SOLUTION_STEPS = 4
#: Standard volumetric flask sizes (mL) a stock solution is made up in.
FLASKS_ML = tuple(Decimal(v) for v in ("5", "10", "20", "25", "50", "100", "200", "250", "500",
                                        "1000"))
#: Highest stock concentration (mg of the weighed substance per mL). Unconfirmed margin:
#: a quarter of naltrexone HCl's aqueous solubility (about 100 mg/mL, supplier data); the
#: excipients the formulas dilute this way (sodium benzoate, ascorbic acid, lactose) are
#: more soluble than that.
STOCK_MAX_CONCENTRATION = Decimal("25")


def worst_case(amounts, sensitivity: Decimal) -> tuple[Decimal, Decimal]:
    """Worst-case relative error (percent above, percent below) that a balance of
    ``sensitivity`` (mg) can put into a chain of drug-carrying weighings (mg): each weighing
    may be off by its sensitivity, and the errors multiply along the chain (USP <1176>
    arithmetic; shared/DOMAIN.md "weighing error across an aliquot chain": four 120 mg
    weighings on a 6 mg balance give +18% / -15.9%)."""
    high = low = Decimal(1)
    for a in amounts:
        high *= 1 + sensitivity / a
        low *= 1 - sensitivity / a if a > sensitivity else Decimal(0)
    return (high - 1) * 100, (1 - low) * 100


def _budget_base(take: Decimal, k: int, sensitivity: Decimal, budget: Decimal,
                 readability: Decimal) -> Decimal | None:
    """The smallest intermediate weighing (a multiple of the readability) so that ``k``
    weighings of it and one of ``take`` stay within ``budget`` percent; None: impossible."""
    room = (1 + budget / 100) / (1 + sensitivity / take)
    if room <= 1:
        return None
    base = ceil_step(sensitivity / (room ** (Decimal(1) / k) - 1), readability)
    while worst_case([base] * k + [take], sensitivity)[0] > budget:
        base += readability
    return base


def round_step(value: Decimal, step: Decimal, rounding=ROUND_HALF_UP) -> Decimal:
    n = (value / step).quantize(Decimal("1"), rounding=rounding)
    return n * step


def ceil_step(value: Decimal, step: Decimal) -> Decimal:
    return round_step(value, step, ROUND_CEILING)


def error_percent(delivered: Decimal, target: Decimal) -> Decimal:
    return (delivered - target) / target * 100


@dataclass
class Stage:
    """One dilution, in plain numbers (mg for solids; mg in / mL out for solutions)."""

    action: str  # "dilute" | "dissolve" | "dilute-volume"
    amount_in: Decimal  # mg (solid, dissolve) or mL (dilute-volume)
    total: Decimal  # mg (solid) or mL (solution)
    ratio: Decimal | None
    concentration: Decimal  # target units per mg (solid) or per mL (solution)
    take: Decimal  # mg or mL
    take_contains: Decimal  # target units in the take

    @property
    def diluent(self) -> Decimal | None:
        return self.total - self.amount_in if self.action == "dilute" else None


@dataclass
class Aliquot:
    """How an amount gets into the batch: weighed directly (no stages) or diluted."""

    medium: str  # "solid" | "solution"
    weighed: Decimal  # mg of the substance weighed
    stages: list[Stage] = field(default_factory=list)
    into_batch: Decimal = Decimal(0)  # mg (solid) or mL (solution) of material added
    delivered: Decimal = Decimal(0)  # target units actually delivered

    @property
    def direct(self) -> bool:
        return not self.stages


def ratio_candidates(max_ratio: int) -> list[int]:
    """1 in N choices: 2, 5, 10, 20, 25, 50, 100... up to the setting, and the setting."""
    out = {max_ratio}
    e = 0
    while 10 ** e <= max_ratio:
        for m in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5)):
            v = m * 10 ** e
            if v == v.to_integral_value() and 2 <= v <= max_ratio:
                out.add(int(v))
        e += 1
    return sorted(out)


def _is_power_of_ten(n: int) -> bool:
    return n >= 10 and str(n).rstrip("0") == "1"


def plan_solid(target: Decimal, c0: Decimal, *, mwq: Decimal, readability: Decimal,
               max_ratio: int, max_take: Decimal, what: str, option: str = "--min-weighable",
               sensitivity: Decimal | None = None, budget: Decimal | None = None) -> Aliquot:
    """Put ``target`` (units of the basis) into a solid batch.

    ``c0``: basis units per mg of the weighed substance (potency / salt factor).
    ``max_take``: the largest mass (mg) of material the batch can take (leaves room for
    the final diluent weighing to be at least the minimum too).
    ``sensitivity`` (mg) and ``budget`` (percent): when given, every weighing that carries the
    substance is sized so that their :func:`worst_case` error stays within the budget;
    refused (naming ``balance.sensitivity`` and ``balance.uncertainty_budget``) when no chain
    can.
    """
    try:
        return _plan_solid(target, c0, mwq=mwq, readability=readability, max_ratio=max_ratio,
                           max_take=max_take, what=what, option=option,
                           sensitivity=sensitivity, budget=budget)
    except PlanError:
        if budget is None:
            raise
        loose = _plan_solid(target, c0, mwq=mwq, readability=readability, max_ratio=max_ratio,
                            max_take=max_take, what=what, option=option)
        amounts = [loose.weighed] + [st.take for st in loose.stages] if loose.stages \
            else [loose.weighed]
        high, low = worst_case(amounts, sensitivity)
        raise PlanError(
            f"{what}: this batch needs a more sensitive balance: on a balance of sensitivity "
            f"{number(sensitivity)} mg the weighings can be off by up to +{number(high.quantize(Decimal('0.1')))}% "
            f"/ -{number(low.quantize(Decimal('0.1')))}%, above the {number(budget)}% budget "
            "(settings balance.uncertainty_budget; set balance.sensitivity for a more "
            "sensitive balance, or make a larger batch)") from None


def _plan_solid(target, c0, *, mwq, readability, max_ratio, max_take, what, option,
                sensitivity=None, budget=None) -> Aliquot:
    def in_budget(amounts):
        return budget is None or worst_case(amounts, sensitivity)[0] <= budget

    direct = round_step(target / c0, readability)
    if direct >= mwq and in_budget([direct]):
        if direct > max_take:
            raise PlanError(f"{what}: {number(direct)} mg is more than this batch can hold")
        return Aliquot("solid", direct, [], direct, direct * c0)
    base = ceil_step(mwq, readability)  # every weighed amount >= the minimum
    cands = ratio_candidates(max_ratio)
    loose_k = None  # the fewest steps that work without the budget
    for k in range(1, MAX_STEPS + 1):
        if Decimal(max(cands)) ** k * target / c0 < mwq:
            continue  # not enough dilution possible with k steps
        best, plain_ok = None, False
        for combo in combinations_with_replacement(cands, k):
            p = prod(combo)
            take = round_step(target * p / c0, readability)
            if take < mwq or take > max_take:
                continue
            delivered = take * c0 / p
            if abs(error_percent(delivered, target)) > MAX_ERROR_PERCENT:
                continue
            # weigh more than the minimum when the take would be too much of the last dilution
            first = max(base, ceil_step(take / (MAX_TAKE_FRACTION * combo[-1]), readability))
            if first * max(combo) > MAX_DILUTION_MG:
                continue
            plain_ok = True
            need = base
            if budget is not None:
                # intermediate weighings large enough for the balance uncertainty budget;
                # among those, the chain that needs the least drug weighed comes first
                need = _budget_base(take, k, sensitivity, budget, readability)
                if need is None:
                    continue
                need = max(base, need)
                first = max(first, need)
                if first * max(combo) > MAX_DILUTION_MG:
                    continue
            score = (need, sum(not _is_power_of_ten(r) for r in combo), p, first)
            if best is None or score < best[0]:
                best = (score, combo, take, delivered)
        if best is not None:
            (_, _, _, base), combo, take, delivered = best
            stages, conc = [], c0
            for i, r in enumerate(combo):  # ascending: the largest dilution is the last
                conc = conc / r
                last = i == len(combo) - 1
                t = take if last else base
                stages.append(Stage("dilute", base, base * r, Decimal(r), conc, t, t * conc))
            return Aliquot("solid", base, stages, take, delivered)
        if plain_ok and loose_k is None:
            loose_k = k
        if loose_k is not None and k > loose_k:
            # the fewest steps, and one more (a larger final take), do not fit the uncertainty
            # budget: further steps only add weighings, so the balance is too coarse
            break
    raise PlanError(f"{what}: cannot be diluted into this batch within {MAX_STEPS} steps of "
                    f"at most 1 in {max_ratio} with every weighing at least {number(mwq)} mg; "
                    f"check {option} and max_dilution_ratio")


def plan_solution(target: Decimal, c0: Decimal, *, mwq: Decimal, readability: Decimal,
                  min_volume: Decimal, volume_readability: Decimal, max_ratio: int,
                  max_take: Decimal, what: str, option: str = "--min-weighable",
                  sensitivity: Decimal | None = None, budget: Decimal | None = None) -> Aliquot:
    """Put ``target`` into a liquid batch: weigh directly, or dissolve ``B`` mg to a stock
    and take a measured volume (serial volumetric dilutions if one stock is not enough).

    ``max_take``: the largest volume (mL) of stock the batch can take.
    ``sensitivity``/``budget``: the one balance weighing of the substance is at least
    sensitivity / budget (the measured volumes are not balance weighings).
    """
    least = Decimal(0)
    if budget is not None:
        least = ceil_step(sensitivity * 100 / budget, readability)
    direct = round_step(target / c0, readability)
    if direct >= mwq and direct >= least:
        return Aliquot("solution", direct, [], direct, direct * c0)
    base = max(ceil_step(mwq, readability), least)
    inter = ceil_step(min_volume, volume_readability)  # intermediate take (mL)
    for k in range(1, MAX_SOLUTION_STEPS + 1):
        best = None
        # weigh more than the minimum when the take would be too much of one stock
        more = ceil_step(target / c0 / MAX_TAKE_FRACTION, readability)
        for vols in product(FLASKS_ML, repeat=k):
            strongest = round_step(STOCK_MAX_CONCENTRATION * vols[0], readability, ROUND_FLOOR)
            for weighed in sorted({base, max(base, more), max(base, strongest)}):
                if weighed / vols[0] > STOCK_MAX_CONCENTRATION:
                    continue
                if any(v / inter > max_ratio for v in vols[1:]):
                    continue
                if any(inter > MAX_TAKE_FRACTION * v for v in vols[:-1]):
                    continue
                conc = weighed * c0 / vols[0]
                for v in vols[1:]:
                    conc = conc * inter / v
                take = round_step(target / conc, volume_readability)
                if take < min_volume or take > max_take or take > MAX_TAKE_FRACTION * vols[-1]:
                    continue
                delivered = take * conc
                if abs(error_percent(delivered, target)) > MAX_ERROR_PERCENT:
                    continue
                score = (sum(vols), weighed, vols)
                if best is None or score < best[0]:
                    best = (score, vols, take, delivered)
        if best is not None:
            (_, base, _), vols, take, delivered = best
            stages = []
            conc = base * c0 / vols[0]
            t = take if k == 1 else inter
            stages.append(Stage("dissolve", base, vols[0], None, conc, t, t * conc))
            for i, v in enumerate(vols[1:], start=1):
                conc = conc * inter / v
                t = take if i == k - 1 else inter
                stages.append(Stage("dilute-volume", inter, v, v / inter, conc, t, t * conc))
            return Aliquot("solution", base, stages, take, delivered)
    raise PlanError(f"{what}: no stock solution of at most {number(STOCK_MAX_CONCENTRATION)} "
                    f"mg/mL gives a measurable volume (at least {number(min_volume)} mL) that fits this "
                    f"batch within {MAX_SOLUTION_STEPS} dilutions; check {option}")
