"""`compounding db ...`: migrate, print the schema, back up and verify the database.

Also home of :func:`db_option`, the shared ``--db PATH`` option every command that opens
the database uses (``--db``, else ``$COMPOUNDING_DB``, else the settings file's
``database``, else ``./compounding.db``), and of
:func:`open_store`, which opens (creating and migrating) it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from . import echo_json, json_option, pass_app


def db_option(fn):
    """Add ``--db PATH`` to a command; the command receives ``db_path`` (may be None): a
    SQLite file, or a ``postgresql://`` URL for a group's server (issue 20)."""
    @click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                  help="SQLite database file, or postgresql://USER@HOST:PORT/NAME "
                       "(else $COMPOUNDING_DB, else the settings' `database`, else "
                       "./compounding.db). Created and migrated on first use by a command "
                       "that writes; a command that only reads needs it to exist and opens "
                       "it read-only.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


def open_store(app, db_path, *, read_only: bool = False):
    """Open the store for a command: resolve the path; people acting (``--by``) are asked
    for their passphrase ($COMPOUNDING_PASSPHRASE for scripts).

    ``read_only`` (commands that only read, issue 12): the database must exist and is opened
    read-only (a read-only file or folder works; a mistyped --db is one error line naming
    the path, and nothing is created). Otherwise the database is created if needed, saying
    "Created new database PATH" on stderr, and migrated. A write that waits on another
    process's lock says so on stderr after about 2 s."""
    from ..store import Store, resolve_db_path
    from .passphrases import passphrase_source
    path = resolve_db_path(db_path, app.environ, app.cwd, settings_database(app))
    site = settings_site(app)  # before opening: a bad site setting touches nothing
    new = not read_only and is_new_database(path)
    store = Store.open(path, read_only=read_only)
    if new:
        click.echo(f"Created new database {path}", err=True)
    store.site = site  # issue 20: what this installation makes, receives and prints
    # issue 7: whoever acts under a name (--by) gives their passphrase once per command
    store.passphrase_source = passphrase_source(app.environ)
    configure_store(store, app)
    return store


def configure_store(store, app):
    """The settings the store itself needs (issue 12), looked up only when used: where the
    audit key file is (``$COMPOUNDING_AUDIT_KEY``, else ``[records] audit_key_file``, else
    the user's config folder), the lockout cool-down (``[users] lockout_minutes``), and
    where a write that waits on another process's lock says so (stderr)."""
    def key_path():
        from ..store.audit_key import ENV_VAR, resolve_path
        setting = None
        if not app.environ.get(ENV_VAR) and app.settings_path is not None:
            setting = app.label_settings.audit_key_file  # no pydantic once cached
        return resolve_path(setting, app.environ, app.settings_path)
    store.audit_key_path = key_path
    store.lockout_minutes = lambda: app.settings.users.lockout_minutes
    store.on_wait = lambda message: click.echo(message, err=True)
    return store


def is_new_database(path) -> bool:
    """True when opening the SQLite file ``path`` for writing creates the database (no file,
    or empty). A ``postgresql://`` URL (text) is never created here: the DBA creates the
    database (docs/deploy.md), so False."""
    import stat
    if isinstance(path, str):
        return False
    try:
        st = Path(path).stat()
        return stat.S_ISREG(st.st_mode) and st.st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def settings_site(app) -> str:
    """This installation's site (issue 20): ``site`` in the settings file that applies,
    read without loading the full settings models; ``MAIN`` when there is no settings
    file or it names no site. A named settings file that does not exist, is not TOML or
    has a bad site code is one ``Error:`` line naming the file."""
    from ..errors import InputError
    from ..sites import DEFAULT_SITE, site_from_toml_text
    path = app.settings_path
    if path is None:
        return DEFAULT_SITE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: settings file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the settings file ({exc})") from None
    return site_from_toml_text(text, str(path))


def settings_database(app):
    """The settings file's ``database`` (issue 20): a ``postgresql://`` URL as text, or a
    SQLite path resolved against the settings file's folder; None when there is no settings
    file or it names none. Read without the settings models; a value that is not text or
    holds a control or invisible character is one ``Error:`` line naming the file."""
    import tomllib
    import unicodedata

    from ..errors import InputError
    path = app.settings_path
    if path is None:
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: settings file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the settings file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    value = raw.get("database")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{path}: database: must be a postgresql:// URL or a file path")
    for i, ch in enumerate(value, start=1):
        if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            from ..text import describe
            raise InputError(f"{path}: database: character {describe(ch)} at position {i} "
                             "is a control or invisible character")
    from ..store.pg_url import is_url, refuse_keyword_value
    if is_url(value):
        return value
    refuse_keyword_value(value, f"{path}: database")
    return path.parent / value


@click.group()
def db():
    """Create, migrate, inspect, back up and verify the compounding database."""


@db.command(name="migrate")
@db_option
@json_option
@pass_app
def db_migrate(app, db_path, as_json):
    """Create the database if needed and apply pending schema migrations."""
    from ..store import Store, resolve_db_path
    path = resolve_db_path(db_path, app.environ, app.cwd, settings_database(app))
    new = is_new_database(path)
    store = configure_store(Store.open(path, migrate=False), app)
    if new:
        click.echo(f"Created new database {path}", err=True)
    try:
        applied = store.migrate()
        # PostgreSQL (issue 20): the group roles' privileges granted again, each time
        regrant = getattr(store.backend, "renew_grants", None)
        granted = bool(regrant and regrant(store.db))
        result = {"path": store.where, "applied": applied,
                  "migrations": [m["name"] for m in store.applied_migrations()]}
        if regrant:
            result["grants_renewed"] = granted
    finally:
        store.close()
    if as_json:
        echo_json(result)
        return
    if applied:
        for name in applied:
            click.echo(f"Applied {name}")
    else:
        click.echo("Schema up to date")
    if result.get("grants_renewed"):
        click.echo("Privileges of compounding_writer and compounding_reader granted as the "
                   "migrations grant them")
    click.echo(f"{result['path']}: {len(result['migrations'])} migrations applied")


@db.command(name="schema")
@db_option
@pass_app
def db_schema(app, db_path):
    """Print the database schema as SQL (tables, indexes, triggers, views)."""
    with open_store(app, db_path, read_only=True) as store:
        click.echo(store.schema_sql(), nl=False)


@db.command(name="backup")
@click.argument("dest", type=click.Path(dir_okay=False))
@db_option
@json_option
@pass_app
def db_backup(app, dest, db_path, as_json):
    """Copy the database to DEST with SQLite's online backup (safe while others write).

    DEST must not exist. The copy is checked with PRAGMA integrity_check. Also prints the
    copy's audit anchor (entries and head digest): keep it apart from the copy, and
    `db verify --anchor` proves no entry was removed since.
    """
    from ..store import audit

    with open_store(app, db_path) as store:
        result = store.backup(dest)
        result["anchor"] = audit.anchor(store)  # after the backup's own entry
    result["copy_anchor"] = {**result["anchor"], "database": result["path"],
                             **result.pop("copy_head")}
    if as_json:
        echo_json(result)
        return
    c = result["counts"]
    click.echo(f"Backed up to {result['path']} ({result['bytes']:,} bytes, integrity "
               f"{result['integrity_check']}): {c['component_lots']} component lots, "
               f"{c['batches']} batches, {c['weighings']} weighings, "
               f"{c['audit_log']} audit entries")
    a, b = result["anchor"], result["copy_anchor"]
    click.echo(f"Anchor of {a['database']}: {a['entries']} audit entries, head {a['head']}")
    click.echo(f"Anchor of the copy: {b['entries']} audit entries, head {b['head']}")


@db.command(name="anchor")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write the anchor to this file (JSON) instead of printing it.")
@click.option("--force", is_flag=True, help="Replace an existing --output file.")
@db_option
@pass_app
def db_anchor(app, output, force, db_path):
    """Print (or write) the audit log's anchor: its entry count and head digest.

    Keep anchors outside the database (another machine, a printout, an e-mail): `db verify
    --anchor FILE` then proves that no entry was removed or rewritten since, which the
    database alone cannot prove (docs/records.md).
    """
    import json

    from ..store import audit

    with open_store(app, db_path, read_only=True) as store:
        got = audit.anchor(store)
        protect = (store.path,)
    text = json.dumps(got, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    from ..outputs import write_output
    write_output(output, text.encode("utf-8"), protect=protect, force=force)
    click.echo(f"Anchor written to {output}: {got['entries']} audit entries, head "
               f"{got['head']}")


@db.command(name="verify")
@click.option("--anchor", "anchor_file", type=click.Path(dir_okay=False),
              help="An anchor file from `db anchor --output`: also prove that no audit "
                   "entry was removed or rewritten since it was taken.")
@db_option
@json_option
@pass_app
def db_verify(app, anchor_file, db_path, as_json):
    """Check integrity, the schema, the keyed audit chain and that no record changed.

    Checks the database's integrity; that every table, index, trigger and view is as the
    migrations made it; the audit hash chain (HMAC-SHA256 with the audit key, plain SHA-256
    for entries from before the chain was keyed); that every record still matches the audit
    entry that wrote it; with --anchor, that the log still holds the anchored entries.
    Exit 0 when everything is consistent; exit 1 with one line per problem otherwise. An
    audit entry dated more than 5 s before the entry before it (clock moved back, or an
    entry inserted) is a warning line on stderr naming both entries; it does not change the
    exit status.
    """
    from ..store import audit
    from ..text import visible  # a line per problem, whatever the database holds

    anchored = audit.read_anchor(anchor_file) if anchor_file else None
    with open_store(app, db_path, read_only=True) as store:
        report = audit.verify_report(store, anchored)
    problems = report["problems"]
    if as_json:
        echo_json({"ok": not problems, "audit_entries": report["entries"], **report})
    elif not problems:
        for line in verify_summary(report):
            click.echo(visible(line))
    else:
        for p in problems:
            click.echo(visible(p), err=True)
    if not as_json:
        for w in report["warnings"]:
            click.echo(visible(f"Warning: {w}"), err=True)
    if problems:
        raise click.exceptions.Exit(1)


def verify_summary(report: dict) -> list[str]:
    """The lines `db verify` prints when everything is consistent."""
    n = report["entries"]
    lines = [f"OK: integrity check passed, schema as migrated, {n} audit entries chain, "
             "every record matches the audit log"]
    if report["unkeyed"]:
        a, b = report["unkeyed"]
        lines.append(f"Entries {a}-{b}: unkeyed SHA-256 chain (written before the chain was "
                     "keyed; anyone with the file could have recomputed it: only an anchor "
                     "taken before proves it)")
    for seg in report["keyed"]:
        lines.append(f"Entries {seg['first']}-{seg['last']}: keyed HMAC-SHA256 chain (key "
                     f"{seg['key_id']}, {report['key_file']})")
    if report["anchor"]:
        a = report["anchor"]
        lines.append(f"Anchor: the {a['entries']} entries anchored at {a['taken_at']} are "
                     "all there, unchanged")
    else:
        lines.append("No anchor given: removing the newest entries is not detectable "
                     "without one (db anchor)")
    return lines


@db.command(name="copy")
@click.option("--from", "source", required=True, metavar="SRC",
              help="The store to copy: an existing SQLite file or a postgresql:// URL (it is "
                   "only read).")
@click.option("--to", "target", required=True, metavar="DST",
              help="Where to copy it: a new SQLite file, a postgresql:// URL (connect as "
                   "the owner role), or an existing store holding no records.")
@json_option
@pass_app
def db_copy(app, source, target, as_json):
    """Copy a whole store from SRC to DST: every record, with the audit chain intact.

    One transaction on DST: a copy that is interrupted (even killed) leaves DST as it was;
    a new DST file appears only complete. Either end may be SQLite or PostgreSQL. SRC is
    opened read-only (a read-only file, folder or role works) and verified once, before
    anything is made at DST; a PostgreSQL SRC read with a role that may not compare its
    schema (a site's service role) is a warning, not a refusal. Refused, with nothing
    copied: a SRC that is empty, does not verify or is not migrated, a DST that already
    holds records of a site being copied (or of any site: merging two stores is not
    supported yet), a PostgreSQL database that does not sort text in byte order (C
    collation). Both ends verify afterwards (an HMAC-keyed audit chain needs the same key
    file at both ends). Prints the rows copied per table.
    """
    from pathlib import Path

    from ..errors import InputError
    from ..store import StoreError
    from ..store.copy import copy_to_path
    from ..store.core import StoreCore
    from ..store.pg_url import refuse_keyword_value
    for option, value in (("--from", source), ("--to", target)):
        if not value.strip():
            raise InputError(f"{option}: give a database path")
        refuse_keyword_value(value, option)
    from ..store.core import backend_for
    from ..store import sqlite as sqlite_backend
    if backend_for(source) is sqlite_backend:
        src_path = Path(source)
        shown = source if source.isprintable() else repr(source)  # one line, control chars
        if not src_path.exists():
            raise InputError(f"--from {shown}: no such database file")
        if not src_path.is_file():
            raise InputError(f"--from {shown}: not a file (a directory or a device?)")
    else:
        src_path = source
    try:  # only read: a read-only file, folder or session works (finding 5)
        src = StoreCore.open(src_path, migrate=False, read_only=True)
    except StoreError as exc:
        raise InputError(f"--from: {exc}") from None
    try:
        result = copy_to_path(src, target if backend_for(target) is not sqlite_backend
                              else Path(target))
    finally:
        src.close()
    if as_json:
        echo_json(result)
        return
    for warning in result["warnings"]:
        click.echo(f"Warning: {warning}", err=True)
    from . import table
    sites = ", ".join(result["sites"]) or "none"
    total = sum(result["counts"].values())
    click.echo(f"Copied {result['from']} to {result['to']} (site {sites}): {total:,} rows "
               f"in {len(result['counts'])} tables")
    click.echo(table([[name, f"{n:,}"] for name, n in result["counts"].items()],
                     ["TABLE", "ROWS"]))
    click.echo(f"Both ends verify: integrity check passed, {result['audit_entries']:,} audit "
               "entries chain, every record matches the audit log (the copy's own entry "
               "added at the target)")


@db.command(name="init-roles")
@click.option("--database", default="compounding", show_default=True,
              help="Name of the PostgreSQL database to create.")
@click.option("--owner", default="compounding_owner", show_default=True,
              help="Role that owns the tables, runs 'db migrate' and adds users.")
@click.option("--service", default="compounding_service", show_default=True,
              help="Role the CLI and the bench log in as (no UPDATE or DELETE on history).")
def db_init_roles(database, owner, service):
    """Print the SQL a DBA runs (psql, as a superuser) to set up PostgreSQL for a group.

    Creates the owner and service roles, the group roles compounding_writer and
    compounding_reader, and the database (UTF-8, C collation, citext). The service role
    gets no UPDATE, DELETE or TRUNCATE on history tables: the migrations, run as the owner,
    grant it SELECT and INSERT and the few mutable columns only (docs/deploy.md). It may not
    add users, change a passphrase or deactivate a user: those are run with the owner's URL.
    """
    from ..store.postgres import roles_sql
    click.echo(roles_sql(database, owner, service), nl=False)
