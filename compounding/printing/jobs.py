"""Print jobs: a stored batch's labels rendered for a printer (ZPL or PDF) and sent, or a ZPL
file written; each recorded in the store's label print log.

Recording (issue 14: "a print that fails is recorded as failed or not at all, never as
printed"): the print is recorded and the job sent inside ONE write transaction, recorded
first and committed only after the transport has accepted every byte. A printer that cannot
be reached, refuses or times out raises :class:`PrinterError` and the transaction rolls back:
nothing is recorded. The one gap: a crash (kill -9, power) between the hand-over and the
commit leaves labels printed but not recorded (never the reverse); the command then printed
nothing, so the technician knows to check. The write lock is held for at most the printer
timeout (``timeout_seconds``, <= 120 s; the store's busy timeout is 60 s, and a default
timeout of 10 s keeps other writers waiting briefly).

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
                "warnings": list(self.warnings)}


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
    from ..outputs import check_output, publish, temporary

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
    extra = {}
    if dispensing is not None:
        extra = {"patient": dispensing.patient, "rx_number": dispensing.rx_number,
                 "prescriber": dispensing.prescriber, "directions": dispensing.directions,
                 "dispensed_quantity": dispensing.quantity.replace("\u00a0", " ")}
    common = dict(template=template, template_sha256=tsha, format=fmt, job_sha256=digest,
                  job_bytes=len(data), labels=copies, omitted=layouts[0].omitted,
                  warnings=(near,) if near else ())

    if p is None:  # a ZPL (or PDF) file: a temporary file, recorded, then renamed into place
        tmp = temporary(output, data)
        try:
            record = store.record_label_print(batch["lot_id"], kind, template.id,
                                              template.version, tsha, copies, digest,
                                              str(output), by, **extra)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        publish(tmp, output, protect=(store.path,), force=force)
        return JobResult(record=record, path=Path(output), **common)

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
    sent = None
    try:
        with store.write():
            record = store.record_label_print(
                batch["lot_id"], kind, template.id, template.version, tsha, copies, digest,
                f"printer {printer} ({p.connection})", by, **extra)
            try:
                sent = transport.send(printer, p, data, title=title, language=fmt, page=page)
            except PrinterError as exc:
                raise PrinterError(f"{exc}; {hint}", printer=printer) from None
    except PrinterError:
        raise
    except BaseException as exc:
        if sent is not None:  # handed over, but the record did not commit
            raise StoreError(f"the labels were SENT to printer {printer!r} but the print "
                             f"could NOT be recorded ({exc}); record it by hand or reprint "
                             f"when the database is writable") from None
        raise
    return JobResult(record=record, printer=printer, sent=sent.detail, **common)
