"""Which site a record belongs to, for listings and recalls (issue 20).

The site rule itself (codes, the default ``MAIN``) is :mod:`compounding.sites`; lot IDs
carry their site (:mod:`.lotid`). Stock (component lots), batches and label prints belong
to a site (column ``site``, migration m020); formulas, approvals, templates and users are
group-wide. Listings show the store's own site (``store.site``) unless asked for every
site; a recall searches every site and names the site of each batch and patient.
"""

from __future__ import annotations

from ..errors import RefusedError
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


def own_batch(store: StoreCore, batch: dict, act: str) -> None:
    """Refuse (:class:`RefusedError`, one line) acting on ``batch`` (a ``batches`` row) from
    another site than the one that made it: batches belong to a site (issue 20), and only
    that site weighs, verifies, releases, rejects, holds, prints and dispenses them. ``act``
    is the verb phrase the refusal names (``release``, ``print a label of``)."""
    if batch["site"] != store.site:
        raise RefusedError(f"batch {batch['lot_id']} belongs to site {batch['site']}; this "
                           f"site ({store.site}) cannot {act} it (each site acts on its own "
                           "batches; recall lookups search every site)")


def own_lot(store: StoreCore, lot: dict, act: str) -> None:
    """Refuse (:class:`RefusedError`, one line) acting on the component lot ``lot`` (a
    ``component_lots`` row) from another site than the one whose stock it is (issue 20:
    stock belongs to a site; adjustments, counts and write-offs are that site's)."""
    if lot["site"] != store.site:
        raise RefusedError(f"lot {lot['lot_number']} of {lot['ingredient']} is stock of site "
                           f"{lot['site']}; this site ({store.site}) cannot {act} it (each "
                           "site keeps its own stock)")


def batch_site_filter(store: StoreCore, site: str | None,
                      lot_col: str) -> tuple[list[str], list]:
    """SQL conditions (and their parameters) keeping the rows whose batch lot ID in
    ``lot_col`` (qualified with its table's alias: ``s.lot_id``; a bare ``lot_id`` would
    name the subquery's own column) belongs to ``site``: none for ``site=None`` (every site) or a store holding
    one site only (the plan stays the single-site one); else the batch's site checked by
    its primary key (one look-up a row)."""
    if "." not in lot_col:
        raise ValueError(f"lot_col {lot_col!r}: qualify it with the table's alias")
    if site is None or store.only_site("batches", site):
        return [], []
    return ([f"EXISTS (SELECT 1 FROM batches sb WHERE sb.lot_id = {lot_col} "
             "AND sb.site = ?)"], [site])
