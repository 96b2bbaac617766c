"""Label templates: label stock and layout as versioned data files (``templates/*.toml``).

Why templates are data and not code: a compounding-software recall (FDA Class I, 2022)
came from label templates edited into wrong values. A template here is a frozen pydantic
spec (``extra="forbid"``), has an id and a version, and every print records the SHA-256 of
the file's bytes (approval of a template is issue 7). A template that does not validate is
never rendered; validation also checks that every element a label of its kind must carry
(USP <795>: lot, BUD, storage, compounded statement...) is in its blocks, so an edit cannot
silently drop the BUD.

Lengths are written with their unit (``"2.25 in"``, ``"63.5 mm"``, ``"9 pt"``, ``"12 dots"``
at the template's dpi) and held in points (1/72 in) as floats: paper geometry, not a dose,
so the Decimal rule of ``units.py`` does not apply here.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PlainValidator, ValidationError, WithJsonSchema, model_validator

from ..errors import NotFoundError, SpecError
from ..formulas import ID_RE, Spec, read_toml, validation_messages

MM_PER_INCH = 25.4
PT_PER_INCH = 72.0
#: GS1 healthcare minimum X-dimension for linear and 2D symbols (GS1 General Specifications).
MIN_MODULE_MM = 0.25
#: Printed in place of auxiliary statements a small batch label cannot hold (issue 6: "when a
#: batch label is too small for all statements, the dispensing label carries them all").
REFER_TEXT = "More directions on the dispensing label."
#: The smallest text size on any label (issue 6).
MIN_FONT_PT = 6.0

_LENGTH = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?) ?(?P<u>in|mm|pt)$")


def _length(value) -> float:  # float-ok: geometry (points), not a dose
    if not isinstance(value, str):
        raise ValueError("a length needs its unit, e.g. '2.25 in', '63.5 mm' or '9 pt'")
    m = _LENGTH.fullmatch(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a length; write e.g. '2.25 in', '63.5 mm', '9 pt'")
    n = float(m["n"])  # float-ok: paper geometry in points, not a dose
    return {"in": n * PT_PER_INCH, "mm": n * PT_PER_INCH / MM_PER_INCH, "pt": n}[m["u"]]


Length = Annotated[float, PlainValidator(_length),
                   WithJsonSchema({"type": "string", "examples": ["2.25 in", "63.5 mm", "9 pt"]})]

#: Text fields a block may show, and what each one is.
FIELDS = {
    "drug": "drug name in full with strength (units layer): 'Naltrexone HCl 1.5 mg capsules'",
    "form_route": "route: 'For oral use' (the dosage form ends the drug line)",
    "quantity": "quantity in the container (batch) or dispensed (dispensing label)",
    "lot": "internal lot ID",
    "bud": "beyond-use date with a month name: 'BUD: 23 MAY 2027'",
    "storage": "storage statements from the formula",
    "auxiliary": "the formula's auxiliary statements",
    "compounded": "the compounded-preparation statement from the pharmacy settings",
    "pharmacy": "pharmacy name and phone",
    "pharmacy_address": "pharmacy address",
    "statements": "the template's own fixed statements (e.g. 'Keep out of the sight and reach "
                  "of children')",
    "patient": "patient name",
    "directions": "directions for use",
    "prescriber": "prescriber",
    "rx": "prescription (Rx) number",
    "dispensed": "date dispensed",
    "excipients": "excipients with a known effect the batch contains ('Contains lactose')",
}
Field_ = Literal[tuple(FIELDS)]  # type: ignore[valid-type]

#: What a label of each kind must show (USP <795> container label; issue 6).
REQUIRED = {
    "batch": ("drug", "form_route", "quantity", "lot", "bud", "storage", "auxiliary",
              "compounded", "pharmacy"),
    "dispensing": ("drug", "form_route", "quantity", "lot", "bud", "storage", "auxiliary",
                   "compounded", "pharmacy", "pharmacy_address", "patient", "directions",
                   "prescriber", "rx", "dispensed", "excipients"),
}


class Stock(Spec):
    """The label stock: one label per page (thermal roll) or a sheet of labels (laser)."""

    type: Literal["roll", "sheet"]
    unit: Literal["in", "mm"] = Field(default="in", description="unit sizes are listed in")
    label_width: Length
    label_height: Length
    page_width: Length | None = None
    page_height: Length | None = None
    columns: int = Field(default=1, ge=1, le=20)
    rows: int = Field(default=1, ge=1, le=40)
    margin_left: Length = 0.0
    margin_top: Length = 0.0
    pitch_x: Length | None = Field(default=None, description="left edge to next left edge")
    pitch_y: Length | None = Field(default=None, description="top edge to next top edge")

    @model_validator(mode="after")
    def _shape(self):
        if self.type == "roll":
            if self.columns != 1 or self.rows != 1 or self.page_width or self.page_height:
                raise ValueError("a roll stock is one label per page: leave out page size, "
                                 "columns and rows")
            return self
        if not (self.page_width and self.page_height and self.pitch_x and self.pitch_y):
            raise ValueError("a sheet stock needs page_width, page_height, pitch_x and pitch_y")
        eps = 0.01
        if self.pitch_x + eps < self.label_width or self.pitch_y + eps < self.label_height:
            raise ValueError("labels overlap: pitch is smaller than the label")
        right = self.margin_left + (self.columns - 1) * self.pitch_x + self.label_width
        bottom = self.margin_top + (self.rows - 1) * self.pitch_y + self.label_height
        if right > self.page_width + eps or bottom > self.page_height + eps:
            raise ValueError("the labels do not fit on the page")
        return self

    @property
    def page_size(self) -> tuple[float, float]:
        if self.type == "roll":
            return self.label_width, self.label_height
        return self.page_width, self.page_height

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def position(self, index: int) -> tuple[float, float]:
        """Top-left corner (points from the page's top-left) of 0-based position ``index``,
        filled left to right, then top to bottom."""
        if self.type == "roll":
            return 0.0, 0.0
        r, c = divmod(index, self.columns)
        return self.margin_left + c * self.pitch_x, self.margin_top + r * self.pitch_y


class Barcode(Spec):
    module_dots: int = Field(ge=1, le=20, description="module (narrowest bar) in printer dots")
    height: Length = Field(description="bar height")
    quiet_modules: int = Field(default=10, ge=10, le=40)


class DataMatrixSpec(Spec):
    module_dots: int = Field(ge=1, le=20)
    quiet_modules: int = Field(default=1, ge=1, le=10)
    position: Literal["bottom-right", "top-right"] = "bottom-right"


class Block(Spec):
    """One paragraph of the label: one or more fields on the same line(s)."""

    fields: tuple[Field_, ...] = Field(min_length=1)
    size: float = Field(ge=MIN_FONT_PT, le=36, description="preferred font size, pt")  # float-ok: geometry (points), not a dose
    min_size: float = Field(default=MIN_FONT_PT, ge=MIN_FONT_PT, le=36)  # float-ok: geometry (points), not a dose
    bold: bool = False
    space_before: Length = 0.0
    overflow: Literal["refuse", "refer"] = Field(
        default="refuse",
        description="'refer' (batch labels, auxiliary statements only): when every statement "
                    "cannot fit even at the minimum size, the last ones are left off and "
                    "REFER_TEXT is printed instead; the dispensing label carries them all")

    @model_validator(mode="after")
    def _sizes(self):
        if self.min_size > self.size:
            raise ValueError("min_size is larger than size")
        return self


class Layout(Spec):
    padding: Length = Field(description="blank margin inside the label edge")
    line_spacing: float = Field(default=1.2, ge=1.17, le=2.0,  # float-ok: geometry (points), not a dose
                                description="line height / font size (DejaVu Sans needs 1.17)")
    gap: Length = Field(default=2.0, description="space between text and a barcode's quiet zone")
    barcode: Barcode
    datamatrix: DataMatrixSpec | None = None


class LabelTemplate(Spec):
    """A label template (see ``templates/README`` header in each file)."""

    id: Annotated[str, Field(pattern=ID_RE, max_length=64)]
    version: int = Field(ge=1)
    kind: Literal["batch", "dispensing"]
    name: str = Field(min_length=1)
    description: str = ""
    dpi: int = Field(ge=150, le=1200, description="printer resolution (dots per inch)")
    stock: Stock
    layout: Layout
    statements: tuple[str, ...] = ()
    blocks: tuple[Block, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _checks(self):
        for name, dots in (("layout.barcode.module_dots", self.layout.barcode.module_dots),
                           ("layout.datamatrix.module_dots",
                            self.layout.datamatrix.module_dots if self.layout.datamatrix
                            else None)):
            if dots is not None and dots * MM_PER_INCH / self.dpi < MIN_MODULE_MM - 1e-9:
                need = -(-MIN_MODULE_MM * self.dpi // MM_PER_INCH)
                raise ValueError(f"{name}: {dots} dots at {self.dpi} dpi is "
                                 f"{dots * MM_PER_INCH / self.dpi:.3f} mm, below the "
                                 f"{MIN_MODULE_MM} mm minimum; use at least {int(need)}")
        used = [f for b in self.blocks for f in b.fields]
        dup = sorted({f for f in used if used.count(f) > 1})
        if dup:
            raise ValueError(f"blocks: field(s) {', '.join(dup)} appear more than once")
        missing = [f for f in REQUIRED[self.kind] if f not in used]
        if missing:
            raise ValueError(f"blocks: a {self.kind} label must show {', '.join(missing)}")
        for i, b in enumerate(self.blocks):
            if b.overflow == "refer" and (self.kind != "batch" or "auxiliary" not in b.fields):
                raise ValueError(f"blocks.{i}.overflow: 'refer' is only for the auxiliary "
                                 "statements of a batch label")
        if "statements" in used and not self.statements:
            raise ValueError("blocks: 'statements' is shown but the template has none")
        if self.statements and "statements" not in used:
            raise ValueError("statements: given but no block shows 'statements'")
        pad = self.layout.padding
        if 2 * pad >= min(self.stock.label_width, self.stock.label_height):
            raise ValueError("layout.padding leaves no room on the label")
        return self

    # -- derived geometry
    @property
    def dot(self) -> float:  # float-ok: geometry (points), not a dose
        """One printer dot in points."""
        return PT_PER_INCH / self.dpi

    def size_text(self) -> str:
        s = self.stock

        def f(pt: float, unit: str) -> str:  # float-ok: geometry (points), not a dose
            v = pt / PT_PER_INCH * (MM_PER_INCH if unit == "mm" else 1)
            return f"{v:.3f}".rstrip("0").rstrip(".")

        return f"{f(s.label_width, s.unit)} x {f(s.label_height, s.unit)} {s.unit}"

    def summary(self) -> dict:
        s = self.stock
        return {"id": self.id, "version": self.version, "kind": self.kind, "name": self.name,
                "stock": s.type, "label_size": self.size_text(), "labels_per_page": s.per_page,
                "dpi": self.dpi}


class TemplateSet:
    """Every template of one folder with its file's SHA-256 (recorded with each print)."""

    def __init__(self, directory: Path, templates: dict, hashes: dict, paths: dict):
        self.directory = Path(directory)
        self.templates: dict[str, LabelTemplate] = templates
        self.hashes: dict[str, str] = hashes
        self.paths: dict[str, Path] = paths

    def get(self, template_id: str) -> LabelTemplate:
        try:
            return self.templates[template_id]
        except KeyError:
            raise NotFoundError(f"unknown label template {template_id!r}; known: "
                                f"{', '.join(sorted(self.templates)) or '(none)'}") from None


def load_template(path: Path) -> tuple[LabelTemplate, str]:
    """Load and validate one template file; return it with the SHA-256 of its bytes."""
    raw, data = read_toml(path)
    try:
        t = LabelTemplate.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(path, [(loc, msg.replace("the formula format; see `compounding formulas "
                                                 "schema`", "the template format"))
                               for loc, msg in validation_messages(exc)])
    if t.id != Path(path).stem:
        raise SpecError(path, [("id", f"{t.id!r} must match the file name {Path(path).stem!r}")])
    return t, hashlib.sha256(data).hexdigest()


def load_templates(directory: Path) -> TemplateSet:
    """Load every ``*.toml`` in ``directory``; raise SpecError listing every problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SpecError(directory, [("", "template folder not found")])
    templates, hashes, paths, problems = {}, {}, {}, []
    for path in sorted(directory.glob("*.toml")):
        try:
            t, h = load_template(path)
        except SpecError as exc:
            problems.extend((f"{exc.path}: {loc}" if loc else exc.path, m)
                            for loc, m in exc.problems)
            continue
        templates[t.id], hashes[t.id], paths[t.id] = t, h, path
    if problems:
        raise SpecError("", problems)
    return TemplateSet(directory, templates, hashes, paths)
