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


def ask_passphrase(text: str, who: str, env_name: str, **kw) -> str:
    """Prompt without echo; input that ends (a script, stdin not a terminal, Ctrl-D) is one
    line naming what was missing and the variable a script sets, not click's 'Aborted!'."""
    import getpass
    import warnings
    try:
        with warnings.catch_warnings():  # no terminal: Python's two-line warning is noise
            warnings.simplefilter("ignore", getpass.GetPassWarning)
            return click.prompt(text, hide_input=True, err=True, **kw)
    except click.Abort:
        from ..errors import InputError
        raise InputError(f"passphrase: none was typed for {who} (the input ended); type it "
                         f"at the prompt, or set ${env_name} in a script",
                         field="passphrase") from None


def passphrase_source(environ):
    """``name -> passphrase`` for the store: the person acting (``--by``) authenticates."""
    def source(name: str) -> str:
        if environ.get(ENV_PASSPHRASE):
            return environ[ENV_PASSPHRASE]
        return ask_passphrase(f"Passphrase for {name}", name, ENV_PASSPHRASE)
    return source


def signer_passphrase(app, name: str, meaning: str) -> str:
    """The signer's passphrase for one signature, the meaning shown at the prompt."""
    if app.environ.get(ENV_PASSPHRASE):
        return app.environ[ENV_PASSPHRASE]
    return ask_passphrase(f"Passphrase for {name} (signing: {meaning})", name, ENV_PASSPHRASE)


def new_passphrase(app, name: str, signer: bool) -> str:
    """A new user's passphrase: $COMPOUNDING_NEW_PASSPHRASE, else (when nobody signs, i.e.
    the first user) $COMPOUNDING_PASSPHRASE, else prompted twice without echo."""
    if app.environ.get(ENV_NEW_PASSPHRASE):
        return app.environ[ENV_NEW_PASSPHRASE]
    if not signer and app.environ.get(ENV_PASSPHRASE):
        return app.environ[ENV_PASSPHRASE]
    return ask_passphrase(f"New passphrase for {name}", f"new user {name}",
                ENV_PASSPHRASE if not signer else ENV_NEW_PASSPHRASE,
                confirmation_prompt=True)
