"""What a label says, separate from how it is drawn: :class:`LabelData` and its builders.

Everything here is pure: the formula, settings, strength, quantity, lot, BUD and (for a
dispensing label) the prescription are arguments; no clock, no database, no files. Every
amount is formatted by the units layer (``fmt``: ``0.1 mcg``, ``1.5 mg``, never the micro sign or
``1.0``) and every date by ``compounding.dates.format_date`` (``23 MAY 2027``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from .. import units as u
from ..dates import format_date
from ..errors import InputError, LabelError
from .fonts import NBSP

#: How each dosage form is named after the strength in the drug line.
FORM_NOUN = {"capsule": "capsules", "oral-liquid": "oral liquid",
             "sublingual-drops": "sublingual drops", "cream": "cream"}
#: Words in a formula name that start the form description rather than the drug's name.
_FORM_WORDS = {"immediate-release", "oral", "sublingual", "transdermal", "topical", "capsules",
               "capsule", "cream", "drops", "liquid", "solution", "modified-release"}
#: Excipients with a known effect: catalogue tag -> how a patient reads it.
EXCIPIENT_TEXT = {
    "lactose": "lactose", "sucrose": "sucrose", "glycerol": "glycerol",
    "benzoate": "benzoates", "parabens": "parabens (hydroxybenzoates)", "gluten": "gluten",
    "dyes": "colouring agents", "cetostearyl-alcohol": "cetostearyl alcohol",
    "propylene-glycol": "propylene glycol", "sorbitol": "sorbitol",
    "alcohol": "alcohol (ethanol)", "fragrance": "fragrance",
}


def qty_text(q: u.Quantity) -> str:
    """``fmt`` with a no-break space between number and unit (a line never splits them)."""
    return u.fmt(q).replace(" ", NBSP)


def strength_text(strength: u.Quantity) -> str:
    """A strength as a person reads it: masses in mcg below 0.1 mg (``0.1 mcg``), never
    rounded; concentrations as given (``1 mg/mL``)."""
    if strength.kind == u.MASS:
        strength = u.readable_mass(strength)
    return qty_text(strength)


def drug_base_name(formula) -> str:
    """``Naltrexone HCl`` from ``Naltrexone HCl immediate-release capsules``: the formula
    name up to its first strength or form word (the drug is never abbreviated further)."""
    words = []
    for w in formula.name.split():
        if w[0].isdigit() or w.lower() in _FORM_WORDS:
            break
        words.append(w)
    return " ".join(words) or formula.name


def drug_line(formula, strength: u.Quantity) -> str:
    return f"{drug_base_name(formula)} {strength_text(strength)} {FORM_NOUN[formula.dosage_form]}"


def form_route_line(formula) -> str:
    """The route (``For oral use``); the dosage form itself ends the drug line, so it is
    not repeated on a small label. A formula's ``label.route_text`` overrides it."""
    if formula.label.route_text:
        return formula.label.route_text
    return f"For {formula.route} use"


def _keep_together(s: str) -> str:
    """A phone number or similar never splits across lines."""
    return s.strip().replace(" ", NBSP)


def _sentence(s: str) -> str:
    s = s.strip()
    return s if s.endswith((".", "!", "?")) else s + "."


@lru_cache(maxsize=1024)
def _sentences(items: tuple[str, ...]) -> str:
    """Statements as sentences, one after another (the same few on every label of a run)."""
    return " ".join(_sentence(s) for s in items)


@lru_cache(maxsize=1024)
def _bud_text(bud: date) -> str:
    return "BUD:" + NBSP + format_date(bud).replace(" ", NBSP)


def excipient_statement(tags) -> str:
    """``Contains lactose.`` for the tags of every ingredient the batch contains."""
    names = [EXCIPIENT_TEXT.get(t, t.replace("-", " ")) for t in dict.fromkeys(tags)]
    if not names:
        return ""
    return "Contains " + ", ".join(names) + "."


@dataclass(frozen=True)
class Dispensing:
    """The prescription a dispensing label is made for."""

    patient: str
    directions: str
    prescriber: str
    rx_number: str
    dispensed_on: date
    quantity: str  # formatted by the units layer
    #: the fill of a recorded prescription (issue 17), None for a label typed in full
    fill: int | None = None
    #: True for the label of a fill already dispensed, printed again (issue 12 part 7: a
    #: reprint is recorded as one and never counted again); only with ``fill``
    reprint: bool = False


@dataclass(frozen=True)
class LabelData:
    """Everything a label shows, already formatted for a person to read."""

    drug: str                      # "Naltrexone HCl 1.5 mg capsules"
    form_route: str                # "For oral use" (the form ends the drug line)
    quantity: str                  # "100 capsules"
    lot: str
    bud: date
    storage: tuple[str, ...]
    auxiliary: tuple[str, ...]
    compounded_statement: str
    pharmacy_name: str
    pharmacy_phone: str
    pharmacy_address: str = ""
    excipients: str = ""           # "Contains lactose."
    gtin: str | None = None
    dispensing: Dispensing | None = None

    def field_text(self, name: str, template_statements=()) -> str:
        """The text of one template field (see ``templates.FIELDS``); '' if empty."""
        d = self.dispensing
        if name == "drug":
            return self.drug
        if name == "form_route":
            return self.form_route
        if name == "quantity":
            if d and self.quantity.endswith("/mL)") and d.quantity.endswith("mL"):
                return f"Qty: {d.quantity} {self.quantity[self.quantity.rindex('('):]}"
            return f"Qty: {d.quantity if d else self.quantity}"
        if name == "lot":
            return f"Lot: {self.lot}"
        if name == "bud":
            return _bud_text(self.bud)
        if name == "storage":
            return _sentences(tuple(self.storage))
        if name == "auxiliary":
            return _sentences(tuple(self.auxiliary))
        if name == "compounded":
            return self.compounded_statement
        if name == "pharmacy":
            return f"{self.pharmacy_name}, Tel {_keep_together(self.pharmacy_phone)}"
        if name == "pharmacy_address":
            return self.pharmacy_address
        if name == "statements":
            return _sentences(tuple(template_statements))
        if name == "excipients":
            return self.excipients
        if d is None:
            raise LabelError(f"{name}: a dispensing label needs the prescription details",
                             field=name)
        if name == "patient":
            return d.patient
        if name == "directions":
            return d.directions
        if name == "prescriber":
            return f"Prescriber: {d.prescriber}"
        if name == "rx":
            return f"Rx: {d.rx_number}"
        if name == "dispensed":
            return "Dispensed: " + format_date(d.dispensed_on).replace(" ", NBSP)
        raise LabelError(f"unknown label field {name!r}", field=name)


def dose_unit_text(formula, strength: u.Quantity) -> str | None:
    """Issue 11: what one drop or one click carries, for drop- and click-dosed preparations
    ("0.5 mg per drop; 20 drops = 1 mL"); None for other forms."""
    if formula.drops is not None and strength.dim == "w/v":
        per_ml = strength.to("mg/mL").value
        per_drop = u.readable_mass(u.q(u.sig(per_ml / formula.drops.drops_per_ml, 4)
                                       .normalize(), "mg"))
        return (f"{qty_text(per_drop)} per drop; {u.number(formula.drops.drops_per_ml)} "
                "drops = 1 mL")
    if formula.device is not None and formula.density is not None and strength.dim == "w/w":
        ml = formula.device.ml_per_click.to("mL").value
        per_click = strength.to("mg/g").value * formula.density.to("g/mL").value * ml
        clicks = (1 / ml).normalize()
        return (f"{qty_text(u.readable_mass(u.q(u.sig(per_click, 4).normalize(), 'mg')))} per "
                f"{formula.device.name} click; {u.number(clicks)} clicks = 1 mL")
    return None


def _with_concentration(quantity_text: str, strength: u.Quantity) -> str:
    """Issue 11: a liquid's volume carries its mg per mL beside it ("100 mL (1 mg/mL)")."""
    return f"{quantity_text} ({strength_text(strength)})" if strength.dim == "w/v" else \
        quantity_text


def label_data(formula, settings, *, strength: u.Quantity, quantity: u.Quantity, lot: str,
               bud: date, storage: str, ingredient_tags=(), dispensing: Dispensing | None = None
               ) -> LabelData:
    """Build the content of a label from a formula, the pharmacy settings and one batch.

    ``storage`` is the batch's storage condition (``room`` / ``refrigerated``);
    ``ingredient_tags`` the catalogue tags of every ingredient in the batch (for the
    excipients-with-known-effect statement on a dispensing label).
    """
    if storage not in formula.storage.conditions:
        raise LabelError(f"storage: {storage!r} is not one of the formula's storage conditions "
                         f"{list(formula.storage.conditions)}", field="storage")
    if not re.fullmatch(r"[\x21-\x7e]{1,20}", lot or ""):
        raise LabelError(f"lot: {lot!r} cannot be printed as a Code 128 lot barcode",
                         field="lot")
    ph = settings.pharmacy
    return LabelData(
        drug=drug_line(formula, strength),
        form_route=form_route_line(formula),
        quantity=_with_concentration(qty_text(quantity), strength),
        lot=lot,
        bud=bud,
        storage=tuple(formula.storage.text(storage)),
        auxiliary=tuple(x for x in (dose_unit_text(formula, strength),) if x)
        + tuple(formula.label.auxiliary),
        compounded_statement=settings.compounded_statement,
        pharmacy_name=ph.name,
        pharmacy_phone=ph.phone,
        pharmacy_address=ph.address,
        excipients=excipient_statement(ingredient_tags),
        gtin=settings.gtins.get(formula.id),
        dispensing=dispensing,
    )


def batch_ingredient_ids(formula, filler: str | None = None) -> list[str]:
    """Every ingredient a batch of ``formula`` contains (the capsule filler chosen per batch)."""
    ids = [formula.active.ingredient] + [c.ingredient for c in formula.components]
    if formula.capsule is not None:
        ids.append(filler or formula.capsule.default_filler)
    return ids


def ingredient_tags(catalogue, ingredient_ids) -> list[str]:
    tags: list[str] = []
    for iid in ingredient_ids:
        ing = catalogue.ingredients.get(iid)
        if ing is not None:
            tags.extend(ing.tags)
    return tags


def dispensed_quantity(batch: dict, text: str) -> str:
    """Check a dispensed quantity against the batch (same kind, not more than was made)."""
    made = u.parse(batch["quantity"], {u.MASS, u.VOLUME, u.COUNT}, field="quantity")
    default = made.unit if made.kind == u.COUNT else None
    q = u.parse(text, made.kind, field="quantity", default_unit=default)
    if q.dim != made.dim:
        raise InputError(f"quantity: {text!r} is not in {made.unit} like the batch "
                         f"({u.fmt(made)})", field="quantity")
    if q > made:
        raise InputError(f"quantity: {u.fmt(q)} is more than the batch made ({u.fmt(made)})",
                         field="quantity")
    return qty_text(q)


class _SnapshotFormula:
    """What a label reads from a stored batch's formula snapshot, under the attribute names
    of :class:`~compounding.formulas.Formula` (id, name, dosage_form, route, label.auxiliary,
    label.route_text, storage.conditions, storage.text(), drops.drops_per_ml, device.name,
    device.ml_per_click, density).

    The snapshot was validated as a Formula when the batch was made and the batch record
    cannot change (triggers, audit digests), so it is read as it is, without building the
    pydantic models (about 150 ms a command, issue 18). A snapshot missing a field is a
    :class:`LabelError`, never a guess.
    """

    class _Label:
        def __init__(self, d: dict):
            self.auxiliary = tuple(d.get("auxiliary", ()))
            self.route_text = d.get("route_text")

    class _Storage:
        def __init__(self, d: dict):
            self.conditions = tuple(d["conditions"])
            self.protect_from_light = bool(d.get("protect_from_light", False))

        def text(self, condition: str) -> list[str]:
            from ..storage import storage_text
            return storage_text(condition, self.protect_from_light)

    class _Drops:
        def __init__(self, d: dict):
            from decimal import Decimal
            self.drops_per_ml = Decimal(str(d["drops_per_ml"]))

    class _Device:
        def __init__(self, d: dict):
            self.name = d["name"]
            self.ml_per_click = u.parse(d["ml_per_click"], u.VOLUME, field="ml_per_click")

    def __init__(self, snap: dict):
        try:
            self.id, self.name = snap["id"], snap["name"]
            self.dosage_form, self.route = snap["dosage_form"], snap["route"]
            self.label = self._Label(snap.get("label") or {})
            self.storage = self._Storage(snap["storage"])
            # issue 11: drops and clicks are explained on the label
            self.drops = self._Drops(snap["drops"]) if snap.get("drops") else None
            self.device = self._Device(snap["device"]) if snap.get("device") else None
            self.density = (u.parse(snap["density"], u.CONCENTRATION, field="density")
                            if snap.get("density") else None)
        except (KeyError, TypeError) as exc:
            raise LabelError(f"formula_snapshot: the batch's stored formula lacks {exc}",
                             field="formula_snapshot") from None
        if self.dosage_form not in FORM_NOUN:
            raise LabelError(f"formula_snapshot: unknown dosage form {self.dosage_form!r}",
                             field="formula_snapshot")


def from_batch(batch: dict, settings, *, dispensing: Dispensing | None = None) -> LabelData:
    """Label content from a stored batch record (``Store.get_batch``): the formula *as used*
    (its snapshot), the batch's strength, quantity, storage and BUD, and the ingredients the
    batch actually contains (for the excipients-with-known-effect statement).

    ``settings``: anything with ``pharmacy`` (name, phone, address), ``compounded_statement``
    and ``gtins`` (:class:`~compounding.settings.Settings` or the cached
    :class:`~compounding.settings.LabelSettings`)."""
    from ..dates import parse_date

    formula = _SnapshotFormula(batch["formula_snapshot"])
    strength = u.parse(batch["strength"], {u.MASS, u.CONCENTRATION}, field="strength")
    quantity = u.parse(batch["quantity"], {u.MASS, u.VOLUME, u.COUNT}, field="quantity")
    plan = batch.get("plan") or {}
    density = (plan.get("cream") or {}).get("density")
    if density:  # issue 11: the cream base chosen for the batch has its own density
        formula.density = u.parse(f"{density['amount']} {density['unit']}", u.CONCENTRATION,
                                  field="density")
    ids = [i["id"] for i in plan.get("ingredients", [])] or \
        [c["ingredient"] for c in batch.get("components", [])]
    catalogue = batch.get("catalogue_snapshot") or {}
    tags = [t for iid in ids for t in (catalogue.get(iid) or {}).get("tags", [])]
    return label_data(formula, settings, strength=strength, quantity=quantity,
                      lot=batch["lot_id"], bud=parse_date(batch["bud"], "bud"),
                      storage=batch["storage"], ingredient_tags=tags, dispensing=dispensing)
