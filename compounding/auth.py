"""Passphrases for electronic signatures (after 21 CFR Part 11's idea of a signed record).

Only a salted, slow hash is stored: ``hashlib.scrypt`` (RFC 7914) with a random 16-byte
salt. The stored form is self-describing so the cost can be raised later without breaking
old hashes: ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``. Pure: no database here.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from .errors import InputError

#: scrypt cost. n=2**14, r=8 is the RFC 7914 interactive-login figure (~16 MiB, ~50 ms).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MIN_PASSPHRASE = 8
#: Wrong passphrases in a row that lock a user until a pharmacist unlocks them.
MAX_FAILED_ATTEMPTS = 5


def check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InputError(f"passphrase: must be at least {MIN_PASSPHRASE} characters")
    if passphrase.strip() != passphrase:
        raise InputError("passphrase: must not start or end with spaces")


def hash_passphrase(passphrase: str, *, salt: bytes | None = None, n: int = SCRYPT_N,
                    r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_passphrase(passphrase: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    again = hash_passphrase(passphrase, salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(again.rsplit("$", 1)[1], digest)
