"""A small on-disk cache for work that depends only on file contents (issue 18: the fixed
cost of a print command): parsed font tables, validated template and settings files.

Every entry is keyed by a SHA-256 of everything it was derived from (the source file's bytes,
the version of the code that derived it), so a changed file or a new version never meets an
old entry: there is nothing to invalidate. Each entry carries the SHA-256 of its own payload,
checked on every read, so a truncated or damaged entry is ignored and the work redone, never
used. Writes go to a temporary file renamed into place (two processes writing the same entry
write the same bytes). When the folder cannot be written, nothing is cached and every command
simply does the work itself: the cache changes speed, never results.

Where: ``$COMPOUNDING_CACHE_DIR``, else ``$XDG_CACHE_HOME/compounding``, else
``~/.cache/compounding``. Delete the folder at any time. The entries are as trustworthy as the
user's own files: someone who can write to this folder can also edit the installed program,
so no signature is attempted.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

ENV_VAR = "COMPOUNDING_CACHE_DIR"
_MAGIC = b"compounding-cache 1\n"


def cache_dir(environ=None) -> Path:
    """The cache folder (not created here)."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]) / "compounding"
    return Path.home() / ".cache" / "compounding"


def key(*parts: bytes | str) -> str:
    """A hex SHA-256 over ``parts`` (each length-prefixed, so no two lists collide)."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8") if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return h.hexdigest()


def _path(kind: str, entry_key: str) -> Path:
    return cache_dir() / f"{kind}-{entry_key}.bin"


def load(kind: str, entry_key: str) -> bytes | None:
    """The payload stored under ``kind``/``entry_key``, or None (missing, unreadable,
    damaged)."""
    try:
        data = _path(kind, entry_key).read_bytes()
    except (OSError, ValueError):
        return None
    head = len(_MAGIC)
    if not data.startswith(_MAGIC) or len(data) < head + 65 or data[head + 64:head + 65] != b"\n":
        return None
    digest, payload = data[head:head + 64], data[head + 65:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    return payload


def save(kind: str, entry_key: str, payload: bytes) -> bool:
    """Store ``payload``; False (and nothing written) if the folder cannot be written."""
    path = _path(kind, entry_key)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # only when an entry is written (issue 18: not on a warm print)

        fd, tmp = tempfile.mkstemp(prefix=f".{kind}-", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False


_PACKAGE = Path(__file__).resolve().parent


def code_fingerprint(modules: tuple[str, ...]) -> str:
    """A SHA-256 over the source of ``modules`` (paths inside the ``compounding`` package)
    and the installed pydantic version: what a validated entry was validated by. Any change
    to that code gives new keys, so entries validated by older code are never used."""
    return _fingerprint(tuple(modules))


@functools.lru_cache(maxsize=None)
def _fingerprint(modules: tuple[str, ...]) -> str:
    import importlib.util

    parts: list[bytes | str] = ["code"]
    for m in modules:
        parts += [m, (_PACKAGE / m).read_bytes()]
    spec = importlib.util.find_spec("pydantic")
    version = Path(spec.origin).with_name("version.py") if spec and spec.origin else None
    parts.append(version.read_bytes() if version and version.exists() else b"no pydantic")
    return key(*parts)
