"""How the bench's pages answer what went wrong: one page with the one line the CLI would
print (``error.html``), never FastAPI's JSON. The JSON API (``api.py``) answers the same
errors as ``{"error": ...}``.

| raised | status | line |
|---|---|---|
| :class:`Redirect` | 303 | (to the URL: sign-in, for example) |
| :class:`PageError` | its status | its message |
| ``CompoundingError`` | ``common.status_for`` | the library's message (as the CLI) |
| a missing or malformed address field (``/rx/view`` without ``rx``) | 400 | each field named with what is wrong |
| no such page / method | 404 / 405 | "no page at PATH" / "POST is not allowed at PATH" |
"""

from __future__ import annotations

from ..errors import CompoundingError
from .common import status_for, validation_message


class Redirect(Exception):
    def __init__(self, url: str):
        self.url = url


class PageError(Exception):
    """An error shown as a page (not a form re-render)."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


def install(app, error_page) -> None:
    """Register the handlers on ``app``; ``error_page(request, status, message)`` renders
    the page (with the session's user, when signed in)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import RedirectResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(Redirect)
    async def _redirect(request, exc: Redirect):
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request, exc: PageError):
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(CompoundingError)
    async def _library_error(request, exc: CompoundingError):
        return error_page(request, status_for(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        return error_page(request, 400, validation_message(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        if exc.status_code == 404:
            message = f"no page at {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed at {request.url.path}"
        else:
            message = str(exc.detail)
        resp = error_page(request, exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            resp.headers[key] = value
        return resp
