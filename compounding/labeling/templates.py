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
import json
from pathlib import Path

from ..errors import NotFoundError, SpecError

from .template_geometry import (FIELDS, MIN_FONT_PT, MIN_MODULE_MM, MM_PER_INCH,  # noqa: F401
                                PT_PER_INCH, REFER_TEXT, REQUIRED, StockGeometry,
                                TemplateGeometry)


# ---------------------------------------------------------------- validated views

class _View:
    """A read-only record of a validated spec's fields (the shape of ``model_dump()``), with
    the same attribute names as the pydantic spec; built only from a validated file."""

    _nested: dict = {}

    def __init__(self, **fields):
        for k, v in fields.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def model_copy(self, update: dict | None = None):
        """A copy with some fields replaced (not validated again, like pydantic's)."""
        return type(self)(**{**vars(self), **(update or {})})

    def model_dump(self) -> dict:
        """The fields as plain data (nested views as dicts, tuples as lists)."""
        def dump(v):
            if isinstance(v, _View):
                return v.model_dump()
            if isinstance(v, tuple):
                return [dump(x) for x in v]
            return v
        return {k: dump(v) for k, v in vars(self).items()}

    @classmethod
    def from_dump(cls, data: dict):
        """Rebuild from ``model_dump()`` output (lists back to tuples, nested views)."""
        out = {}
        for k, v in data.items():
            sub = cls._nested.get(k)
            if v is None:
                out[k] = None
            elif sub is not None and isinstance(v, list):
                out[k] = tuple(sub.from_dump(x) for x in v)
            elif sub is not None:
                out[k] = sub.from_dump(v)
            elif isinstance(v, list):
                out[k] = tuple(v)
            else:
                out[k] = v
        return cls(**out)


class Stock(StockGeometry, _View):
    """The label stock (fields: see ``template_specs.StockSpec``)."""


class Barcode(_View):
    """The Code 128 (fields: see ``template_specs.BarcodeSpec``)."""


class DataMatrix(_View):
    """The GS1 DataMatrix (fields: see ``template_specs.DataMatrixSpec``)."""


class Block(_View):
    """One paragraph of the label (fields: see ``template_specs.BlockSpec``)."""


class Layout(_View):
    """Padding, spacing and barcodes (fields: see ``template_specs.LayoutSpec``)."""

    _nested = {"barcode": Barcode, "datamatrix": DataMatrix}


class LabelTemplate(TemplateGeometry, _View):
    """A validated label template (the format: ``template_specs.LabelTemplateSpec``)."""

    _nested = {"stock": Stock, "layout": Layout, "blocks": Block}


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
    """Load and validate one template file; return it with the SHA-256 of its bytes.

    A file whose exact bytes were validated before by this version of the code is not
    validated again: its checked fields come from the on-disk cache (:mod:`..cache`, keyed by
    the bytes, the file name and the source of the validating code), so printing a label
    needs no pydantic (issue 18). A damaged cache entry is ignored.
    """
    from .. import cache

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(path, [("", f"cannot read: {exc.strerror}")]) from None
    key = cache.key("template", _fingerprint(), path.stem, data)
    fields = None
    payload = cache.load("template", key)
    if payload is not None:
        try:
            fields = json.loads(payload)
        except ValueError:
            fields = None
    if not isinstance(fields, dict):
        fields = _validate(path)
        cache.save("template", key, json.dumps(fields, sort_keys=True).encode())
    return LabelTemplate.from_dump(fields), hashlib.sha256(data).hexdigest()


def _validate(path: Path) -> dict:
    """Validate a template file with the pydantic specs; its fields as plain data."""
    from pydantic import ValidationError

    from ..spec_files import read_toml, validation_messages
    from .template_specs import LabelTemplateSpec

    raw, _ = read_toml(path)
    try:
        t = LabelTemplateSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(path, [(loc, msg.replace("the formula format; see `compounding formulas "
                                                 "schema`", "the template format"))
                               for loc, msg in validation_messages(exc)])
    if t.id != Path(path).stem:
        raise SpecError(path, [("id", f"{t.id!r} must match the file name {Path(path).stem!r}")])
    return t.model_dump(mode="json")


def _fingerprint() -> str:
    """The source of the code that validates a template (a change re-validates every file)."""
    from .. import cache
    return cache.code_fingerprint(("labeling/template_specs.py", "labeling/template_geometry.py",
                                   "labeling/templates.py",
                                   "formulas.py", "spec_types.py", "spec_files.py", "units.py",
                                   "gs1.py"))


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
