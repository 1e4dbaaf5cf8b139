"""Values a class computes once per instance, on first access: set once, never again.

A lazy attribute is computed the first time it is read and kept on the instance:
``functools.cached_property`` keeps it under its own name, and the older idiom, a
``property`` that fills a private attribute (``self._parsed``, or ``self.__wrapped``,
which Python names ``_Class__wrapped``), keeps it next to the property. When the
instance is older than the test, the value the test made is warm-up: the next read
returns it, and no later run adds another. hypothesis' strategies are built this way:
each ``@given`` test's strategy unwraps itself on its first draw, so a suite's first
runs of its hypothesis tests leave such values behind, one per test.

Telling the holder needs one pass over the heap (``gc.get_referrers``), and one more
when an instance keeps its attributes in a dict of their own: it runs after the window,
as the other heap rules do, only for a screened run that left a few objects that
nothing else explained. A value that is a list, set or deque, or holds one with
entries in it, is left a suspect: a lazily made registry collects what later calls add.
So is one that refers to an older object of its own type: a chain grows a link a call.
"""

from __future__ import annotations

import collections
import functools
import gc
import types
from collections.abc import Sequence

from pytest_memguard.confirm.lazy import MAX_OBJECTS, referrers_outside
from pytest_memguard.screen.heap import (
    instance_dict,
    keyed_by_id,
    older_of_its_kind,
    referred_ids,
    top_objects,
    young_reachable,
)

#: Why such values are warm-up.
CACHED_ON_ACCESS = "a value cached on first access to an older object (a lazy attribute)"

#: Containers that collect what calls add: a lazy attribute holding one is no warm-up.
_COLLECTING = (list, set, collections.deque)


def lazy_attribute(cls: type, key: str) -> str | None:
    """``"Class.name"`` when instances of ``cls`` keep the value of a lazy attribute
    under ``key``: a ``functools.cached_property`` of that name, or a ``property``
    ``name`` backed by ``_name`` or ``_Class__name``; None otherwise."""
    for klass in cls.__mro__:
        namespace = vars(klass)
        if isinstance(namespace.get(key), functools.cached_property):
            return f"{klass.__qualname__}.{key}"
        for prefix in (f"_{klass.__name__.lstrip('_')}__", "_"):
            name = key.removeprefix(prefix)
            if name != key and isinstance(namespace.get(name), property):
                return f"{klass.__qualname__}.{name}"
    return None


#: Attributes an instance has at most, for its dict to be looked up as one: a larger
#: dict (a module's namespace, ``linecache.cache``) is a container, and no pass is made.
MAX_ATTRIBUTES = 256


def _may_be_attributes(namespace: dict[object, object], held: list[int]) -> bool:
    """Whether ``namespace`` may be an instance's attributes holding the objects whose
    ids are in ``held``: small, with a name (an identifier) for one of them. Only then
    is its owner looked for, with a pass over the heap."""
    if len(namespace) > MAX_ATTRIBUTES:
        return False
    ids = set(held)
    return any(
        id(value) in ids and isinstance(key, str) and key.isidentifier()
        for key, value in list(namespace.items())
    )


def _collects(top: object, members: dict[int, object]) -> bool:
    """Whether ``top``, or a young object under it, is a list, set or deque with entries."""
    reached = young_reachable([top], members)
    return any(isinstance(members[key], _COLLECTING) and members[key] for key in reached)


def cached_on_first_access(
    left: list[object],
    retained: set[int],
    ignore: set[int],
    referrers: list[object] | None = None,
    made: Sequence[object] = (),
) -> list[object]:
    """The objects of ``left`` (what a run left unexplained) held only as lazy
    attributes of instances older than the run (not in ``retained``, ids), with what
    hangs from them. ``ignore`` holds the ids of the caller's own containers;
    ``referrers``, what refers to ``left`` or to more objects that include it, from
    outside them (:func:`~pytest_memguard.confirm.lazy.referrers_outside`), if the
    caller has it; ``made``, the dicts the run made on first access to older objects
    (an instance's ``__dict__`` made when the first lazy value was stored in it)."""
    if not left or len(left) > MAX_OBJECTS:
        return []
    members = keyed_by_id(left)
    tops = [
        top
        for top in top_objects(left)
        # A new link of a chain (``self._last = Node(self._last)``): a re-run judges it.
        if not (_collects(top, members) or older_of_its_kind(top, members))
    ]
    if not tops:
        return []
    top_ids = set(map(id, tops))
    ignore = ignore | {id(members), id(tops)}
    # Per top: None once a holder is no lazy attribute, else whether one was seen.
    lazy: dict[int, bool | None] = dict.fromkeys(top_ids, False)
    dicts: dict[int, tuple[dict[str, object], list[int]]] = {}
    listed = referrers_outside(tops, ignore) if referrers is None else referrers
    made_ids = set(map(id, made))
    for holder in [*listed, *made]:
        ident = id(holder)
        held = list(dict.fromkeys(referred_ids(holder, top_ids)))
        if not held or ident in members:
            continue
        older = ident not in retained or ident in made_ids
        if type(holder) is dict and older and _may_be_attributes(holder, held):
            dicts[ident] = (holder, held)
            continue
        namespace = instance_dict(holder) if older else None
        for key in held:
            _judge(lazy, key, type(holder), namespace)
    if dicts:
        _judge_dicts(lazy, dicts, listed, ignore | set(members))
    explained = [members[key] for key, seen in lazy.items() if seen]
    return [members[key] for key in young_reachable(explained, members)]


def _judge(
    lazy: dict[int, bool | None], top: int, cls: type, namespace: dict[str, object] | None
) -> None:
    """Note whether an instance of ``cls`` with attributes ``namespace`` holds the top
    whose id is ``top`` as the value of one of its lazy attributes."""
    if lazy[top] is None:
        return
    keys = [key for key, held in list((namespace or {}).items()) if id(held) == top]
    # The value is the lazy attribute's, once per instance: another attribute of the
    # same instance naming it too (hypothesis also keeps it as ``_unwrapped``) adds none.
    ok = any(isinstance(key, str) and lazy_attribute(cls, key) for key in keys)
    lazy[top] = True if ok else None


def _judge_dicts(
    lazy: dict[int, bool | None],
    dicts: dict[int, tuple[dict[str, object], list[int]]],
    listed: list[object],
    ignore: set[int],
) -> None:
    """Judge the holders that are dicts by their owners: an instance whose ``__dict__`` a
    dict is holds what it holds as that instance's attributes. The owners of dicts the
    run made are among ``listed`` (what refers to the run's objects); the others are
    looked for with one more pass."""
    owned: set[int] = set()

    def judge_owners(owners: list[object]) -> None:
        for owner in owners:
            if id(owner) in ignore or type(owner) is types.FrameType:
                continue
            namespace = instance_dict(owner)
            if namespace is None or id(namespace) not in dicts or id(namespace) in owned:
                continue
            owned.add(id(namespace))
            for top in dicts[id(namespace)][1]:
                _judge(lazy, top, type(owner), namespace)

    judge_owners(listed)
    unowned = [namespace for key, (namespace, _) in dicts.items() if key not in owned]
    if unowned:
        judge_owners(gc.get_referrers(*unowned))
    for ident, (_, held) in dicts.items():
        if ident not in owned:  # a dict no instance owns: a plain container
            for top in held:
                lazy[top] = None
