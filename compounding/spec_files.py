"""Reading a TOML spec file and turning pydantic's errors into lines for a person.

Shared by every spec loader (formulas, the ingredient catalogue, settings, label
templates), below all of them so none imports another for it. A file that is not UTF-8 or
not TOML is a :class:`SpecError` naming the file; :func:`validation_messages` gives each
problem as ``(dotted.key.path, message)``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from .errors import SpecError


def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"])


def validation_messages(exc: ValidationError) -> list[tuple[str, str]]:
    """A pydantic error as ``(location, message)`` pairs for a person (the location dotted,
    pydantic's 'Value error, ' prefixes dropped); shared by every TOML spec loader."""
    out = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        loc = _loc(err)
        # model-level rules carry their own key path in "path: message" form
        m = re.match(r"^([a-z_]+(?:\.[A-Za-z0-9_-]+)*): (.*)$", msg)
        if m and (not loc or not loc.endswith(m.group(1))):
            loc = f"{loc}.{m.group(1)}" if loc else m.group(1)
            msg = m.group(2)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not in the formula format; see `compounding formulas schema`)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        out.append((loc, msg))
    return out


def read_toml(path: Path) -> tuple[dict, bytes]:
    data = Path(path).read_bytes()
    try:
        return tomllib.loads(data.decode("utf-8")), data
    except UnicodeDecodeError:
        raise SpecError(path, [("", "not UTF-8 text")])
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, [("", f"malformed TOML: {exc}")])
