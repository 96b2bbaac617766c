"""The pydantic field types for amounts in spec files (formulas, the catalogue, settings,
templates) and the frozen ``Spec`` base (``extra="forbid"``: a misspelt key is an error).

Every amount goes through :func:`compounding.units.parse` (the one strict parser) and is
written back in its canonical text (``"4.5 mg"``, ``"0.5% w/v"``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,
                      PlainValidator, WithJsonSchema)

from . import units as u
from .units import Quantity

ID_RE = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


# ---------------------------------------------------------------- pydantic quantity types

def qty_type(kinds, dims=None, positive=True, example="1 mg"):
    def validate(v):
        return u.parse(v, kinds, dims=dims, positive=positive)

    return Annotated[
        Quantity,
        PlainValidator(validate),
        PlainSerializer(lambda qv: f"{u.plain(qv.value)} {qv.unit}" if qv.unit != "%"
                        else f"{u.plain(qv.value)}%", return_type=str),
        WithJsonSchema({"type": "string", "examples": [example],
                        "description": f"an amount with its unit ({', '.join(sorted({kinds} if isinstance(kinds, str) else kinds))})"}),
    ]


Mass = qty_type(u.MASS, example="4.5 mg")
Volume = qty_type(u.VOLUME, example="0.25 mL")
Concentration = qty_type(u.CONCENTRATION, example="1 mg/mL")
Density = qty_type(u.CONCENTRATION, dims={"w/v"}, example="0.45 g/mL")
Percent = qty_type(u.PERCENT, example="0.5% w/v")
StrengthQty = qty_type({u.MASS, u.CONCENTRATION}, example="1.5 mg")
BatchQty = qty_type({u.MASS, u.VOLUME, u.COUNT}, example="100 mL")
Duration = Annotated[str, Field(pattern=r"^[1-9][0-9]* (days|months)$",
                                examples=["60 days", "12 months"])]
Id = Annotated[str, Field(pattern=ID_RE, max_length=64)]
PlainDecimal = Annotated[Decimal, BeforeValidator(u.plain_decimal)]  # issue 12: "20", no 2e1


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: USP <795> (2023) BUD categories (see compounding/bud.py for their day limits).
Category = Literal["aqueous-non-preserved", "aqueous-preserved", "nonaqueous-oral-liquid",
                   "nonaqueous-other"]
