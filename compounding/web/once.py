"""One post per form: a double click (or a resend) does its work once.

Every form the bench renders carries a hidden one-time token, ``once`` (a new random value
at each render, :func:`new_once`). The first post of a form claims its token in the session
file (:meth:`~compounding.web.sessions.SessionStore.claim_form`); a second post of the same
rendered form, while the first runs or after it, does nothing again: it waits for the first
to end and is answered with the first one's redirect, plus a line saying so. Without this a
double click on "Create batch" created two batches, each reserving stock, and a double click
on "Print labels" printed twice (the second recorded as a reprint).

A first post that did not redirect (refused: the page is shown again with the error and a
new token) is forgotten, so the same form may be sent again once corrected. Posts without a
token (the JSON API, scripts, the sign-in form) are not affected. Tokens are kept an hour
(:data:`~compounding.web.sessions.FORM_POST_SECONDS`), keyed by the session, so one user's
token means nothing in another session.
"""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from .common import SESSION_COOKIE

#: The hidden field's name.
FIELD = "once"
#: Longest form body read here to find the token (bytes); a longer body is passed on
#: untouched (no bench form is near it).
MAX_BODY = 1_000_000
#: How long a second post waits for the first to end (seconds), polling every
#: :data:`POLL_SECONDS`.
WAIT_SECONDS = 120.0  # float-ok: seconds
POLL_SECONDS = 0.05  # float-ok: seconds
#: Paths whose posts are never held (sign-in makes the session; sign-out ends it).
EXEMPT = ("/login", "/logout")

NOTE = ("this form was sent twice (a double click or a resend); it was done once, and this "
        "is the outcome of the first")


def new_once() -> str:
    """A new one-time form token (128 random bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def _token(body: bytes) -> str | None:
    try:
        values = parse_qs(body.decode("ascii"), keep_blank_values=True).get(FIELD)
    except (UnicodeDecodeError, ValueError):
        return None
    if not values:
        return None
    t = values[0]
    ok = 16 <= len(t) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in t)
    return t if ok else None


def _sid(scope) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == b"cookie":
            try:
                c = SimpleCookie()
                c.load(v.decode("latin-1"))
            except Exception:  # a malformed cookie header: no session here
                return None
            if SESSION_COOKIE in c:
                return c[SESSION_COOKIE].value
    return None


class OncePerForm:
    """Pure ASGI middleware holding a second post of one rendered form (module doc)."""

    def __init__(self, app, bench):
        self.app = app
        self.bench = bench

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or scope.get("path", "") in EXEMPT or scope.get("path", "").startswith("/api/")):
            return await self.app(scope, receive, send)
        ctype = dict(scope.get("headers", ())).get(b"content-type", b"")
        sid = _sid(scope)
        if not ctype.startswith(b"application/x-www-form-urlencoded") or not sid:
            return await self.app(scope, receive, send)

        chunks, size, more = [], 0, True
        disconnected = None
        while more and size <= MAX_BODY:
            message = await receive()
            if message["type"] != "http.request":
                disconnected = message
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                if disconnected is not None:
                    return disconnected
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        once = None if (more or disconnected) else _token(body)
        if once is None:
            return await self.app(scope, replay, send)

        import anyio
        sessions = self.bench.sessions
        waited = 0.0  # float-ok: seconds
        while True:
            if await anyio.to_thread.run_sync(sessions.claim_form, sid, once):
                break
            state, location = await anyio.to_thread.run_sync(sessions.form_outcome, sid, once)
            if state == "done":
                await anyio.to_thread.run_sync(self._note, sid)
                return await _redirect(send, location)
            if state == "gone":
                continue  # the first was refused and forgotten: this one is a new post
            if waited >= WAIT_SECONDS:
                return await _text(send, 409, "Error: this form is still being sent; wait, "
                                              "then reload the page")
            await anyio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS

        outcome = {"status": None, "location": None}

        async def watch(message):
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                for k, v in message.get("headers", ()):
                    if k.lower() == b"location":
                        outcome["location"] = v.decode("latin-1")
            await send(message)

        location = None
        try:
            await self.app(scope, replay, watch)
            if outcome["status"] == 303 and outcome["location"]:
                location = outcome["location"]
        finally:
            await anyio.to_thread.run_sync(sessions.finish_form, sid, once, location)

    def _note(self, sid: str) -> None:
        s = self.bench.sessions.get(sid)
        if s is not None:
            s.flash.append(("ok", NOTE))


async def _redirect(send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")),
                            (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _text(send, status: int, text: str) -> None:
    data = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(data)).encode("ascii"))]})
    await send({"type": "http.response.body", "body": data})
