"""Shared test settings.

scrypt at the production cost (RFC 7914: n=2**14, ~50 ms a hash) would make the many user
and passphrase tests slow; the suite lowers the cost of *new* hashes through the documented
parameter ``compounding.store.users.SCRYPT_COST``. Each stored hash records its own cost,
so verification is unchanged; production keeps the RFC figure.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_scrypt(monkeypatch):
    from compounding.store import users
    monkeypatch.setattr(users, "SCRYPT_COST", (2 ** 8, 8, 1))
