"""The schema on PostgreSQL (issue 20): the migration set mirroring :mod:`.migrations`.

Each entry of :data:`MIGRATIONS` has the name of the SQLite migration it mirrors and gives
the same tables, columns, CHECK rules, triggers (with the same refusal messages) and views,
so every record module's SQL, every digest and every message is the same on both backends.
Rules for whoever adds to this file: append only, never edit a released entry; when a SQLite
migration is added to :mod:`.migrations`, add its mirror here under the same name (a test
checks the two sets list the same names in the same order).

PostgreSQL spellings of the SQLite rules:

- amounts stay exact decimal TEXT (never ``numeric`` columns: a record's digest is taken of
  the text as stored); the GLOB checks are anchored regular expressions; ``json_valid`` is
  :data:`JSON_VALID_FN`; integers are BIGINT, ``INTEGER PRIMARY KEY`` an identity column;
- ``users.name`` is ``citext`` (SQLite's ``COLLATE NOCASE``: names match however typed);
- a trigger is a PL/pgSQL function raising SQLSTATE 23514 (``check_violation``) with the
  SQLite trigger's message (:func:`guard`);
- append-only tables also refuse TRUNCATE (SQLite has none), and the service's group role
  ``compounding_writer`` is granted no UPDATE, DELETE or TRUNCATE on them at all
  (:func:`grants`): a dropped trigger does not open history to the service;
- views compute REAL columns as ``double precision`` rounded to 6 places, "today" as
  ``CURRENT_DATE`` in the session's time zone (the machine's local offset, see
  :func:`.postgres.connect`).
"""

from __future__ import annotations

from .migrations import (ADJUSTMENT_REASONS, APPEND_ONLY, BATCH_COLUMNS, BATCH_MUTABLE,
                         CALIBRATION_SIZES, CONTACT_OUTCOMES, GENESIS_HASH, MEANINGS, ROLES, RX_APPEND_ONLY,
                         SIGNOFF_APPEND_ONLY, STATUSES, STOCK_APPEND_ONLY, SUBJECTS,
                         TECHNICIAN_MEANINGS, TOKEN_MUTABLE, TRANSITIONS, USER_LOCKOUT_MUTABLE,
                         USER_MUTABLE)

#: The advisory lock of :data:`.postgres.WRITE_LOCK_KEY` (repeated: no import circle).
WRITE_LOCK_KEY = 20_2606_0001

#: Group roles the migrations grant to when they exist (``db init-roles`` creates them).
WRITER_ROLE = "compounding_writer"
READER_ROLE = "compounding_reader"

_TRIGGERS: list[tuple[str, str]] = []  # (table, trigger) of every trigger below


def _q(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _decimal(col: str, positive: bool = True) -> str:
    """The ``migrations._decimal`` rule: a plain non-negative decimal numeral."""
    sign = ">" if positive else ">="
    return (f"CHECK (CASE WHEN {col} IS NULL THEN NULL WHEN {col} ~ '^[0-9]+(\\.[0-9]+)?$' "
            f"THEN {col}::numeric {sign} 0 ELSE false END)")


def _date(col: str) -> str:
    return f"CHECK ({col} ~ '^[0-9]{{4}}-[01][0-9]-[0-3][0-9]$')"


def _utc(col: str) -> str:
    return f"CHECK ({col} ~ '^[0-9]{{4}}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].*Z$')"


def _json(col: str) -> str:
    return f"CHECK (compounding_json_valid({col}))"


def _text(col: str) -> str:
    return f"CHECK (length(trim({col})) > 0)"


def _r6(expr: str) -> str:
    """SQLite's ``ROUND(x, 6)`` of a REAL: a double rounded to 6 places."""
    return f"ROUND(({expr})::numeric, 6)::double precision"


def _real(col: str) -> str:
    return f"({col})::double precision"


def guard(name: str, table: str, event: str, checks: list[tuple[str, str]],
          row: str = "NEW") -> str:
    """A BEFORE ``event`` row trigger ``name`` on ``table`` refusing, in order, each
    ``(condition, message)`` whose condition holds: SQLSTATE 23514 with ``message``."""
    body = "\n".join(f"    IF {cond} THEN\n        RAISE EXCEPTION USING ERRCODE = "
                     f"'check_violation', MESSAGE = $m${msg}$m$;\n    END IF;"
                     for cond, msg in checks)
    _TRIGGERS.append((table, name))
    return f"""
CREATE FUNCTION trg_{name}() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
{body}
    RETURN {row};
END $f$;
CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION trg_{name}();
"""


def append_only(table: str) -> str:
    """UPDATE, DELETE and TRUNCATE refused on ``table`` (SQLite's messages)."""
    _TRIGGERS.append((table, f"{table}_no_truncate"))
    return (guard(f"{table}_no_update", table, "UPDATE",
                  [("true", f"{table} is append-only: a record cannot be changed")])
            + guard(f"{table}_no_delete", table, "DELETE",
                    [("true", f"{table} is append-only: a record cannot be deleted")], "OLD")
            + f"""
CREATE FUNCTION trg_{table}_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation',
        MESSAGE = $m${table} is append-only: a record cannot be deleted$m$;
END $f$;
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION trg_{table}_no_truncate();
""")


def _changed(cols) -> str:
    return " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in cols)


_ID = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

# ---------------------------------------------------------------- m001, m002, m003

_M001 = f"""
CREATE FUNCTION compounding_json_valid(t text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    PERFORM t::json;
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END $f$;
CREATE TABLE component_lots (
    id {_ID},
    ingredient TEXT NOT NULL {_text('ingredient')},
    lot_number TEXT NOT NULL {_text('lot_number')},
    manufacturer TEXT,
    expires TEXT NOT NULL {_date('expires')},
    potency_percent TEXT NOT NULL DEFAULT '100' {_decimal('potency_percent')}
        CHECK (CASE WHEN potency_percent ~ '^[0-9]+(\\.[0-9]+)?$'
               THEN potency_percent::numeric <= 110 ELSE false END),
    unit TEXT NOT NULL CHECK (unit IN ('mg', 'mL')),
    created_by TEXT NOT NULL {_text('created_by')},
    created_at TEXT NOT NULL {_utc('created_at')},
    UNIQUE (ingredient, lot_number)
);
CREATE TABLE lot_receipts (
    id {_ID},
    component_lot_id BIGINT NOT NULL REFERENCES component_lots(id),
    quantity TEXT NOT NULL {_decimal('quantity')},
    received_as TEXT NOT NULL,
    received_by TEXT NOT NULL {_text('received_by')},
    received_at TEXT NOT NULL {_utc('received_at')}
);
CREATE TABLE lot_ids (
    lot_id TEXT PRIMARY KEY CHECK (lot_id ~ '^[0-9]{{10}}$'),
    day TEXT NOT NULL {_date('day')},
    seq BIGINT NOT NULL CHECK (seq BETWEEN 1 AND 999),
    allocated_by TEXT NOT NULL {_text('allocated_by')},
    allocated_at TEXT NOT NULL {_utc('allocated_at')},
    UNIQUE (day, seq)
);
CREATE TABLE batches (
    lot_id TEXT PRIMARY KEY REFERENCES lot_ids(lot_id),
    formula_id TEXT NOT NULL,
    formula_version BIGINT NOT NULL,
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
    status TEXT NOT NULL DEFAULT 'planned' CHECK (status IN ({_q(STATUSES)})),
    compounded_by TEXT NOT NULL {_text('compounded_by')},
    created_at TEXT NOT NULL {_utc('created_at')}
);
CREATE TABLE batch_components (
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    ingredient TEXT NOT NULL,
    component_lot_id BIGINT NOT NULL REFERENCES component_lots(id),
    planned_quantity TEXT NOT NULL {_decimal('planned_quantity', positive=False)},
    unit TEXT NOT NULL CHECK (unit IN ('mg', 'mL')),
    chosen TEXT NOT NULL CHECK (chosen IN ('named', 'earliest-expiry')),
    PRIMARY KEY (lot_id, ingredient)
);
CREATE INDEX batch_components_lot ON batch_components(component_lot_id);
CREATE TABLE batch_steps (
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    step BIGINT NOT NULL CHECK (step >= 1),
    what TEXT NOT NULL,
    ingredient TEXT,
    quantity TEXT NOT NULL {_decimal('quantity', positive=False)},
    unit TEXT NOT NULL,
    PRIMARY KEY (lot_id, step)
);
CREATE TABLE weighings (
    id {_ID},
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    step BIGINT NOT NULL CHECK (step >= 1),
    what TEXT NOT NULL,
    ingredient TEXT,
    component_lot_id BIGINT REFERENCES component_lots(id),
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
CREATE TABLE label_prints (
    id {_ID},
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    kind TEXT NOT NULL {_text('kind')},
    template_id TEXT NOT NULL,
    template_version BIGINT NOT NULL,
    template_sha256 TEXT NOT NULL CHECK (length(template_sha256) = 64),
    copies BIGINT NOT NULL CHECK (copies >= 1),
    pdf_sha256 TEXT NOT NULL CHECK (length(pdf_sha256) = 64),
    output_path TEXT NOT NULL,
    reprint BIGINT NOT NULL CHECK (reprint IN (0, 1)),
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
    id {_ID},
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
    id {_ID},
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
"""


def _m002() -> str:
    sql = [append_only(t) for t in APPEND_ONLY]
    fixed = [c for c in BATCH_COLUMNS if c not in BATCH_MUTABLE]
    sql.append(guard("batches_no_delete", "batches", "DELETE",
                     [("true", "batches: a compounding record cannot be deleted")], "OLD"))
    sql.append(guard("batches_fixed_columns", "batches", "UPDATE",
                     [(_changed(fixed), "batches: only status and BUD may change; the "
                                        "record is fixed")]))
    sql.append(guard("batches_final_bud", "batches", "UPDATE OF bud, bud_json",
                     [("OLD.status IN ('released', 'rejected') AND (" +
                       _changed(("bud", "bud_json")) + ")",
                       "batches: the BUD of a released or rejected batch is final")]))
    sql.append(guard("batches_rejected_final", "batches", "UPDATE OF status",
                     [("OLD.status = 'rejected' AND NEW.status IS DISTINCT FROM OLD.status",
                       "batches: a rejected batch stays rejected")]))
    _TRIGGERS.append(("batches", "batches_status_history"))
    sql.append("""
CREATE FUNCTION trg_batches_status_history() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO batch_status_history (lot_id, old_status, new_status, changed_at)
    VALUES (NEW.lot_id, OLD.status, NEW.status,
            to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    RETURN NEW;
END $f$;
CREATE TRIGGER batches_status_history AFTER UPDATE OF status ON batches FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION trg_batches_status_history();
""")
    sql.append(guard("batches_lot_id_allocated", "batches", "INSERT", [(
        "NOT EXISTS (SELECT 1 FROM lot_ids WHERE lot_id = NEW.lot_id) "
        "OR EXISTS (SELECT 1 FROM batches WHERE lot_id = NEW.lot_id)",
        "batches: the lot ID must be freshly allocated (lot_ids)")]))
    sql.append(guard("weighings_rules", "weighings", "INSERT", [
        ("(SELECT status FROM batches WHERE lot_id = NEW.lot_id) "
         "NOT IN ('planned', 'compounded')",
         "weighings: the batch is not open for weighing"),
        ("NOT EXISTS (SELECT 1 FROM batch_steps WHERE lot_id = NEW.lot_id AND step = NEW.step "
         "AND ingredient IS NOT DISTINCT FROM NEW.ingredient)",
         "weighings: no such step in the batch plan"),
        ("NEW.component_lot_id IS NOT NULL AND NEW.ingredient IS DISTINCT FROM "
         "(SELECT ingredient FROM component_lots WHERE id = NEW.component_lot_id)",
         "weighings: the component lot is of another ingredient"),
        ("NEW.component_lot_id IS NOT NULL AND substr(NEW.weighed_at, 1, 10) > "
         "(SELECT expires FROM component_lots WHERE id = NEW.component_lot_id)",
         "weighings: the component lot had expired when weighed"),
        ("NEW.reweigh_reason IS NULL AND EXISTS (SELECT 1 FROM weighings WHERE "
         "lot_id = NEW.lot_id AND step = NEW.step)",
         "weighings: this step is already weighed; a re-weigh needs a reason"),
    ]))
    sql.append(guard("label_prints_reprint", "label_prints", "INSERT", [(
        "NEW.reprint IS DISTINCT FROM (EXISTS (SELECT 1 FROM label_prints WHERE "
        "lot_id = NEW.lot_id AND kind = NEW.kind))::int",
        "label_prints: reprint must be 1 exactly when this batch and kind were printed "
        "before")]))
    # the chain is one sequence: appending takes the store's write lock (so a script
    # inserting by hand queues behind the store's writers instead of forking the chain)
    _TRIGGERS.append(("audit_log", "audit_log_chain"))
    sql.append(f"""
CREATE FUNCTION trg_audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_advisory_xact_lock({WRITE_LOCK_KEY});
    IF NEW.prev_hash IS DISTINCT FROM COALESCE(
            (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), '{GENESIS_HASH}')
       OR NEW.id IS DISTINCT FROM COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = $m$audit_log: an entry must chain to the last one (id and prev_hash)$m$;
    END IF;
    RETURN NEW;
END $f$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW
    EXECUTE FUNCTION trg_audit_log_chain();
""")
    return "\n".join(sql)


_BATCH_VIEWS = """
CREATE VIEW batch_summary AS
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
FROM batches b;
CREATE VIEW batch_status_counts AS
SELECT status, COUNT(*) AS batches, MIN(compounded_on) AS oldest, MAX(compounded_on) AS newest
FROM batches GROUP BY status;
"""

_LOT_USAGE = f"""
CREATE VIEW lot_usage AS
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
       {_r6('SUM(' + _real('w.consumed_quantity') + ')')} AS quantity,
       l.unit,
       MIN(w.weighed_at) AS first_used_at
FROM weighings w
JOIN component_lots l ON l.id = w.component_lot_id
JOIN batches b ON b.lot_id = w.lot_id
GROUP BY l.id, l.lot_number, l.ingredient, b.lot_id
UNION ALL
SELECT l.id, l.ingredient, l.lot_number, l.manufacturer, l.expires,
       b.lot_id, b.formula_id, b.status, b.compounded_on, b.bud,
       'planned', {_r6(_real('bc.planned_quantity'))}, l.unit, NULL
FROM batch_components bc
JOIN component_lots l ON l.id = bc.component_lot_id
JOIN batches b ON b.lot_id = bc.lot_id
WHERE NOT EXISTS (SELECT 1 FROM weighings w
                  WHERE w.lot_id = bc.lot_id AND w.component_lot_id = bc.component_lot_id);
"""

# ---------------------------------------------------------------- m004: users and sign-offs

_M004_TABLES = f"""
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE users (
    id {_ID},
    name citext NOT NULL UNIQUE
        CHECK (length(name) BETWEEN 2 AND 40
               AND name::text ~ '^[A-Za-z][A-Za-z0-9._-]*$'),
    full_name TEXT NOT NULL {_text('full_name')},
    role TEXT NOT NULL CHECK (role IN ({_q(ROLES)})),
    passphrase_hash TEXT NOT NULL CHECK (starts_with(passphrase_hash, 'scrypt$')),
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    failed_attempts BIGINT NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_at TEXT {_utc('locked_at')},
    created_by TEXT NOT NULL {_text('created_by')},
    created_at TEXT NOT NULL {_utc('created_at')},
    deactivated_by TEXT,
    deactivated_at TEXT {_utc('deactivated_at')},
    CHECK ((active = 0) = (deactivated_at IS NOT NULL))
);
CREATE TABLE submissions (
    id {_ID},
    subject_type TEXT NOT NULL CHECK (subject_type IN ('formula', 'template')),
    subject_id TEXT NOT NULL {_text('subject_id')},
    version BIGINT NOT NULL CHECK (version >= 1),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    content TEXT NOT NULL,
    note TEXT,
    submitted_by TEXT NOT NULL {_text('submitted_by')},
    submitted_at TEXT NOT NULL {_utc('submitted_at')},
    UNIQUE (subject_type, subject_id, sha256)
);
CREATE TABLE signatures (
    id {_ID},
    signer TEXT NOT NULL {_text('signer')},
    signer_name TEXT NOT NULL {_text('signer_name')},
    role TEXT NOT NULL CHECK (role IN ({_q(ROLES)})),
    meaning TEXT NOT NULL CHECK (meaning IN ({_q(MEANINGS)})),
    subject_type TEXT NOT NULL CHECK (subject_type IN ({_q(SUBJECTS)})),
    subject_id TEXT NOT NULL {_text('subject_id')},
    subject_version BIGINT,
    record_sha256 TEXT NOT NULL CHECK (length(record_sha256) = 64),
    lot_id TEXT REFERENCES batches(lot_id),
    reason TEXT,
    details TEXT NOT NULL {_json('details')},
    signed_at TEXT NOT NULL {_utc('signed_at')},
    CHECK (role = 'pharmacist' OR meaning IN ({_q(TECHNICIAN_MEANINGS)})),
    CHECK ((subject_type = 'batch') = (lot_id IS NOT NULL)),
    CHECK (meaning NOT IN ('rejected', 'quarantined', 'hold-lifted')
           OR length(trim(reason)) > 0)
);
CREATE INDEX signatures_lot ON signatures(lot_id);
CREATE INDEX signatures_subject ON signatures(subject_type, subject_id, record_sha256);
CREATE TABLE verifications (
    id {_ID},
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    signature_id BIGINT NOT NULL UNIQUE REFERENCES signatures(id),
    passed BIGINT NOT NULL CHECK (passed IN (0, 1)),
    batch_sha256 TEXT NOT NULL CHECK (length(batch_sha256) = 64)
);
CREATE INDEX verifications_lot ON verifications(lot_id);
CREATE TABLE verification_checks (
    verification_id BIGINT NOT NULL REFERENCES verifications(id),
    seq BIGINT NOT NULL CHECK (seq >= 1),
    code TEXT NOT NULL {_text('code')},
    passed BIGINT NOT NULL CHECK (passed IN (0, 1)),
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
);
"""


def _m004() -> str:
    sql = [_M004_TABLES] + [append_only(t) for t in SIGNOFF_APPEND_ONLY]
    fixed = ("id", "name", "full_name", "role", "created_by", "created_at")
    transitions = _q(TRANSITIONS)
    sql += [
        guard("users_no_delete", "users", "DELETE",
              [("true", "users: a user is never deleted (deactivate instead)")], "OLD"),
        guard("users_fixed_columns", "users", "UPDATE",
              [(_changed(fixed), "users: name, role and creation are fixed; add a new user")]),
        guard("users_stay_deactivated", "users", "UPDATE", [(
            "OLD.active = 0 AND (NEW.active IS DISTINCT FROM 0 OR " +
            _changed(("deactivated_at", "deactivated_by")) + ")",
            "users: a deactivated user stays deactivated (names are never reused)")]),
        guard("signatures_signer", "signatures", "INSERT", [
            ("NOT EXISTS (SELECT 1 FROM users WHERE name = NEW.signer::citext "
             "AND role = NEW.role AND active = 1 AND locked_at IS NULL)",
             "signatures: the signer must be an active, unlocked user of that role"),
            ("NEW.meaning = 'approved' AND NOT EXISTS (SELECT 1 FROM submissions WHERE "
             "subject_type = NEW.subject_type AND subject_id = NEW.subject_id "
             "AND sha256 = NEW.record_sha256 "
             "AND version IS NOT DISTINCT FROM NEW.subject_version "
             "AND lower(submitted_by) <> lower(NEW.signer))",
             "signatures: an approval needs a submission by someone other than the "
             "approver"),
        ]),
        guard("verifications_signed", "verifications", "INSERT", [(
            "NOT EXISTS (SELECT 1 FROM signatures WHERE id = NEW.signature_id "
            "AND lot_id = NEW.lot_id AND meaning = CASE NEW.passed WHEN 1 THEN 'verified' "
            "ELSE 'verification-failed' END AND record_sha256 = NEW.batch_sha256)",
            "verifications: must match the pharmacist's signature of this batch")]),
        guard("batch_corrections_target", "batch_corrections", "INSERT", [(
            "(SELECT status FROM batches WHERE lot_id = NEW.corrects_lot_id) "
            "NOT IN ('rejected', 'quarantine')",
            "batch_corrections: only a rejected or quarantined batch can be corrected")]),
        guard("batches_lifecycle", "batches", "UPDATE OF status", [(
            f"NEW.status IS DISTINCT FROM OLD.status AND OLD.status <> 'rejected' "
            f"AND NEW.status IN ({_q(STATUSES)}) "
            f"AND OLD.status || '>' || NEW.status NOT IN ({transitions})",
            "batches: the batch lifecycle does not allow this status change")]),
        guard("batches_release_signed", "batches", "UPDATE OF status", [(
            "NEW.status = 'released' AND OLD.status IN ('compounded', 'quarantine') "
            "AND NOT EXISTS (SELECT 1 FROM signatures s WHERE s.lot_id = NEW.lot_id "
            "AND s.meaning = 'released' AND s.role = 'pharmacist' "
            "AND s.id = (SELECT MAX(id) FROM signatures WHERE lot_id = NEW.lot_id))",
            "batches: a batch is released only with a pharmacist's release signature")]),
        guard("batches_released_final", "batches", "UPDATE OF status", [(
            "OLD.status = 'released' AND NEW.status IS DISTINCT FROM 'released' "
            "AND NOT EXISTS (SELECT 1 FROM signatures s WHERE s.lot_id = NEW.lot_id "
            "AND s.meaning = 'quarantined' "
            "AND s.id = (SELECT MAX(id) FROM signatures WHERE lot_id = NEW.lot_id))",
            "batches: a released batch is final; only a signed quarantine (hold) may "
            "change it")]),
    ]
    return "\n".join(sql)


# ---------------------------------------------------------------- m005: lot_stock

_RECEIVED = ("(SELECT COALESCE(SUM((quantity)::double precision), 0) FROM lot_receipts "
             "WHERE component_lot_id = {id})")
_CONSUMED = ("(SELECT COALESCE(SUM((consumed_quantity)::double precision), 0) FROM weighings "
             "WHERE component_lot_id = {id})")

_STOCK_M005 = f"""
CREATE VIEW stock_on_hand AS
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       (l.expires::date - CURRENT_DATE) AS days_to_expiry,
       {_real('l.potency_percent')} AS potency_percent,
       l.unit,
       {_r6('COALESCE(s.received, 0)')} AS received,
       {_r6('COALESCE(s.consumed, 0)')} AS consumed,
       {_r6('COALESCE(s.received, 0) - COALESCE(s.consumed, 0)')} AS on_hand
FROM component_lots l
LEFT JOIN lot_stock s ON s.component_lot_id = l.id;
"""


def _m005() -> str:
    new_id = "NEW.component_lot_id"
    derived = (f"NEW.received IS DISTINCT FROM {_RECEIVED.format(id=new_id)} "
               f"OR NEW.consumed IS DISTINCT FROM {_CONSUMED.format(id=new_id)}")
    msg = "lot_stock is derived from lot_receipts and weighings; it cannot be edited"
    _TRIGGERS.extend([("component_lots", "component_lots_stock"),
                      ("lot_receipts", "lot_receipts_stock"), ("weighings", "weighings_stock")])
    return f"""
CREATE INDEX component_lots_lot_number ON component_lots(lot_number);
CREATE INDEX component_lots_expires ON component_lots(expires, ingredient, lot_number, unit);
CREATE INDEX batches_status_day ON batches(status, compounded_on);
CREATE INDEX batch_status_history_lot ON batch_status_history(lot_id);
CREATE INDEX weighings_component_lot_consumed ON weighings(component_lot_id, consumed_quantity);
CREATE INDEX lot_receipts_lot_quantity ON lot_receipts(component_lot_id, quantity);
CREATE TABLE lot_stock (
    component_lot_id BIGINT PRIMARY KEY REFERENCES component_lots(id),
    received double precision NOT NULL,
    consumed double precision NOT NULL
);
{guard("lot_stock_derived_insert", "lot_stock", "INSERT", [(derived, msg)])}
{guard("lot_stock_derived_update", "lot_stock", "UPDATE", [
        ("NEW.component_lot_id IS DISTINCT FROM OLD.component_lot_id OR " + derived, msg)])}
{guard("lot_stock_no_delete", "lot_stock", "DELETE", [(
        "true", "lot_stock is derived from lot_receipts and weighings; it cannot be deleted")],
        "OLD")}
CREATE FUNCTION trg_component_lots_stock() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO lot_stock (component_lot_id, received, consumed)
    VALUES (NEW.id, {_RECEIVED.format(id='NEW.id')}, {_CONSUMED.format(id='NEW.id')});
    RETURN NEW;
END $f$;
CREATE TRIGGER component_lots_stock AFTER INSERT ON component_lots FOR EACH ROW
    EXECUTE FUNCTION trg_component_lots_stock();
CREATE FUNCTION trg_lot_receipts_stock() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE lot_stock SET received = {_RECEIVED.format(id=new_id)}
    WHERE component_lot_id = NEW.component_lot_id;
    RETURN NEW;
END $f$;
CREATE TRIGGER lot_receipts_stock AFTER INSERT ON lot_receipts FOR EACH ROW
    EXECUTE FUNCTION trg_lot_receipts_stock();
CREATE FUNCTION trg_weighings_stock() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE lot_stock SET consumed = {_CONSUMED.format(id=new_id)}
    WHERE component_lot_id = NEW.component_lot_id;
    RETURN NEW;
END $f$;
CREATE TRIGGER weighings_stock AFTER INSERT ON weighings FOR EACH ROW
    WHEN (NEW.component_lot_id IS NOT NULL) EXECUTE FUNCTION trg_weighings_stock();
{_STOCK_M005}
"""


# ---------------------------------------------------------------- m009, m010, m011

def _m009() -> str:
    frozen = _changed(("id", "user_id", "prefix", "token_sha256", "label", "created_by",
                       "created_at"))
    return f"""
CREATE TABLE api_tokens (
    id {_ID},
    user_id BIGINT NOT NULL REFERENCES users(id),
    prefix TEXT NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9]{{8}}$'),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{{64}}$'),
    label TEXT CHECK (label IS NULL OR length(label) BETWEEN 1 AND 100),
    created_by TEXT NOT NULL {_text('created_by')},
    created_at TEXT NOT NULL {_utc('created_at')},
    revoked_by TEXT,
    revoked_at TEXT,
    CHECK ((revoked_by IS NULL) = (revoked_at IS NULL))
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
{guard("api_tokens_no_delete", "api_tokens", "DELETE",
       [("true", "api tokens are revoked, never deleted")], "OLD")}
{guard("api_tokens_revoke_only", "api_tokens", "UPDATE", [(
        "OLD.revoked_at IS NOT NULL OR " + frozen,
        "an api token is only revoked, once; nothing else changes")])}
"""


def _m010() -> str:
    return f"""
CREATE TABLE weighing_sources (
    weighing_id BIGINT PRIMARY KEY REFERENCES weighings(id),
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
    receipt_id BIGINT PRIMARY KEY REFERENCES lot_receipts(id),
    gtin TEXT CHECK (gtin IS NULL OR gtin ~ '^[0-9]{{14}}$'),
    production_date TEXT CHECK (production_date IS NULL OR
        production_date ~ '^[0-9]{{4}}-[01][0-9]-[0-3][0-9]$'),
    scan TEXT NOT NULL {_text('scan')},
    recorded_at TEXT NOT NULL {_utc('recorded_at')}
);
{append_only("weighing_sources")}
{append_only("receipt_scans")}
"""


def _m011() -> str:
    sql = [f"""
CREATE TABLE prescriptions (
    id {_ID},
    rx_number TEXT NOT NULL {_text('rx_number')},
    version BIGINT NOT NULL CHECK (version >= 1),
    corrects BIGINT REFERENCES prescriptions(id),
    reason TEXT,
    patient TEXT NOT NULL {_text('patient')},
    prescriber TEXT NOT NULL {_text('prescriber')},
    formula_id TEXT NOT NULL,
    formula_version BIGINT NOT NULL,
    formula_sha256 TEXT NOT NULL,
    formula_snapshot TEXT NOT NULL {_json('formula_snapshot')},
    strength TEXT,
    storage TEXT NOT NULL CHECK (storage IN ('room', 'refrigerated')),
    bud_policy TEXT NOT NULL,
    dose_time TEXT NOT NULL CHECK (dose_time IN ('bedtime', 'morning', 'evening')),
    start_date TEXT NOT NULL {_date('start_date')},
    end_date TEXT NOT NULL {_date('end_date')},
    schedule TEXT NOT NULL {_text('schedule')},
    dose_confirmed BIGINT NOT NULL CHECK (dose_confirmed IN (0, 1)),
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
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    seq BIGINT NOT NULL CHECK (seq >= 1),
    dose_mg TEXT NOT NULL {_decimal('dose_mg')},
    days BIGINT NOT NULL CHECK (days >= 1),
    PRIMARY KEY (prescription_id, seq)
);
CREATE TABLE prescription_fills (
    id {_ID},
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    fill BIGINT NOT NULL CHECK (fill >= 1),
    strength TEXT NOT NULL,
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    quantity TEXT NOT NULL {_text('quantity')},
    first_day TEXT NOT NULL {_date('first_day')},
    last_day TEXT NOT NULL {_date('last_day')},
    directions TEXT NOT NULL {_text('directions')},
    label_print_id BIGINT NOT NULL REFERENCES label_prints(id),
    dispensed_by TEXT NOT NULL,
    dispensed_at TEXT NOT NULL {_utc('dispensed_at')},
    UNIQUE (prescription_id, fill, strength)
);
CREATE INDEX prescriptions_patient ON prescriptions(patient);
CREATE INDEX prescription_fills_lot ON prescription_fills(lot_id);
""",
           guard("prescriptions_versions", "prescriptions", "INSERT", [(
               "NEW.version IS DISTINCT FROM COALESCE((SELECT MAX(version) FROM "
               "prescriptions WHERE rx_number = NEW.rx_number), 0) + 1 "
               "OR NEW.corrects IS DISTINCT FROM (SELECT id FROM prescriptions "
               "WHERE rx_number = NEW.rx_number ORDER BY version DESC LIMIT 1)",
               "prescriptions: a new version must correct the latest version of its Rx")]),
           guard("prescription_fills_once", "prescription_fills", "INSERT", [(
               "EXISTS (SELECT 1 FROM prescription_fills f JOIN prescriptions p "
               "ON p.id = f.prescription_id WHERE p.rx_number = (SELECT rx_number FROM "
               "prescriptions WHERE id = NEW.prescription_id) AND f.fill = NEW.fill "
               "AND f.strength = NEW.strength)",
               "prescription_fills: this fill of this Rx was already dispensed")])]
    sql += [append_only(t) for t in RX_APPEND_ONLY]
    return "\n".join(sql)


# ---------------------------------------------------------------- m013, m014, m015

def _signed_decimal(col: str) -> str:
    body = f"ltrim({col}, '-')"
    return (f"CHECK ({col} ~ '^-?[0-9]') "
            f"CHECK (CASE WHEN {body} ~ '^[0-9]+(\\.[0-9]+)?$' THEN {body}::numeric > 0 "
            "ELSE false END)")


def _active(col: str, role: str | None = None) -> str:
    extra = f" AND role = '{role}'" if role else ""
    return f"NOT EXISTS (SELECT 1 FROM users WHERE name = ({col})::citext AND active = 1{extra})"


def _m013() -> str:
    stock = f"""
CREATE VIEW stock_on_hand AS
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       (l.expires::date - CURRENT_DATE) AS days_to_expiry,
       {_real('l.potency_percent')} AS potency_percent,
       l.unit,
       {_r6('COALESCE(s.received, 0)')} AS received,
       {_r6('COALESCE(s.consumed, 0)')} AS consumed,
       {_r6('COALESCE(a.adjusted, 0)')} AS adjusted,
       {_r6('COALESCE(s.received, 0) - COALESCE(s.consumed, 0) + COALESCE(a.adjusted, 0)')}
           AS on_hand,
       COALESCE((SELECT (h.action = 'hold')::int FROM lot_holds h
                 WHERE h.component_lot_id = l.id ORDER BY h.id DESC LIMIT 1), 0) AS on_hold
FROM component_lots l
LEFT JOIN lot_stock s ON s.component_lot_id = l.id
LEFT JOIN (SELECT component_lot_id, SUM((quantity)::double precision) AS adjusted
           FROM stock_adjustments GROUP BY component_lot_id) a
       ON a.component_lot_id = l.id;
"""
    sql = [f"""
CREATE TABLE stock_counts (
    id {_ID},
    component_lot_id BIGINT NOT NULL REFERENCES component_lots(id),
    counted TEXT NOT NULL {_decimal('counted', positive=False)},
    counted_as TEXT NOT NULL {_text('counted_as')},
    book TEXT NOT NULL,
    variance TEXT NOT NULL,
    note TEXT,
    counted_by TEXT NOT NULL {_text('counted_by')},
    counted_at TEXT NOT NULL {_utc('counted_at')}
);
CREATE TABLE recalls (
    id {_ID},
    component_lot_id BIGINT REFERENCES component_lots(id),
    lot_id TEXT REFERENCES batches(lot_id),
    reason TEXT NOT NULL {_text('reason')},
    opened_by TEXT NOT NULL {_text('opened_by')},
    opened_at TEXT NOT NULL {_utc('opened_at')},
    CHECK ((component_lot_id IS NULL) != (lot_id IS NULL))
);
CREATE TABLE stock_adjustments (
    id {_ID},
    component_lot_id BIGINT NOT NULL REFERENCES component_lots(id),
    quantity TEXT NOT NULL {_signed_decimal('quantity')},
    entered_as TEXT NOT NULL {_text('entered_as')},
    reason TEXT NOT NULL CHECK (reason IN ({_q(ADJUSTMENT_REASONS)})),
    note TEXT,
    count_id BIGINT UNIQUE REFERENCES stock_counts(id),
    recall_id BIGINT REFERENCES recalls(id),
    signed_by TEXT NOT NULL {_text('signed_by')},
    signer_role TEXT NOT NULL,
    signed_at TEXT NOT NULL {_utc('signed_at')},
    CHECK (starts_with(quantity, '-') OR reason = 'count'),
    CHECK (count_id IS NULL OR reason = 'count'),
    CHECK (reason != 'other' OR length(trim(note)) > 0)
);
CREATE INDEX stock_adjustments_lot ON stock_adjustments(component_lot_id, quantity);
CREATE TABLE lot_holds (
    id {_ID},
    component_lot_id BIGINT NOT NULL REFERENCES component_lots(id),
    action TEXT NOT NULL CHECK (action IN ('hold', 'release')),
    reason TEXT NOT NULL {_text('reason')},
    recall_id BIGINT REFERENCES recalls(id),
    signed_by TEXT NOT NULL {_text('signed_by')},
    signer_role TEXT NOT NULL,
    signed_at TEXT NOT NULL {_utc('signed_at')}
);
CREATE INDEX lot_holds_lot ON lot_holds(component_lot_id, id);
CREATE TABLE recall_batches (
    recall_id BIGINT NOT NULL REFERENCES recalls(id),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    status_before TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('quarantined', 'already-on-hold', 'dispensed',
                                           'rejected')),
    signature_id BIGINT REFERENCES signatures(id),
    PRIMARY KEY (recall_id, lot_id),
    CHECK ((action = 'quarantined') = (signature_id IS NOT NULL))
);
CREATE TABLE recall_patients (
    recall_id BIGINT NOT NULL REFERENCES recalls(id),
    seq BIGINT NOT NULL CHECK (seq >= 1),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    patient TEXT,
    rx_number TEXT NOT NULL {_text('rx_number')},
    prescriber TEXT,
    dispensed_quantity TEXT,
    dispensed_on TEXT NOT NULL {_date('dispensed_on')},
    label_print_id BIGINT NOT NULL REFERENCES label_prints(id),
    PRIMARY KEY (recall_id, seq),
    UNIQUE (recall_id, lot_id, rx_number)
);
CREATE TABLE recall_contacts (
    id {_ID},
    recall_id BIGINT NOT NULL REFERENCES recalls(id),
    rx_number TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ({_q(CONTACT_OUTCOMES)})),
    note TEXT,
    contacted_by TEXT NOT NULL {_text('contacted_by')},
    contacted_at TEXT NOT NULL {_utc('contacted_at')}
);
CREATE INDEX recall_contacts_recall ON recall_contacts(recall_id, rx_number);
CREATE TABLE recall_closures (
    recall_id BIGINT PRIMARY KEY REFERENCES recalls(id),
    note TEXT NOT NULL {_text('note')},
    incomplete_reason TEXT,
    closed_by TEXT NOT NULL {_text('closed_by')},
    closed_at TEXT NOT NULL {_utc('closed_at')}
);
""",
           guard("stock_adjustments_signer", "stock_adjustments", "INSERT", [(
               f"{_active('NEW.signed_by')} OR NEW.signer_role IS DISTINCT FROM "
               "(SELECT role FROM users WHERE name = NEW.signed_by::citext) "
               "OR (NEW.reason = 'count' AND NEW.signer_role != 'pharmacist')",
               "stock_adjustments: the signer must be an active user of that role, and a "
               "pharmacist for a count")]),
           guard("lot_holds_signer", "lot_holds", "INSERT", [(
               f"{_active('NEW.signed_by', 'pharmacist')} OR NEW.signer_role != 'pharmacist'",
               "lot_holds: only an active pharmacist puts a lot on hold or releases it")]),
           guard("lot_holds_alternate", "lot_holds", "INSERT", [(
               "NEW.action IS NOT DISTINCT FROM COALESCE((SELECT action FROM lot_holds "
               "WHERE component_lot_id = NEW.component_lot_id ORDER BY id DESC LIMIT 1), "
               "'release')", "lot_holds: the lot is already in that state")]),
           guard("recalls_opener", "recalls", "INSERT", [(
               _active("NEW.opened_by", "pharmacist"),
               "recalls: only an active pharmacist opens a recall")]),
           guard("recalls_one_open", "recalls", "INSERT", [(
               "EXISTS (SELECT 1 FROM recalls r WHERE (r.component_lot_id = "
               "NEW.component_lot_id OR r.lot_id = NEW.lot_id) AND NOT EXISTS "
               "(SELECT 1 FROM recall_closures c WHERE c.recall_id = r.id))",
               "recalls: a recall of this lot is already open")]),
           guard("recall_contacts_open", "recall_contacts", "INSERT", [(
               "EXISTS (SELECT 1 FROM recall_closures WHERE recall_id = NEW.recall_id) "
               "OR NOT EXISTS (SELECT 1 FROM recall_patients WHERE recall_id = "
               "NEW.recall_id AND rx_number = NEW.rx_number) OR "
               + _active("NEW.contacted_by"),
               "recall_contacts: the recall must be open, the Rx one of its patients, the "
               "caller an active user")]),
           guard("recall_closures_complete", "recall_closures", "INSERT", [(
               _active("NEW.closed_by", "pharmacist") +
               " OR ((NEW.incomplete_reason IS NULL OR length(trim(NEW.incomplete_reason)) "
               "= 0) AND EXISTS (SELECT 1 FROM recall_patients p WHERE p.recall_id = "
               "NEW.recall_id AND NOT EXISTS (SELECT 1 FROM recall_contacts c WHERE "
               "c.recall_id = p.recall_id AND c.rx_number = p.rx_number)))",
               "recall_closures: a pharmacist closes a recall once every patient has an "
               "outcome, or states why not")]),
           f"""
DROP VIEW stock_on_hand;
{stock}
CREATE VIEW stock_movements AS
WITH m AS (
    SELECT component_lot_id, received_at AS at, 1 AS ord, 'receipt' AS kind,
           NULL::text AS reason, NULL::text AS batch_lot_id,
           (quantity)::double precision AS change, received_by AS by_user, id AS source_id
    FROM lot_receipts
    UNION ALL
    SELECT component_lot_id, weighed_at, 2, 'weighing', NULL, lot_id,
           -(consumed_quantity)::double precision, weighed_by, id
    FROM weighings WHERE component_lot_id IS NOT NULL
    UNION ALL
    SELECT component_lot_id, signed_at, 3, 'adjustment', reason, NULL,
           (quantity)::double precision, signed_by, id
    FROM stock_adjustments
)
SELECT m.component_lot_id, l.ingredient, l.lot_number, l.unit, m.at, m.kind, m.reason,
       m.batch_lot_id, m.by_user, m.source_id, {_r6('m.change')} AS change,
       {_r6('SUM(m.change) OVER (PARTITION BY m.component_lot_id ORDER BY m.at, m.ord, '
            'm.source_id ROWS UNBOUNDED PRECEDING)')} AS balance
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
    sql += [append_only(t) for t in STOCK_APPEND_ONLY]
    return "\n".join(sql)


def _m014() -> str:
    return guard("lot_holds_recall_open", "lot_holds", "INSERT", [(
        "NEW.action = 'release' AND EXISTS (SELECT 1 FROM recalls r WHERE "
        "r.component_lot_id = NEW.component_lot_id AND NOT EXISTS (SELECT 1 FROM "
        "recall_closures c WHERE c.recall_id = r.id))",
        "lot_holds: a lot under an open recall stays on hold until the recall is closed")])


def _m015() -> str:
    return guard("batches_status_once", "batches", "UPDATE OF status", [(
        "NEW.status = OLD.status", "batches: the batch already has that status")])


def _m016() -> str:
    """Capsule calibrations (issue 11, mirroring ``migrations.m016_capsule_calibrations``)."""
    return f"""
CREATE TABLE capsule_calibrations (
    id {_ID},
    filler TEXT NOT NULL {_text('filler')},
    capsule_size TEXT NOT NULL CHECK (capsule_size IN ({_q(CALIBRATION_SIZES)})),
    fill_weight_mg TEXT NOT NULL {_decimal('fill_weight_mg')},
    capsules_weighed BIGINT CHECK (capsules_weighed IS NULL OR capsules_weighed >= 1),
    filler_lot TEXT CHECK (filler_lot IS NULL OR length(trim(filler_lot)) > 0),
    corrects BIGINT UNIQUE REFERENCES capsule_calibrations(id),
    reason TEXT,
    recorded_by TEXT NOT NULL {_text('recorded_by')},
    recorded_at TEXT NOT NULL {_utc('recorded_at')},
    CHECK (corrects IS NULL OR length(trim(reason)) > 0),
    CHECK (corrects IS NOT NULL OR reason IS NULL)
);
CREATE INDEX capsule_calibrations_pair ON capsule_calibrations(filler, capsule_size, id);
{guard("capsule_calibrations_corrects_latest", "capsule_calibrations", "INSERT", [(
        "NEW.corrects IS NOT NULL AND NEW.corrects IS DISTINCT FROM (SELECT id FROM "
        "capsule_calibrations WHERE filler = NEW.filler AND capsule_size = NEW.capsule_size "
        "ORDER BY id DESC LIMIT 1)",
        "capsule_calibrations: a correction must correct the latest calibration of the same "
        "filler and capsule size")])}
{append_only("capsule_calibrations")}
"""


def _m017() -> str:
    """Dispensings and pending outputs (issue 12, mirroring
    ``migrations.m017_dispensings_and_pending_outputs``). The running total stays exact
    integer thousandths (BIGINT), as on SQLite; ``label_prints_reprint`` is replaced by the
    same trigger limited to kinds other than ``dispensing``, whose reprints are checked
    against ``dispensings`` instead. ``pending_outputs`` is a work queue, not history: the
    writer role may set its ``label_print_id`` and DELETE its rows (:data:`DELETABLE`)."""
    _TRIGGERS.remove(("label_prints", "label_prints_reprint"))
    return f"""
CREATE TABLE dispensings (
    label_print_id BIGINT PRIMARY KEY REFERENCES label_prints(id),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    rx_number TEXT NOT NULL {_text('rx_number')},
    fill BIGINT NOT NULL CHECK (fill >= 0),
    patient TEXT NOT NULL {_text('patient')},
    quantity TEXT NOT NULL {_decimal('quantity')},
    unit TEXT NOT NULL {_text('unit')},
    quantity_milli BIGINT NOT NULL CHECK (quantity_milli >= 1),
    made_milli BIGINT NOT NULL CHECK (made_milli >= 1),
    total_milli BIGINT NOT NULL CHECK (total_milli <= made_milli),
    UNIQUE (lot_id, rx_number, fill)
);
{guard("dispensings_add_up", "dispensings", "INSERT", [(
        "NEW.total_milli IS DISTINCT FROM COALESCE((SELECT SUM(quantity_milli) FROM "
        "dispensings WHERE lot_id = NEW.lot_id), 0) + NEW.quantity_milli "
        "OR EXISTS (SELECT 1 FROM dispensings WHERE lot_id = NEW.lot_id "
        "AND (made_milli <> NEW.made_milli OR unit <> NEW.unit))",
        "dispensings: the total dispensed must add up and stay within what the batch made")])}
{guard("dispensings_label", "dispensings", "INSERT", [(
        "NOT EXISTS (SELECT 1 FROM label_prints p WHERE p.id = NEW.label_print_id "
        "AND p.kind = 'dispensing' AND p.reprint = 0 AND p.lot_id = NEW.lot_id "
        "AND p.rx_number = NEW.rx_number AND p.patient = NEW.patient)",
        "dispensings: a dispense needs its own first-print dispensing label of the same "
        "lot, Rx and patient")])}
DROP TRIGGER label_prints_reprint ON label_prints;
DROP FUNCTION trg_label_prints_reprint();
{guard("label_prints_reprint", "label_prints", "INSERT", [(
        "NEW.kind <> 'dispensing' AND NEW.reprint IS DISTINCT FROM (EXISTS (SELECT 1 FROM "
        "label_prints WHERE lot_id = NEW.lot_id AND kind = NEW.kind))::int",
        "label_prints: reprint must be 1 exactly when this batch and kind were printed "
        "before")])}
{guard("label_prints_dispensing_reprint", "label_prints", "INSERT", [(
        "NEW.kind = 'dispensing' AND NEW.reprint = 1 AND NOT EXISTS (SELECT 1 FROM "
        "dispensings d WHERE d.lot_id = NEW.lot_id AND d.rx_number = NEW.rx_number "
        "AND d.patient = NEW.patient)",
        "label_prints: a dispensing reprint repeats an earlier dispense of this lot, Rx and "
        "patient")])}
CREATE TABLE pending_outputs (
    id {_ID},
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    target TEXT NOT NULL CHECK (target IN ('file', 'printer')),
    output_path TEXT NOT NULL {_text('output_path')},
    temp_path TEXT,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    record_json TEXT NOT NULL {_json('record_json')},
    dispense_milli BIGINT CHECK (dispense_milli >= 1),
    label_print_id BIGINT REFERENCES label_prints(id),
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    process_start TEXT NOT NULL,
    started_by TEXT NOT NULL {_text('started_by')},
    started_at TEXT NOT NULL {_utc('started_at')},
    CHECK ((target = 'file') = (temp_path IS NOT NULL))
);
CREATE INDEX dispensings_lot ON dispensings(lot_id);
CREATE INDEX pending_outputs_lot ON pending_outputs(lot_id);
{append_only("dispensings")}
"""


def _m018() -> str:
    """Keyed audit chain and lockout cool-down (issue 12, mirroring
    ``migrations.m018_audit_key_and_lockout``)."""
    return f"""
CREATE TABLE audit_keys (
    id {_ID},
    keyed_from BIGINT NOT NULL UNIQUE CHECK (keyed_from >= 1),
    key_id TEXT NOT NULL CHECK (key_id ~ '^[0-9a-f]{{16}}$'),
    scheme TEXT NOT NULL CHECK (scheme = 'hmac-sha256'),
    created_at TEXT NOT NULL {_utc('created_at')}
);
{guard("audit_keys_next_entry", "audit_keys", "INSERT", [(
        "NEW.keyed_from IS DISTINCT FROM COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1",
        "audit_keys: a key starts at the next audit entry, never earlier")])}
{append_only("audit_keys")}
ALTER TABLE users ADD COLUMN locked_until TEXT {_utc('locked_until')};
ALTER TABLE users ADD COLUMN lockouts BIGINT NOT NULL DEFAULT 0 CHECK (lockouts >= 0);
UPDATE users SET lockouts = 1,
    locked_until = to_char((replace(replace(locked_at, 'T', ' '), 'Z', '')::timestamp
                            + interval '15 minutes'), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE locked_at IS NOT NULL;
"""


def _site(col: str) -> str:
    """The ``migrations._site`` rule: a site code, 2-4 of A-Z and 0-9, a letter first."""
    return f"CHECK ({col} ~ '^[A-Z][A-Z0-9]{{1,3}}$')"


def _m020() -> str:
    """Sites (issue 20, mirroring ``migrations.m020_sites``). PostgreSQL alters ``lot_ids``
    in place (SQLite rebuilds it): the 10-digit CHECK and UNIQUE (day, seq) give way to the
    site's forms and UNIQUE (site, day, seq); adding a column with a default rewrites no row
    and fires no trigger."""
    sql = [f"""
ALTER TABLE lot_ids DROP CONSTRAINT lot_ids_lot_id_check;
ALTER TABLE lot_ids DROP CONSTRAINT lot_ids_day_seq_key;
ALTER TABLE lot_ids ADD COLUMN site TEXT NOT NULL DEFAULT 'MAIN' {_site('site')};
ALTER TABLE lot_ids ADD CONSTRAINT lot_ids_site_day_seq_key UNIQUE (site, day, seq);
ALTER TABLE lot_ids ADD CONSTRAINT lot_ids_lot_id_form CHECK (
    (site = 'MAIN' AND lot_id ~ '^[0-9]{{10}}$')
    OR (site <> 'MAIN' AND starts_with(lot_id, site) AND length(lot_id) = length(site) + 11
        AND substr(lot_id, length(site) + 1) ~ '^[0-9]*$'));
"""]
    for table in ("component_lots", "batches", "label_prints"):
        sql.append(f"ALTER TABLE {table} ADD COLUMN site TEXT NOT NULL DEFAULT 'MAIN' "
                   f"{_site('site')};")
    sql.append("""
CREATE INDEX component_lots_site ON component_lots(site);
CREATE INDEX batches_site ON batches(site, compounded_on);
CREATE INDEX label_prints_site ON label_prints(site);
""")
    sql += [
        guard("batches_site_fixed", "batches", "UPDATE OF site", [(
            "NEW.site IS DISTINCT FROM OLD.site",
            "batches: a batch stays at the site that made it")]),
        guard("batches_site_of_lot_id", "batches", "INSERT", [(
            "NEW.site IS DISTINCT FROM (SELECT site FROM lot_ids WHERE lot_id = NEW.lot_id)",
            "batches: a batch belongs to the site of its lot ID")]),
        guard("batch_components_same_site", "batch_components", "INSERT", [(
            "(SELECT site FROM component_lots WHERE id = NEW.component_lot_id) "
            "IS DISTINCT FROM (SELECT site FROM batches WHERE lot_id = NEW.lot_id)",
            "batch_components: a batch draws only on its own site's stock")]),
        guard("weighings_same_site", "weighings", "INSERT", [(
            "NEW.component_lot_id IS NOT NULL AND "
            "(SELECT site FROM component_lots WHERE id = NEW.component_lot_id) "
            "IS DISTINCT FROM (SELECT site FROM batches WHERE lot_id = NEW.lot_id)",
            "weighings: a batch draws only on its own site's stock")]),
    ]
    return "\n".join(sql)



# ---------------------------------------------------------------- m019 (issue 18)

#: 10^27, 10^18, 10^9 and 10^36 as exact numeric literals (the chunk bases of
#: :mod:`.exact_sums`).
_E = {k: "1" + "0" * k for k in (9, 18, 27, 36)}


def _exact_functions() -> str:
    """``compounding_exact_amount(text, signed)``: the text is an amount m019 cuts into chunks
    (``exact_sums.chunk_sql``'s rule: at most 8 integer digits and 36 decimals, a leading '-'
    only when ``signed``); ``compounding_chunk(text, signed, k)``: its chunk ``k`` (0: the
    integer part and decimals 1-9, 1: decimals 10-18, 2: 19-27, 3: 28-36; each carries the
    amount's sign), 0 for any other text. PostgreSQL's numeric is exact, so the chunks are
    whole-number quotients and remainders (``div``/``mod``, truncating toward zero as the
    SQLite text cutting does)."""
    return f"""
CREATE FUNCTION compounding_exact_amount(q text, signed boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $f$
SELECT COALESCE(q ~ ((CASE WHEN signed THEN '^-?' ELSE '^' END)
                     || '[0-9]{{0,8}}(\\.[0-9]{{0,36}})?$') AND q ~ '[0-9]', false)
$f$;
CREATE FUNCTION compounding_chunk(q text, signed boolean, k integer) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $f$
SELECT CASE WHEN NOT compounding_exact_amount(q, signed) THEN 0::numeric
            WHEN k = 0 THEN div(q::numeric * {_E[36]}, {_E[27]})
            WHEN k = 1 THEN div(mod(q::numeric * {_E[36]}, {_E[27]}), {_E[18]})
            WHEN k = 2 THEN div(mod(q::numeric * {_E[36]}, {_E[18]}), {_E[9]})
            ELSE mod(q::numeric * {_E[36]}, {_E[9]}) END
$f$;
"""


def _exact_values(lot: str, only: str | None = None) -> dict[str, str]:
    """``migrations.m019_exact_lot_stock``'s ``values``: column -> SQL of its exact value
    for component lot ``lot`` (an SQL expression), only ``only``'s columns and ``inexact``
    when given."""
    from .exact_sums import CHUNKS
    from .migrations import M019_KINDS
    out, inexact = {}, []
    for kind, (table, column, signed) in M019_KINDS.items():
        cond = f"FROM {table} WHERE component_lot_id = {lot}"
        sig = "true" if signed else "false"
        if only in (None, kind):
            out.update({f"{kind}_{c}": f"(SELECT COALESCE(SUM(compounding_chunk({column}, "
                        f"{sig}, {k})), 0) {cond})" for k, c in enumerate(CHUNKS)})
        inexact.append(f"(SELECT COUNT(*) {cond} AND NOT compounding_exact_amount({column}, "
                       f"{sig}))")
    out["inexact"] = " + ".join(inexact)
    return out


def _m019() -> str:
    """Exact stock sums (issue 18, mirroring ``migrations.m019_exact_lot_stock``): the same
    ``lot_stock_exact`` columns holding the same whole numbers (each amount's chunks, summed),
    kept by the same-named triggers, refusing edits with the same messages; TRUNCATE refused
    too. ``batches_status_lot`` as on SQLite."""
    from .migrations import M019_KINDS
    cols = list(_exact_values("0"))
    new_id = "NEW.component_lot_id"
    derived = " OR ".join(f"NEW.{c} IS DISTINCT FROM {v}"
                          for c, v in _exact_values(new_id).items())
    msg = ("lot_stock_exact is derived from lot_receipts, weighings and stock_adjustments; "
           "it cannot be")
    sql = [_exact_functions(), f"""
CREATE TABLE lot_stock_exact (
    component_lot_id BIGINT PRIMARY KEY REFERENCES component_lots(id),
    {", ".join(f"{c} BIGINT NOT NULL" for c in cols)}
);
INSERT INTO lot_stock_exact (component_lot_id, {', '.join(cols)})
SELECT id, {', '.join(_exact_values('component_lots.id').values())} FROM component_lots;
CREATE INDEX batches_status_lot ON batches(status, lot_id);
""", guard("lot_stock_exact_derived_insert", "lot_stock_exact", "INSERT",
           [(derived, f"{msg} edited")]),
        guard("lot_stock_exact_derived_update", "lot_stock_exact", "UPDATE",
              [(f"NEW.component_lot_id IS DISTINCT FROM OLD.component_lot_id OR {derived}",
                f"{msg} edited")]),
        guard("lot_stock_exact_no_delete", "lot_stock_exact", "DELETE",
              [("true", f"{msg} deleted")], "OLD"),
        f"""
CREATE FUNCTION trg_lot_stock_exact_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = $m${msg} deleted$m$;
END $f$;
CREATE TRIGGER lot_stock_exact_no_truncate BEFORE TRUNCATE ON lot_stock_exact
    FOR EACH STATEMENT EXECUTE FUNCTION trg_lot_stock_exact_no_truncate();
CREATE FUNCTION trg_component_lots_stock_exact() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO lot_stock_exact (component_lot_id, {', '.join(cols)})
    VALUES (NEW.id, {', '.join(_exact_values('NEW.id').values())});
    RETURN NEW;
END $f$;
CREATE TRIGGER component_lots_stock_exact AFTER INSERT ON component_lots FOR EACH ROW
    EXECUTE FUNCTION trg_component_lots_stock_exact();
"""]
    _TRIGGERS.extend([("lot_stock_exact", "lot_stock_exact_no_truncate"),
                      ("component_lots", "component_lots_stock_exact")])
    for kind, (table, _, _) in M019_KINDS.items():
        when = " WHEN (NEW.component_lot_id IS NOT NULL)" if kind == "consumed" else ""
        sets = ", ".join(f"{c} = {v}" for c, v in _exact_values(new_id, kind).items())
        _TRIGGERS.append((table, f"{table}_stock_exact"))
        sql.append(f"""
CREATE FUNCTION trg_{table}_stock_exact() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE lot_stock_exact SET {sets}
    WHERE component_lot_id = NEW.component_lot_id;
    RETURN NEW;
END $f$;
CREATE TRIGGER {table}_stock_exact AFTER INSERT ON {table} FOR EACH ROW{when}
    EXECUTE FUNCTION trg_{table}_stock_exact();
""")
    return "\n".join(sql)



def _m021_values(row: str) -> dict[str, str]:
    """``migrations.m021_values`` on PostgreSQL: numeric is exact, so each total is the
    chunks placed back (``a9 * 10^27 + ... + a36``, times 10^-36) and written without
    trailing zeros (``trim_scale``), the same text SQLite's integer arithmetic writes."""
    from .exact_sums import CHUNKS
    from .migrations import M021_TOTALS
    out = {}
    for col, terms in M021_TOTALS.items():
        chunks = [" ".join(f"{'+' if k == 1 else '-'} {row}.{kind}_{c}::numeric"
                           for kind, k in terms).lstrip("+ ") for c in CHUNKS]
        out[col] = (f"(CASE WHEN {row}.inexact = 0 THEN compounding_chunks_text("
                    f"{', '.join(chunks)}) END)")
    on_hand = out["on_hand"].replace("compounding_chunks_text(", "compounding_chunks_sign(")
    out["on_hand_sign"] = on_hand
    return out


def _m021() -> str:
    """One normalised on-hand total per lot (issue 18, mirroring
    ``migrations.m021_lot_on_hand``): the same ``lot_on_hand`` columns and text, the
    same-named triggers and messages, TRUNCATE refused; the writer role may UPDATE only its
    total columns (which the triggers write)."""
    vals = _m021_values("NEW")
    x_vals = _m021_values("x")
    cols = list(vals)
    msg = "lot_on_hand is derived from lot_stock_exact; it cannot be"
    same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM {v}" for c, v in x_vals.items())
    derived = (f"NOT EXISTS (SELECT 1 FROM lot_stock_exact x WHERE "
               f"x.component_lot_id = NEW.component_lot_id AND {same})")
    places = "0." + "0" * 35 + "1"
    _TRIGGERS.extend([("lot_on_hand", "lot_on_hand_no_truncate"),
                      ("lot_stock_exact", "lot_stock_exact_on_hand_insert"),
                      ("lot_stock_exact", "lot_stock_exact_on_hand_update")])
    return f"""
CREATE FUNCTION compounding_chunks_value(a9 numeric, a18 numeric, a27 numeric, a36 numeric)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $f$
SELECT trim_scale((((a9 * {_E[9]} + a18) * {_E[9]} + a27) * {_E[9]} + a36) * {places})
$f$;
CREATE FUNCTION compounding_chunks_text(a9 numeric, a18 numeric, a27 numeric, a36 numeric)
RETURNS text LANGUAGE sql IMMUTABLE AS $f$
SELECT compounding_chunks_value(a9, a18, a27, a36)::text
$f$;
CREATE FUNCTION compounding_chunks_sign(a9 numeric, a18 numeric, a27 numeric, a36 numeric)
RETURNS integer LANGUAGE sql IMMUTABLE AS $f$
SELECT sign(compounding_chunks_value(a9, a18, a27, a36))::integer
$f$;
CREATE TABLE lot_on_hand (
    component_lot_id BIGINT PRIMARY KEY REFERENCES component_lots(id),
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
{guard("lot_on_hand_derived_insert", "lot_on_hand", "INSERT", [(derived, f"{msg} edited")])}
{guard("lot_on_hand_derived_update", "lot_on_hand", "UPDATE", [(
        f"NEW.component_lot_id IS DISTINCT FROM OLD.component_lot_id OR {derived}",
        f"{msg} edited")])}
{guard("lot_on_hand_no_delete", "lot_on_hand", "DELETE", [("true", f"{msg} deleted")], "OLD")}
CREATE FUNCTION trg_lot_on_hand_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = $m${msg} deleted$m$;
END $f$;
CREATE TRIGGER lot_on_hand_no_truncate BEFORE TRUNCATE ON lot_on_hand
    FOR EACH STATEMENT EXECUTE FUNCTION trg_lot_on_hand_no_truncate();
CREATE FUNCTION trg_lot_stock_exact_on_hand_insert() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO lot_on_hand (component_lot_id, {', '.join(cols)})
    VALUES (NEW.component_lot_id, {', '.join(vals.values())});
    RETURN NEW;
END $f$;
CREATE TRIGGER lot_stock_exact_on_hand_insert AFTER INSERT ON lot_stock_exact FOR EACH ROW
    EXECUTE FUNCTION trg_lot_stock_exact_on_hand_insert();
CREATE FUNCTION trg_lot_stock_exact_on_hand_update() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE lot_on_hand SET {', '.join(f"{c} = {v}" for c, v in vals.items())}
    WHERE component_lot_id = NEW.component_lot_id;
    RETURN NEW;
END $f$;
CREATE TRIGGER lot_stock_exact_on_hand_update AFTER UPDATE ON lot_stock_exact FOR EACH ROW
    EXECUTE FUNCTION trg_lot_stock_exact_on_hand_update();
"""


def _m023() -> str:
    """The batch lifecycle held by the schema (session 4 attack, findings 4 and 7;
    mirroring ``migrations.m023_lifecycle_in_the_schema``): the same ``verification_scopes``
    table, triggers and messages; TRUNCATE refused on the new table. ``bud_json``'s limits
    are read by :func:`compounding_bud_limit` (NULL, read as '', for a bud_json whose
    candidates cannot be read: no lengthening then)."""
    from .migrations import M023_LOT_LIMIT, M023_MESSAGES as m
    transitions = _q(TRANSITIONS)
    last_sig = "(SELECT MAX(id) FROM signatures WHERE lot_id = NEW.lot_id)"
    last_ver = "(SELECT MAX(id) FROM verifications WHERE lot_id = NEW.lot_id)"
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
        return f"COALESCE(compounding_bud_limit({col}), '')"
    lots = ("COALESCE((SELECT MIN(l.expires) FROM component_lots l WHERE l.id IN ("
            "SELECT component_lot_id FROM weighings WHERE lot_id = NEW.lot_id "
            "AND component_lot_id IS NOT NULL UNION SELECT c.component_lot_id FROM "
            "batch_components c WHERE c.lot_id = NEW.lot_id AND NOT EXISTS (SELECT 1 FROM "
            "weighings w WHERE w.lot_id = c.lot_id AND w.ingredient = c.ingredient))), '')")
    state = {"weighings": "(SELECT COUNT(*) FROM weighings WHERE lot_id = {lot})",
             "last_weighing_id": "(SELECT MAX(id) FROM weighings WHERE lot_id = {lot})",
             "bud": "(SELECT bud FROM batches WHERE lot_id = {lot})"}
    scope_now = " AND ".join(
        f"c.{k} IS NOT DISTINCT FROM {v.format(lot='NEW.lot_id')}"
        for k, v in state.items() if k != "bud") + " AND c.bud IS NOT DISTINCT FROM NEW.bud"
    when = (f"NEW.status IS DISTINCT FROM OLD.status "
            f"AND OLD.status || '>' || NEW.status IN ({transitions})")
    release = (f"NEW.status = 'released' AND OLD.status IN ('compounded', 'quarantine') "
               f"AND {signed('released')}")
    bud_when = "OLD.status NOT IN ('released', 'rejected') AND compounding_json_valid(NEW.bud_json)"
    passing = ("NEW.passed = 1 AND EXISTS (SELECT 1 FROM signatures WHERE id = "
               "NEW.signature_id AND lot_id = NEW.lot_id AND meaning = 'verified' "
               "AND record_sha256 = NEW.batch_sha256)")
    at_creation = ("(SELECT status FROM batches WHERE lot_id = NEW.lot_id) IS DISTINCT FROM "
                   "'planned' OR EXISTS (SELECT 1 FROM weighings WHERE lot_id = NEW.lot_id)")
    _TRIGGERS.append(("verifications", "verifications_scope"))
    return f"""
CREATE FUNCTION compounding_bud_limit(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    RETURN (SELECT MIN(c ->> 'date') FROM json_array_elements(t::json -> 'candidates') c
            WHERE (c ->> 'kind') IS DISTINCT FROM '{M023_LOT_LIMIT}');
EXCEPTION WHEN others THEN
    RETURN NULL;
END $f$;
CREATE TABLE verification_scopes (
    verification_id BIGINT PRIMARY KEY REFERENCES verifications(id),
    lot_id TEXT NOT NULL REFERENCES batches(lot_id),
    weighings BIGINT NOT NULL CHECK (weighings >= 0),
    last_weighing_id BIGINT,
    bud TEXT NOT NULL
);
INSERT INTO verification_scopes (verification_id, lot_id, {', '.join(state)})
SELECT v.id, v.lot_id, {', '.join(x.format(lot='v.lot_id') for x in state.values())}
FROM verifications v
WHERE v.passed = 1 AND v.id = (SELECT MAX(id) FROM verifications x WHERE x.lot_id = v.lot_id)
  AND EXISTS (SELECT 1 FROM batch_status_history h WHERE h.lot_id = v.lot_id
              AND h.new_status = 'released');
{append_only("verification_scopes")}
{guard("verification_scopes_as_verified", "verification_scopes", "INSERT", [(
        "NOT EXISTS (SELECT 1 FROM verifications WHERE id = NEW.verification_id "
        "AND lot_id = NEW.lot_id) OR " + " OR ".join(
            f"NEW.{k} IS DISTINCT FROM {v.format(lot='NEW.lot_id')}" for k, v in state.items()),
        m["scope"])])}
CREATE FUNCTION trg_verifications_scope() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO verification_scopes (verification_id, lot_id, {', '.join(state)})
    VALUES (NEW.id, NEW.lot_id, {', '.join(x.format(lot='NEW.lot_id') for x in state.values())});
    RETURN NEW;
END $f$;
CREATE TRIGGER verifications_scope AFTER INSERT ON verifications FOR EACH ROW
    EXECUTE FUNCTION trg_verifications_scope();
{guard("verifications_passing", "verifications", "INSERT", [
        (f"{passing} AND (SELECT status FROM batches WHERE lot_id = NEW.lot_id) "
         "NOT IN ('planned', 'compounded')", m["passing_status"]),
        (f"{passing} AND {unweighed}", m["passing_weighed"]),
        (f"{passing} AND EXISTS (SELECT 1 FROM signatures g JOIN batches b ON "
         f"b.lot_id = NEW.lot_id WHERE g.id = NEW.signature_id AND (g.role <> 'pharmacist' "
         f"OR lower(g.signer) = lower(b.compounded_by) OR "
         f"{weighed_by.format(who='g.signer')}))", m["passing_verifier"]),
    ])}
{guard("batch_steps_at_creation", "batch_steps", "INSERT", [(at_creation, m["steps"])])}
{guard("batch_components_at_creation", "batch_components", "INSERT",
       [(at_creation, m["components"])])}
{guard("batches_lifecycle_signed", "batches", "UPDATE OF status", [
        (f"{when} AND NEW.status = 'compounded' AND {unweighed}", m["compounded"]),
        (f"{when} AND NEW.status = 'rejected' AND NOT {signed('rejected')}", m["rejected"]),
        (f"{when} AND NEW.status = 'quarantine' AND OLD.status <> 'released' "
         f"AND NOT {signed('quarantined', pharmacist=False)}", m["quarantine"]),
        (f"{when} AND OLD.status = 'quarantine' AND NEW.status IN ('planned', 'compounded') "
         f"AND (NOT {signed('hold-lifted')} OR NEW.status IS DISTINCT FROM (SELECT old_status "
         "FROM batch_status_history WHERE lot_id = NEW.lot_id AND new_status = 'quarantine' "
         "ORDER BY id DESC LIMIT 1))", m["lifted"]),
    ])}
{guard("batches_release_verified", "batches", "UPDATE OF status", [
        (f"{release} AND NOT EXISTS (SELECT 1 FROM verifications v JOIN verification_scopes c "
         f"ON c.verification_id = v.id WHERE v.id = {last_ver} AND v.passed = 1 "
         f"AND {scope_now})", m["verified"]),
        (f"{release} AND (SELECT record_sha256 FROM signatures WHERE id = {last_sig}) "
         f"IS DISTINCT FROM (SELECT batch_sha256 FROM verifications WHERE id = {last_ver})",
         m["digest"]),
        (f"{release} AND EXISTS (SELECT 1 FROM signatures g WHERE g.id = {last_sig} "
         f"AND (lower(g.signer) = lower(NEW.compounded_by) OR "
         f"{weighed_by.format(who='g.signer')}))", m["independent"]),
        (f"{release} AND OLD.status = 'quarantine' AND (SELECT length(trim(COALESCE(reason, "
         f"''))) FROM signatures WHERE id = {last_sig}) = 0", m["reason"]),
    ])}
{guard("batches_bud_shortened_only", "batches", "UPDATE OF bud, bud_json", [
        (f"{bud_when} AND NEW.bud > OLD.bud AND (OLD.status IS DISTINCT FROM 'planned' "
         f"OR NEW.bud > {lots} OR NEW.bud > {limit('OLD.bud_json')})", m["bud_longer"]),
        (f"{bud_when} AND {limit('NEW.bud_json')} > {limit('OLD.bud_json')}",
         m["bud_limit"]),
        (f"{bud_when} AND ((NEW.bud_json::json ->> 'bud') IS DISTINCT FROM NEW.bud "
         "OR (NEW.bud_json IS DISTINCT FROM OLD.bud_json "
         "AND NEW.bud IS NOT DISTINCT FROM OLD.bud))", m["bud_json"]),
    ])}
"""


# ---------------------------------------------------------------- m022, m024: speed on a big store

def _m022() -> str:
    """``stock_movements`` with the lot joined in every branch and the running balance
    partitioned by lot number, ingredient and unit too, and ``stock_on_hand`` summing each
    lot's adjustments through its index (see ``migrations.m022_views_read_by_lot``)."""
    return f"""
DROP VIEW stock_movements;
CREATE VIEW stock_movements AS
WITH m AS (
    SELECT lr.component_lot_id, l.ingredient, l.lot_number, l.unit, lr.received_at AS at,
           1 AS ord, 'receipt' AS kind, NULL::text AS reason, NULL::text AS batch_lot_id,
           (lr.quantity)::double precision AS change, lr.received_by AS by_user,
           lr.id AS source_id
    FROM lot_receipts lr JOIN component_lots l ON l.id = lr.component_lot_id
    UNION ALL
    SELECT w.component_lot_id, l.ingredient, l.lot_number, l.unit, w.weighed_at, 2,
           'weighing', NULL, w.lot_id, -(w.consumed_quantity)::double precision,
           w.weighed_by, w.id
    FROM weighings w JOIN component_lots l ON l.id = w.component_lot_id
    UNION ALL
    SELECT a.component_lot_id, l.ingredient, l.lot_number, l.unit, a.signed_at, 3,
           'adjustment', a.reason, NULL, (a.quantity)::double precision, a.signed_by, a.id
    FROM stock_adjustments a JOIN component_lots l ON l.id = a.component_lot_id
)
SELECT component_lot_id, ingredient, lot_number, unit, at, kind, reason, batch_lot_id,
       by_user, source_id, {_r6('change')} AS change,
       {_r6('SUM(change) OVER (PARTITION BY component_lot_id, lot_number, ingredient, unit '
            'ORDER BY at, ord, source_id ROWS UNBOUNDED PRECEDING)')} AS balance
FROM m;
DROP VIEW stock_on_hand;
CREATE VIEW stock_on_hand AS
SELECT l.id AS component_lot_id,
       l.ingredient,
       l.lot_number,
       l.manufacturer,
       l.expires,
       (l.expires::date - CURRENT_DATE) AS days_to_expiry,
       {_real('l.potency_percent')} AS potency_percent,
       l.unit,
       {_r6('COALESCE(s.received, 0)')} AS received,
       {_r6('COALESCE(s.consumed, 0)')} AS consumed,
       {_r6('COALESCE(' + _ADJUSTED + ', 0)')} AS adjusted,
       {_r6('COALESCE(s.received, 0) - COALESCE(s.consumed, 0) + COALESCE('
            + _ADJUSTED + ', 0)')} AS on_hand,
       COALESCE((SELECT (h.action = 'hold')::int FROM lot_holds h
                 WHERE h.component_lot_id = l.id ORDER BY h.id DESC LIMIT 1), 0) AS on_hold
FROM component_lots l
LEFT JOIN lot_stock s ON s.component_lot_id = l.id;
"""


#: One lot's adjustments, summed through its index (m022's ``stock_on_hand``).
_ADJUSTED = ("(SELECT SUM((a.quantity)::double precision) FROM stock_adjustments a "
             "WHERE a.component_lot_id = l.id)")


def _m024() -> str:
    """``batch_status_totals`` kept by triggers on ``batches`` and refused when it differs
    from the count; ``batch_status_counts`` reads it (``migrations.m024_batch_status_totals``)."""
    count = "(SELECT COUNT(*) FROM batches b WHERE b.status = NEW.status)"
    msg = "batch_status_totals is derived from batches; it cannot be"
    _TRIGGERS.extend([("batches", "batches_status_total_insert"),
                      ("batches", "batches_status_total_update")])
    return f"""
CREATE TABLE batch_status_totals (
    status TEXT PRIMARY KEY,
    batches BIGINT NOT NULL CHECK (batches >= 0)
);
INSERT INTO batch_status_totals (status, batches)
SELECT status, COUNT(*) FROM batches GROUP BY status;
{guard("batch_status_totals_derived_insert", "batch_status_totals", "INSERT", [
        (f"NEW.batches IS DISTINCT FROM {count}", msg + " edited")])}
{guard("batch_status_totals_derived_update", "batch_status_totals", "UPDATE", [
        (f"NEW.status IS DISTINCT FROM OLD.status OR NEW.batches IS DISTINCT FROM {count}",
         msg + " edited")])}
{guard("batch_status_totals_no_delete", "batch_status_totals", "DELETE", [
        ("true", msg + " deleted")], "OLD")}
CREATE FUNCTION trg_batches_status_total_insert() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE batch_status_totals SET batches = batches + 1 WHERE status = NEW.status;
    INSERT INTO batch_status_totals (status, batches) SELECT NEW.status, 1
    WHERE NOT EXISTS (SELECT 1 FROM batch_status_totals WHERE status = NEW.status);
    RETURN NEW;
END $f$;
CREATE TRIGGER batches_status_total_insert AFTER INSERT ON batches FOR EACH ROW
    EXECUTE FUNCTION trg_batches_status_total_insert();
CREATE FUNCTION trg_batches_status_total_update() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    UPDATE batch_status_totals SET batches = batches - 1 WHERE status = OLD.status;
    UPDATE batch_status_totals SET batches = batches + 1 WHERE status = NEW.status;
    INSERT INTO batch_status_totals (status, batches) SELECT NEW.status, 1
    WHERE NOT EXISTS (SELECT 1 FROM batch_status_totals WHERE status = NEW.status);
    RETURN NEW;
END $f$;
CREATE TRIGGER batches_status_total_update AFTER UPDATE OF status ON batches FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION trg_batches_status_total_update();
DROP VIEW batch_status_counts;
CREATE VIEW batch_status_counts AS
SELECT t.status,
       t.batches,
       (SELECT MIN(b.compounded_on) FROM batches b WHERE b.status = t.status) AS oldest,
       (SELECT MAX(b.compounded_on) FROM batches b WHERE b.status = t.status) AS newest
FROM batch_status_totals t
WHERE t.batches > 0
ORDER BY t.status;
"""


#: ``(name, SQL)`` of every PostgreSQL migration, in order; names as in :mod:`.migrations`.
MIGRATIONS: list[tuple[str, str]] = [
    ("m001_records", _M001),
    ("m002_immutability_triggers", _m002()),
    ("m003_views", _BATCH_VIEWS + _LOT_USAGE),
    ("m004_users_and_signoffs", _m004()),
    ("m005_scale_indexes_and_lot_stock", _m005()),
    ("m009_api_tokens", _m009()),
    ("m010_weighing_sources_and_receipt_scans", _m010()),
    ("m011_prescriptions", _m011()),
    ("m013_adjustments_holds_recalls", _m013()),
    ("m014_recalled_lots_stay_held", _m014()),
    ("m015_one_signature_per_act", _m015()),
    ("m016_capsule_calibrations", _m016()),
    ("m018_audit_key_and_lockout", _m018()),
    ("m020_sites", _m020()),
    # registered after m020 on SQLite (it landed later; sqlite-utils applies in order)
    ("m017_dispensings_and_pending_outputs", _m017()),
    ("m019_exact_lot_stock", _m019()),
    ("m021_lot_on_hand", _m021()),
    ("m023_lifecycle_in_the_schema", _m023()),
    ("m022_views_read_by_lot", _m022()),
    ("m024_batch_status_totals", _m024()),
]

#: Columns of ``users`` only the owner role may change (session 4 attack, finding 1): with
#: UPDATE of ``passphrase_hash`` the service's credentials could set a pharmacist's hash to
#: one of their choosing, sign as them through the ordinary commands and put the old hash
#: back; ``active`` and the deactivation columns go with it. Changing a passphrase and
#: deactivating a user are done with the owner role's URL (docs/deploy.md).
USER_OWNER_ONLY = ("passphrase_hash", "active", "deactivated_by", "deactivated_at")

#: Tables the writer role may read but not INSERT into (only the owner role adds users, for
#: the same reason: a user the service made could sign).
OWNER_INSERTS = ("users",)

#: Tables whose columns the writer role may UPDATE (and only these columns): the mutable
#: columns the SQLite triggers allow to change, except a user's passphrase and active state
#: (:data:`USER_OWNER_ONLY`: the lockout columns stay the service's, as authenticating
#: writes them), and the derived stock totals.
UPDATABLE = {
    "batches": BATCH_MUTABLE,
    "users": tuple(c for c in USER_MUTABLE + USER_LOCKOUT_MUTABLE if c not in USER_OWNER_ONLY),
    "api_tokens": TOKEN_MUTABLE,
    "lot_stock": ("received", "consumed"),
    "pending_outputs": ("label_print_id",),
    # m019: the exact totals, written only by the triggers that keep them (checked by others)
    "lot_stock_exact": tuple(f"{k}_{c}" for k in ("received", "consumed", "adjusted")
                             for c in ("e9", "e18", "e27", "e36")) + ("inexact",),
    # m021: the normalised totals, written only by the triggers that keep them
    "lot_on_hand": ("received", "consumed", "adjusted", "on_hand", "on_hand_sign"),
    # m024: the batches in each status, written only by the triggers that keep them
    "batch_status_totals": ("batches",),
}

#: Tables whose rows the writer role may DELETE: work queues, never records
#: (``pending_outputs``: a print's row is removed once the print is recorded or cleared).
DELETABLE = ("pending_outputs",)


def expected_triggers() -> list[tuple[str, str]]:
    """``(table, trigger)`` of every trigger the migration set creates."""
    return list(_TRIGGERS)


def grants(writer: str = WRITER_ROLE, reader: str = READER_ROLE) -> str:
    """The privileges of the group roles, as SQL the schema's owner runs (the store runs it
    after every migration when ``writer`` exists): ``writer`` may SELECT and INSERT every
    table but :data:`OWNER_INSERTS` (SELECT only), UPDATE only the columns in :data:`UPDATABLE`, DELETE only the rows of
    :data:`DELETABLE` (work queues), never TRUNCATE, and only
    read ``_pg_migrations``; ``reader`` (scripts, reports) may SELECT everything. Identity
    sequences are usable by ``writer``. Idempotent."""
    updates = "\n".join(f"    EXECUTE format('GRANT UPDATE ({', '.join(cols)}) ON {t} TO %I', "
                        f"'{writer}');" for t, cols in UPDATABLE.items())
    deletes = "\n".join(f"    EXECUTE format('GRANT DELETE ON {t} TO %I', '{writer}');"
                        for t in DELETABLE)
    return f"""
DO $g$
DECLARE t text;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), '{writer}');
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
        EXECUTE format('REVOKE ALL ON %I FROM %I', t, '{writer}');
        IF t = '_pg_migrations' OR t IN ({_q(OWNER_INSERTS)}) THEN
            EXECUTE format('GRANT SELECT ON %I TO %I', t, '{writer}');
        ELSE
            EXECUTE format('GRANT SELECT, INSERT ON %I TO %I', t, '{writer}');
        END IF;
    END LOOP;
    FOR t IN SELECT viewname FROM pg_views WHERE schemaname = current_schema() LOOP
        EXECUTE format('REVOKE ALL ON %I FROM %I', t, '{writer}');
        EXECUTE format('GRANT SELECT ON %I TO %I', t, '{writer}');
    END LOOP;
{updates}
{deletes}
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', current_schema(),
                   '{writer}');
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{reader}') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), '{reader}');
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', current_schema(),
                       '{reader}');
    END IF;
END $g$;
"""
