"""Getting a job to a printer: raw TCP (port 9100) or a CUPS queue through ``lp``.

Every failure (unknown host, refused, timed out, reset, ``lp`` missing or refusing) is one
:class:`PrinterError` line naming the printer and what happened. A transport reports success
only when every byte was handed over (TCP: every byte accepted by the connection, which
raw port 9100 never acknowledges further; CUPS: ``lp`` accepted the job and gave a request
id, which means queued, not yet printed).

CUPS options (CUPS "Command-Line Printing and Options"): ``-o raw`` sends ZPL unfiltered;
a PDF goes with ``-o media=<size>`` at the template's exact page size and
``-o print-scaling=none -o fit-to-page=false`` so no driver scales, crops or shifts it.
The CUPS server is the client's default (``$CUPS_SERVER`` or ``client.conf``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

from ..errors import PrinterError
from . import status as hs

#: Named media when the page matches within 1 pt (PWG 5101.1 sizes), else Custom.WxHpt.
NAMED_MEDIA = {"A4": (595.28, 841.89), "Letter": (612.0, 792.0)}


@dataclass(frozen=True)
class Sent:
    """What the transport knows after a successful hand-over."""

    bytes: int
    detail: str  # 'tcp://127.0.0.1:9100' or 'cups:labels request labels-12'


def _where(printer) -> str:
    return printer.connection


def _oserror(name: str, printer, exc: BaseException) -> PrinterError:
    if isinstance(exc, socket.gaierror):
        why = "unknown host"
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        why = f"no answer within {printer.timeout_seconds} s"
    elif isinstance(exc, ConnectionRefusedError):
        why = "connection refused (printer off, or nothing listening on that port)"
    elif isinstance(exc, ConnectionResetError):
        why = "connection reset by the printer"
    elif isinstance(exc, BrokenPipeError):
        why = "the printer closed the connection"
    else:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return PrinterError(f"printer {name!r} ({_where(printer)}): {why}", printer=name)


def send_tcp(name: str, printer, data: bytes) -> Sent:
    """Send ``data`` raw to ``tcp://HOST:PORT`` and close the write side. Raw port 9100
    has no acknowledgement: success means every byte was accepted by the connection."""
    host, port = printer.address
    t = printer.timeout_seconds
    try:
        with socket.create_connection((host, port), timeout=t) as sock:
            sock.settimeout(t)
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        raise _oserror(name, printer, exc) from None
    return Sent(len(data), f"tcp://{host}:{port}" if ":" not in host else
                f"tcp://[{host}]:{port}")


def query_status(name: str, printer) -> hs.PrinterStatus:
    """Ask a ZPL printer for ``~HS`` over TCP and parse the reply (within the timeout)."""
    host, port = printer.address
    t = printer.timeout_seconds
    data = b""
    deadline = time.monotonic() + t
    try:
        with socket.create_connection((host, port), timeout=t) as sock:
            sock.sendall(b"~HS")
            while not hs.complete(data):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
                if len(data) > 65536:
                    break
    except OSError as exc:
        err = _oserror(name, printer, exc)
        if isinstance(exc, (socket.timeout, TimeoutError)):
            err = PrinterError(f"printer {name!r} ({_where(printer)}): no ~HS status reply "
                               f"within {t} s (if this printer does not answer ~HS, set "
                               f"check_status = false in [printers.{name}])", printer=name)
        raise err from None
    try:
        return hs.parse_hs(data)
    except PrinterError as exc:
        raise PrinterError(f"printer {name!r} ({_where(printer)}): {exc}",
                           printer=name) from None


def media_option(page_w: float, page_h: float) -> str:  # float-ok: geometry (points)
    """CUPS ``media=`` value for a page of ``page_w`` x ``page_h`` points."""
    for named, (w, h) in NAMED_MEDIA.items():
        if abs(page_w - w) <= 1 and abs(page_h - h) <= 1:
            return named
    fmt = lambda v: f"{v:.2f}".rstrip("0").rstrip(".")  # noqa: E731
    return f"Custom.{fmt(page_w)}x{fmt(page_h)}pt"


def lp_command(printer, title: str, language: str,
               page: tuple[float, float] | None) -> list[str]:  # float-ok: geometry (points)
    """The ``lp`` command line for one job read from standard input."""
    cmd = ["lp", "-d", printer.queue, "-t", title, "-n", "1"]
    if language == "zpl":
        cmd += ["-o", "raw"]
    else:
        if page is not None:
            cmd += ["-o", f"media={media_option(*page)}"]
        cmd += ["-o", "print-scaling=none", "-o", "fit-to-page=false"]
    return cmd


def send_cups(name: str, printer, data: bytes, *, title: str, language: str,
              page: tuple[float, float] | None = None) -> Sent:  # float-ok: geometry
    """Queue ``data`` on the CUPS queue with ``lp`` (reads standard input)."""
    if shutil.which("lp") is None:
        raise PrinterError(f"printer {name!r} ({_where(printer)}): the CUPS client `lp` is "
                           f"not installed (Debian: apt-get install cups-bsd)", printer=name)
    cmd = lp_command(printer, title, language, page)
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True,
                              timeout=printer.timeout_seconds)
    except subprocess.TimeoutExpired:
        raise PrinterError(f"printer {name!r} ({_where(printer)}): lp did not finish within "
                           f"{printer.timeout_seconds} s", printer=name) from None
    except OSError as exc:
        raise _oserror(name, printer, exc) from None
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or "request id is" not in out:
        err = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or [out or
               f"exit status {proc.returncode}"])[0]
        raise PrinterError(f"printer {name!r} ({_where(printer)}): lp refused the job: {err}",
                           printer=name)
    job = out.split("request id is", 1)[1].split()[0]
    return Sent(len(data), f"{printer.connection} request {job}")


def send(name: str, printer, data: bytes, *, title: str, language: str,
         page: tuple[float, float] | None = None) -> Sent:  # float-ok: geometry
    if printer.transport == "cups":
        return send_cups(name, printer, data, title=title, language=language, page=page)
    return send_tcp(name, printer, data)
