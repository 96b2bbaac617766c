"""The first run: the whole workflow, on a clearly marked sample database, in one command.

``compounding quickstart`` creates a new sample database (never an existing file), a sample
pharmacy settings file, a technician and a pharmacist, receives sample component lots,
has the technician submit and the pharmacist approve the four formulas and the label
templates, then makes, weighs, verifies and releases one batch of each formula (capsules at
0.1 mcg and at 1.5 mg), and prints their batch labels and worksheets.

Everything goes through the same library calls the CLI uses (plan, BUD, store, sign-off,
labels): the sample is the real workflow, not a mock of it. Weighings are recorded at
exactly the planned amounts, which a real compounding record would not show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from . import units as u
from .dates import add_months
from .errors import InputError

SAMPLE_DB = "compounding-sample.db"
SAMPLE_SETTINGS = "compounding-sample.toml"

#: Sample people. The passphrases are printed: they protect sample data only.
PHARMACIST = ("pat", "pharmacist", "Pat Pharmacist (SAMPLE)", "sample-pharmacist")
TECHNICIAN = ("tess", "technician", "Tess Technician (SAMPLE)", "sample-technician")

SETTINGS_TEXT = """\
# SAMPLE pharmacy settings written by `compounding quickstart`. Not a real pharmacy.
# Copy pharmacy.example.toml for your own; see README "Pharmacy settings".
bud_policy = "usp795"
compounded_statement = "Compounded preparation"

[pharmacy]
name = "SAMPLE Compounding Pharmacy"
address = "1 Example Street, Springfield"
phone = "(555) 010-0100"

[balance]
min_weighable = "120 mg"
readability = "1 mg"

[gtins]
# A sample GTIN (valid check digit) so the capsule labels show a GS1 DataMatrix.
ldn-capsules = "00312345678906"
"""

#: (ingredient, supplier lot, manufacturer, quantity, potency, months to expiry)
LOTS = [
    ("naltrexone-hcl", "SAMPLE-NX-2401", "Medisca (sample)", "25 g", "99.4%", 20),
    ("microcrystalline-cellulose", "SAMPLE-MCC-118", "FMC (sample)", "2000 g", None, 30),
    ("ascorbic-acid", "SAMPLE-ASC-07", "Spectrum (sample)", "100 g", None, 24),
    ("sodium-benzoate", "SAMPLE-SB-33", "Spectrum (sample)", "100 g", None, 24),
    ("glycerol", "SAMPLE-GLY-9", "PCCA (sample)", "1000 g", None, 24),
    ("lactose-monohydrate", "SAMPLE-LAC-5", "PCCA (sample)", "500 g", None, 30),
    ("purified-water", "SAMPLE-PW-1125", "in-house (sample)", "5000 mL", None, 3),
    ("cream-base-preserved", "SAMPLE-CB-61", "PCCA (sample)", "2000 g", None, 18),
]

#: (formula id, order options) for the sample batches.
BATCHES = [
    ("ldn-capsules", dict(quantity="100", strength="0.1 mcg")),
    ("ldn-capsules", dict(quantity="90", strength="1.5 mg")),
    ("ldn-oral-liquid", dict(quantity="100 mL")),
    ("ldn-sublingual-drops", dict(quantity="30 mL", strength="1 mg/mL")),
    ("ldn-cream", dict(quantity="60 g", strength="1 mg/g")),
]

BATCH_TEMPLATE = "batch-thermal"


@dataclass
class Made:
    lot_id: str
    formula_id: str
    strength: str
    quantity: str
    bud: str
    status: str
    files: list = field(default_factory=list)


@dataclass
class Result:
    db_path: Path
    settings_path: Path
    batches: list
    files: list


def free_name(directory: Path, name: str) -> Path:
    """``name`` in ``directory``, or ``stem-2.suffix``... if taken: never an existing file."""
    path = Path(directory) / name
    stem, suffix = path.stem, path.suffix
    n = 2
    while path.exists() or Path(str(path) + "-wal").exists():
        path = path.with_name(f"{stem}-{n}{suffix}")
        n += 1
    return path


def submit_and_approve_all(store, registry, templates, *, author: str, approver: str,
                           passphrase: str, note: str | None = None) -> None:
    """Every formula and template as it is now: ``author`` submits, ``approver`` signs.

    For samples and benchmarks only: a real pharmacy reviews each one (`formulas approve`).
    """
    from .store import approvals

    for fid, f in registry.formulas.items():
        approvals.submit(store, "formula", fid, f.version, registry.contents[fid], by=author,
                       note=note)
        approvals.approve(store, "formula", fid, f.version, registry.hashes[fid], by=approver,
                        passphrase=passphrase)
    for tid, t in templates.templates.items():
        approvals.submit(store, "template", tid, t.version, templates.paths[tid].read_bytes(),
                       by=author, note=note)
        approvals.approve(store, "template", tid, t.version, templates.hashes[tid], by=approver,
                        passphrase=passphrase)


def steps(n_batches: int = len(BATCHES)) -> list[str]:
    """The named steps, for a progress bar."""
    return (["users", "lots", "approvals"]
            + [f"batch {i + 1}" for i in range(n_batches)])


def run(db_path: Path, settings_path: Path, labels_dir: Path, registry, templates_dir: Path,
        today: date, progress=lambda name: None) -> Result:
    """Build the sample. ``db_path`` and ``settings_path`` must not exist yet."""
    from .labeling.printing import print_labels
    from .labeling.templates import load_templates
    from .labeling.worksheet import render_worksheet
    from .outputs import write_output
    from .plan import Order
    from .settings import load_settings
    from .store import Store
    from .store import signoff, users

    for p in (db_path, settings_path):
        if Path(p).exists():
            raise InputError(f"{p} exists; the quickstart never touches an existing file")
    write_output(settings_path, SETTINGS_TEXT.encode("utf-8"), field="settings")
    settings = load_settings(settings_path)
    templates = load_templates(templates_dir)
    store = Store.open(db_path)
    files: list[Path] = []
    made: list[Made] = []
    try:
        # 1. People: the first user must be a pharmacist; the pharmacist signs for the next.
        ph_name, ph_role, ph_full, ph_pass = PHARMACIST
        te_name, te_role, te_full, te_pass = TECHNICIAN
        users.add_user(store, ph_name, ph_role, ph_pass, full_name=ph_full)
        users.add_user(store, te_name, te_role, te_pass, full_name=te_full, by=ph_name,
                         by_passphrase=ph_pass)
        progress("users")

        # 2. Stock, received by the technician.
        for ing, lot, maker, qty, potency, months in LOTS:
            store.receive_lot(ing, lot, add_months(today, months),
                              u.parse(qty, {u.MASS, u.VOLUME}), by=te_name,
                              potency_percent=u.parse_percent(potency) if potency
                              else Decimal("100"), manufacturer=maker, today=today)
        progress("lots")

        # 3. Change control: the technician submits, the pharmacist (not the author) approves.
        submit_and_approve_all(store, registry, templates, author=te_name, approver=ph_name,
                               passphrase=ph_pass, note="sample")
        progress("approvals")

        # 4. One batch of each formula: create, weigh, verify, release, print.
        for i, (fid, opts) in enumerate(BATCHES):
            f = registry.get(fid)
            order = Order.from_text(f, **opts)
            rec = store.create_batch(f, registry.catalogue, settings, order, by=te_name,
                                     formula_sha256=registry.hashes[fid], component_lots={},
                                     storage=None, compounded=today)
            lot_id = rec["lot_id"]
            for s in store.batch_steps(lot_id):
                store.record_weighing(lot_id, amount=u.q(s["quantity"], s["unit"]),
                                      by=te_name, step=s["step"], today=today)
            signoff.verify_batch(store, lot_id, by=ph_name, passphrase=ph_pass)
            signoff.release_batch(store, lot_id, by=ph_name, passphrase=ph_pass)
            out = free_name(labels_dir, f"{lot_id}-{BATCH_TEMPLATE}.pdf")
            printed = print_labels(store, templates, settings, lot_id,
                                   template_id=BATCH_TEMPLATE, by=te_name, output=out)
            ws = free_name(labels_dir, f"{lot_id}-worksheet.pdf")
            write_output(ws, render_worksheet(store.get_batch(lot_id), settings),
                         protect=(db_path,))
            b = store.get_batch(lot_id)
            made.append(Made(lot_id, fid, b["strength"], b["quantity"], b["bud"], b["status"],
                             [printed.path, ws]))
            files += [printed.path, ws]
            progress(f"batch {i + 1}")
    finally:
        store.close()
    return Result(Path(db_path), Path(settings_path), made, files)
