"""Printing a stored batch's labels: load, check, render, write, record. One place for it.

The CLI (``compounding labels print`` / ``dispense``) calls :func:`print_labels`; everything
that decides whether a label may be printed runs in :func:`check_printable`, so the release
and template-approval rules of issue 7 are added there and nowhere else.

Order of work: the batch and template are loaded, the output path is checked (issue 12: never
the database, a link, a device; an existing file only with ``--force``), the PDF is rendered
in memory (every barcode read back first), written to a temporary file beside the output,
the print is recorded in the store with the PDF's SHA-256, and then the file is renamed into
place (a failed record removes the temporary file, so a PDF on disk is always a recorded
one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .content import Dispensing, from_batch
from .render import render_with_layouts
from .templates import LabelTemplate, TemplateSet


@dataclass(frozen=True)
class PrintResult:
    path: Path
    template: LabelTemplate
    template_sha256: str
    pdf_sha256: str
    labels: int
    record: dict
    omitted: tuple[str, ...]
    #: e.g. fewer than ``bud_warning_days`` days left before the BUD (issue 11)
    warnings: tuple[str, ...] = ()

    @property
    def reprint(self) -> bool:
        return bool(self.record.get("reprint"))

    def as_json(self) -> dict:
        return {"lot_id": self.record.get("lot_id"), "kind": self.template.kind,
                "output": str(self.path), "template": self.template.id,
                "template_version": self.template.version,
                "template_sha256": self.template_sha256, "labels": self.labels,
                "pdf_sha256": self.pdf_sha256, "reprint": self.reprint,
                "omitted_statements": list(self.omitted), "warnings": list(self.warnings)}


def check_printable(store, batch: dict, template: LabelTemplate, template_sha256: str,
                    kind: str) -> None:
    """Everything that must hold before a label of ``kind`` is printed for ``batch``.

    Issue 6: the template is of the right kind (a dispensing template for a dispensing
    label, a batch template for a batch label). Issue 7 adds batch status (released only)
    and template approval here.
    """
    if template.kind != kind:
        raise InputError(f"template: {template.id!r} is a {template.kind} label template; "
                         f"use a {kind} template", field="template")
    from ..store.signoff import check_label_printable  # issue 7: approved template, released
    check_label_printable(store, batch, template.id, template.version, template_sha256)


def default_output(cwd: Path, lot_id: str, template_id: str) -> Path:
    """``labels/<lot>-<template>.pdf`` relative to the current directory."""
    return Path(cwd) / "labels" / f"{lot_id}-{template_id}.pdf"


def print_labels(store, templates: TemplateSet, settings, lot_id: str, *, template_id: str,
                 by: str, output: Path, copies: int = 1, start_position: int = 1,
                 dispensing: Dispensing | None = None, force: bool = False) -> PrintResult:
    """Render, write and record the batch label(s) (or, with ``dispensing``, the dispensing
    label) of one stored batch.

    ``output`` is checked before any work (:func:`compounding.outputs.check_output`: never
    the database or its files, never a link, device or FIFO, an existing file only with
    ``force``). The PDF is written to a temporary name, the print recorded, then the file
    renamed into place: a failed record leaves no PDF.
    """
    from ..outputs import check_output, publish, temporary
    kind = "dispensing" if dispensing is not None else "batch"
    if not (by or "").strip():
        raise InputError("by: who prints the labels is required", field="by")
    protect = (store.path,)
    output = check_output(output, protect=protect, force=force)
    by = store.acting(by)  # issue 7: an active, unlocked (and, in the CLI, authenticated) user
    template = templates.get(template_id)
    tsha = templates.hashes[template.id]
    batch = store.get_batch(lot_id)
    check_printable(store, batch, template, tsha, kind)
    from ..bud import check_in_date  # refused past the BUD in check_printable; warn near it
    near = check_in_date(batch["bud"], store.today(), lot_id=batch["lot_id"], action="labels",
                         warn_days=settings.bud_warning_days)
    item = from_batch(batch, settings, dispensing=dispensing)
    pdf, layouts = render_with_layouts(template, [item], start_position=start_position,
                                       copies=copies)
    digest = hashlib.sha256(pdf).hexdigest()
    tmp = temporary(output, pdf)
    extra = {}
    if dispensing is not None:
        extra = {"patient": dispensing.patient, "rx_number": dispensing.rx_number,
                 "prescriber": dispensing.prescriber, "directions": dispensing.directions,
                 "dispensed_quantity": dispensing.quantity.replace("\u00a0", " ")}
    try:
        record = store.record_label_print(batch["lot_id"], kind, template.id, template.version,
                                          tsha, copies, digest, str(output), by, **extra)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    publish(tmp, output, protect=protect, force=force)
    return PrintResult(Path(output), template, tsha, digest, copies, record,
                       layouts[0].omitted, (near,) if near else ())
