"""The order tables are filled in by ``db copy`` (issue 20): each after the tables its
foreign keys reference. Shared by both backends' ``load_order`` (:mod:`.sqlite`,
:mod:`.pg_copy`)."""

from __future__ import annotations


def parents_first(names: list[str], parents: dict[str, set[str]]) -> list[str]:
    """``names`` ordered so that each table comes after the tables its foreign keys
    reference (``parents``: table -> referenced tables); a cycle is broken where it is met.
    Shared by both backends' ``load_order``."""
    order: list[str] = []
    placed: set[str] = set()

    def place(name: str, seen: tuple = ()) -> None:
        if name in placed or name in seen:
            return
        for parent in sorted(parents.get(name, ())):
            if parent in parents:
                place(parent, seen + (name,))
        placed.add(name)
        order.append(name)

    for n in names:
        place(n)
    return order
