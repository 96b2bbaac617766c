"""``db verify``'s check of each batch's status and BUD against the audit entries that made
them (session 4 attack, finding 4).

A batch's ``status``, ``bud`` and ``bud_json`` are the columns the schema lets change, so
they are left out of the batch record's digest (:data:`.records.MUTABLE_COLUMNS`); the
schema's triggers (m004, m015, m023) decide which changes may happen. What this adds is
proof that each change that did happen was made by the store: every status change leaves a
``batch_status_history`` row (a trigger writes it) and a ``batch.status`` audit entry (the
store writes it in the same transaction); every BUD comes from the ``batch.create`` entry
or the last ``batch.bud-recomputed`` entry. A change made with plain SQL (a BUD shortened by
hand, which the schema allows, or anything at all once a trigger was dropped) has a history
row and no entry, or leaves the batch other than its entries say: reported, naming the
batch.

Entries written since session 4 also carry ``bud_json_sha256``, the digest of the
``bud_json`` text they stored; where the latest BUD entry has one, ``bud_json`` must match
it. Older entries (and bench/store_gen.py's) carry none: then only ``bud_json``'s own
``bud`` is compared with the record's.

Fed by :func:`.audit.verify_report`'s one pass over the log (:meth:`Ledger.add`), then
:meth:`Ledger.problems` reads the batches and their history in pages of
:data:`PAGE` lot IDs (bounded memory on a ten-year store).
"""

from __future__ import annotations

import json

from .core import StoreCore, sha256

#: Lot IDs read per query (keyset pages of ``batches`` and ``batch_status_history``).
PAGE = 2000

#: The status every batch is created with (``batch_create``; the schema's default).
CREATED_STATUS = "planned"


class Ledger:
    """What the audit log says each batch's status and BUD went through."""

    def __init__(self) -> None:
        #: lot ID -> [(entry id, from, to)] of its ``batch.status`` entries, in log order
        self.status: dict[str, list[tuple[int, str, str]]] = {}
        #: lot ID -> (entry id, BUD, bud_json digest or None) of its latest BUD entry
        self.bud: dict[str, tuple[int, str, str | None]] = {}
        #: problems found while reading the log (a recomputation from another BUD)
        self.found: list[str] = []

    def add(self, row: dict, details: dict) -> None:
        """Take one audit entry (``row``, its parsed ``details``) into account."""
        action, lot = row["action"], row["lot_id"]
        if lot is None:
            return
        if action == "batch.status":
            self.status.setdefault(lot, []).append(
                (row["id"], details.get("from"), details.get("to")))
        elif action == "batch.create":
            self.bud[lot] = (row["id"], details.get("bud"), details.get("bud_json_sha256"))
        elif action == "batch.bud-recomputed":
            before = self.bud.get(lot)
            if before is not None and before[1] != details.get("from"):
                self.found.append(
                    f"batch {lot}: audit entry {row['id']} recomputed its BUD from "
                    f"{details.get('from')}, but the audit log had left it {before[1]} (entry "
                    f"{before[0]}): the BUD was changed without the store in between")
            self.bud[lot] = (row["id"], details.get("to"), details.get("bud_json_sha256"))

    def problems(self, store: StoreCore) -> list[str]:
        """Every batch whose status history, status or BUD disagrees with its audit entries,
        one line each (the first disagreement of a batch's status history)."""
        out = list(self.found)
        last = ""
        while True:
            batches = store.rows("SELECT lot_id, status, bud, bud_json FROM batches "
                                 "WHERE lot_id > ? ORDER BY lot_id LIMIT ?", [last, PAGE])
            if not batches:
                return out
            history: dict[str, list[dict]] = {}
            for h in store.rows(
                    "SELECT id, lot_id, old_status, new_status FROM batch_status_history "
                    "WHERE lot_id > ? AND lot_id <= ? ORDER BY id",
                    [last, batches[-1]["lot_id"]]):
                history.setdefault(h["lot_id"], []).append(h)
            for b in batches:
                out.extend(self._batch(b, history.get(b["lot_id"], [])))
            last = batches[-1]["lot_id"]

    def _batch(self, b: dict, history: list[dict]) -> list[str]:
        lot = b["lot_id"]
        created = self.bud.get(lot)
        if created is None:
            return []  # no batch.create entry: the record check already says so
        out = []
        entries = self.status.get(lot, [])
        for i in range(max(len(history), len(entries))):
            h = history[i] if i < len(history) else None
            e = entries[i] if i < len(entries) else None
            if h is not None and e is not None and (h["old_status"], h["new_status"]) == e[1:]:
                continue
            if e is None:
                out.append(f"batch {lot}: its status went {h['old_status']} -> "
                           f"{h['new_status']} (batch_status_history {h['id']}) with no audit "
                           "entry: changed without the store")
            elif h is None:
                out.append(f"batch {lot}: audit entry {e[0]} records its status going {e[1]} "
                           f"-> {e[2]}, which batch_status_history does not have")
            else:
                out.append(f"batch {lot}: batch_status_history {h['id']} has its status going "
                           f"{h['old_status']} -> {h['new_status']} where audit entry {e[0]} "
                           f"records {e[1]} -> {e[2]}")
            break
        expected = entries[-1][2] if entries else CREATED_STATUS
        if b["status"] != expected:
            out.append(f"batch {lot}: its status is {b['status']}, but the audit log leaves "
                       f"it {expected}" + (f" (entry {entries[-1][0]})" if entries else ""))
        entry, bud, digest = self.bud[lot]
        if b["bud"] != bud:
            out.append(f"batch {lot}: its BUD is {b['bud']}, but the audit log leaves it "
                       f"{bud} (entry {entry})")
        if digest is not None and sha256(b["bud_json"]) != digest:
            out.append(f"batch {lot}: its bud_json differs from what audit entry {entry} "
                       "recorded")
        else:
            try:
                stated = json.loads(b["bud_json"]).get("bud")
            except (ValueError, AttributeError):
                stated = None
            if stated != b["bud"]:
                out.append(f"batch {lot}: its bud_json states the BUD {stated}, but the "
                           f"record says {b['bud']}")
        return out
