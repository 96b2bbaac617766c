"""The bench application: configuration, the store per request, errors, sign-in state.

:func:`create_app` builds the FastAPI application that ``compounding serve`` runs. Pages
(:mod:`.pages`) and the JSON API (:mod:`.api`, mounted at ``/api/v1``) are edges like the
CLI: they parse, call the same library functions (store, sign-off, plan, labels) and
render. A library refusal becomes an HTTP 4xx carrying the CLI's own message:

=================================  ======
error                              status
=================================  ======
``InputError`` (bad input)         400
``NotFoundError``                  404
``RefusedError`` (rules, roles)    403
``LabelError``                     400
``StoreError`` (database)          503
``PrinterError`` (the printer)      502
=================================  ======

Security headers on every response: ``Content-Security-Policy: default-src 'self'`` (no
inline script or style anywhere), ``X-Content-Type-Options: nosniff``,
``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``
for pages (records and patient names must not sit in a shared cache).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from .common import CSP, SECURITY_HEADERS, SESSION_COOKIE, dumps, status_for, to_jsonable  # noqa: F401


@dataclass
class BenchConfig:
    """Where the bench's data is. Paths as the CLI resolves them (``--db``, settings...)."""

    db_path: Path
    settings_path: Path | None = None
    formulas_dir: Path | None = None
    templates_dir: Path | None = None
    #: Folder the label and worksheet PDFs are written to (``labels/web`` in the cwd).
    labels_dir: Path = field(default_factory=lambda: Path.cwd() / "labels" / "web")
    #: Monotonic clock for session idle time (tests pass a fake).
    session_clock: Callable[[], float] | None = None
    #: Wall clock for the store (tests pass a fixed one); None: the system clock.
    store_clock: Callable | None = None


class Bench:
    """What every request shares: settings, formulas and templates (loaded once at start),
    sessions, and a way to open the store."""

    def __init__(self, config: BenchConfig):
        from ..cli import App
        from ..settings import load_settings
        from .sessions import SessionStore
        import time

        self.config = config
        self.app = App(str(config.settings_path) if config.settings_path else None,
                       str(config.formulas_dir) if config.formulas_dir else None,
                       str(config.templates_dir) if config.templates_dir else None)
        self.settings = load_settings(self.app.settings_path)
        self.registry = self.app.registry
        self.sessions = SessionStore(self.settings.web.session_idle_minutes * 60,
                                     config.session_clock or time.monotonic)
        self.labels_dir = Path(config.labels_dir)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._templates = None

    def templates(self):
        """Label templates as they are on disk now (approval is by content hash): loaded
        again whenever a template file's name, size or modification time changed."""
        from ..labeling.templates import load_templates
        folder = Path(self.app.templates_dir)
        try:
            key = tuple((p.name, st.st_size, st.st_mtime_ns)
                        for p in sorted(folder.iterdir()) for st in [p.stat()])
        except OSError:
            key = None
        with self._lock:
            if key is not None and self._templates is not None and self._templates[0] == key:
                return self._templates[1]
        loaded = load_templates(folder)
        with self._lock:
            self._templates = (key, loaded)
        return loaded

    def fresh_registry(self):
        """Formulas as they are on disk now (for change control: submit and approve)."""
        from ..formulas import Registry
        return Registry.load(self.app.formulas_dir)

    @contextlib.contextmanager
    def store(self):
        """The store for a request: one SQLite connection per server thread, opened on first
        use and kept (opening costs a few ms: checks, WAL, pragmas). No passphrase source:
        the session or the API token has authenticated the person; signatures authenticate
        again in the library. A transaction never outlives a request (``store.write()``
        commits or rolls back), and a connection found inside one is closed, not reused."""
        from ..store import Store
        path = str(self.config.db_path)
        cached = getattr(self._local, "store", None)
        if cached is not None and (cached[0] != path or cached[1].db.conn.in_transaction):
            cached[1].close()
            cached = None
        if cached is None:
            cached = (path, Store.open(path, clock=self.config.store_clock, migrate=False))
            cached[1].site = self.settings.site  # issue 20: the bench acts for this site
            self._local.store = cached
        try:
            yield cached[1]
        except BaseException:
            if cached[1].db.conn.in_transaction:
                self._local.store = None
                cached[1].close()
            raise

    def migrate(self) -> list[str]:
        from ..store import Store
        with Store.open(self.config.db_path, clock=self.config.store_clock) as store:
            return store.migrate()


def create_app(config: BenchConfig):
    """The FastAPI application: pages at ``/``, static files at ``/static``, the JSON API
    at ``/api/v1`` (OpenAPI document ``/api/v1/openapi.json``)."""
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    from . import api, pages

    bench = Bench(config)
    bench.migrate()
    app = FastAPI(title="Compounding bench", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bench = bench

    @app.middleware("http")
    async def security_headers(request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")),
              name="static")
    app.mount("/api/v1", api.create_api(bench))
    pages.register(app, bench)
    return app
