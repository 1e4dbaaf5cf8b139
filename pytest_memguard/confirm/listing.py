"""Objects of a few types, listed in one pass over the heap instead of searched for.

Some holders are few and made at import time: ``lru_cache`` wrappers (a module's
functions, ``typing``'s helpers) and ``threading.local`` objects (hypothesis makes one
per ``@given`` test as it decorates it). Listing them costs one pass over the heap,
repeated only after imports (a new module may make new ones); looking into them then
costs what they hold. The objects are weakly referenced: the listing keeps none alive.
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any


class HeapListing:
    """The live objects of ``kinds`` (exact types), listed again after imports."""

    def __init__(self, kinds: tuple[type, ...]) -> None:
        self._kinds = kinds
        self._found: dict[type, list[weakref.ref[Any]]] = {kind: [] for kind in kinds}
        #: ``len(sys.modules)`` at the last listing; -1 before the first.
        self._modules = -1
        self.listings = 0
        #: How many objects the heap held at the last listing (0 before the first).
        self.heap_objects = 0

    @property
    def fresh(self) -> bool:
        """Whether the listing is up to date: reading it costs no pass over the heap."""
        return len(sys.modules) == self._modules

    def of(self, kind: type) -> list[Any]:
        """The live objects of ``kind`` (one of the listed kinds); lists the heap again
        when modules were imported since the last listing."""
        if not self.fresh:
            self._list()
        return [obj for obj in (ref() for ref in self._found[kind]) if obj is not None]

    def _list(self) -> None:
        self._modules = len(sys.modules)
        self.listings += 1
        found: dict[type, list[weakref.ref[Any]]] = {kind: [] for kind in self._kinds}
        heap = gc.get_objects()
        for obj in heap:
            refs = found.get(type(obj))
            if refs is not None:
                refs.append(weakref.ref(obj))
        self._found = found
        self.heap_objects = len(heap)
