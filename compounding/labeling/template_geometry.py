"""Label template constants and the geometry derived from a template's fields (page size,
label positions, printer dots), shared by the pydantic specs (:mod:`.template_specs`) and the
validated views (:mod:`.templates`); no pydantic here (issue 18).

Lengths are points (1/72 in) as floats: paper geometry, not a dose.
"""

from __future__ import annotations

MM_PER_INCH = 25.4
PT_PER_INCH = 72.0
#: GS1 healthcare minimum X-dimension for linear and 2D symbols (GS1 General Specifications).
MIN_MODULE_MM = 0.25
#: Printed in place of auxiliary statements a small batch label cannot hold (issue 6: "when a
#: batch label is too small for all statements, the dispensing label carries them all").
REFER_TEXT = "More directions on the dispensing label."
#: The smallest text size on any label (issue 6).
MIN_FONT_PT = 6.0

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
#: What a label of each kind must show (USP <795> container label; issue 6).
REQUIRED = {
    "batch": ("drug", "form_route", "quantity", "lot", "bud", "storage", "auxiliary",
              "compounded", "pharmacy"),
    "dispensing": ("drug", "form_route", "quantity", "lot", "bud", "storage", "auxiliary",
                   "compounded", "pharmacy", "pharmacy_address", "patient", "directions",
                   "prescriber", "rx", "dispensed", "excipients"),
}



# ---------------------------------------------------------------- derived geometry (shared)

class StockGeometry:
    """Page size and label positions of a stock (mixed into the spec and the view)."""

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


class TemplateGeometry:
    """Derived figures of a template (mixed into the spec and the view)."""

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
