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
nothing else explained. The owners a test touches first are usually its module's, or
those of a module it holds by name (a CLI tutorial's command and app, which the test
invokes): a walk down from those namespaces, a few thousand objects at most and never
into a class or another module, finds them first (:func:`referrers_near`), where a
pass over the heap would cost more than re-running a quick test.

A ``threading.local``'s dict for this thread may also be older than the test and new
to the collector: empty, or holding only atomic values, it was not tracked when the
window opened, and the first object stored in it (hypothesis stores the test's
instance in its per-test local) makes it listed among the young objects. The locals
are few and made at import time: while their listing is up to date
(:class:`~pytest_memguard.confirm.listing.HeapListing`), their per-thread dicts are
found without a pass over the heap (:func:`thread_dicts`), with the defaults it holds
(values one level down that hold nothing else the run left).
"""

from __future__ import annotations

import gc
import itertools
import operator
import sys
import types
import weakref
from collections.abc import Sequence
from typing import cast

from pytest_memguard.pytest_internals import PYTEST_PACKAGES
from pytest_memguard.screen.heap import (
    CLASS_NAMESPACE,
    HEAPTYPE,
    all_referents,
    among,
    defined_in,
    instance_dict,
    module_namespaces,
    of_kinds,
    of_types,
)

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
    ids = set(map(id, left))
    # A tuple older than the objects cannot hold them; a new one is the call's own.
    return [
        ref
        for ref in gc.get_referrers(*left)
        if id(ref) not in ignore
        and id(ref) not in ids
        and not issubclass(type(ref), (types.FrameType, tuple))
    ]


#: The top-level packages of pytest and the plugin: no walk near the test starts from
#: their namespaces or enters their objects.
_RUNNER = frozenset({*PYTEST_PACKAGES, __name__.partition(".")[0]})

#: Objects a walk down from a test's module visits at most.
NEAR_MAX = 2000
#: What that walk does not enter: a class's namespace, another module's (nor pytest's
#: objects: :func:`_enterable`).
_NOT_ENTERED = (type, types.ModuleType)


def referrers_near(
    left: list[object], walks: Sequence[Sequence[object]], ignore: set[int]
) -> list[object]:
    """What refers to the objects of ``left`` among what the objects each walk of
    ``walks`` starts from (a test's function; its module and those it imported by name)
    reach: ``referrers_outside`` for the owners a test touches first, at the cost of
    walks down of at most :data:`NEAR_MAX` objects each rather than a pass over the heap.
    A walk enters no other module's namespace, no class (a function's globals would lead
    into its whole package) and nothing an earlier walk entered, but goes on through
    the objects of ``left`` it meets (a declared field's new dict holds another field,
    whose dict is new too); ``ignore`` holds the ids of the caller's own containers.
    Only a dict is made on first access: once each dict of ``left`` has a referrer
    found, the walks stop."""
    if not left or len(left) > MAX_OBJECTS or not any(walks):
        return []
    targets = set(map(id, left))
    unheld = {id(obj) for obj in left if type(obj) is dict}
    elsewhere = set(map(id, module_namespaces()))
    seen = ignore | elsewhere
    found: list[object] = []
    for starts in walks:
        if not unheld:
            break
        found += _walk_near(list(starts), targets, seen, unheld)
    return found


def _walk_near(
    level: list[object], targets: set[int], seen: set[int], unheld: set[int]
) -> list[object]:
    """One walk of :func:`referrers_near` from ``level``, not entering the objects whose
    ids are in ``seen`` (extended with those it enters); it stops once ``unheld``, the
    ids of the dicts of the targets no referrer found holds yet, is empty (the walk
    takes those it finds held out of it)."""
    found: list[object] = []
    entered: set[type] = set()
    refused: set[type] = set()
    visited = 0
    while level and visited < NEAR_MAX and unheld:
        level = level[: NEAR_MAX - visited]
        visited += len(level)
        seen.update(map(id, level))
        referents = gc.get_referents(*level)
        if not targets.isdisjoint(map(id, referents)):
            referring = _referring(level, targets)
            unheld.difference_update(map(id, gc.get_referents(*referring)))
            found += referring
        # Filtered in C first: the referents of a few thousand objects are many more.
        tracked = list(filter(gc.is_tracked, referents))
        fresh = dict(zip(map(id, tracked), tracked, strict=True))
        for key in fresh.keys() & seen:
            del fresh[key]
        candidates = list(itertools.islice(fresh.values(), NEAR_MAX - visited))
        level = _enterable(candidates, entered, refused)
    return found


def _enterable(objects: list[object], entered: set[type], refused: set[type]) -> list[object]:
    """The objects a walk near the test enters: no class, no module, nothing of pytest's
    (its config, session and hook objects lead to every collected item and plugin).
    Decided once per type (``entered`` and ``refused`` remember the answers), then
    picked in C: a level holds up to :data:`NEAR_MAX` objects of a few types."""
    kinds = set(map(type, objects))
    for kind in kinds - entered - refused:
        # The type's own __module__, read from its dict: a lazy object's __class__ is
        # never asked, and a static type (str, dict) has none there.
        module = str(vars(kind).get("__module__", ""))
        enter = not issubclass(kind, _NOT_ENTERED) and not _of_the_runner(module)
        (entered if enter else refused).add(kind)
    if kinds <= entered:
        return objects
    return of_types(objects, entered)


#: Walks near the test that found no owner, free of charge and then per one that did:
#: each costs about a millisecond, and in a suite whose tests touch no such owner of
#: their modules' they stop.
FREE_MISSES = 8
MISSES_PER_FIND = 4


class NearWalks:
    """Whether the walk near the test still pays, from what the session's walks found."""

    def __init__(self) -> None:
        self.walks = 0
        self.found = 0

    def due(self) -> bool:
        """Whether the next suspect's walk is made."""
        return self.walks - self.found < FREE_MISSES + MISSES_PER_FIND * self.found

    def ran(self, found: bool) -> None:
        """Count a walk, and whether it found an owner."""
        self.walks += 1
        self.found += found


def _referring(objs: list[object], targets: set[int]) -> list[object]:
    """The objects of ``objs``, some of which refer to one of ``targets`` (ids), that
    do: halved until found, a few calls rather than one per object."""
    if len(objs) == 1:
        return objs
    half = len(objs) // 2
    found: list[object] = []
    for part in (objs[:half], objs[half:]):
        if not targets.isdisjoint(map(id, gc.get_referents(*part))):
            found += _referring(part, targets)
    return found


def imported_namespaces(module: types.ModuleType) -> list[dict[str, object]]:
    """``module``'s namespace and those of the modules it holds by name (``from docs
    import tutorial as mod``): where a test's first calls find the objects they touch.
    Not pytest's nor the plugin's: the test touches none of their objects first, and
    ``pytest``'s namespace leads through its mark generator to the config, the session
    and every collected item. Nor those of the modules built into the interpreter: their
    namespaces hold its state (``sys.modules``, every path finder's cache of its
    directory), never an object a test's first call made a dict for."""
    namespace = vars(module)
    held = [
        value
        for value in list(namespace.values())
        if issubclass(type(value), types.ModuleType) and _near_the_test(value)
    ]
    return [namespace, *(vars(value) for value in held)]


def _near_the_test(module: types.ModuleType) -> bool:
    name = str(vars(module).get("__name__", ""))
    return name not in sys.builtin_module_names and not _of_the_runner(name)


def _of_the_runner(module_name: str) -> bool:
    """Whether the module named ``module_name`` is pytest's or the plugin's."""
    return module_name.partition(".")[0] in _RUNNER


def declared_attributes(namespaces: Sequence[dict[str, object]]) -> list[object]:
    """What the classes among the values of ``namespaces``, and the classes their bodies
    define (a test class's schema), keep in their own namespace, but their methods,
    properties and classes: the objects a declarative library declares on a class and
    copies for each instance (marshmallow's ``_declared_fields``, an ORM's columns). A
    walk from the module does not enter classes; on 3.11+ the first copy of such an
    object makes its ``__dict__``, which this walk finds held by it."""
    # A static type (datetime's) declares nothing a library copies.
    values = list(itertools.chain.from_iterable(map(list, map(dict.values, namespaces))))
    found = [cls for cls in cast("list[type]", of_kinds(values, type)) if cls.__flags__ & HEAPTYPE]
    classes = dict(zip(map(id, found), found, strict=True))
    outer = list(classes.values())
    while outer:
        namespaces_of_outer = list(map(CLASS_NAMESPACE.__get__, outer))
        values = list(itertools.chain.from_iterable(map(list, map(_VALUES, namespaces_of_outer))))
        nested = set(map(id, of_kinds(values, type))) - classes.keys()
        # Most classes define none: only those holding one have their names read.
        outer = [
            cast(type, value)
            for cls, namespace in zip(outer, namespaces_of_outer, strict=True)
            if not nested.isdisjoint(map(id, namespace.values()))
            for name, value in list(namespace.items())
            if id(value) in nested and defined_in(cast(type, value), cls, name)
        ]
        classes.update(zip(map(id, outer), outer, strict=True))
    namespaces_of_classes = map(CLASS_NAMESPACE.__get__, classes.values())
    # An untracked value holds no container: it cannot hold what a run made.
    own_values = itertools.chain.from_iterable(map(list, map(_VALUES, namespaces_of_classes)))
    return of_kinds(list(filter(gc.is_tracked, own_values)), _NOT_DECLARED, keep=False)


#: A namespace's values (a class's is a mapping proxy).
_VALUES = operator.methodcaller("values")


#: A class's own values that hold no declared objects: its methods, its slots'
#: descriptors and nested classes.
_NOT_DECLARED = (
    types.FunctionType,
    staticmethod,
    classmethod,
    property,
    type,
    types.ModuleType,
    types.MemberDescriptorType,
    types.GetSetDescriptorType,
)


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
    ids = set(map(id, left))
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
    thread_dicts = among(left, per_thread - elsewhere)
    defaults = _defaults(thread_dicts, ids)
    explained = (made | per_thread | defaults) - elsewhere
    return among(left, explained)


def thread_dicts(left: list[object], locals_: list[object]) -> list[object]:
    """The dicts of ``left`` that are a per-thread dict of one of ``locals_`` (the
    session's ``threading.local`` objects), with the values of ``left`` they hold that
    hold nothing else of it: the defaults the local's first use in the thread set
    (``repr_context.already_repring = set()``)."""
    dicts = {id(obj) for obj in left if type(obj) is dict}
    if not dicts or not locals_:
        return []
    per_thread = dicts & set(map(id, per_thread_dicts(*locals_)))
    if not per_thread:
        return []
    # The defaults the first use set, one level down, holding nothing else the run left:
    # a cache's storage made on first use holds entries, which are growth.
    made = among(left, per_thread)
    explained = per_thread | _defaults(made, set(map(id, left)))
    return among(left, explained)


def _defaults(thread_dicts: list[object], members: set[int]) -> set[int]:
    """Ids of the values of ``members`` (ids) a thread's new dicts hold that hold none of
    them: the defaults the first use made, one level down. A cache's storage made on
    first use holds its entries, which are growth, and what the test stored further in
    is not explained here."""
    values = all_referents(thread_dicts) if thread_dicts else []
    return {
        id(value)
        for value in values
        if id(value) in members and members.isdisjoint(map(id, all_referents([value])))
    }


def _lazy_dicts(owner: object) -> tuple[set[int], set[int]]:
    """Ids of the dicts ``owner`` makes on first access: its ``__dict__`` and, for a
    function, its ``__annotations__``; and, apart, for the table of a
    ``threading.local``, its per-thread dicts."""
    if type(owner) is dict:
        return set(), set(map(id, _per_thread(owner)))
    found = set()
    if type(owner) is types.FunctionType:
        found.add(id(owner.__annotations__))
    attributes = instance_dict(owner)
    if attributes is not None:
        found.add(id(attributes))
    return found, set()


def per_thread_dicts(*locals_: object) -> list[dict[str, object]]:
    """Each thread's dict of the ``threading.local`` objects ``locals_``, read from their
    tables of them (in one call): reading a local's attributes would make this thread's
    dict, and show only this thread's."""
    tables = [table for table in gc.get_referents(*locals_) if type(table) is dict]
    return [found for table in tables for found in _per_thread(table)]


def _per_thread(table: dict[object, object]) -> list[dict[str, object]]:
    """The values of ``table`` keyed by a thread: the per-thread dicts when it is a
    ``threading.local``'s table, none otherwise."""
    return [value for key, value in table.items() if type(value) is dict and _is_thread_key(key)]


def _is_thread_key(key: object) -> bool:
    """A key of a ``threading.local``'s table of per-thread dicts: its thread's
    ``_localdummy`` (3.13), or a weak reference to it (3.10 to 3.12). Read by name: the
    type is not exposed; where CPython keeps the table otherwise, no key matches and
    the rule does not apply."""
    if isinstance(key, weakref.ref):
        key = key()
    return type(key).__name__ == "_localdummy"
