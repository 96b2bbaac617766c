"""A prescription with its titration schedule, checked before it is recorded.

:func:`prescribe` takes what the prescriber wrote (text) and returns a :class:`Prescription`
whose schedule, doses, fills and directions are all worked out, or raises one clear error.
:func:`from_record` rebuilds the same object from a stored record (the formula and the
``[rx]`` settings are snapshots on the record, so a later change to either never changes
what a recorded prescription says).

Names are checked for printing: NFC, no control or invisible characters, no right-to-left
text (the PDF layout has no bidirectional support, so Arabic or Hebrew would print in the
wrong order: refused, conservative), only characters the shipped font draws, at most 100
characters (a label line). Rx numbers: ASCII letters, digits and ``-/.``, at most 30.

Pure: the formula, settings and start date are arguments.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from .. import units as u
from ..errors import InputError
from . import fills as F
from .measure import Measurer
from .schedule import Schedule, build, steps_from_json

MAX_NAME = 100
RX_NUMBER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,29}")


def check_name(text, field: str) -> str:
    """A patient or prescriber name that prints exactly as typed (see the module doc)."""
    if not isinstance(text, str):
        raise InputError(f"{field}: expected text", field=field)
    s = unicodedata.normalize("NFC", text)
    bad = [c for c in s if unicodedata.category(c)[0] == "C"]
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(bad))
        raise InputError(f"{field}: contains an invisible or control character ({shown}); "
                         "retype it", field=field)
    s = " ".join(s.split())
    if not s:
        raise InputError(f"{field}: must not be empty", field=field)
    if len(s) > MAX_NAME:
        raise InputError(f"{field}: {len(s)} characters; at most {MAX_NAME} (it must fit a "
                         "label line)", field=field)
    if any(unicodedata.bidirectional(c) in ("R", "AL", "AN") for c in s):
        raise InputError(f"{field}: right-to-left text cannot be printed in the right order "
                         "on labels and charts; write the name in Latin letters as on the "
                         "prescription", field=field)
    from ..labeling.fonts import clean
    from ..errors import LabelError
    try:
        clean(s, field)
    except LabelError as exc:
        raise InputError(str(exc), field=field) from None
    return s


def check_rx_number(text) -> str:
    s = text.strip() if isinstance(text, str) else ""
    if not RX_NUMBER_RE.fullmatch(s):
        raise InputError(f"rx: {text!r} is not an Rx number; use 1 to 30 ASCII letters, digits, "
                         "'-', '/' or '.', starting with a letter or digit", field="rx")
    return s


@dataclass(frozen=True)
class Prescription:
    rx_number: str
    patient: str
    prescriber: str
    formula: object            # compounding.formulas.Formula
    strength: u.Quantity | None
    storage: str
    policy: str
    dose_time: str
    schedule: Schedule
    dose_confirmed: bool
    rx: object                 # compounding.settings.Titration

    @property
    def measurer(self) -> Measurer:
        return Measurer(self.formula, self.strength, self.rx, kit=tuple(self.schedule.doses()))

    def fills(self) -> list[F.Fill]:
        return F.plan_fills(self.schedule, self.measurer, storage=self.storage,
                            policy=self.policy)

    def preparation(self) -> str:
        """``Naltrexone HCl 1 mg/mL oral liquid``; a capsule kit lists its strengths."""
        from ..labeling.content import drug_line, drug_base_name, FORM_NOUN
        if self.strength is not None:
            return drug_line(self.formula, self.strength)
        kit = ", ".join(F.dose_text(d) for d in sorted(self.schedule.doses(), key=lambda q:
                                                       q.base))
        return f"{drug_base_name(self.formula)} {FORM_NOUN[self.formula.dosage_form]} " \
               f"({kit})"

    def plan_json(self) -> dict:
        """Fills with their directions (one per strength for a capsule kit), doses as
        measured and the back-off half doses: kept on the record."""
        m = self.measurer
        out = []
        for f in self.fills():
            d = f.as_json()
            if self.formula.dosage_form == "capsule":
                for s in d["supplies"]:
                    s["directions"] = F.directions(f, "capsule", self.dose_time,
                                                   strength=u.q(s["strength"]["amount"],
                                                                s["strength"]["unit"]))
            else:
                d["supplies"][0]["directions"] = F.directions(f, self.formula.dosage_form,
                                                              self.dose_time)
            out.append(d)
        doses = [{"dose": d.as_json(), "measure": m.measure(d).as_json(),
                  "half": m.half_dose(d).as_json(), "half_text": m.half_dose(d).text()}
                 for d in self.schedule.doses()]
        return {"fills": out, "doses": doses}


def prescribe(*, rx_number: str, patient: str, prescriber: str, formula, strength: str | None,
              storage: str | None, policy: str, dose_time: str, start: date,
              steps: str | None = None, rule: dict | None = None, confirm_dose: bool = False,
              rx_settings) -> Prescription:
    """Check everything a prescription says and work out its fills (see the module doc).

    Raises :class:`InputError` (bad text, unknown storage or dose time) or
    :class:`RefusedError` (the guide's dose ceilings, a dose that cannot be measured).
    """
    rx_number = check_rx_number(rx_number)
    patient = check_name(patient, "patient")
    prescriber = check_name(prescriber, "prescriber")
    if dose_time not in F.DOSE_TIMES:
        raise InputError(f"dose time: {dose_time!r}; allowed: {', '.join(F.DOSE_TIMES)}",
                         field="dose_time")
    if storage is None:
        storage = formula.storage.conditions[0]
    if storage not in formula.storage.conditions:
        raise InputError(f"storage: {storage!r} is not allowed for {formula.id}; allowed: "
                         f"{', '.join(formula.storage.conditions)}", field="storage")
    qty = None
    if strength is not None:
        if formula.dosage_form == "capsule":
            raise InputError("strength: a capsule kit takes its strengths from the schedule's "
                             "doses (one capsule a dose); leave --strength out",
                             field="strength")
        qty = u.parse(strength, u.CONCENTRATION, field="strength")
    schedule = build(start, steps=steps, rule=rule, confirm_dose=confirm_dose)
    rx = Prescription(rx_number, patient, prescriber, formula, qty, storage, policy, dose_time,
                      schedule, bool(confirm_dose), rx_settings)
    m = rx.measurer  # refuses a strength the formula does not make
    if rx.strength is None and m.strength is not None:
        rx = Prescription(rx_number, patient, prescriber, formula, m.strength, storage, policy,
                          dose_time, schedule, bool(confirm_dose), rx_settings)
    rx.fills()  # every dose measurable, every fill under its BUD
    return rx


def from_record(row: dict, steps: list[dict]) -> Prescription:
    """The prescription a stored record (``store.prescriptions`` row and steps) describes."""
    from ..formulas import Formula
    from ..settings import Titration
    import json

    formula = Formula.model_validate(json.loads(row["formula_snapshot"]))
    rx = Titration.model_validate(json.loads(row["rx_settings"]))
    strength = u.parse(row["strength"], u.CONCENTRATION) if row["strength"] else None
    parsed = steps_from_json([{"dose": {"amount": s["dose_mg"], "unit": "mg"},
                               "days": s["days"]} for s in steps])
    start = date.fromisoformat(row["start_date"])
    schedule = Schedule(start, parsed, row["schedule"])
    return Prescription(row["rx_number"], row["patient"], row["prescriber"], formula, strength,
                        row["storage"], row["bud_policy"], row["dose_time"], schedule,
                        bool(row["dose_confirmed"]), rx)
