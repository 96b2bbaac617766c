"""The part of the pharmacy settings a label prints, loaded without the settings models.

A label needs the pharmacy's name, address and phone, the compounded-preparation statement
and the GTINs (issue 6), and printing warns ``bud_warning_days`` before the BUD (issue 11). Validating the whole settings file with pydantic costs a print
command about 200 ms (issue 18), so: the first time a settings file's exact bytes are seen,
it is validated in full (:func:`compounding.settings.load_settings`, the same errors as every
other command) and these fields are kept in the on-disk cache (:mod:`.cache`, keyed by the
file's bytes and the source of the validating code); later prints read them back. A settings
file that does not validate never reaches the cache, so it is refused every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .settings_file import DEFAULT_FILE, ENV_VAR, resolve_path  # noqa: F401


@dataclass(frozen=True)
class PharmacyInfo:
    name: str
    address: str
    phone: str


@dataclass(frozen=True)
class LabelSettings:
    """What a label shows from the settings (the attribute names of ``Settings``)."""

    pharmacy: PharmacyInfo
    compounded_statement: str
    gtins: MappingProxyType  # formula id -> GTIN-14 (validated, check digit included)
    bud_warning_days: int  # warn when fewer days are left before the BUD (issue 11)
    #: ``[records] audit_key_file`` (issue 12): every print writes a keyed audit entry
    audit_key_file: str | None = None
    #: the settings file these came from (None: the defaults), for :meth:`__getattr__`
    path: Path | None = None

    def __getattr__(self, name: str):
        """Any other setting: the full, validated settings are loaded and asked (correct,
        only slower: add a field above when the print path needs it often)."""
        if name.startswith("__"):
            raise AttributeError(name)
        from .settings import load_settings
        return getattr(load_settings(self.path), name)

    @classmethod
    def from_settings(cls, s, path: Path | None = None) -> "LabelSettings":
        return cls.from_fields(_fields(s), path)

    @classmethod
    def from_fields(cls, d: dict, path: Path | None = None) -> "LabelSettings":
        p = d["pharmacy"]
        return cls(PharmacyInfo(p["name"], p["address"], p["phone"]),
                   d["compounded_statement"], MappingProxyType(dict(d["gtins"])),
                   int(d["bud_warning_days"]), d.get("audit_key_file"), path)


def _fields(s) -> dict:
    return {"pharmacy": {"name": s.pharmacy.name, "address": s.pharmacy.address,
                         "phone": s.pharmacy.phone},
            "compounded_statement": s.compounded_statement, "gtins": dict(s.gtins),
            "bud_warning_days": s.bud_warning_days,
            "audit_key_file": s.records.audit_key_file}


def load_label_settings(path: Path | None) -> LabelSettings:
    """The label fields of the settings file ``path`` (None: the built-in defaults),
    validated in full the first time its bytes are seen (raises what
    :func:`compounding.settings.load_settings` raises)."""
    from . import cache

    data = b""
    if path is not None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            data = None  # missing or unreadable: load_settings says so, one line
    if data is not None:
        key = cache.key("settings", _fingerprint(), "default" if path is None else "file",
                        data)
        payload = cache.load("label-settings", key)
        if payload is not None:
            try:
                return LabelSettings.from_fields(json.loads(payload), path)
            except (ValueError, KeyError, TypeError):
                pass
    from .settings import load_settings
    s = load_settings(path)
    if data is not None:
        cache.save("label-settings", key, json.dumps(_fields(s), sort_keys=True).encode())
    return LabelSettings.from_settings(s, path)


def _fingerprint() -> str:
    from . import cache
    return cache.code_fingerprint(("settings.py", "formulas.py", "spec_types.py", "units.py",
                                   "gs1.py", "spec_files.py", "label_settings.py"))
