"""``Store``: the compounding database as one object, for the CLI and scripts.

A thin facade and nothing else: every method hands over to the module that owns the record
(docs/store.md has the map). The core it extends (:class:`.core.StoreCore`) opens, migrates,
runs the write transaction, keeps the clock and appends to the audit log; new code may call
the record modules' functions directly with a ``Store`` (or any ``StoreCore``) as their
first argument.

The names below that lived here before issue 13 (``canonical``, ``sha256``, ``utc_stamp``,
``audit_hash``, ``to_unit``, ``RECORD_KEYS``, ``BUSY_TIMEOUT_S``, ``LazyLots``) are
re-exported for callers written before then.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .. import units as u
from . import audit as _audit
from . import batch_create, batches, compounding_record, dispensing, inventory, users
from . import weighings as _weighings
from .core import StoreCore, audit_hash, canonical, sha256, utc_stamp
from .inventory import LazyLots, to_unit
from .records import RECORD_KEYS
from .sqlite import BUSY_TIMEOUT_S


class Store(StoreCore):
    """The compounding database. Open it with :meth:`Store.open` (see :class:`StoreCore`
    for opening, transactions, the clock, rows and the audit append)."""

    # ------------------------------------------------------------ people (users.py)

    def acting(self, by: str) -> str:
        """The canonical name of an active, unlocked user acting as ``by`` (issue 7)."""
        return users.acting(self, by)

    # ------------------------------------------------------------ audit (audit.py)

    def audit_log(self, lot_id: str | None = None, action: str | None = None,
                  actor: str | None = None, since: str | None = None,
                  limit: int | None = None) -> list[dict]:
        """Audit entries, oldest first, filtered by batch, action, actor, time (UTC ISO)."""
        return _audit.audit_log(self, lot_id=lot_id, action=action, actor=actor, since=since,
                                limit=limit)

    def verify(self, anchor: dict | None = None) -> list[str]:
        """Re-check everything on record; return the problems (see :func:`.audit.verify`)."""
        return _audit.verify(self, anchor)

    # ------------------------------------------------------------ inventory (inventory.py)

    def receive_lot(self, ingredient: str, lot_number: str, expires: date,
                    quantity: u.Quantity, by: str, potency_percent: Decimal = Decimal("100"),
                    manufacturer: str | None = None, today: date | None = None) -> dict:
        """Record a receipt of a component lot (see :func:`.inventory.receive_lot`)."""
        return inventory.receive_lot(self, ingredient, lot_number, expires, quantity, by,
                                     potency_percent=potency_percent,
                                     manufacturer=manufacturer, today=today)

    def candidate_lots(self, ingredient: str, day: date) -> LazyLots:
        """Unexpired lots of ``ingredient`` with stock, earliest expiry first (lazy)."""
        return inventory.candidate_lots(self, ingredient, day)

    def lot(self, component_lot_id: int, today: date | None = None) -> dict:
        """One component lot with its exact stock (see :func:`.inventory.lot`)."""
        return inventory.lot(self, component_lot_id, today)

    def lots(self, ingredient: str | None = None, expiring_within: int | None = None,
             today: date | None = None, include_empty: bool = True,
             lot_number: str | None = None, limit: int | None = None,
             site: str | None = None) -> list[dict]:
        """Component lots with stock on hand (see :func:`.inventory.lots`)."""
        return inventory.lots(self, ingredient=ingredient, expiring_within=expiring_within,
                              today=today, include_empty=include_empty,
                              lot_number=lot_number, limit=limit, site=site)

    def count_lots(self, ingredient: str | None = None, expiring_within: int | None = None,
                   today: date | None = None, include_empty: bool = True,
                   site: str | None = None) -> int:
        """How many lots :meth:`lots` lists without a limit."""
        return inventory.count_lots(self, ingredient=ingredient,
                                    expiring_within=expiring_within, today=today,
                                    include_empty=include_empty, site=site)

    def find_lot(self, ingredient: str, lot_number: str) -> dict:
        """The lot ``lot_number`` of ``ingredient`` (see :func:`.inventory.find_lot`)."""
        return inventory.find_lot(self, ingredient, lot_number)

    # ------------------------------------------------------------ batches (batches.py...)

    def allocate_lot_id(self, by: str, day: date | None = None) -> str:
        """Allocate the next batch lot ID (see :func:`.batches.allocate_lot_id`)."""
        return batches.allocate_lot_id(self, by, day)

    def create_batch(self, formula, catalogue, settings, order, *, by: str,
                     formula_sha256: str, component_lots: dict[str, str] | None = None,
                     storage: str | None = None, compounded: date | None = None,
                     corrects: str | None = None, reason: str | None = None) -> dict:
        """Plan and record a new batch (see :func:`.batch_create.create_batch`)."""
        return batch_create.create_batch(
            self, formula, catalogue, settings, order, by=by, formula_sha256=formula_sha256,
            component_lots=component_lots, storage=storage, compounded=compounded,
            corrects=corrects, reason=reason)

    def get_batch(self, lot_id: str) -> dict:
        """The full compounding record of one batch (see
        :func:`.compounding_record.get_batch`)."""
        return compounding_record.get_batch(self, lot_id)

    def batch_components(self, lot_id: str) -> list[dict]:
        """The component lots planned for a batch (see :func:`.batches.batch_components`)."""
        return batches.batch_components(self, lot_id)

    def batch_steps(self, lot_id: str) -> list[dict]:
        """The plan steps of a batch (see :func:`.batches.batch_steps`)."""
        return batches.batch_steps(self, lot_id)

    def list_batches(self, status: str | None = None, limit: int | None = None,
                     site: str | None = None) -> list[dict]:
        """Batches, newest first (see :func:`.batches.list_batches`)."""
        return batches.list_batches(self, status, limit, site)

    def count_batches(self, status: str | None = None, site: str | None = None) -> int:
        """How many batches (see :func:`.batches.count_batches`)."""
        return batches.count_batches(self, status, site)

    def set_status(self, lot_id: str, status: str, by: str,
                   details: dict | None = None) -> dict:
        """Change a batch's status and audit it (see :func:`.batches.set_status`)."""
        return batches.set_status(self, lot_id, status, by, details)

    # ------------------------------------------------------------ weighings (weighings.py)

    def record_weighing(self, lot_id: str, *, amount: u.Quantity, by: str,
                        step: int | None = None, ingredient: str | None = None,
                        component_lot: str | None = None, deviation_reason: str | None = None,
                        reweigh_reason: str | None = None, today: date | None = None) -> dict:
        """Record one plan line as weighed (see :func:`.weighings.record_weighing`)."""
        return _weighings.record_weighing(
            self, lot_id, amount=amount, by=by, step=step, ingredient=ingredient,
            component_lot=component_lot, deviation_reason=deviation_reason,
            reweigh_reason=reweigh_reason, today=today)

    def weighings(self, lot_id: str) -> list[dict]:
        """Every weighing of a batch (see :func:`.batches.weighings`)."""
        return batches.weighings(self, lot_id)

    # ------------------------------------------------------------ labels (dispensing.py)

    def record_label_print(self, lot_id: str, kind: str, template_id: str,
                           template_version: int, template_sha256: str, copies: int,
                           pdf_sha256: str, output_path: str, by: str, **dispensing_kw) -> dict:
        """Record a label print (see :func:`.dispensing.record_label_print`: patient,
        rx_number, prescriber, directions, dispensed_quantity, fill, pending_id, recovered)."""
        return dispensing.record_label_print(
            self, lot_id, kind, template_id, template_version, template_sha256, copies,
            pdf_sha256, output_path, by, **dispensing_kw)

    def label_prints(self, lot_id: str) -> list[dict]:
        """Every label printed for a batch (see :func:`.dispensing.label_prints`)."""
        return dispensing.label_prints(self, lot_id)

    def recall(self, component_lot: str, ingredient: str | None = None) -> list[dict]:
        """Every batch that used a component lot (see :func:`.dispensing.recall`)."""
        return dispensing.recall(self, component_lot, ingredient)

    # ------------------------------------------------------------ schema and backup (backend)

    def schema_sql(self) -> str:
        """Every CREATE statement of the database (see :func:`.sqlite.schema_sql`,
        :func:`.postgres.schema_sql`)."""
        return self.backend.schema_sql(self.db)

    def backup(self, dest) -> dict:
        """Copy the database safely while others write (see :func:`.sqlite.backup`; on
        PostgreSQL refused with the pg_dump way, :func:`.postgres.backup`)."""
        return self.backend.backup(self, dest)


__all__ = ["Store", "StoreCore", "canonical", "sha256", "utc_stamp", "audit_hash", "to_unit",
           "RECORD_KEYS", "BUSY_TIMEOUT_S", "LazyLots"]
