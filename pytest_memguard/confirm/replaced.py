"""Objects that replace ones that died: an attribute or entry rebuilt by every test.

hypothesis rebinds ``StackframeLimiter._known_limits`` to a new set on every ``@given``
run; pyparsing's test classes give ``ParserElement`` a new packrat cache in every
``setUp``. Each such test leaves one new object behind and drops the one an earlier
test left: the heap does not grow, which is all a re-run would show. The screen sees
only the new object, and whether the old one died is not visible in the young heap.

So the plugin holds the tops of what the last suspects left unexplained (a few objects,
old by the next test), and reads their reference counts: one that only the plugin still
holds after a run was dropped during it. A top the run left that has the type of a
dropped one and refers to no more objects replaces it; so does what hangs from that
top. A longer one is growth, for a re-run to judge: a grown copy (``t = t + (x,)``) or
a table rebuilt one entry larger each time. A new object that
refers to the one it replaces (a settings chain nesting one level deeper per test)
keeps it alive: it is never a replacement.

Holding a top has one consequence of its own: a run may fill what the plugin holds
before it drops it (freezegun's list of the patches to undo, which a test left empty,
the next test filled and replaced): what the dropped object keeps, and nothing else
does, would have died with it, and is no growth either.

An object in a reference cycle (a cache whose bound methods refer back to it) counts
the references its own cycle makes: those counted when it was left, it is dropped when
its count falls to them. The plugin holds such an object one test longer than its
holder does, and at most :data:`MAX_HELD` of them (a cycle that changes after it was
counted may stay held until newer ones push it out). Never one whose death does
something (a finalizer: a task warns that it was destroyed pending, a file closes; a
weak reference's callback): holding it would move that into another test.

A re-run whose every top replaced one the run before made (:func:`growth_beneath`) may
still grow beneath them: pyparsing's ``testParseEBNF`` appends to an old expression's
``ignoreExprs`` list, and the packrat cache the test class rebuilds (or the grammar the
example's ``symbol_table`` is refilled with) refers to the new entries too, so they hang
from what was replaced. Its growth is what an older holder keeps along with what the
earlier runs left, not the replaced structure a root would be named and learned after.
"""

from __future__ import annotations

import gc
import itertools
import operator
import sys
import types
import weakref
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from pytest_memguard.screen.heap import (
    HELD_BY_A_LIST,
    Tops,
    all_referents,
    among,
    find_tops,
    keyed_by_id,
    reference_counts,
    referents_through_dicts,
    young_reachable,
)

#: Why a replacement is warm-up.
REPLACED = "replaced what an earlier test left, which this one dropped"

#: Tops held at most, the newest kept.
MAX_HELD = 64


class Chain(NamedTuple):
    """A new link of a chain earlier tests grew, and those tests, oldest first."""

    link: object
    behind: tuple[str, str]


class Replacements:
    """The tops of what recent suspects left unexplained, held to see them dropped."""

    def __init__(self) -> None:
        self._held: list[object] = []
        #: Of each held object, the references to it from the objects it reaches.
        self._own_cycle: list[int] = []
        #: Of each held object, the test that left it.
        self._left_by: list[str] = []
        #: The ids of what the last :meth:`replacing` walked for its tops, and of those
        #: tops (in order) and the ones in cycles: :meth:`remember` of the same objects
        #: takes them. Ids only: a list of the tops would count in reference counts.
        self._walked: tuple[frozenset[int], list[int], frozenset[int]] | None = None

    def pinned_ids(self) -> set[int]:
        """Ids of the objects held (each once)."""
        return set(map(id, self._held))

    def held_ids(self) -> set[int]:
        """Ids of the plugin's own lists: never a holder of the test's objects."""
        return {id(self._held), id(self._own_cycle)}

    def opening(self) -> None:
        """Forget what was dropped between tests: only a drop during a run is that run's."""
        self._walked = None
        self._split()

    def replacing(
        self,
        left: list[object],
        found: Tops | None = None,
        listed: Sequence[list[object]] = (),
        kept_in: Sequence[Iterable[object]] = (),
    ) -> list[object]:
        """The objects of ``left`` (what a run left unexplained) that replace, with what
        hangs from them, objects the plugin held and the run dropped. ``found`` is
        ``find_tops(left)``, if the caller has it; ``listed`` are other lists of the
        plugin's that may hold some of the held objects (once each); ``kept_in`` those
        that hold every object of ``left``, once each."""
        dropped = self._split(listed)
        if not dropped or not left:
            return []
        members = keyed_by_id(left)
        # What a held object gained during the run before the run dropped it is alive
        # only because the plugin held it: with it, it would have died (freezegun's list
        # of the patches to undo, refilled by each test and replaced when it ends).
        partial = () if found is None else (found.objects,)
        reached = _held_only_beneath(members, kept_in, above=dropped, partial=partial)
        if found is None:
            found = find_tops(left)
            self._walked = (
                frozenset(members),
                list(map(id, found.objects)),
                frozenset(found.in_cycles),
            )
        replacing = _matched(found.objects, dropped)
        del found, dropped  # their lists would count in the reference counts read below
        if replacing:
            reached |= _held_only_beneath(members, kept_in, tops=replacing)
        return among(left, reached)

    def remember(self, left: list[object], nodeid: str, found: Tops | None = None) -> None:
        """Hold the tops of what the run of ``nodeid`` left unexplained (kept from the
        next run's check); ``found`` is ``find_tops(left)``, if the caller has it."""
        if not left:
            return
        if found is None:
            found = self._walked_tops(left) or find_tops(left)
        # The newest ones are kept: the others are not looked at (a rebuilt grammar
        # leaves thousands of tops, each with its weak references to read).
        tops = list(itertools.islice(filter(_dies_quietly, reversed(found.objects)), MAX_HELD))
        tops.reverse()
        members = keyed_by_id(left)
        # Only a top some other leftover refers to (a cycle's) has references of its own.
        last = _last_cycle_top(found)
        cycles = [
            (_references_from_all(t, members) if t is last else _cycle_references(t, members))
            if id(t) in found.in_cycles
            else 0
            for t in tops
        ]
        self._held = [*self._held, *tops][-MAX_HELD:]
        self._own_cycle = [*self._own_cycle, *cycles][-MAX_HELD:]
        self._left_by = [*self._left_by, *[nodeid] * len(tops)][-MAX_HELD:]

    def _walked_tops(self, left: list[object]) -> Tops | None:
        """The tops of ``left`` that :meth:`replacing` found, when it walked the same
        objects (all it was given replaced dropped ones); forgotten once asked."""
        walked, self._walked = self._walked, None
        if walked is None or len(walked[0]) != len(left) or not walked[0].issuperset(map(id, left)):
            return None
        members = keyed_by_id(left)
        return Tops([members[key] for key in walked[1]], set(walked[2]))

    def chain_behind(self, tops: list[object], nodeid: str) -> Chain | None:
        """The top of what the run of ``nodeid`` left that extends by one more link what
        two earlier tests left: it refers to an object of its own type another test
        left, which refers in turn to one of that type a third test left, each of those
        let go by its holder for the next (settings made with the last ones as parent,
        on every run). All three are alive: the structure grows by one link a run, the
        evidence a re-run would give. None when no top has two such links behind it."""
        held = {id(obj): at for at, obj in enumerate(self._held)}
        for top in tops:
            for first in self._links(top, held, {nodeid}):
                behind = self._links(self._held[first], held, {nodeid, self._left_by[first]})
                if behind:
                    return Chain(top, (self._left_by[behind[0]], self._left_by[first]))
        return None

    def _links(self, obj: object, held: dict[int, int], not_by: set[str]) -> list[int]:
        """Indexes of the held objects of ``obj``'s type that ``obj`` refers to (through
        its instance dict too), left by a test not in ``not_by``, and held by nothing
        else but the plugin: a link its holder let go when ``obj`` took its place. A
        logger's parent or a base class stays held by its registry: never a link."""
        kind = type(obj)
        referents = referents_through_dicts([obj])
        found = [held.get(id(ref), -1) for ref in referents]
        del referents  # its references would count below
        return [
            at
            for at in dict.fromkeys(found)
            if at >= 0
            and type(self._held[at]) is kind
            and self._left_by[at] not in not_by
            and self._let_go(at, found.count(at))
        ]

    def _let_go(self, at: int, references: int) -> bool:
        """Whether only the plugin's list, the object's own cycle and the ``references``
        of a newer link hold the held object at ``at``."""
        limit = HELD_BY_A_LIST + self._own_cycle[at] + references
        return sys.getrefcount(self._held[at]) <= limit

    def _split(self, listed: Sequence[list[object]] = ()) -> list[object]:
        """Return the held objects that only the plugin (its list, and the lists of
        ``listed``) and their own cycles still hold, and stop holding them."""
        counts = reference_counts(self._held)
        # Every test opens with this check and a test that replaces what the last one
        # left drops one of the held objects: the split runs in C (itertools, operator).
        limits: Iterable[int] = map(operator.add, self._own_cycle, itertools.repeat(HELD_BY_A_LIST))
        if listed:
            in_lists = _tally(itertools.chain.from_iterable(listed), set(map(id, self._held)))
            limits = map(
                operator.add, limits, map(in_lists.get, map(id, self._held), itertools.repeat(0))
            )
        dropping = list(map(operator.le, counts, limits))
        if not any(dropping):
            return []
        dropped = list(itertools.compress(self._held, dropping))
        keeping = list(map(operator.not_, dropping))
        # In place: a list made here, inside a window, would be a survivor of the run.
        self._held[:] = itertools.compress(self._held, keeping)
        self._own_cycle[:] = itertools.compress(self._own_cycle, keeping)
        self._left_by[:] = itertools.compress(self._left_by, keeping)
        return dropped


def _held_only_beneath(
    members: dict[int, object],
    kept_in: Sequence[Iterable[object]],
    tops: list[object] | None = None,
    above: Sequence[object] = (),
    partial: Sequence[list[object]] = (),
) -> set[int]:
    """Ids of the objects of ``members`` reached from ``tops`` (among them), or from
    what the objects of ``above`` (not among them) refer to, less those something
    outside what is reached holds too, with what hangs from those. ``kept_in`` and
    ``partial`` are as :func:`_held_from_outside` reads them."""
    reached = young_reachable(_seeds(tops, above), members)
    # The holders' references to their entries are the structure's own.
    shared = _held_from_outside(members, reached, tops or [], kept_in, above, partial)
    if shared:
        inside = {key: obj for key, obj in members.items() if key not in shared}
        reached = young_reachable(_seeds(tops, above), inside)
    return reached


def _seeds(tops: list[object] | None, above: Sequence[object]) -> list[object]:
    """The walk's seeds, listed anew for each walk: no list of ``above``'s entries may
    stay held while reference counts are read."""
    return tops if tops is not None else all_referents(list(above))


def _held_from_outside(
    members: dict[int, object],
    reached: set[int],
    tops: list[object],
    kept_in: Sequence[Iterable[object]],
    above: Sequence[object] = (),
    partial: Sequence[list[object]] = (),
) -> set[int]:
    """Ids of the objects of a structure (``reached``, of ``members``: the run's objects,
    also in a list of the caller's), its ``tops`` left out, that something outside the
    structure refers to as well: an older holder (an old expression's list it was
    appended to, while the rebuilt cache refers to it too) or another of the run's
    objects. Hanging from replacing tops, such an object would outlive the replaced
    structure: it is not part of the replacement. Read from reference counts: besides
    the structure's own references, each is held by the counting list, the caller's
    list, ``members``, once by each container of ``kept_in`` (which hold every member)
    and as often as the lists of ``partial`` hold it; the references of the objects of
    ``above`` (outside ``members``, holding the structure) count as the structure's."""
    inner_ids = reached - set(map(id, tops))
    if not inner_ids:
        return set()
    # The structure's objects are tracked ones: its strings and numbers are dropped in C
    # before an id is taken (a rebuilt grammar refers to thousands). Nothing may stay
    # held here: the reference counts below would count it.
    structure = [*above, *(members[key] for key in reached)]
    internal = _tally(filter(gc.is_tracked, all_referents(structure)), inner_ids)
    del structure
    # Counted, not tallied: the containers of every survivor hold thousands after a run
    # that rebuilt a grammar.
    plugin = _tally(itertools.chain.from_iterable(partial), inner_ids) if partial else {}
    ids = list(inner_ids)
    inner = list(map(members.__getitem__, ids))
    # The counting list and the call; ``left``; ``members``; the containers of kept_in.
    own = HELD_BY_A_LIST + 2 + len(kept_in)
    counts = reference_counts(inner)
    zeros = itertools.repeat(0)
    known = map(operator.add, map(internal.get, ids, zeros), map(plugin.get, ids, zeros))
    return set(itertools.compress(ids, map(operator.gt, counts, map(own.__add__, known))))


def _tally(objects: Iterable[object], ids: set[int]) -> dict[int, int]:
    """How many times each object whose id is in ``ids`` occurs in ``objects``."""
    # A plain dict: Counter(iterable) runs ABC checks, whose caches (weak references to
    # the iterable's type) would be a window's survivors the first time it ran in one.
    found: dict[int, int] = {}
    for key in filter(ids.__contains__, map(id, objects)):  # in C, but the hits
        found[key] = found.get(key, 0) + 1
    return found


def _dies_quietly(obj: object) -> bool:
    """Whether nothing runs when ``obj`` dies: no finalizer, no weak-reference callback."""
    if hasattr(type(obj), "__del__"):
        return False
    try:
        refs = weakref.getweakrefs(obj)
    except TypeError:
        return True
    return not refs or all(ref.__callback__ is None for ref in refs)


def _cycle_references(top: object, members: dict[int, object]) -> int:
    """How many references to ``top`` the objects of ``members`` it reaches make."""
    reached = young_reachable(all_referents([top]), members)
    if not reached:
        return 0
    referents = filter(gc.is_tracked, all_referents([members[key] for key in reached]))
    return list(map(id, referents)).count(id(top))  # in C: the structure may be large


def _last_cycle_top(found: Tops) -> object | None:
    """The last top :func:`find_tops` found in a cycle: whatever leftover refers to it
    is reached from it. One reached from an earlier top would have reached it too, and
    it would be no top; so would one reached from an earlier cycle's."""
    return next((top for top in reversed(found.objects) if id(top) in found.in_cycles), None)


def _references_from_all(top: object, members: dict[int, object]) -> int:
    """How many references to ``top`` the objects of ``members`` make: of the last top
    in a cycle (:func:`_last_cycle_top`), those of its own cycle, without walking it (a
    rebuilt grammar is one cycle of hundreds of objects, left by every test of its
    class)."""
    referents = all_referents(list(members.values()))
    return list(map(id, filter(gc.is_tracked, referents))).count(id(top))


def _matched(tops: list[object], dropped: list[object]) -> list[object]:
    """The ``tops`` that stand in for a ``dropped`` object each, the first one in order
    that is of their type and no shorter (a cache object's attributes, a set's members:
    a rebuilt table of more entries is growth)."""
    by_type: dict[type, list[object]] = {}
    for old in dropped:
        by_type.setdefault(type(old), []).append(old)
    replacing: list[object] = []
    for top in tops:
        candidates = by_type.get(type(top))
        if not candidates:
            continue
        size = len(gc.get_referents(top))
        at = next(
            (at for at, old in enumerate(candidates) if size <= len(gc.get_referents(old))), None
        )
        if at is not None:
            del candidates[at]
            replacing.append(top)
    return replacing


def growth_beneath(
    retained: list[object], tops: list[object], earlier: set[int], ignore: set[int]
) -> list[object]:
    """Of a run whose every top in ``retained`` (``tops``) replaced one that died, the
    objects an older holder keeps along with what an earlier run left (ids in
    ``earlier``, still alive), with what hangs from them among ``retained``: a holder
    that accumulates, not one cleared and refilled by every run. Holders among the
    caller's own containers (``ignore``) and frames do not count. Empty when there is
    none. One pass over the heap (``gc.get_referrers``): the heap must be unfrozen."""
    members = keyed_by_id(retained)
    replaced = set(map(id, tops))
    skip = ignore | members.keys() | {id(members), id(retained), id(tops)}
    # A dead earlier object's id may be reused by one of this run's.
    earlier = earlier - members.keys()
    entries: list[object] = []
    # A pass costs the heap times the objects asked about, and a rebuilt grammar leaves
    # hundreds held only from within: only those held from outside are asked about.
    outside = _held_from_outside(members, set(members), [], ())
    held_outside = among(retained, outside)
    for holder in gc.get_referrers(*held_outside) if held_outside else ():
        if id(holder) in skip or type(holder) is types.FrameType:
            continue
        held = all_referents([holder])
        if any(id(ref) in earlier for ref in held):
            entries.extend(ref for ref in held if id(ref) in members and id(ref) not in replaced)
    if not entries:
        return []
    reached = young_reachable(entries, members)
    return among(retained, reached)
