"""The one way this package writes a file a person named (``--output``, backups, anchors).

Why (issue 12, class 1): ``--output compounding.db`` replaced the SQLite database itself
with a PDF, and an output path could be a device, a FIFO or a symlink. Every user-named file
goes through :func:`check_output` (refuse before any work) and :func:`write_output` (write a
temporary file beside it, then rename it into place) so:

- the database, its ``-wal``, ``-shm`` and ``-journal`` files are never written, whatever
  the name used to reach them (another spelling, a hard link, a symlink: compared by device
  and inode);
- an existing path that is not a regular file (directory, FIFO, device, socket) and any
  symlink are refused, even with ``--force``;
- an existing regular file is replaced only with ``force=True`` (the CLI's ``--force``);
- a name the file system cannot take (too long, bad folder) is one line, not a traceback;
- the file gets mode ``0666 & ~umask`` like any file the user's shell would create (the
  temporary file is created with ``os.open(..., 0o666)``, so the kernel applies the umask);
- a reader never sees half a file: the rename is atomic on POSIX (``rename(2)``).

:func:`temporary` and :func:`publish` split the write in two so a caller can record the
file in the database between them (labels: a PDF and its print record exist together).

Leftovers (issue 12 part 2, "clean up leftovers on the next open"): a process killed
between writing its temporary file and renaming it leaves
``.compounding-tmp-<host>-<pid>-<start>-<random><suffix>`` beside the target. The name
carries its owner: a short digest of the host name, the process id and a short digest of
that process's start (Linux boot id and start time, ``/proc``). Before writing into a
folder, :func:`clean_stale` removes the temporary files of that folder that are of this
naming, of this host, regular files (never a link), and whose owner is gone (no process
with that id, or one that started at another time), and says so (one line each, on stderr
by default, :data:`note`). Anything else is left alone: another host's files (a shared
folder), a live process's file, files of the older random-only naming (their owner cannot
be known), and label prints' temporary files (``.compounding-tmp-rec-...``: they may be a
recorded PDF still to be put in place; :mod:`compounding.store.pending` owns them).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import socket
import stat
import sys
from pathlib import Path

from .errors import InputError

#: Prefix of temporary files; a leftover can be recognised (and cleaned) by it.
TEMP_PREFIX = ".compounding-tmp-"

#: Temporary files of label prints (recorded in ``pending_outputs``; never cleaned here).
RECORDED_PREFIX = TEMP_PREFIX + "rec-"

#: ``.compounding-tmp-HOST6-PID-START8-RANDOM16<suffix>`` (see the module docstring).
_OWNED = re.compile(r"\.compounding-tmp-([0-9a-f]{6})-([1-9][0-9]{0,9})-([0-9a-f]{8})-"
                    r"[0-9a-f]{16}(\.[^/]{0,16})?\Z")


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:n]


def _start_token(pid: int) -> str | None:
    """A short digest of process ``pid``'s start (boot id and start time from Linux
    ``/proc``); None when there is no such process or this system cannot tell."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, ValueError):
        return None
    try:  # field 22, starttime, counted after the command name (which may hold spaces)
        return _digest(f"{boot}:{text.rsplit(')', 1)[1].split()[19]}", 8)
    except IndexError:
        return None


def _host_token() -> str:
    return _digest(socket.gethostname(), 6)


def _note_stderr(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


#: Where :func:`clean_stale` says what it removed (``line -> None``); stderr by default.
note = _note_stderr

DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _identity(path: Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def protected_files(db_path) -> list[Path]:
    """The database file and its SQLite companions (that exist or may appear)."""
    if not db_path or str(db_path) == ":memory:":
        return []
    return [Path(f"{db_path}{s}") for s in DB_SUFFIXES]


def _oserror(field: str, path: Path, exc: OSError) -> InputError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        reason = (f"the file name is too long for the file system ({len(path.name)} "
                  "characters); choose a shorter name")
    return InputError(f"{field}: cannot write {_short(path)}: {reason}", field=field)


def _short(path: Path) -> str:
    s = str(path)
    return s if len(s) <= 120 else s[:60] + "..." + s[-40:]


def check_output(path, *, protect=(), force: bool = False, field: str = "output") -> Path:
    """Refuse ``path`` as an output unless writing it can destroy nothing; return it.

    ``protect``: database paths whose file, ``-wal``, ``-shm`` and ``-journal`` must never be
    written. Raises :class:`InputError` (exit 2) naming ``field`` and what is allowed.
    """
    path = Path(path)
    if str(path) in ("", "."):
        raise InputError(f"{field}: a file name is required", field=field)
    guarded = []
    for db in protect:
        guarded += protected_files(db)
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        lst = None
    except OSError as exc:
        raise _oserror(field, path, exc) from None
    # the database by any name: same path text, or same file (device, inode)
    target = _identity(path)
    resolved = os.path.abspath(path)
    for g in guarded:
        if os.path.abspath(g) == resolved or (target is not None and target == _identity(g)):
            raise InputError(f"{field}: {_short(path)} is the database or one of its files; "
                             "choose another file name", field=field)
    if lst is not None:
        if stat.S_ISLNK(lst.st_mode):
            raise InputError(f"{field}: {_short(path)} is a symbolic link; name a regular "
                             "file (links are never followed for output)", field=field)
        if stat.S_ISDIR(lst.st_mode):
            raise InputError(f"{field}: {_short(path)} is a directory; name a file in it",
                             field=field)
        if not stat.S_ISREG(lst.st_mode):
            raise InputError(f"{field}: {_short(path)} is not a regular file (device, FIFO "
                             "or socket); name a regular file", field=field)
        if lst.st_nlink > 1:
            raise InputError(f"{field}: {_short(path)} has other hard links; name a new "
                             "file", field=field)
        if not force:
            raise InputError(f"{field}: {_short(path)} exists; use --force to replace it, "
                             "or choose another name", field=field)
    # the name must fit the file system (NAME_MAX is per directory, usually 255 bytes)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        name_max = os.pathconf(parent if parent.exists() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(path.name)) > name_max:
        raise _oserror(field, path, OSError(errno.ENAMETOOLONG, "File name too long"))
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{field}: {_short(parent)} is not a directory", field=field)
    return path


def temp_name(path, *, recorded: bool = False) -> Path:
    """A new temporary name beside ``path``: ``.compounding-tmp-HOST-PID-START-RANDOM
    <suffix>`` naming its owner (see the module docstring), or with ``recorded`` (a label
    print tracked in ``pending_outputs``) ``.compounding-tmp-rec-<random><suffix>``. Short
    (at most 69 characters) whatever the final name's length, so it always fits."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    suffix = path.suffix[:16]
    if recorded:
        return parent / f"{RECORDED_PREFIX}{secrets.token_hex(8)}{suffix}"
    pid = os.getpid()
    start = _start_token(pid) or "0" * 8
    return parent / f"{TEMP_PREFIX}{_host_token()}-{pid}-{start}-{secrets.token_hex(8)}{suffix}"


def _owner_gone(pid: int, start: str) -> bool:
    """True only when no process ``pid`` runs, or the one that does started at another
    time than the one that named the file (its id was reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False  # a process of another user: it exists
    now = _start_token(pid)
    if now is None or start == "0" * 8:
        return False  # cannot tell: leave it (the conservative side)
    return now != start


def clean_stale(folder) -> list[Path]:
    """Remove from ``folder`` the temporary files of this naming whose owner is gone (see
    the module docstring); return them, after saying so through :data:`note` (one line
    each). Never raises: a file that cannot be removed is reported and left."""
    folder = Path(folder) if str(folder) else Path(".")
    host = _host_token()
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):  # the common case, cheaply
            continue
        m = _OWNED.match(entry.name)
        if m is None or m.group(1) != host:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if not _owner_gone(int(m.group(2)), m.group(3)):
                continue
            size = entry.stat(follow_symlinks=False).st_size
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # another process cleaned it first
        except OSError as exc:
            note(f"Warning: could not remove {entry.name} from {_short(folder)}, a "
                 f"temporary file left by process {m.group(2)}, which stopped: "
                 f"{exc.strerror}")
            continue
        removed.append(Path(entry.path))
        note(f"Removed {entry.name} from {_short(folder)} ({size:,} bytes), a temporary "
             f"file left by process {m.group(2)}, which stopped before finishing its output")
    return removed


def _kill_point(name: str) -> None:
    """Test hook, as :func:`compounding.store.pending.kill_point`:
    ``COMPOUNDING_TEST_KILL_AT=NAME`` makes this process kill itself with SIGKILL here."""
    if os.environ.get("COMPOUNDING_TEST_KILL_AT") == name:
        import signal
        os.kill(os.getpid(), signal.SIGKILL)


def temporary(path, data: bytes, *, field: str = "output", tmp=None) -> Path:
    """Write ``data`` to a new temporary file beside ``path`` (``tmp``, else a fresh
    :func:`temp_name`); return the temporary path.

    The folder is created if needed, and stale temporary files of stopped processes are
    removed from it first (:func:`clean_stale`). Mode ``0666 & ~umask``. Nothing is
    replaced.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _oserror(field, path, exc) from None
    clean_stale(parent)
    tmp = Path(tmp) if tmp is not None else temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o666)
    except OSError as exc:
        raise _oserror(field, path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _oserror(field, path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _kill_point("output-temporary")
    return tmp


def publish(tmp, path, *, protect=(), force: bool = False, field: str = "output") -> Path:
    """Rename the temporary file ``tmp`` to ``path`` (checked again just before)."""
    path = Path(path)
    try:
        check_output(path, protect=protect, force=force, field=field)
        if force:
            os.replace(tmp, path)
        else:
            _link_no_clobber(Path(tmp), path, field)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _oserror(field, path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent if str(path.parent) else Path("."))
    return path


def _link_no_clobber(tmp: Path, path: Path, field: str) -> None:
    """Put ``tmp`` at ``path`` only if nothing is there (``link(2)`` fails if it exists)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise InputError(f"{field}: {_short(path)} appeared while the file was written; "
                         "nothing was replaced; use --force or another name",
                         field=field) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        os.replace(tmp, path)  # no hard links on this file system: checked just above
        return
    tmp.unlink(missing_ok=True)


def fsync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename or link just made in it) to disk; a file system
    that cannot is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_output(path, data: bytes, *, protect=(), force: bool = False,
                 field: str = "output") -> Path:
    """Check, write to a temporary file, rename: the whole safe write in one call."""
    path = check_output(path, protect=protect, force=force, field=field)
    return publish(temporary(path, data, field=field), path, protect=protect, force=force,
                   field=field)
