"""The audit chain's key: a secret kept in a file outside the database (issue 12, part 4).

The audit log is a hash chain (:func:`.core.chain_hash`). Unkeyed, anyone who can write the
database file can edit a record and recompute every hash after it, and ``db verify`` cannot
tell. Keyed with HMAC-SHA256 (RFC 2104), recomputing needs the key, which is not in the
database file: a copy of the database, a backup or a script holding only the file cannot
forge an entry.

Where the key file is (first that applies):

1. ``$COMPOUNDING_AUDIT_KEY`` (a path);
2. the setting ``[records] audit_key_file`` (relative to the settings file's folder);
3. ``$XDG_CONFIG_HOME/compounding/audit.key``, else ``~/.config/compounding/audit.key``
   (the XDG base directory convention): the account that runs compounding, never the
   database's folder, so copying the data folder does not copy the key.

The file is 64 hexadecimal digits (32 random bytes: an HMAC-SHA256 key as long as the hash,
RFC 2104 section 3) and a newline, made on first use with mode 0600 in a folder made with
mode 0700. A key file that others (group or world) may read or write is refused, like
OpenSSH refuses such a private key; so is a file that is not 64 hex digits (it is never
replaced: a damaged key file must be restored from its backup, or every keyed entry would
become unverifiable). The database keeps only the key's id (:func:`key_id`), never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from ..errors import StoreError
from ..outputs import fsync_folder

#: Environment variable naming the key file (scripts, tests, a service unit).
ENV_VAR = "COMPOUNDING_AUDIT_KEY"
#: File name in the user's config folder.
FILE_NAME = "audit.key"
#: Key length in bytes: HMAC-SHA256's output length (RFC 2104 section 3: at least L bytes).
KEY_BYTES = 32
#: The id a key is known by in the database: the first 16 hex digits of HMAC(key, this).
KEY_ID_LABEL = b"compounding audit key id"


def default_path(environ) -> Path:
    """``$XDG_CONFIG_HOME/compounding/audit.key`` (else ``~/.config/...``)."""
    base = environ.get("XDG_CONFIG_HOME") or ""
    folder = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return folder / "compounding" / FILE_NAME


def resolve_path(setting: str | None, environ, settings_path: Path | None) -> Path:
    """Which key file applies: ``$COMPOUNDING_AUDIT_KEY``, else ``setting`` (the settings'
    ``[records] audit_key_file``; relative to the settings file's folder), else
    :func:`default_path`."""
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    if setting:
        p = Path(setting).expanduser()
        if not p.is_absolute() and settings_path is not None:
            p = Path(settings_path).parent / p
        return p
    return default_path(environ)


def key_id(key: bytes) -> str:
    """The key's public name: 16 hex digits of HMAC-SHA256(key, :data:`KEY_ID_LABEL`). It
    tells which key a database was keyed with and reveals nothing usable about the key."""
    return hmac.new(key, KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def read_key(path: Path) -> bytes | None:
    """The key in ``path``; None when there is no such file. Raises :class:`StoreError` (one
    line naming the file) when it is not a regular file, others may read or write it, or it
    does not hold exactly 64 hex digits."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not hang the reader
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"audit key {path}: cannot read it ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"audit key {path}: not a regular file")
        if st.st_mode & 0o077:
            raise StoreError(f"audit key {path}: others may read or write it (mode "
                             f"{stat.S_IMODE(st.st_mode):04o}); allowed: 0600 or 0400 "
                             f"(chmod 600 {path})")
        data = os.read(fd, 200)
    finally:
        os.close(fd)
    text = data.decode("ascii", "replace").strip()
    if len(text) != 2 * KEY_BYTES or text.strip("0123456789abcdef"):
        raise StoreError(f"audit key {path}: not an audit key (64 lowercase hex digits "
                         "expected); restore the key file from its backup, never replace it")
    return bytes.fromhex(text)


def create_key(path: Path) -> bytes:
    """Make a new random key in ``path`` (mode 0600; its folder 0700 if made here) and
    return it. If another process made the file first, that key is read and returned: the
    file appears whole or not at all (written under a temporary name, synced, then linked
    to ``path``, which never replaces a file)."""
    path = Path(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"audit key {path}: cannot make its folder ({exc.strerror})") from None
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (key.hex() + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            existing = read_key(path)
            if existing is None:  # vanished in between: try once more from the start
                return create_key(path)
            return existing
        fsync_folder(path.parent)
    except OSError as exc:
        raise StoreError(f"audit key {path}: cannot create it ({exc.strerror})") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return key


# ---------------------------------------------------------------- keyed databases

#: Beside the key file: one JSON line per database keyed with it (issue 12, part 4).
REGISTRY_SUFFIX = ".databases"


def registry_path(key_path: Path) -> Path:
    """The file beside the key that lists the databases keyed with it."""
    key_path = Path(key_path)
    return key_path.with_name(key_path.name + REGISTRY_SUFFIX)


def register(key_path: Path, database: str, first_at: str, keyed_from: int,
             key_id_: str) -> None:
    """Record outside the database that ``database`` (its resolved path; ``first_at``: the
    time of its audit entry 1, which tells it from another database later made at the same
    path) is keyed from entry ``keyed_from`` with key ``key_id_``.

    Why: the database's own ``audit_keys`` row says where its keyed chain begins; whoever
    holds only the file could delete that row and recompute the whole chain as plain
    SHA-256, which reads as a database from before the chain was keyed. This line, kept
    with the key and out of the database's reach, says otherwise (:func:`registrations`).
    One ``O_APPEND`` write of a short line (atomic among processes), mode 0600."""
    import json
    line = json.dumps({"database": database, "first_at": first_at, "keyed_from": keyed_from,
                       "key_id": key_id_}, sort_keys=True, ensure_ascii=False) + "\n"
    path = registry_path(key_path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"audit key {key_path}: cannot record the keyed database in {path} "
                         f"({exc.strerror})") from None


def registrations(key_path: Path, database: str) -> list[dict]:
    """The lines :func:`register` wrote for ``database`` (``[]`` without a registry file;
    a damaged line is skipped: it can only lose a check, never invent a database)."""
    import json
    try:
        text = registry_path(key_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in text.splitlines():
        try:
            reg = json.loads(line)
        except ValueError:
            continue
        if (isinstance(reg, dict) and reg.get("database") == database
                and isinstance(reg.get("keyed_from"), int)):
            out.append(reg)
    return out
