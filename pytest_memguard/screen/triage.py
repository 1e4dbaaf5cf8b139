"""Sorting a screened run's retained objects by who holds them, without a re-run.

Most of what real tests leave behind is warm-up, and most warm-up can be recognised
on the run itself by its holder:

- weak references to objects older than the test (the ABC caches that
  ``isinstance`` fills, ``WeakSet`` registries of old classes), and sets holding only
  such references: they keep nothing alive, and there is at most one per old object
  (discounted like pytest's own bookkeeping, with no warm-up verdict); a watched list
  they grow is not explained by them, since a list keeps a new one on every call (a
  signal registry appending a weak reference to the same receiver at each connect);
- modules the test imported (made by the import system: with a spec), with everything
  they reach;
- entries of a holder the session learned to be bounded (a cache declaring its bound,
  an ``lru_cache`` with a ``maxsize``), or learned to be full (a re-run showed it stop
  growing) whose length did not grow, or that grows once per key (re-runs showed its
  growth stop for several tests), with the constants of the functions among those
  entries: the collector does not track code objects, so a walk reaches a compiled
  template's constants only through its function's code;
- entries a dict gained under the identifiers of running threads: one per thread;
- entries of a root already confirmed as leaking: its leak again when the root's
  length grew, a replacement when it did not; nothing when the run emptied it (its
  oldest entry is gone: a cache cleared and refilled, not a leak growing).

Neither a filled holder nor a root that did not grow explains a new entry that refers
to an older object of its own type: that is a chain one link longer (settings made with
the last ones as parent), not a replacement.

What no rule explains leaves the test a suspect. Runs inside the window: the young
heap is what ``gc.get_objects()`` lists, and every walk goes down from a holder into
young objects only, so the cost is what the holders and the test hold.
"""

from __future__ import annotations

import collections
import gc
import operator
import re
import sys
import threading
import types
import weakref
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from itertools import chain, compress, islice, repeat
from typing import NamedTuple, TypeGuard, cast

from pytest_memguard.explain.owners import is_stdlib_owned
from pytest_memguard.screen.containers import Growth, cache_entries
from pytest_memguard.screen.heap import (
    CLASS_NAMESPACE,
    CONTEXT_STATE,
    HELD_BY_A_LIST,
    all_referents,
    among,
    beneath,
    excluding,
    instance_dict,
    is_a,
    keyed_by_id,
    of_kinds,
    of_types,
    older_of_its_kind,
    reference_counts,
    referents_through_dicts,
    shallow_bytes,
    top_objects,
    weak_to_known,
    young_reachable,
)
from pytest_memguard.screen.holderbook import (
    HolderBook,
    Learned,
    added_entries,
    contents,
    grown,
)

#: Why growth under a declared bound is warm-up.
HELD_BY_BOUNDED = "held by a bounded cache"
#: Why a dict's entries keyed by running threads' identifiers are warm-up.
ONE_PER_THREAD = "one entry per running thread"
#: Why a defaultdict's empty entries under keys written in the code are warm-up.
MADE_ON_READ = "a defaultdict's empty entry made on reading a key written in the code"
#: Why a registry gaining classes the run defined, under their own names, is warm-up.
NAMED_CLASSES = "a registry took a class the run defined, under its own name"

#: Entries of a bounded cache walked down from (its newest, past this many): a full cache
#: may put a new entry anywhere (hypothesis' LRU keeps a heap in a list of its bound's
#: length), and its bound caps what the walk costs.
BOUNDED_WALKED = 4096


class Triage(NamedTuple):
    """What the screen made of a run's retained objects.

    ``explained`` of them are warm-up for the reasons in ``why``; ``roots`` are the
    confirmed-leak roots whose holders grew; ``unexplained`` is what is left, in
    objects and shallow bytes: a run with any is a suspect.
    """

    explained: int = 0
    unexplained: int = 0
    unexplained_bytes: int = 0
    why: tuple[str, ...] = ()
    roots: tuple[str, ...] = ()
    #: Entries added to watched containers that the book knows (bounded, or a root).
    growth_explained: int = 0
    #: Ids of the retained objects the rules explained (the rest is what to look into).
    explained_ids: frozenset[int] = frozenset()
    #: Of those, the ones the interpreter's own bookkeeping explains: what imported
    #: modules reach, weak references to older objects.
    bookkeeping_ids: frozenset[int] = frozenset()
    #: Of those, the weak references (and the sets holding only them): bookkeeping in a
    #: set or dict, which keeps one per object or key, never in a list, which can keep
    #: a new one on every call.
    weak_ids: frozenset[int] = frozenset()
    #: What the run added to the roots that grew, in objects and shallow bytes: the
    #: same figure a re-run of a confirmed leak measures.
    root_objects: int = 0
    root_bytes: int = 0

    def unexplained_of(self, retained: list[object]) -> list[object]:
        """The objects of ``retained`` no rule explained (picked in C: a run that loaded
        every locale's data leaves 200,000 objects, and several rules ask)."""
        explained = map(self.explained_ids.__contains__, map(id, retained))
        return list(compress(retained, map(operator.not_, explained)))

    def within(self, growth: list[object]) -> Triage:
        """This triage with only the objects of ``growth`` left unexplained: a repetition
        sorts all the objects it made, and those that merely replace what the run before
        made (and died since) are no growth, explained or not."""
        left = self.unexplained_of(growth)
        return self._replace(unexplained=len(left), unexplained_bytes=shallow_bytes(left))

    def explained_first(self, objs: list[object], why: str) -> Triage:
        """This triage of some objects, with ``objs`` beside them, which a rule applied
        before it explained by ``why``."""
        if not objs:
            return self
        return self._replace(
            explained=self.explained + len(objs),
            why=tuple(dict.fromkeys((why, *self.why))),
            explained_ids=self.explained_ids | set(map(id, objs)),
        )

    def explaining(self, objs: list[object], why: str) -> Triage:
        """This triage with ``objs``, some of those it left unexplained, explained by
        ``why`` (a rule that needs the heap unfrozen, applied after the window)."""
        if not objs:
            return self
        return self._replace(
            explained=self.explained + len(objs),
            unexplained=max(self.unexplained - len(objs), 0),
            unexplained_bytes=max(self.unexplained_bytes - shallow_bytes(objs), 0),
            why=tuple(dict.fromkeys((*self.why, why))),
            explained_ids=self.explained_ids | set(map(id, objs)),
        )


class _WeakCandidates(NamedTuple):
    """The weak references among a run's retained objects, and the non-empty sets and
    dicts that may hold nothing else: picked out once per triage, by type, in C (the
    rule runs twice, and a class-defining test leaves hundreds of objects)."""

    refs: list[object]
    maps: list[object]


def _weak_candidates(retained: list[object], kinds: set[type]) -> _WeakCandidates:
    """The candidates of ``retained``, whose types are ``kinds``."""
    # issubclass on the type: isinstance() would read a proxy's __class__.
    weak = {kind for kind in kinds if issubclass(kind, weakref.ref)}
    if not weak:  # most runs leave no weak reference
        return _WeakCandidates([], [])
    refs = of_types(retained, weak)
    maps = of_types(retained, _MAPS)
    return _WeakCandidates(refs, maps)


#: The containers a registry of weak references is kept in.
_MAPS = frozenset({set, dict})


def _weak_to_known(
    candidates: _WeakCandidates, young: dict[int, object], known: set[int]
) -> set[int]:
    """Weak references to old objects (or to ``known`` young ones) with their
    callbacks, and the sets holding nothing else."""
    weak = weak_to_known(candidates.refs, young, known)
    if not weak:
        return set()
    ids = set(map(id, weak))
    weak += [obj for obj in _referring_to(candidates.maps, ids) if _holds_only_weak(obj, ids)]
    return young_reachable(weak, young)


def _referring_to(objs: list[object], ids: set[int]) -> list[object]:
    """The objects of ``objs`` that refer to one of ``ids``, found by halves in C: a run
    that loaded every locale's data leaves 100,000 dicts, and a few registries among
    them hold the weak references."""
    if not objs or ids.isdisjoint(map(id, gc.get_referents(*objs))):
        return []
    if len(objs) == 1:
        return objs
    half = len(objs) // 2
    return _referring_to(objs[:half], ids) + _referring_to(objs[half:], ids)


def _holds_only_weak(obj: object, weak: set[int]) -> bool:
    """A set or dict of weak references (keys such as ids or names aside): the
    registries of subclasses and ABC caches."""
    if not obj:
        return False
    members = gc.get_referents(obj)
    if weak.isdisjoint(map(id, members)):
        return False
    return all(id(member) in weak or not gc.is_tracked(member) for member in members)


def _imported(
    retained: list[object], kinds: set[type], young: dict[int, object], into: set[int]
) -> list[str]:
    """Mark what modules imported during the run reach; return their names. ``kinds``
    are the types of ``retained``: most runs import nothing, and the types say so."""
    modular = {kind for kind in kinds if issubclass(kind, types.ModuleType)}
    if not modular:
        return []
    modules = [obj for obj in retained if type(obj) in modular and _counts_as_an_import(obj)]
    if not modules:
        return []
    # A first import also fills the import system's finder cache.
    reached = young_reachable([*modules, *sys.path_importer_cache.values()], young, into)
    into |= _through_code(reached, young, into)
    return sorted(str(getattr(module, "__name__", "?")) for module in modules)


def _through_code(held: AbstractSet[int], young: dict[int, object], skip: set[int]) -> set[int]:
    """Ids of the young objects the code objects of ``held`` (ids of young objects) keep
    in their constants. Code objects are not tracked by the collector, so no walk passes
    them: a function compiled during the run (a new module's, a template's) holds its
    constant tuples through its code alone."""
    referents = gc.get_referents(*map(young.__getitem__, held))
    codes = list(compress(referents, map(operator.is_, map(type, referents), repeat(_CODE))))
    return young_reachable(_constants(codes), young, skip=skip) if codes else set()


_CODE = types.CodeType

#: The kinds of constant a code object may hold that the collector tracks: only those
#: are young objects a walk from constants reaches (strings and numbers are not tracked,
#: nor are code objects). A run that left none of them needs no pass over all that the
#: learned holders reached to find its functions' code objects (a run that loaded every
#: locale's data: 200,000 objects).
_CONSTANT_KINDS = frozenset({tuple, frozenset, slice})


def _counts_as_an_import(module: object) -> bool:
    """Whether ``module`` counts as an import: it has a spec (the import system made it,
    and importing is bounded by the modules there are to find), or it was made by hand
    and is not in ``sys.modules`` (hypothesis keeps the modules it makes from source in
    a cache keyed by that source). A module made by hand and registered in
    ``sys.modules`` (a plugin loader's, under a new name on every call) is left for a
    re-run to judge. Read from the module's own dict: a lazily loaded module would load
    on an attribute read."""
    try:
        namespace = object.__getattribute__(module, "__dict__")
    except Exception:
        return True
    if not is_a(namespace, dict) or namespace.get("__spec__") is not None:
        return True
    name = namespace.get("__name__")
    return not isinstance(name, str) or sys.modules.get(name) is not module


#: Why what a path finder older than the run read again is not a leak.
REFRESHED_BY_IMPORTS = "a directory listing the import system read again"


def refreshed_by_finders(left: list[object]) -> list[object]:
    """The objects of ``left`` the import system's path finders older than them hold: a
    finder reads its directory's listing again once the directory changed (a test
    imported from it, or wrote a file there). Runs for suspects, after the window:
    the finders' state is walked through ``left`` only."""
    inside = keyed_by_id(left)
    finders: list[object] = [
        finder for finder in sys.path_importer_cache.values() if id(finder) not in inside
    ]
    reached = young_reachable(referents_through_dicts(finders), inside)
    return among(left, reached) if reached else []


def _machinery(left: list[object], young: dict[int, object]) -> set[int]:
    """Ids of what hangs from the standard library's objects among the tops of ``left``."""
    tops = [obj for obj in top_objects(left) if is_stdlib_owned(obj)]
    return young_reachable(tops, young) & set(map(id, left)) if tops else set()


def _constants(codes: list[types.CodeType]) -> list[object]:
    """The constant tuples of ``codes`` and of the code objects nested in them, with
    their items."""
    found: list[object] = []
    while codes:
        found += [code.co_consts for code in codes]
        consts = [const for code in codes for const in code.co_consts]
        found += consts
        codes = [const for const in consts if type(const) is types.CodeType]
    return found


class _Reach(NamedTuple):
    """What a walk down from learned holders reached of the young heap (ids), and the
    young objects it started from: the tops of what it reached are among those. Never
    an older one: the chain rule reads their reference counts (on 3.13 an instance's
    attribute values are its referents, and a seed)."""

    ids: set[int]
    seeds: list[object]

    def tops(self, of: set[int], young: dict[int, object]) -> list[object]:
        """The tops of the objects of ``of`` (ids, some of those reached), looked for
        among the seeds or among those objects, whichever are fewer: a cache's thousand
        new entries reach the 200,000 objects of every locale's data."""
        if len(self.seeds) < len(of):
            return list(compress(self.seeds, map(of.__contains__, map(id, self.seeds))))
        return top_objects([young[key] for key in of])


def _reach(
    learned: list[Learned],
    young: dict[int, object],
    skip: set[int],
    avoid: frozenset[int] = frozenset(),
    newest: int = 0,
    into_containers: bool = True,
    beneath: bool = True,
) -> _Reach:
    if not learned:
        return _Reach(set(), [])
    seeds = contents(learned, avoid, newest, into_containers, beneath)
    reached = young_reachable(seeds, young, skip=skip)
    if not reached:  # most walks: no seed to keep
        return _Reach(reached, [])
    return _Reach(reached, list(compress(seeds, map(reached.__contains__, map(id, seeds)))))


def _in_filled(
    learned: list[Learned], young: dict[int, object], skip: set[int], avoid: frozenset[int]
) -> _Reach:
    """What filled holders reach of the young heap: their entries replaced in place,
    never what a container among their entries gained (a list in a namespace the
    session learned as filled, appended to on every run, is a leak)."""
    return _reach(learned, young, skip, avoid, into_containers=False)


def _first_holding(
    learned: list[Learned],
    young: dict[int, object],
    skip: set[int],
    avoid: frozenset[int],
    ids: set[int],
) -> int | None:
    """The place in ``learned`` of the first filled holder whose walk reaches some of
    ``ids``; None when none does. What a walk from a group of holders reaches, one of
    its parts reaches: after one walk from all of them, groups twice as long each time
    are walked from the front until one holds some (the holder is usually among the
    first, which explained most), then that group is halved down to the holder. A few
    walks, however many holders the session learned, where one per holder would be
    sixty on a parser's suite."""
    if not _in_filled(learned, young, skip, avoid).ids & ids:
        return None
    start, end, size = 0, len(learned), 1
    while start + size < end:  # the rest holds some: all did, none before it does
        if _in_filled(learned[start : start + size], young, skip, avoid).ids & ids:
            end = start + size
            break
        start, size = start + size, size * 2
    while end - start > 1:
        middle = (start + end) // 2
        if _in_filled(learned[start:middle], young, skip, avoid).ids & ids:
            end = middle
        else:
            start = middle
    return start


def _in_one_filled(
    entry: Learned,
    young: dict[int, object],
    skip: set[int],
    avoid: frozenset[int],
    left: set[int],
) -> _Reach:
    """What one filled holder reaches of the young heap: from the entries it gained,
    when it grew and they reach all of ``left`` (ids: what no holder explained yet), else
    from its newest entries. A holder filled once per key (``linecache.cache`` taking
    the source of each class a test generates) grows at its end, and its thousand
    entries must not cost every such test a walk of its newest hundreds; a registry that
    took a new key may hold some of the run's objects below older entries too (13 of
    the 88 grown walks on marshmallow's suite)."""
    added = added_entries(entry)
    if not added:
        return _in_filled([entry], young, skip, avoid)
    reach = _reach([entry], young, skip, avoid, added, into_containers=False)
    if left <= reach.ids:
        return reach
    # Not down again into what the new entries reached: every locale's data, once.
    rest = _in_filled([entry], young, skip | reach.ids, avoid)
    return _Reach(reach.ids | rest.ids, reach.seeds + rest.seeds)


def _reached_in_root(
    entry: Learned, young: dict[int, object], skip: set[int], ids: set[int]
) -> set[int]:
    """What a leaking root holds of ``ids``: from the entries it gained when it grew (a
    root that keeps leaking grows at its end, and a long one must cost each test what it
    gained, not its length), else from its newest entries (one replaced in place)."""
    added = added_entries(entry)
    if added:
        reached = _reach([entry], young, skip, newest=added).ids & ids
        if reached:
            return reached
    return _reach([entry], young, skip).ids & ids


def _lengthens_a_chain(tops: list[object], young: dict[int, object], pinned: set[int]) -> bool:
    """Whether one of a group's ``tops`` refers, itself or through its young attributes,
    to an older object of its own type that nothing else holds: the link it took the
    place of (a shared older object, a module's table, is no link). ``pinned`` holds the
    ids of the objects the plugin itself holds, once each."""
    for top in tops:
        older = older_of_its_kind(top, young)
        counts = reference_counts(older)
        # Held by the new link, and by the plugin when it holds it: nothing else.
        once = [HELD_BY_A_LIST + 1 + (id(obj) in pinned) for obj in older]
        if any(count <= limit for count, limit in zip(counts, once, strict=True)):
            return True
    return False


#: Why the attributes an older object took during the run are warm-up.
ATTRIBUTES_OF_OLDER = "attributes the run gave an older object that warm-up keeps"


def attributes_of_older(
    left: list[object], retained: list[object], warmup: AbstractSet[int]
) -> list[object]:
    """The instance dicts among ``left`` (what no rule explained of ``retained``) whose
    owner is older than the run and referred to by what ``warmup`` (ids) explained. An
    object made before the window (pytest makes a class-based test's instance at
    collection) gets its ``__dict__`` when it first needs one (3.11+): a young dict the
    walks, which enter no old object, do not reach. Looked for only when ``left`` is all
    dicts: anything else left keeps the run a suspect whatever this finds."""
    if not left or not warmup or any(type(obj) is not dict for obj in left):
        return []
    young = set(map(id, retained))
    holders = among(retained, warmup)
    older = {id(ref): ref for ref in all_referents(holders) if id(ref) not in young}
    owned = {id(found) for found in map(instance_dict, older.values()) if found is not None}
    return among(left, owned)


#: Filled holders walked one by one before the rest are walked together first.
ONE_BY_ONE = 4


def _most_hits(entry: Learned) -> int:
    return -entry.hits


#: The triage of a run that left nothing (most runs): one shared, frozen object.
NOTHING_RETAINED = Triage()


def triage(retained: list[object], young: dict[int, object], book: HolderBook) -> Triage:
    """Sort ``retained`` (young objects the test left, pytest's already discounted) by
    holder; ``young`` maps the id of every young survivor to it."""
    if not retained:
        return NOTHING_RETAINED
    ids = set(map(id, retained))
    explained: set[int] = set()
    why: list[str] = []
    kinds = set(map(type, retained))
    modules = _imported(retained, kinds, young, explained)
    if modules:
        shown = ", ".join(modules[:3]) + (", ..." if len(modules) > 3 else "")
        why.append(f"modules imported: {shown}")
    # Interpreter bookkeeping, like pytest's: discounted without a warm-up verdict. A
    # context's new storage replaces its last on every set(): what grows is the context,
    # which the container watch reads.
    if not kinds.isdisjoint(CONTEXT_STATE):
        explained.update(id(obj) for obj in retained if type(obj) in CONTEXT_STATE)
    candidates = _weak_candidates(retained, kinds)
    weak = _weak_to_known(candidates, young, explained)
    explained |= weak
    bookkeeping = frozenset(explained & ids)
    # The roots that grew first: a test that leaks into a confirmed root again (a CLI
    # runner's every invocation) is explained by that root's new entries, with no walk
    # from the bounded holders it fed along the way. What a grown root and a bounded
    # holder both reach, the root keeps alive whatever the bound. The other roots come
    # last: a run that reaches one replaced an entry in place, or lengthened a chain,
    # which no filled holder explains.
    leaking = book.leaking()
    grown_ids = {id(entry) for entry in grown(leaking)}
    growing = among(leaking, grown_ids)
    roots, in_roots = _in_roots(growing, True, young, explained, (retained, ids), book, why)
    fed = [] if ids <= explained else [entry for entry in book.bounded() if entry.may_hold_new()]
    # A bounded holder's entries first, what its old entries hold (a decoder a cached
    # stream made on its first read) after the filled holders, unless that found some
    # last time: a full cache of a thousand entries (hypothesis' strategies) costs a walk
    # into each, which then finds nothing for most tests that fill another cache.
    bounded = _reach(fed, young, explained, newest=BOUNDED_WALKED, beneath=False).ids & ids
    explained |= bounded
    beneath_first = book.beneath_bounded
    if beneath_first:
        bounded |= _beneath_bounded(fed, young, explained, ids, book)
    at = len(why)
    in_filled, weak_to_filled = (
        (set(), set())
        if ids <= explained or not book.walk_filled
        else _held_by_filled(book, young, explained, ids, candidates)
    )
    if in_filled:
        explained |= in_filled
        why.append("held by a cache filled earlier in the session")
        explained |= weak_to_filled
    if not beneath_first:
        bounded |= _beneath_bounded(fed, young, explained, ids, book)
    if bounded:
        why.insert(at, HELD_BY_BOUNDED)
    steady = excluding(leaking, grown_ids)
    more_roots, more_in_roots = _in_roots(
        steady, False, young, explained, (retained, ids), book, why
    )
    roots += more_roots
    in_roots |= more_in_roots
    left = excluding(retained, explained)
    if (
        left
        and (bounded or in_filled or in_roots)
        and not _CONSTANT_KINDS.isdisjoint(map(type, left))
    ):
        warm = _through_code(bounded | in_filled, young, explained) & ids
        explained |= warm
        grew_too = _through_code(in_roots, young, explained) & ids
        explained |= grew_too
        in_roots |= grew_too
        left = excluding(retained, explained)
    grew = among(retained, in_roots)
    return Triage(
        explained=len(retained) - len(left),
        unexplained=len(left),
        unexplained_bytes=shallow_bytes(left),
        why=tuple(why),
        roots=tuple(dict.fromkeys(roots)),
        explained_ids=frozenset(explained & ids),
        bookkeeping_ids=bookkeeping,
        weak_ids=frozenset(weak & ids),
        root_objects=len(grew),
        root_bytes=shallow_bytes(grew),
    )


def _beneath_bounded(
    fed: list[Learned],
    young: dict[int, object],
    explained: set[int],
    ids: set[int],
    book: HolderBook,
) -> set[int]:
    """What of ``ids`` the old entries of the bounded holders ``fed`` hold and
    ``explained`` does not cover (added to it); notes in ``book`` whether there was any."""
    if not fed or ids <= explained:
        return set()
    found = _reach(fed, young, explained, newest=BOUNDED_WALKED).ids & ids
    explained |= found
    book.beneath_bounded = bool(found)
    return found


def _in_roots(
    leaking: list[Learned],
    grew: bool,
    young: dict[int, object],
    explained: set[int],
    retained: tuple[list[object], set[int]],
    book: HolderBook,
    why: list[str],
) -> tuple[list[str], set[int]]:
    """Of the roots ``leaking`` (all of them grown, or none, as ``grew`` says), those
    holding objects the run retained (the objects and their ids) as their leak, and
    those objects: all a grown root holds, a chain one link longer in one that did not
    grow. ``explained`` gains every object a root holds, with the machinery those
    objects made; ``why`` the reason for the rest (replaced in place)."""
    objects, ids = retained
    roots: list[str] = []
    in_roots: set[int] = set()
    for entry in leaking:
        if ids <= explained:
            break  # nothing left for the rest to explain: no walk from them
        if entry.lost_head():
            continue  # cleared and refilled by the run: for a re-run to judge
        if entry.misses >= 0 and not entry.may_hold_new():
            # An lru_cache stores only on a miss: with none since the window opened it
            # neither gained nor replaced an entry (babel's ``localedata.exists``, walked
            # down a thousand entries for every triaged test).
            continue
        reached = _reached_in_root(entry, young, explained, ids)
        if not reached:
            continue
        explained |= reached
        if grew or _lengthens_a_chain(
            top_objects([young[key] for key in reached]), young, book.pinned
        ):
            roots.append(entry.root)
            in_roots |= reached
        else:
            why.append("replaced in a leaking holder, not added")
    if roots and not ids <= explained:
        # Machinery a grown root's objects made lazily (a cached stream's decoder, made
        # on its first read) is held from C, out of the walk's sight: that root's too.
        explained |= _machinery(excluding(objects, explained), young)
    return roots, in_roots


def triage_after(
    retained: list[object],
    young: dict[int, object],
    book: HolderBook,
    first: list[object],
    why: str,
) -> Triage:
    """:func:`triage` of ``retained`` but the objects of ``first``, which a rule applied
    before it explained by ``why``: no walk down from a learned holder looks for them,
    and none is made when they are all that is left."""
    if not first:
        return triage(retained, young, book)
    explained = set(map(id, first))
    rest = excluding(retained, explained)
    found = triage(rest, young, book)
    return found.explained_first(among(retained, explained), why)


def _held_by_filled(
    book: HolderBook,
    young: dict[int, object],
    explained: set[int],
    ids: set[int],
    candidates: _WeakCandidates,
) -> tuple[set[int], set[int]]:
    """What of ``ids`` the filled holders keep that ``explained`` does not cover, each
    holder walked on its own: one that grew explains nothing, and the walk from the
    others does not pass through it. Then what of ``ids`` the weak references among
    ``candidates`` to those objects (or to old ones) reach: a weak reference to what a
    filled cache holds (a weak-valued cache next to a strong one, the registries a new
    class is entered in) keeps nothing alive either."""
    filled = book.filled()
    grew_ids = frozenset(id(entry.holder) for entry in grown(filled) if not entry.keyed)
    steady = [entry for entry in filled if id(entry.holder) not in grew_ids]
    in_filled: set[int] = set()
    # One holder at a time, those that explained most first: the run's objects usually
    # hang from the holder that held the last test's, and the walk stops there.
    ordered = sorted(steady, key=_most_hits)
    # Past the first few, and past the holder after one that explained some of the
    # objects, the first of the rest that holds any of what is left is searched for in
    # groups (:func:`_first_holding`): a run whose leftovers no filled holder explains
    # pays one walk from all of them, and one whose holder is the sixtieth of a parser
    # suite's learned expressions a few, not sixty. The weak references a new class
    # leaves (in its bases' subclass lists and the ABC caches) need no walk at all: they
    # are read each time a holder explained some. After a run they explained nothing of
    # (most of a parser's suite), the search starts at the first holder.
    alone = 0 if book.filled_missed else ONE_BY_ONE
    weak: set[int] = set()  # computed again each time in_filled grows
    # What a holder before reached is not walked again, nor what is below it (reached
    # too): every locale's data, reached by one cache, is not walked from the next.
    walked = set(explained)
    at = 0
    while at < len(ordered):
        if at >= alone:
            found = _first_holding(ordered[at:], young, walked, grew_ids, ids)
            if found is None:
                break
            at += found
        entry = ordered[at]
        reach = _in_one_filled(entry, young, walked, grew_ids, ids - walked)
        reached = reach.ids & ids
        if reached and not _lengthens_a_chain(reach.tops(reached, young), young, book.pinned):
            entry.hits += 1
            in_filled |= reached
            walked |= reached
            weak = _weak_to_known(candidates, young, walked) & ids
            if ids <= walked | weak:
                break
            # The next holder alone: a parser's learned expressions hold one object of a
            # run each, side by side, and a search of all the rest after each of them
            # walked them forty times. Past one that holds none, the rest are searched.
            alone = at + 2
        at += 1
    book.filled_missed = not in_filled
    book.filled_found = bool(in_filled) or bool(book.filled_found)
    return in_filled, weak


def with_growth(
    found: Triage,
    growth: list[Growth],
    book: HolderBook,
    retained: set[int],
    judged: Sequence[object] = (),
    literals: Callable[[], frozenset[str]] = frozenset,
) -> Triage:
    """``found`` with the growth of watched containers explained: a leaking root's growth
    names the root, a bounded container's is warm-up, so is a dict's keyed by running
    threads, and so is a container whose new entries the interpreter's bookkeeping
    explains (``sys.modules`` gaining the modules the run imported, the finder cache
    their directories) or, of one learned as filled, any rule. ``retained`` holds the
    ids of the run's retained objects; ``judged`` are the objects ``found`` sorted, of
    which what hangs from a registry's new classes is explained with them; ``literals``
    reads the strings the test's code spells, once a root grew."""
    roots = list(found.roots)
    why = list(found.why)
    explained = 0
    for entry in growth:
        learned = book.known(entry.container)
        if learned is None and _keyed_by_live_threads(entry):
            explained += entry.added
            if ONE_PER_THREAD not in why:
                why.append(ONE_PER_THREAD)
            continue
        made = _made_on_read(entry) if learned is None else None
        if made is not None:
            explained += entry.added
            found = found.explaining(
                [
                    value
                    for value in made
                    if id(value) in retained and id(value) not in found.explained_ids
                ],
                MADE_ON_READ,
            )
            if MADE_ON_READ not in why:
                why.append(MADE_ON_READ)
            continue
        if learned is None or not (learned.root or learned.bound):
            registered = _named_classes_added(entry, retained)
            if registered:
                explained += entry.added
                # Filled as a re-run would have shown: the next run of a statement it
                # took replaces its entry, which the filled holders' walk explains.
                book.learn_filled(entry.container)
                # The class and all it holds are the run's definition, replaced by the
                # next run of its statement: no re-run needed to tell.
                defined = beneath(registered, list(judged))
                defined += _weak_to(defined, judged)
                found = found.explaining(
                    excluding(defined, found.explained_ids),
                    NAMED_CLASSES,
                )
                if NAMED_CLASSES not in why:
                    why.append(NAMED_CLASSES)
                continue
            # A container the book does not know grew: its new entries being held by a
            # cache as well does not explain it (pyparsing appends a new expression to a
            # global one's list, and its packrat cache keeps the expression too).
            accepted = found.bookkeeping_ids if learned is None else found.explained_ids
            if is_a(entry.container, _SEQUENCES):
                accepted = accepted - found.weak_ids
            elif is_a(entry.container, dict):
                accepted = accepted - _weak_values_to_older(entry.container, found, retained)
            if _holds_only_explained(entry.container, accepted, retained):
                explained += entry.added
            continue
        if learned.root and _under_spelled_keys(entry, literals):
            continue  # left to the suspect's re-runs
        explained += entry.added
        if learned.root and learned.root not in roots:
            roots.append(learned.root)
    if not explained:
        return found
    return found._replace(roots=tuple(roots), why=tuple(why), growth_explained=explained)


def _keyed_by_live_threads(grown: Growth) -> bool:
    """Whether a dict's newest entries, as many as it gained, are all keyed by the
    identifier of a running thread (``threading.get_ident()``): a dict keeps one entry
    per key, so it holds one per thread at most (hypothesis' strategies note per thread
    that they were validated). An entry of a thread that ended is no such key: a
    registry of finished threads' state grows."""
    newest = _gained_items(grown) if type(grown.container) is dict else None
    if not newest or not all(type(key) is int for key, _ in newest):
        return False
    running = {thread.ident for thread in threading.enumerate()}
    return running.issuperset(key for key, _ in newest)


def _gained_items(grown: Growth) -> list[tuple[object, object]] | None:
    """The newest items of a dict that grew, as many as it gained; None when it holds
    fewer (trimmed meanwhile) or another thread changed it as they were read: left to
    the other rules."""
    container = cast("dict[object, object]", grown.container)
    if not 0 < grown.added <= len(container):
        return None
    try:
        return list(islice(reversed(container.items()), grown.added))
    except RuntimeError:
        return None


def _made_on_read(grown: Growth) -> list[object] | None:
    """The values of a ``defaultdict``'s newest entries, as many as it gained, when each
    is an empty container its factory made under a key written in the code; None
    otherwise. Reading ``hooks[("pre_load", False)]`` adds such an entry, once per key
    (marshmallow's schemas note their processors that way), and keys written in the code
    are as many as the code: a dict keyed by what the program reads or counts (a user's
    id, a request's path) grows with its input, and stays a suspect."""
    container = grown.container
    if not is_a(container, collections.defaultdict):
        return None
    factory = container.default_factory
    newest = _gained_items(grown) if factory in _MADE_EMPTY else None
    if not newest or not all(type(value) is factory and not value for _, value in newest):
        return None
    if not all(_written_in_code(key) for key, _ in newest):
        return None
    return [value for _, value in newest]


def _under_spelled_keys(grown: Growth, literals: Callable[[], frozenset[str]]) -> bool:
    """Whether each entry a dict, or an unbounded ``functools`` cache, gained is
    under a key written in the code (whether the locale ``None`` or ``"en"`` exists), or
    equal to a string the test's code spells (``literals``: a doctest's
    ``Catalog(locale="ding")``, whose ``"ding"`` the library copies). A root leaks under
    keys the program makes on every call (a new stream, a temporary file's name); one
    entry under a key the code spells is filled once, and tells nothing of growth on
    every run."""
    entries = cache_entries(grown.container)
    container = grown.container if entries is None else entries
    if type(container) is not dict:
        return False
    newest = _gained_items(grown._replace(container=container))
    if newest is None:
        return False
    keys = [key for key, _ in newest if not _written_in_code(key)]
    return not keys or (all(type(key) is str for key in keys) and literals().issuperset(keys))


def _named_classes_added(grown: Growth, retained: set[int]) -> list[object]:
    """The entries a dict or list gained (a dict's values, and the classes in them), when
    every one registers a class the run made (``retained``: ids) under its own name; none
    otherwise. A dict's new key names a class in its value (the value, or an item of a
    list or tuple); a list's new item is such a class, whose module and name no older
    one in the list has. A class statement runs again under the same name, which a
    registry keyed by it replaces (marshmallow's ``class_registry``, an ORM's declarative
    registry): one entry per class the code defines. A class named at run time
    (``type(f"Model{n}", ...)``) is no name of the code, and a registry of every class a
    repeated statement makes lists the same name again: both stay suspects."""
    container, added = grown.container, grown.added
    if type(container) is dict:
        newest = _gained_items(grown)
        if not newest:
            return []
        per_entry = [_classes_in(value, retained) for _, value in newest]
        named = all(
            any(key in _own_names(cls) for cls in found)
            for (key, _), found in zip(newest, per_entry, strict=True)
        )
        values = [value for _, value in newest]
        return [*values, *chain.from_iterable(per_entry)] if named else []
    if type(container) is list and 0 < added <= len(container):
        older = {_module_and_name(cls) for cls in container[:-added] if _is_class(cls)}
        new = container[-added:]
        classes = _classes_in(tuple(new), retained)
        named = len(classes) == len(new) and all(
            _own_names(cls) and _module_and_name(cls) not in older for cls in classes
        )
        return list(classes) if named else []
    return []


def _weak_to(objs: list[object], judged: Sequence[object]) -> list[object]:
    """The weak references among ``judged`` to objects of ``objs`` (a new class's, in its
    bases' subclass lists and the ABC caches), and the sets and dicts holding only them."""
    # Picked in C by their types: ``judged`` is every object the run left.
    candidates = of_kinds(judged, weakref.ref)
    if not candidates:
        return []
    ids = set(map(id, objs))
    refs = [ref for ref in candidates if id(ref()) in ids]  # type: ignore[operator]
    if not refs:
        return []
    weak = set(map(id, refs))
    maps = of_types(judged, _MAPS)
    maps = [obj for obj in _referring_to(maps, weak) if _holds_only_weak(obj, weak)]
    return [*refs, *maps]


def _classes_in(value: object, retained: set[int]) -> list[type]:
    """The classes the run made (ids in ``retained``) that ``value`` is, or holds as an
    item of a list or tuple."""
    items = list(value) if type(value) in (list, tuple) else [value]  # type: ignore[call-overload]
    return [item for item in items if _is_class(item) and id(item) in retained]


def _is_class(obj: object) -> TypeGuard[type]:
    """Told by the type alone: isinstance() would read a lazy object's ``__class__``."""
    return issubclass(type(obj), type)


def _module_and_name(cls: type) -> tuple[object, str]:
    return CLASS_NAMESPACE.__get__(cls).get("__module__"), _QUALNAME.__get__(cls)


def _own_names(cls: type) -> set[str]:
    """The names a registry may file ``cls`` under, when its name is one the code wrote
    (see :func:`_written_in_code`); none otherwise. Read through type's own descriptors:
    no metaclass code runs."""
    name, qualname = _NAME.__get__(cls), _QUALNAME.__get__(cls)
    if not _written_in_code(name):
        return set()
    module = CLASS_NAMESPACE.__get__(cls).get("__module__")
    names = {name, qualname}
    if isinstance(module, str):
        names |= {f"{module}.{name}", f"{module}.{qualname}"}
    return names


_NAME = type.__dict__["__name__"]
_QUALNAME = type.__dict__["__qualname__"]


#: The factories whose product, while empty, holds nothing: what reading a key made.
_MADE_EMPTY = frozenset({list, dict, set})


def _written_in_code(key: object) -> bool:
    """Whether ``key`` is a name the compiler interned (a string constant of identifier
    characters, as every name in the code is), True, False, None, or a tuple of those:
    what a program's own code spells, never what it reads or counts (numbers, text)."""
    if type(key) is tuple:
        return all(map(_written_in_code, cast("tuple[object, ...]", key)))
    if isinstance(key, str) and type(key) is str:
        if not _NAME_CHARACTERS.fullmatch(key):
            return False  # never interned by the compiler
        # Interning an equal copy returns the interned string if there is one: the key
        # only when it is that string. The copy, interned otherwise, dies with this call
        # (on 3.12, where interned strings live for ever, it stays, and is not the key).
        copy = key.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
        return sys.intern(copy) is key
    return key is None or type(key) is bool


#: The characters of the string constants the compiler interns.
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_]*")


#: Containers that keep every entry added, duplicates too.
_SEQUENCES = (list, collections.deque)


def _weak_values_to_older(
    container: dict[object, object], found: Triage, retained: set[int]
) -> set[int]:
    """Ids of the weak references among ``container``'s values whose referent is older
    than the run (not in ``retained``): a dict keeps an entry per key, and one gaining a
    weak value to a long-lived object under a new key on every call (a
    ``WeakValueDictionary`` of requests to a shared object) grows for as long as that
    object lives. Weak keys (a ``WeakKeyDictionary``'s) stay bookkeeping: one per object."""
    if not found.weak_ids:  # most runs: no dict of a thousand locales listed for nothing
        return set()
    values = list(container.values())
    weak = found.weak_ids.intersection(map(id, values))
    if not weak:
        return set()
    older = set()
    # Only the weak values are looked at: the dict may hold thousands of entries, and a
    # run that grew it reads it for every test.
    for value in compress(values, map(weak.__contains__, map(id, values))):
        if issubclass(type(value), weakref.ref):
            referent = value()  # type: ignore[operator]
            if referent is not None and id(referent) not in retained:
                older.add(id(value))
    return older


def _holds_only_explained(container: object, explained: frozenset[int], retained: set[int]) -> bool:
    """Whether ``container`` holds some of the run's explained objects and none of the
    retained objects left unexplained. Its entries that are not retained are older than
    the run, or untracked values (a ``str`` added), which leave it unexplained."""
    if not explained:
        return False
    # In C: a root's grown dict gains an entry per leaking test, and every one reads it.
    held = retained.intersection(map(id, gc.get_referents(container)))
    return bool(held) and held <= explained
