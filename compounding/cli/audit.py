"""`compounding audit`: the audit trail, oldest first, filtered by batch, user and date."""

from __future__ import annotations

import click

from . import echo_json, json_option, pass_app, table
from .db import db_option, open_store

#: Longest details text shown in the table (the JSON has everything).
DETAILS_WIDTH = 100


def _details(d: dict) -> str:
    parts = []
    for k, v in d.items():
        if k == "records":
            continue
        if isinstance(v, (dict, list)):
            import json
            v = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
        if v is None:
            continue
        parts.append(f"{k}={v}")
    text = " ".join(parts)
    return text if len(text) <= DETAILS_WIDTH else text[:DETAILS_WIDTH - 3] + "..."


@click.command(name="audit")
@click.option("--batch", "lot", metavar="LOT", help="Only entries about this batch.")
@click.option("--user", "user", metavar="NAME", help="Only entries by this person.")
@click.option("--since", metavar="DATE", help="Only entries on or after DATE (YYYY-MM-DD, UTC).")
@db_option
@json_option
@pass_app
def audit(app, lot, user, since, db_path, as_json):
    """Print the audit trail, oldest first: every action, sign-off and refused passphrase.

    Each entry is hash-chained to the one before (check with `compounding db verify`).
    """
    from ..dates import parse_date
    from ..store import lotid

    if lot is not None:
        lot = lotid.validate_lot_id(lot, "batch")
    start = parse_date(since, "since").isoformat() if since else None
    with open_store(app, db_path, read_only=True) as store:
        if user is not None:
            from ..store.users import get_user
            known = get_user(store, user)
            user = known["name"] if known else user.strip()
        rows = store.audit_log(lot_id=lot, actor=user, since=start)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No audit entries")
        return
    click.echo(table([[str(r["id"]), r["at"][:19] + "Z", r["actor"], r["action"],
                       r["lot_id"] or "-", _details(r["details"])] for r in rows],
                     ["ID", "AT (UTC)", "BY", "ACTION", "LOT", "DETAILS"]))
