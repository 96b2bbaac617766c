"""The bench: a local web service for technicians and pharmacists (issue 15).

``compounding serve`` runs :func:`create_app` under uvicorn. Pages are rendered on the
server (Jinja2, autoescaped); the one script and stylesheet are shipped in this package
(``static/``), so the bench works offline. The JSON API lives under ``/api/v1``. Like the
CLI, this package is an edge: it parses, calls the library and renders (docs/bench.md).
"""

from __future__ import annotations

from .app import BenchConfig, create_app

__all__ = ["BenchConfig", "create_app"]
