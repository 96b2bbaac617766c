"""Passphrases for the CLI: who acts (``--by``) and who signs gives one.

A passphrase is read from ``$COMPOUNDING_PASSPHRASE`` when set (scripts and tests), else
prompted without echo. Used by :func:`.db.open_store` (the person acting) and by every
signing command. Imports only click, so any command module may use it (issue 13: this
breaks the old ``cli/db.py`` <-> ``cli/users.py`` import circle).
"""

from __future__ import annotations

import click

ENV_PASSPHRASE = "COMPOUNDING_PASSPHRASE"
ENV_NEW_PASSPHRASE = "COMPOUNDING_NEW_PASSPHRASE"


def passphrase_source(environ):
    """``name -> passphrase`` for the store: the person acting (``--by``) authenticates."""
    def source(name: str) -> str:
        if environ.get(ENV_PASSPHRASE):
            return environ[ENV_PASSPHRASE]
        return click.prompt(f"Passphrase for {name}", hide_input=True, err=True)
    return source


def signer_passphrase(app, name: str, meaning: str) -> str:
    """The signer's passphrase for one signature, the meaning shown at the prompt."""
    if app.environ.get(ENV_PASSPHRASE):
        return app.environ[ENV_PASSPHRASE]
    return click.prompt(f"Passphrase for {name} (signing: {meaning})", hide_input=True,
                        err=True)


def new_passphrase(app, name: str, signer: bool) -> str:
    """A new user's passphrase: $COMPOUNDING_NEW_PASSPHRASE, else (when nobody signs, i.e.
    the first user) $COMPOUNDING_PASSPHRASE, else prompted twice without echo."""
    if app.environ.get(ENV_NEW_PASSPHRASE):
        return app.environ[ENV_NEW_PASSPHRASE]
    if not signer and app.environ.get(ENV_PASSPHRASE):
        return app.environ[ENV_PASSPHRASE]
    return click.prompt(f"New passphrase for {name}", hide_input=True,
                        confirmation_prompt=True, err=True)
