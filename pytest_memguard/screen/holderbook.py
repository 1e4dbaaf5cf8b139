"""The holders a session has learned: bounded caches, filled caches and leaking roots.

Finding which old object holds a young survivor costs a walk of the whole heap
(``gc.get_referrers``), so each holder is looked up once and remembered here. A later
test whose survivors hang from a remembered holder is then judged without a re-run:
the walk *down* from the holders (``gc.get_referents``) costs what they hold, never
what the heap holds.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass

#: Holders remembered at most: each is kept alive by the book (lists and dicts cannot be
#: weakly referenced), so the book must not grow with the suite.
MAX_HOLDERS = 512


def sized_length(holder: object) -> int:
    """``len(holder)``, or -1 when it has no length (or reading it fails)."""
    try:
        return len(holder)  # type: ignore[arg-type]
    except Exception:
        return -1


@dataclass
class Learned:
    """One remembered holder.

    ``bound`` describes a declared bound (growth under it is warm-up); ``root`` names a
    confirmed leak this holder keeps growing; a holder with neither was *filled*: a
    re-run showed it stop growing, so it is a suspect again only when its length grows.
    """

    holder: object
    bound: str = ""
    root: str = ""
    length: int = -1


class HolderBook:
    """Holders learned during the session, by identity."""

    def __init__(self) -> None:
        self._learned: dict[int, Learned] = {}

    def __len__(self) -> int:
        return len(self._learned)

    def _learn(self, holder: object, bound: str = "", root: str = "") -> None:
        known = self._learned.get(id(holder))
        if known is not None and known.holder is holder:
            # What is known to leak stays so; a bound found later wins over "filled".
            known.root = known.root or root
            known.bound = "" if known.root else known.bound or bound
            known.length = sized_length(holder)
            return
        if len(self._learned) >= MAX_HOLDERS:
            return
        self._learned[id(holder)] = Learned(holder, bound, root, sized_length(holder))

    def learn_bounded(self, holder: object, bound: str) -> None:
        """``holder`` keeps its growth under ``bound`` (``"lru_cache(maxsize=128) of f"``)."""
        self._learn(holder, bound=bound)

    def learn_filled(self, holder: object) -> None:
        """A re-run showed growth in ``holder`` stop: at its present length it is full."""
        self._learn(holder)

    def learn_leaking(self, holder: object, root: str) -> None:
        """``holder`` keeps the growth of the confirmed leak ``root``."""
        self._learn(holder, root=root)

    def bounded(self) -> list[Learned]:
        return [learned for learned in self._learned.values() if learned.bound]

    def filled(self) -> list[Learned]:
        return [
            learned for learned in self._learned.values() if not (learned.bound or learned.root)
        ]

    def leaking(self) -> list[Learned]:
        return [learned for learned in self._learned.values() if learned.root]

    def own_ids(self) -> set[int]:
        """Ids of the book's own containers: it holds what it learned, and a retainer
        chain must never run through it."""
        return {id(self), id(self._learned), *map(id, self._learned.values())}

    def known(self, holder: object) -> Learned | None:
        """What the book learned about ``holder``, if anything."""
        learned = self._learned.get(id(holder))
        return learned if learned is not None and learned.holder is holder else None

    def note_lengths(self) -> None:
        """Take each length-watched holder's present length as the one the next run is
        compared with (called as a window opens: O(holders), a few microseconds)."""
        for entry in self._learned.values():
            if not entry.bound:
                entry.length = sized_length(entry.holder)


def contents(learned: list[Learned]) -> list[object]:
    """What the holders refer to, and what those refer to: the seeds of a walk down into
    the young heap. The second step passes old entries: a cached object from an earlier
    test may make a young one now (a stream's decoder is made on its first read)."""
    holders = [entry.holder for entry in learned]
    if not holders:
        return []
    entries = gc.get_referents(*holders)
    return entries + gc.get_referents(*entries)


def grown(learned: list[Learned]) -> Iterator[Learned]:
    """The holders whose length grew since it was last noted."""
    for entry in learned:
        if sized_length(entry.holder) > entry.length >= 0:
            yield entry
