"""Which site a record belongs to, for listings and recalls (issue 20).

The site rule itself (codes, the default ``MAIN``) is :mod:`compounding.sites`; lot IDs
carry their site (:mod:`.lotid`). Stock (component lots), batches and label prints belong
to a site (column ``site``, migration m020); formulas, approvals, templates and users are
group-wide. Listings show the store's own site (``store.site``) unless asked for every
site; a recall searches every site and names the site of each batch and patient.
"""

from __future__ import annotations

from ..sites import DEFAULT_SITE
from .core import StoreCore

#: Tables with a ``site`` column a listing may be about.
LISTED = {"component_lots", "batches", "label_prints"}


def others_note(store: StoreCore, table: str, what: str) -> str | None:
    """The stderr note of a listing limited to the store's site when other sites hold
    ``what`` (rows of ``table``) too: ``Showing site NYC only; other sites hold batches too
    (--all-sites)``; None when no other site does (two index look-ups)."""
    if table not in LISTED:
        raise ValueError(f"no site column in {table}")
    if store.only_site(table, store.site):
        return None
    return f"Showing site {store.site} only; other sites hold {what} too (--all-sites)"


def multi_site(store: StoreCore, sites) -> bool:
    """True when a report should name sites: the store acts for a site other than the
    default, or any of ``sites`` is not the default (a single-site pharmacy never sees a
    SITE column)."""
    return store.site != DEFAULT_SITE or any(s != DEFAULT_SITE for s in sites)
