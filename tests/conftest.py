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


@pytest.fixture(autouse=True, scope="session")
def _cache_in_a_temporary_folder(tmp_path_factory):
    """The on-disk cache (compounding/cache.py) goes to a temporary folder, never the
    user's ~/.cache, for this process and the commands it starts."""
    import os

    from compounding import cache
    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get(cache.ENV_VAR)
    os.environ[cache.ENV_VAR] = str(path)
    yield path
    if old is None:
        os.environ.pop(cache.ENV_VAR, None)
    else:
        os.environ[cache.ENV_VAR] = old


@pytest.fixture(autouse=True, scope="session")
def _audit_key_in_a_temporary_folder(tmp_path_factory):
    """The audit chain's key (compounding/store/audit_key.py) goes to a temporary folder,
    never the user's ~/.config, for this process and the commands it starts: both through
    $COMPOUNDING_AUDIT_KEY and as the default ($XDG_CONFIG_HOME), so a test that starts a
    command without the COMPOUNDING_ variables still finds the same key."""
    import os

    from compounding.store import audit_key
    config = tmp_path_factory.mktemp("config")
    path = config / "compounding" / audit_key.FILE_NAME
    saved = {v: os.environ.get(v) for v in (audit_key.ENV_VAR, "XDG_CONFIG_HOME")}
    os.environ[audit_key.ENV_VAR] = str(path)
    os.environ["XDG_CONFIG_HOME"] = str(config)
    yield path
    for var, old in saved.items():
        if old is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = old
