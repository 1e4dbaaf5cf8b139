"""Dicts CPython makes on first access to an older object: made once, never again.

A function keeps its annotations compact until ``__annotations__`` is read
(``inspect.signature`` and ``typing.get_type_hints`` read it), and since 3.11 an
instance keeps its attributes inline until its ``__dict__`` is read. The dict then
made is new, but its owner is older than the test and gets no second one: warm-up,
like a module the test imported. Its entries are not: a value the test stored in it
is still the test's growth.

Telling the owner needs one pass over the heap (``gc.get_referrers``): it runs after
the window, only for a screened run that nothing else explained but such dicts.
"""

from __future__ import annotations

import gc
import types

#: Why such dicts are warm-up.
MADE_ON_ACCESS = "a dict made on first access to an older object (__annotations__, __dict__)"

#: Leftover dicts looked up at most: past them the run is a suspect anyway.
MAX_DICTS = 8


def materialized(left: list[object], retained: set[int], ignore: set[int]) -> list[object]:
    """``left`` when it holds nothing but dicts each held only as the lazily made
    ``__dict__`` or ``__annotations__`` of objects older than the run (not in
    ``retained``, ids); else an empty list. ``ignore`` holds the ids of the caller's
    own containers."""
    if not left or len(left) > MAX_DICTS or any(type(obj) is not dict for obj in left):
        return []
    ids = {id(obj) for obj in left}
    owned: set[int] = set()
    for owner in gc.get_referrers(*left):
        # A tuple older than the dicts cannot hold them; a new one is the call's own.
        if id(owner) in ignore or isinstance(owner, (types.FrameType, tuple)):
            continue
        if id(owner) in retained:
            return []
        made = _lazy_dicts(owner) & ids
        if not made:
            # Something else holds one of them: not only made on access.
            return []
        owned |= made
    return left if owned == ids else []


def _lazy_dicts(owner: object) -> set[int]:
    """Ids of ``owner``'s ``__dict__`` and, for a function, its ``__annotations__``."""
    found = set()
    if isinstance(owner, types.FunctionType):
        found.add(id(owner.__annotations__))
    if not isinstance(owner, type):
        try:
            instance_dict = object.__getattribute__(owner, "__dict__")
        except AttributeError:
            return found
        if type(instance_dict) is dict:
            found.add(id(instance_dict))
    return found
