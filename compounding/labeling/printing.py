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
    #: what the recovery of killed prints did first (issue 12), one line each
    notes: tuple[str, ...] = ()

    @property
    def dispensing(self) -> dict | None:
        """Made, dispensed, pending and remaining of the batch after a dispensing label."""
        return self.record.get("dispensing")

    @property
    def reprint(self) -> bool:
        return bool(self.record.get("reprint"))

    def as_json(self) -> dict:
        return {"lot_id": self.record.get("lot_id"), "kind": self.template.kind,
                "output": str(self.path), "template": self.template.id,
                "template_version": self.template.version,
                "template_sha256": self.template_sha256, "labels": self.labels,
                "pdf_sha256": self.pdf_sha256, "reprint": self.reprint,
                "omitted_statements": list(self.omitted), "warnings": list(self.warnings),
                **({"notes": list(self.notes)} if self.notes else {}),
                **dispensing_json(self.dispensing)}


def dispensing_json(totals: dict | None) -> dict:
    if not totals:
        return {}
    from .. import units as u
    return {"batch_made": u.fmt(totals["made"]), "batch_dispensed": u.fmt(totals["dispensed"]),
            "batch_remaining": u.fmt(totals["remaining"])}


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
                 dispensing: Dispensing | None = None, force: bool = False,
                 also_record=None) -> PrintResult:
    """Render, write and record the batch label(s) (or, with ``dispensing``, the dispensing
    label) of one stored batch.

    ``output`` is checked before any work (:func:`compounding.outputs.check_output`: never
    the database or its files, never a link, device or FIFO, an existing file only with
    ``force``). The PDF is written to a temporary name, the print recorded, then the file
    renamed into place: a failed record leaves no PDF.
    """
    from ..outputs import check_output
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
    record = write_recorded(store, lot_id=batch["lot_id"], output=output, data=pdf,
                            digest=digest, by=by, force=force, also_record=also_record,
                            record=dict(kind=kind, template_id=template.id,
                                        template_version=template.version,
                                        template_sha256=tsha, copies=copies,
                                        **dispensing_record(dispensing)))
    return PrintResult(Path(record["output_path"]), template, tsha, digest, copies, record,
                       layouts[0].omitted, (near,) if near else (),
                       tuple(record.get("notes", ())))


def dispensing_record(dispensing: Dispensing | None) -> dict:
    """The dispensing columns of a label print record (empty for a batch label)."""
    if dispensing is None:
        return {}
    out = {"patient": dispensing.patient, "rx_number": dispensing.rx_number,
           "prescriber": dispensing.prescriber, "directions": dispensing.directions,
           "dispensed_quantity": dispensing.quantity.replace("\u00a0", " ")}
    if dispensing.fill:
        out["fill"] = dispensing.fill
        if dispensing.reprint:
            out["fill_reprint"] = True
    return out


def write_recorded(store, *, lot_id: str, output: Path, data: bytes, digest: str, by: str,
                   record: dict, force: bool = False, also_record=None) -> dict:
    """Write ``data`` to ``output`` and record the print so that the file and its record
    exist together or not at all, whatever the kill point (issue 12 part 2; the steps and
    the recovery are in :mod:`compounding.store.pending`). ``record``: the keyword
    arguments of ``record_label_print`` besides lot, SHA-256, path and person;
    ``also_record(record)`` writes more in the same transaction (a prescription fill).
    Returns the ``label_prints`` row plus ``"notes"`` (recovery lines, a moved file)."""
    from ..outputs import publish, temp_name, temporary
    from ..store import pending
    notes = list(pending.recover(store))
    protect = (store.path,)
    tmp = temp_name(output, recorded=True)
    pid = pending.begin(store, lot_id=lot_id, target="file", output_path=str(output),
                        temp_path=str(tmp), sha256=digest, by=by,
                        record={"lot_id": lot_id, "pdf_sha256": digest,
                                "output_path": str(output), "by": by, **record})
    pending.kill_point("reserved")
    try:
        temporary(output, data, tmp=tmp)
        pending.kill_point("written")
        with store.write():
            row = store.record_label_print(lot_id, pdf_sha256=digest, output_path=str(output),
                                           by=by, pending_id=pid, **record)
            if also_record is not None:
                also_record(row)
            pending.recorded(store, pid, row["id"])
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        pending.abandon(store, pid)
        raise
    pending.kill_point("recorded")
    try:
        publish(tmp, output, protect=protect, force=force)
    except InputError:  # the name was taken meanwhile: the recorded file is kept beside it
        placed = pending.place_recorded_file(Path(tmp), Path(output), row["id"])
        notes.append(f"Warning: {output} appeared while the label was printed; the recorded "
                     f"PDF (print #{row['id']}) is at {placed}")
        row["output_path"] = str(placed)
    pending.kill_point("renamed")
    pending.finish(store, pid)
    row["notes"] = notes
    return row
