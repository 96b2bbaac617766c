"""Which settings file applies (``--settings``, ``$COMPOUNDING_SETTINGS``, ``./pharmacy.toml``):
below the settings models, so finding the file costs no pydantic import (issue 18)."""

from __future__ import annotations

from pathlib import Path

ENV_VAR = "COMPOUNDING_SETTINGS"
DEFAULT_FILE = "pharmacy.toml"


def resolve_path(option: str | None, environ: dict, cwd: Path) -> Path | None:
    """Which settings file applies: ``--settings``, else ``$COMPOUNDING_SETTINGS``, else
    ``./pharmacy.toml`` if present; None means the built-in defaults."""
    if option:
        return Path(option)
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    candidate = Path(cwd) / DEFAULT_FILE
    return candidate if candidate.exists() else None
