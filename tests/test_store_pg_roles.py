"""`db init-roles` (issue 20; attack s4 finding 10): names PostgreSQL would refuse are
refused before a script is printed, and the script never demotes an existing administrator
account given as --service."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from click.testing import CliRunner

from compounding.cli import cli
from compounding.store import postgres
from compounding.store.pg_names import RESERVED_WORDS


def init_roles(*args):
    return CliRunner().invoke(cli, ["db", "init-roles", *args])


def one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error: ") and len(res.output.strip().splitlines()) == 1
    return res.output.strip()


@pytest.mark.parametrize("word", sorted(RESERVED_WORDS))
@pytest.mark.parametrize("option", ["--database", "--owner", "--service"])
def test_a_reserved_word_is_refused_for_every_name(option, word):
    got = one_error_line(init_roles(option, word))
    what = "database" if option == "--database" else "role"
    assert got == (f"Error: {option}: '{word}' is a reserved word in PostgreSQL's SQL and "
                   f"cannot name a {what} unquoted; choose another name")


@pytest.mark.parametrize("option, value, message", [
    ("--service", "pg_svc", "--service: 'pg_svc' starts with pg_, which PostgreSQL reserves "
     "for its own roles; choose another name"),
    ("--owner", "pg_", "--owner: 'pg_' starts with pg_, which PostgreSQL reserves for its "
     "own roles; choose another name"),
    ("--database", "pg_ldn", "--database: 'pg_ldn' starts with pg_, which PostgreSQL "
     "reserves for its own roles; choose another name"),
    ("--owner", "public", "--owner: 'public' is a role name PostgreSQL reserves; choose "
     "another name"),
    ("--service", "none", "--service: 'none' is a role name PostgreSQL reserves; choose "
     "another name"),
])
def test_reserved_role_names_are_refused(option, value, message):
    assert one_error_line(init_roles(option, value)) == f"Error: {message}"


def test_the_reserved_words_are_the_servers(pg_cluster):
    """The list in pg_names is PostgreSQL's own: categories R and T of pg_get_keywords()."""
    out = pg_cluster.psql("COPY (SELECT word FROM pg_get_keywords() WHERE catcode IN "
                          "('R', 'T') ORDER BY word) TO STDOUT")
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == set(RESERVED_WORDS)


def _run(cluster, sql: str):
    return subprocess.run(cluster.prefix + [str(cluster.bin / "psql"), "-X", "-q", "-v",
                                            "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                            str(cluster.port), "-U", "postgres", "-d",
                                            "postgres", "-f", "-"],
                          input=sql, capture_output=True, text=True)


def _scalar(cluster, sql: str) -> str:
    out = pg_cluster_psql(cluster, sql)
    return out.stdout.strip()


def pg_cluster_psql(cluster, sql: str):
    out = subprocess.run(cluster.prefix + [str(cluster.bin / "psql"), "-X", "-At", "-h",
                                           "127.0.0.1", "-p", str(cluster.port), "-U",
                                           "postgres", "-d", "postgres", "-c", sql],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


def test_names_that_are_key_words_but_not_reserved_work_in_the_script(pg_cluster):
    """Non-reserved key words (here 'between', a column-name key word, and 'names', an
    unreserved one) are accepted, and the printed script runs in psql with them."""
    tag = uuid.uuid4().hex[:6]
    pg_cluster_psql(pg_cluster, "DROP DATABASE IF EXISTS between")
    res = init_roles("--database", "between", "--owner", "names", "--service", f"svc_{tag}")
    assert res.exit_code == 0, res.output
    out = _run(pg_cluster, res.output)
    assert out.returncode == 0, out.stderr
    assert _scalar(pg_cluster, "SELECT datdba::regrole FROM pg_database "
                               "WHERE datname = 'between'") == "names"


@pytest.mark.parametrize("attribute", ["SUPERUSER", "CREATEROLE", "CREATEDB", "BYPASSRLS"])
def test_the_script_never_demotes_an_existing_administrator(pg_cluster, attribute):
    """--service naming an existing role with SUPERUSER (or CREATEROLE...) stops the script
    at its first block: the role keeps its rights and nothing is created."""
    tag = uuid.uuid4().hex[:8]
    dba, database, owner = f"dba_{tag}", f"ldn_{tag}", f"own_{tag}"
    pg_cluster_psql(pg_cluster, f"CREATE ROLE {dba} LOGIN {attribute}")
    out = _run(pg_cluster, postgres.roles_sql(database, owner, dba))
    assert out.returncode != 0
    assert (f"ERROR:  role {dba} already exists with {attribute}: this script would take "
            "that away; choose another --service name (nothing was changed)") in out.stderr
    column = {"SUPERUSER": "rolsuper", "CREATEROLE": "rolcreaterole",
              "CREATEDB": "rolcreatedb", "BYPASSRLS": "rolbypassrls"}[attribute]
    assert _scalar(pg_cluster, f"SELECT {column} FROM pg_roles WHERE rolname = '{dba}'") == "t"
    assert _scalar(pg_cluster, f"SELECT count(*) FROM pg_roles WHERE rolname = '{owner}'") == "0"
    assert _scalar(pg_cluster, f"SELECT count(*) FROM pg_database "
                               f"WHERE datname = '{database}'") == "0"
    assert _scalar(pg_cluster, f"SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON "
                               f"r.oid = m.member WHERE r.rolname = '{dba}'") == "0"


def test_an_existing_plain_role_is_taken_as_the_service(pg_cluster):
    """An existing role with none of those rights is used as it is (made a writer)."""
    tag = uuid.uuid4().hex[:8]
    svc = f"svc_{tag}"
    pg_cluster_psql(pg_cluster, f"CREATE ROLE {svc} LOGIN")
    out = _run(pg_cluster, postgres.roles_sql(f"ldn_{tag}", f"own_{tag}", svc))
    assert out.returncode == 0, out.stderr
    assert _scalar(pg_cluster, f"SELECT pg_has_role('{svc}', 'compounding_writer', "
                               "'MEMBER')") == "t"
