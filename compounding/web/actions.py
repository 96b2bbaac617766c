"""What the bench does, once for the pages and the JSON API: parse the typed text the way the
CLI does and call the same library function. No rule is written here.

Every function takes the :class:`~compounding.web.app.Bench`, an open store and the name of
the person acting (already authenticated by their session or API token); signatures also
take the passphrase, which the library checks again (a signature is an act, not a session).
Each returns the CLI's ``--json`` shape and raises the library's errors unchanged.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path


class _Rollback(Exception):
    """Raised inside a write transaction to undo a dry run."""


def _opt(text) -> str | None:
    """An optional form field: empty or blank means not given."""
    if text is None:
        return None
    text = str(text).strip()
    return text or None


#: The CLI's parameter type of each typed text field (``compounding.cli.params``): kind and
#: longest value. The bench and the API put what a person typed through the same normaliser
#: (:func:`compounding.text.normalize`) as the CLI, so a control, zero-width or bidi
#: character, or a 300-character value, gets the CLI's one line naming the field, and
#: nothing else reaches the store (a deviation reason of NUL and SOH was recorded).
_TEXT_KINDS = {
    "filler": ("--filler", "identifier", None),
    "component lot": ("component lot", "identifier", 40),
    "recall lot": ("component lot", "identifier", None),  # compounding recall LOT
    "lot": ("lot", "identifier", 40),
    "deviation": ("deviation", "text", None),
    "reweigh": ("reweigh", "text", None),
    "reason": ("reason", "text", None),
    "note": ("note", "text", None),
    "manufacturer": ("manufacturer", "name", None),
    "patient": ("patient", "name", None),
    "directions": ("directions", "text", None),
    "prescriber": ("prescriber", "name", None),
    "rx": ("rx", "identifier", None),
    "template": ("template", "identifier", None),
    "printer": ("printer", "identifier", None),
    "ingredient": ("ingredient", "identifier", None),
}


def typed(value, what: str) -> str | None:
    """:func:`_typed` for the pages and the API (a query parameter typed by a person)."""
    return _typed(value, what)


def _typed(value, what: str) -> str | None:
    """A typed text field as the CLI's option of that name takes it (:data:`_TEXT_KINDS`):
    normalised, or None when blank; refused with the CLI's message."""
    from ..text import normalize
    if value is None:
        return None
    field, kind, max_length = _TEXT_KINDS[what]
    return normalize(value if isinstance(value, str) else str(value), field, kind=kind,
                     required=False, max_length=max_length) or None


# ---------------------------------------------------------------- planning and batches

def _flag(value) -> bool:
    """A checkbox or JSON flag: ticked (``on``, ``true``, ``1``) or not."""
    if isinstance(value, bool):
        return value
    return _opt(value) is not None and str(value).strip().lower() in ("on", "true", "1", "yes")


def order_from(bench, formula_id: str, quantity: str, strength: str | None = None,
               filler: str | None = None, capsule_size: str | None = None,
               confirm_strength=False):
    """(formula, Order) from typed text, exactly as ``compounding batch create`` parses it.
    ``confirm_strength``: the ``--confirm-strength`` of the CLI (a strength that reads like
    the usual one in the other unit, 1.5 mcg beside 1.5 mg, is refused without it)."""
    from ..plan import Order
    formula = bench.registry.get((formula_id or "").strip())
    order = Order.from_text(formula, quantity=quantity or "", strength=_opt(strength),
                            filler=_typed(filler, "filler"), capsule_size=_opt(capsule_size),
                            confirm_strength=_flag(confirm_strength))
    return formula, order


def plan_preview(bench, formula_id: str, quantity: str, strength: str | None = None,
                 filler: str | None = None, capsule_size: str | None = None,
                 confirm_strength=False):
    """The plan (``compounding plan``) for a new batch form, before anything is stored."""
    from ..plan import make_plan
    formula, order = order_from(bench, formula_id, quantity, strength, filler, capsule_size,
                                confirm_strength)
    cals = {}
    if formula.dosage_form == "capsule":  # issue 11: as batch create, the store's calibrations
        from ..store import calibrations
        with bench.store() as store:
            cals = calibrations.current(store)
    return make_plan(formula, bench.registry.catalogue, bench.settings, order,
                     calibrations=cals)


def create_batch(bench, store, by: str, *, formula_id: str, quantity: str,
                 strength: str | None = None, filler: str | None = None,
                 capsule_size: str | None = None, storage: str | None = None,
                 component_lots: dict[str, str] | None = None,
                 confirm_strength=False) -> dict:
    """``compounding batch create`` (its ``--json`` shape)."""
    from ..errors import InputError
    formula, order = order_from(bench, formula_id, quantity, strength, filler, capsule_size,
                                confirm_strength)
    storage = _opt(storage)
    if storage is not None and storage not in ("refrigerated", "room"):
        raise InputError(f"storage: {storage!r} is not one of refrigerated, room",
                         field="storage")
    return store.create_batch(formula, bench.registry.catalogue, bench.settings, order, by=by,
                              formula_sha256=bench.registry.hashes[formula.id],
                              component_lots={k: t for k, v in (component_lots or {}).items()
                                              for t in [_typed(v, "component lot")] if t},
                              storage=storage)


def _step(step) -> int | None:
    from ..errors import InputError
    text = _opt(step)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise InputError(f"step: {text!r} is not a step number (1, 2, 3...)", field="step")
    return int(text)


def weigh(bench, store, by: str, lot: str, *, step, amount: str | None = None,
          component_lot: str | None = None, deviation_reason: str | None = None,
          reweigh_reason: str | None = None, ingredient: str | None = None,
          scan: str | None = None, balance: str | None = None, from_balance: bool = False):
    """``compounding batch weigh``: :func:`compounding.weighing.weigh`, the amount typed or
    (``from_balance``) read from the balance ``balance`` (the only one configured when not
    named). ``scan``: what the scanner typed at the container (checked before anything is
    read or recorded). Returns :class:`compounding.weighing.Weighed`."""
    from .. import units as u
    from ..errors import InputError
    from ..store import lotid
    from ..weighing import balance_names, weigh as library_weigh
    lot = lotid.validate_lot_id(lot)
    qty, name = None, None
    if from_balance:
        if _opt(amount) is not None:
            raise InputError("amount: a typed amount and a balance reading, not both; clear "
                             "the amount to read the balance", field="amount")
        name = _opt(balance)
        if name is None:
            known = balance_names(bench.settings)
            if not known:
                raise InputError("balance: no balance is configured; add a [balances.NAME] "
                                 "table to the pharmacy settings (docs/devices.md), or type "
                                 "the amount", field="balance")
            if len(known) > 1:
                raise InputError("balance: choose the balance you weighed on: "
                                 + ", ".join(known), field="balance")
            name = known[0]
    else:
        if _opt(balance) is not None:
            raise InputError("balance: only with Read balance (a typed amount names no "
                             "balance)", field="balance")
        qty = u.parse(amount if isinstance(amount, str) else "", {u.MASS, u.VOLUME},
                      field="--amount")  # the CLI's message
    return library_weigh(store, bench.settings, bench.registry.catalogue, lot, by=by,
                         step=_step(step), ingredient=_typed(ingredient, "ingredient"),
                         component_lot=_typed(component_lot, "component lot"),
                         scan_text=scan if _opt(scan) is not None else None, amount=qty,
                         balance=name, deviation_reason=_typed(deviation_reason, "deviation"),
                         reweigh_reason=_typed(reweigh_reason, "reweigh"))


def record_weighing(bench, store, by: str, lot: str, *, step, amount: str,
                    component_lot: str | None = None, deviation_reason: str | None = None,
                    reweigh_reason: str | None = None, ingredient: str | None = None,
                    scan: str | None = None) -> dict:
    """``compounding batch weigh --amount`` (its ``--json`` shape)."""
    return weigh(bench, store, by, lot, step=step, amount=amount, component_lot=component_lot,
                 deviation_reason=deviation_reason, reweigh_reason=reweigh_reason,
                 ingredient=ingredient, scan=scan).weighing


def check_scan(bench, store, lot: str, *, step, code: str) -> dict:
    """What a scan at step ``step`` of batch ``lot`` identifies, checked as the weighing will
    check it (nothing recorded): ``{"ok": true, "kind": "component" | "batch", "lot",
    "ingredient", "message"}``. Raises the CLI's refusal."""
    from ..weighing import match_step_scan
    m = match_step_scan(store, bench.registry.catalogue, bench.settings, lot,
                        code if isinstance(code, str) else "", step=_step(step))
    if m.kind == "batch":
        msg = f"batch {m.lot}'s own label: the aliquot is taken from this batch's dilution"
    else:
        msg = f"{m.ingredient} lot {m.lot} confirmed by scan"
    return {"ok": True, "kind": m.kind, "lot": m.lot, "ingredient": m.ingredient,
            "scan": m.text, "message": msg}


def check_weighing(bench, store, by: str, lot: str, *, step, amount: str,
                   component_lot: str | None = None, deviation_reason: str | None = None,
                   reweigh_reason: str | None = None, scan: str | None = None) -> dict:
    """A dry run of :func:`record_weighing`: the same rules (tolerance, lot, expiry, stock),
    inside a write transaction that is rolled back, so nothing is stored.

    Returns ``{"ok": true, "deviation_percent", "planned", "amount", "message"}`` or
    ``{"ok": false, "message"}`` with the refusal the real weighing would give.
    """
    from ..errors import CompoundingError
    from ..cli.inventory import show_amount
    result: dict = {}
    try:
        with store.write():
            w = record_weighing(bench, store, by, lot, step=step, amount=amount,
                                component_lot=component_lot,
                                deviation_reason=deviation_reason,
                                reweigh_reason=reweigh_reason, scan=scan)
            result = {"ok": True, "deviation_percent": w["deviation_percent"],
                      "planned": show_amount(w["planned_quantity"], w["planned_unit"]),
                      "amount": show_amount(w["quantity"], w["unit"]),
                      "message": f"{show_amount(w['quantity'], w['unit'])} against "
                                 f"{show_amount(w['planned_quantity'], w['planned_unit'])} "
                                 f"planned: {w['deviation_percent']}%"
                                 + (" (deviation recorded with the reason given)"
                                    if w["deviation_reason"] else " (within tolerance)")}
            raise _Rollback()
    except _Rollback:
        return result
    except CompoundingError as exc:
        return {"ok": False, "message": str(exc)}


# ---------------------------------------------------------------- labels and documents

def _output(bench, lot: str, template_id: str) -> Path:
    """A new file name for every print: a reprint never overwrites the PDF of an earlier
    print, so each recorded print keeps the exact file its SHA-256 names."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c for c in template_id if c.isascii() and (c.isalnum() or c in "-_"))
    return bench.labels_dir / f"{lot}-{safe or 'template'}-{stamp}-{secrets.token_hex(3)}.pdf"


def _int(text, field: str, default: int, low: int, high: int) -> int:
    from ..errors import InputError
    t = _opt(text)
    if t is None:
        return default
    if not t.isascii() or not t.isdigit() or not low <= int(t) <= high:
        raise InputError(f"{field}: {t!r} must be a whole number from {low} to {high}",
                         field=field)
    return int(t)


def print_labels(bench, store, by: str, lot: str, *, template_id: str | None = None,
                 copies=None, start_position=None, printer: str | None = None):
    """``compounding labels print``: to a configured printer by name (issue 14's
    :func:`~compounding.printing.jobs.print_job`), else to a PDF under the bench's labels
    folder. Returns the library's result (``as_json()`` is the CLI shape); a PDF result has
    ``path``, a printer result ``printer``."""
    from ..labeling.printing import print_labels as library_print
    from ..store import lotid
    lot = lotid.validate_lot_id(lot)
    template_id = _opt(template_id) or "batch-thermal"
    bench.templates().get(template_id)  # an unknown one is named before any file is made
    # the CLI's limits (click.IntRange(1, 10000) and min 1)
    n = _int(copies, "copies", 1, 1, 10000)
    start = _int(start_position, "start-position", 1, 1, 10000)
    printer = _opt(printer)
    if printer is not None:
        from ..printing.jobs import print_job
        return print_job(store, bench.templates(), bench.settings, lot,
                         template_id=template_id, by=by, printer=printer, copies=n,
                         start_position=start)
    return library_print(store, bench.templates(), bench.settings, lot,
                         template_id=template_id, by=by, output=_output(bench, lot, template_id),
                         copies=n, start_position=start)


def printers(bench, template_id: str | None = None) -> list[dict]:
    """The configured printers (name, language, dpi, description), the template's default
    first (``[template_printers]``)."""
    from ..printing.jobs import default_printer
    default = default_printer(bench.settings, template_id) if template_id else None
    out = [{"name": name, "language": p.language, "dpi": p.dpi,
            "description": p.description, "default": name == default}
           for name, p in sorted(bench.settings.printers.items())]
    return sorted(out, key=lambda x: not x["default"])


def dispense(bench, store, by: str, lot: str, *, patient: str, directions: str,
             prescriber: str, rx_number: str, quantity: str, template_id: str | None = None):
    """``compounding labels dispense``: the dispensing label, recorded with the patient."""
    from ..labeling.dispensing import dispensing_for
    from ..labeling.printing import print_labels as library_print
    from ..store import lotid
    lot = lotid.validate_lot_id(lot)
    template_id = _opt(template_id) or "dispensing-thermal"
    bench.templates().get(template_id)  # an unknown one is named before any file is made
    batch = store.get_batch(lot)
    disp = dispensing_for(batch, patient=_typed(patient, "patient") or "",
                          directions=_typed(directions, "directions") or "",
                          prescriber=_typed(prescriber, "prescriber") or "",
                          rx_number=_typed(rx_number, "rx") or "", quantity=quantity,
                          dispensed_on=store.today())
    return library_print(store, bench.templates(), bench.settings, lot,
                         template_id=template_id, by=by, output=_output(bench, lot, template_id),
                         dispensing=disp)


def label_preview(bench, store, lot: str, template_id: str | None = None,
                  printer: str | None = None) -> bytes:
    """A PNG of the first batch label of ``lot`` laid out and drawn as it would print, at the
    printer's dpi (the template's own without a printer). Nothing is recorded: a preview is
    not a print, and it says so in a band across it. Needs pypdfium2 and Pillow."""
    import io

    from ..errors import InputError, StoreError
    from ..labeling.content import from_batch
    from ..labeling.render import render_with_layouts
    from ..printing.jobs import get_printer
    from ..printing.zpl import template_for_dpi
    from ..store import lotid
    try:
        import pypdfium2 as pdfium
        from PIL import ImageDraw
    except ImportError:
        raise StoreError("label preview: pypdfium2 and Pillow are not installed") from None
    template = bench.templates().get(_opt(template_id) or "batch-thermal")
    if template.kind != "batch":
        raise InputError(f"template: {template.id!r} is a {template.kind} label template; the "
                         "preview shows batch labels", field="template")
    dpi = get_printer(bench.settings, printer).dpi if _opt(printer) else template.dpi
    batch = store.get_batch(lotid.validate_lot_id(lot))
    t = template_for_dpi(template, dpi)
    pdf, layouts = render_with_layouts(t, [from_batch(batch, bench.settings)])
    doc = pdfium.PdfDocument(pdf)
    try:
        img = doc[0].render(scale=dpi / 72, no_smoothtext=True, no_smoothpath=True,
                            no_smoothimage=True).to_pil().convert("RGB")
    finally:
        doc.close()
    from PIL import Image
    band = 16  # a band above the label, so nothing on the label is covered
    framed = Image.new("RGB", (img.width, img.height + band), (255, 235, 160))
    framed.paste(img, (0, band))
    ImageDraw.Draw(framed).text((4, 2), f"PREVIEW at {dpi} dpi - not a label",
                                fill=(120, 0, 0))
    out = io.BytesIO()
    framed.save(out, format="PNG")
    return out.getvalue()


def printed_pdf(store, lot: str, print_id: int | str) -> tuple[str, bytes]:
    """(file name, bytes) of a recorded label print, checked against the SHA-256 on record."""
    import hashlib
    from ..errors import NotFoundError, StoreError
    from ..store import lotid
    lot = lotid.validate_lot_id(lot)
    # the id from the URL as text: ASCII digits within SQLite's INTEGER (a 23-digit id raised
    # OverflowError, a 500 and a reset connection)
    text = str(print_id)
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    row = None if number is None else store.one(
        "SELECT * FROM label_prints WHERE id = ? AND lot_id = ?", [number, lot])
    if row is None:
        raise NotFoundError(f"no label print {print_id} for batch {lot}")
    path = Path(row["output_path"])
    try:
        data = path.read_bytes()
    except OSError:
        raise StoreError(f"the PDF of label print {print_id} ({path.name}) is no longer on "
                         "disk; print again (it will be recorded as a reprint)") from None
    if hashlib.sha256(data).hexdigest() != row["pdf_sha256"]:
        raise StoreError(f"the PDF of label print {print_id} ({path.name}) changed on disk "
                         "since it was printed (SHA-256 differs); it is not served")
    return path.name, data


def worksheet_pdf(bench, store, lot: str) -> tuple[str, bytes]:
    """``compounding batch worksheet`` as bytes (nothing written)."""
    from ..labeling.worksheet import render_worksheet
    batch = store.get_batch(lot)
    return f"{batch['lot_id']}-worksheet.pdf", render_worksheet(batch, bench.settings)


# ---------------------------------------------------------------- sign-offs

def sign(store, by: str, passphrase: str, lot: str, meaning: str,
         reason: str | None = None) -> dict:
    """verify, release, reject, quarantine or lift (a hold): the library's sign-off, which
    checks the passphrase again. Returns the CLI's ``--json`` shape."""
    from ..errors import InputError
    from ..store import signoff
    reason = _typed(reason, "reason")
    pw = passphrase if isinstance(passphrase, str) else ""
    if meaning == "verify":
        return signoff.verify_batch(store, lot, by=by, passphrase=pw)
    if meaning == "release":
        return signoff.release_batch(store, lot, by=by, passphrase=pw, reason=reason)
    if meaning in ("reject", "quarantine", "lift") and reason is None:
        raise InputError("reason: required (why the batch is "
                         + {"reject": "rejected", "quarantine": "held",
                            "lift": "released from its hold"}[meaning] + ")", field="reason")
    if meaning == "reject":
        return signoff.reject_batch(store, lot, by=by, passphrase=pw, reason=reason)
    if meaning == "quarantine":
        return signoff.quarantine_batch(store, lot, by=by, passphrase=pw, reason=reason)
    if meaning == "lift":
        return signoff.lift_hold(store, lot, by=by, passphrase=pw, reason=reason)
    raise InputError(f"signature: {meaning!r} is not one of verify, release, reject, "
                     "quarantine, lift")


def change_file(bench, kind: str, subject_id: str):
    """(version, sha256, bytes) of a formula or template file as it is on disk now."""
    from ..errors import InputError, StoreError
    from ..store.approvals import sha256_bytes
    if kind == "formula":
        reg = bench.fresh_registry()
        obj, sha, data = reg.get(subject_id), reg.hashes[subject_id], reg.contents[subject_id]
    elif kind == "template":
        ts = bench.templates()
        obj, sha = ts.get(subject_id), ts.hashes[subject_id]
        data = ts.paths[subject_id].read_bytes()
    else:
        raise InputError(f"kind: {kind!r} is not one of formula, template")
    if sha256_bytes(data) != sha:
        raise StoreError(f"{subject_id} changed while it was read; try again")
    return obj.version, sha, data


def submit(bench, store, by: str, kind: str, subject_id: str, note: str | None = None) -> dict:
    """``compounding formulas submit`` / ``labels submit`` (their ``--json`` shape)."""
    from ..shapes import submission_json
    from ..store import approvals
    version, _, data = change_file(bench, kind, subject_id)
    return submission_json(approvals.submit(store, kind, subject_id, version, data, by=by,
                                          note=_typed(note, "note")))


def approve(bench, store, by: str, passphrase: str, kind: str, subject_id: str) -> dict:
    """``compounding formulas approve`` / ``labels approve`` (their ``--json`` shape)."""
    from ..shapes import approval_json
    from ..store import approvals
    version, sha, _ = change_file(bench, kind, subject_id)
    diff = approvals.diff_to_approved(store, kind, subject_id, sha)
    result = approvals.approve(store, kind, subject_id, version, sha, by=by,
                             passphrase=passphrase if isinstance(passphrase, str) else "")
    return approval_json(result, diff)


def receive(bench, store, by: str, *, ingredient: str, lot_number: str, expires: str,
            quantity: str, potency: str | None = None, manufacturer: str | None = None):
    """``compounding inventory receive`` (its ``--json`` shape)."""
    from decimal import Decimal

    from .. import units as u
    from ..dates import parse_expiry
    from ..errors import InputError
    from ..shapes import lot_json
    ingredient = (ingredient or "").strip()
    bench.registry.ingredient(ingredient)  # unknown ingredient: one-line error
    exp = parse_expiry(expires or "", "expires")
    qty = u.parse(quantity or "", {u.MASS, u.VOLUME}, field="quantity")
    pot = Decimal("100")
    potency = _opt(potency)
    if potency is not None:
        p = u.parse(potency if potency.endswith("%") else potency + "%", u.PERCENT,
                    field="potency")
        if p.unit != "%":
            raise InputError("potency: give a plain percent such as 99.2%", field="potency")
        pot = p.value
    lot = store.receive_lot(ingredient, _typed(lot_number, "lot") or "", exp, qty, by,
                            potency_percent=pot, manufacturer=_typed(manufacturer, "manufacturer"))
    return lot_json(lot)


# ---------------------------------------------------------------- prescriptions (issue 17)

def prescription_view(store, rx_number: str) -> dict:
    """``compounding rx show`` as rows for a page: the record (``store.prescriptions.get``)
    plus ``doses`` (dose, what to measure, half dose) and ``fill_rows`` (one per fill and
    strength, with the dispensing on record or None). The text is built as ``rx show``
    prints it (units.fmt, the measure's note)."""
    from .. import units as u
    from ..rx.prescription import check_rx_number
    from ..store import prescriptions as records
    rec = records.get(store, check_rx_number(rx_number))
    doses = []
    for d in rec["plan"]["doses"]:
        m = d["measure"]
        doses.append({"dose": u.fmt(u.readable_mass(u.q(d["dose"]["amount"],
                                                        d["dose"]["unit"]))),
                      "measure": u.fmt(u.q(m["amount"]["amount"], m["amount"]["unit"])),
                      "note": m["note"], "half": d["half_text"]})
    done = {(f["fill"], f["strength"]): f for f in rec["fills"]}
    rows = []
    for f in rec["plan"]["fills"]:
        for s in f["supplies"]:
            strength = u.fmt(u.readable(u.q(s["strength"]["amount"], s["strength"]["unit"])))
            rows.append({"fill": f["fill"], "first": f["first"], "last": f["last"],
                         "days": f["days"], "strength": strength,
                         "quantity": u.fmt(u.q(s["quantity"]["amount"],
                                               s["quantity"]["unit"])),
                         "directions": s["directions"], "bud_basis": f["bud_basis"],
                         "dispensed": done.get((f["fill"], strength))})
    return {**rec, "doses": doses, "fill_rows": rows,
            "open_fills": sorted({r["fill"] for r in rows if r["dispensed"] is None})}


def chart_pdf(bench, store, rx_number: str, fill=None, page_size: str | None = None):
    """``compounding rx chart`` as (file name, PDF bytes); nothing written or recorded."""
    from ..errors import InputError
    from ..rx.chart import chart_file_name, chart_for_record, render_chart
    from ..store import prescriptions as records
    size = _opt(page_size) or "letter"
    if size not in ("letter", "a4"):
        raise InputError(f"page-size: {size!r} is not one of letter, a4", field="page_size")
    from ..rx.prescription import check_rx_number
    fill_no = _int(fill, "fill", 0, 1, 10000) or None
    rec = records.get(store, check_rx_number(rx_number))
    ph = bench.settings.pharmacy
    content = chart_for_record(rec, pharmacy_name=ph.name, pharmacy_phone=ph.phone,
                               fill_no=fill_no)
    return chart_file_name(rec["rx_number"], fill_no), render_chart(content, size)


def dispense_fill(bench, store, by: str, *, lot: str, rx_number: str, fill,
                  template_id: str | None = None, printer: str | None = None):
    """``compounding labels dispense LOT --rx RX --fill N``: the lot typed or scanned from
    the batch label, the label to a PDF under the bench's labels folder or to ``printer``;
    :func:`compounding.rx.dispensing.dispense_fill` checks and records. Returns its
    ``(result, fill record, prepared)``."""
    from ..errors import InputError
    from ..rx.dispensing import dispense_fill as library_dispense
    from ..rx.prescription import check_rx_number
    from .scan import lot_from_scan
    rx_number = check_rx_number(rx_number)
    if _opt(lot) is None:
        raise InputError("lot: scan the batch label or type its 10-digit lot ID", field="lot")
    lot_id = lot_from_scan(lot, store.today(), bench.settings.gtins.values())
    fill_no = _int(fill, "fill", 0, 1, 10000)
    if not fill_no:
        raise InputError("fill: which fill (1, 2, 3...)", field="fill")
    template_id = _opt(template_id) or "dispensing-thermal"
    printer = _opt(printer)
    return library_dispense(store, bench.templates(), bench.settings, lot_id=lot_id,
                            rx_number=rx_number, fill_no=fill_no,
                            template_id=template_id, by=by, printer=printer,
                            output=None if printer else _output(bench, lot_id, template_id))


def strength_view(rec: dict) -> dict:
    """Target strength and the strength as made from the recorded weighings (issue 11's
    :func:`~compounding.plan.as_made.as_made_strength`, the formula's strength
    tolerance); a shape for the verification screen."""
    from ..errors import CompoundingError
    from ..formulas import Formula
    from ..plan.as_made import as_made_strength, latest_recorded
    formula = Formula.model_validate(rec["formula_snapshot"])
    try:
        made = as_made_strength(rec["plan"], latest_recorded(rec["weighings"]),
                                formula.strength_tolerance.value)
    except CompoundingError as exc:
        return {"target": rec["strength"], "as_made": None, "within": None,
                "note": f"as-made strength not computed: {exc}"}
    note = None
    if not made.complete:
        note = ("not every step is weighed: steps "
                + ", ".join(map(str, made.unweighed_steps))
                + " are counted at their planned amounts")
    return {"target": rec["strength"], "as_made": made.text(), "within": made.within,
            "note": note}
