"""`compounding db ...`: migrate, print the schema, back up and verify the database.

Also home of :func:`db_option`, the shared ``--db PATH`` option every command that opens
the database uses (``--db``, else ``$COMPOUNDING_DB``, else ``./compounding.db``), and of
:func:`open_store`, which opens (creating and migrating) it.
"""

from __future__ import annotations

import functools

import click

from . import echo_json, json_option, pass_app


def db_option(fn):
    """Add ``--db PATH`` to a command; the command receives ``db_path`` (may be None)."""
    @click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
                  help="SQLite database (else $COMPOUNDING_DB, else ./compounding.db). "
                       "Created and migrated on first use.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


def open_store(app, db_path):
    """Open the store for a command: resolve the path, create, migrate; people acting
    (``--by``) are asked for their passphrase ($COMPOUNDING_PASSPHRASE for scripts)."""
    from ..store import Store, resolve_db_path
    from .passphrases import passphrase_source
    path = resolve_db_path(db_path, app.environ, app.cwd)
    site = settings_site(app)  # before opening: a bad site setting touches nothing
    store = Store.open(path)
    store.site = site  # issue 20: what this installation makes, receives and prints
    # issue 7: whoever acts under a name (--by) gives their passphrase once per command
    store.passphrase_source = passphrase_source(app.environ)
    return store


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
    path = resolve_db_path(db_path, app.environ, app.cwd)
    store = Store.open(path, migrate=False)
    try:
        applied = store.migrate()
        result = {"path": str(path), "applied": applied,
                  "migrations": [m["name"] for m in store.applied_migrations()]}
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
    click.echo(f"{path}: {len(result['migrations'])} migrations applied")


@db.command(name="schema")
@db_option
@pass_app
def db_schema(app, db_path):
    """Print the database schema as SQL (tables, indexes, triggers, views)."""
    with open_store(app, db_path) as store:
        click.echo(store.schema_sql(), nl=False)


@db.command(name="backup")
@click.argument("dest", type=click.Path(dir_okay=False))
@db_option
@json_option
@pass_app
def db_backup(app, dest, db_path, as_json):
    """Copy the database to DEST with SQLite's online backup (safe while others write).

    DEST must not exist. The copy is checked with PRAGMA integrity_check.
    """
    with open_store(app, db_path) as store:
        result = store.backup(dest)
    if as_json:
        echo_json(result)
        return
    c = result["counts"]
    click.echo(f"Backed up to {result['path']} ({result['bytes']:,} bytes, integrity "
               f"{result['integrity_check']}): {c['component_lots']} component lots, "
               f"{c['batches']} batches, {c['weighings']} weighings, "
               f"{c['audit_log']} audit entries")


@db.command(name="verify")
@db_option
@json_option
@pass_app
def db_verify(app, db_path, as_json):
    """Check integrity, the audit hash chain and that no record changed since it was written.

    Exit 0 when everything is consistent; exit 1 with one line per problem otherwise.
    """
    with open_store(app, db_path) as store:
        problems = store.verify()
        entries = store.scalar("SELECT COUNT(*) FROM audit_log")
    if as_json:
        echo_json({"ok": not problems, "audit_entries": entries, "problems": problems})
    elif not problems:
        click.echo(f"OK: integrity check passed, {entries} audit entries chain, "
                   "every record matches the audit log")
    else:
        for p in problems:
            click.echo(p, err=True)
    if problems:
        raise click.exceptions.Exit(1)
