"""Storage statements: one source for the formula spec, labels and worksheets.

Below every other module (no pydantic), so a label printed from a stored batch's formula
snapshot words its storage exactly as the formula spec does (issue 18).
"""

from __future__ import annotations

#: What each storage condition means on a label (USP <659> ranges).
STORAGE_TEXT = {
    "refrigerated": "Store in a refrigerator, 2 °C to 8 °C. Do not freeze.",
    "room": "Store at room temperature, 20 °C to 25 °C.",
}

PROTECT_FROM_LIGHT = "Protect from light."


def storage_text(condition: str, protect_from_light: bool) -> list[str]:
    """The label's storage statements for ``condition`` (``refrigerated`` or ``room``)."""
    out = [STORAGE_TEXT[condition]]
    if protect_from_light:
        out.append(PROTECT_FROM_LIGHT)
    return out
