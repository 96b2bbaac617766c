"""Label prints under way: no PDF without a record, no record without a PDF (issue 12, part 2).

A print touches two things that cannot change together, a file (or a printer) and the
database, so each print is announced first in ``pending_outputs`` with the process that owns
it, and every later step is ordered so that a kill at any point leaves something the next
print can finish or clear:

to a file (:func:`compounding.labeling.printing.print_labels`, ZPL files alike)

1. ``begin``: a ``pending_outputs`` row (the temporary file's name, the final name, the
   SHA-256 of the bytes, the record to be written; a dispense reserves its quantity) -
   committed;
2. the bytes are written to the temporary name and synced;
3. one transaction records the print (``label_prints``, ``dispensings``, a prescription
   fill) and ties the pending row to it (``recorded``);
4. the temporary file is renamed to its final name;
5. ``finish`` deletes the pending row.

to a printer (:func:`compounding.printing.jobs.print_job`)

1. ``begin`` (as above, no file) - committed; 2. the job is sent; 3. one transaction
records the print and deletes the pending row. A send the printer refuses deletes the row:
nothing is recorded.

:func:`recover` runs before every print. A pending row whose process is gone (same host,
and no process with that id and start time) is resolved, each case on the audit log:

- a file print killed before step 3: the temporary file (if any) is removed, nothing was
  recorded (``label.print_abandoned``);
- killed after step 3: the temporary file is checked against the recorded SHA-256 and
  renamed to its name (or ``NAME-printN.pdf`` beside it if that name was taken meanwhile:
  ``label.file_recovered``); a missing or altered file is reported
  (``label.file_missing``: reprint it);
- killed after step 4: only the row is deleted;
- a printer job whose process died between announcing and recording it may or may not
  have printed: it is recorded as printed, marked recovered (``details.recovered`` of its
  ``label.print`` entry), and reported, so a label that may exist is on record (recall
  reaches the patient; a dispense stays counted). This is the conservative side.

A row of another host (a database on a shared folder) is never touched; it is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

from ..errors import CompoundingError
from .core import StoreCore, canonical

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _start_of(pid: int) -> str | None:
    """``BOOT_ID:STARTTIME`` of process ``pid`` (Linux /proc), None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = _BOOT_ID.read_text().strip()
    except OSError:
        return None
    # field 22 (starttime), counted after the command name, which may hold spaces
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"


def process_identity() -> dict:
    """``{"host", "pid", "process_start"}`` of this process."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid,
            "process_start": _start_of(pid) or "unknown"}


def owner_alive(row: dict) -> bool | None:
    """True when the process that began ``row`` still runs, False when it is gone, None
    when this host cannot tell (another host)."""
    if row["host"] != socket.gethostname():
        return None
    if row["process_start"] == "unknown":
        try:
            os.kill(row["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return _start_of(row["pid"]) == row["process_start"]


def kill_point(name: str) -> None:
    """Test hook: ``COMPOUNDING_TEST_KILL_AT=NAME`` makes this process kill itself with
    SIGKILL here (the real-process tests of issue 12 stop a print at each step)."""
    if os.environ.get("COMPOUNDING_TEST_KILL_AT") == name:
        import signal
        os.kill(os.getpid(), signal.SIGKILL)


def begin(store: StoreCore, *, lot_id: str, target: str, output_path: str,
          temp_path: str | None, sha256: str, record: dict, by: str) -> int:
    """Announce a print (step 1); returns the pending row's id. ``record``: the keyword
    arguments of :func:`.dispensing.record_label_print` (JSON-ready). A dispensing print is
    checked (reprint or new dispense, within what is left) under the write lock and its
    quantity reserved, so two printers cannot both take the last capsules."""
    from .batches import batch_row
    from .dispensing import check_dispense
    from .sites import own_batch
    with store.write():
        own_batch(store, batch_row(store, lot_id),  # issue 20: before anything is printed
                  "dispense from" if record.get("kind") == "dispensing" else "print a label of")
        milli = None
        if record.get("kind") == "dispensing":
            d = check_dispense(store, batch_row(store, lot_id),
                               rx_number=record["rx_number"], patient=record["patient"],
                               prescriber=record.get("prescriber"),
                               directions=record.get("directions"),
                               quantity=record["dispensed_quantity"],
                               fill=record.get("fill"),
                               fill_reprint=bool(record.get("fill_reprint")))
            milli = None if d["reprint"] else d["milli"]
        return store.insert("pending_outputs", {
            "lot_id": lot_id, "target": target, "output_path": str(output_path),
            "temp_path": None if temp_path is None else str(temp_path), "sha256": sha256,
            "record_json": canonical(record), "dispense_milli": milli,
            **process_identity(), "started_by": by, "started_at": store.stamp()})


def recorded(store: StoreCore, pending_id: int, label_print_id: int) -> None:
    """Step 3 (inside the recording transaction): the print of ``pending_id`` is on record."""
    store.execute("UPDATE pending_outputs SET label_print_id = ? WHERE id = ?",
                  [label_print_id, pending_id])


def finish(store: StoreCore, pending_id: int) -> None:
    """The print is complete (file in place, or job recorded): forget the pending row."""
    with store.write():
        store.execute("DELETE FROM pending_outputs WHERE id = ?", [pending_id])


def abandon(store: StoreCore, pending_id: int) -> None:
    """The print failed before it was recorded (refused, printer error): forget the row;
    nothing is recorded. A database that cannot be written leaves the row to
    :func:`recover`."""
    try:
        finish(store, pending_id)
    except CompoundingError:
        pass


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _free_name(path: Path, print_id: int) -> Path:
    alt = path.with_name(f"{path.stem}-print{print_id}{path.suffix}")
    n = 2
    while os.path.lexists(alt):
        alt = path.with_name(f"{path.stem}-print{print_id}-{n}{path.suffix}")
        n += 1
    return alt


def _link_no_clobber(src: Path, dest: Path) -> bool:
    try:
        os.link(src, dest)
    except FileExistsError:
        return False
    src.unlink(missing_ok=True)
    return True


def place_recorded_file(tmp: Path, output: Path, print_id: int) -> Path:
    """Give a recorded print's temporary file its name, or ``NAME-printN.ext`` beside it
    when that name was taken meanwhile (never replacing a file). Returns where it is."""
    if _link_no_clobber(tmp, output):
        return output
    while True:
        alt = _free_name(output, print_id)
        if _link_no_clobber(tmp, alt):
            return alt


def recover(store: StoreCore) -> list[str]:
    """Resolve the pending prints of processes that are gone (see the module docstring);
    return one line per case for the person printing now ("Note: ..." / "Warning: ...")."""
    rows = store.rows("SELECT * FROM pending_outputs ORDER BY id")
    if not rows:  # the usual case: nothing was left by a killed print
        return []
    import getpass

    lines = []
    actor = getpass.getuser() or "system"
    for row in rows:
        alive = owner_alive(row)
        if alive:
            continue
        if alive is None:
            lines.append(f"Warning: a print of lot {row['lot_id']} by {row['started_by']} "
                         f"began on host {row['host']} at {row['started_at']} and is not "
                         "finished; it is left to that host")
            continue
        with store.write():
            again = store.one("SELECT * FROM pending_outputs WHERE id = ?", [row["id"]])
            if again is None:  # another process resolved it meanwhile
                continue
            line = _resolve(store, again, actor)
            store.execute("DELETE FROM pending_outputs WHERE id = ?", [row["id"]])
        if line:
            lines.append(line)
    return lines


def _resolve(store: StoreCore, row: dict, actor: str) -> str | None:
    lot, who, when = row["lot_id"], row["started_by"], row["started_at"]
    base = {"pending_id": row["id"], "output": row["output_path"],
            "temp": row["temp_path"], "sha256": row["sha256"], "started_by": who,
            "started_at": when, "pid": row["pid"]}
    if row["target"] == "printer":
        record = json.loads(row["record_json"])
        try:
            rec = store.record_label_print(**record, pending_id=row["id"], recovered={
                **base, "recovered_by": actor,
                "note": "sent or being sent when its process stopped; may not have printed"})
        except CompoundingError as exc:
            store.audit("label.print_unrecorded", actor, {**base, "reason": str(exc)},
                        lot_id=lot)
            return (f"Warning: a print of lot {lot} to {row['output_path']} by {who} at "
                    f"{when} stopped while being sent and could not be recorded ({exc}); "
                    "check the printer")
        return (f"Warning: a print of lot {lot} to {row['output_path']} by {who} at {when} "
                "stopped while being sent; it is now recorded as printed (print "
                f"#{rec['id']}): check whether the printer printed it")
    tmp = Path(row["temp_path"])
    output = Path(row["output_path"])
    if row["label_print_id"] is None:
        existed = tmp.exists()
        tmp.unlink(missing_ok=True)
        store.audit("label.print_abandoned", actor, {**base, "temp_removed": existed},
                    lot_id=lot)
        return (f"Note: a print of lot {lot} to {output} by {who} at {when} stopped before "
                "it was recorded; nothing was recorded"
                + ("; its temporary file was removed" if existed else ""))
    pid = row["label_print_id"]
    if _sha(tmp) == row["sha256"]:
        placed = place_recorded_file(tmp, output, pid)
        store.audit("label.file_recovered", actor, {**base, "label_print_id": pid,
                                                     "placed_at": str(placed)}, lot_id=lot)
        return (f"Note: print #{pid} of lot {lot} (by {who} at {when}) was recorded but its "
                f"process stopped before the PDF got its name; it is now at {placed}")
    if not tmp.exists() and _sha(output) == row["sha256"]:
        return None  # renamed; only the last step (forgetting the row) was missing
    store.audit("label.file_missing", actor, {**base, "label_print_id": pid}, lot_id=lot)
    return (f"Warning: print #{pid} of lot {lot} (by {who} at {when}) is recorded but its "
            f"file is missing or altered ({output}); reprint it")
