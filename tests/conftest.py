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


# ---------------------------------------------------------------- the store on both backends

@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the whole session (tests/pg_support.py), stopped
    and removed at the end; the test is skipped with the reason when none can run here. Its
    folder is its own (not pytest's numbered temp folders, which another session on the
    same machine may clean up while this one runs)."""
    import shutil
    import tempfile

    from pg_support import Unavailable, start_cluster
    lag = pg_mirror_lag()
    if lag:
        pytest.skip(f"PostgreSQL half skipped: SQLite migrations not mirrored in "
                    f"pg_migrations.py yet: {', '.join(lag)}")
    folder = tempfile.mkdtemp(prefix="compounding-pg-")
    try:
        cluster = start_cluster(folder)
    except Unavailable as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL half skipped: {exc}")
    out = cluster.psql("CREATE DATABASE store_tests")
    if out.returncode:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL half skipped: CREATE DATABASE failed: {out.stderr.strip()}")
    # the extension once, in public (every test schema has public on its search_path)
    out = cluster.psql("CREATE EXTENSION IF NOT EXISTS citext", dbname="store_tests")
    if out.returncode:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL half skipped: the citext extension is missing: "
                    f"{out.stderr.strip()}")
    yield cluster
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


def pg_mirror_lag() -> list[str]:
    """SQLite migrations without their PostgreSQL mirror (issue 20)."""
    from compounding.store.pg_migrations import MIGRATIONS
    from compounding.store.sqlite import known_migrations
    have = {n for n, _ in MIGRATIONS}
    return [n for n in known_migrations() if n not in have]


def fresh_pg_url(cluster) -> str:
    """A URL of a new, empty schema in the session's test database (its own
    ``search_path``; ``public`` second, for the citext extension): cheaper than a database
    per test, as separate as one."""
    import uuid
    schema = "t_" + uuid.uuid4().hex[:16]
    out = cluster.psql(f"CREATE SCHEMA {schema}", dbname="store_tests")
    if out.returncode:
        raise RuntimeError(out.stderr)
    return cluster.url("store_tests") + f"?options=-csearch_path%3D{schema}%2Cpublic"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_path(request, tmp_path):
    """Where a test's store lives, once per backend: a new SQLite file in ``tmp_path``, or a
    new PostgreSQL schema in the session's throwaway cluster (skipped with the reason when
    no cluster can run). The one fixture the store's tests are parametrised through."""
    if request.param == "sqlite":
        return tmp_path / "t.db"
    return fresh_pg_url(request.getfixturevalue("pg_cluster"))
