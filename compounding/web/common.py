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


def validation_message(errors: list[dict]) -> str:
    """One line for a request FastAPI could not validate (a missing or malformed query,
    path or form field): each field named with what was wrong, as the CLI names options."""
    problems = []
    for e in errors:
        loc = ".".join(str(x) for x in e.get("loc", ())
                       if x not in ("body", "query", "path", "form"))
        problems.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, default=to_jsonable).encode("utf-8")
