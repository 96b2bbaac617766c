"""What the bench's pages and API share: the session cookie's name, the security headers,
the HTTP status of a library error and the JSON encoding of the CLI's ``--json`` shapes."""

from __future__ import annotations

import json

from ..shapes import to_jsonable
from ..errors import (CompoundingError, InputError, LabelError, NotFoundError, PrinterError,
                      RefusedError, StoreError)

SESSION_COOKIE = "bench_session"
CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def status_for(exc: CompoundingError) -> int:
    """The HTTP status of a library error (see the module table)."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, RefusedError):
        return 403
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, PrinterError):  # the printer, not the bench, failed
        return 502
    if isinstance(exc, (InputError, LabelError)):
        return 400
    return 400


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, default=to_jsonable).encode("utf-8")
