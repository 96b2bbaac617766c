"""Passphrases for electronic signatures (after 21 CFR Part 11's idea of a signed record).

Only a salted, slow hash is stored: ``hashlib.scrypt`` (RFC 7914) with a random 16-byte
salt. The stored form is self-describing so the cost can be raised later without breaking
old hashes: ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>$nfc``. Pure: no database here.

Unicode (issue 12): the same passphrase can arrive as different code points: "é" typed as
one character (U+00E9, NFC) or as "e" and a combining accent (U+0065 U+0301, NFD: macOS
keyboards and some input methods). Passphrases are hashed and checked in Unicode
Normalization Form C (UAX #15), so both spellings are the same passphrase. Hashes made
before this (no ``$nfc`` tag) were made from the characters exactly as typed, which may not
have been NFC: :func:`check_passphrase` accepts such a hash for the passphrase as typed, its
NFC form or its NFD form (canonically equivalent text only; never a compatibility folding
like NFKC, which would make "ﬁ" and "fi" one passphrase), and asks the caller to store the
tagged NFC hash in its place.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata

from .errors import InputError

#: scrypt cost. n=2**14, r=8 is the RFC 7914 interactive-login figure (~16 MiB, ~50 ms).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MIN_PASSPHRASE = 8
#: Wrong passphrases in a row that lock a user for a cool-down (issue 12) or until a
#: pharmacist unlocks them.
MAX_FAILED_ATTEMPTS = 5
#: The tag of a hash made from the NFC form of the passphrase.
NFC_TAG = "nfc"


def normalize(passphrase: str) -> str:
    """The passphrase in Unicode Normalization Form C (what is hashed and checked)."""
    return unicodedata.normalize("NFC", passphrase)


def check_new_passphrase(passphrase: str) -> None:
    passphrase = normalize(passphrase)
    if len(passphrase) < MIN_PASSPHRASE:
        raise InputError(f"passphrase: must be at least {MIN_PASSPHRASE} characters")
    if passphrase.strip() != passphrase:
        raise InputError("passphrase: must not start or end with spaces")


def _scrypt(text: str, salt: bytes, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(text.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=64 * 1024 * 1024, dklen=32).hex()


def hash_passphrase(passphrase: str, *, salt: bytes | None = None, n: int = SCRYPT_N,
                    r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """The stored form of ``passphrase`` (hashed in NFC): ``scrypt$n$r$p$salt$hash$nfc``."""
    salt = os.urandom(16) if salt is None else salt
    digest = _scrypt(normalize(passphrase), salt, n, r, p)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest}${NFC_TAG}"


def check_passphrase(passphrase: str, stored: str) -> tuple[bool, bool]:
    """``(right, rehash)``: whether ``passphrase`` matches the stored hash, and whether the
    stored hash should be replaced by :func:`hash_passphrase` of it (an untagged hash from
    before passphrases were normalised, see the module docstring). A malformed stored hash
    matches nothing."""
    if not isinstance(passphrase, str) or not isinstance(stored, str):
        return False, False
    parts = stored.split("$")
    tagged = len(parts) == 7 and parts[6] == NFC_TAG
    if not (len(parts) == 6 or tagged) or parts[0] != "scrypt":
        return False, False
    try:
        n, r, p, salt = int(parts[1]), int(parts[2]), int(parts[3]), bytes.fromhex(parts[4])
    except ValueError:
        return False, False
    if tagged:
        forms = [normalize(passphrase)]
    else:  # made from the characters as typed: try the canonically equivalent spellings
        forms = list(dict.fromkeys([passphrase, normalize(passphrase),
                                    unicodedata.normalize("NFD", passphrase)]))
    for form in forms:
        if hmac.compare_digest(_scrypt(form, salt, n, r, p), parts[5]):
            return True, not tagged
    return False, False


def verify_passphrase(passphrase: str, stored: str) -> bool:
    """Whether ``passphrase`` matches the stored hash (:func:`check_passphrase`)."""
    return check_passphrase(passphrase, stored)[0]
