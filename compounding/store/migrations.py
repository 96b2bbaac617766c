"""The database schema as append-only migrations (applied with ``sqlite_utils.Migrations``).

Rules for whoever adds to this file (issue 7 adds users and sign-offs here):
- never edit or reorder a function below once released; append a new one;
- one function per step; ``Migrations.apply`` runs each in its own transaction (and the
  store wraps the whole pending set in one ``BEGIN IMMEDIATE`` so two processes opening a
  fresh database cannot both migrate it);
- plain SQL is used (not ``table.create``) because the schema relies on CHECK constraints
  and triggers, which are what make history immutable even for a script writing raw SQL.

Amounts are exact decimal strings (``TEXT``) in the unit named beside them: SQLite has no
decimal type and a REAL would turn 0.1 mg into 0.1000000000000000055 mg. The views convert
to numbers (``CAST ... AS REAL``, rounded to 6 places) for inventory scripts; the store
itself always computes with ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: The migration set's name in ``_sqlite_migrations``.
SET_NAME = "compounding"


@dataclass(frozen=True)
class Migration:
    name: str
    fn: Callable
    transactional: bool = True


class MigrationSet:
    """The migration functions, in the order they are registered (``@migrations()``, as
    with ``sqlite_utils.Migrations``), and the ``sqlite_utils.Migrations`` that applies them,
    made only when something is applied.

    Issue 18: opening a store that is up to date needs the names only (and which are
    applied, one query in :mod:`.sqlite`), so a command that opens the store never imports
    sqlite-utils (a fixed cost of about a third of a label print's).
    """

    def __init__(self, name: str):
        self.name = name
        self.registered: list[Migration] = []
        self._applier = None

    def __call__(self, *, name: str | None = None, transactional: bool = True):
        def register(fn):
            migration = Migration(name or fn.__name__, fn, transactional)
            if any(m.name == migration.name for m in self.registered):
                raise ValueError(f"migration {migration.name!r} is registered twice")
            self.registered.append(migration)
            return fn
        return register

    def names(self) -> list[str]:
        return [m.name for m in self.registered]

    def applier(self):
        """The ``sqlite_utils.Migrations`` holding these migrations, in order."""
        if self._applier is None:
            from sqlite_utils import Migrations

            applier = Migrations(self.name)
            for m in self.registered:
                applier(name=m.name, transactional=m.transactional)(m.fn)
            self._applier = applier
        return self._applier

    def apply(self, db, **kwargs) -> None:
        """Apply the pending migrations to ``db`` (the store's connection or a sqlite-utils
        ``Database``), each in its own savepoint inside the caller's transaction;
        ``sqlite_utils.Migrations.apply``'s keywords (``stop_before``)."""
        from .sqlite_scripts import utils_database

        self.applier().apply(utils_database(db), **kwargs)


migrations = MigrationSet(SET_NAME)

GENESIS_HASH = "0" * 64


def _decimal(col: str, positive: bool = True) -> str:
    """CHECK that ``col`` holds a plain non-negative decimal numeral (``12``, ``0.5``)."""
    sign = ">" if positive else ">="
    return (f"CHECK ({col} GLOB '[0-9]*' AND {col} NOT GLOB '*[^0-9.]*' "
            f"AND {col} NOT GLOB '*.*.*' AND {col} NOT GLOB '*.' "
            f"AND CAST({col} AS REAL) {sign} 0)")


def append_only(table: str) -> str:
    """The two triggers that make ``table`` append-only (no UPDATE, no DELETE), each with
    the message a refused write gets. The SQL every migration has used since m002."""
    return f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: a record cannot be changed'); END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: a record cannot be deleted'); END;"""


def _date(col: str) -> str:
    return f"CHECK ({col} GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]')"


def _utc(col: str) -> str:
    return (f"CHECK ({col} GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T"
            f"[0-2][0-9]:[0-5][0-9]:[0-6][0-9]*Z')")


def _json(col: str) -> str:
    return f"CHECK (json_valid({col}))"


def _text(col: str) -> str:
    return f"CHECK (length(trim({col})) > 0)"


STATUSES = ("planned", "compounded", "released", "rejected", "quarantine")


@migrations()
def m001_records(db):
    """Component lots, receipts, lot IDs, batches, planned components, weighings,
    label prints and the audit log."""
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    db.executescript(f"""
CREATE TABLE component_lots (
    id INTEGER PRIMARY KEY,
    ingredient TEXT NOT NULL {_text('ingredient')},
    lot_number TEXT NOT NULL {_text('lot_number')},
    manufacturer TEXT,
    expires TEXT NOT NULL {_date('expires')},
    potency_percent TEXT NOT NULL DEFAULT '100' {_decimal('potency_percent')}
        CHECK (CAST(potency_percent AS REAL) <= 110),
    unit TEXT NOT NULL CHECK (unit IN ('mg', 'mL')),
    created_by TEXT NOT NULL {_text('created_by')},
    created_at TEXT NOT NULL {_utc('created_at')},
    UNIQUE (ingredient, lot_number)
);
CREATE TABLE lot_receipts (
    id INTEGER PRIMARY KEY,
    component_lot_id INTEGER NOT NULL REFERENCES component_lots(id),
    quantity TEXT NOT NULL {_decimal('quantity')},
    received_as TEXT NOT NULL,
    received_by TEXT NOT NULL {_text('received_by')},
    received_at TEXT NOT NULL {_utc('received_at')}
);
CREATE INDEX lot_receipts_lot ON lot_receipts(component_lot_id);
CREATE TABLE lot_ids (
    lot_id TEXT PRIMARY KEY CHECK (length(lot_id) = 10 AND lot_id NOT GLOB '*[^0-9]*'),
    day TEXT NOT NULL {_date('day')},
    seq INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 999),
    allocated_by TEXT NOT NULL {_text('allocated_by')},
    allocated_at TEXT NOT NULL {_utc('allocated_at')},
    UNIQUE (day, seq)
);
CREATE TABLE batches (
    lot_id TEXT PRIMARY KEY REFERENCES lot_ids(lot_id),
    formula_id TEXT NOT NULL,
    formula_version INTEGER NOT NULL,
    formula_sha256 TEXT NOT NULL CHECK (length(formula_sha256) = 64),
    formula_snapshot TEXT NOT NULL {_json('formula_snapshot')},
    catalogue_snapshot TEXT NOT NULL {_json('catalogue_snapshot')},
    dosage_form TEXT NOT NULL,
    strength TEXT NOT NULL,
    quantity TEXT NOT NULL,
    units_made TEXT NOT NULL,
    order_json TEXT NOT NULL {_json('order_json')},
    plan_json TEXT NOT NULL {_json('plan_json')},
    plan_text TEXT NOT NULL,
    storage TEXT NOT NULL CHECK (storage IN ('refrigerated', 'room')),
    compounded_on TEXT NOT NULL {_date('compounded_on')},
    bud TEXT NOT NULL {_date('bud')} CHECK (bud >= compounded_on),
    bud_json TEXT NOT NULL {_json('bud_json')},
    status TEXT NOT NULL DEFAULT 'planned' CHECK (status IN ({statuses})),
    compounded_by TEXT NOT NULL {_text('compounded_by')},
    created_at TEXT NOT NULL {_utc('created_at')}
);
CREATE INDEX batches_status ON batches(status);
CREATE TABLE batch_components (
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    ingredient TEXT NOT NULL,
    component_lot_id INTEGER NOT NULL REFERENCES component_lots(id),
    planned_quantity TEXT NOT NULL {_decimal('planned_quantity', positive=False)},
    unit TEXT NOT NULL CHECK (unit IN ('mg', 'mL')),
    chosen TEXT NOT NULL CHECK (chosen IN ('named', 'earliest-expiry')),
    PRIMARY KEY (lot_id, ingredient)
);
CREATE INDEX batch_components_lot ON batch_components(component_lot_id);
CREATE TABLE batch_steps (
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    step INTEGER NOT NULL CHECK (step >= 1),
    what TEXT NOT NULL,
    ingredient TEXT,
    quantity TEXT NOT NULL {_decimal('quantity', positive=False)},
    unit TEXT NOT NULL,
    PRIMARY KEY (lot_id, step)
);
CREATE TABLE weighings (
    id INTEGER PRIMARY KEY,
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    step INTEGER NOT NULL CHECK (step >= 1),
    what TEXT NOT NULL,
    ingredient TEXT,
    component_lot_id INTEGER REFERENCES component_lots(id),
    planned_quantity TEXT NOT NULL {_decimal('planned_quantity', positive=False)},
    planned_unit TEXT NOT NULL,
    quantity TEXT NOT NULL {_decimal('quantity')},
    unit TEXT NOT NULL,
    consumed_quantity TEXT {_decimal('consumed_quantity')},
    deviation_percent TEXT NOT NULL,
    deviation_reason TEXT,
    reweigh_reason TEXT,
    weighed_by TEXT NOT NULL {_text('weighed_by')},
    weighed_at TEXT NOT NULL {_utc('weighed_at')},
    CHECK ((component_lot_id IS NULL) = (ingredient IS NULL)),
    CHECK ((component_lot_id IS NULL) = (consumed_quantity IS NULL))
);
CREATE INDEX weighings_batch ON weighings(lot_id, step);
CREATE INDEX weighings_component_lot ON weighings(component_lot_id);
CREATE TABLE label_prints (
    id INTEGER PRIMARY KEY,
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    kind TEXT NOT NULL {_text('kind')},
    template_id TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    template_sha256 TEXT NOT NULL CHECK (length(template_sha256) = 64),
    copies INTEGER NOT NULL CHECK (copies >= 1),
    pdf_sha256 TEXT NOT NULL CHECK (length(pdf_sha256) = 64),
    output_path TEXT NOT NULL,
    reprint INTEGER NOT NULL CHECK (reprint IN (0, 1)),
    patient TEXT,
    rx_number TEXT,
    prescriber TEXT,
    directions TEXT,
    dispensed_quantity TEXT,
    printed_by TEXT NOT NULL {_text('printed_by')},
    printed_at TEXT NOT NULL {_utc('printed_at')}
);
CREATE INDEX label_prints_batch ON label_prints(lot_id, kind);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL {_utc('at')},
    actor TEXT NOT NULL {_text('actor')},
    action TEXT NOT NULL {_text('action')},
    lot_id TEXT,
    details TEXT NOT NULL {_json('details')},
    prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64)
);
CREATE INDEX audit_log_lot ON audit_log(lot_id);
CREATE TABLE batch_status_history (
    id INTEGER PRIMARY KEY,
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
""")


#: Tables whose rows can never be changed or deleted once written.
APPEND_ONLY = ("component_lots", "lot_receipts", "lot_ids", "batch_components", "batch_steps",
               "weighings",
               "label_prints", "audit_log", "batch_status_history")

#: Columns of ``batches`` that may still change after the record is created (all others are
#: fixed): the status (sign-off workflow) and the BUD (recomputed from the lots weighed).
BATCH_MUTABLE = ("status", "bud", "bud_json")

BATCH_COLUMNS = ("lot_id", "formula_id", "formula_version", "formula_sha256",
                 "formula_snapshot", "catalogue_snapshot", "dosage_form", "strength",
                 "quantity", "units_made", "order_json", "plan_json", "plan_text", "storage",
                 "compounded_on", "bud", "bud_json", "status", "compounded_by", "created_at")


@migrations()
def m002_immutability_triggers(db):
    """History cannot be rewritten, even with plain SQL: UPDATE and DELETE are refused on
    every record table; a batch keeps its identity, formula snapshot and plan forever."""
    sql = []
    sql += [append_only(table) for table in APPEND_ONLY]
    fixed = [c for c in BATCH_COLUMNS if c not in BATCH_MUTABLE]
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in fixed)
    sql.append(f"""
CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
BEGIN SELECT RAISE(ABORT, 'batches: a compounding record cannot be deleted'); END;
CREATE TRIGGER batches_fixed_columns BEFORE UPDATE ON batches
WHEN {changed}
BEGIN SELECT RAISE(ABORT, 'batches: only status and BUD may change; the record is fixed'); END;
CREATE TRIGGER batches_final_bud BEFORE UPDATE OF bud, bud_json ON batches
WHEN OLD.status IN ('released', 'rejected')
     AND (NEW.bud IS NOT OLD.bud OR NEW.bud_json IS NOT OLD.bud_json)
BEGIN SELECT RAISE(ABORT, 'batches: the BUD of a released or rejected batch is final'); END;
CREATE TRIGGER batches_rejected_final BEFORE UPDATE OF status ON batches
WHEN OLD.status = 'rejected' AND NEW.status IS NOT OLD.status
BEGIN SELECT RAISE(ABORT, 'batches: a rejected batch stays rejected'); END;
CREATE TRIGGER batches_status_history AFTER UPDATE OF status ON batches
WHEN NEW.status IS NOT OLD.status
BEGIN
    INSERT INTO batch_status_history (lot_id, old_status, new_status, changed_at)
    VALUES (NEW.lot_id, OLD.status, NEW.status, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
CREATE TRIGGER batches_lot_id_allocated BEFORE INSERT ON batches
WHEN NEW.lot_id NOT IN (SELECT lot_id FROM lot_ids)
     OR NEW.lot_id IN (SELECT lot_id FROM batches)
BEGIN SELECT RAISE(ABORT, 'batches: the lot ID must be freshly allocated (lot_ids)'); END;
CREATE TRIGGER weighings_rules BEFORE INSERT ON weighings
BEGIN
    SELECT RAISE(ABORT, 'weighings: the batch is not open for weighing')
    WHERE (SELECT status FROM batches WHERE lot_id = NEW.lot_id)
          NOT IN ('planned', 'compounded');
    SELECT RAISE(ABORT, 'weighings: no such step in the batch plan')
    WHERE NOT EXISTS (SELECT 1 FROM batch_steps
                      WHERE lot_id = NEW.lot_id AND step = NEW.step
                        AND ingredient IS NEW.ingredient);
    SELECT RAISE(ABORT, 'weighings: the component lot is of another ingredient')
    WHERE NEW.component_lot_id IS NOT NULL AND NEW.ingredient IS NOT
          (SELECT ingredient FROM component_lots WHERE id = NEW.component_lot_id);
    SELECT RAISE(ABORT, 'weighings: the component lot had expired when weighed')
    WHERE NEW.component_lot_id IS NOT NULL AND substr(NEW.weighed_at, 1, 10) >
          (SELECT expires FROM component_lots WHERE id = NEW.component_lot_id);
    SELECT RAISE(ABORT, 'weighings: this step is already weighed; a re-weigh needs a reason')
    WHERE NEW.reweigh_reason IS NULL AND EXISTS
          (SELECT 1 FROM weighings WHERE lot_id = NEW.lot_id AND step = NEW.step);
END;
CREATE TRIGGER label_prints_reprint BEFORE INSERT ON label_prints
WHEN NEW.reprint IS NOT EXISTS
     (SELECT 1 FROM label_prints WHERE lot_id = NEW.lot_id AND kind = NEW.kind)
BEGIN SELECT RAISE(ABORT, 'label_prints: reprint must be 1 exactly when this batch and kind were printed before'); END;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
WHEN NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1),
                                   '{GENESIS_HASH}')
     OR NEW.id IS NOT COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1
BEGIN SELECT RAISE(ABORT, 'audit_log: an entry must chain to the last one (id and prev_hash)'); END;
""")
    db.executescript("\n".join(sql))


@migrations()
def m003_views(db):
    """Views for the pharmacy's inventory scripts (plain SQL, read-only)."""
    db.create_view("stock_on_hand", """
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       CAST(julianday(l.expires) - julianday(date('now', 'localtime')) AS INTEGER)
           AS days_to_expiry,
       CAST(l.potency_percent AS REAL) AS potency_percent,
       l.unit,
       ROUND(COALESCE(r.received, 0), 6) AS received,
       ROUND(COALESCE(c.consumed, 0), 6) AS consumed,
       ROUND(COALESCE(r.received, 0) - COALESCE(c.consumed, 0), 6) AS on_hand
FROM component_lots l
LEFT JOIN (SELECT component_lot_id, SUM(CAST(quantity AS REAL)) AS received
           FROM lot_receipts GROUP BY component_lot_id) r ON r.component_lot_id = l.id
LEFT JOIN (SELECT component_lot_id, SUM(CAST(consumed_quantity AS REAL)) AS consumed
           FROM weighings WHERE component_lot_id IS NOT NULL
           GROUP BY component_lot_id) c ON c.component_lot_id = l.id""".strip())
    db.create_view("batch_summary", """
SELECT b.lot_id,
       b.formula_id,
       b.formula_version,
       b.dosage_form,
       b.strength,
       b.quantity,
       b.units_made,
       b.status,
       b.compounded_on,
       b.bud,
       b.storage,
       b.compounded_by,
       b.created_at,
       (SELECT COUNT(*) FROM batch_steps s WHERE s.lot_id = b.lot_id) AS steps_planned,
       (SELECT COUNT(DISTINCT w.step) FROM weighings w WHERE w.lot_id = b.lot_id)
           AS steps_weighed
FROM batches b""".strip())
    db.create_view("batch_status_counts", """
SELECT status, COUNT(*) AS batches, MIN(compounded_on) AS oldest, MAX(compounded_on) AS newest
FROM batches GROUP BY status""".strip())
    db.create_view("lot_usage", """
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       b.lot_id AS batch_lot_id,
       b.formula_id,
       b.status,
       b.compounded_on,
       b.bud,
       'weighed' AS basis,
       ROUND(SUM(CAST(w.consumed_quantity AS REAL)), 6) AS quantity,
       l.unit,
       MIN(w.weighed_at) AS first_used_at
FROM weighings w
JOIN component_lots l ON l.id = w.component_lot_id
JOIN batches b ON b.lot_id = w.lot_id
GROUP BY l.id, b.lot_id
UNION ALL
SELECT l.id, l.ingredient, l.lot_number, l.manufacturer, l.expires,
       b.lot_id, b.formula_id, b.status, b.compounded_on, b.bud,
       'planned', ROUND(CAST(bc.planned_quantity AS REAL), 6), l.unit, NULL
FROM batch_components bc
JOIN component_lots l ON l.id = bc.component_lot_id
JOIN batches b ON b.lot_id = bc.lot_id
WHERE NOT EXISTS (SELECT 1 FROM weighings w
                  WHERE w.lot_id = bc.lot_id AND w.component_lot_id = bc.component_lot_id)""".strip())


# ---------------------------------------------------------------- issue 7: sign-offs

#: People who may act, and what each signature means. A signature by a technician may only
#: carry the meanings in ``TECHNICIAN_MEANINGS``; every other meaning is a pharmacist's.
ROLES = ("technician", "pharmacist")
MEANINGS = ("approved", "verified", "verification-failed", "released", "rejected",
            "quarantined", "hold-lifted", "user-added", "user-deactivated", "user-unlocked")
TECHNICIAN_MEANINGS = ("quarantined",)
SUBJECTS = ("formula", "template", "batch", "user")

#: Sign-off tables that are append-only (their own triggers; ``APPEND_ONLY`` above belongs
#: to m002 and must not change).
SIGNOFF_APPEND_ONLY = ("submissions", "signatures", "verifications", "verification_checks",
                       "batch_corrections")

#: Columns of ``users`` that may change: the account state (never the name, role or creation).
USER_MUTABLE = ("passphrase_hash", "active", "failed_attempts", "locked_at", "deactivated_by",
                "deactivated_at")

#: The batch lifecycle: every status change the database allows (``old>new``). Rejected is
#: final (m002). Released may only go on hold; a hold ends in release, rejection, or (for a
#: batch held before it was released) the status it had before the hold.
TRANSITIONS = ("planned>compounded", "planned>quarantine", "planned>rejected",
               "compounded>released", "compounded>quarantine", "compounded>rejected",
               "released>quarantine",
               "quarantine>released", "quarantine>rejected", "quarantine>planned",
               "quarantine>compounded")


@migrations()
def m004_users_and_signoffs(db):
    """Users (scrypt passphrase hashes, lockout), formula and template submissions, electronic
    signatures (signer, role, meaning, UTC time, SHA-256 of what was signed), batch
    verifications with each checklist result, corrections linking a new batch to the one it
    corrects; triggers for the batch lifecycle (a release needs a pharmacist's release
    signature, a released batch changes only through a signed hold) and append-only records."""
    roles = ", ".join(f"'{r}'" for r in ROLES)
    meanings = ", ".join(f"'{m}'" for m in MEANINGS)
    tech = ", ".join(f"'{m}'" for m in TECHNICIAN_MEANINGS)
    subjects = ", ".join(f"'{s}'" for s in SUBJECTS)
    transitions = ", ".join(f"'{t}'" for t in TRANSITIONS)
    statuses = ", ".join(f"'{s}'" for s in STATUSES)  # unknown ones: the CHECK constraint
    sql = [f"""
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
        CHECK (length(name) BETWEEN 2 AND 40 AND name GLOB '[A-Za-z]*'
               AND name NOT GLOB '*[^A-Za-z0-9._-]*'),
    full_name TEXT NOT NULL {_text('full_name')},
    role TEXT NOT NULL CHECK (role IN ({roles})),
    passphrase_hash TEXT NOT NULL CHECK (passphrase_hash GLOB 'scrypt$*'),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_at TEXT {_utc('locked_at')},
    created_by TEXT NOT NULL {_text('created_by')},
    created_at TEXT NOT NULL {_utc('created_at')},
    deactivated_by TEXT,
    deactivated_at TEXT {_utc('deactivated_at')},
    CHECK ((active = 0) = (deactivated_at IS NOT NULL))
);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY,
    subject_type TEXT NOT NULL CHECK (subject_type IN ('formula', 'template')),
    subject_id TEXT NOT NULL {_text('subject_id')},
    version INTEGER NOT NULL CHECK (version >= 1),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    content TEXT NOT NULL,
    note TEXT,
    submitted_by TEXT NOT NULL {_text('submitted_by')},
    submitted_at TEXT NOT NULL {_utc('submitted_at')},
    UNIQUE (subject_type, subject_id, sha256)
);
CREATE TABLE signatures (
    id INTEGER PRIMARY KEY,
    signer TEXT NOT NULL {_text('signer')},
    signer_name TEXT NOT NULL {_text('signer_name')},
    role TEXT NOT NULL CHECK (role IN ({roles})),
    meaning TEXT NOT NULL CHECK (meaning IN ({meanings})),
    subject_type TEXT NOT NULL CHECK (subject_type IN ({subjects})),
    subject_id TEXT NOT NULL {_text('subject_id')},
    subject_version INTEGER,
    record_sha256 TEXT NOT NULL CHECK (length(record_sha256) = 64),
    lot_id TEXT REFERENCES batches(lot_id),
    reason TEXT,
    details TEXT NOT NULL {_json('details')},
    signed_at TEXT NOT NULL {_utc('signed_at')},
    CHECK (role = 'pharmacist' OR meaning IN ({tech})),
    CHECK ((subject_type = 'batch') = (lot_id IS NOT NULL)),
    CHECK (meaning NOT IN ('rejected', 'quarantined', 'hold-lifted')
           OR length(trim(reason)) > 0)
);
CREATE INDEX signatures_lot ON signatures(lot_id);
CREATE INDEX signatures_subject ON signatures(subject_type, subject_id, record_sha256);
CREATE TABLE verifications (
    id INTEGER PRIMARY KEY,
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    signature_id INTEGER NOT NULL UNIQUE REFERENCES signatures(id),
    passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
    batch_sha256 TEXT NOT NULL CHECK (length(batch_sha256) = 64)
);
CREATE INDEX verifications_lot ON verifications(lot_id);
CREATE TABLE verification_checks (
    verification_id INTEGER NOT NULL REFERENCES verifications(id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    code TEXT NOT NULL {_text('code')},
    passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
    detail TEXT NOT NULL {_text('detail')},
    PRIMARY KEY (verification_id, seq)
);
CREATE TABLE batch_corrections (
    lot_id TEXT PRIMARY KEY REFERENCES batches(lot_id),
    corrects_lot_id TEXT NOT NULL UNIQUE REFERENCES batches(lot_id),
    reason TEXT NOT NULL {_text('reason')},
    created_by TEXT NOT NULL {_text('created_by')},
    created_at TEXT NOT NULL {_utc('created_at')},
    CHECK (lot_id <> corrects_lot_id)
);"""]
    sql += [append_only(table) for table in SIGNOFF_APPEND_ONLY]
    fixed = ("id", "name", "full_name", "role", "created_by", "created_at")
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in fixed)
    sql.append(f"""
CREATE TRIGGER users_no_delete BEFORE DELETE ON users
BEGIN SELECT RAISE(ABORT, 'users: a user is never deleted (deactivate instead)'); END;
CREATE TRIGGER users_fixed_columns BEFORE UPDATE ON users
WHEN {changed}
BEGIN SELECT RAISE(ABORT, 'users: name, role and creation are fixed; add a new user'); END;
CREATE TRIGGER users_stay_deactivated BEFORE UPDATE ON users
WHEN OLD.active = 0 AND (NEW.active IS NOT 0 OR NEW.deactivated_at IS NOT OLD.deactivated_at
                         OR NEW.deactivated_by IS NOT OLD.deactivated_by)
BEGIN SELECT RAISE(ABORT, 'users: a deactivated user stays deactivated (names are never reused)'); END;
CREATE TRIGGER signatures_signer BEFORE INSERT ON signatures
BEGIN
    SELECT RAISE(ABORT, 'signatures: the signer must be an active, unlocked user of that role')
    WHERE NOT EXISTS (SELECT 1 FROM users WHERE name = NEW.signer AND role = NEW.role
                      AND active = 1 AND locked_at IS NULL);
    SELECT RAISE(ABORT, 'signatures: an approval needs a submission by someone other than the approver')
    WHERE NEW.meaning = 'approved' AND NOT EXISTS
          (SELECT 1 FROM submissions WHERE subject_type = NEW.subject_type
           AND subject_id = NEW.subject_id AND sha256 = NEW.record_sha256
           AND version IS NEW.subject_version AND submitted_by <> NEW.signer COLLATE NOCASE);
END;
CREATE TRIGGER verifications_signed BEFORE INSERT ON verifications
WHEN NOT EXISTS (SELECT 1 FROM signatures WHERE id = NEW.signature_id AND lot_id = NEW.lot_id
                 AND meaning = CASE NEW.passed WHEN 1 THEN 'verified'
                                               ELSE 'verification-failed' END
                 AND record_sha256 = NEW.batch_sha256)
BEGIN SELECT RAISE(ABORT, 'verifications: must match the pharmacist''s signature of this batch'); END;
CREATE TRIGGER batch_corrections_target BEFORE INSERT ON batch_corrections
WHEN (SELECT status FROM batches WHERE lot_id = NEW.corrects_lot_id)
     NOT IN ('rejected', 'quarantine')
BEGIN SELECT RAISE(ABORT, 'batch_corrections: only a rejected or quarantined batch can be corrected'); END;
CREATE TRIGGER batches_lifecycle BEFORE UPDATE OF status ON batches
WHEN NEW.status IS NOT OLD.status AND OLD.status <> 'rejected' AND NEW.status IN ({statuses})
     AND OLD.status || '>' || NEW.status NOT IN ({transitions})
BEGIN SELECT RAISE(ABORT, 'batches: the batch lifecycle does not allow this status change'); END;
CREATE TRIGGER batches_release_signed BEFORE UPDATE OF status ON batches
WHEN NEW.status = 'released' AND OLD.status IN ('compounded', 'quarantine')
     AND NOT EXISTS (SELECT 1 FROM signatures s WHERE s.lot_id = NEW.lot_id
                     AND s.meaning = 'released' AND s.role = 'pharmacist'
                     AND s.id = (SELECT MAX(id) FROM signatures WHERE lot_id = NEW.lot_id))
BEGIN SELECT RAISE(ABORT, 'batches: a batch is released only with a pharmacist''s release signature'); END;
CREATE TRIGGER batches_released_final BEFORE UPDATE OF status ON batches
WHEN OLD.status = 'released' AND NEW.status IS NOT 'released'
     AND NOT EXISTS (SELECT 1 FROM signatures s WHERE s.lot_id = NEW.lot_id
                     AND s.meaning = 'quarantined'
                     AND s.id = (SELECT MAX(id) FROM signatures WHERE lot_id = NEW.lot_id))
BEGIN SELECT RAISE(ABORT, 'batches: a released batch is final; only a signed quarantine (hold) may change it'); END;
""")
    db.executescript("\n".join(sql))


# ---------------------------------------------------------------- issue 8: speed at scale

#: The one place a lot's totals are computed (a receipt or weighing recomputes its lot's row,
#: and the guard triggers refuse any other value): the SUM the ``stock_on_hand`` view did.
_RECEIVED = ("(SELECT TOTAL(CAST(quantity AS REAL)) FROM lot_receipts "
             "WHERE component_lot_id = {id})")
_CONSUMED = ("(SELECT TOTAL(CAST(consumed_quantity AS REAL)) FROM weighings "
             "WHERE component_lot_id = {id})")


@migrations()
def m005_scale_indexes_and_lot_stock(db):
    """Speed on ten years of records (issue 8, bench/bench_store.py): indexes for recall by
    supplier lot number, expiry (covering a stock listing by expiry), batch status and status
    history; covering indexes for the stock sums; `lot_stock`, each lot's received and consumed totals kept by triggers (and
    refused by triggers if they differ from the sums of `lot_receipts` and `weighings`),
    so `stock_on_hand` no longer sums every weighing; `lot_usage` groups by the lot number
    too, so a recall's `WHERE lot_number = ?` reaches the indexes."""
    lot_usage = """
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       b.lot_id AS batch_lot_id,
       b.formula_id,
       b.status,
       b.compounded_on,
       b.bud,
       'weighed' AS basis,
       ROUND(SUM(CAST(w.consumed_quantity AS REAL)), 6) AS quantity,
       l.unit,
       MIN(w.weighed_at) AS first_used_at
FROM weighings w
JOIN component_lots l ON l.id = w.component_lot_id
JOIN batches b ON b.lot_id = w.lot_id
GROUP BY l.id, l.lot_number, l.ingredient, b.lot_id
UNION ALL
SELECT l.id, l.ingredient, l.lot_number, l.manufacturer, l.expires,
       b.lot_id, b.formula_id, b.status, b.compounded_on, b.bud,
       'planned', ROUND(CAST(bc.planned_quantity AS REAL), 6), l.unit, NULL
FROM batch_components bc
JOIN component_lots l ON l.id = bc.component_lot_id
JOIN batches b ON b.lot_id = bc.lot_id
WHERE NOT EXISTS (SELECT 1 FROM weighings w
                  WHERE w.lot_id = bc.lot_id AND w.component_lot_id = bc.component_lot_id)"""
    stock = """
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       CAST(julianday(l.expires) - julianday(date('now', 'localtime')) AS INTEGER)
           AS days_to_expiry,
       CAST(l.potency_percent AS REAL) AS potency_percent,
       l.unit,
       ROUND(COALESCE(s.received, 0), 6) AS received,
       ROUND(COALESCE(s.consumed, 0), 6) AS consumed,
       ROUND(COALESCE(s.received, 0) - COALESCE(s.consumed, 0), 6) AS on_hand
FROM component_lots l
LEFT JOIN lot_stock s ON s.component_lot_id = l.id"""
    derived = (f"NEW.received IS NOT {_RECEIVED.format(id='NEW.component_lot_id')} "
               f"OR NEW.consumed IS NOT {_CONSUMED.format(id='NEW.component_lot_id')}")
    db.executescript(f"""
CREATE INDEX component_lots_lot_number ON component_lots(lot_number);
CREATE INDEX component_lots_expires ON component_lots(expires, ingredient, lot_number, unit);
CREATE INDEX batches_status_day ON batches(status, compounded_on);
DROP INDEX batches_status;
CREATE INDEX batch_status_history_lot ON batch_status_history(lot_id);
CREATE INDEX weighings_component_lot_consumed ON weighings(component_lot_id, consumed_quantity);
DROP INDEX weighings_component_lot;
CREATE INDEX lot_receipts_lot_quantity ON lot_receipts(component_lot_id, quantity);
DROP INDEX lot_receipts_lot;
CREATE TABLE lot_stock (
    component_lot_id INTEGER PRIMARY KEY REFERENCES component_lots(id),
    received REAL NOT NULL,
    consumed REAL NOT NULL
);
INSERT INTO lot_stock (component_lot_id, received, consumed)
SELECT id, {_RECEIVED.format(id='component_lots.id')},
       {_CONSUMED.format(id='component_lots.id')} FROM component_lots;
CREATE TRIGGER lot_stock_derived_insert BEFORE INSERT ON lot_stock
WHEN {derived}
BEGIN SELECT RAISE(ABORT, 'lot_stock is derived from lot_receipts and weighings; it cannot be edited'); END;
CREATE TRIGGER lot_stock_derived_update BEFORE UPDATE ON lot_stock
WHEN NEW.component_lot_id IS NOT OLD.component_lot_id OR {derived}
BEGIN SELECT RAISE(ABORT, 'lot_stock is derived from lot_receipts and weighings; it cannot be edited'); END;
CREATE TRIGGER lot_stock_no_delete BEFORE DELETE ON lot_stock
BEGIN SELECT RAISE(ABORT, 'lot_stock is derived from lot_receipts and weighings; it cannot be deleted'); END;
CREATE TRIGGER component_lots_stock AFTER INSERT ON component_lots
BEGIN
    INSERT INTO lot_stock (component_lot_id, received, consumed)
    VALUES (NEW.id, {_RECEIVED.format(id='NEW.id')}, {_CONSUMED.format(id='NEW.id')});
END;
CREATE TRIGGER lot_receipts_stock AFTER INSERT ON lot_receipts
BEGIN
    UPDATE lot_stock SET received = {_RECEIVED.format(id='NEW.component_lot_id')}
    WHERE component_lot_id = NEW.component_lot_id;
END;
CREATE TRIGGER weighings_stock AFTER INSERT ON weighings
WHEN NEW.component_lot_id IS NOT NULL
BEGIN
    UPDATE lot_stock SET consumed = {_CONSUMED.format(id='NEW.component_lot_id')}
    WHERE component_lot_id = NEW.component_lot_id;
END;
DROP VIEW stock_on_hand;
CREATE VIEW stock_on_hand AS {stock.strip()};
DROP VIEW lot_usage;
CREATE VIEW lot_usage AS {lot_usage.strip()};
""")


#: Columns of ``api_tokens`` that may change (once: a token is revoked, never deleted).
TOKEN_MUTABLE = ("revoked_by", "revoked_at")


@migrations()
def m009_api_tokens(db):
    """Per-user API tokens for scripts (issue 15): only the SHA-256 of a token is kept, with
    a short prefix to name it; a token is revoked (once), never deleted or edited."""
    frozen = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in (
        "id", "user_id", "prefix", "token_sha256", "label", "created_by", "created_at"))
    db.executescript(f"""
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    prefix TEXT NOT NULL UNIQUE CHECK (length(prefix) = 8 AND prefix NOT GLOB '*[^A-Za-z0-9]*'),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64
                                              AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    label TEXT CHECK (label IS NULL OR length(label) BETWEEN 1 AND 100),
    created_by TEXT NOT NULL {_text('created_by')},
    created_at TEXT NOT NULL {_utc('created_at')},
    revoked_by TEXT,
    revoked_at TEXT,
    CHECK ((revoked_by IS NULL) = (revoked_at IS NULL))
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE TRIGGER api_tokens_no_delete BEFORE DELETE ON api_tokens
BEGIN SELECT RAISE(ABORT, 'api tokens are revoked, never deleted'); END;
CREATE TRIGGER api_tokens_revoke_only BEFORE UPDATE ON api_tokens
WHEN OLD.revoked_at IS NOT NULL OR {frozen}
BEGIN SELECT RAISE(ABORT, 'an api token is only revoked, once; nothing else changes'); END;
""")


@migrations()
def m010_weighing_sources_and_receipt_scans(db):
    """Issue 16: where a weighing's amount and component lot came from (`weighing_sources`:
    the balance's name, serial number, protocol and raw line, or typed; the lot from a scan,
    typed or the planned one) and what the barcode of a lot received by scan said
    (`receipt_scans`: GTIN, production date, the scan). A weighing without a source row was
    typed (every weighing before this migration). Both append-only."""
    db.executescript(f"""
CREATE TABLE weighing_sources (
    weighing_id INTEGER PRIMARY KEY REFERENCES weighings(id),
    amount_source TEXT NOT NULL CHECK (amount_source IN ('balance', 'typed')),
    balance_name TEXT,
    balance_serial TEXT,
    balance_protocol TEXT CHECK (balance_protocol IS NULL OR
                                 balance_protocol IN ('mt-sics', 'ad', 'ohaus')),
    balance_model TEXT,
    balance_line TEXT,
    lot_source TEXT NOT NULL CHECK (lot_source IN ('scan', 'typed', 'planned', 'none')),
    scan TEXT,
    recorded_at TEXT NOT NULL {_utc('recorded_at')},
    CHECK ((amount_source = 'balance') = (balance_name IS NOT NULL
           AND balance_serial IS NOT NULL AND balance_protocol IS NOT NULL
           AND balance_line IS NOT NULL)),
    CHECK (amount_source = 'balance' OR (balance_name IS NULL AND balance_serial IS NULL
           AND balance_protocol IS NULL AND balance_model IS NULL AND balance_line IS NULL)),
    CHECK ((lot_source = 'scan') = (scan IS NOT NULL)),
    CHECK (balance_name IS NULL OR length(trim(balance_name)) > 0),
    CHECK (balance_serial IS NULL OR length(trim(balance_serial)) > 0),
    CHECK (scan IS NULL OR length(trim(scan)) > 0)
);
CREATE TABLE receipt_scans (
    receipt_id INTEGER PRIMARY KEY REFERENCES lot_receipts(id),
    gtin TEXT CHECK (gtin IS NULL OR (length(gtin) = 14 AND gtin NOT GLOB '*[^0-9]*')),
    production_date TEXT CHECK (production_date IS NULL OR
        production_date GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]'),
    scan TEXT NOT NULL {_text('scan')},
    recorded_at TEXT NOT NULL {_utc('recorded_at')}
);
""")
    for table in ("weighing_sources", "receipt_scans"):
        db.executescript(append_only(table))


#: Prescription tables (issue 17): append-only, their own triggers.
RX_APPEND_ONLY = ("prescriptions", "prescription_steps", "prescription_fills")


@migrations()
def m011_prescriptions(db):
    """Prescriptions with titration schedules (issue 17): each version of an Rx is a row
    (a correction is a new version linked to the one it replaces, with a reason), its steps,
    and every fill dispensed against it (lot, quantity, dates, the dispensing label).
    Append-only."""
    sql = [f"""
CREATE TABLE prescriptions (
    id INTEGER PRIMARY KEY,
    rx_number TEXT NOT NULL {_text('rx_number')},
    version INTEGER NOT NULL CHECK (version >= 1),
    corrects INTEGER REFERENCES prescriptions(id),
    reason TEXT,
    patient TEXT NOT NULL {_text('patient')},
    prescriber TEXT NOT NULL {_text('prescriber')},
    formula_id TEXT NOT NULL,
    formula_version INTEGER NOT NULL,
    formula_sha256 TEXT NOT NULL,
    formula_snapshot TEXT NOT NULL {_json('formula_snapshot')},
    strength TEXT,
    storage TEXT NOT NULL CHECK (storage IN ('room', 'refrigerated')),
    bud_policy TEXT NOT NULL,
    dose_time TEXT NOT NULL CHECK (dose_time IN ('bedtime', 'morning', 'evening')),
    start_date TEXT NOT NULL {_date('start_date')},
    end_date TEXT NOT NULL {_date('end_date')},
    schedule TEXT NOT NULL {_text('schedule')},
    dose_confirmed INTEGER NOT NULL CHECK (dose_confirmed IN (0, 1)),
    rx_settings TEXT NOT NULL {_json('rx_settings')},
    plan TEXT NOT NULL {_json('plan')},
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL {_utc('created_at')},
    UNIQUE (rx_number, version),
    CHECK ((version = 1) = (corrects IS NULL)),
    CHECK (corrects IS NULL OR length(trim(reason)) > 0),
    CHECK (end_date >= start_date)
);
CREATE TABLE prescription_steps (
    prescription_id INTEGER NOT NULL REFERENCES prescriptions(id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    dose_mg TEXT NOT NULL {_decimal('dose_mg')},
    days INTEGER NOT NULL CHECK (days >= 1),
    PRIMARY KEY (prescription_id, seq)
);
CREATE TABLE prescription_fills (
    id INTEGER PRIMARY KEY,
    prescription_id INTEGER NOT NULL REFERENCES prescriptions(id),
    fill INTEGER NOT NULL CHECK (fill >= 1),
    strength TEXT NOT NULL,
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    quantity TEXT NOT NULL {_text('quantity')},
    first_day TEXT NOT NULL {_date('first_day')},
    last_day TEXT NOT NULL {_date('last_day')},
    directions TEXT NOT NULL {_text('directions')},
    label_print_id INTEGER NOT NULL REFERENCES label_prints(id),
    dispensed_by TEXT NOT NULL,
    dispensed_at TEXT NOT NULL {_utc('dispensed_at')},
    UNIQUE (prescription_id, fill, strength)
);
CREATE INDEX prescriptions_patient ON prescriptions(patient);
CREATE INDEX prescription_fills_lot ON prescription_fills(lot_id);
CREATE TRIGGER prescriptions_versions BEFORE INSERT ON prescriptions
WHEN NEW.version IS NOT COALESCE((SELECT MAX(version) FROM prescriptions
                                  WHERE rx_number = NEW.rx_number), 0) + 1
     OR NEW.corrects IS NOT (SELECT id FROM prescriptions WHERE rx_number = NEW.rx_number
                             ORDER BY version DESC LIMIT 1)
BEGIN SELECT RAISE(ABORT, 'prescriptions: a new version must correct the latest version of its Rx'); END;
CREATE TRIGGER prescription_fills_once BEFORE INSERT ON prescription_fills
WHEN EXISTS (SELECT 1 FROM prescription_fills f
             JOIN prescriptions p ON p.id = f.prescription_id
             WHERE p.rx_number = (SELECT rx_number FROM prescriptions
                                  WHERE id = NEW.prescription_id)
               AND f.fill = NEW.fill AND f.strength = NEW.strength)
BEGIN SELECT RAISE(ABORT, 'prescription_fills: this fill of this Rx was already dispensed'); END;
"""]
    sql += [append_only(table) for table in RX_APPEND_ONLY]
    db.executescript("\n".join(sql))


#: Inventory and recall tables (issue 19): append-only, their own triggers.
STOCK_APPEND_ONLY = ("stock_counts", "stock_adjustments", "lot_holds", "recalls",
                     "recall_batches", "recall_patients", "recall_contacts", "recall_closures")
#: Why stock on hand may be adjusted (issue 19); only a physical count may add stock.
ADJUSTMENT_REASONS = ("damaged", "spilled", "expired", "recalled", "count", "other")
#: What a call to a recalled patient came to.
CONTACT_OUTCOMES = ("reached", "message-left", "unreachable")


def _signed_decimal(col: str) -> str:
    """CHECK that ``col`` is a plain decimal numeral with an optional leading minus, not 0."""
    body = f"ltrim({col}, '-')"
    return (f"CHECK ({col} GLOB '-[0-9]*' OR {col} GLOB '[0-9]*') "
            f"CHECK ({body} GLOB '[0-9]*' AND {body} NOT GLOB '*[^0-9.]*' "
            f"AND {body} NOT GLOB '*.*.*' AND {body} NOT GLOB '*.' "
            f"AND CAST({body} AS REAL) > 0)")


def _active(col: str, role: str | None = None) -> str:
    """The condition 'no active user named by ``col`` (of ``role``)'."""
    extra = f" AND role = '{role}'" if role else ""
    return f"NOT EXISTS (SELECT 1 FROM users WHERE name = {col} AND active = 1{extra})"


@migrations()
def m013_adjustments_holds_recalls(db):
    """Inventory that matches the shelf and a recall that acts (issue 19): signed stock
    adjustments (write-offs, physical counts), counts with their variance, component-lot
    holds, and recalls as records (the batches they quarantined, the patients to reach,
    every contact, the closure). Views `stock_movements` (receipts, weighings and
    adjustments in time order with a running balance) and `recall_status`; `stock_on_hand`
    gains `adjusted` and `on_hold`, and its `on_hand` counts adjustments."""
    reasons = ", ".join(f"'{r}'" for r in ADJUSTMENT_REASONS)
    outcomes = ", ".join(f"'{o}'" for o in CONTACT_OUTCOMES)
    stock = """
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       CAST(julianday(l.expires) - julianday(date('now', 'localtime')) AS INTEGER)
           AS days_to_expiry,
       CAST(l.potency_percent AS REAL) AS potency_percent,
       l.unit,
       ROUND(COALESCE(s.received, 0), 6) AS received,
       ROUND(COALESCE(s.consumed, 0), 6) AS consumed,
       ROUND(COALESCE(a.adjusted, 0), 6) AS adjusted,
       ROUND(COALESCE(s.received, 0) - COALESCE(s.consumed, 0) + COALESCE(a.adjusted, 0), 6)
           AS on_hand,
       COALESCE((SELECT h.action = 'hold' FROM lot_holds h WHERE h.component_lot_id = l.id
                 ORDER BY h.id DESC LIMIT 1), 0) AS on_hold
FROM component_lots l
LEFT JOIN lot_stock s ON s.component_lot_id = l.id
LEFT JOIN (SELECT component_lot_id, SUM(CAST(quantity AS REAL)) AS adjusted
           FROM stock_adjustments GROUP BY component_lot_id) a
       ON a.component_lot_id = l.id"""
    sql = [f"""
CREATE TABLE stock_counts (
    id INTEGER PRIMARY KEY,
    component_lot_id INTEGER NOT NULL REFERENCES component_lots(id),
    counted TEXT NOT NULL {_decimal('counted', positive=False)},
    counted_as TEXT NOT NULL {_text('counted_as')},
    book TEXT NOT NULL,
    variance TEXT NOT NULL,
    note TEXT,
    counted_by TEXT NOT NULL {_text('counted_by')},
    counted_at TEXT NOT NULL {_utc('counted_at')}
);
CREATE TABLE recalls (
    id INTEGER PRIMARY KEY,
    component_lot_id INTEGER REFERENCES component_lots(id),
    lot_id TEXT REFERENCES batches(lot_id),
    reason TEXT NOT NULL {_text('reason')},
    opened_by TEXT NOT NULL {_text('opened_by')},
    opened_at TEXT NOT NULL {_utc('opened_at')},
    CHECK ((component_lot_id IS NULL) != (lot_id IS NULL))
);
CREATE TABLE stock_adjustments (
    id INTEGER PRIMARY KEY,
    component_lot_id INTEGER NOT NULL REFERENCES component_lots(id),
    quantity TEXT NOT NULL {_signed_decimal('quantity')},
    entered_as TEXT NOT NULL {_text('entered_as')},
    reason TEXT NOT NULL CHECK (reason IN ({reasons})),
    note TEXT,
    count_id INTEGER UNIQUE REFERENCES stock_counts(id),
    recall_id INTEGER REFERENCES recalls(id),
    signed_by TEXT NOT NULL {_text('signed_by')},
    signer_role TEXT NOT NULL,
    signed_at TEXT NOT NULL {_utc('signed_at')},
    CHECK (quantity GLOB '-*' OR reason = 'count'),
    CHECK (count_id IS NULL OR reason = 'count'),
    CHECK (reason != 'other' OR length(trim(note)) > 0)
);
CREATE INDEX stock_adjustments_lot ON stock_adjustments(component_lot_id, quantity);
CREATE TABLE lot_holds (
    id INTEGER PRIMARY KEY,
    component_lot_id INTEGER NOT NULL REFERENCES component_lots(id),
    action TEXT NOT NULL CHECK (action IN ('hold', 'release')),
    reason TEXT NOT NULL {_text('reason')},
    recall_id INTEGER REFERENCES recalls(id),
    signed_by TEXT NOT NULL {_text('signed_by')},
    signer_role TEXT NOT NULL,
    signed_at TEXT NOT NULL {_utc('signed_at')}
);
CREATE INDEX lot_holds_lot ON lot_holds(component_lot_id, id);
CREATE TABLE recall_batches (
    recall_id INTEGER NOT NULL REFERENCES recalls(id),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    status_before TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('quarantined', 'already-on-hold', 'dispensed',
                                           'rejected')),
    signature_id INTEGER REFERENCES signatures(id),
    PRIMARY KEY (recall_id, lot_id),
    CHECK ((action = 'quarantined') = (signature_id IS NOT NULL))
);
CREATE TABLE recall_patients (
    recall_id INTEGER NOT NULL REFERENCES recalls(id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    patient TEXT,
    rx_number TEXT NOT NULL {_text('rx_number')},
    prescriber TEXT,
    dispensed_quantity TEXT,
    dispensed_on TEXT NOT NULL {_date('dispensed_on')},
    label_print_id INTEGER NOT NULL REFERENCES label_prints(id),
    PRIMARY KEY (recall_id, seq),
    UNIQUE (recall_id, lot_id, rx_number)
);
CREATE TABLE recall_contacts (
    id INTEGER PRIMARY KEY,
    recall_id INTEGER NOT NULL REFERENCES recalls(id),
    rx_number TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ({outcomes})),
    note TEXT,
    contacted_by TEXT NOT NULL {_text('contacted_by')},
    contacted_at TEXT NOT NULL {_utc('contacted_at')}
);
CREATE INDEX recall_contacts_recall ON recall_contacts(recall_id, rx_number);
CREATE TABLE recall_closures (
    recall_id INTEGER PRIMARY KEY REFERENCES recalls(id),
    note TEXT NOT NULL {_text('note')},
    incomplete_reason TEXT,
    closed_by TEXT NOT NULL {_text('closed_by')},
    closed_at TEXT NOT NULL {_utc('closed_at')}
);
CREATE TRIGGER stock_adjustments_signer BEFORE INSERT ON stock_adjustments
WHEN {_active('NEW.signed_by')}
  OR NEW.signer_role IS NOT (SELECT role FROM users WHERE name = NEW.signed_by)
  OR (NEW.reason = 'count' AND NEW.signer_role != 'pharmacist')
BEGIN SELECT RAISE(ABORT, 'stock_adjustments: the signer must be an active user of that role, and a pharmacist for a count'); END;
CREATE TRIGGER lot_holds_signer BEFORE INSERT ON lot_holds
WHEN {_active('NEW.signed_by', 'pharmacist')} OR NEW.signer_role != 'pharmacist'
BEGIN SELECT RAISE(ABORT, 'lot_holds: only an active pharmacist puts a lot on hold or releases it'); END;
CREATE TRIGGER lot_holds_alternate BEFORE INSERT ON lot_holds
WHEN NEW.action IS COALESCE((SELECT action FROM lot_holds WHERE component_lot_id =
                              NEW.component_lot_id ORDER BY id DESC LIMIT 1), 'release')
BEGIN SELECT RAISE(ABORT, 'lot_holds: the lot is already in that state'); END;
CREATE TRIGGER recalls_opener BEFORE INSERT ON recalls
WHEN {_active('NEW.opened_by', 'pharmacist')}
BEGIN SELECT RAISE(ABORT, 'recalls: only an active pharmacist opens a recall'); END;
CREATE TRIGGER recalls_one_open BEFORE INSERT ON recalls
WHEN EXISTS (SELECT 1 FROM recalls r WHERE (r.component_lot_id = NEW.component_lot_id
                                            OR r.lot_id = NEW.lot_id)
             AND NOT EXISTS (SELECT 1 FROM recall_closures c WHERE c.recall_id = r.id))
BEGIN SELECT RAISE(ABORT, 'recalls: a recall of this lot is already open'); END;
CREATE TRIGGER recall_contacts_open BEFORE INSERT ON recall_contacts
WHEN EXISTS (SELECT 1 FROM recall_closures WHERE recall_id = NEW.recall_id)
  OR NOT EXISTS (SELECT 1 FROM recall_patients WHERE recall_id = NEW.recall_id
                 AND rx_number = NEW.rx_number)
  OR {_active('NEW.contacted_by')}
BEGIN SELECT RAISE(ABORT, 'recall_contacts: the recall must be open, the Rx one of its patients, the caller an active user'); END;
CREATE TRIGGER recall_closures_complete BEFORE INSERT ON recall_closures
WHEN {_active('NEW.closed_by', 'pharmacist')}
  OR ((NEW.incomplete_reason IS NULL OR length(trim(NEW.incomplete_reason)) = 0)
      AND EXISTS (SELECT 1 FROM recall_patients p WHERE p.recall_id = NEW.recall_id
                  AND NOT EXISTS (SELECT 1 FROM recall_contacts c
                                  WHERE c.recall_id = p.recall_id
                                  AND c.rx_number = p.rx_number)))
BEGIN SELECT RAISE(ABORT, 'recall_closures: a pharmacist closes a recall once every patient has an outcome, or states why not'); END;
DROP VIEW stock_on_hand;
CREATE VIEW stock_on_hand AS {stock.strip()};
CREATE VIEW stock_movements AS
WITH m AS (
    SELECT component_lot_id, received_at AS at, 1 AS ord, 'receipt' AS kind, NULL AS reason,
           NULL AS batch_lot_id, CAST(quantity AS REAL) AS change, received_by AS by_user,
           id AS source_id
    FROM lot_receipts
    UNION ALL
    SELECT component_lot_id, weighed_at, 2, 'weighing', NULL, lot_id,
           -CAST(consumed_quantity AS REAL), weighed_by, id
    FROM weighings WHERE component_lot_id IS NOT NULL
    UNION ALL
    SELECT component_lot_id, signed_at, 3, 'adjustment', reason, NULL,
           CAST(quantity AS REAL), signed_by, id
    FROM stock_adjustments
)
SELECT m.component_lot_id, l.ingredient, l.lot_number, l.unit, m.at, m.kind, m.reason,
       m.batch_lot_id, m.by_user, m.source_id, ROUND(m.change, 6) AS change,
       ROUND(SUM(m.change) OVER (PARTITION BY m.component_lot_id
                                 ORDER BY m.at, m.ord, m.source_id
                                 ROWS UNBOUNDED PRECEDING), 6) AS balance
FROM m JOIN component_lots l ON l.id = m.component_lot_id;
CREATE VIEW recall_status AS
SELECT r.id AS recall_id,
       CASE WHEN r.component_lot_id IS NOT NULL THEN 'component-lot' ELSE 'batch' END AS kind,
       COALESCE(l.lot_number, r.lot_id) AS lot,
       l.ingredient,
       r.reason,
       r.opened_by,
       r.opened_at,
       CASE WHEN c.recall_id IS NULL THEN 'open' ELSE 'closed' END AS status,
       c.closed_by,
       c.closed_at,
       (SELECT COUNT(*) FROM recall_batches b WHERE b.recall_id = r.id) AS batches,
       (SELECT COUNT(*) FROM recall_batches b WHERE b.recall_id = r.id
        AND b.action = 'quarantined') AS quarantined,
       (SELECT COUNT(*) FROM recall_patients p WHERE p.recall_id = r.id) AS patients,
       (SELECT COUNT(*) FROM recall_patients p WHERE p.recall_id = r.id AND EXISTS
        (SELECT 1 FROM recall_contacts k WHERE k.recall_id = r.id
         AND k.rx_number = p.rx_number)) AS contacted,
       (SELECT COUNT(*) FROM recall_patients p WHERE p.recall_id = r.id AND EXISTS
        (SELECT 1 FROM recall_contacts k WHERE k.recall_id = r.id
         AND k.rx_number = p.rx_number AND k.outcome = 'reached')) AS reached
FROM recalls r
LEFT JOIN component_lots l ON l.id = r.component_lot_id
LEFT JOIN recall_closures c ON c.recall_id = r.id;
"""]
    sql += [append_only(table) for table in STOCK_APPEND_ONLY]
    db.executescript("\n".join(sql))


@migrations()
def m014_recalled_lots_stay_held(db):
    """A component lot under an open recall stays on hold (issue 19): the schema refuses a
    release of its hold until the recall is closed, whoever placed the hold (a pharmacist's
    hold that was already there when the recall opened included)."""
    db.executescript("""
CREATE TRIGGER lot_holds_recall_open BEFORE INSERT ON lot_holds
WHEN NEW.action = 'release' AND EXISTS (
    SELECT 1 FROM recalls r WHERE r.component_lot_id = NEW.component_lot_id
    AND NOT EXISTS (SELECT 1 FROM recall_closures c WHERE c.recall_id = r.id))
BEGIN SELECT RAISE(ABORT, 'lot_holds: a lot under an open recall stays on hold until the recall is closed'); END;
""")


@migrations()
def m015_one_signature_per_act(db):
    """One signature per act (issue 12): a batch status change to the status it already has
    is refused by the schema, so two releases (or rejections, or holds) racing each other
    cannot both be recorded; the store also re-reads the status under the write lock and
    names who signed first."""
    db.executescript("""
CREATE TRIGGER batches_status_once BEFORE UPDATE OF status ON batches
WHEN NEW.status = OLD.status
BEGIN SELECT RAISE(ABORT, 'batches: the batch already has that status'); END;
""")


#: Capsule calibrations (issue 11): append-only.
CALIBRATION_SIZES = ("000", "00", "0", "1", "2", "3", "4", "5")


@migrations()
def m016_capsule_calibrations(db):
    """Capsule calibrations (issue 11): a pharmacy's measured fill weight per capsule for a
    filler and capsule size (punch method), who measured it and when, optionally the filler
    lot and how many capsules were weighed. A plan uses the latest calibration of its filler
    and size. A correction is a new row linked to the latest one of the same filler and size
    (``corrects``) with a reason; nothing is changed or deleted (append-only)."""
    sizes = ", ".join(f"'{s}'" for s in CALIBRATION_SIZES)
    db.executescript(f"""
CREATE TABLE capsule_calibrations (
    id INTEGER PRIMARY KEY,
    filler TEXT NOT NULL {_text('filler')},
    capsule_size TEXT NOT NULL CHECK (capsule_size IN ({sizes})),
    fill_weight_mg TEXT NOT NULL {_decimal('fill_weight_mg')},
    capsules_weighed INTEGER CHECK (capsules_weighed IS NULL OR capsules_weighed >= 1),
    filler_lot TEXT CHECK (filler_lot IS NULL OR length(trim(filler_lot)) > 0),
    corrects INTEGER UNIQUE REFERENCES capsule_calibrations(id),
    reason TEXT,
    recorded_by TEXT NOT NULL {_text('recorded_by')},
    recorded_at TEXT NOT NULL {_utc('recorded_at')},
    CHECK (corrects IS NULL OR length(trim(reason)) > 0),
    CHECK (corrects IS NOT NULL OR reason IS NULL)
);
CREATE INDEX capsule_calibrations_pair ON capsule_calibrations(filler, capsule_size, id);
CREATE TRIGGER capsule_calibrations_corrects_latest BEFORE INSERT ON capsule_calibrations
WHEN NEW.corrects IS NOT NULL AND NEW.corrects IS NOT (
    SELECT id FROM capsule_calibrations WHERE filler = NEW.filler
    AND capsule_size = NEW.capsule_size ORDER BY id DESC LIMIT 1)
BEGIN SELECT RAISE(ABORT, 'capsule_calibrations: a correction must correct the latest calibration of the same filler and capsule size'); END;
{append_only('capsule_calibrations')}
""")


# ---------------------------------------------------------------- issue 12: keyed chain, lockout

#: Columns m018 adds to ``users`` that change with the account state (the lockout's
#: cool-down): left out of a user's record digest like :data:`USER_MUTABLE`.
USER_LOCKOUT_MUTABLE = ("locked_until", "lockouts")


@migrations()
def m018_audit_key_and_lockout(db):
    """Keyed audit chain and lockout cool-down (issue 12). ``audit_keys``: from which audit
    entry on the chain is HMAC-SHA256 keyed, and with which key (its id only: the key is kept
    in a file outside the database); entries before the first are the unkeyed SHA-256 chain
    of earlier versions, verified as they are and never rewritten. A key starts at the next
    entry, never earlier (trigger). ``users.locked_until``: the end of a lockout's cool-down
    (a lock from before this migration ends 15 minutes after it began, the default
    cool-down); ``users.lockouts``: lockouts in a row without a right passphrase, each one
    doubling the next cool-down."""
    db.executescript(f"""
CREATE TABLE audit_keys (
    id INTEGER PRIMARY KEY,
    keyed_from INTEGER NOT NULL UNIQUE CHECK (keyed_from >= 1),
    key_id TEXT NOT NULL CHECK (length(key_id) = 16 AND key_id NOT GLOB '*[^0-9a-f]*'),
    scheme TEXT NOT NULL CHECK (scheme = 'hmac-sha256'),
    created_at TEXT NOT NULL {_utc('created_at')}
);
CREATE TRIGGER audit_keys_next_entry BEFORE INSERT ON audit_keys
WHEN NEW.keyed_from IS NOT COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1
BEGIN SELECT RAISE(ABORT, 'audit_keys: a key starts at the next audit entry, never earlier'); END;
{append_only('audit_keys')}
ALTER TABLE users ADD COLUMN locked_until TEXT {_utc('locked_until')};
ALTER TABLE users ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0 CHECK (lockouts >= 0);
UPDATE users SET lockouts = 1,
                 locked_until = strftime('%Y-%m-%dT%H:%M:%fZ', locked_at, '+15 minutes')
WHERE locked_at IS NOT NULL;
""")


#: Tables whose rows belong to one site (issue 20); every other record is group-wide.
SITE_TABLES = ("lot_ids", "component_lots", "batches", "label_prints")


def _site(col: str) -> str:
    """CHECK that ``col`` is a site code (compounding/sites.py: 2-4 of A-Z and 0-9, a letter
    first)."""
    return (f"CHECK (length({col}) BETWEEN 2 AND 4 AND {col} GLOB '[A-Z]*' "
            f"AND {col} NOT GLOB '*[^A-Z0-9]*')")


@migrations()
def m020_sites(db):
    """Sites of a pharmacy group (issue 20): component lots (stock), batches, label prints and
    lot IDs belong to a site; every existing row is site MAIN (the default). Lot IDs are
    unique per site and day; a site other than MAIN has IDs of the site code, 9 digits and
    two MOD 97-10 check digits (lotid.py), MAIN keeps the 10-digit form. A batch's site is
    its lot ID's, and never changes."""
    # The lot_ids CHECK (10 digits) and UNIQUE (day, seq) cannot be altered in place in
    # SQLite: the table is rebuilt (https://www.sqlite.org/lang_altertable.html, "making
    # other kinds of table schema changes"). Foreign keys cannot be switched off inside the
    # migration's transaction, so they are deferred: dropping lot_ids orphans every batch
    # (counted as deferred violations), and inserting the rows back into the new lot_ids
    # (same name, so batches' REFERENCES and the trigger naming it are untouched) counts
    # each one resolved again; foreign_key_check then proves nothing dangles.
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.executescript(f"""
CREATE TEMP TABLE lot_ids_m020 AS SELECT lot_id, day, seq, allocated_by, allocated_at
    FROM lot_ids;
DROP TABLE lot_ids;
CREATE TABLE lot_ids (
    lot_id TEXT PRIMARY KEY,
    day TEXT NOT NULL {_date('day')},
    seq INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 999),
    allocated_by TEXT NOT NULL {_text('allocated_by')},
    allocated_at TEXT NOT NULL {_utc('allocated_at')},
    site TEXT NOT NULL DEFAULT 'MAIN' {_site('site')},
    UNIQUE (site, day, seq),
    CHECK ((site = 'MAIN' AND length(lot_id) = 10 AND lot_id NOT GLOB '*[^0-9]*')
        OR (site != 'MAIN' AND substr(lot_id, 1, length(site)) = site
            AND length(lot_id) = length(site) + 11
            AND substr(lot_id, length(site) + 1) NOT GLOB '*[^0-9]*'))
);
INSERT INTO lot_ids (lot_id, day, seq, allocated_by, allocated_at, site)
    SELECT lot_id, day, seq, allocated_by, allocated_at, 'MAIN' FROM temp.lot_ids_m020
    ORDER BY rowid;
DROP TABLE temp.lot_ids_m020;
""")
    dangling = db.execute("PRAGMA foreign_key_check").fetchall()
    if dangling:
        raise RuntimeError(f"m020_sites: foreign keys dangle after rebuilding lot_ids: "
                           f"{dangling[:3]}")
    sql = [append_only("lot_ids")]
    for table in ("component_lots", "batches", "label_prints"):
        sql.append(f"ALTER TABLE {table} ADD COLUMN site TEXT NOT NULL DEFAULT 'MAIN' "
                   f"{_site('site')};")
    sql.append("""
CREATE INDEX component_lots_site ON component_lots(site);
CREATE INDEX batches_site ON batches(site, compounded_on);
CREATE INDEX label_prints_site ON label_prints(site);
CREATE TRIGGER batches_site_fixed BEFORE UPDATE OF site ON batches
WHEN NEW.site IS NOT OLD.site
BEGIN SELECT RAISE(ABORT, 'batches: a batch stays at the site that made it'); END;
CREATE TRIGGER batches_site_of_lot_id BEFORE INSERT ON batches
WHEN NEW.site IS NOT (SELECT site FROM lot_ids WHERE lot_id = NEW.lot_id)
BEGIN SELECT RAISE(ABORT, 'batches: a batch belongs to the site of its lot ID'); END;
CREATE TRIGGER batch_components_same_site BEFORE INSERT ON batch_components
WHEN (SELECT site FROM component_lots WHERE id = NEW.component_lot_id)
     IS NOT (SELECT site FROM batches WHERE lot_id = NEW.lot_id)
BEGIN SELECT RAISE(ABORT, 'batch_components: a batch draws only on its own site''s stock'); END;
CREATE TRIGGER weighings_same_site BEFORE INSERT ON weighings
WHEN NEW.component_lot_id IS NOT NULL
     AND (SELECT site FROM component_lots WHERE id = NEW.component_lot_id)
         IS NOT (SELECT site FROM batches WHERE lot_id = NEW.lot_id)
BEGIN SELECT RAISE(ABORT, 'weighings: a batch draws only on its own site''s stock'); END;
""")
    db.executescript("\n".join(sql))


@migrations()
def m017_dispensings_and_pending_outputs(db):
    """Records that add up and files that match them (issue 12, parts 2 and 7).

    ``dispensings``: one row per new dispense (a dispensing label for a new patient, Rx or
    fill; never a reprint), its quantity as integer thousandths of the batch's unit, so the
    schema itself refuses a total dispensed above what the batch made. A dispensing label is
    a reprint exactly when the same lot, Rx number and patient were dispensed before.

    ``pending_outputs``: the work queue of label prints under way (a temporary file not yet
    renamed, a job not yet confirmed sent), each with the process that owns it, so the next
    print finishes or clears what a killed process left (docs/records.md)."""
    db.executescript(f"""
CREATE TABLE dispensings (
    label_print_id INTEGER PRIMARY KEY REFERENCES label_prints(id),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    rx_number TEXT NOT NULL {_text('rx_number')},
    fill INTEGER NOT NULL CHECK (fill >= 0),
    patient TEXT NOT NULL {_text('patient')},
    quantity TEXT NOT NULL {_decimal('quantity')},
    unit TEXT NOT NULL {_text('unit')},
    quantity_milli INTEGER NOT NULL CHECK (quantity_milli >= 1),
    made_milli INTEGER NOT NULL CHECK (made_milli >= 1),
    total_milli INTEGER NOT NULL CHECK (total_milli <= made_milli),
    UNIQUE (lot_id, rx_number, fill)
);
CREATE TRIGGER dispensings_add_up BEFORE INSERT ON dispensings
WHEN NEW.total_milli IS NOT COALESCE((SELECT SUM(quantity_milli) FROM dispensings
                                      WHERE lot_id = NEW.lot_id), 0) + NEW.quantity_milli
     OR EXISTS (SELECT 1 FROM dispensings WHERE lot_id = NEW.lot_id
                AND (made_milli <> NEW.made_milli OR unit <> NEW.unit))
BEGIN SELECT RAISE(ABORT, 'dispensings: the total dispensed must add up and stay within what the batch made'); END;
CREATE TRIGGER dispensings_label BEFORE INSERT ON dispensings
WHEN NOT EXISTS (SELECT 1 FROM label_prints p WHERE p.id = NEW.label_print_id
                 AND p.kind = 'dispensing' AND p.reprint = 0 AND p.lot_id = NEW.lot_id
                 AND p.rx_number = NEW.rx_number AND p.patient = NEW.patient)
BEGIN SELECT RAISE(ABORT, 'dispensings: a dispense needs its own first-print dispensing label of the same lot, Rx and patient'); END;
DROP TRIGGER label_prints_reprint;
CREATE TRIGGER label_prints_reprint BEFORE INSERT ON label_prints
WHEN NEW.kind <> 'dispensing' AND NEW.reprint IS NOT EXISTS
     (SELECT 1 FROM label_prints WHERE lot_id = NEW.lot_id AND kind = NEW.kind)
BEGIN SELECT RAISE(ABORT, 'label_prints: reprint must be 1 exactly when this batch and kind were printed before'); END;
CREATE TRIGGER label_prints_dispensing_reprint BEFORE INSERT ON label_prints
WHEN NEW.kind = 'dispensing' AND NEW.reprint = 1 AND NOT EXISTS
     (SELECT 1 FROM dispensings d WHERE d.lot_id = NEW.lot_id
      AND d.rx_number = NEW.rx_number AND d.patient = NEW.patient)
BEGIN SELECT RAISE(ABORT, 'label_prints: a dispensing reprint repeats an earlier dispense of this lot, Rx and patient'); END;
CREATE TABLE pending_outputs (
    id INTEGER PRIMARY KEY,
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    target TEXT NOT NULL CHECK (target IN ('file', 'printer')),
    output_path TEXT NOT NULL {_text('output_path')},
    temp_path TEXT,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    record_json TEXT NOT NULL {_json('record_json')},
    dispense_milli INTEGER CHECK (dispense_milli >= 1),
    label_print_id INTEGER REFERENCES label_prints(id),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    process_start TEXT NOT NULL,
    started_by TEXT NOT NULL {_text('started_by')},
    started_at TEXT NOT NULL {_utc('started_at')},
    CHECK ((target = 'file') = (temp_path IS NOT NULL))
);
CREATE INDEX dispensings_lot ON dispensings(lot_id);
CREATE INDEX pending_outputs_lot ON pending_outputs(lot_id);
{append_only('dispensings')}
""")


# ---------------------------------------------------------------- issue 18: exact stock sums

#: The movement kinds m019 feeds into ``lot_stock_exact``: column prefix -> (table, amount
#: column, signed). Every record that changes a component lot's stock is one of these. Frozen
#: with m019 (a released migration's SQL never changes): a new kind gets its columns and
#: triggers in a new migration (docs/store.md, "Exact stock totals").
M019_KINDS = {"received": ("lot_receipts", "quantity", False),
               "consumed": ("weighings", "consumed_quantity", False),
               "adjusted": ("stock_adjustments", "quantity", True)}


@migrations()
def m019_exact_lot_stock(db):
    """Exact stock on hand without summing history (issue 18): `lot_stock_exact` keeps each
    component lot's received, consumed (weighed) and adjusted (issue 19's signed adjustments)
    totals as whole numbers (each amount cut into 9-decimal chunks, see
    `compounding/store/exact_sums.py`), kept by triggers on `component_lots`, `lot_receipts`,
    `weighings` and `stock_adjustments`, and refused by triggers when they differ from the
    exact sums of those records; an amount SQL cannot cut exactly is counted in `inexact`
    (that lot is then summed with Decimal). `inventory list` reads one row a lot. Also
    `batches_status_lot`, so the newest batches of one status come off an index."""
    from .exact_sums import CHUNKS, total_sql

    def values(lot: str, only: str | None = None) -> dict[str, str]:
        out, inexact = {}, []
        for kind, (table, column, signed) in M019_KINDS.items():
            parts, bad = total_sql(table, column, lot, signed)
            if only in (None, kind):
                out.update({f"{kind}_{c}": p for c, p in zip(CHUNKS, parts)})
            inexact.append(bad)
        out["inexact"] = " + ".join(inexact)
        return out

    cols = list(values("0"))
    col_defs = ",\n    ".join(f"{c} INTEGER NOT NULL" for c in cols)
    derived = " OR ".join(f"NEW.{c} IS NOT {v}"
                          for c, v in values("NEW.component_lot_id").items())
    msg = ("lot_stock_exact is derived from lot_receipts, weighings and stock_adjustments; "
           "it cannot be")

    def refresh(kind: str) -> str:
        return ", ".join(f"{c} = {v}" for c, v in values("NEW.component_lot_id", kind).items())

    sql = [f"""
CREATE TABLE lot_stock_exact (
    component_lot_id INTEGER PRIMARY KEY REFERENCES component_lots(id),
    {col_defs}
);
INSERT INTO lot_stock_exact (component_lot_id, {', '.join(cols)})
SELECT id, {', '.join(values('component_lots.id').values())} FROM component_lots;
CREATE TRIGGER lot_stock_exact_derived_insert BEFORE INSERT ON lot_stock_exact
WHEN {derived}
BEGIN SELECT RAISE(ABORT, '{msg} edited'); END;
CREATE TRIGGER lot_stock_exact_derived_update BEFORE UPDATE ON lot_stock_exact
WHEN NEW.component_lot_id IS NOT OLD.component_lot_id OR {derived}
BEGIN SELECT RAISE(ABORT, '{msg} edited'); END;
CREATE TRIGGER lot_stock_exact_no_delete BEFORE DELETE ON lot_stock_exact
BEGIN SELECT RAISE(ABORT, '{msg} deleted'); END;
CREATE TRIGGER component_lots_stock_exact AFTER INSERT ON component_lots
BEGIN
    INSERT INTO lot_stock_exact (component_lot_id, {', '.join(cols)})
    VALUES (NEW.id, {', '.join(values('NEW.id').values())});
END;
CREATE INDEX batches_status_lot ON batches(status, lot_id);
"""]
    for kind, (table, _, _) in M019_KINDS.items():
        when = " WHEN NEW.component_lot_id IS NOT NULL" if kind == "consumed" else ""
        sql.append(f"""
CREATE TRIGGER {table}_stock_exact AFTER INSERT ON {table}{when}
BEGIN
    UPDATE lot_stock_exact SET {refresh(kind)}
    WHERE component_lot_id = NEW.component_lot_id;
END;""")
    db.executescript("\n".join(sql))


# ---------------------------------------------------------------- issue 18: one on-hand total

#: ``lot_on_hand``'s total columns: column -> the ``lot_stock_exact`` column prefixes it adds
#: up, each with its sign. Frozen with m021.
M021_TOTALS = {"received": (("received", 1),), "consumed": (("consumed", 1),),
               "adjusted": (("adjusted", 1),),
               "on_hand": (("received", 1), ("consumed", -1), ("adjusted", 1))}


def m021_values(row: str) -> dict[str, str]:
    """m021's SQL for each ``lot_on_hand`` column from the ``lot_stock_exact`` row ``row``
    (``NEW`` or a table alias): each total's exact text and the sign of on hand, all NULL
    when the lot has an amount SQL cannot add (``inexact``). Frozen with m021."""
    from .exact_sums import CHUNKS, normal_sql
    out, sign = {}, None
    for col, terms in M021_TOTALS.items():
        chunks = [" ".join(f"{'+' if k == 1 else '-'} {row}.{kind}_{c}" for kind, k in terms)
                  .lstrip("+ ") for c in CHUNKS]
        sign, text = normal_sql(*[f"({c})" for c in chunks])
        out[col] = f"(CASE WHEN {row}.inexact = 0 THEN {text} END)"
    out["on_hand_sign"] = f"(CASE WHEN {row}.inexact = 0 THEN {sign} END)"
    return out


@migrations()
def m021_lot_on_hand(db):
    """One normalised on-hand total per lot (issue 18): `lot_on_hand` holds each component
    lot's received, consumed, adjusted and on-hand totals as exact decimal text and the sign
    of on hand, worked out in SQL with integers only from `lot_stock_exact` (m019) by
    triggers on it, so `inventory list` filters, counts and shows stock with no arithmetic
    per lot. NULL for a lot with an amount m019 cannot add (`inexact`: that lot is summed
    with Decimal from its records). Derived, never edited: triggers refuse any other value
    and deletions."""
    vals = m021_values("NEW")
    cols = list(vals)
    msg = "lot_on_hand is derived from lot_stock_exact; it cannot be"
    x_vals = m021_values("x")
    same = " AND ".join(f"NEW.{c} IS {v}" for c, v in x_vals.items())
    derived = (f"NOT EXISTS (SELECT 1 FROM lot_stock_exact x WHERE "
               f"x.component_lot_id = NEW.component_lot_id AND {same})")
    db.executescript(f"""
CREATE TABLE lot_on_hand (
    component_lot_id INTEGER PRIMARY KEY REFERENCES component_lots(id),
    received TEXT,
    consumed TEXT,
    adjusted TEXT,
    on_hand TEXT,
    on_hand_sign INTEGER CHECK (on_hand_sign IN (-1, 0, 1)),
    CHECK ((on_hand IS NULL) = (on_hand_sign IS NULL))
);
INSERT INTO lot_on_hand (component_lot_id, {', '.join(cols)})
SELECT x.component_lot_id, {', '.join(x_vals.values())} FROM lot_stock_exact x;
CREATE INDEX lot_on_hand_sign ON lot_on_hand(on_hand_sign, component_lot_id);
CREATE TRIGGER lot_on_hand_derived_insert BEFORE INSERT ON lot_on_hand
WHEN {derived}
BEGIN SELECT RAISE(ABORT, '{msg} edited'); END;
CREATE TRIGGER lot_on_hand_derived_update BEFORE UPDATE ON lot_on_hand
WHEN NEW.component_lot_id IS NOT OLD.component_lot_id OR {derived}
BEGIN SELECT RAISE(ABORT, '{msg} edited'); END;
CREATE TRIGGER lot_on_hand_no_delete BEFORE DELETE ON lot_on_hand
BEGIN SELECT RAISE(ABORT, '{msg} deleted'); END;
CREATE TRIGGER lot_stock_exact_on_hand_insert AFTER INSERT ON lot_stock_exact
BEGIN
    INSERT INTO lot_on_hand (component_lot_id, {', '.join(cols)})
    VALUES (NEW.component_lot_id, {', '.join(vals.values())});
END;
CREATE TRIGGER lot_stock_exact_on_hand_update AFTER UPDATE ON lot_stock_exact
BEGIN
    UPDATE lot_on_hand SET {', '.join(f"{c} = {v}" for c, v in vals.items())}
    WHERE component_lot_id = NEW.component_lot_id;
END;
""")


# ---------------------------------------------------------------- session 4: the lifecycle

#: m023's refusals (frozen with it; the PostgreSQL mirror raises the same text).
M023_MESSAGES = {
    "scope": "verification_scopes: a verification's scope is the batch as it stood when "
             "verified (written by the verification itself)",
    "passing_status": "verifications: a batch passes verification only while planned or "
                      "compounded",
    "passing_weighed": "verifications: a batch passes verification only when every plan step "
                       "has a weighing",
    "passing_verifier": "verifications: the verifier must be a pharmacist who neither "
                        "compounded nor weighed the batch",
    "steps": "batch_steps: a plan step is recorded with its batch, before anything is weighed",
    "components": "batch_components: a planned component is recorded with its batch, before "
                  "anything is weighed",
    "compounded": "batches: a batch is compounded only when every plan step has a weighing",
    "rejected": "batches: a batch is rejected only with a pharmacist's rejection signature",
    "quarantine": "batches: a batch is put on hold only with a signed quarantine",
    "lifted": "batches: a hold is lifted only with a pharmacist's signature, back to the "
              "status the batch had before the hold",
    "verified": "batches: a batch is released only after a passing verification of the batch "
                "as it stands (verify it again)",
    "digest": "batches: the release signature must sign the batch as verified (its record "
              "digest is the verification's)",
    "independent": "batches: a batch is released by a pharmacist who neither compounded nor "
                   "weighed it",
    "reason": "batches: a batch on hold is released only with a reason saying why the hold ends",
    "bud_json": "batches: bud_json must state the BUD of the record, and changes only with it",
    "bud_limit": "batches: a limit of the BUD that does not depend on the lots used never "
                 "moves later",
    "bud_longer": "batches: a BUD is never lengthened by hand; only a planned batch's BUD "
                  "follows the lots actually weighed, and never past their expiry or the BUD's "
                  "other limits",
}

#: The component-lot limit's kind in ``bud_json`` candidates (:func:`compounding.bud.compute_bud`).
M023_LOT_LIMIT = "component-lot"


@migrations()
def m023_lifecycle_in_the_schema(db):
    """The batch lifecycle held by the schema, not only by the store (session 4 attack,
    findings 4 and 7): a batch becomes compounded only when every plan step has a weighing;
    released only with a pharmacist's release signature of the digest a passing verification
    signed, that verification the latest and of the batch as it stands (no weighing and no
    BUD change since: `verification_scopes`, written by a trigger on each verification), by a
    pharmacist who neither compounded nor weighed it (and, from a hold, with a reason);
    rejected, put on hold or lifted from a hold only with its signature (a lifted hold goes
    back to the status before it). A passing verification needs every plan step weighed and
    an independent pharmacist. Plan steps and planned components are recorded with their
    batch only. A BUD is never lengthened by hand: only a planned batch's BUD may move later,
    following the lots actually weighed, and never past their expiry or the BUD's other
    limits; bud_json states the BUD and changes only with it."""
    m = {k: v.replace("'", "''") for k, v in M023_MESSAGES.items()}
    transitions = ", ".join(f"'{t}'" for t in TRANSITIONS)
    last_sig = ("(SELECT MAX(id) FROM signatures WHERE lot_id = NEW.lot_id)")
    last_ver = ("(SELECT MAX(id) FROM verifications WHERE lot_id = NEW.lot_id)")
    unweighed = ("EXISTS (SELECT 1 FROM batch_steps s WHERE s.lot_id = NEW.lot_id AND NOT "
                 "EXISTS (SELECT 1 FROM weighings w WHERE w.lot_id = s.lot_id "
                 "AND w.step = s.step))")
    weighed_by = ("EXISTS (SELECT 1 FROM weighings w WHERE w.lot_id = NEW.lot_id "
                  "AND lower(w.weighed_by) = lower({who}))")

    def signed(meaning: str, pharmacist: bool = True) -> str:
        return (f"EXISTS (SELECT 1 FROM signatures g WHERE g.id = {last_sig} "
                f"AND g.meaning = '{meaning}'" + (" AND g.role = 'pharmacist')" if pharmacist
                                                  else ")"))

    def limit(col: str) -> str:
        return (f"COALESCE((SELECT MIN(json_extract(c.value, '$.date')) FROM "
                f"json_each({col}, '$.candidates') AS c WHERE "
                f"json_extract(c.value, '$.kind') IS NOT '{M023_LOT_LIMIT}'), '')")
    lots = ("COALESCE((SELECT MIN(l.expires) FROM component_lots l WHERE l.id IN ("
            "SELECT component_lot_id FROM weighings WHERE lot_id = NEW.lot_id "
            "AND component_lot_id IS NOT NULL UNION SELECT c.component_lot_id FROM "
            "batch_components c WHERE c.lot_id = NEW.lot_id AND NOT EXISTS (SELECT 1 FROM "
            "weighings w WHERE w.lot_id = c.lot_id AND w.ingredient = c.ingredient))), '')")
    state = {"weighings": "(SELECT COUNT(*) FROM weighings WHERE lot_id = {lot})",
             "last_weighing_id": "(SELECT MAX(id) FROM weighings WHERE lot_id = {lot})",
             "bud": "(SELECT bud FROM batches WHERE lot_id = {lot})"}
    scope_now = " AND ".join(f"c.{k} IS {v.format(lot='NEW.lot_id')}" for k, v in state.items()
                             if k != "bud") + " AND c.bud IS NEW.bud"
    db.executescript(f"""
CREATE TABLE verification_scopes (
    verification_id INTEGER PRIMARY KEY REFERENCES verifications(id),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    weighings INTEGER NOT NULL CHECK (weighings >= 0),
    last_weighing_id INTEGER,
    bud TEXT NOT NULL
);
INSERT INTO verification_scopes (verification_id, lot_id, {', '.join(state)})
SELECT v.id, v.lot_id, {', '.join(x.format(lot='v.lot_id') for x in state.values())}
FROM verifications v
WHERE v.passed = 1 AND v.id = (SELECT MAX(id) FROM verifications x WHERE x.lot_id = v.lot_id)
  AND EXISTS (SELECT 1 FROM batch_status_history h WHERE h.lot_id = v.lot_id
              AND h.new_status = 'released');
{append_only("verification_scopes")}
CREATE TRIGGER verification_scopes_as_verified BEFORE INSERT ON verification_scopes
WHEN NOT EXISTS (SELECT 1 FROM verifications WHERE id = NEW.verification_id
                 AND lot_id = NEW.lot_id)
  OR {' OR '.join(f"NEW.{k} IS NOT {v.format(lot='NEW.lot_id')}" for k, v in state.items())}
BEGIN SELECT RAISE(ABORT, '{m["scope"]}'); END;
CREATE TRIGGER verifications_scope AFTER INSERT ON verifications
BEGIN
    INSERT INTO verification_scopes (verification_id, lot_id, {', '.join(state)})
    VALUES (NEW.id, NEW.lot_id, {', '.join(x.format(lot='NEW.lot_id') for x in state.values())});
END;
CREATE TRIGGER verifications_passing BEFORE INSERT ON verifications
WHEN NEW.passed = 1 AND EXISTS (SELECT 1 FROM signatures WHERE id = NEW.signature_id
                                AND lot_id = NEW.lot_id AND meaning = 'verified'
                                AND record_sha256 = NEW.batch_sha256)
BEGIN
    SELECT RAISE(ABORT, '{m["passing_status"]}')
    WHERE (SELECT status FROM batches WHERE lot_id = NEW.lot_id)
          NOT IN ('planned', 'compounded');
    SELECT RAISE(ABORT, '{m["passing_weighed"]}') WHERE {unweighed};
    SELECT RAISE(ABORT, '{m["passing_verifier"]}')
    WHERE EXISTS (SELECT 1 FROM signatures g JOIN batches b ON b.lot_id = NEW.lot_id
                  WHERE g.id = NEW.signature_id AND (g.role <> 'pharmacist'
                        OR lower(g.signer) = lower(b.compounded_by)
                        OR {weighed_by.format(who='g.signer')}));
END;
CREATE TRIGGER batch_steps_at_creation BEFORE INSERT ON batch_steps
WHEN (SELECT status FROM batches WHERE lot_id = NEW.lot_id) IS NOT 'planned'
  OR EXISTS (SELECT 1 FROM weighings WHERE lot_id = NEW.lot_id)
BEGIN SELECT RAISE(ABORT, '{m["steps"]}'); END;
CREATE TRIGGER batch_components_at_creation BEFORE INSERT ON batch_components
WHEN (SELECT status FROM batches WHERE lot_id = NEW.lot_id) IS NOT 'planned'
  OR EXISTS (SELECT 1 FROM weighings WHERE lot_id = NEW.lot_id)
BEGIN SELECT RAISE(ABORT, '{m["components"]}'); END;
CREATE TRIGGER batches_lifecycle_signed BEFORE UPDATE OF status ON batches
WHEN NEW.status IS NOT OLD.status AND OLD.status || '>' || NEW.status IN ({transitions})
BEGIN
    SELECT RAISE(ABORT, '{m["compounded"]}')
    WHERE NEW.status = 'compounded' AND {unweighed};
    SELECT RAISE(ABORT, '{m["rejected"]}')
    WHERE NEW.status = 'rejected' AND NOT {signed('rejected')};
    SELECT RAISE(ABORT, '{m["quarantine"]}')
    WHERE NEW.status = 'quarantine' AND OLD.status <> 'released'
      AND NOT {signed('quarantined', pharmacist=False)};
    SELECT RAISE(ABORT, '{m["lifted"]}')
    WHERE OLD.status = 'quarantine' AND NEW.status IN ('planned', 'compounded')
      AND (NOT {signed('hold-lifted')}
           OR NEW.status IS NOT (SELECT old_status FROM batch_status_history
                                 WHERE lot_id = NEW.lot_id AND new_status = 'quarantine'
                                 ORDER BY id DESC LIMIT 1));
END;
CREATE TRIGGER batches_release_verified BEFORE UPDATE OF status ON batches
WHEN NEW.status = 'released' AND OLD.status IN ('compounded', 'quarantine')
     AND {signed('released')}
BEGIN
    SELECT RAISE(ABORT, '{m["verified"]}')
    WHERE NOT EXISTS (SELECT 1 FROM verifications v JOIN verification_scopes c
                      ON c.verification_id = v.id
                      WHERE v.id = {last_ver} AND v.passed = 1 AND {scope_now});
    SELECT RAISE(ABORT, '{m["digest"]}')
    WHERE (SELECT record_sha256 FROM signatures WHERE id = {last_sig})
          IS NOT (SELECT batch_sha256 FROM verifications WHERE id = {last_ver});
    SELECT RAISE(ABORT, '{m["independent"]}')
    WHERE EXISTS (SELECT 1 FROM signatures g WHERE g.id = {last_sig}
                  AND (lower(g.signer) = lower(NEW.compounded_by)
                       OR {weighed_by.format(who='g.signer')}));
    SELECT RAISE(ABORT, '{m["reason"]}')
    WHERE OLD.status = 'quarantine' AND (SELECT length(trim(COALESCE(reason, '')))
                                         FROM signatures WHERE id = {last_sig}) = 0;
END;
CREATE TRIGGER batches_bud_shortened_only BEFORE UPDATE OF bud, bud_json ON batches
WHEN OLD.status NOT IN ('released', 'rejected') AND json_valid(NEW.bud_json)
BEGIN
    SELECT RAISE(ABORT, '{m["bud_longer"]}')
    WHERE NEW.bud > OLD.bud AND (OLD.status IS NOT 'planned' OR NEW.bud > {lots}
                                 OR NEW.bud > {limit('OLD.bud_json')});
    SELECT RAISE(ABORT, '{m["bud_limit"]}')
    WHERE {limit('NEW.bud_json')} > {limit('OLD.bud_json')};
    SELECT RAISE(ABORT, '{m["bud_json"]}')
    WHERE json_extract(NEW.bud_json, '$.bud') IS NOT NEW.bud
       OR (NEW.bud_json IS NOT OLD.bud_json AND NEW.bud IS OLD.bud);
END;
""")


# ---------------------------------------------------------------- issue 20: speed on a big store
# (m022 was set aside for this issue; it is registered after m023, which landed first)

#: m022's ``stock_movements``: each branch joins its lot (so ``lot_number``, ``ingredient``
#: and ``unit`` are columns of every branch) and the running balance is partitioned by them
#: as well as by the lot's id (the same partitions: the id fixes the others). A filter on
#: any of them is then pushed into every branch and reaches its index. Frozen with m022.
M022_STOCK_MOVEMENTS = """
WITH m AS (
    SELECT lr.component_lot_id, l.ingredient, l.lot_number, l.unit, lr.received_at AS at,
           1 AS ord, 'receipt' AS kind, NULL AS reason, NULL AS batch_lot_id,
           CAST(lr.quantity AS REAL) AS change, lr.received_by AS by_user, lr.id AS source_id
    FROM lot_receipts lr JOIN component_lots l ON l.id = lr.component_lot_id
    UNION ALL
    SELECT w.component_lot_id, l.ingredient, l.lot_number, l.unit, w.weighed_at, 2,
           'weighing', NULL, w.lot_id, -CAST(w.consumed_quantity AS REAL), w.weighed_by, w.id
    FROM weighings w JOIN component_lots l ON l.id = w.component_lot_id
    UNION ALL
    SELECT a.component_lot_id, l.ingredient, l.lot_number, l.unit, a.signed_at, 3,
           'adjustment', a.reason, NULL, CAST(a.quantity AS REAL), a.signed_by, a.id
    FROM stock_adjustments a JOIN component_lots l ON l.id = a.component_lot_id
)
SELECT component_lot_id, ingredient, lot_number, unit, at, kind, reason, batch_lot_id,
       by_user, source_id, ROUND(change, 6) AS change,
       ROUND(SUM(change) OVER (PARTITION BY component_lot_id, lot_number, ingredient, unit
                               ORDER BY at, ord, source_id ROWS UNBOUNDED PRECEDING), 6)
           AS balance
FROM m"""

#: m022's ``stock_on_hand``: m013's, with each lot's adjustments summed through the index of
#: that lot (a subquery per lot) instead of grouping every adjustment of every lot first.
M022_STOCK_ON_HAND = """
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       CAST(julianday(l.expires) - julianday(date('now', 'localtime')) AS INTEGER)
           AS days_to_expiry,
       CAST(l.potency_percent AS REAL) AS potency_percent,
       l.unit,
       ROUND(COALESCE(s.received, 0), 6) AS received,
       ROUND(COALESCE(s.consumed, 0), 6) AS consumed,
       ROUND(COALESCE((SELECT SUM(CAST(a.quantity AS REAL)) FROM stock_adjustments a
                       WHERE a.component_lot_id = l.id), 0), 6) AS adjusted,
       ROUND(COALESCE(s.received, 0) - COALESCE(s.consumed, 0)
             + COALESCE((SELECT SUM(CAST(a.quantity AS REAL)) FROM stock_adjustments a
                         WHERE a.component_lot_id = l.id), 0), 6) AS on_hand,
       COALESCE((SELECT h.action = 'hold' FROM lot_holds h WHERE h.component_lot_id = l.id
                 ORDER BY h.id DESC LIMIT 1), 0) AS on_hold
FROM component_lots l
LEFT JOIN lot_stock s ON s.component_lot_id = l.id"""


@migrations()
def m022_views_read_by_lot(db):
    """Speed on a big store (issue 20, bench/bench_pg.py): two views for scripts read only
    the lots asked for. `stock_movements` joins the component lot inside each branch
    (receipts, weighings, adjustments) and partitions the running balance by lot number,
    ingredient and unit as well as the lot's id, so `WHERE lot_number = ?` reaches the
    indexes of every branch instead of computing every movement of every lot first;
    `stock_on_hand` sums each lot's adjustments through that lot's index instead of
    grouping every adjustment first. The same columns and the same rows."""
    db.executescript(f"DROP VIEW stock_movements;\n"
                     f"CREATE VIEW stock_movements AS {M022_STOCK_MOVEMENTS.strip()};\n"
                     f"DROP VIEW stock_on_hand;\n"
                     f"CREATE VIEW stock_on_hand AS {M022_STOCK_ON_HAND.strip()};\n")


#: m024: derived from ``batches``, refused by triggers when it differs from the count.
_M024_MSG = "batch_status_totals is derived from batches; it cannot be"
_M024_COUNT = "(SELECT COUNT(*) FROM batches b WHERE b.status = NEW.status)"


@migrations()
def m024_batch_status_totals(db):
    """Speed on a big store (issue 20): `batch_status_totals` keeps the number of batches in
    each status, kept by triggers on `batches` (a new batch, a change of status) and refused
    by triggers when it differs from the count of `batches` (so it can never be edited);
    `batch_status_counts` reads it, and each status's oldest and newest day off the index
    `batches_status_day`, instead of counting every batch of ten years. The same columns
    and rows (statuses with at least one batch), in status order."""
    db.executescript(f"""
CREATE TABLE batch_status_totals (
    status TEXT PRIMARY KEY,
    batches INTEGER NOT NULL CHECK (batches >= 0)
);
INSERT INTO batch_status_totals (status, batches)
SELECT status, COUNT(*) FROM batches GROUP BY status;
CREATE TRIGGER batch_status_totals_derived_insert BEFORE INSERT ON batch_status_totals
WHEN NEW.batches IS NOT {_M024_COUNT}
BEGIN SELECT RAISE(ABORT, '{_M024_MSG} edited'); END;
CREATE TRIGGER batch_status_totals_derived_update BEFORE UPDATE ON batch_status_totals
WHEN NEW.status IS NOT OLD.status OR NEW.batches IS NOT {_M024_COUNT}
BEGIN SELECT RAISE(ABORT, '{_M024_MSG} edited'); END;
CREATE TRIGGER batch_status_totals_no_delete BEFORE DELETE ON batch_status_totals
BEGIN SELECT RAISE(ABORT, '{_M024_MSG} deleted'); END;
CREATE TRIGGER batches_status_total_insert AFTER INSERT ON batches
BEGIN
    UPDATE batch_status_totals SET batches = batches + 1 WHERE status = NEW.status;
    INSERT INTO batch_status_totals (status, batches) SELECT NEW.status, 1
    WHERE NOT EXISTS (SELECT 1 FROM batch_status_totals WHERE status = NEW.status);
END;
CREATE TRIGGER batches_status_total_update AFTER UPDATE OF status ON batches
WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE batch_status_totals SET batches = batches - 1 WHERE status = OLD.status;
    UPDATE batch_status_totals SET batches = batches + 1 WHERE status = NEW.status;
    INSERT INTO batch_status_totals (status, batches) SELECT NEW.status, 1
    WHERE NOT EXISTS (SELECT 1 FROM batch_status_totals WHERE status = NEW.status);
END;
DROP VIEW batch_status_counts;
CREATE VIEW batch_status_counts AS
SELECT t.status,
       t.batches,
       (SELECT MIN(b.compounded_on) FROM batches b WHERE b.status = t.status) AS oldest,
       (SELECT MAX(b.compounded_on) FROM batches b WHERE b.status = t.status) AS newest
FROM batch_status_totals t
WHERE t.batches > 0
ORDER BY t.status;
""")
