"""The holders a session has learned: bounded caches, filled caches and leaking roots.

Finding which old object holds a young survivor costs a walk of the whole heap
(``gc.get_referrers``), so each holder is looked up once and remembered here. A later
test whose survivors hang from a remembered holder is then judged without a re-run:
the walk *down* from the holders (``gc.get_referents``) costs what they hold, never
what the heap holds.
"""

from __future__ import annotations

import collections
import gc
import itertools
import operator
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from pytest_memguard.confirm.listing import LRU_WRAPPER
from pytest_memguard.screen.heap import excluding, is_a, of_types

#: Holders remembered at most: each is kept alive by the book (lists and dicts cannot be
#: weakly referenced), so the book must not grow with the suite. Past it, the oldest
#: filled holder that never explained a run is forgotten for a new one.
MAX_HOLDERS = 512


def sized_length(holder: object) -> int:
    """``len(holder)``, or -1 when it has no length (or reading it fails)."""
    try:
        return len(holder)  # type: ignore[arg-type]
    except Exception:
        return -1


#: Holders one search teaches the book at most (an eighth of it): a strategy cache's
#: hundreds of entries must not push every other holder out.
MAX_LEARNED_AT_ONCE = MAX_HOLDERS // 8

#: How many suspects must have cleared in a holder before its growth counts as once per
#: key: a re-run of each would clear it too.
KEYED_CLEARS = 2

#: How :func:`~pytest_memguard.confirm.bounds.own_bound` names an ``lru_cache``'s bound.
LRU_BOUND = "lru_cache("


def lru_calls(holder: object) -> tuple[int, int]:
    """An ``lru_cache`` wrapper's counts of hits and misses, (-1, -1) when they cannot
    be read."""
    try:
        hits, misses = holder.cache_info()[:2]  # type: ignore[attr-defined]
    except Exception:
        return -1, -1
    return (hits, misses) if isinstance(hits, int) and isinstance(misses, int) else (-1, -1)


#: Whether CPython's ``lru_cache`` lists its entries among its referents oldest (least
#: recently used) first, each as key, result and link type, before six fields of its
#: own, the first its dict of every key (3.10 to 3.13, checked by the tests): the
#: entries a run made or used are then the last ones.
_LRU_REFERENTS_IN_USE_ORDER = sys.version_info < (3, 14)
_LRU_FIELDS_AFTER = 6
_LRU_PER_ENTRY = 3


@dataclass
class Learned:
    """One remembered holder.

    ``bound`` describes a declared bound (growth under it is warm-up); ``root`` names a
    confirmed leak this holder keeps growing; a holder with neither was *filled*: a
    re-run showed it stop growing, so it is a suspect again only when its length grows.
    """

    holder: object
    bound: str = ""
    root: str = ""
    length: int = -1
    #: An ``lru_cache``'s misses when the window opened: it stores entries only on a
    #: miss, so with none since then it holds nothing the run made (-1: not known).
    misses: int = -1
    #: Its hits then: an entry a run used or made is among its most recently used.
    lru_hits: int = -1
    #: How many suspects' re-runs showed this holder's growth stop.
    clears: int = 0
    #: How many screened runs' objects this filled holder explained.
    hits: int = 0
    #: A bounded dict's length and newest key when the window opened (None: not a
    #: dict, or an ``lru_cache``): a cache adds entries at the end, so with both the
    #: same it took no new entry.
    tail: tuple[int, int] | None = None
    #: A leaking root's oldest entry when the window opened (its id; None: empty, or
    #: not a dict or list): a holder that lost it was cleared or trimmed meanwhile, a
    #: cache refilled rather than a leak growing.
    head: int | None = None
    #: Whether it had a length when learned: one without (an object, a function) is
    #: not measured again (a failed ``len()`` raises, for every test).
    sized: bool = True

    def lost_head(self) -> bool:
        """Whether the holder no longer starts with the entry it started with."""
        return self.head is not None and first_entry(self.holder) != self.head

    @property
    def keyed(self) -> bool:
        """Filled again and again, by different tests: it grows once per key (what a
        test defines, such as a generated class's source in ``linecache``) and a test's
        re-run replaces its entry instead of adding one."""
        return not (self.bound or self.root) and self.clears >= KEYED_CLEARS

    def may_hold_new(self) -> bool:
        """Whether the holder may have taken an object made since the window opened."""
        if self.misses >= 0:
            return lru_calls(self.holder)[1] != self.misses
        return self.tail is None or dict_tail(self.holder) != self.tail

    def referents(self) -> list[object]:
        """What the holder refers to; of an ``lru_cache``, only the entries used since
        the window opened and its fields but its dict of every key, when its layout
        tells them: a cache of thousands of entries costs a test what it used."""
        found = gc.get_referents(self.holder)
        if not (_LRU_REFERENTS_IN_USE_ORDER and self.lru_hits >= 0 and self.misses >= 0):
            return found
        hits, misses = lru_calls(self.holder)
        used = hits - self.lru_hits + misses - self.misses
        start = len(found) - _LRU_PER_ENTRY * used - _LRU_FIELDS_AFTER
        if hits < 0 or used < 0 or start <= 0:
            return found
        return found[start:-_LRU_FIELDS_AFTER] + found[1 - _LRU_FIELDS_AFTER :]


def first_entry(holder: object) -> int | None:
    """The id of a dict's oldest key or a list's first item; None for anything else."""
    if type(holder) not in (dict, list) or not holder:
        return None
    try:
        return id(next(iter(holder)))  # type: ignore[call-overload]
    except (RuntimeError, StopIteration):  # changed by another thread meanwhile
        return None


def dict_tail(holder: object) -> tuple[int, int] | None:
    """A dict's length and the id of its newest key; None for anything else."""
    if not is_a(holder, dict):
        return None
    try:
        return len(holder), id(next(reversed(holder.keys()), None))
    except Exception:  # a dict changed by another thread meanwhile: no signature
        return None


_HOLDER = operator.attrgetter("holder")
_LENGTH = operator.attrgetter("length")
_KEYS = operator.methodcaller("keys")


def _lengths(holders: list[Any]) -> list[int]:
    """:func:`sized_length` of each holder, read in C unless one fails."""
    try:
        return list(map(len, holders))
    except Exception:
        return list(map(sized_length, holders))


def _tails(dicts: list[dict[object, object]]) -> list[tuple[int, int] | None]:
    """:func:`dict_tail` of each dict, read in C unless one fails."""
    try:
        newest = map(next, map(reversed, map(_KEYS, dicts)), itertools.repeat(None))
        return list(zip(map(len, dicts), map(id, newest), strict=True))
    except Exception:
        return list(map(dict_tail, dicts))


class _Kinds(NamedTuple):
    """The book's entries sorted by what a window's opening notes of them, sorted again
    only when the book changes: it is read for every test."""

    bounded: list[Learned]
    filled: list[Learned]
    leaking: list[Learned]
    #: Not bounded, with a length: their length is noted.
    measured: list[Learned]
    #: Bounded dicts (not an ``lru_cache``'s): their tail is noted.
    tailed: list[Learned]
    #: ``lru_cache`` wrappers, bounded or a leak's root: their calls are noted.
    counted: list[Learned]

    @classmethod
    def of(cls, entries: list[Learned]) -> _Kinds:
        bounded = [entry for entry in entries if entry.bound]
        free = [entry for entry in entries if not entry.bound]
        with_calls = [
            entry
            for entry in entries
            if (entry.bound.startswith(LRU_BOUND) or entry.root)
            and hasattr(entry.holder, "cache_info")
        ]
        calls = set(map(id, with_calls))
        return cls(
            bounded=bounded,
            filled=[entry for entry in free if not entry.root],
            leaking=[entry for entry in free if entry.root],
            measured=[entry for entry in free if entry.sized],
            tailed=[
                entry for entry in bounded if id(entry) not in calls and is_a(entry.holder, dict)
            ],
            counted=with_calls,
        )


class HolderBook:
    """Holders learned during the session, by identity."""

    def __init__(self) -> None:
        self._learned: dict[int, Learned] = {}
        #: Its entries by kind, sorted as a window opens; None once the book changed.
        self._sorted: _Kinds | None = None
        #: Ids of older objects the plugin holds itself (one reference each), to watch
        #: them dropped: a reference count read here discounts it.
        self.pinned: set[int] = set()
        #: Whether the filled holders explained nothing of the last run that looked:
        #: the next one then asks all of them at once before asking any alone.
        self.filled_missed = False
        #: Whether the last walk into the bounded holders' old entries found what their
        #: entries did not: the next run then walks into them before the filled holders.
        self.beneath_bounded = True
        #: Whether the run being triaged walks the filled holders (see FilledWalks), and
        #: whether its walks found any of it (None: it made none).
        self.walk_filled = True
        self.filled_found: bool | None = None

    def __len__(self) -> int:
        return len(self._learned)

    def _kinds(self) -> _Kinds:
        """The entries by kind; sorted for the moment when the book changed since the
        last window opened: what it makes inside a window must not outlive the run."""
        if self._sorted is not None:
            return self._sorted
        return _Kinds.of(list(self._learned.values()))

    def _learn(self, holder: object, bound: str = "", root: str = "") -> None:
        self._sorted = None
        known = self._learned.get(id(holder))
        if known is not None and known.holder is holder:
            # What is known to leak stays so; a bound found later wins over "filled".
            known.root = known.root or root
            known.bound = "" if known.root else known.bound or bound
            known.length = sized_length(holder)
            return
        if len(self._learned) >= MAX_HOLDERS and not self._forget_oldest():
            return
        length = sized_length(holder)
        self._learned[id(holder)] = Learned(holder, bound, root, length, sized=length >= 0)

    def _forget_oldest(self) -> bool:
        """Forget the oldest filled holder that explained no run since (a search of a
        large group learns many that never serve again); False when there is none. A
        bound or a leak's root serves every later test: those are kept."""
        oldest = next(
            (
                key
                for key, entry in self._learned.items()
                if not (entry.bound or entry.root or entry.hits)
            ),
            None,
        )
        if oldest is None:
            return False
        del self._learned[oldest]
        self._sorted = None
        return True

    def learn_bounded(self, holder: object, bound: str) -> None:
        """``holder`` keeps its growth under ``bound`` (``"lru_cache(maxsize=128) of f"``)."""
        self._learn(holder, bound=bound)

    def learn_filled(self, holder: object) -> None:
        """A re-run showed growth in ``holder`` stop: at its present length it is full."""
        self._learn(holder)
        known = self.known(holder)
        if known is not None:
            known.clears += 1

    def learn_leaking(self, holder: object, root: str) -> None:
        """``holder`` keeps the growth of the confirmed leak ``root``."""
        self._learn(holder, root=root)

    def learn_found(self, found: list[tuple[object, str]], root: str = "") -> None:
        """Learn the first :data:`MAX_LEARNED_AT_ONCE` holders one search ``found``, each
        with its bound (``""``: none): bounded, else leaking when ``root``, else filled."""
        for holder, bound in found[:MAX_LEARNED_AT_ONCE]:
            if bound:
                self.learn_bounded(holder, bound)
            elif root:
                self.learn_leaking(holder, root)
            else:
                self.learn_filled(holder)

    def bounded(self) -> list[Learned]:
        return list(self._kinds().bounded)

    def filled(self) -> list[Learned]:
        return list(self._kinds().filled)

    def leaking(self) -> list[Learned]:
        return list(self._kinds().leaking)

    def roots_grew(self) -> bool:
        """Whether a leaking root is longer than its length last noted."""
        return next(grown(self.leaking()), None) is not None

    def own_ids(self) -> set[int]:
        """Ids of the book's own containers: it holds what it learned, and a retainer
        chain must never run through it."""
        kinds = self._sorted or ()  # its lists, when sorted
        return {id(self), id(self._learned), *map(id, self._learned.values()), *map(id, kinds)}

    def known(self, holder: object) -> Learned | None:
        """What the book learned about ``holder``, if anything."""
        learned = self._learned.get(id(holder))
        return learned if learned is not None and learned.holder is holder else None

    def note_lengths(self) -> None:
        """Take each length-watched holder's present length, each bounded or leaking
        ``lru_cache``'s misses and each bounded dict's tail, as those the next run is
        compared with (called as a window opens: O(holders), read in C)."""
        # Sorted here, as a window opens: what the book keeps is then old heap.
        kinds = self._sorted = self._kinds()
        measured = kinds.measured
        _set_all(measured, "length", _lengths(list(map(_HOLDER, measured))))
        for entry in kinds.leaking:
            entry.head = first_entry(entry.holder)
        tailed = kinds.tailed
        _set_all(tailed, "tail", _tails(list(map(_HOLDER, tailed))))
        for entry in kinds.counted:
            holder = entry.holder
            if type(holder) is LRU_WRAPPER:  # functools' own: its counts are ints
                info = holder.cache_info()
                entry.lru_hits, entry.misses = info.hits, info.misses
            else:
                entry.lru_hits, entry.misses = lru_calls(holder)


def _set_all(entries: list[Learned], name: str, values: Iterable[object]) -> None:
    """Set attribute ``name`` of each entry to its value, in C."""
    collections.deque(map(setattr, entries, itertools.repeat(name), values), maxlen=0)


#: Siblings in a row whose filled holders' walks found nothing, past which the next ones
#: skip them; and how often one still walks, to see the function change its ways: one
#: in :data:`WALK_EVERY` at first, half as often after each of those that missed too,
#: :data:`WALK_DOUBLINGS` times at most (one in 64).
MISSES_BEFORE_SKIPPING = 3
WALK_EVERY = 8
WALK_DOUBLINGS = 3


class FilledWalks:
    """When a parametrized function's screened runs walk the filled holders.

    The walk down from every filled holder costs what their newest entries hold (0.4 to
    0.8 ms for babel's two locale caches of 1,148 entries), for each test that leaves
    anything; the siblings of a function that leaves what no filled holder keeps (a
    lazily wrapped value stored in place deep inside a locale's data) pay it for nothing,
    a thousand times. So once :data:`MISSES_BEFORE_SKIPPING` siblings in a row walked,
    found nothing and stayed suspects, the next ones skip the walk, but for one in
    :data:`WALK_EVERY`, then in twice as many after each of those that missed as well
    (babel's smoke tests: 1,147 siblings in each of three functions, 143 walks of 1.4 ms
    each where 23 tell the same). A sibling whose leftovers other rules explained is no
    miss: the walk found nothing of its, but may of the next (python-dateutil's time
    zone tests, whose leftovers the cache of zones holds now and then, became suspects
    by the thousand when it counted). What a skipped walk would have found stays the run's
    own: its test is a suspect, whose repetitions always walk, so a wrong skip costs a
    re-run, never a verdict.
    """

    def __init__(self) -> None:
        #: Per function: its siblings in a row that walked and found nothing, and those
        #: that skipped since the last walk.
        self._misses: dict[object, int] = {}
        self._skipped: dict[object, int] = {}

    def due(self, function: object) -> bool:
        """Whether a screened run of ``function`` (None: no parametrized one) walks."""
        misses = self._misses.get(function, 0)
        if function is None or misses < MISSES_BEFORE_SKIPPING:
            return True
        every = WALK_EVERY << min(misses - MISSES_BEFORE_SKIPPING, WALK_DOUBLINGS)
        skipped = self._skipped.get(function, 0) + 1
        self._skipped[function] = skipped % every
        return skipped >= every

    def walked(self, function: object, missed: bool) -> None:
        """Note a walk of ``function``'s run: whether it ``missed`` (the filled holders
        held none of what the run left, and some of it stayed unexplained)."""
        if function is not None:
            self._misses[function] = self._misses.get(function, 0) + 1 if missed else 0


def contents(
    learned: list[Learned],
    avoid: frozenset[int] = frozenset(),
    newest: int = 0,
    into_containers: bool = True,
    beneath: bool = True,
) -> list[object]:
    """What the holders refer to, and (with ``beneath``) what those refer to: the seeds
    of a walk down into the young heap. The second step passes old entries, other than
    those whose id is in ``avoid``: a cached object from an earlier test may make a young
    one now (a stream's decoder is made on its first read). Without ``into_containers``
    it passes no plain container (list, dict, set, deque): what one of those gained is
    growth, not an object made by a cached one. With ``newest``, of a large dict or list
    only that many newest entries are entered (else :data:`NEWEST`); of a bounded dict,
    those after the key noted as the window opened (a cache adds at its end: it costs
    what the run added)."""
    if not learned:
        return []
    newest = newest or NEWEST
    caches = [entry for entry in learned if entry.misses >= 0]
    holders = [entry.holder for entry in learned if entry.misses < 0]
    # A bounded dict noted as the window opened is entered from what the run added.
    noted = {
        id(entry.holder): (entry.holder, entry.tail[1])
        for entry in learned
        if entry.bound and entry.tail is not None and type(entry.holder) is dict
    }
    others = excluding(holders, noted)
    found = _newest_referents(others, newest) if others else []
    for holder, newest_key in noted.values():
        found += newest_entries(holder, keys_after(holder, newest_key, newest))
    for cache in caches:
        found += cache.referents()
    # Each entry once (in C): an lru_cache lists its keys twice (its list and its dict),
    # and holders share entries (a class, a module's dict), which the next step expands.
    # An entry the collector does not track (a string, a number, an atomic tuple) is no
    # young object and refers to none: left out before its id is taken.
    entries = list(filter(gc.is_tracked, found))
    # A function holds what it made on first access (its __annotations__), never what
    # its module holds: its globals (and builtins) would add a module's names.
    avoid = avoid.union(*map(_namespaces, holders))
    if len(learned) > 1 or caches or avoid:
        unique = dict(zip(map(id, entries), entries, strict=True))
        for key in unique.keys() & avoid:
            del unique[key]
        entries = [*unique.values()]
    if not beneath:
        return entries
    # These run for every triaged test over hundreds of entries: filtered in C.
    entered = of_types(entries, _IMMUTABLE if into_containers else _NOT_ENTERED, keep=False)
    return entries + _newest_referents(entered, NEWEST)


def _namespaces(holder: object) -> set[int]:
    """The ids of a function's globals and builtins; none for anything else."""
    if not is_a(holder, types.FunctionType):
        return set()
    return {id(holder.__globals__), id(getattr(holder, "__builtins__", None))}


#: How many of a large dict's or list's newest entries a walk down starts from: a run
#: appends what it adds (an ``lru_cache``'s new entry too), so a cache of ten thousand
#: entries costs each test what a short one does. An entry replaced in place further
#: back is not seen: its test is a suspect, and a re-run shows the replacement.
NEWEST = 512
_ORDERED = frozenset({dict, list})
_PLAIN = frozenset({dict, list, set, frozenset, collections.deque})
#: What holds nothing younger than itself: an old tuple's items were all made before it
#: (a young one is an entry itself), so the second step need not list them.
_IMMUTABLE = frozenset({tuple, frozenset, str, bytes, int, float, bool, type(None)})
_NOT_ENTERED = _PLAIN | _IMMUTABLE


def _newest_referents(objects: list[object], newest: int) -> list[object]:
    """``gc.get_referents(*objects)``, of a dict or list longer than ``newest`` only the
    ``newest`` last entries."""
    others = gc.get_referents(*of_types(objects, _ORDERED, keep=False))
    return others + newest_of(of_types(objects, _ORDERED, keep=True), newest)


def newest_of(containers: list[Any], newest: int) -> list[object]:
    """The entries of the sized ``containers``, the ``newest`` last of a longer one
    (:func:`newest_entries`): the short ones, nearly all, listed in one call in C."""
    if not containers:
        return []
    long = list(map(newest.__lt__, map(len, containers)))
    found = gc.get_referents(*itertools.compress(containers, map(operator.not_, long)))
    for container in itertools.compress(containers, long):
        found += newest_entries(container, newest)
    return found


def newest_entries(container: object, count: int) -> list[object]:
    """The entries a run may have added to a container, without listing the others: the
    keys and values of a dict's ``count`` newest items, the ``count`` last items of a
    list, tuple or deque, all of any other container's (a set has no order)."""
    if is_a(container, (list, tuple)):
        return list(container[-count:])
    if is_a(container, collections.deque):
        return list(itertools.islice(reversed(container), count))
    if not is_a(container, dict):
        return list(cast("Iterable[object]", container))
    if len(container) <= 2 * count:
        # Listed in C, in insertion order, six times faster than its items: runs for
        # every triage.
        return _last_entries(gc.get_referents(container), len(container), count)
    try:
        keys = itertools.islice(reversed(container.keys()), count)
        values = itertools.islice(reversed(container.values()), count)
        return [*keys, *values]
    except RuntimeError:  # changed by another thread meanwhile
        return _last_entries(gc.get_referents(container), len(container), count)


def _last_entries(referents: list[object], length: int, count: int) -> list[object]:
    """The referents of a dict of ``length`` entries that belong to its ``count`` newest:
    a dict lists each value, and each key that is not a string after it."""
    per_entry = 1 if len(referents) <= length else 2
    return referents[max(len(referents) - per_entry * count, 0) :]


def keys_after(holder: dict[object, object], key: int, cap: int) -> int:
    """How many of ``holder``'s newest keys come after the key whose id is ``key`` (its
    newest when the window opened): what the run added, never the entries it merely
    used. ``cap`` when that key is not among the ``cap`` newest (evicted, or the dict
    rebuilt)."""
    try:
        newest_keys = itertools.islice(reversed(holder.keys()), cap)
        return next((at for at, found in enumerate(newest_keys) if id(found) == key), cap)
    except RuntimeError:  # changed by another thread meanwhile
        return cap


def added_entries(entry: Learned) -> int:
    """How many entries the holder gained since its length was noted (0: none, or
    unknown)."""
    return max(sized_length(entry.holder) - entry.length, 0) if entry.length >= 0 else 0


def grown(learned: list[Learned]) -> Iterator[Learned]:
    """The holders whose length grew since it was last noted."""
    measured = list(itertools.compress(learned, map((0).__le__, map(_LENGTH, learned))))
    now = _lengths(list(map(_HOLDER, measured)))
    return itertools.compress(measured, map(operator.gt, now, map(_LENGTH, measured)))
