"""JSON shapes shared by the CLI's ``--json`` output and the bench's ``/api/v1`` (issue 15).

One function per shape, so a script reading ``compounding inventory list --json`` and one
reading ``GET /api/v1/inventory`` see the same keys and the same exact decimal text.
"""

from __future__ import annotations

from decimal import Decimal


def to_jsonable(obj):
    """``json.dumps`` default for every JSON the program prints or serves (the CLI's
    ``--json`` and the bench's API): Decimal as plain text, dates ISO, objects with
    ``as_json``. Raises TypeError for anything else."""
    if isinstance(obj, Decimal):
        from .units import plain
        return plain(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "as_json"):
        return obj.as_json()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def lot_json(lot: dict) -> dict:
    """A component lot from ``Store.lots``/``receive_lot``: Decimal amounts as plain text."""
    from .units import plain
    out = dict(lot)
    for k in ("potency_percent", "received", "consumed", "adjusted", "on_hand", "reserved",
              "available"):
        if k in lot:  # adjusted: issue 19
            out[k] = plain(lot[k])
    return out


def submission_json(sub: dict) -> dict:
    """A change-control submission without the file's bytes (``content``)."""
    return {k: v for k, v in sub.items() if k != "content"}


def approval_json(result: dict, diff: list[str]) -> dict:
    """An approval (``signoff.approve``) with the changes from the last approved version."""
    return {**{k: v for k, v in result.items() if k != "submission"}, "diff": diff}
