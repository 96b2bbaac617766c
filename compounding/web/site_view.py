"""Which batches a bench page lists at one site of a group (issue 20): this site's, unless
the page is asked for every site (``?all_sites=1``); the note says when other sites hold
batches too. The rule itself is the store's (:mod:`compounding.store.sites`)."""

from __future__ import annotations


def site_view(store, all_sites: str) -> tuple[list[str], list, str | None]:
    """``(conditions, parameters, note)`` for a batch list over ``batch_summary s``: no
    condition for ``all_sites == "1"`` or a single-site store; the note (or None) names
    this site when other sites hold batches too."""
    from ..store.sites import batch_site_filter, others_note
    if all_sites == "1":
        return [], [], None
    where, params = batch_site_filter(store, store.site, "s.lot_id")
    note = others_note(store, "batches", "batches") if where else None
    return where, params, note and note.removesuffix(" (--all-sites)")
