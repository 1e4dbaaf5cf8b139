"""Who holds a survivor: telling pytest's own bookkeeping apart from a test's leak.

pytest keeps objects per test (reports, captured warnings, the traceback of a failed
test in ``sys.last_*``, the item's caches, the setup stack of higher-scoped nodes) and
fixtures of a wider scope keep their values past the test. Young objects reachable
from those holders are not the test's: they are discounted by *what holds them*, not
by a fixed count.
"""

from __future__ import annotations

import collections
import functools
import gc
import itertools
import operator
import sys
import types
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any, cast

import pytest

from pytest_memguard.pytest_internals import (
    PYTEST_PACKAGES,
    cached_value,
    config_store,
    fixture_defs,
    made_instance,
    setup_stack_finalizers,
    stash_values,
)
from pytest_memguard.screen.heap import (
    HEAPTYPE,
    HELD_BY_A_LIST,
    all_referents,
    excluding,
    is_a,
    of_kinds,
    of_types,
    reference_counts,
)
from pytest_memguard.screen.holderbook import newest_of

#: The collection nodes' base classes: ABCs, whose ``isinstance`` runs Python code, so
#: a node is told by its type's MRO (no one registers a virtual node class).
_NODES = frozenset({pytest.Item, pytest.Collector})
#: How many of an ordered container's newest entries are seeds.
NEWEST = 256
_CONTAINERS = (list, tuple, set, frozenset, collections.deque)
_SIZED = (dict, *_CONTAINERS)
_RECORDS = (warnings.WarningMessage, pytest.TestReport, pytest.CollectReport)
_SYS_EXCEPTION_SLOTS = ("last_exc", "last_value", "last_traceback", "last_type")


def values_and_items(mapping: Mapping[str, object]) -> list[object]:
    """The values of ``mapping`` (attributes, a frame's locals), and the keys, values or
    items of those that are plain containers: their newest :data:`NEWEST` entries for
    ordered ones (what a run adds is appended), so a list of a thousand reports kept by
    the terminal reporter costs no more than a short one."""
    values = list(mapping.values())
    return values + newest_of(_sized_among(values), NEWEST)


def _sized_among(values: list[object]) -> list[Any]:
    """The containers of :data:`_SIZED` among ``values``, picked in C by their types."""
    kinds = set(map(type, values)) - _ATOMIC
    others = list(kinds - _EXACTLY_SIZED)  # a plugin's own objects, a container's subclass
    subclasses = compress(others, map(issubclass, others, repeat(_SIZED)))
    sized = (kinds & _EXACTLY_SIZED).union(subclasses)
    return of_types(values, sized) if sized else []


#: The containers of :data:`_SIZED` themselves, known without asking ``issubclass``.
_EXACTLY_SIZED = frozenset(_SIZED)
#: The types of most attribute values, which are no containers: not asked about.
_ATOMIC = frozenset({type(None), bool, int, float, str, bytes})


def _values_and_items(obj: object) -> list[object]:
    """``obj``'s attribute dict and :func:`values_and_items` of it."""
    try:
        attributes = vars(obj)
    except TypeError:
        return []
    # On 3.11+ the dict is materialized lazily, maybe inside the window: young itself.
    return [attributes, *values_and_items(attributes)]


def _node_state(node: object) -> list[object]:
    """What a collection node keeps: its attributes (their keys and items), and the
    attributes of the plain instances among them, such as the test-class instance pytest
    keeps on a method's item for the whole session."""
    return _with_instances_state(_values_and_items(node))


def _with_instances_state(found: list[object]) -> list[object]:
    """``found``, and the attributes of the plain instances among it."""
    for value in _plain_instances(found):
        if not _is_node(value):
            # Slots as well as the instance dict (gc.get_referents reads both, but the
            # dict only before 3.13).
            found += gc.get_referents(value)
            found += _values_and_items(value)
    return found


@dataclass
class FixtureLedger:
    """Wider-scoped fixture definitions executed while a window was open."""

    fixturedefs: list[Any] = field(default_factory=list)

    def record(self, fixturedef: Any) -> None:
        self.fixturedefs.append(fixturedef)

    def clear(self) -> None:
        self.fixturedefs.clear()

    def wider_scoped(self) -> Iterator[Any]:
        return iter(self.fixturedefs)


def fixture_labels(ledger: FixtureLedger) -> dict[int, str]:
    """``id(value) -> "fixture 'db' (session)"`` for wider-scoped fixture values."""
    labels: dict[int, str] = {}
    for fixturedef in ledger.wider_scoped():
        has_value, value = cached_value(fixturedef)
        if has_value:
            labels[id(value)] = f"fixture {fixturedef.argname!r} ({fixturedef.scope})"
    return labels


def cheap_seeds(held_by_us: list[Any]) -> list[object]:
    """Holders that cost nothing to name: the run's reports (and whatever else the plugin
    itself keeps across runs of one window), and ``sys.last_*``. A list, not a generator:
    this runs for every test, and resuming a generator per seed costs more than the walk."""
    seeds: list[object] = [held_by_us, *held_by_us]
    for held in held_by_us:
        if isinstance(held, (list, tuple)):
            seeds += held
    # Read from the module's dict: a missing module attribute costs a formatted
    # AttributeError, four of them per test.
    seeds += map(vars(sys).get, _SYS_EXCEPTION_SLOTS)
    return seeds


def item_seeds(item: pytest.Item, young: list[object]) -> list[object]:
    """What pytest keeps for this item alone: its attributes (the test-class instance
    and its state), its stash, and the warnings and reports recorded during the run
    (pytest's catch_warnings, pytest 9's subtests). Cheap: read for every test that
    leaves objects; a list, as :func:`cheap_seeds`."""
    seeds = _node_state(item)
    seeds += stash_values(item)
    seeds += _records(young)
    return seeds


def dropped_seeds(item: pytest.Item, opened_with: weakref.ref[object] | None) -> list[object]:
    """What the test-class instance pytest made before the run (``opened_with``, weakly)
    keeps, when the run dropped it and it is still alive: pytest 9 makes a unittest
    case's instance as it collects and drops it at teardown, and a ``setUp`` referring
    to the case itself (a partial of its own method) leaves a cycle through that older
    instance that only a full collection frees. It is pytest's to drop, never a holder
    of the code under test's (on dateutil's suite, learned as one, it spent the budget
    that its ``gettz`` cache's suspects needed). Read last, for what nothing else
    holds."""
    instance = opened_with() if opened_with is not None else None
    if instance is None or made_instance(item) is instance:
        return []
    return _with_instances_state([instance])


def _records(objects: list[object]) -> list[object]:
    """The warnings and reports among ``objects``, picked in C by their types: a run
    that rebuilds a grammar leaves thousands of objects, and an isinstance() each
    would cost that test a hundred microseconds."""
    return of_kinds(objects, _RECORDS)


def shared_holders(item: pytest.Item, ledger: FixtureLedger) -> Iterator[object]:
    """The containers pytest shares between tests: the state of every node above the
    item (their caches), the finalizers on the setup stack, fixture definitions with
    their values, and what pytest's own objects reach from those within a few steps.
    Their referents are the seeds; walked in full only when cheaper holders leave
    survivors (see :class:`SharedHolders`)."""
    for node in item.listchain()[:-1]:
        yield from _containers(node)
    finalizers = setup_stack_finalizers(item.session)
    yield from finalizers
    defs = fixture_defs(item)
    for fixturedef in defs:
        yield from _containers(fixturedef)
    yield from through_pytest([*defs, *ledger.wider_scoped(), *finalizers])


def _containers(obj: object, depth: int = 1) -> Iterator[object]:
    """``obj``'s attribute dict and its container values (and, ``depth`` levels down,
    those of the plain instances among them): objects whose referents may be young."""
    try:
        attributes = vars(obj)
    except TypeError:
        return
    yield attributes
    for value in list(attributes.values()):
        if issubclass(type(value), (dict, *_CONTAINERS)):
            yield value
        elif depth and not _is_node(value) and _is_plain_instance(value):
            yield value
            yield from _containers(value, depth - 1)


#: Shared holders remembered at most (each is a container pytest keeps for the session).
_SHARED_MAX = 256
#: A shared holder with more referents than this is data, not read.
_SHARED_REFERENTS_MAX = 10_000


class FullWalks:
    """When a screened run walks the whole of pytest's and the plugins' state.

    Those walks find what pytest keeps of a run in its shared containers: the value of
    a wider-scoped fixture the run set up, the finalizers of a scope the run entered (a
    module's or a class's first test), the per-test state a plugin keeps. Each costs
    about a millisecond on real suites, and there almost all of them found nothing: on
    six suites, every find but two came with a wider fixture set up, a new scope, or
    right after a walk that found something. So a screen walks only then. What a skipped
    walk would have found stays the run's own: its test is a suspect, whose repetitions
    always walk (and teach the cheaper holders), so a wrong skip costs a re-run, never a
    verdict.
    """

    def __init__(self) -> None:
        self._parent: object = None
        self._found = False

    def due(self, item: pytest.Item, ledger: FixtureLedger) -> bool:
        """Whether ``item``'s screened run walks (its survivors are not all explained)."""
        return (
            self._found
            or item.parent is not self._parent
            or next(ledger.wider_scoped(), None) is not None
        )

    def screened(self, item: pytest.Item, found: bool) -> None:
        """Note a screened run: whether its walks (if any) found what pytest holds."""
        self._parent = item.parent
        self._found = found


class SharedHolders:
    """Shared pytest containers that held a survivor before, read first for every test;
    the full walk of :func:`shared_holders` runs only when survivors remain after them."""

    def __init__(self) -> None:
        self._known: list[object] = []
        self._ids: set[int] = set()

    def known_seeds(self) -> list[object]:
        """The referents of the holders remembered, once those that only this list still
        holds are forgotten: a finished test's fixture request or traceback holds
        nothing of a later test's, and walking it (and keeping it alive) would cost
        every test after it, and the room of holders still in use."""
        counts = reference_counts(self._known)
        if counts and min(counts) <= HELD_BY_A_LIST:
            # In place: a new list made inside the window would be young itself.
            self._known[:] = [
                holder
                for holder, count in zip(self._known, counts, strict=True)
                if count > HELD_BY_A_LIST
            ]
            self._ids.clear()
            self._ids.update(map(id, self._known))
        return gc.get_referents(*self._known) if self._known else []

    def learn(self, holders: Iterable[object], remaining: set[int]) -> list[object]:
        """Every holder and its referents; the holders reaching any of ``remaining``
        are remembered. Listed in C, holder by holder: a full walk meets a thousand
        holders, and a loop over them cost a screen a millisecond (arrow's suite walks
        at the first test of each of its hundred classes)."""
        listed = list(holders)
        # Data (a wider fixture's value), not pytest's bookkeeping: a container's
        # length says so without listing a million referents first.
        sized = cast("list[Sized]", of_types(listed, _EXACTLY_SIZED))
        large = map(operator.lt, repeat(_SHARED_REFERENTS_MAX), map(len, sized))
        data = set(map(id, compress(sized, large)))
        readable = excluding(listed, data) if data else listed
        referents = list(map(gc.get_referents, readable))
        small = list(map(operator.ge, repeat(_SHARED_REFERENTS_MAX), map(len, referents)))
        read = list(compress(readable, small))
        read_referents = list(compress(referents, small))
        self._remember(read, read_referents, remaining)
        return listed + list(itertools.chain.from_iterable(read_referents))

    def _remember(
        self, holders: list[object], referents: list[list[object]], remaining: set[int]
    ) -> None:
        """Remember the ``holders`` that are, or refer to, one of ``remaining``."""
        if len(self._known) >= _SHARED_MAX:
            return
        apart = map(remaining.isdisjoint, map(map, repeat(id), referents))
        reaching = map(
            operator.or_, map(remaining.__contains__, map(id, holders)), map(operator.not_, apart)
        )
        for holder in compress(holders, reaching):
            if id(holder) not in self._ids and len(self._known) < _SHARED_MAX:
                self._ids.add(id(holder))
                self._known.append(holder)


#: How far the walk through pytest's own objects goes, and how many it visits at most.
_PYTEST_DEPTH = 4
_PYTEST_VISITS = 20_000
_PYTEST_CONTAINER_MAX = 1_000
#: The containers the walk through pytest's state passes, up to a length.
_CONTAINER_KINDS = frozenset({list, tuple, dict, set, frozenset, collections.deque})
#: Passed through whatever their size: they hold a few objects each.
_SMALL_PASSABLE = frozenset({functools.partial, types.CellType, types.MethodType})
_PASSABLE_KINDS = _CONTAINER_KINDS | _SMALL_PASSABLE


def _is_node(obj: object) -> bool:
    return not _NODES.isdisjoint(type(obj).__mro__)


def _pytests_among(objects: list[object]) -> list[object]:
    """The objects the walk through pytest's state may pass through: a plain container
    (one of more than :data:`_PYTEST_CONTAINER_MAX` items is data, a wider fixture's
    value: entering it would make every test pay for its size), a partial, a cell, or an
    object of pytest, pluggy or a pytest plugin, other than a collection node. Decided
    per type; only the containers' lengths are read one by one."""
    kinds = set(map(type, objects))
    containers = kinds & _CONTAINER_KINDS
    passing = (kinds & _SMALL_PASSABLE).union(
        kind
        for kind in kinds - _PASSABLE_KINDS
        if _NODES.isdisjoint(kind.__mro__)
        and str(getattr(kind, "__module__", None) or "").startswith(PYTEST_PACKAGES)
    )
    picked = of_types(objects, passing)
    if containers:
        sized = of_types(objects, containers)
        lengths = map(len, cast("list[Sized]", sized))
        small = map(operator.ge, repeat(_PYTEST_CONTAINER_MAX), lengths)
        picked += compress(sized, small)
    return picked


def through_pytest(roots: list[object]) -> Iterator[object]:
    """What pytest's objects reach from ``roots`` (fixture definitions, finalizers) within
    a few steps, passing through *old* objects too: a wider-scoped fixture's finalizer
    keeps the request of the test that first used it, and that request the state the
    test's setup filled. Collection nodes, functions and modules are not entered."""
    seen: set[int] = set()
    frontier = _pytests_among(roots)
    for _ in range(_PYTEST_DEPTH):
        if not frontier or len(seen) > _PYTEST_VISITS:
            return
        seen.update(map(id, frontier))
        reached = all_referents(frontier)
        yield from reached
        frontier = _pytests_among(excluding(reached, seen))


#: What no plain instance is: a class, a module, a function or a method.
_NOT_PLAIN = (type, types.ModuleType, types.FunctionType, types.MethodType)


def _is_plain_instance(value: object) -> bool:
    """An instance of a Python class (its state may sit in slots): not a type, module,
    function or a builtin container."""
    return _is_plain_kind(type(value))


def _is_plain_kind(kind: type) -> bool:
    return bool(kind.__flags__ & HEAPTYPE) and not issubclass(kind, _NOT_PLAIN)


def _may_gain_state(kind: type) -> bool:
    """Whether instances of ``kind`` are plain and may be given attributes after they
    are made: a frozen dataclass's never are (pytest's marks, call specs and fixture
    infos, on every item, made as it collects and never changed), so an old one holds
    nothing a test made."""
    if not _is_plain_kind(kind):
        return False
    params = getattr(kind, "__dataclass_params__", None)
    return not getattr(params, "frozen", False)


def _plain_instances(values: list[object]) -> list[object]:
    """The plain instances among ``values`` that may have been given attributes since
    they were made, picked in C by their types, each type asked about once: an item's
    attributes and their entries are read for every test that leaves objects."""
    kinds = set(filter(_may_gain_state, set(map(type, values))))
    return of_types(values, kinds) if kinds else []


def _is_instance_with_state(value: object) -> bool:
    if issubclass(type(value), _NOT_PLAIN):
        return False
    return is_a(getattr(value, "__dict__", None), dict)


class PluginState:
    """The attribute dicts of pytest's plugin objects, as holders of per-test objects.

    Plugins keep session-lived objects that swap in fresh per-test state (the logging
    plugin's capture handlers reset their records list and stream every phase). Those
    young objects are pytest's. Walking every plugin's state per test would cost too
    much, so the dicts that ever held a survivor are remembered and checked first; the
    full walk runs only when survivors remain after every cheaper holder.
    """

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._active: list[dict[str, Any]] = []
        self._active_ids: set[int] = set()
        #: The lengths of the containers the known dicts held as the window opened, by id.
        self._lengths: dict[int, int] = {}

    def _candidate_dicts(self) -> Iterator[dict[str, Any]]:
        roots: list[object] = [self._config, config_store(self._config)]
        roots.extend(
            plugin
            for plugin in self._config.pluginmanager.get_plugins()
            if _is_instance_with_state(plugin)
        )
        seen: set[int] = set()
        for root in roots:
            if root is None or not _is_instance_with_state(root):
                continue
            for owner in [root, *vars(root).values()]:
                if id(owner) in seen or not _is_instance_with_state(owner):
                    continue
                seen.add(id(owner))
                yield vars(owner)

    def opening(self) -> None:
        """Note the lengths of the containers the known plugin dicts hold, by id, as a
        window opens: one that keeps its length gained no entry, and its items are no
        seeds (the assertion rewriter's caches of hundreds of names would cost every
        test). Ids, not the containers: the plugin must not keep alive what pytest
        replaces (the logging plugin's list of records, every phase), nor what it holds
        (a file a replaced list held would still be open when the sentinels look)."""
        sized = _sized_among(self._values())
        self._lengths = dict(zip(map(id, sized), map(len, sized), strict=True))

    def known_seeds(self) -> list[object]:
        """Values (and the items of the containers that changed length) of the plugin
        dicts that held survivors before: cheap to read, in C. A container put in place
        during the run, under an id of its own or a dead one's, is young: the walk from
        these seeds enters it. An entry replaced in place is left to the full walk, run
        only when survivors remain."""
        seeds = self._values()
        sized = _sized_among(seeds)
        now = list(map(len, sized))
        noted = map(self._lengths.get, map(id, sized), now)
        return seeds + newest_of(list(compress(sized, map(operator.ne, now, noted))), NEWEST)

    def _values(self) -> list[object]:
        """The values of the known plugin dicts, read in C."""
        return list(itertools.chain.from_iterable(map(dict.values, self._active)))

    def learn(self, remaining: set[int]) -> list[object]:
        """Walk every plugin dict; remember those holding any of ``remaining``, and
        return their values and items."""
        found: list[object] = []
        for state in self._candidate_dicts():
            values = values_and_items(state)
            if not remaining.isdisjoint(map(id, values)):
                self._remember(state)
                found += values
        return found

    def adopt(self, holders: list[object]) -> set[int]:
        """Ids of the ``holders`` (found by a search) that are plugin state: a plugin's
        dict or a container in one (the terminal reporter's ``stats`` gains a list for a
        new outcome). Their dicts are remembered, so later runs read them as pytest's
        without a walk, and no cache of the code under test is learned in their place."""
        ids = set(map(id, holders))
        owned: set[int] = set()
        for state in self._candidate_dicts():
            held = ids.intersection(map(id, state.values()))
            if id(state) in ids or held:
                owned |= held | ({id(state)} & ids)
                self._remember(state)
        return owned

    def _remember(self, state: dict[str, Any]) -> None:
        if id(state) not in self._active_ids:
            self._active_ids.add(id(state))
            self._active.append(state)
