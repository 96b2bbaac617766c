"""A throwaway PostgreSQL cluster for the tests (issue 20).

``start_cluster(folder)`` runs Debian's PostgreSQL binaries (``/usr/lib/postgresql/*/bin``)
as the ``postgres`` system user (through ``runuser`` when the tests run as root, directly
when they already run as ``postgres``): ``initdb`` into a new folder owned by ``postgres``,
``pg_ctl start`` on a free TCP port on 127.0.0.1 with its own socket folder (never the
system's /var/run/postgresql), trust authentication for local connections only. Returns a
:class:`Cluster` (``url(dbname)``, ``createdb(name)``, ``stop()``) or raises
:class:`Unavailable` with the reason the PostgreSQL half of the suite is skipped.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path


class Unavailable(Exception):
    """Why no throwaway PostgreSQL cluster can run here (the skip reason)."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise Unavailable("PostgreSQL server binaries not installed "
                          "(/usr/lib/postgresql/*/bin/initdb; Debian package postgresql)")
    return Path(found[-1]).parent


def _as_postgres() -> list[str]:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("no 'postgres' system user to run the cluster as") from None
    if pwd.getpwuid(os.getuid()).pw_name == "postgres":
        return []
    if os.getuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    if shutil.which("sudo"):
        probe = subprocess.run(["sudo", "-n", "-u", "postgres", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["sudo", "-n", "-u", "postgres"]
    raise Unavailable("cannot run commands as the 'postgres' user (not root, no sudo -n)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    bin: Path
    folder: Path
    port: int
    prefix: list

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def sockets(self) -> Path:
        return self.folder / "sockets"

    def url(self, dbname: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres", user: str = "postgres"):
        return subprocess.run(self.prefix + [str(self.bin / "psql"), "-X", "-q", "-v",
                                             "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                             str(self.port), "-U", user, "-d", dbname,
                                             "-c", sql],
                              capture_output=True, text=True)

    def createdb(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        out = self.psql(f'CREATE DATABASE "{name}"')
        if out.returncode:
            raise RuntimeError(out.stderr)
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(self.prefix + [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                                      "immediate", "-w", "stop"], capture_output=True)


def start_cluster(folder: Path) -> Cluster:
    """initdb + pg_ctl start in ``folder`` (created, handed to ``postgres``)."""
    bin_dir = _bin_dir()
    prefix = _as_postgres()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sockets").mkdir(exist_ok=True)
    if prefix:
        pg = pwd.getpwnam("postgres")
        for p in (folder, folder / "sockets"):
            os.chown(p, pg.pw_uid, pg.pw_gid)
        # the postgres user must be able to reach the folder
        for parent in list(folder.parents)[:-1]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
    run = lambda args: subprocess.run(prefix + args, capture_output=True, text=True)  # noqa
    out = run([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U",
               "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
    if out.returncode:
        raise Unavailable(f"initdb failed: {out.stderr.strip().splitlines()[-1:]}")
    port = _free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} "
            f"-c unix_socket_directories={folder / 'sockets'} -c fsync=off "
            f"-c max_connections=200 -c shared_buffers=32MB")
    out = run([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-o", opts, "-l",
               str(folder / "server.log"), "-w", "-t", "60", "start"])
    if out.returncode:
        raise Unavailable(f"pg_ctl start failed: {out.stdout.strip()[-300:]}")
    return Cluster(bin_dir, folder, port, prefix)
