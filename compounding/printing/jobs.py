"""Print jobs: a stored batch's labels rendered for a printer (ZPL or PDF) and sent, or a ZPL
file written; each recorded in the store's label print log.

Recording (issue 14: "a print that fails is recorded as failed or not at all, never as
printed"; issue 12: "no printed label without a record"): the job is first announced in
``pending_outputs`` (committed; a dispense reserves its quantity there), then sent, then
recorded with the announcement removed in one transaction. A printer that cannot be
reached, refuses or times out raises :class:`PrinterError` and the announcement is
removed: nothing is recorded. A kill (or power loss) after the announcement leaves it in
the database; the next print (any process, :func:`compounding.store.pending.recover`)
records it as printed, marked recovered, and says so: the labels may or may not have come
out, and the conservative side is to have them on record. No write lock is held while the
printer is talked to.

The log's ``pdf_sha256`` column holds the SHA-256 of the bytes sent (ZPL or PDF) and
``output_path`` says where they went (``printer NAME (tcp://...)`` or the file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, NotFoundError, PrinterError, StoreError
from ..labeling.content import Dispensing, from_batch
from ..labeling.templates import LabelTemplate, TemplateSet
from ..labeling.printing import dispensing_json
from . import transport, zpl


@dataclass(frozen=True)
class JobResult:
    template: LabelTemplate
    template_sha256: str
    format: str                # "zpl" or "pdf"
    job_sha256: str
    job_bytes: int
    labels: int
    record: dict
    omitted: tuple[str, ...]
    printer: str | None = None  # printer name, or None for a file
    sent: str | None = None     # transport detail ('tcp://...', 'cups:q request q-3')
    path: Path | None = None    # the file written (--format zpl --output FILE)
    warnings: tuple[str, ...] = ()  # e.g. the BUD is near (issue 11)
    notes: tuple[str, ...] = ()  # what the recovery of killed prints did first (issue 12)

    @property
    def dispensing(self) -> dict | None:
        """Made, dispensed, pending and remaining of the batch after a dispensing label."""
        return self.record.get("dispensing")

    @property
    def reprint(self) -> bool:
        return bool(self.record.get("reprint"))

    def as_json(self) -> dict:
        return {"lot_id": self.record.get("lot_id"), "kind": self.template.kind,
                "printer": self.printer, "sent": self.sent,
                "output": str(self.path) if self.path else None, "format": self.format,
                "template": self.template.id, "template_version": self.template.version,
                "template_sha256": self.template_sha256, "labels": self.labels,
                "job_sha256": self.job_sha256, "job_bytes": self.job_bytes,
                "reprint": self.reprint, "omitted_statements": list(self.omitted),
                "warnings": list(self.warnings),
                **({"notes": list(self.notes)} if self.notes else {}),
                **dispensing_json(self.dispensing)}


def get_printer(settings, name: str):
    """The ``[printers.NAME]`` entry; NotFoundError listing the configured names."""
    try:
        return settings.printers[name]
    except KeyError:
        known = ", ".join(sorted(settings.printers)) or "none configured"
        raise NotFoundError(f"printer: no printer {name!r} in the settings' [printers] "
                            f"({known})", field="printer") from None


def default_printer(settings, template_id: str) -> str | None:
    """The template's default printer (``[template_printers]``), if any."""
    return settings.template_printers.get(template_id)


def render_job(template: LabelTemplate, items, fmt: str, *, dpi: int | None = None,
               copies: int = 1, start_position: int = 1):
    """(bytes, layouts) of the job: ZPL laid out at ``dpi`` or PDF (barcodes on the dot grid
    of ``dpi``; template's own dpi when None)."""
    t = zpl.template_for_dpi(template, dpi or template.dpi)
    if fmt == "zpl":
        if start_position != 1:
            raise InputError("start position: a thermal roll prints from position 1",
                             field="start_position")
        return zpl.render_zpl(t, items, copies=copies)
    from ..labeling.render import render_with_layouts
    return render_with_layouts(t, items, start_position=start_position, copies=copies)


def print_job(store, templates: TemplateSet, settings, lot_id: str, *, template_id: str,
              by: str, printer: str | None = None, output: Path | None = None,
              fmt: str | None = None, copies: int = 1, start_position: int = 1,
              dispensing: Dispensing | None = None, force: bool = False) -> JobResult:
    """Send the labels of one stored batch to ``printer`` (by name from the settings), or
    write them as ZPL to ``output``; record the print. Exactly one of printer / output.
    ``output`` is checked first like every user-named file (:mod:`compounding.outputs`;
    an existing file only with ``force``)."""
    from ..labeling.printing import check_printable
    from ..outputs import check_output

    if (printer is None) == (output is None):
        raise InputError("print: give either a printer or an output file", field="printer")
    if output is not None:
        output = check_output(output, protect=(store.path,), force=force)
    kind = "dispensing" if dispensing is not None else "batch"
    if not (by or "").strip():
        raise InputError("by: who prints the labels is required", field="by")
    by = store.acting(by)
    template = templates.get(template_id)
    tsha = templates.hashes[template.id]
    p = get_printer(settings, printer) if printer is not None else None
    if p is not None:
        if fmt is not None and fmt != p.language:
            raise InputError(f"format: printer {printer!r} takes {p.language}, not {fmt}",
                             field="format")
        fmt = p.language
    fmt = fmt or "zpl"
    if fmt not in ("zpl", "pdf"):
        raise InputError(f"format: {fmt!r} is not zpl or pdf", field="format")
    batch = store.get_batch(lot_id)
    check_printable(store, batch, template, tsha, kind)  # refused past the BUD (issue 11)
    from ..bud import check_in_date  # the same warning near the BUD as a PDF print
    near = check_in_date(batch["bud"], store.today(), lot_id=batch["lot_id"], action="labels",
                         warn_days=settings.bud_warning_days)
    item = from_batch(batch, settings, dispensing=dispensing)
    data, layouts = render_job(template, [item], fmt, dpi=p.dpi if p else None,
                               copies=copies, start_position=start_position)
    digest = hashlib.sha256(data).hexdigest()
    from ..labeling.printing import dispensing_record, write_recorded
    from ..store import pending
    record = dict(kind=kind, template_id=template.id, template_version=template.version,
                  template_sha256=tsha, copies=copies, **dispensing_record(dispensing))
    common = dict(template=template, template_sha256=tsha, format=fmt, job_sha256=digest,
                  job_bytes=len(data), labels=copies, omitted=layouts[0].omitted,
                  warnings=(near,) if near else ())

    if p is None:  # a ZPL (or PDF) file: announced, written, recorded, renamed (issue 12)
        row = write_recorded(store, lot_id=batch["lot_id"], output=output, data=data,
                             digest=digest, by=by, record=record, force=force)
        return JobResult(record=row, path=Path(row["output_path"]),
                         notes=tuple(row["notes"]), **common)

    notes = tuple(pending.recover(store))
    hint = (f"nothing was recorded; to get the label as a file instead use "
            f"`--output FILE.pdf` (or `--format zpl --output FILE.zpl`)")
    if p.transport == "tcp" and p.language == "zpl" and p.check_status:
        try:
            st = transport.query_status(printer, p)
        except PrinterError as exc:
            raise PrinterError(f"{exc}; {hint}", printer=printer) from None
        if st.problems():
            raise PrinterError(f"printer {printer!r} ({p.connection}) is not ready: "
                               f"{', '.join(st.problems())}; {hint}", printer=printer)
    title = f"{batch['lot_id']} {template.id} x{copies}"
    page = template.stock.page_size
    where = f"printer {printer} ({p.connection})"
    # issue 12: announce the job (a dispense reserves its quantity), send, then record it
    # and forget the announcement in one transaction; a kill after the send leaves the
    # announcement, which the next print records as printed (store/pending.py)
    pid = pending.begin(store, lot_id=batch["lot_id"], target="printer", output_path=where,
                        temp_path=None, sha256=digest, by=by,
                        record={"lot_id": batch["lot_id"], "pdf_sha256": digest,
                                "output_path": where, "by": by, **record})
    pending.kill_point("reserved")
    try:
        sent = transport.send(printer, p, data, title=title, language=fmt, page=page)
    except BaseException as exc:
        pending.abandon(store, pid)
        if isinstance(exc, PrinterError):
            raise PrinterError(f"{exc}; {hint}", printer=printer) from None
        raise
    pending.kill_point("sent")
    try:
        with store.write():
            row = store.record_label_print(batch["lot_id"], pdf_sha256=digest,
                                           output_path=where, by=by, pending_id=pid, **record)
            store.execute("DELETE FROM pending_outputs WHERE id = ?", [pid])
    except BaseException as exc:
        raise StoreError(f"the labels were SENT to printer {printer!r} but the print "
                         f"could not be recorded yet ({exc}); the next print records it "
                         "(it stays announced in the database)") from None
    return JobResult(record=row, printer=printer, sent=sent.detail, notes=notes, **common)
