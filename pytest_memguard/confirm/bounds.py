"""Reading the bound that keeps a holder's growth finite: growth under it is warm-up.

A bound may be declared on the container itself (``deque(maxlen=N)``, an
``lru_cache(maxsize=N)`` wrapper, an object with a ``maxsize`` attribute), or on an
object further up: hypothesis' strategy cache declares ``max_size`` and keeps its
entries in a list inside a per-thread dict two levels down. The holder is bounded
when every path up from it, within a few steps, meets a declared bound before a
module or a class (which can grow without one).

Finding holders uses ``gc.get_referrers``, O(heap) per call: it runs after the window
closed, only for suspects, one call to find the holders and one per step up for all
of their climbs together; each holder found is remembered by the session's
:class:`~pytest_memguard.screen.holderbook.HolderBook`.
"""

from __future__ import annotations

import collections
import gc
import inspect
import sys
import types
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeGuard

from pytest_memguard.confirm.closures import closure_referrers
from pytest_memguard.screen.heap import (
    Referrers,
    among,
    excluding,
    keyed_by_id,
    known_referrers,
    of_kinds,
    referred_ids,
    top_objects,
    weak_to_known,
    young_reachable,
)
from pytest_memguard.screen.holderbook import LRU_BOUND

#: Attributes a container class declares its bound in: ``deque.maxlen``, cachetools'
#: ``Cache.maxsize``, hypothesis' ``GenericCache.max_size``, an LRU memo's ``_capacity``
#: (each also read with a leading underscore).
BOUND_ATTRIBUTES = ("maxlen", "maxsize", "max_size", "capacity")

#: How many steps up from a holder a bound is looked for, and how many objects on the
#: way up from one holder may be looked above: past either, the holder counts as
#: unbounded.
CLIMB_STEPS = 4
CLIMB_EXPANSIONS = 8


def declared_bound(obj: object) -> str | None:
    """``"deque(maxlen=100)"`` when ``obj`` (not a class) declares a positive whole-number
    bound. Zero or less is none: ``queue.Queue(maxsize=0)`` and asyncio's queues grow
    without limit."""
    # Told by the types: isinstance() would read a lazy proxy's __class__, which may raise.
    if issubclass(type(obj), type):
        return None
    for name in (*BOUND_ATTRIBUTES, *(f"_{name}" for name in BOUND_ATTRIBUTES)):
        try:
            value = getattr(obj, name, None)
        except Exception:  # a property that fails is no bound
            continue
        if _is_whole_number(value) and value > 0:
            return f"{type(obj).__name__}({name}={value})"
    return None


def _is_whole_number(value: object) -> TypeGuard[int]:
    """An int and not a bool, told by the type: isinstance() would read a lazy proxy's
    ``__class__``, which may raise."""
    return issubclass(type(value), int) and type(value) is not bool


#: Words a module constant that bounds one of its module's containers is named with, next
#: to the container's own name: ``re._MAXCACHE`` bounds ``re._cache``.
BOUND_WORDS = ("MAX", "SIZE", "LIMIT", "CAPACITY")


def module_constant_bound(
    namespace: dict[str, object], attribute: str, constants: dict[str, int] | None = None
) -> str | None:
    """``"re._MAXCACHE=512"`` when the module whose namespace is ``namespace`` declares a
    whole-number constant bounding its container ``attribute``: named in capitals after
    the container (``_cache`` -> ``_MAXCACHE``, ``_cache2`` -> ``_MAXCACHE2``) with one of
    :data:`BOUND_WORDS`, or named apart (``_strptime._regex_cache`` and
    ``_CACHE_MAX_SIZE``) with a word of the container's name and read by code that reads
    the container too. The module's code trims the container when it reaches it.
    ``constants`` are the namespace's :func:`bound_constants`, when the caller has them."""
    core = attribute.strip("_").rstrip("0123456789").upper()
    if len(core) < 3:  # a one- or two-letter name would match unrelated constants
        return None
    constants = bound_constants(namespace) if constants is None else constants
    if not constants:
        return None
    module = namespace.get("__name__", "?")
    for name, value in constants.items():
        if core in name and any(word in name.replace(core, "") for word in BOUND_WORDS):
            return f"{module}.{name}={value}"
    words = _name_words(core)
    for name, value in constants.items():
        if not words.isdisjoint(_name_words(name)) and _read_together(namespace, attribute, name):
            return f"{module}.{name}={value}"
    return None


def _name_words(name: str) -> set[str]:
    """The words of a name in capitals, but the bound words and those under 3 letters."""
    return {
        word
        for word in name.upper().split("_")
        if len(word) >= 3 and not any(bound in word for bound in BOUND_WORDS)
    }


def _read_together(namespace: dict[str, object], first: str, second: str) -> bool:
    """Whether some code of the module whose namespace is ``namespace`` (its functions,
    its classes' methods, what they nest) reads both globals ``first`` and ``second``."""
    module = namespace.get("__name__")
    codes = []
    for value in list(namespace.values()):
        # Decided from the type alone: an attribute read on a lazy object may run its code.
        kind = type(value)
        if kind is not types.FunctionType and not issubclass(kind, type):
            continue
        if getattr(value, "__module__", None) != module:
            continue
        members = list(vars(value).values()) if kind is not types.FunctionType else [value]
        codes += [code for code in map(_code_of, members) if code is not None]
    while codes:
        if any(first in code.co_names and second in code.co_names for code in codes):
            return True
        nested = (const for code in codes for const in code.co_consts)
        codes = [const for const in nested if type(const) is types.CodeType]
    return False


def _code_of(value: object) -> types.CodeType | None:
    """The code of a function, or of the function a static or class method wraps; told
    by the types alone, as the namespace's values are."""
    if issubclass(type(value), (staticmethod, classmethod)):
        value = value.__func__  # type: ignore[attr-defined]
    return value.__code__ if type(value) is types.FunctionType else None


def bound_constants(namespace: dict[str, object]) -> dict[str, int]:
    """The whole-number constants a module's namespace names in capitals with one of
    :data:`BOUND_WORDS`: the only ones that can bound its containers."""
    return {
        name: value
        for name, value in list(namespace.items())
        if _is_whole_number(value) and name.isupper() and any(word in name for word in BOUND_WORDS)
    }


def _module_namespace(obj: object) -> TypeGuard[dict[str, object]]:
    """Whether ``obj`` is the namespace dict of an imported module."""
    if type(obj) is not dict:
        return False
    module = sys.modules.get(str(obj.get("__name__")))
    return module is not None and getattr(module, "__dict__", None) is obj


def _bound_in_module(holder: object, namespace: dict[str, object]) -> str | None:
    """The module constant bounding ``holder``, stored in the module ``namespace``."""
    for name, value in list(namespace.items()):
        if value is holder:
            bound = module_constant_bound(namespace, name)
            if bound is not None:
                return bound
    return None


def own_bound(holder: object) -> str | None:
    """The bound ``holder`` itself declares: an ``lru_cache``'s maxsize, or an attribute."""
    if issubclass(type(holder), (type, types.ModuleType)):
        return None
    try:
        cache_info = getattr(holder, "cache_info", None)
        maxsize = cache_info().maxsize if callable(cache_info) else None
        name = str(getattr(holder, "__qualname__", type(holder).__name__))
    except Exception:  # any object's attribute may fail to read
        return None
    if issubclass(type(maxsize), int):
        return f"{LRU_BOUND}maxsize={maxsize}) of {name}"
    if callable(cache_info) and _takes_no_arguments(getattr(holder, "__wrapped__", None)):
        # One key only, the empty call: ``functools.cache`` of a lazy getter.
        return f"{LRU_BOUND}maxsize=None) of {name}, which takes no arguments"
    return declared_bound(holder)


def _takes_no_arguments(func: object) -> bool:
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return False
    variadic = code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    return code.co_argcount == 0 and code.co_kwonlyargcount == 0 and not variadic


#: What the climb answers for a dict held only from C: neither bounded nor unbounded.
_HELD_FROM_C = "<held from C>"


def _c_module_state(holder: object, above: list[object]) -> str | None:
    """``"_struct's C state"`` when only extension modules refer to ``holder`` directly,
    not through their namespace: a container in a C module's private state (``_struct``'s
    cache of compiled formats), whose size that module's C code manages."""
    if not above or not all(type(owner) is types.ModuleType for owner in above):
        return None
    names = []
    for module in above:
        source = str(getattr(module, "__file__", "") or "")
        if source.endswith(".py") or holder is getattr(module, "__dict__", None):
            return None
        names.append(str(getattr(module, "__name__", "?")))
    return ", ".join(f"{name}'s C state" for name in sorted(names))


def c_state_bounds(modules: Iterable[types.ModuleType]) -> list[tuple[object, str]]:
    """The dicts the extension modules among ``modules`` keep in their private state and
    nothing else refers to, each with its bound (``"_struct's C state"``: its cache of
    compiled formats, cleared at 100): what a holder search answers for them, known from
    the scan, so that a run filling one (a parser unpacking a new format) needs no
    search to be told warm-up. Told by reference counts, compared with a dict held once
    in the same way: no pass over the heap."""
    states = [
        (module, state)
        for module in modules
        if not str(vars(module).get("__file__") or "").endswith(".py")
        for state in gc.get_referents(module)
        if type(state) is dict and state is not vars(module)
    ]
    if not states:
        return []
    held_once: list[dict[object, object]] = [{}]
    counted = (*(state for _, state in states), held_once[0])
    counts = list(map(sys.getrefcount, counted))
    # A dict held once: its list's reference and the tuple's; a state's: the module's,
    # its pair's and the tuple's.
    once = counts.pop()
    found: list[tuple[object, str]] = []
    for (module, state), count in zip(states, counts, strict=True):
        bound = _c_module_state(state, [module]) if count == once + 1 else None
        if bound is not None:
            found.append((state, bound))
    return found


@dataclass(eq=False, slots=True)
class _Step:
    """An object on the way up from a holder (``root``, the step of the holder itself,
    None on that step), with ``steps`` more steps to climb above it; decided once its
    bound is known. Steps refer only upwards: no cycle keeps one alive after a search,
    where it would hold what it climbed through."""

    obj: object
    steps: int
    parent: _Step | None
    root: _Step | None = None
    bound: str | None = None
    decided: bool = False
    #: Owners above it not yet decided, and the bounds of those decided.
    waiting: int = 0
    found: set[str] = field(default_factory=set)

    @property
    def holder(self) -> _Step:
        return self if self.root is None else self.root

    def decide(self, bound: str | None) -> None:
        """Decide this step, then its parent: one unbounded owner makes it unbounded, and
        it is bounded once every owner is (a dict held from C counts for neither)."""
        self.decided, self.bound = True, bound
        parent = self.parent
        if parent is None or parent.decided:
            return
        if bound is None:
            parent.decide(None)
            return
        if bound is not _HELD_FROM_C:
            parent.found.add(bound)
        parent.waiting -= 1
        if parent.waiting == 0:
            parent.decide(", ".join(sorted(parent.found)) if parent.found else None)


#: Referrers a climb never takes as owners: running frames and its own steps.
_NOT_OWNERS = (types.FrameType, _Step)


class _Climbs:
    """The searches for a bound above many holders at once, one step up per pass over
    the heap: a search costs at most :data:`CLIMB_STEPS` passes, however many holders
    and owners it climbs through. Each holder may expand ``per_holder`` objects and all
    of them ``in_all``; past that, what is left counts as unbounded. The first holder
    (the caller puts the one keeping most of the growth first) is held to ``per_holder``
    alone."""

    def __init__(
        self,
        skip: set[int],
        per_holder: int,
        in_all: int,
        found: Referrers | None = None,
        through_closures: bool = False,
        at_module_level: Callable[[object], bool] | None = None,
    ) -> None:
        self.skip = skip
        self.through_closures = through_closures
        self.at_module_level = at_module_level
        self.per_holder = per_holder
        self.left = in_all
        self.expanded: dict[int, int] = {}
        self._favoured_step: _Step | None = None
        #: What each object climbed above is referred to by, for a chain search to reuse.
        self.found: Referrers = {} if found is None else found

    def bounds_of(self, holders: list[object]) -> list[str | None]:
        roots = [_Step(holder, CLIMB_STEPS, None) for holder in holders]
        self._favoured_step = roots[0] if roots else None
        level = roots
        while level:
            level = self._climb(self._to_expand(level))
        return [None if root.bound is _HELD_FROM_C else root.bound for root in roots]

    def _to_expand(self, level: list[_Step]) -> list[_Step]:
        """The steps of ``level`` whose bound needs the objects above them; the others
        are decided here."""
        expand = []
        for step in level:
            if step.decided or step.holder.decided:
                continue
            own = own_bound(step.obj)
            if own is not None:
                step.decide(own)
            elif step.steps == 0 or issubclass(type(step.obj), (type, types.ModuleType)):
                step.decide(None)
            elif self.at_module_level is not None and self.at_module_level(step.obj):
                # A module global its module declares no bound for (``linecache.cache``):
                # unbounded, with no pass over the heap to find the namespace keeping it.
                step.decide(None)
            elif not self.through_closures and type(step.obj) is types.CellType:
                # A closure's cell: above it come its function's closure tuple and the
                # function, neither declaring a bound, then what keeps the function (a
                # module, a class, a decorator's wrapper: freezegun's @freeze_time keeps
                # its state in the closure of every test it decorates). Only a function
                # kept in a bounded cache, with a cell a later run rebinds, would be
                # bounded: its re-runs tell that as well, without three passes.
                step.decide(None)
            elif self.expanded.get(id(step.holder), 0) >= self.per_holder or (
                self.left <= 0 and step.holder is not self._favoured_step
            ):
                step.decide(None)  # past the expansions: counted as unbounded
            else:
                if step.holder is not self._favoured_step:
                    self.left -= 1
                self.expanded[id(step.holder)] = self.expanded.get(id(step.holder), 0) + 1
                expand.append(step)
        return expand

    def _climb(self, steps: list[_Step]) -> list[_Step]:
        """One pass over the heap for the owners of every step in ``steps``: each is
        decided from them, or waits for those to climb further (the next level)."""
        if not steps:
            return []
        if self.through_closures:
            cells = [step.obj for step in steps if type(step.obj) is types.CellType]
            unknown = [cell for cell in cells if known_referrers(self.found, cell) is None]
            self.found.update(closure_referrers(unknown))
        above = self._owners([step.obj for step in steps], steps)
        level: list[_Step] = []
        for step in steps:
            if step.holder.decided:
                continue
            owners = above.get(id(step.obj), [])
            if not owners and type(step.obj) is dict:
                # A dict only the interpreter holds (a thread state's dict, which keeps
                # the per-thread dicts of threading.local): no path of code's runs here.
                step.decide(_HELD_FROM_C)
                continue
            in_c_state = _c_module_state(step.obj, owners)
            if in_c_state is not None:
                step.decide(in_c_state)
                continue
            # A module's or a class's namespace can grow without a bound: decided at once.
            if not owners or any(issubclass(type(o), (type, types.ModuleType)) for o in owners):
                step.decide(None)
                continue
            step.waiting = len(owners)
            for owner in owners:
                child = _Step(owner, step.steps - 1, step, step.holder)
                if _module_namespace(owner):
                    child.decide(_bound_in_module(step.obj, owner))
                else:
                    level.append(child)
                if step.decided:
                    break
        return level

    def _owners(self, objs: list[object], steps: list[_Step]) -> dict[int, list[object]]:
        """What refers to each of ``objs``, by its id, less frames and the climb's own
        containers: one pass over the heap for those whose referrers are not known."""
        # What an earlier pass, or the closures of the functions modules hold, found.
        known = {
            id(obj): found
            for obj in objs
            if (found := known_referrers(self.found, obj)) is not None
        }
        targets = tuple(obj for obj in objs if id(obj) not in known)
        ids = set(map(id, targets))
        mine = {id(targets), id(objs), id(steps), *map(id, steps)}
        # What the earlier passes found, kept for a chain search, refers to this level.
        mine |= _entry_ids(self.found)
        # One object looked above (most levels): every referrer is its owner.
        single = list(ids) if len(ids) == 1 else None
        above: dict[int, list[object]] = {}
        for ref in gc.get_referrers(*targets) if targets else ():
            if id(ref) in self.skip or id(ref) in mine or issubclass(type(ref), _NOT_OWNERS):
                continue
            for key in single or dict.fromkeys(referred_ids(ref, ids)):
                above.setdefault(key, []).append(ref)
        for target in targets:
            self.found[id(target)] = (target, above.get(id(target), []))
        for key, owners in known.items():
            above[key] = [o for o in owners if id(o) not in self.skip and id(o) not in mine]
        return above


@dataclass
class Holders:
    """The direct holders of a group of objects, each with its bound if it has one."""

    bounds: dict[int, str] = field(default_factory=dict)
    holders: list[object] = field(default_factory=list)
    #: Containers among the objects whose holder is bounded: the cache's own storage,
    #: made by the run and kept, where later runs add their entries.
    storage: list[tuple[object, str]] = field(default_factory=list)
    #: What the climbs above the holders found referring to each object they climbed
    #: through (frames and the search's own objects left out), by id.
    referrers: Referrers = field(default_factory=dict)

    @property
    def all_bounded(self) -> bool:
        return bool(self.holders) and len(self.bounds) == len(self.holders)

    def cover(self, retained: list[object], net_growth: int) -> bool:
        """Whether the bounded holders account for a run's whole net growth: they hold
        (down through ``retained``) at least ``net_growth`` of its objects, so what the
        others hold is no more than objects replacing ones that died (hypothesis resets
        a set of recursion limits on every run, next to its bounded strategy cache)."""
        if self.all_bounded:
            return True
        bounded = among(self.holders, self.bounds)
        if not bounded or net_growth <= 0:
            return False
        young = keyed_by_id(retained)
        reached = young_reachable(gc.get_referents(*bounded), young)
        # A weak reference keeps nothing alive: one to what the bounded holders keep (or
        # to an older object) is theirs too (typing's caches register weak references
        # to the classes they hold).
        refs = of_kinds(excluding(retained, reached), weakref.ref)
        weak = weak_to_known(refs, young, reached)
        return len(reached) + len(weak) >= net_growth

    def unbounded(self) -> list[object]:
        return excluding(self.holders, self.bounds)

    def without(self, ids: set[int]) -> Holders:
        """These holders less those whose id is in ``ids``."""
        return Holders(
            {key: bound for key, bound in self.bounds.items() if key not in ids},
            excluding(self.holders, ids),
            self.storage,
        )

    def own_ids(self) -> set[int]:
        """Ids of this record and its lists: they refer to holders, and hold nothing."""
        return {
            id(self),
            id(self.bounds),
            id(self.holders),
            id(self.storage),
            id(self.referrers),
            *map(id, self.storage),
            *_entry_ids(self.referrers),
        }


def _entry_ids(found: Referrers) -> set[int]:
    """Ids of the entries of ``found`` and of their lists: they refer to the objects
    climbed through and to their referrers, and hold nothing of the test's."""
    return {key for entry in found.values() for key in (id(entry), id(entry[1]))}


#: Types a cache keeps its entries in.
_STORAGE = (dict, list, set, collections.deque, collections.OrderedDict)


#: Containers below one bounded top that are remembered as its storage, at most.
_STORAGE_PER_TOP = 32


def _storage_below(top: object, members: set[int]) -> list[object]:
    """The containers among ``members`` (ids) reachable from ``top`` (itself included)
    through containers only: where a cache made by the run keeps the entries later runs
    add. ``top`` itself is entered whatever it is (a cache object keeps its storage in
    its attributes), an entry that is no container is not: a cached strategy's or
    class's attributes, a generated function's globals, are that entry's own, and each
    would cost every later triage a look."""
    found: list[object] = []
    frontier = [top]
    seen = {id(top)}
    while frontier and len(found) < _STORAGE_PER_TOP:
        containers = [obj for obj in frontier if type(obj) in _STORAGE]
        found += containers
        entered = frontier if frontier[0] is top else containers
        frontier = [
            ref for ref in gc.get_referents(*entered) if id(ref) in members and id(ref) not in seen
        ]
        seen.update(map(id, frontier))
    return found[:_STORAGE_PER_TOP]


#: Holders whose bound is looked for at most; past them a group counts as unbounded.
MAX_HOLDERS = 16
#: Objects the climbs above all the holders of one group may look above: a group held
#: by many objects (a setting replaced in every instance of a class) must not make
#: every pass list the referrers of hundreds (``gc.get_referrers`` compares each
#: reference with every object asked about).
FIND_EXPANSIONS = 24


def find_holders(
    objs: list[object],
    ignore: Iterable[object] = (),
    skip_ids: Iterable[int] = (),
    for_chains: bool = False,
    at_module_level: Callable[[object], bool] | None = None,
) -> Holders:
    """Who holds the tops of ``objs`` from outside them, and which of those are bounded.

    One pass over the heap finds every holder of every top (``gc.get_referrers`` of all
    of them at once); then the bounds of all the holders are looked for above them,
    one pass per step up. Objects
    with no holder the collector can see (held from C) are left out. Runs with the
    heap unfrozen, for suspects only. ``skip_ids`` are the caller's own containers.
    ``for_chains``: the climbs' referrers will spare a chain search its passes, so they
    go up through a closure's cell to its function, the way a chain is named; a search
    that only decides bounds stops at the cell. ``at_module_level`` tells the module
    globals whose modules declare no bound: the climbs of a search that is not for
    chains stop at them without a pass (a chain search needs their namespaces).
    """
    found = Holders()
    if not objs:
        return found
    tops = top_objects(objs)
    members = set(map(id, objs))
    skip = set(map(id, ignore)) | {id(objs), id(tops), id(found.holders)} | members
    skip.update(skip_ids)
    # A tuple is immutable: one older than the objects cannot hold them, and a new one
    # outside them is the search's own (3.13 lists the call's argument tuple).
    direct = [
        ref
        for ref in gc.get_referrers(*tops)
        if id(ref) not in skip and not issubclass(type(ref), (types.FrameType, tuple))
    ]
    skip.add(id(direct))  # the list of holders is no holder of theirs
    found.holders.extend(direct)
    if len(direct) > 1:
        # The holders of most tops first, the first of them climbed as far as one
        # holder alone would be: a cache filled with hundreds of a run's entries must
        # not go unclimbed behind the dozens of holders that each keep one.
        top_ids = set(map(id, tops))
        direct.sort(key=lambda holder: len(referred_ids(holder, top_ids)), reverse=True)
    climbed = direct[:MAX_HOLDERS]  # the others are counted, not climbed: unbounded
    skip.add(id(climbed))
    skip.add(id(found.referrers))
    climbs = _Climbs(
        skip,
        CLIMB_EXPANSIONS,
        FIND_EXPANSIONS,
        found.referrers,
        through_closures=for_chains,
        at_module_level=None if for_chains else at_module_level,
    )
    bounds = climbs.bounds_of(climbed)
    for holder, bound in zip(climbed, bounds, strict=True):
        if bound is None:
            continue
        found.bounds[id(holder)] = bound
        held = {id(ref) for ref in gc.get_referents(holder)}
        for top in tops:
            if id(top) in held:
                found.storage += [(inner, bound) for inner in _storage_below(top, members)]
    return found
