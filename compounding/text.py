"""The one normaliser for text a person types: identifiers (lot numbers, Rx numbers, user
names) and free text (patient and prescriber names, directions, reasons, notes).

Why (issue 12, class 8): a supplier lot received as ``"NX<GS>2401"`` printed as ``NX2401``
and could then not be recalled by what was printed; the same lot typed once with a
decomposed ``é`` (``e`` + U+0301) and once composed became two lots; a zero-width or bidi
control character makes two strings that look the same compare different, or shows a name
in a different order than it was typed (CVE-2021-42574, "Trojan Source").

Rules, the same for every field a person types:

- Unicode NFC (composed form), so what looks the same is stored the same
  (Unicode Standard Annex #15);
- leading and trailing whitespace removed; any Unicode space separator (no-break, thin, em
  space...) becomes an ordinary space, and runs of spaces become one;
- refused, with one line naming the field and the code point: control characters (category
  Cc: tab, newline, NUL, the GS1 group separator U+001D...), format characters (Cf: zero-width
  space/joiner/non-joiner, word joiner, BOM, soft hyphen, and every bidi control:
  U+200E/200F, U+061C, U+202A-202E, U+2066-2069), line/paragraph separators (Zl, Zp),
  private-use (Co), surrogates (Cs) and unassigned code points (Cn);
- a length limit per kind (identifiers 64 characters, names 200, other text 1,000) so a
  300-character name is one clear line, not a label that cannot be laid out;
- identifiers also refuse digits other than ASCII 0-9 (``NX٢٤٠١`` with Arabic-Indic digits
  would not be found by someone typing ``NX2401``).

Case is kept as typed (lot ``nx-2401`` and ``NX-2401`` may be two real supplier lots); a new
value that differs from an existing one only by case needs an explicit confirmation where it
is recorded (:func:`fold`, the comparison key, is used for that check).
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError

#: Longest accepted value of each kind (characters, after normalising). Conservative limits
#: chosen for this service (no external source): a lot number or Rx number longer than 64
#: characters is a paste error; GS1 AI (10) itself allows only 20 characters.
MAX_LENGTH = {"identifier": 64, "name": 200, "text": 1000}

#: Why a character is refused, by Unicode general category; the wording is the store's
#: (``store.core.need_printable``) so a refusal reads the same from every door.
_REFUSED_CATEGORIES = {
    "Cc": "a control character or line break",
    "Zl": "a control character or line break",
    "Zp": "a control character or line break",
    "Cf": "an invisible formatting character (zero-width or direction mark)",
    "Co": "a private-use or unassigned character",
    "Cs": "a private-use or unassigned character",
    "Cn": "a private-use or unassigned character",
}

#: Names of the control characters, which have none of their own in Unicode (their
#: ``Name`` property is empty, so ``unicodedata.name`` has nothing to give): their formal
#: name aliases of type "control" from the Unicode Character Database's NameAliases.txt
#: (https://www.unicode.org/Public/UCD/latest/ucd/NameAliases.txt), C0 (U+0000-001F), DELETE
#: (U+007F) and C1 (U+0080-009F). Where a code point has two "control" aliases the first is
#: used, except U+001C-001F, named by their second (FILE/GROUP/RECORD/UNIT SEPARATOR), the
#: names GS1 and scanner manuals use; U+0080, U+0081 and U+0099 have only aliases of type
#: "figment" (never in a standard), used for want of any other. Every name is one
#: ``unicodedata.lookup`` finds (tests/test_text.py checks the table against it).
CONTROL_NAMES = {
    0x00: "NULL", 0x01: "START OF HEADING", 0x02: "START OF TEXT", 0x03: "END OF TEXT",
    0x04: "END OF TRANSMISSION", 0x05: "ENQUIRY", 0x06: "ACKNOWLEDGE", 0x07: "ALERT",
    0x08: "BACKSPACE", 0x09: "CHARACTER TABULATION", 0x0A: "LINE FEED",
    0x0B: "LINE TABULATION", 0x0C: "FORM FEED", 0x0D: "CARRIAGE RETURN", 0x0E: "SHIFT OUT",
    0x0F: "SHIFT IN", 0x10: "DATA LINK ESCAPE", 0x11: "DEVICE CONTROL ONE",
    0x12: "DEVICE CONTROL TWO", 0x13: "DEVICE CONTROL THREE", 0x14: "DEVICE CONTROL FOUR",
    0x15: "NEGATIVE ACKNOWLEDGE", 0x16: "SYNCHRONOUS IDLE", 0x17: "END OF TRANSMISSION BLOCK",
    0x18: "CANCEL", 0x19: "END OF MEDIUM", 0x1A: "SUBSTITUTE", 0x1B: "ESCAPE",
    0x1C: "FILE SEPARATOR", 0x1D: "GROUP SEPARATOR", 0x1E: "RECORD SEPARATOR",
    0x1F: "UNIT SEPARATOR", 0x7F: "DELETE",
    0x80: "PADDING CHARACTER", 0x81: "HIGH OCTET PRESET", 0x82: "BREAK PERMITTED HERE",
    0x83: "NO BREAK HERE", 0x84: "INDEX", 0x85: "NEXT LINE", 0x86: "START OF SELECTED AREA",
    0x87: "END OF SELECTED AREA", 0x88: "CHARACTER TABULATION SET",
    0x89: "CHARACTER TABULATION WITH JUSTIFICATION", 0x8A: "LINE TABULATION SET",
    0x8B: "PARTIAL LINE FORWARD", 0x8C: "PARTIAL LINE BACKWARD", 0x8D: "REVERSE LINE FEED",
    0x8E: "SINGLE SHIFT TWO", 0x8F: "SINGLE SHIFT THREE", 0x90: "DEVICE CONTROL STRING",
    0x91: "PRIVATE USE ONE", 0x92: "PRIVATE USE TWO", 0x93: "SET TRANSMIT STATE",
    0x94: "CANCEL CHARACTER", 0x95: "MESSAGE WAITING", 0x96: "START OF GUARDED AREA",
    0x97: "END OF GUARDED AREA", 0x98: "START OF STRING",
    0x99: "SINGLE GRAPHIC CHARACTER INTRODUCER", 0x9A: "SINGLE CHARACTER INTRODUCER",
    0x9B: "CONTROL SEQUENCE INTRODUCER", 0x9C: "STRING TERMINATOR",
    0x9D: "OPERATING SYSTEM COMMAND", 0x9E: "PRIVACY MESSAGE",
    0x9F: "APPLICATION PROGRAM COMMAND",
}

_SPACES = re.compile(r" {2,}")


def char_name(ch: str) -> str:
    """The character's Unicode name; a control character's alias (:data:`CONTROL_NAMES`);
    ``private-use character``, ``surrogate`` or ``unassigned character`` for the code points
    that have no name at all."""
    name = unicodedata.name(ch, "") or CONTROL_NAMES.get(ord(ch), "")
    if name:
        return name
    return {"Co": "private-use character", "Cs": "surrogate"}.get(
        unicodedata.category(ch), "unassigned character")


def describe(ch: str) -> str:
    """``'U+200B (ZERO WIDTH SPACE)'``, ``'U+0000 (NULL)'``: how a refused character is
    named in a message, the same from every door."""
    return f"U+{ord(ch):04X} ({char_name(ch)})"


def visible(text: str) -> str:
    """``text`` with each control, invisible formatting (zero-width, direction marks),
    surrogate, private-use or unassigned character and each line or paragraph separator
    written as an escape (``\\x0a``, ``\\u200b``): a line printed from what a database holds
    stays one line and shows what is there, so a name put into the store by plain SQL cannot
    print a line of its own in a report (``db verify``: attack s5)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            n = ord(ch)
            out.append(f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000
                       else f"\\U{n:08x}")
    return "".join(out)


def normalize(value: str, field: str, *, kind: str = "text", required: bool = True,
              max_length: int | None = None) -> str:
    """Return ``value`` in the one stored form, or raise :class:`InputError` naming ``field``,
    the character and its position (1-based, after trimming).

    ``kind`` is ``"identifier"`` (lot, Rx, user name: ASCII digits only), ``"name"`` (a
    person's name) or ``"text"`` (directions, reasons, notes). Empty after trimming is an
    error when ``required``, else ``""``. ``max_length`` overrides the kind's limit (a
    supplier lot: the store's ``inventory.LOT_CHARS``).
    """
    if kind not in MAX_LENGTH:
        raise ValueError(f"unknown text kind {kind!r}")
    if not isinstance(value, str):
        raise InputError(f"{field}: must be text", field=field)
    s = unicodedata.normalize("NFC", value)
    s = "".join(" " if unicodedata.category(c) == "Zs" else c for c in s).strip(" ")
    for i, ch in enumerate(s, start=1):
        why = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if why is None and kind == "identifier" and unicodedata.category(ch) == "Nd" \
                and not "0" <= ch <= "9":
            why = "a digit of another script; write digits as 0-9"
        if why:
            raise InputError(f"{field}: character {describe(ch)} at position {i} is {why}",
                             field=field)
    s = _SPACES.sub(" ", s)
    if not s:
        if required:
            raise InputError(f"{field}: must not be empty", field=field)
        return ""
    limit = max_length or MAX_LENGTH[kind]
    if len(s) > limit:
        raise InputError(f"{field}: {len(s)} characters; at most {limit}", field=field)
    return s


def identifier(value: str, field: str) -> str:
    """:func:`normalize` for an identifier (lot number, Rx number, user name)."""
    return normalize(value, field, kind="identifier")


def fold(value: str) -> str:
    """The comparison key for "differs only by case": NFC of the Unicode case fold."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
