"""Formula specs (Master Formulation Records) and the ingredient catalogue, as data.

A formula file in ``formulas/`` is TOML validated by the frozen pydantic models below
(``extra="forbid"``: a misspelt key is an error). Formulas name ingredients by id; the ids
are checked against ``formulas/ingredients.toml``. Loading returns a :class:`Registry`
(one per application) that also keeps each file's SHA-256, for change control.

Every problem is reported with the file and the key path, one line each.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from . import units as u
from .errors import NotFoundError, SpecError
from .gs1 import validate_gtin
from .spec_files import read_toml, validation_messages
from .cream_spec import CreamSpec, check_cream
from .spec_types import (ID_RE, BatchQty, Category, Concentration, Density, Duration, Id,
                         Mass, Percent, PlainDecimal, Spec, StrengthQty, Volume)
from .storage import STORAGE_TEXT, storage_text  # noqa: F401 (STORAGE_TEXT re-exported)
from .units import Quantity

#: The name before issue 13 (private names are not imported across modules: use
#: :func:`validation_messages`).
_messages = validation_messages

# ---------------------------------------------------------------- domain constants

#: Prescriber guide: capsules "from Ultra Low Dose Naltrexone at 0.1 microgram ... to 4.5mg".
CAPSULE_MIN = u.q("0.1", "mcg")
CAPSULE_MAX = u.q("4.5", "mg")
#: Prescriber guide: the dose "must be lower than the 'high-low dose' LDN range of 12mg".
HIGH_LOW_DOSE_LIMIT = u.q("12", "mg")

#: Allergen / intolerance / excipient-with-known-effect tags a catalogue entry may carry.
KNOWN_TAGS = ("lactose", "sucrose", "glycerol", "dyes", "parabens", "benzoate", "gluten",
              "cetostearyl-alcohol", "propylene-glycol", "sorbitol", "alcohol", "fragrance")

# USP <795> (2023) BUD categories: ``Category`` (spec_types.py, imported above).
Storage = Literal["refrigerated", "room"]
DosageForm = Literal["oral-liquid", "capsule", "sublingual-drops", "cream"]


#: The strength's kind per dosage form: (dimension, example) a formula must use.
FORM_STRENGTH_DIM = {
    "capsule": ("mass", "1.5 mg (per capsule)"),
    "oral-liquid": ("w/v", "1 mg/mL"),
    "sublingual-drops": ("w/v", "1 mg/mL"),
    "cream": ("w/w", "1 mg/g"),
}
#: Batch quantity dimension per form (cream may also be given in mL with a density).
FORM_QUANTITY_DIM = {"capsule": "capsules", "oral-liquid": "volume",
                     "sublingual-drops": "volume", "cream": "mass"}

# The quantity field types and the frozen ``Spec`` base live in spec_types.py (shared
# with settings and templates); imported here under their old names.


# ---------------------------------------------------------------- ingredient catalogue

class Ingredient(Spec):
    """One substance, described once for every formula."""

    name: str = Field(min_length=1)
    kind: Literal["active", "filler", "vehicle", "excipient", "base"]
    tags: tuple[str, ...] = ()
    density: Density | None = None
    density_source: str | None = None  # where the density comes from (issue 11)
    release: Literal["immediate", "modified"] | None = None
    capsule_filler: bool = True
    refused_reason: str | None = None
    salt_form: Literal["hydrochloride", "base"] | None = None
    formula: str | None = None
    molecular_weight: PlainDecimal | None = Field(default=None, gt=0)
    base_ingredient: Id | None = None
    notes: str | None = None

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, tags):
        bad = [t for t in tags if t not in KNOWN_TAGS]
        if bad:
            raise ValueError(f"unknown tag(s) {', '.join(bad)}; allowed: {', '.join(KNOWN_TAGS)}")
        return tags

    @model_validator(mode="after")
    def _active_facts(self):
        if self.kind == "active" and (self.molecular_weight is None or self.salt_form is None):
            raise ValueError("an active ingredient needs salt_form and molecular_weight")
        if self.kind == "filler" and self.density is None:
            raise ValueError("a filler needs a density (g/mL) for capsule fill calculations")
        return self


class TradeItem(Spec):
    """A supplier's product, identified by its GTIN (GS1 AI 01) on the container (issue 16)."""

    ingredient: Id = Field(description="the catalogue ingredient the container holds")
    manufacturer: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, min_length=1, max_length=200)


class Catalogue(Spec):
    ingredients: dict[Id, Ingredient]
    #: GTIN (8, 12, 13 or 14 digits; kept as 14) -> the trade item it identifies.
    gtins: dict[str, TradeItem] = {}

    @field_validator("gtins")
    @classmethod
    def _gtin_keys(cls, gtins):
        out = {}
        for key, item in gtins.items():
            try:
                g = validate_gtin(key)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            if g in out:
                raise ValueError(f"{key}: the same GTIN as {g} is listed twice")
            out[g] = item
        return out

    @model_validator(mode="after")
    def _bases_exist(self):
        for iid, ing in self.ingredients.items():
            if ing.base_ingredient and ing.base_ingredient not in self.ingredients:
                raise ValueError(f"ingredients.{iid}.base_ingredient: unknown ingredient "
                                 f"{ing.base_ingredient!r}")
        for g, item in self.gtins.items():
            if item.ingredient not in self.ingredients:
                raise ValueError(f"gtins.{g}.ingredient: unknown ingredient "
                                 f"{item.ingredient!r}")
        return self

    def trade_item(self, gtin: str) -> TradeItem:
        """The trade item of a 14-digit GTIN; :class:`NotFoundError` naming it if the
        catalogue does not list it (a container we cannot identify is never received)."""
        try:
            return self.gtins[gtin]
        except KeyError:
            raise NotFoundError(f"GTIN {gtin} is not in the ingredient catalogue "
                                "(formulas/ingredients.toml [gtins]); add it with the "
                                "ingredient it contains, reviewed by a pharmacist") from None

    def salt_factor(self, from_id: str, to_id: str) -> Decimal:
        """Mass of ``to_id`` carrying the same moles of drug as 1 mass unit of ``from_id``.

        From the molecular weights: naltrexone HCl / base = 377.86 / 341.40 = 1.1068.
        """
        a, b = self.ingredients[from_id], self.ingredients[to_id]
        return b.molecular_weight / a.molecular_weight


# ---------------------------------------------------------------- formula parts

class Active(Spec):
    ingredient: Id = Field(description="the ingredient weighed (e.g. naltrexone-hcl)")
    strength_basis: Id = Field(description="the ingredient the strength is stated as; LDN is "
                               "conventionally stated as naltrexone HCl")


class Strength(Spec):
    """Fixed strength, or an allowed range chosen per batch."""

    fixed: StrengthQty | None = None
    min: StrengthQty | None = None
    max: StrengthQty | None = None
    default: StrengthQty | None = None
    common: tuple[StrengthQty, ...] = ()

    @model_validator(mode="after")
    def _shape(self):
        if self.fixed is not None and (self.min is not None or self.max is not None):
            raise ValueError("give either fixed or min and max, not both")
        if self.fixed is None and (self.min is None or self.max is None):
            raise ValueError("give fixed, or both min and max")
        if self.fixed is None:
            if self.min.dim != self.max.dim:
                raise ValueError("min and max must be of the same kind")
            if self.min > self.max:
                raise ValueError(f"min {self.min} is above max {self.max}")
            for label, s in (("default", self.default), *(("common", c) for c in self.common)):
                if s is not None and (s.dim != self.min.dim or not self.min <= s <= self.max):
                    raise ValueError(f"{label} strength {s} is outside {self.min} to {self.max}")
        return self

    def all(self) -> list[Quantity]:
        return [x for x in (self.fixed, self.min, self.max, self.default, *self.common) if x]

    @property
    def dim(self) -> str:
        return (self.fixed or self.min).dim

    def describe(self) -> str:
        if self.fixed is not None:
            return u.fmt(self.fixed)
        return f"{u.fmt(self.min)} to {u.fmt(self.max)}"


class Component(Spec):
    """A non-active component: an amount (% of the batch) or q.s.; capsule fillers have neither."""

    ingredient: Id
    role: Literal["vehicle", "base", "filler", "antioxidant", "preservative", "co-solvent",
                  "sweetener", "excipient", "diluent"]
    amount: Percent | None = Field(default=None, description="% w/v or % w/w of the batch")
    qs: bool = Field(default=False, description="quantum satis: to the final volume/mass")
    notes: str | None = None

    @model_validator(mode="after")
    def _one_amount(self):
        if self.role == "filler":
            if self.amount is not None or self.qs:
                raise ValueError("a capsule filler's amount comes from the fill calculation; "
                                 "leave amount and qs out")
        elif (self.amount is not None) == self.qs:
            raise ValueError("give exactly one of amount (e.g. '0.5% w/v') or qs = true")
        if self.amount is not None and self.amount.unit not in ("% w/v", "% w/w", "% v/v"):
            raise ValueError("amount must say w/v, w/w or v/v (e.g. '0.5% w/v')")
        return self


class CapsuleSpec(Spec):
    fillers: tuple[Id, ...] = Field(min_length=1, description="allowed filler ingredient ids")
    default_filler: Id
    sizes: tuple[Literal["000", "00", "0", "1", "2", "3", "4", "5"], ...] = (
        "00", "0", "1", "2", "3", "4")
    min_extra_capsules: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _default_allowed(self):
        if self.default_filler not in self.fillers:
            raise ValueError(f"default_filler {self.default_filler!r} is not in fillers")
        return self


class DropsSpec(Spec):
    # USP <1101>: ~20 water drops/mL, a calibrated dropper within 15%: at least 17 per mL;
    # 60 is a conservative upper bound, not a USP figure (docs/records.md, issue 12).
    drops_per_ml: PlainDecimal = Field(ge=17, le=60, description="calibrated with this liquid "
                                       "and this dropper (USP <1101>: about 20 for water)")
    calibration: str = Field(min_length=1, description="how and when the figure was measured")
    min_drops_per_dose: int = Field(default=1, ge=1)
    max_drops_per_dose: int = Field(default=30, ge=1)
    reference_dose: Mass = u.q("0.5", "mg")
    #: issue 11: the drop limit is also max_dose / mg per drop, so the largest dose the limit
    #: allows stays below the guide's 12 mg ceiling (4.5 mg: the usual top of the range)
    max_dose: Mass = Field(default=u.q("4.5", "mg"), description="largest dose in mg")

    def drop_limit(self, mg_per_drop) -> int:
        """Most drops in one dose: the count limit, and no more than ``max_dose``."""
        return min(self.max_drops_per_dose, int(self.max_dose.to("mg").value / mg_per_drop))


class DeviceSpec(Spec):
    name: str
    ml_per_click: Volume
    note: str | None = None


class StorageSpec(Spec):
    conditions: tuple[Storage, ...] = Field(min_length=1)
    protect_from_light: bool = False

    def text(self, condition: str) -> list[str]:
        return storage_text(condition, self.protect_from_light)


class Study(Spec):
    storage: Storage
    duration: Duration
    reference: str = Field(min_length=1)
    fillers: tuple[Id, ...] = Field(default=(), description="capsule fillers the study "
                                    "covered; a batch with another filler does not get the "
                                    "study's BUD (empty: the study covers the formula as written)")
    notes: str | None = None


class Aet(Spec):
    """Antimicrobial effectiveness testing (USP <51>) on file for this formula: under USP
    <795> (2023) an aqueous preparation's study-based BUD past its category default needs it."""

    reference: str = Field(min_length=1, description="the test report (lab, report id, date)")
    notes: str | None = None


class Stability(Spec):
    category: Category
    water_activity: Literal["aw >= 0.6", "aw < 0.6"]
    studies: tuple[Study, ...] = ()
    antimicrobial_effectiveness: Aet | None = None


class BudLimit(Spec):
    days: int = Field(gt=0, le=365)
    reason: str
    source: str


class LabelSpec(Spec):
    auxiliary: tuple[str, ...] = ()
    route_text: str | None = None


class Formula(Spec):
    """A Master Formulation Record (USP <795>)."""

    id: Id
    version: int = Field(ge=1)
    name: str = Field(min_length=1)
    dosage_form: DosageForm
    route: Literal["oral", "sublingual", "transdermal", "topical"]
    description: str = Field(min_length=1, description="the finished preparation's appearance")
    active: Active
    strength: Strength
    quantity_min: BatchQty
    quantity_max: BatchQty
    overage: Percent = u.q("0", "%")
    weighing_tolerance: Percent = u.q("5", "%")
    strength_tolerance: Percent = u.q("10", "%")
    density: Density | None = Field(default=None, description="g/mL of the finished "
                                    "preparation, when it may be measured by volume")
    components: tuple[Component, ...] = ()
    capsule: CapsuleSpec | None = None
    drops: DropsSpec | None = None
    device: DeviceSpec | None = None
    cream: CreamSpec | None = None  # issue 11: bases chosen per batch
    container_closure: str = Field(min_length=1)
    storage: StorageSpec
    stability: Stability
    bud_limit: BudLimit | None = None
    label: LabelSpec = LabelSpec()
    excipient_notes: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    steps: tuple[str, ...] = Field(min_length=1)
    qc: tuple[str, ...] = Field(min_length=1)
    references: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        cat: Catalogue | None = (info.context or {}).get("catalogue")
        if cat is not None:
            self._check_ingredients(cat)
        self._check_strength()
        self._check_form_parts()
        self._check_storage()
        check_cream(self, cat)
        return self

    # -- each rule raises ValueError; pydantic adds the location of the model
    def _check_ingredients(self, cat: Catalogue):
        ids = [("active.ingredient", self.active.ingredient),
               ("active.strength_basis", self.active.strength_basis)]
        ids += [(f"components.{i}.ingredient", c.ingredient) for i, c in enumerate(self.components)]
        if self.capsule:
            ids += [(f"capsule.fillers.{i}", f) for i, f in enumerate(self.capsule.fillers)]
        for loc, iid in ids:
            if iid not in cat.ingredients:
                raise ValueError(f"{loc}: unknown ingredient {iid!r}; known: "
                                 f"{', '.join(sorted(cat.ingredients))}")
        for loc in ("active.ingredient", "active.strength_basis"):
            iid = dict(ids)[loc]
            if cat.ingredients[iid].kind != "active":
                raise ValueError(f"{loc}: {iid!r} is not an active ingredient")
        if self.capsule:
            for i, f in enumerate(self.capsule.fillers):
                ing = cat.ingredients[f]
                if ing.kind != "filler":
                    raise ValueError(f"capsule.fillers.{i}: {f!r} is not a filler")
                if not ing.capsule_filler:
                    raise ValueError(f"capsule.fillers.{i}: {f!r} is not allowed as an LDN "
                                     f"filler: {ing.refused_reason}")
                if ing.release != "immediate":
                    raise ValueError(f"capsule.fillers.{i}: {f!r} is not immediate release")

    def _check_strength(self):
        dim, example = FORM_STRENGTH_DIM[self.dosage_form]
        for s in self.strength.all():
            if s.dim != dim:
                raise ValueError(f"strength: {s} is the wrong kind for a {self.dosage_form}; "
                                 f"use e.g. {example}")
            if s.dim == "mass" and s >= HIGH_LOW_DOSE_LIMIT:
                raise ValueError(f"strength: {s} is at or above the 12 mg 'high-low dose' "
                                 "limit (prescriber guide)")
            if self.dosage_form == "capsule" and not CAPSULE_MIN <= s <= CAPSULE_MAX:
                raise ValueError(f"strength: {s} is outside the capsule range "
                                 f"{CAPSULE_MIN} to {CAPSULE_MAX} (prescriber guide)")
        qdim = FORM_QUANTITY_DIM[self.dosage_form]
        for name in ("quantity_min", "quantity_max"):
            qv = getattr(self, name)
            if qv.dim != qdim:
                raise ValueError(f"{name}: {qv} must be in {qdim}")
        if self.quantity_min > self.quantity_max:
            raise ValueError("quantity_min is above quantity_max")

    def _check_form_parts(self):
        form = self.dosage_form
        if self.drops is not None and self.drops.max_dose >= HIGH_LOW_DOSE_LIMIT:
            raise ValueError("drops.max_dose: must be below the 12 mg 'high-low dose' limit "
                             "(prescriber guide)")
        need = {"capsule": "capsule", "sublingual-drops": "drops"}
        for f, part in need.items():
            if form == f and getattr(self, part) is None:
                raise ValueError(f"a {form} formula needs a [{part}] table")
            if form != f and getattr(self, part) is not None:
                raise ValueError(f"[{part}] is only for {f} formulas")
        if form != "capsule":
            if sum(c.qs for c in self.components) != 1:
                raise ValueError("components: exactly one component must be qs "
                                 "(the vehicle or base made up to the final amount)")
            if any(c.role == "filler" for c in self.components):
                raise ValueError("components: fillers belong to capsule formulas")

    def _check_storage(self):
        cat = self.stability.category
        aqueous = cat.startswith("aqueous")
        if aqueous != (self.stability.water_activity == "aw >= 0.6"):
            raise ValueError(f"stability: category {cat} does not match water_activity "
                             f"{self.stability.water_activity!r} (USP <795>: aqueous means aw >= 0.6)")
        # USP <795> (2023) default BUD table: aqueous non-preserved preparations are stored in a refrigerator.
        if cat == "aqueous-non-preserved" and "room" in self.storage.conditions:
            raise ValueError("storage.conditions: an aqueous non-preserved preparation must be "
                             "refrigerated (USP <795> (2023) default BUD table); remove 'room'")
        if self.stability.antimicrobial_effectiveness is not None and not aqueous:
            raise ValueError("stability.antimicrobial_effectiveness: USP <51> testing is "
                             "recorded for aqueous preparations only")
        if self.dosage_form == "cream" and not aqueous:
            raise ValueError("stability.category: creams count as aqueous (USP <795>)")
        for i, st in enumerate(self.stability.studies):
            if st.fillers and (self.capsule is None or not set(st.fillers) <= set(self.capsule.fillers)):
                raise ValueError(f"stability.studies.{i}.fillers: must be fillers this capsule "
                                 "formula allows")
            if st.storage not in self.storage.conditions:
                raise ValueError(f"stability.studies.{i}.storage: {st.storage!r} is not one of "
                                 f"storage.conditions {list(self.storage.conditions)}")

    # -- conveniences for the rest of the system
    def spec_json(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------- loading

def load_catalogue(path: Path) -> Catalogue:
    raw, _ = read_toml(path)
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(path, validation_messages(exc))


def load_formula(path: Path, catalogue: Catalogue) -> tuple[Formula, bytes]:
    """Load one formula file; return it with its approval content (see below)."""
    raw, data = read_toml(path)
    try:
        formula = Formula.model_validate(raw, context={"catalogue": catalogue})
    except ValidationError as exc:
        raise SpecError(path, validation_messages(exc))
    expected = Path(path).stem
    if formula.id != expected:
        raise SpecError(path, [("id", f"{formula.id!r} must match the file name {expected!r}")])
    return formula, approval_content(formula, data, catalogue)


def used_ingredients(formula: Formula) -> list[str]:
    ids = [formula.active.ingredient, formula.active.strength_basis]
    ids += [c.ingredient for c in formula.components]
    if formula.capsule:
        ids += list(formula.capsule.fillers)
    if formula.cream:
        ids += formula.cream.ids()
    return sorted(set(ids))


def approval_content(formula: Formula, data: bytes, catalogue: Catalogue) -> bytes:
    """What a pharmacist approves: the formula file's bytes, then the catalogue entries it
    uses (as TOML comments), so a change to an ingredient's density, tags or molecular
    weight in ``ingredients.toml`` also needs re-approval. Its SHA-256 is the formula hash."""
    import json

    lines = ["", "# ---- ingredient catalogue entries used (formulas/ingredients.toml) ----"]
    for iid in used_ingredients(formula):
        entry = catalogue.ingredients[iid].model_dump(mode="json", exclude_none=True)
        lines.append(f"# {iid} = {json.dumps(entry, sort_keys=True, ensure_ascii=False)}")
    return data + "\n".join(lines).encode("utf-8") + b"\n"


CATALOGUE_FILE = "ingredients.toml"


class Registry:
    """All formulas of one application, with the catalogue and each file's hash."""

    def __init__(self, directory: Path, catalogue: Catalogue, formulas: dict,
                 contents: dict, paths: dict):
        self.directory = Path(directory)
        self.catalogue = catalogue
        self.formulas: dict[str, Formula] = formulas
        #: approval content per formula: file bytes + the catalogue entries it uses
        self.contents: dict[str, bytes] = contents
        #: SHA-256 of the approval content (what change control compares)
        self.hashes: dict[str, str] = {k: hashlib.sha256(v).hexdigest()
                                       for k, v in contents.items()}
        self.paths: dict[str, Path] = paths

    def get(self, formula_id: str) -> Formula:
        try:
            return self.formulas[formula_id]
        except KeyError:
            raise NotFoundError(f"unknown formula {formula_id!r}; known: "
                                f"{', '.join(sorted(self.formulas)) or '(none)'}") from None

    def ingredient(self, ingredient_id: str) -> Ingredient:
        try:
            return self.catalogue.ingredients[ingredient_id]
        except KeyError:
            raise NotFoundError(f"unknown ingredient {ingredient_id!r}; known: "
                                f"{', '.join(sorted(self.catalogue.ingredients))}") from None

    @classmethod
    def load(cls, directory: Path) -> "Registry":
        """Load every ``*.toml`` formula in ``directory``; raise SpecError listing all problems."""
        directory = Path(directory)
        if not directory.is_dir():
            raise SpecError(directory, [("", "formula folder not found")])
        catalogue = load_catalogue(directory / CATALOGUE_FILE)
        formulas, contents, paths, problems = {}, {}, {}, []
        for path in sorted(directory.glob("*.toml")):
            if path.name == CATALOGUE_FILE:
                continue
            try:
                f, c = load_formula(path, catalogue)
            except SpecError as exc:
                problems.extend((f"{exc.path}: {loc}" if loc else exc.path, m)
                                for loc, m in exc.problems)
                continue
            formulas[f.id], contents[f.id], paths[f.id] = f, c, path
        if problems:
            raise SpecError("", problems)
        return cls(directory, catalogue, formulas, contents, paths)


def validate_paths(paths: list[Path], catalogue_path: Path | None = None) -> list[str]:
    """Validate files (or folders of files); return one line per problem (empty: all valid)."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(x for x in p.glob("*.toml")) if p.is_dir() else [p])
    lines: list[str] = []
    catalogues: dict[Path, Catalogue | None] = {}

    def catalogue_for(f: Path):
        cpath = catalogue_path or f.parent / CATALOGUE_FILE
        if cpath not in catalogues:
            try:
                catalogues[cpath] = load_catalogue(cpath)
            except FileNotFoundError:
                lines.append(f"{cpath}: ingredient catalogue not found")
                catalogues[cpath] = None
            except SpecError as exc:
                lines.extend(exc.lines())
                catalogues[cpath] = None
        return catalogues[cpath]

    for f in files:
        if not f.exists():
            lines.append(f"{f}: file not found")
            continue
        cat = catalogue_for(f)
        if f.name == CATALOGUE_FILE or cat is None:
            continue
        try:
            load_formula(f, cat)
        except SpecError as exc:
            lines.extend(exc.lines())
    return lines


def formula_schema() -> dict:
    return Formula.model_json_schema()
