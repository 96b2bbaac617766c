"""The bench's stylesheet, script and icon, served from memory.

The three files ship in the package (``compounding/web/static/``; a pharmacy may be
offline) and never change while the server runs, so they are read once when the application
is built and answered from memory: no thread, no file open, no stat per request. Starlette's
``StaticFiles`` handed each request to a worker thread four times (look up, open, read,
close), 1.4-2.0 ms of server CPU for a 194-byte icon (docs/bench.md, Measured), more than
a whole work-queue page's rendering on a small store.

A pure ASGI application mounted at ``/static``: ``GET`` and ``HEAD`` only (405 otherwise),
an unknown name is 404 (both raised as Starlette's ``HTTPException``, so they get the
bench's one-line error page like any other address, :mod:`.error_pages`), a strong
``ETag`` (SHA-256 of the bytes) answered with 304 on ``If-None-Match``. The security
headers are added by the middleware around it like every other response
(:class:`compounding.web.app.SecurityHeaders`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Content types of the files the bench ships (anything else in the folder is not served).
TYPES = {
    ".css": b"text/css; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".svg": b"image/svg+xml",
}


def _route_path(scope) -> str:
    """The path below the mount point (Starlette puts the mount in ``root_path``)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):]
    return path


class PackagedStatic:
    """Serve the files of ``folder`` (one level, known types) from memory."""

    def __init__(self, folder: Path):
        self.files: dict[str, tuple[bytes, bytes, list]] = {}
        for p in sorted(Path(folder).iterdir()):
            ctype = TYPES.get(p.suffix)
            if ctype is None or not p.is_file():
                continue
            data = p.read_bytes()
            etag = b'"' + hashlib.sha256(data).hexdigest()[:32].encode("ascii") + b'"'
            headers = [(b"content-type", ctype),
                       (b"content-length", str(len(data)).encode("ascii")),
                       (b"etag", etag)]
            self.files["/" + p.name] = (data, etag, headers)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # a websocket to /static: nothing here
            return
        from starlette.exceptions import HTTPException
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        found = self.files.get(_route_path(scope))
        if found is None:
            raise HTTPException(404)
        data, etag, headers = found
        for k, v in scope.get("headers", ()):
            if k == b"if-none-match" and etag in [t.strip() for t in v.split(b",")]:
                await send({"type": "http.response.start", "status": 304,
                            "headers": [(b"etag", etag)]})
                await send({"type": "http.response.body", "body": b""})
                return
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else data})

