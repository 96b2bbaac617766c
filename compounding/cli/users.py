"""`compounding users ...`: add, list, deactivate and unlock the people who may act.

The passphrase helpers every command uses are in :mod:`.passphrases` (re-exported here for
callers written before issue 13).
"""

from __future__ import annotations

import click

from . import echo_json, json_option, params, pass_app, table
from .db import db_option, open_store
from .passphrases import (ENV_NEW_PASSPHRASE, ENV_PASSPHRASE, ask_passphrase,  # noqa: F401
                          new_passphrase,
                          passphrase_source, signer_passphrase)

@click.group()
def users():
    """Add, list, deactivate and unlock users (technicians and pharmacists)."""


def _show(u: dict) -> str:
    return f"{u['name']} ({u['full_name']}, {u['role']}, {u['state']})"


@users.command(name="add")
@click.argument("name", type=params.identifier("name"))
@click.option("--role", required=True, type=click.Choice(["technician", "pharmacist"]),
              help="What the user may do: pharmacists also approve, verify and release.")
@click.option("--full-name", type=params.name("full name"), help="Printed name shown with each signature (default: NAME).")
@click.option("--by", "by", type=params.identifier("by"), help="The pharmacist adding the user (signs; not needed for the "
                                 "very first user, who must be a pharmacist).")
@db_option
@json_option
@pass_app
def users_add(app, name, role, full_name, by, db_path, as_json):
    """Add user NAME with a passphrase (asked twice, without echo; only a hash is kept).

    The first user of a database must be a pharmacist. Every later user is added by a
    pharmacist (--by), who signs with their passphrase. Scripts: the new passphrase from
    $COMPOUNDING_NEW_PASSPHRASE (or $COMPOUNDING_PASSPHRASE for the first user), the
    signer's from $COMPOUNDING_PASSPHRASE. Names are unique (case-insensitive) and never
    reused.
    """
    from ..store import users as people

    with open_store(app, db_path) as store:
        signer_pw = signer_passphrase(app, by, "add user") if by else None
        pw = new_passphrase(app, name, signer=bool(by))
        u = people.add_user(store, name, role, pw, full_name=full_name, by=by,
                             by_passphrase=signer_pw)
    if as_json:
        echo_json(u)
        return
    click.echo(f"Added {_show(u)}" + (f", by {u['created_by']}" if by else ""))


@users.command(name="list")
@db_option
@json_option
@pass_app
def users_list(app, db_path, as_json):
    """List users: role, state (active, locked, deactivated), wrong passphrases in a row.

    A locked user's state says until when (UTC) the lockout's cool-down runs.
    """
    from ..store import users as people

    with open_store(app, db_path, read_only=True) as store:
        rows = people.list_users(store)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No users (add the first pharmacist: compounding users add NAME --role "
                   "pharmacist)")
        return
    from ..store.users import locked_until, when_text

    def state(r):
        until = locked_until(r) if r["state"] == "locked" else None
        if until is not None and until.year < 9999:
            return f"locked until {when_text(until)}"
        return r["state"]

    click.echo(table([[r["name"], r["full_name"], r["role"], state(r),
                       str(r["failed_attempts"]), r["created_by"], r["created_at"][:10]]
                      for r in rows],
                     ["NAME", "FULL NAME", "ROLE", "STATE", "FAILED", "ADDED BY", "ADDED"]))


@users.command(name="deactivate")
@click.argument("name", type=params.identifier("name"))
@click.option("--by", "by", type=params.identifier("by"), required=True, help="The pharmacist deactivating the user (signs).")
@click.option("--reason", type=params.text("reason"), help="Why (kept with the signature).")
@db_option
@json_option
@pass_app
def users_deactivate(app, name, by, reason, db_path, as_json):
    """Deactivate user NAME for good: they can no longer act or sign (their records stay)."""
    from ..store import users as people

    with open_store(app, db_path) as store:
        u = people.deactivate_user(store, name, by=by, reason=reason,
                                    passphrase=signer_passphrase(app, by, "deactivate user"))
    if as_json:
        echo_json(u)
        return
    click.echo(f"Deactivated {u['name']} (signed by {u['deactivated_by']})")


@users.command(name="unlock")
@click.argument("name", type=params.identifier("name"))
@click.option("--by", "by", type=params.identifier("by"), required=True, help="The pharmacist unlocking the user (signs).")
@click.option("--reason", type=params.text("reason"), help="Why (kept with the signature).")
@db_option
@json_option
@pass_app
def users_unlock(app, name, by, reason, db_path, as_json):
    """Unlock user NAME before their lockout's cool-down ends (a pharmacist signs).

    Five wrong passphrases in a row lock a user for [users] lockout_minutes (default 15),
    doubled for each further lockout without a right passphrase in between, at most 24
    hours. A pharmacist may end it sooner; when every pharmacist is locked, see `users
    recover`.
    """
    from ..store import users as people

    with open_store(app, db_path) as store:
        u = people.unlock_user(store, name, by=by, reason=reason,
                                passphrase=signer_passphrase(app, by, "unlock user"))
    if as_json:
        echo_json(u)
        return
    click.echo(f"Unlocked {u['name']} (signed by {by})")


@users.command(name="recover")
@click.argument("name", type=params.identifier("name"))
@click.option("--reason", type=params.text("reason"), required=True,
              help="Why (kept on the audit log with the OS account).")
@db_option
@json_option
@pass_app
def users_recover(app, name, reason, db_path, as_json):
    """Unlock pharmacist NAME when every pharmacist is locked (needs the audit key).

    For a pharmacy that cannot wait for a cool-down and has no unlocked pharmacist to sign
    an unlock. Works only on the machine and account that hold the database's audit key
    file (mode 0600; see docs/records.md), never through the bench; refused while any
    active pharmacist is unlocked. No passphrase is asked; the recovery is on the audit log
    with the OS account, the reason and the key id. NAME then signs in and unlocks the
    others with `users unlock`.
    """
    import getpass

    from ..store import users as people

    with open_store(app, db_path) as store:
        u = people.recover_pharmacist(store, name, reason=reason,
                                      os_user=getpass.getuser() or "system")
    if as_json:
        echo_json(u)
        return
    click.echo(f"Recovered {u['name']}: unlocked without a signature (recorded on the audit "
               "log with the OS account); they can sign in and unlock the others")


@users.command(name="passphrase")
@click.argument("name", type=params.identifier("name"))
@db_option
@pass_app
def users_passphrase(app, name, db_path):
    """Change your own passphrase (the current one first, then the new one twice).

    Scripts: current from $COMPOUNDING_PASSPHRASE, new from $COMPOUNDING_NEW_PASSPHRASE.
    """
    from ..store import users as people

    with open_store(app, db_path) as store:
        old = signer_passphrase(app, name, "change passphrase")
        new = (app.environ.get(ENV_NEW_PASSPHRASE)
               or ask_passphrase(f"New passphrase for {name}", f"new passphrase of {name}",
                                 ENV_NEW_PASSPHRASE, confirmation_prompt=True))
        u = people.change_passphrase(store, name, old, new)
    click.echo(f"Passphrase changed for {u['name']}")


@users.command(name="token")
@click.argument("name")
@click.option("--label", help="What the token is for (e.g. 'label printer script').")
@click.option("--list", "list_tokens", is_flag=True, help="List NAME's tokens (never the "
                                                          "secret) instead of making one.")
@click.option("--revoke", metavar="PREFIX", help="Revoke NAME's token with this prefix (as "
                                                 "listed), instead of making one.")
@click.option("--by", "by", help="With --revoke: who revokes (NAME, or a pharmacist); "
                                 "default NAME.")
@db_option
@json_option
@pass_app
def users_token(app, name, label, list_tokens, revoke, by, db_path, as_json):
    """Make an API token for NAME (the bench's /api/v1), shown once; or --list, --revoke.

    NAME gives their passphrase to make one. Only the token's SHA-256 is kept. A token reads;
    a write through the API must also carry NAME's passphrase. Scripts: the passphrase from
    $COMPOUNDING_PASSPHRASE.
    """
    from ..errors import InputError
    from ..store import tokens

    if list_tokens and revoke:
        raise InputError("give --list or --revoke, not both")
    if (label is not None) and (list_tokens or revoke):
        raise InputError("--label applies when making a token")
    if by is not None and not revoke:
        raise InputError("--by applies to --revoke")
    with open_store(app, db_path) as store:
        if list_tokens:
            rows = tokens.list_tokens(store, name)
        elif revoke:
            signer = by or name
            row = tokens.revoke_token(store, name, revoke, by=signer,
                                      passphrase=signer_passphrase(app, signer,
                                                                   "revoke API token"))
        else:
            row = tokens.create_token(store, name,
                                      signer_passphrase(app, name, "make API token"),
                                      label=label)
    if list_tokens:
        if as_json:
            echo_json(rows)
        elif not rows:
            click.echo(f"No API tokens for {name}")
        else:
            click.echo(table([[r["prefix"], r["label"] or "-", r["state"], r["created_at"][:10],
                               r["revoked_by"] or "-"] for r in rows],
                             ["PREFIX", "LABEL", "STATE", "MADE", "REVOKED BY"]))
        return
    if as_json:
        echo_json(row)
        return
    if revoke:
        click.echo(f"Revoked API token {row['prefix']} of {row['user']} (by {row['revoked_by']})")
        return
    click.echo(f"API token for {row['user']} (prefix {row['prefix']}); shown once, keep it "
               "secret:")
    click.echo(row["token"])
    click.echo("Use: Authorization: Bearer <token> on /api/v1; writes also send the "
               "passphrase.")
