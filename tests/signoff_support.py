"""Helpers for tests that need users, approved formulas and templates, released batches.

Every test user has the passphrase ``PASS``; CLI tests pass it in ``ENV``
(``COMPOUNDING_PASSPHRASE``). ``pharm`` (pharmacist) is the first user; ``phil`` is a
second pharmacist (the author of the shipped formulas and templates, approved by ``pharm``);
every other name is a technician.
"""

from __future__ import annotations

from pathlib import Path

from compounding.formulas import Registry
from compounding.store import Store, signoff

ROOT = Path(__file__).resolve().parent.parent
PASS = "correct horse battery"
ENV = {"COMPOUNDING_PASSPHRASE": PASS, "COMPOUNDING_NEW_PASSPHRASE": PASS}
PHARMACISTS = ("pharm", "phil")


def add_users(store: Store, *technicians: str) -> None:
    """Add pharm and phil (pharmacists) and the named technicians, if not there yet."""
    for name in ("pharm", "phil", *technicians):
        if signoff.get_user(store, name) is not None:
            continue
        role = "pharmacist" if name in PHARMACISTS else "technician"
        first = signoff.get_user(store, "pharm") is None
        signoff.add_user(store, name, role, PASS, by=None if first else "pharm",
                         by_passphrase=None if first else PASS)


def approve_formulas(store: Store, reg: Registry | None = None) -> None:
    """phil submits and pharm approves every formula of ``reg`` (default: the shipped)."""
    reg = reg or Registry.load(ROOT / "formulas")
    add_users(store)
    for fid, f in reg.formulas.items():
        sha = reg.hashes[fid]
        if signoff.approval_state(store, "formula", fid, f.version, sha)["state"] == "approved":
            continue
        if signoff.approval_state(store, "formula", fid, f.version, sha)["submission"] is None:
            signoff.submit(store, "formula", fid, f.version, reg.contents[fid],
                           by="phil")
        signoff.approve(store, "formula", fid, f.version, sha, by="pharm", passphrase=PASS)


def approve_templates(store: Store, directory: Path | None = None) -> None:
    from compounding.labeling.templates import load_templates
    ts = load_templates(directory or ROOT / "templates")
    add_users(store)
    for tid, t in ts.templates.items():
        sha = ts.hashes[tid]
        state = signoff.approval_state(store, "template", tid, t.version, sha)
        if state["state"] == "approved":
            continue
        if state["submission"] is None:
            signoff.submit(store, "template", tid, t.version, ts.paths[tid].read_bytes(),
                           by="phil")
        signoff.approve(store, "template", tid, t.version, sha, by="pharm", passphrase=PASS)


def setup_db(path, *technicians: str, templates: bool = False) -> None:
    """Users and approved formulas (and templates) in the database file at ``path``."""
    store = Store.open(path)
    try:
        add_users(store, *technicians)
        approve_formulas(store)
        if templates:
            approve_templates(store)
    finally:
        store.close()


def weigh_all(store: Store, lot: str, by: str) -> None:
    """Record every pending plan step of ``lot`` exactly as planned."""
    from compounding import units as u
    rec = store.get_batch(lot)
    for s in rec["steps"]:
        if s["step"] in rec["steps_pending"]:
            store.record_weighing(lot, step=s["step"], amount=u.q(s["quantity"], s["unit"]),
                                  by=by)


def release(store: Store, lot: str, by: str = "pharm") -> None:
    """Weigh what is pending (as 'ana'), verify and release ``lot`` (pharmacist ``by``)."""
    add_users(store, "ana")
    weigh_all(store, lot, "ana")
    result = signoff.verify_batch(store, lot, by=by, passphrase=PASS)
    assert result["passed"], result["checks"]
    signoff.release_batch(store, lot, by=by, passphrase=PASS)


def release_db(path, lot: str, by: str = "pharm") -> None:
    store = Store.open(path)
    try:
        release(store, lot, by)
    finally:
        store.close()
