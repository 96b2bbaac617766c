"""Per-user API tokens (issue 15): `compounding users token`, kept hashed, revocable,
read-only unless the request carries the user's passphrase."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from click.testing import CliRunner

from web_support import PHARM, TECH, build_sample, client, copy_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture
def env(sample, tmp_path):
    db, settings = copy_sample(*sample, tmp_path)
    return {"db": db, "settings": settings, "tmp": tmp_path}


def run(env, *args, passphrase=None):
    from compounding.cli import cli as root
    e = {"COMPOUNDING_PASSPHRASE": passphrase} if passphrase else {}
    return CliRunner().invoke(root, ["users", "token", *args, "--db", str(env["db"])], env=e)


def make(env, who=TECH, label=None):
    args = [who[0], "--json"] + (["--label", label] if label else [])
    r = run(env, *args, passphrase=who[1])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_token_is_shown_once_and_only_its_hash_is_kept(env):
    r = run(env, "tess", "--label", "label script", passphrase=TECH[1])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("API token for tess (prefix ")
    token = lines[1]
    assert token.startswith("cbt_") and len(token) > 40
    con = sqlite3.connect(env["db"])
    rows = con.execute("SELECT token_sha256, label FROM api_tokens").fetchall()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), "label script")]
    raw = env["db"].read_bytes() + (env["db"].with_name("bench.db-wal").read_bytes()
                                    if env["db"].with_name("bench.db-wal").exists() else b"")
    assert token.encode() not in raw
    listed = run(env, "tess", "--list", "--json")
    assert [t["state"] for t in json.loads(listed.output)] == ["active"]
    assert "token" not in json.loads(listed.output)[0]


@pytest.mark.parametrize("args, passphrase, message", [
    (["tess"], "wrong-passphrase", "wrong passphrase for tess (attempt 1; 5 in a row lock the "
                                   "user)"),
    (["tess", "--list", "--revoke", "abc"], TECH[1], "give --list or --revoke, not both"),
    (["tess", "--by", "pat"], TECH[1], "--by applies to --revoke"),
    (["tess", "--label", "x" * 101], TECH[1], "label: 101 characters; at most 100"),
    (["nobody", "--list"], None, "no user 'nobody'"),
    (["tess", "--revoke", "zzzzzzzz"], TECH[1],
     "tess has no API token 'zzzzzzzz' (see compounding users token tess --list)"),
])
def test_token_command_errors(env, args, passphrase, message):
    r = run(env, *args, passphrase=passphrase)
    assert r.exit_code != 0
    assert r.output.strip().splitlines()[-1] == f"Error: {message}"


def test_tokens_are_revoked_once_by_the_user_or_a_pharmacist(env):
    t = make(env)
    other = make(env)
    r = run(env, "tess", "--revoke", t["prefix"], passphrase=TECH[1])
    assert r.output.strip() == f"Revoked API token {t['prefix']} of tess (by tess)"
    r = run(env, "tess", "--revoke", t["prefix"], passphrase=TECH[1])
    assert r.exit_code == 1 and "was already revoked on" in r.output
    r = run(env, "tess", "--revoke", other["token"], "--by", "pat", passphrase=PHARM[1])
    assert r.output.strip() == f"Revoked API token {other['prefix']} of tess (by pat)"
    mine = make(env, PHARM)
    r = run(env, "pat", "--revoke", mine["prefix"], "--by", "tess", passphrase=TECH[1])
    assert r.output.strip() == "Error: tess is a technician; only pat or a pharmacist may " \
                               "revoke this token"


def test_token_rows_cannot_be_edited_or_deleted_and_are_audited(env):
    from compounding.store import Store
    t = make(env)
    con = sqlite3.connect(env["db"])
    for sql in ("DELETE FROM api_tokens", "UPDATE api_tokens SET label = 'x'",
                "UPDATE api_tokens SET token_sha256 = '" + "0" * 64 + "'"):
        with pytest.raises(sqlite3.IntegrityError):
            con.execute(sql)
    con.close()
    run(env, "tess", "--revoke", t["prefix"], passphrase=TECH[1])
    with Store.open(env["db"]) as store:
        assert store.verify() == []
        actions = [e["action"] for e in store.audit_log()][-2:]
    assert actions == ["token.create", "token.revoke"]


def test_api_token_reads_and_writes_only_with_the_passphrase(env):
    t = make(env)
    c = client(env["db"], env["settings"], env["tmp"] / "labels")
    h = {"Authorization": f"Bearer {t['token']}"}
    assert c.get("/api/v1/me", headers=h).json() == {"name": "tess", "role": "technician",
                                                     "via": "token"}
    assert c.get("/api/v1/batches", headers=h).status_code == 200
    body = {"formula": "ldn-capsules", "quantity": "30", "strength": "1.5 mg"}
    r = c.post("/api/v1/batches", json=body, headers=h)
    assert (r.status_code, r.json()) == (403, {"error": "API tokens are read-only: send the "
                                                        "passphrase of tess in the JSON body "
                                                        "to write"})
    r = c.post("/api/v1/batches", json={**body, "passphrase": "wrong-passphrase"}, headers=h)
    assert (r.status_code, r.json()["error"]) == (
        403, "wrong passphrase for tess (attempt 1; 5 in a row lock the user)")
    r = c.post("/api/v1/batches", json={**body, "passphrase": TECH[1]}, headers=h)
    assert r.status_code == 201
    assert (r.json()["strength"], r.json()["compounded_by"]) == ("1.5 mg", "tess")
    # the passphrase never goes in the URL: a query parameter is not read
    r = c.post(f"/api/v1/batches?passphrase={TECH[1]}", json=body, headers=h)
    assert r.status_code == 403


@pytest.mark.parametrize("header, message", [
    ("Bearer cbt_nope", "API token not recognised"),
    ("Bearer ", "Authorization: use 'Bearer <token>' (compounding users token NAME makes one)"),
    ("Basic dGVzczp4", "Authorization: use 'Bearer <token>' (compounding users token NAME "
                       "makes one)"),
    ("Bearer " + "cbt_" + "x" * 300, "API token not recognised"),
])
def test_bad_tokens_are_refused(env, header, message):
    c = client(env["db"], env["settings"], env["tmp"] / "labels")
    r = c.get("/api/v1/batches", headers={"Authorization": header})
    assert (r.status_code, r.json()) == (401, {"error": message})
    assert r.headers["www-authenticate"] == "Bearer"


def test_revoked_token_and_deactivated_user_are_refused(env):
    from compounding.store import Store, users
    t = make(env)
    c = client(env["db"], env["settings"], env["tmp"] / "labels")
    h = {"Authorization": f"Bearer {t['token']}"}
    with Store.open(env["db"]) as store:
        users.deactivate_user(store, "tess", by="pat", passphrase=PHARM[1])
    r = c.get("/api/v1/batches", headers=h)
    assert (r.status_code, r.json()) == (401, {"error": "user tess is deactivated and cannot "
                                                        "act"})
    t2 = make(env, PHARM)
    run(env, "pat", "--revoke", t2["prefix"], passphrase=PHARM[1])
    r = c.get("/api/v1/batches", headers={"Authorization": f"Bearer {t2['token']}"})
    assert r.status_code == 401 and r.json()["error"].startswith(
        f"API token {t2['prefix']} was revoked on ")
