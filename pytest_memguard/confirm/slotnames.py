"""The slot names ``copyreg`` caches on a class: made once per class, never growth.

The first time an object is copied or pickled (``copy.copy``, ``pickle`` protocol 2 and
up: ``object.__reduce_ex__``), ``copyreg._slotnames`` lists the slot names of its class
and stores the list in the class's ``__dict__`` as ``__slotnames__`` (an empty list for
a class without slots). The test that first copies an object of an older class leaves
that list behind, held by the class's namespace; a re-run finds it there already.
"""

from __future__ import annotations

from itertools import repeat
from types import MappingProxyType

from pytest_memguard.screen.heap import CLASS_NAMESPACE, among, with_subclasses

#: Why the slot names a class got on its first copy are not a leak.
SLOT_NAMES_CACHED = "slot names copyreg stored on a class at its first copy or pickling"

_CACHE_NAME = "__slotnames__"


def cached_slot_names(left: list[object]) -> list[object]:
    """The lists among ``left`` (what a run left unexplained) that a class holds as its
    cached slot names. Looks through every class alive (O(classes), a fraction of a pass
    over the heap) only when all of ``left`` is lists of names: with anything else left,
    the run stays a suspect whatever this finds."""
    # Most runs leave other objects: the first of them ends it.
    if not left or not all(map(_is_names, left)):
        return []
    names = set(map(id, left))
    # Every class's cached list, read in C: a session has thousands of classes.
    namespaces = map(CLASS_NAMESPACE.__get__, with_subclasses([object]))
    cached = map(MappingProxyType.get, namespaces, repeat(_CACHE_NAME))
    found = names.intersection(map(id, cached))  # both alive: the same objects
    return among(left, found)


def _is_names(candidate: object) -> bool:
    return type(candidate) is list and all(type(name) is str for name in candidate)
