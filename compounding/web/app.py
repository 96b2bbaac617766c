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
    #: The sessions file shared by the server's worker processes (``serve`` makes one in a
    #: private folder); None: a file of this application's own (one process).
    sessions_path: Path | None = None

    #: Fields handed to worker processes (:func:`app_from_environment`); clocks are not.
    PATHS = ("db_path", "settings_path", "formulas_dir", "templates_dir", "labels_dir",
             "sessions_path")

    def to_environment(self) -> str:
        """This configuration as the text of :data:`CONFIG_VARIABLE` (paths only)."""
        import json
        return json.dumps({k: (str(getattr(self, k)) if getattr(self, k) is not None else None)
                           for k in self.PATHS})

    @classmethod
    def from_environment(cls, text: str) -> "BenchConfig":
        import json
        from ..store import resolve_db_path
        data = json.loads(text)
        out = cls(**{k: Path(data[k]) if data.get(k) is not None else None
                     for k in cls.PATHS if k != "labels_dir"},
                  labels_dir=Path(data["labels_dir"]))
        # a postgresql:// URL stays text (a Path folds its '//'), issue 20
        out.db_path = resolve_db_path(data["db_path"], {}, None)
        return out


#: How ``serve --workers N`` hands the configuration to its worker processes.
CONFIG_VARIABLE = "COMPOUNDING_BENCH_CONFIG"


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
                                     config.session_clock or time.monotonic,
                                     path=config.sessions_path)
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
        if cached is not None and (cached[0] != path or cached[1].in_transaction):
            cached[1].close()
            cached = None
        if cached is None:
            cached = (path, self.configure(Store.open(path, clock=self.config.store_clock,
                                                      migrate=False)))
            cached[1].site = self.settings.site  # issue 20: the bench acts for this site
            self._local.store = cached
        try:
            yield cached[1]
        except BaseException:
            if cached[1].in_transaction:
                self._local.store = None
                cached[1].close()
            raise

    def configure(self, store):
        """The settings the store needs (issue 12): the audit key file, the lockout
        cool-down; the same lookup as the CLI's."""
        from ..store.audit_key import resolve_path
        store.audit_key_path = resolve_path(self.settings.records.audit_key_file,
                                            self.app.environ, self.app.settings_path)
        store.lockout_minutes = self.settings.users.lockout_minutes
        return store

    def migrate(self) -> list[str]:
        from ..store import Store
        with self.configure(Store.open(self.config.db_path,
                                       clock=self.config.store_clock)) as store:
            return store.migrate()


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS` (and ``Cache-Control: no-store``
    outside ``/static/``) to every response that does not set them itself.

    Not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs every response
    through an extra task and memory stream, which took about a tenth of the server's CPU
    under the 20-client load (py-spy, docs/bench.md)."""

    _HEADERS = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in SECURITY_HEADERS.items()]
    _NO_STORE = (b"cache-control", b"no-store")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                extra = self._HEADERS if static else self._HEADERS + [self._NO_STORE]
                headers += [(k, v) for k, v in extra if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: How a worker knows the ``serve`` process that started it (see :func:`watch_parent`).
PARENT_VARIABLE = "COMPOUNDING_BENCH_PARENT"


def app_from_environment():
    """The application of one worker process of ``serve --workers N``: the configuration
    from :data:`CONFIG_VARIABLE`; the parent has migrated the database already."""
    import os
    parent = os.environ.get(PARENT_VARIABLE, "")
    if parent.isascii() and parent.isdigit():
        watch_parent(int(parent))
    return create_app(BenchConfig.from_environment(os.environ[CONFIG_VARIABLE]),
                      migrate=False)


def watch_parent(parent: int, every: float = 0.5) -> threading.Thread:  # float-ok: seconds
    """Stop this worker (SIGTERM to itself: uvicorn finishes the requests in hand) once
    ``parent`` is no longer its parent process. uvicorn's workers otherwise outlive a
    ``serve`` killed with kill -9 and go on answering on the port, on a sessions file
    that is gone, and a new ``serve`` cannot bind it."""
    import os
    import signal

    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    import time
    t = threading.Thread(target=watch, name="bench-parent-watch", daemon=True)
    t.start()
    return t


def create_app(config: BenchConfig, migrate: bool = True):
    """The FastAPI application: pages at ``/``, static files at ``/static``, the JSON API
    at ``/api/v1`` (OpenAPI document ``/api/v1/openapi.json``). ``migrate``: apply pending
    migrations first (one process does, before any worker starts)."""
    from fastapi import FastAPI

    from . import api, pages
    from .static_files import PackagedStatic

    bench = Bench(config)
    if migrate:
        bench.migrate()
    app = FastAPI(title="Compounding bench", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bench = bench

    from .once import OncePerForm
    app.add_middleware(OncePerForm, bench=bench)  # a double click does its work once
    app.add_middleware(SecurityHeaders)
    # from memory: the files ship in the package and never change while serving
    app.mount("/static", PackagedStatic(Path(__file__).parent / "static"), name="static")
    app.mount("/api/v1", api.create_api(bench))
    pages.register(app, bench)
    return app
