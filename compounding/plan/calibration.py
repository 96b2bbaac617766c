"""Capsule calibrations (issue 11, part 6): a pharmacy's measured fill weight per capsule for
one filler and capsule size, and the checks a measured figure must pass before it is used.

The catalogue's filler density is an assumption (for Avicel PH-102 the low end of the maker's
0.28-0.33 g/mL loose bulk density, IFF product specification); the fill weight a capsule
really takes depends on the filler lot, the capsule maker and how the powder is tamped.
USP <795> expects a compounding record's calculations to match what was made, so a
pharmacy measures it (the punch method: fill N capsules of the size with the filler, weigh
them, divide by N) and records it (``compounding capsules calibrate``); a plan then uses
the latest calibration of its filler and size and says which one.

Pure: no database. The store's record family is :mod:`compounding.store.calibrations`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .. import units as u
from ..errors import InputError
from ..units import Quantity
from .model import normalise_size

#: Capsule body volumes in mL (shared/DOMAIN.md, capsule manufacturers' tables).
CAPSULE_BODY_ML = {"000": Decimal("1.37"), "00": Decimal("0.95"), "0": Decimal("0.68"),
                   "1": Decimal("0.50"), "2": Decimal("0.37"), "3": Decimal("0.30"),
                   "4": Decimal("0.21"), "5": Decimal("0.13")}

#: The fill weight a calibration may imply per mL of capsule body, in g/mL. Above the upper
#: bound a powder would be denser than its own particles (true density of microcrystalline
#: cellulose about 1.51-1.67 g/cm3, lactose monohydrate 1.55, sucrose 1.59: Handbook of
#: Pharmaceutical Excipients), so the figure is a typing or unit slip (312 g for 312 mg).
#: Below the lower bound the capsule would be mostly air: no capsule filler has a loose bulk
#: density under about 0.25 g/mL (Avicel PH-102 0.28, IFF), so 0.1 g/mL leaves room for
#: light fillers and still catches a 1000-fold slip (312 mcg for 312 mg). House bounds.
IMPLIED_DENSITY_RANGE = (Decimal("0.1"), Decimal("1.6"))
#: Finest fill weight figure accepted (mg): a mean of weighed capsules to 0.001 mg.
FILL_WEIGHT_STEP = Decimal("0.001")
#: Most capsules one calibration may have weighed (a typed count beyond it is a slip).
MAX_CAPSULES_WEIGHED = 1000


@dataclass(frozen=True)
class CapsuleCalibration:
    """One recorded calibration: ``fill_weight`` (mg) per capsule of ``capsule_size`` filled
    with ``filler`` (a catalogue ingredient id), measured by ``recorded_by`` at
    ``recorded_at`` (UTC stamp); ``id`` is the store's record number."""

    id: int
    filler: str
    capsule_size: str
    fill_weight: Quantity
    recorded_by: str
    recorded_at: str
    capsules_weighed: int | None = None
    filler_lot: str | None = None
    corrects: int | None = None

    @classmethod
    def from_row(cls, row: dict) -> "CapsuleCalibration":
        """From a ``capsule_calibrations`` row of the store."""
        return cls(id=row["id"], filler=row["filler"], capsule_size=row["capsule_size"],
                   fill_weight=u.q(Decimal(row["fill_weight_mg"]), "mg"),
                   recorded_by=row["recorded_by"], recorded_at=row["recorded_at"],
                   capsules_weighed=row.get("capsules_weighed"),
                   filler_lot=row.get("filler_lot"), corrects=row.get("corrects"))

    def as_json(self) -> dict:
        return {"id": self.id, "filler": self.filler, "capsule_size": self.capsule_size,
                "fill_weight": self.fill_weight.as_json(), "recorded_by": self.recorded_by,
                "recorded_at": self.recorded_at, "capsules_weighed": self.capsules_weighed,
                "filler_lot": self.filler_lot, "corrects": self.corrects}

    def describe(self, filler_name: str | None = None) -> str:
        """``calibration 3: Microcrystalline cellulose in size #1, 312.4 mg a capsule (mean
        of 10 capsules), measured by ana, recorded 2026-11-30T23:40:00Z``."""
        how = f"mean of {self.capsules_weighed} capsules" if self.capsules_weighed else ""
        lot = f"filler lot {self.filler_lot}" if self.filler_lot else ""
        extra = ", ".join(x for x in (how, lot) if x)
        return (f"calibration {self.id}: {filler_name or self.filler} in size "
                f"#{self.capsule_size}, {u.fmt(self.fill_weight)} a capsule"
                + (f" ({extra})" if extra else "") +
                f", measured by {self.recorded_by}, recorded {self.recorded_at[:19]}Z")


def check_calibration(catalogue, filler: str, capsule_size: str,
                      fill_weight: Quantity) -> tuple[str, Quantity, Decimal]:
    """Check a measured calibration before it is recorded.

    ``filler``: a catalogue ingredient that may fill capsules (kind ``filler``, not refused);
    ``capsule_size``: one of :data:`CAPSULE_BODY_ML` (``#1`` and ``size 1`` accepted);
    ``fill_weight``: a mass per capsule, at most 0.001 mg fine, whose implied density
    (fill weight / body volume) is inside :data:`IMPLIED_DENSITY_RANGE`.

    Returns ``(size, fill weight in mg, implied density in g/mL)``. Raises
    :class:`InputError` naming the option (``--filler``, ``--size``, ``--fill-weight``) and
    what is allowed.
    """
    ing = catalogue.ingredients.get(filler)
    fillers = sorted(k for k, v in catalogue.ingredients.items()
                     if v.kind == "filler" and v.capsule_filler)
    if ing is None or ing.kind != "filler":
        raise InputError(f"--filler: {filler!r} is not a capsule filler in the catalogue; "
                         f"fillers: {', '.join(fillers)}", field="--filler")
    if not ing.capsule_filler:
        raise InputError(f"--filler: {filler} ({ing.name}) must not fill capsules: "
                         f"{ing.refused_reason}; fillers: {', '.join(fillers)}",
                         field="--filler")
    size = normalise_size(capsule_size)
    if size not in CAPSULE_BODY_ML:
        raise InputError(f"--size: {capsule_size!r} is not a capsule size; sizes: "
                         f"{', '.join(CAPSULE_BODY_ML)}", field="--size")
    if fill_weight.kind != u.MASS:
        raise InputError(f"--fill-weight: {u.fmt(fill_weight)} is not a mass; give the mean "
                         "fill weight of one capsule, e.g. '140 mg'", field="--fill-weight")
    mg = fill_weight.to("mg").value
    if mg <= 0:
        raise InputError(f"--fill-weight: {u.fmt(fill_weight)} must be greater than zero",
                         field="--fill-weight")
    if mg != mg.quantize(FILL_WEIGHT_STEP):
        raise InputError(f"--fill-weight: {u.fmt(fill_weight)} is finer than "
                         f"{u.plain(FILL_WEIGHT_STEP)} mg; give the mean to at most 3 decimal "
                         "places of a mg", field="--fill-weight")
    body = CAPSULE_BODY_ML[size]
    density = mg / body / 1000  # g/mL
    lo, hi = IMPLIED_DENSITY_RANGE
    if not lo <= density <= hi:
        low, high = u.q(lo * body * 1000, "mg"), u.q(hi * body * 1000, "mg")
        raise InputError(
            f"--fill-weight: {u.fmt(fill_weight)} in a size {size} capsule body "
            f"({u.fmt(u.q(body, 'mL'))}) would be {u.number(u.sig(density, 3))} g/mL; a powder "
            f"fill is {u.number(lo)} to {u.number(hi)} g/mL, so size {size} takes "
            f"{u.fmt(low)} to {u.fmt(high)} a capsule: check the unit and the figure",
            field="--fill-weight")
    return size, u.q(mg, "mg"), density
