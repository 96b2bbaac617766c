"""`compounding serve`: run the bench web service (FastAPI under uvicorn)."""

from __future__ import annotations

import click

from . import pass_app
from .db import db_option

from .types import WholeNumber

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
#: Most server processes ``--workers`` takes (each holds its own connections and templates).
MAX_WORKERS = 16


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names for them."""
    import ipaddress
    h = host.strip().strip("[]").lower()
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback must sit behind a TLS "
                   "reverse proxy (a warning is printed).")
@click.option("--port", type=WholeNumber(1, 65535), default=8000, show_default=True,
              help="TCP port.")
@db_option
@click.option("--settings", "serve_settings", type=click.Path(dir_okay=False),
              help="Pharmacy settings TOML (same as the global --settings).")
@click.option("--labels-dir", type=click.Path(file_okay=False),
              help="Folder for label PDFs printed at the bench (default: labels/web).")
@click.option("--workers", type=WholeNumber(1, MAX_WORKERS), default=1, show_default=True,
              help="Server processes. One Python process uses one CPU core at a time; "
                   "more processes share the sign-ins and the database (docs/bench.md).")
@pass_app
def serve(app, host, port, db_path, serve_settings, labels_dir, workers):
    """Run the bench: the web service for technicians and pharmacists.

    Technicians sign in, scan a lot, weigh, and print labels; pharmacists verify, release
    and approve, typing their passphrase at every signature. Same users, rules and store as
    the CLI. A JSON API is under /api/v1 (OpenAPI at /api/v1/openapi.json). Stop with
    Ctrl+C.
    """
    import os
    import shutil
    from pathlib import Path

    import uvicorn

    from ..store import resolve_db_path
    from ..web import BenchConfig, create_app
    from ..web.app import CONFIG_VARIABLE, PARENT_VARIABLE
    from ..web.sessions import private_folder
    from .db import settings_database

    settings = serve_settings or app.settings_option
    try:
        folder = private_folder()  # the sessions file, shared by the workers; removed at exit
    except OSError as exc:
        import tempfile
        raise click.ClickException(
            f"cannot make a private folder for the bench's sessions in "
            f"{tempfile.gettempdir()}: {exc.strerror or exc}; set TMPDIR to a writable "
            "folder") from None
    config = BenchConfig(
        db_path=resolve_db_path(db_path, app.environ, app.cwd, settings_database(app)),
        settings_path=Path(settings) if settings else app.settings_path,
        formulas_dir=app.formulas_dir, templates_dir=app.templates_dir,
        labels_dir=Path(labels_dir) if labels_dir else app.cwd / "labels" / "web",
        sessions_path=Path(folder) / "sessions.db")
    try:
        _serve(config, host, port, workers, create_app, CONFIG_VARIABLE, uvicorn)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(CONFIG_VARIABLE, None)
        os.environ.pop(PARENT_VARIABLE, None)


def _serve(config, host, port, workers, create_app, config_variable, uvicorn) -> None:
    import os

    # built here in every case: settings, formulas and the database are checked (and the
    # database migrated) once, before any worker starts, and a bad one is one Error line
    web = create_app(config)
    if not is_loopback(host):
        click.echo(f"Warning: serving on {host}, not loopback: anyone who can reach this "
                   "address sees the sign-in page. Put the bench behind a TLS reverse proxy "
                   "(docs/bench.md) and never expose plain HTTP beyond this machine.",
                   err=True)
    shown = f"[{host}]" if ":" in host else host
    many = f", {workers} worker processes" if workers > 1 else ""
    click.echo(f"Bench on http://{shown}:{port}/ (database {_shown_db(config.db_path)}{many}); "
               "Ctrl+C stops", err=True)
    common = dict(host=host, port=port, log_level="warning", access_log=False,
                  server_header=False, proxy_headers=False)
    if workers == 1:
        uvicorn.run(web, **common)
        return
    del web  # each worker builds its own from the configuration
    from ..web.app import PARENT_VARIABLE
    os.environ[config_variable] = config.to_environment()
    os.environ[PARENT_VARIABLE] = str(os.getpid())  # workers stop when this process is gone
    uvicorn.run("compounding.web.app:app_from_environment", factory=True, workers=workers,
                **common)


def _shown_db(path) -> str:
    """The database for a message: a PostgreSQL URL with its password redacted."""
    from ..store.pg_url import is_url, redact
    text = str(path)
    return redact(text) if is_url(text) else text
