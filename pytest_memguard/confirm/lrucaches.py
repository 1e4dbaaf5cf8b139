"""Bounded ``functools.lru_cache`` wrappers, listed instead of searched for.

An ``lru_cache`` with a ``maxsize`` declares its bound wherever it is reached from: a
module's function, a method, a closure (``typing`` keeps one per generic helper in
``_tp_cache``). What it holds is warm-up. Finding the holder of a survivor costs a
walk of the whole heap per object; listing the wrappers (:mod:`.listing`) costs one
pass over the heap, repeated only after imports, and the walk down from them costs
what they hold. Runs with the heap unfrozen, for a screened run whose learned holders
left something unexplained.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from pytest_memguard.confirm.bounds import own_bound
from pytest_memguard.confirm.listing import LRU_WRAPPER, HeapListing
from pytest_memguard.screen.heap import keyed_by_id, referents_through_dicts, young_reachable


@dataclass
class Held:
    """The wrappers that hold some of the objects looked at, with their bounds, and the
    ids of the objects they hold."""

    wrappers: list[tuple[object, str]] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)


class LruCaches:
    """The session's bounded ``lru_cache`` wrappers, from a listing of the heap that
    lists :data:`LRU_WRAPPER` (shared with other rules, or its own)."""

    def __init__(self, listing: HeapListing | None = None) -> None:
        self.listing = listing if listing is not None else HeapListing((LRU_WRAPPER,))
        #: Of each wrapper walked, its misses and size then.
        self._walked: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()
        #: The listing the bounds were read from (its number and the wrappers' ids, in
        #: order), and where the bounded wrappers are in it, with their bounds.
        self._read_from: tuple[int, tuple[int, ...]] = (-1, ())
        self._bounds: list[tuple[int, str]] = []

    def bounded(self) -> list[tuple[object, str]]:
        """Every bounded wrapper alive, with its bound; lists the heap again when
        modules were imported since the last listing. A wrapper's bound is read once
        per listing: a suite lists hundreds of wrappers (typer's, with click's and
        rich's), and reading each bound for every suspect was about a quarter of the
        rule's 1.2 ms a call there."""
        wrappers = self.listing.of(LRU_WRAPPER)
        listed = (self.listing.listings, tuple(map(id, wrappers)))
        if listed != self._read_from:
            self._read_from = listed
            bounds = map(own_bound, wrappers)
            self._bounds = [(at, bound) for at, bound in enumerate(bounds) if bound is not None]
        return [(wrappers[at], bound) for at, bound in self._bounds]

    def holding(self, objs: list[object]) -> Held:
        """The bounded wrappers that hold some of ``objs``, reached from a wrapper
        through ``objs`` only (a cache's key, its result and what these made)."""
        held = Held()
        if not objs:
            return held
        members = keyed_by_id(objs)
        for wrapper, bound in self.bounded():
            if not self._missed_since_walked(wrapper):
                continue
            before = len(held.ids)
            # An unbounded cache keeps its results in its cache dict, a bounded one
            # refers to them from its linked list.
            young_reachable(referents_through_dicts([wrapper]), members, held.ids)
            if len(held.ids) > before:
                held.wrappers.append((wrapper, bound))
        return held

    def _missed_since_walked(self, wrapper: Any) -> bool:
        """Whether ``wrapper`` may hold what was made since it was last walked (and note
        it walked now). An ``lru_cache`` makes an entry only on a miss (a hit moves one,
        a clear drops them all), so one whose misses and size are what they were when
        it was last walked holds nothing made since: a suite has dozens of wrappers,
        and walking each for every suspect read a hundred referents apiece."""
        info = wrapper.cache_info()
        state = (info.misses, info.currsize)
        if self._walked.get(wrapper) == state:
            return False
        self._walked[wrapper] = state
        return True
