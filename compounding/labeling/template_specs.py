"""The label template file format as pydantic specs: what ``templates/*.toml`` may say, checked
when a file is read (see :mod:`.templates`, which explains why templates are data).

Imported only to validate a template file the cache has not seen (``templates.load_template``)
and for the format's JSON schema: printing a label from a validated template needs no
pydantic (issue 18).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, PlainValidator, WithJsonSchema, model_validator

from ..formulas import ID_RE, Spec
from .template_geometry import (FIELDS, MIN_FONT_PT, MIN_MODULE_MM, MM_PER_INCH, PT_PER_INCH, REQUIRED,
                        StockGeometry, TemplateGeometry)

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

Field_ = Literal[tuple(FIELDS)]  # type: ignore[valid-type]


class StockSpec(StockGeometry, Spec):
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


class BarcodeSpec(Spec):
    module_dots: int = Field(ge=1, le=20, description="module (narrowest bar) in printer dots")
    height: Length = Field(description="bar height")
    quiet_modules: int = Field(default=10, ge=10, le=40)


class DataMatrixSpec(Spec):
    module_dots: int = Field(ge=1, le=20)
    quiet_modules: int = Field(default=1, ge=1, le=10)
    position: Literal["bottom-right", "top-right"] = "bottom-right"


class BlockSpec(Spec):
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


class LayoutSpec(Spec):
    padding: Length = Field(description="blank margin inside the label edge")
    line_spacing: float = Field(default=1.2, ge=1.17, le=2.0,  # float-ok: geometry (points), not a dose
                                description="line height / font size (DejaVu Sans needs 1.17)")
    gap: Length = Field(default=2.0, description="space between text and a barcode's quiet zone")
    barcode: BarcodeSpec
    datamatrix: DataMatrixSpec | None = None


class LabelTemplateSpec(TemplateGeometry, Spec):
    """A label template (see ``templates/README`` header in each file)."""

    id: Annotated[str, Field(pattern=ID_RE, max_length=64)]
    version: int = Field(ge=1)
    kind: Literal["batch", "dispensing"]
    name: str = Field(min_length=1)
    description: str = ""
    dpi: int = Field(ge=150, le=1200, description="printer resolution (dots per inch)")
    stock: StockSpec
    layout: LayoutSpec
    statements: tuple[str, ...] = ()
    blocks: tuple[BlockSpec, ...] = Field(min_length=1)

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
