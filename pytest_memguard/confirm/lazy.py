"""Dicts CPython makes on first access to an older object: made once, never again.

A function keeps its annotations compact until ``__annotations__`` is read
(``inspect.signature`` and ``typing.get_type_hints`` read it), since 3.11 an instance
keeps its attributes inline until its ``__dict__`` is read, and a ``threading.local``
makes its dict for a thread when that thread first sets an attribute (hypothesis keeps
one per ``@given`` test). The dict then made is new, but its owner is older than the
test and gets no second one: warm-up, like a module the test imported. Its entries are
not, except the values of a ``threading.local``'s new dict, the defaults its first use
made: a value the test stored in an older object's new dict, or deeper in a thread's,
is still its growth.

Telling the owner needs one pass over the heap (``gc.get_referrers``): it runs after
the window, only for a screened run that left a few objects, dicts among them, that
nothing else explained.

A ``threading.local``'s dict for this thread may also be older than the test and new
to the collector: empty, or holding only atomic values, it was not tracked when the
window opened, and the first object stored in it (hypothesis stores the test's
instance in its per-test local) makes it listed among the young objects. The locals
are few and made at import time: while their listing is up to date
(:class:`~pytest_memguard.confirm.listing.HeapListing`), their per-thread dicts are
found without a pass over the heap (:func:`thread_dicts`). Only the dict is explained,
not what the test stored in it.
"""

from __future__ import annotations

import gc
import types
import weakref

from pytest_memguard.screen.heap import all_referents, instance_dict, young_reachable

#: Why such dicts are warm-up.
MADE_ON_ACCESS = (
    "a dict made on first access to an older object (__annotations__, __dict__, "
    "a threading.local's)"
)

#: Leftover objects looked at, at most: past them the run is a suspect anyway.
MAX_OBJECTS = 16


def referrers_outside(left: list[object], ignore: set[int]) -> list[object]:
    """What refers to the objects of ``left`` from outside them (one pass over the heap),
    less frames, tuples and the caller's own containers (ids in ``ignore``); none past
    :data:`MAX_OBJECTS` objects. The rules for objects made on first access share it."""
    if not left or len(left) > MAX_OBJECTS:
        return []
    ids = {id(obj) for obj in left}
    # A tuple older than the objects cannot hold them; a new one is the call's own.
    return [
        ref
        for ref in gc.get_referrers(*left)
        if id(ref) not in ignore
        and id(ref) not in ids
        and not isinstance(ref, (types.FrameType, tuple))
    ]


def materialized(
    left: list[object],
    retained: set[int],
    ignore: set[int],
    referrers: list[object] | None = None,
) -> list[object]:
    """The objects of ``left`` that are dicts made on first access to objects older than
    the run (not in ``retained``, ids), with what a ``threading.local``'s new dict for
    this thread holds (the defaults its first use made). An object some other holder
    from outside ``left`` also holds is not one of them. ``ignore`` holds the ids of the
    caller's own containers; ``referrers`` is ``referrers_outside(left, ignore)``, if
    the caller has it."""
    if not left or len(left) > MAX_OBJECTS or not any(type(obj) is dict for obj in left):
        return []
    ids = {id(obj) for obj in left}
    made: set[int] = set()
    per_thread: set[int] = set()
    elsewhere: set[int] = set()
    for owner in referrers_outside(left, ignore) if referrers is None else referrers:
        ident = id(owner)
        held = {id(ref) for ref in all_referents([owner])} & ids
        if ident in retained:
            elsewhere |= held
            continue
        lazy, threads = _lazy_dicts(owner)
        made |= held & lazy
        per_thread |= held & threads
        elsewhere |= held - lazy - threads
    thread_dicts = [obj for obj in left if id(obj) in per_thread - elsewhere]
    # A thread's new dict holds the defaults its first use made, one level down: what
    # the test stored further in (a cache's entries) is not explained here.
    defaults = {id(ref) for ref in all_referents(thread_dicts)} if thread_dicts else set()
    explained = (made | per_thread | defaults) - elsewhere
    return [obj for obj in left if id(obj) in explained]


def thread_dicts(left: list[object], locals_: list[object]) -> list[object]:
    """The dicts of ``left`` that are a per-thread dict of one of ``locals_`` (the
    session's ``threading.local`` objects), with what of ``left`` hangs from them: a
    per-thread dict made during the run is the local's first use in the thread, and
    what it holds was set on that first use (``repr_context.already_repring = set()``)."""
    dicts = {id(obj) for obj in left if type(obj) is dict}
    if not dicts or not locals_:
        return []
    found: set[int] = set()
    for table in gc.get_referents(*locals_):
        if type(table) is dict:
            found |= _per_thread(table)
    made = [obj for obj in left if id(obj) in dicts & found]
    if not made:
        return []
    reached = young_reachable(made, {id(obj): obj for obj in left})
    return [obj for obj in left if id(obj) in reached]


def _lazy_dicts(owner: object) -> tuple[set[int], set[int]]:
    """Ids of the dicts ``owner`` makes on first access: its ``__dict__`` and, for a
    function, its ``__annotations__``; and, apart, for the table of a
    ``threading.local``, its per-thread dicts."""
    if type(owner) is dict:
        return set(), _per_thread(owner)
    found = set()
    if isinstance(owner, types.FunctionType):
        found.add(id(owner.__annotations__))
    attributes = instance_dict(owner)
    if attributes is not None:
        found.add(id(attributes))
    return found, set()


def _per_thread(table: dict[object, object]) -> set[int]:
    """Ids of the values of ``table`` keyed by a thread: the per-thread dicts when it is
    a ``threading.local``'s table, none otherwise."""
    return {id(value) for key, value in table.items() if _is_thread_key(key)}


def _is_thread_key(key: object) -> bool:
    """A key of a ``threading.local``'s table of per-thread dicts: its thread's
    ``_localdummy`` (3.13), or a weak reference to it (3.10 to 3.12). Read by name: the
    type is not exposed; where CPython keeps the table otherwise, no key matches and
    the rule does not apply."""
    if isinstance(key, weakref.ref):
        key = key()
    return type(key).__name__ == "_localdummy"
