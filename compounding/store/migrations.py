"""The database schema as append-only migrations (``sqlite_utils.Migrations``).

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

from sqlite_utils import Migrations

#: The migration set's name in ``_sqlite_migrations``.
SET_NAME = "compounding"

migrations = Migrations(SET_NAME)

GENESIS_HASH = "0" * 64


def _decimal(col: str, positive: bool = True) -> str:
    """CHECK that ``col`` holds a plain non-negative decimal numeral (``12``, ``0.5``)."""
    sign = ">" if positive else ">="
    return (f"CHECK ({col} GLOB '[0-9]*' AND {col} NOT GLOB '*[^0-9.]*' "
            f"AND {col} NOT GLOB '*.*.*' AND {col} NOT GLOB '*.' "
            f"AND CAST({col} AS REAL) {sign} 0)")


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
    for table in APPEND_ONLY:
        sql.append(f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: a record cannot be changed'); END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: a record cannot be deleted'); END;""")
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
