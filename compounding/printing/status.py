"""Reading a Zebra printer's ``~HS`` (host status) reply.

Source: Zebra "ZPL II Programming Guide", ~HS. The printer answers three framed strings,
each ``<STX>...<ETX><CR><LF>``:

1. ``aaa,b,c,dddd,eee,f,g,h,iii,j,k,l``: communication settings, **paper out**, **paused**,
   label length (dots), formats in the receive buffer, **buffer full**, diagnostic mode,
   partial format, unused, **corrupt RAM**, **under temperature**, **over temperature**.
2. ``mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www``: function settings, unused, **head up (open)**,
   **ribbon out**, thermal transfer mode, print mode, print width mode, label waiting,
   labels remaining in batch, format while printing, graphics stored.
3. ``xxxx,y``: password, static RAM installed.

Flags are ``0``/``1``. A reply that does not have this shape is refused, not guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import PrinterError

STX, ETX = b"\x02", b"\x03"
_FRAME = re.compile(rb"\x02([^\x02\x03]*)\x03")
_FIELDS = (12, 11, 2)


@dataclass(frozen=True)
class PrinterStatus:
    paper_out: bool
    paused: bool
    head_open: bool
    ribbon_out: bool
    thermal_transfer: bool
    buffer_full: bool
    corrupt_ram: bool
    under_temperature: bool
    over_temperature: bool
    label_length_dots: int
    formats_in_buffer: int
    labels_remaining: int

    def problems(self) -> list[str]:
        """What stops the printer from printing now, in words for the technician."""
        out = []
        if self.paper_out:
            out.append("paper out (load labels)")
        if self.head_open:
            out.append("head open (close the print head)")
        if self.ribbon_out and self.thermal_transfer:
            out.append("ribbon out (load ribbon)")
        if self.paused:
            out.append("paused (press PAUSE to resume)")
        if self.buffer_full:
            out.append("receive buffer full")
        if self.corrupt_ram:
            out.append("corrupt RAM (configuration lost)")
        if self.under_temperature:
            out.append("head under temperature")
        if self.over_temperature:
            out.append("head over temperature")
        return out

    def summary(self) -> str:
        p = self.problems()
        queued = (f"; {self.formats_in_buffer} format(s) waiting, {self.labels_remaining} "
                  f"label(s) left in the batch" if self.formats_in_buffer or
                  self.labels_remaining else "")
        return ("ready" if not p else "NOT READY: " + ", ".join(p)) + queued


def complete(data: bytes) -> bool:
    """True once all three framed strings have arrived."""
    return len(_FRAME.findall(data)) >= 3


def parse_hs(data: bytes) -> PrinterStatus:
    """Parse a ``~HS`` reply; raise :class:`PrinterError` if it is not one."""
    frames = _FRAME.findall(data)
    if len(frames) < 3:
        raise PrinterError(f"printer status: the ~HS reply is incomplete ({len(frames)} of 3 "
                           f"strings)")
    parts = []
    for n, (frame, want) in enumerate(zip(frames[:3], _FIELDS), start=1):
        fields = frame.decode("ascii", "replace").split(",")
        if len(fields) != want or not all(re.fullmatch(r"[0-9]{1,8}", f) for f in fields):
            raise PrinterError(f"printer status: ~HS string {n} is not understood "
                               f"({frame[:60]!r})")
        parts.append(fields)
    s1, s2, _ = parts

    def flag(v: str) -> bool:
        return v != "0" and int(v) != 0

    return PrinterStatus(
        paper_out=flag(s1[1]), paused=flag(s1[2]), label_length_dots=int(s1[3]),
        formats_in_buffer=int(s1[4]), buffer_full=flag(s1[5]), corrupt_ram=flag(s1[9]),
        under_temperature=flag(s1[10]), over_temperature=flag(s1[11]),
        head_open=flag(s2[2]), ribbon_out=flag(s2[3]), thermal_transfer=flag(s2[4]),
        labels_remaining=int(s2[8]))
