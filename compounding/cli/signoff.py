"""Sign-off commands: batch verify/release/reject/quarantine, formulas and labels
submit/approve. Loaded lazily by the `batch`, `formulas` and `labels` groups.

Every command here is an electronic signature: it asks the signer's passphrase (prompted
without echo, the meaning shown; $COMPOUNDING_PASSPHRASE for scripts) and records name,
role, meaning, UTC time and the SHA-256 of what was signed.
"""

from __future__ import annotations

import click

from . import echo_json, json_option, params, pass_app
from .db import db_option, open_store
from .passphrases import signer_passphrase

BY_PHARMACIST = click.option("--by", "by", type=params.identifier("by"), required=True,
                             help="The signing pharmacist (their passphrase is asked).")


def _signed(sig: dict) -> str:
    return (f"Signed: {sig['signer_name']} ({sig['signer']}, {sig['role']}), {sig['meaning']}, "
            f"{sig['signed_at']}; SHA-256 {sig['record_sha256'][:12]}")


# ---------------------------------------------------------------- batches

@click.command(name="verify")
@click.argument("lot")
@BY_PHARMACIST
@db_option
@json_option
@pass_app
def batch_verify(app, lot, by, db_path, as_json):
    """Verify batch LOT: run the checklist, record every result and sign it.

    Checks: the formula version was approved; every plan step weighed; each weighing within
    the formula's weighing tolerance of the plan; every component lot of the right
    ingredient and unexpired at compounding (the active one at the planned potency); the
    BUD recomputed from the lots used equals the BUD on record and has not passed; the
    verifier is a pharmacist who neither compounded nor weighed the batch. Exit 0 when every check passes (the batch
    may then be released), 1 when one fails (release is blocked; reject it or fix and verify
    again).
    """
    from ..store import signoff

    with open_store(app, db_path) as store:
        result = signoff.verify_batch(store, lot, by=by,
                                      passphrase=signer_passphrase(app, by, "verified"))
    if as_json:
        echo_json(result)
    else:
        click.echo(f"Verification of batch {result['lot_id']}:")
        for c in result["checks"]:
            click.echo(f"  [{'PASS' if c['passed'] else 'FAIL'}] {c['detail']}")
        click.echo(_signed(result["signature"]))
        if result["passed"]:
            click.echo(f"Verified: batch {result['lot_id']} may be released")
    if not result["passed"]:
        failed = sum(1 for c in result["checks"] if not c["passed"])
        if not as_json:
            click.echo(f"Error: verification failed ({failed} check{'s' if failed != 1 else ''})"
                       f"; batch {result['lot_id']} cannot be released", err=True)
        raise click.exceptions.Exit(1)


@click.command(name="release")
@click.argument("lot")
@BY_PHARMACIST
@click.option("--reason", type=params.text("reason"), help="Required when the batch is on hold: why the hold ends.")
@db_option
@json_option
@pass_app
def batch_release(app, lot, by, reason, db_path, as_json):
    """Release batch LOT: only after a passing verification, with nothing changed since.

    A batch on hold (quarantine) that had been verified is released again the same way, with
    --reason. After release its labels may print; the record is final.
    """
    from ..store import signoff

    with open_store(app, db_path) as store:
        result = signoff.release_batch(store, lot, by=by, reason=reason,
                                       passphrase=signer_passphrase(app, by, "released"),
                                       warn_days=app.settings.bud_warning_days)
    if as_json:
        echo_json(result)
        return
    click.echo(f"Released batch {result['lot_id']} (was {result['from']})")
    click.echo(_signed(result["signature"]))
    for w in result["warnings"]:
        click.echo(f"Warning: {w}")


@click.command(name="reject")
@click.argument("lot")
@BY_PHARMACIST
@click.option("--reason", type=params.text("reason"), required=True, help="Why the batch is rejected.")
@db_option
@json_option
@pass_app
def batch_reject(app, lot, by, reason, db_path, as_json):
    """Reject batch LOT for good (a released batch is put on hold first).

    A correction is a new batch: compounding batch create ... --corrects LOT --reason TEXT.
    """
    from ..store import signoff

    with open_store(app, db_path) as store:
        result = signoff.reject_batch(store, lot, by=by, reason=reason,
                                      passphrase=signer_passphrase(app, by, "rejected"))
    if as_json:
        echo_json(result)
        return
    click.echo(f"Rejected batch {result['lot_id']} (was {result['from']}): {reason.strip()}")
    click.echo(_signed(result["signature"]))


@click.command(name="quarantine")
@click.argument("lot")
@click.option("--by", "by", type=params.identifier("by"), required=True,
              help="Who puts the batch on hold (any active user; a pharmacist to --lift).")
@click.option("--reason", type=params.text("reason"), required=True, help="Why the batch is held (or why the hold ends).")
@click.option("--lift", is_flag=True,
              help="End the hold of a batch held before release (a pharmacist): it returns "
                   "to planned or compounded. A batch held after release is released again "
                   "with `batch release --reason`.")
@db_option
@json_option
@pass_app
def batch_quarantine(app, lot, by, reason, lift, db_path, as_json):
    """Put batch LOT on hold (quarantine), e.g. for a recall: no label prints, no weighing.

    A hold ends by release (a pharmacist, after a passing verification), rejection, or for a
    batch held before release, --lift.
    """
    from ..store import signoff

    with open_store(app, db_path) as store:
        if lift:
            result = signoff.lift_hold(store, lot, by=by, reason=reason,
                                       passphrase=signer_passphrase(app, by, "hold-lifted"))
        else:
            result = signoff.quarantine_batch(store, lot, by=by, reason=reason,
                                              passphrase=signer_passphrase(app, by,
                                                                           "quarantined"))
    if as_json:
        echo_json(result)
        return
    if lift:
        click.echo(f"Hold lifted on batch {result['lot_id']}: back to {result['status']}")
    else:
        click.echo(f"Batch {result['lot_id']} on hold (quarantine; was {result['from']}): "
                   f"{reason.strip()}")
    click.echo(_signed(result["signature"]))


# ---------------------------------------------------------------- change control

def _file(app, subject_type: str, subject_id: str):
    """(version, sha256, bytes) of the formula or template file as it is now."""
    from ..errors import StoreError
    from ..store.approvals import sha256_bytes
    if subject_type == "formula":
        # the file plus the catalogue entries it uses (see formulas.approval_content)
        reg = app.registry
        obj, path, sha = reg.get(subject_id), reg.paths[subject_id], reg.hashes[subject_id]
        data = reg.contents[subject_id]
    else:
        from ..labeling.templates import load_templates
        ts = load_templates(app.templates_dir)
        obj, path, sha = ts.get(subject_id), ts.paths[subject_id], ts.hashes[subject_id]
        data = path.read_bytes()
    if sha256_bytes(data) != sha:
        raise StoreError(f"{path} changed while it was read; try again")
    return obj.version, sha, data


def _submit(app, subject_type, subject_id, by, note, db_path, as_json):
    from ..store import approvals

    version, sha, data = _file(app, subject_type, subject_id)
    with open_store(app, db_path) as store:
        sub = approvals.submit(store, subject_type, subject_id, version, data, by=by, note=note)
    from ..shapes import submission_json
    sub = submission_json(sub)
    if as_json:
        echo_json(sub)
        return
    word = approvals.KIND_WORDS[subject_type]
    click.echo(f"Submitted {word} {subject_id} version {version} (SHA-256 {sha[:12]}) by "
               f"{sub['submitted_by']}; a pharmacist other than {sub['submitted_by']} approves "
               f"it: compounding {approvals.COMMANDS[subject_type]} approve {subject_id}")


def _approve(app, subject_type, subject_id, by, db_path, as_json):
    from ..store import approvals

    version, sha, _ = _file(app, subject_type, subject_id)
    with open_store(app, db_path) as store:
        diff = approvals.diff_to_approved(store, subject_type, subject_id, sha)
        if diff and not as_json:
            click.echo("Changes since the approved version:")
            for line in diff:
                click.echo(f"  {line}")
        result = approvals.approve(store, subject_type, subject_id, version, sha, by=by,
                                 passphrase=signer_passphrase(app, by, "approved"))
    if as_json:
        from ..shapes import approval_json
        echo_json(approval_json(result, diff))
        return
    word = approvals.KIND_WORDS[subject_type]
    click.echo(f"Approved {word} {subject_id} version {version} (SHA-256 {sha[:12]}), "
               f"author {result['approval']['details']['author']}")
    click.echo(_signed(result["approval"]))


@click.command(name="submit")
@click.argument("formula_id")
@click.option("--by", "by", type=params.identifier("by"), required=True, help="The author proposing this version.")
@click.option("--note", type=params.text("note"), help="What changed and why.")
@db_option
@json_option
@pass_app
def formulas_submit(app, formula_id, by, note, db_path, as_json):
    """Submit formula FORMULA_ID as it is in its file now (its author; content kept).

    A pharmacist other than the author then approves it. A changed file needs a new version.
    """
    _submit(app, "formula", formula_id, by, note, db_path, as_json)


@click.command(name="approve")
@click.argument("formula_id")
@BY_PHARMACIST
@db_option
@json_option
@pass_app
def formulas_approve(app, formula_id, by, db_path, as_json):
    """Approve the submitted version of formula FORMULA_ID (a pharmacist, not its author).

    Records the version and the file's SHA-256: batches are made only from an approved
    file; a file whose content changes is refused until approved again. Shows the changes
    from the last approved version first.
    """
    _approve(app, "formula", formula_id, by, db_path, as_json)


@click.command(name="submit")
@click.argument("template_id")
@click.option("--by", "by", type=params.identifier("by"), required=True, help="The author proposing this version.")
@click.option("--note", type=params.text("note"), help="What changed and why.")
@db_option
@json_option
@pass_app
def labels_submit(app, template_id, by, note, db_path, as_json):
    """Submit label template TEMPLATE_ID as it is in its file now (its author)."""
    _submit(app, "template", template_id, by, note, db_path, as_json)


@click.command(name="approve")
@click.argument("template_id")
@BY_PHARMACIST
@db_option
@json_option
@pass_app
def labels_approve(app, template_id, by, db_path, as_json):
    """Approve the submitted version of label template TEMPLATE_ID (a pharmacist, not its
    author): only an approved template file prints."""
    _approve(app, "template", template_id, by, db_path, as_json)
