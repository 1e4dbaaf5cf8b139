"""Objects of a few types, listed in one pass over the heap instead of searched for.

Some holders are few and made at import time: ``lru_cache`` wrappers (a module's
functions, ``typing``'s helpers) and ``threading.local`` objects (hypothesis makes one
per ``@given`` test as it decorates it). Listing them costs one pass over the heap,
repeated only after imports (a new module may make new ones); looking into them then
costs what they hold. The objects are weakly referenced: the listing keeps none alive.

A window's imports need no new pass: every object made since the window opened is in
its young heap, listed as it closes (O(young)), or as a wider-scoped fixture's objects
are promoted to the old heap, when the listing was up to date as the window opened.
Imports outside any window (the plugin's own, as it first explains a leak; a teardown
between tests) leave it stale: once it exists, the next window lists the heap again as
it opens, so the rules that read it stay free for every suspect after.
"""

from __future__ import annotations

import functools
import gc
import importlib
import itertools
import operator
import sys
import threading
import weakref
from typing import Any

#: The type of an ``lru_cache`` wrapper, without naming functools' private class.
LRU_WRAPPER = type(functools.lru_cache(maxsize=1)(len))

#: What the session lists: ``lru_cache`` wrappers and ``threading.local`` objects.
LISTED_KINDS: tuple[type, ...] = (LRU_WRAPPER, threading.local)


#: Whether a weak reference's referent is still alive (in C).
_is_alive = functools.partial(operator.is_not, None)


class HeapListing:
    """The live objects of ``kinds`` (exact types), listed again after imports."""

    def __init__(self, kinds: tuple[type, ...]) -> None:
        self._kinds = kinds
        self._found: dict[type, list[weakref.ref[Any]]] = {kind: [] for kind in kinds}
        #: ``len(sys.modules)`` at the last listing; -1 before the first.
        self._modules = -1
        self.listings = 0
        self._fresh_at_open = False

    @property
    def fresh(self) -> bool:
        """Whether the listing is up to date: reading it costs no pass over the heap."""
        return len(sys.modules) == self._modules

    def of(self, kind: type) -> list[Any]:
        """The live objects of ``kind`` (one of the listed kinds); lists the heap again
        when modules were imported since the last listing."""
        if not self.fresh:
            self._list()
        return list(filter(_is_alive, map(weakref.ref.__call__, self._found[kind])))

    def window_opening(self) -> None:
        """A young-heap window is about to open (the heap is not frozen yet): a listing
        made stale by imports outside any window is made again, once one exists."""
        if self.listings and not self.fresh:
            self._list()
        self._fresh_at_open = self.fresh

    def add_young(self) -> None:
        """Before the open window's objects move to the old heap (as it closes, or as a
        wider-scoped fixture's objects are promoted), add them if imports made the
        listing stale: the young heap holds all that is new when the listing was up to
        date as the window opened."""
        if self.fresh or not self._fresh_at_open:
            return
        self._modules = len(sys.modules)
        self._add(gc.get_objects(), self._found)

    def import_unlisted(self, *names: str) -> None:
        """Import the modules ``names`` for the plugin itself, outside any window, and
        leave a listing up to date as it was: the plugin's modules and what they need make
        no lru_cache wrapper or thread local that a test fills, and the next window need
        not pass over the heap for them (20-33 ms on the suites of attrs and click)."""
        fresh = self.fresh
        for name in names:
            importlib.import_module(name)
        if fresh:
            self._modules = len(sys.modules)

    def _list(self) -> None:
        self._modules = len(sys.modules)
        self.listings += 1
        found: dict[type, list[weakref.ref[Any]]] = {kind: [] for kind in self._kinds}
        self._add(gc.get_objects(), found)
        self._found = found

    @staticmethod
    def _add(objects: list[object], found: dict[type, list[weakref.ref[Any]]]) -> None:
        # The objects of the listed kinds are picked out in C: a listing passes every
        # object of the heap (hundreds of thousands), and only a few hundred are listed.
        listed = itertools.compress(objects, map(found.__contains__, map(type, objects)))
        for obj in listed:
            found[type(obj)].append(weakref.ref(obj))
