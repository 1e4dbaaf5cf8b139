"""The embedded generational heap model (docs/architecture.md, "The heap model").

The *old heap* is everything alive when a window opens; ``gc.freeze()`` moves it to
the permanent generation, so collections and ``gc.get_objects()`` inside the window
see only the *young heap*: container objects created since. What survives the
window's end and a (young-only) collection is what the window promoted.
"""

from __future__ import annotations

import contextvars
import functools
import gc
import io
import operator
import os
import sys
import time
import tracemalloc
import types
import weakref
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from itertools import chain, compress, repeat
from typing import Any, NamedTuple, TypeGuard, TypeVar, cast

_T = TypeVar("_T")
_DICT = frozenset({dict})

# Up to 3.13 the collector has three generations and a full collection resets its
# "long-lived total" to what it just saw: with the old heap frozen, that is a handful of
# young survivors, and once the old heap is unfrozen every later gen-1 collection
# escalates to a full, O(heap) one. 3.14 reworked the collector: collect fully there.
_GENERATIONAL_COLLECTOR = sys.version_info < (3, 14)
#: Whether survivors() lists objects oldest first: a young collection appends what
#: survives to the end of the oldest generation, in the order the objects were made, so
#: an object made between two runs marks where the second run's objects begin.
SURVIVORS_IN_CREATION_ORDER = _GENERATIONAL_COLLECTOR
# From 3.13 an instance's materialized __dict__ is not among gc.get_referents(instance).
_REFERENTS_OMIT_INSTANCE_DICT = sys.version_info >= (3, 13)
# Before 3.12 an io.StringIO written to in pieces keeps them in an accumulator whose
# lists its tp_traverse does not report: young objects with no visible holder.
_STRINGIO_HIDES_ACCUMULATOR = sys.version_info < (3, 12)


#: ``Py_TPFLAGS_HEAPTYPE``: set on a class made by a class statement or ``type()``,
#: never on a type implemented in C.
HEAPTYPE = 1 << 9


def _context_state_types() -> frozenset[type]:
    """The types a context keeps its variables in (CPython's hash array mapped trie),
    found in a context of the plugin's own rather than named: a ``set()`` makes a new
    one in place of the last, held by the context, which only the interpreter holds."""
    context = contextvars.Context()
    variables: list[contextvars.ContextVar[None]] = [
        contextvars.ContextVar(f"probe{n}") for n in range(48)
    ]
    for variable in variables:
        context.run(variable.set, None)
    found: set[type] = set()
    frontier = gc.get_referents(context)
    while frontier:
        found.update(map(type, frontier))
        frontier = [ref for ref in gc.get_referents(*frontier) if gc.is_tracked(ref)]
        frontier = [ref for ref in frontier if not isinstance(ref, contextvars.ContextVar)]
    return frozenset(found)


#: Types of a context's own storage: the context's, never a finding of their own.
CONTEXT_STATE = _context_state_types()


class RssProbe:
    """Resident set size and its peak, at O(1) cost per read.

    On Linux a kept-open ``/proc/self/statm`` is read with ``pread`` (about 2 us, where
    psutil takes 30 us), and the peak (``VmHWM``) is reset through
    ``/proc/self/clear_refs`` value 5. The peak is then read from ``getrusage()`` (1 us)
    when it can tell it: its ``ru_maxrss`` is the larger of that peak and the peak of
    threads that exited before, so only where it exceeds the resident size as the peak
    is reset is ``/proc/self/status`` read (7 to 20 us, more with many threads).
    Elsewhere RSS comes from psutil and the peak is not measured.
    """

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._statm: int | None = self._open("/proc/self/statm", os.O_RDONLY)
        self._status: int | None = self._open("/proc/self/status", os.O_RDONLY)
        self._clear_refs: int | None = self._open("/proc/self/clear_refs", os.O_WRONLY)
        self._process: Any = None
        #: Whether ``getrusage()`` tells the peak since the last reset.
        self._maxrss_is_peak = False
        if self.peak_available:
            import resource  # POSIX only, as /proc is

            self._usage = functools.partial(resource.getrusage, resource.RUSAGE_SELF)

    @staticmethod
    def _open(path: str, flags: int) -> int | None:
        try:
            return os.open(path, flags)
        except OSError:
            return None

    @property
    def peak_available(self) -> bool:
        return self._status is not None and self._clear_refs is not None

    def rss(self) -> int:
        if self._statm is not None:
            return int(os.pread(self._statm, 128, 0).split()[1]) * self._page
        if self._process is None:
            import psutil  # 11 ms to import: only where /proc/self/statm is missing

            self._process = psutil.Process()
        return int(self._process.memory_info().rss)

    def reset_peak(self) -> int | None:
        """Reset the peak to the resident size, and return that size (read after the
        reset, the figure a run starts from: one read serves both), None when the peak
        cannot be reset."""
        if not self.peak_available or self._clear_refs is None:
            return None
        try:
            os.write(self._clear_refs, b"5")
        except OSError:
            self._clear_refs = None
            return None
        # Read after the reset: a larger figure is an older peak it does not clear.
        maxrss = self._max_rss()
        resident = self.rss()
        self._maxrss_is_peak = maxrss <= resident
        return resident

    def peak(self, resident: int | None = None) -> int | None:
        """The peak resident size since the reset; ``resident`` is the size just read,
        if the caller has it."""
        if not self.peak_available or self._status is None:
            return None
        if self._maxrss_is_peak:
            # Some kernels count it up to the last unmapping only: not the current size.
            return max(self._max_rss(), self.rss() if resident is None else resident)
        status = os.pread(self._status, 4096, 0)
        start = status.find(b"VmHWM:")
        end = status.find(b"kB", start)
        if start < 0 or end < 0:
            return None
        return int(status[start + len(b"VmHWM:") : end]) * 1024

    def _max_rss(self) -> int:
        """``getrusage()``'s peak resident size in bytes (Linux counts it in KiB)."""
        return int(self._usage().ru_maxrss) * 1024

    def close(self) -> None:
        for fd in (self._statm, self._status, self._clear_refs):
            if fd is not None:
                os.close(fd)
        self._statm = self._status = self._clear_refs = None


class HeapSnapshot(NamedTuple):
    """Absolute figures of the process at one moment.

    A named tuple rather than a frozen dataclass: two are made per guarded run, and a
    frozen dataclass's ``__init__`` costs several times a tuple's.
    """

    time: float
    rss: int
    garbage: int
    traced: int | None = None
    traced_peak: int | None = None
    #: CPU seconds of the process: what tracing slows, where the wall time also counts
    #: waits (for a thread, a timer). None when not read.
    cpu: float | None = None


def take_snapshot(rss: RssProbe, cpu: bool = True, resident: int | None = None) -> HeapSnapshot:
    """Read the cheap figures: RSS (``resident`` when the caller just read it),
    ``gc.garbage``, tracemalloc when tracing, and the process's CPU time with ``cpu`` (a
    system call, unlike the wall clock)."""
    traced: int | None = None
    traced_peak: int | None = None
    if tracemalloc.is_tracing():
        traced, traced_peak = tracemalloc.get_traced_memory()
    return HeapSnapshot(
        time=time.perf_counter(),
        rss=rss.rss() if resident is None else resident,
        garbage=len(gc.garbage),
        traced=traced,
        traced_peak=traced_peak,
        cpu=time.process_time() if cpu else None,
    )


def freeze_isolates_young_heap() -> bool:
    """Whether ``gc.freeze()`` hides the old heap from ``gc.get_objects()`` here.

    True on CPython 3.10-3.13. Checked at run time so that an interpreter whose GC
    changed (3.14 reworked it) degrades to the id-diff window instead of lying.
    """
    if not hasattr(gc, "freeze"):
        return False
    gc.freeze()
    try:
        marker: list[object] = [object]
        young = gc.get_objects()
        # What was made after the freeze is listed and what was alive before it is not:
        # both read from the young listing (counting the frozen objects walks the heap).
        return any(obj is marker for obj in young) and not any(obj is sys.modules for obj in young)
    finally:
        # Unfreezes what was frozen before too (3.12 starts with a frozen set): every
        # window does the same, and leaving the heap frozen would stall its collection.
        gc.unfreeze()


class YoungHeap:
    """Opens and closes one window over the young heap.

    With ``use_freeze`` (the normal case) opening is O(1) and listing the survivors is
    O(young). Without it, opening records the ids of every tracked object, which is
    O(heap): the degraded mode for interpreters where freezing does not isolate.
    """

    def __init__(self, use_freeze: bool) -> None:
        self.use_freeze = use_freeze
        self._old_ids: set[int] | None = None
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        if self.use_freeze:
            gc.freeze()
        else:
            self._old_ids = set(map(id, gc.get_objects()))
        self._open = True

    def promote(self) -> None:
        """Make everything alive now part of the old heap, without closing the window:
        what a wider-scoped fixture just built is not the test's."""
        if not self._open:
            return
        if self.use_freeze:
            gc.freeze()
        elif self._old_ids is not None:
            self._old_ids.update(map(id, gc.get_objects()))

    def survivors(self) -> list[object]:
        """Young objects still alive after a collection of the young generations."""
        _collect_young()
        objects = gc.get_objects()
        if _STRINGIO_HIDES_ACCUMULATOR and _realize_string_buffers(objects):
            del objects
            objects = gc.get_objects()
        if self._old_ids is not None:
            objects = excluding(objects, self._old_ids)
        return objects

    def close(self) -> None:
        """Give the old heap back to the collector; safe to call more than once."""
        if self._open and self.use_freeze:
            gc.unfreeze()
        self._old_ids = None
        self._open = False


def _collect_young() -> None:
    """Collect what the window created, without a full collection where avoidable.

    Generations 0 and 1 hold every young object unless the test itself triggered a
    gen-1 collection, which promotes survivors to the oldest generation: only then (or
    on a collector without those generations) is a full collection needed.
    """
    if _GENERATIONAL_COLLECTOR and not gc.get_objects(generation=2):
        gc.collect(1)
    else:
        gc.collect()


def without_running_calls(objects: list[object]) -> list[object]:
    """``objects`` less what calls still running hold from C: the frame objects of
    pytest's and the plugin's running callers, and the buffers another thread's
    blocked read holds.

    A test that walks the stack (``inspect.stack()``, a traceback's ``f_back``) makes
    frame objects of its running callers, which the running thread holds. A thread
    blocked in a buffered read (execnet's reader under xdist, a subprocess pipe's
    reader) holds a view of the reader's buffer, made for the call when the read started,
    whichever window was open then. Neither is the test's, and no holder of theirs can be
    found."""
    kinds = set(map(type, objects))  # in C: half the cost of any()
    held: set[int] = set()
    if types.FrameType in kinds:
        frame: types.FrameType | None = sys._getframe()
        while frame is not None:
            held.add(id(frame))
            frame = frame.f_back
    if memoryview in kinds:
        held.update(_views_in_flight(objects))
    return excluding(objects, held) if held else objects


#: The type of the buffer record a memoryview refers to (not a builtin name).
_MANAGED_BUFFER = type(gc.get_referents(memoryview(b""))[0])


def _views_in_flight(objects: list[object]) -> set[int]:
    """Ids of the memoryviews among ``objects`` over memory no Python object owns, with
    their buffer records, while another thread runs. Buffered I/O hands its internal
    buffer to the raw stream's ``readinto`` as such a view, made and held by C for the
    call: the main thread has none running when a window closes; another thread blocked
    in a read has one."""
    if len(sys._current_frames()) < 2:
        return set()
    ids: set[int] = set()
    for obj in objects:
        if type(obj) is memoryview and _owned_by_no_object(obj):
            ids.add(id(obj))
            ids.update(id(ref) for ref in gc.get_referents(obj) if type(ref) is _MANAGED_BUFFER)
    return ids


def _owned_by_no_object(view: memoryview) -> bool:
    try:
        return view.obj is None
    except ValueError:  # released
        return False


def excluding(objects: Sequence[_T], ids: Container[int]) -> list[_T]:
    """``objects`` without those whose id is in ``ids``, picked in C: the lists a run
    leaves are filtered several times per test, and a comprehension costs a few
    bytecodes per object."""
    return list(compress(objects, map(operator.not_, map(ids.__contains__, map(id, objects)))))


def among(objects: Sequence[_T], ids: Container[int]) -> list[_T]:
    """The ``objects`` whose id is in ``ids``, in order, picked in C."""
    return list(compress(objects, map(ids.__contains__, map(id, objects))))


def keyed_by_id(objects: Iterable[_T]) -> dict[int, _T]:
    """``{id(obj): obj}`` for ``objects``, made in C."""
    listed = list(objects)
    return dict(zip(map(id, listed), listed, strict=True))


def of_types(objects: Sequence[_T], types_: Container[type], keep: bool = True) -> list[_T]:
    """The ``objects`` whose exact type is among ``types_`` (``keep``), or those whose
    type is not, in order, picked in C."""
    member = map(types_.__contains__, map(type, objects))
    return list(compress(objects, member if keep else map(operator.not_, member)))


def of_kinds(objects: Sequence[_T], kinds: type | tuple[type, ...], keep: bool = True) -> list[_T]:
    """The ``objects`` whose type is a subclass of ``kinds`` (``keep``), or those whose
    type is not, in order: ``issubclass`` asked once per type, the objects picked in C.
    Told by the type alone: ``isinstance`` would read a lazy proxy's ``__class__``."""
    present = list(set(map(type, objects)))
    subclasses = map(issubclass, present, repeat(kinds))
    wanted = set(compress(present, subclasses if keep else map(operator.not_, subclasses)))
    return list(objects) if len(wanted) == len(present) else of_types(objects, wanted)


def _realize_string_buffers(objects: list[object]) -> bool:
    """Turn accumulating StringIOs into plain buffers, freeing their hidden lists.

    ``readline(0)`` realizes the buffer without moving the position; ``getvalue()``
    would not do: it re-creates the accumulator.
    """
    # Picked in C by their type: this reads every young object of every test.
    buffers: Iterator[Any] = compress(
        objects, map(operator.is_, map(type, objects), repeat(io.StringIO))
    )
    realized = False
    for buffer in buffers:
        if not buffer.closed:
            buffer.readline(0)
            realized = True
    return realized


def young_reachable(
    seeds: Iterable[object],
    young: dict[int, object],
    already: set[int] | None = None,
    skip: AbstractSet[int] = frozenset(),
) -> set[int]:
    """Ids of the young objects reachable from ``seeds`` through young objects only.

    Old objects are not entered: the walk costs what the young heap holds, never what
    the old heap holds. ``already`` (ids) is extended in place and returned. Objects of
    ``skip`` (ids) are neither entered nor returned: what an earlier walk accounted for.
    The set arithmetic runs in C (``map(id, ...)``, intersections): this runs for every
    test. The intersection takes the ids as they come, never as a set of its own: a set
    of a million strings would cost a set of a million ids. Only objects the collector
    tracks are young ones (``gc.get_objects()`` lists no other): the strings, numbers
    and atomic tuples among the referents are dropped in C before their ids are taken
    (a list of a million strings: 13 ms instead of 57).
    """
    reached: set[int] = set() if already is None else already
    young_ids = young.keys()
    fresh = young_ids & map(id, seeds)
    fresh -= reached
    fresh -= skip
    while fresh:
        reached |= fresh
        referents = all_referents(list(map(young.__getitem__, fresh)))
        fresh = young_ids & map(id, filter(gc.is_tracked, referents))
        fresh -= reached
        fresh -= skip
    return reached


def beneath(tops: Iterable[object], objs: list[object]) -> list[object]:
    """The objects of ``objs`` reachable from ``tops`` (some of them) through them only."""
    reached = young_reachable(tops, keyed_by_id(objs))
    return among(objs, reached)


_Kind = TypeVar("_Kind")


def is_a(obj: object, kind: type[_Kind] | tuple[type[_Kind], ...]) -> TypeGuard[_Kind]:
    """``isinstance(obj, kind)`` told by the type alone. ``isinstance()`` reads the
    ``__class__`` of an object whose type does not match, and a lazy proxy's (werkzeug's
    ``LocalProxy`` outside a request) runs code, or raises: the heap holds such objects,
    and a search or a chain may pass through any of them."""
    return issubclass(type(obj), kind)


def weakly(obj: object | None) -> weakref.ref[object] | None:
    """A weak reference to ``obj``; None for None (checked first: no exception raised
    for the common case) or an object that takes none."""
    if obj is None:
        return None
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


#: Calls ``ref()`` from C (3.11+): weak references are read by the hundred per triage.
_call: Callable[[Callable[[], object]], object] = getattr(operator, "call", lambda ref: ref())


def weak_to_known(refs: Sequence[_T], young: dict[int, object], known: Container[int]) -> list[_T]:
    """The weak references of ``refs`` (all of them weak references) to a dead object, an
    old one (not in ``young``) or one of ``known`` (ids): they keep nothing the run made
    alive. Picked in C, each reference called once (a ``WeakMethod`` is read as called)."""
    referents = list(map(id, map(_call, refs)))  # type: ignore[arg-type]
    outside = map(operator.not_, map(young.__contains__, referents))
    return list(compress(refs, map(operator.or_, outside, map(known.__contains__, referents))))


def all_referents(objects: list[object]) -> list[object]:
    """``gc.get_referents`` of ``objects``, with their instance dicts on 3.13+, where
    an instance's materialized ``__dict__`` is no longer among its referents."""
    referents = gc.get_referents(*objects)
    if _REFERENTS_OMIT_INSTANCE_DICT:
        referents.extend(_instance_dicts(objects))
    return referents


def referents_through_dicts(objs: list[object]) -> list[object]:
    """What ``objs`` refer to, and what the dicts among those hold: an object's
    attributes through its instance dict, a cache's entries through its own dict."""
    referents = all_referents(objs)
    dicts = of_types(referents, _DICT)
    return referents + gc.get_referents(*dicts) if dicts else referents


def with_subclasses(roots: Iterable[type]) -> list[type]:
    """Each class of ``roots`` and every class below them, once each, through type's own
    ``__subclasses__`` (a metaclass may define another). Listed a level at a time in C:
    a session has thousands of classes (marshmallow's keeps every schema its tests
    define), and the rules that look through all of them run for suspects."""
    found: dict[int, type] = {}
    level = list(roots)
    while level:
        fresh = dict(zip(map(id, level), level, strict=True))
        for key in fresh.keys() & found.keys():
            del fresh[key]
        found.update(fresh)
        level = list(chain.from_iterable(map(type.__subclasses__, fresh.values())))
    return list(found.values())


#: What refers to objects a pass over the heap looked above, by the object's id: the
#: object itself (its id is only valid while it lives) and its referrers.
Referrers = dict[int, tuple[object, list[object]]]


def known_referrers(found: Referrers, obj: object) -> list[object] | None:
    """What ``found`` holds referring to ``obj``; None when it holds nothing for it (an
    entry under its id may be a dead object's whose id it took)."""
    entry = found.get(id(obj))
    return entry[1] if entry is not None and entry[0] is obj else None


def module_namespaces() -> list[dict[str, object]]:
    """The namespaces of the imported modules (``sys.modules`` may hold any object, a
    lazy loader's or None: only modules' namespaces). Read in C: a suite imports a
    thousand modules, and a walk near a test reads them for every suspect."""
    modules = list(sys.modules.values())
    kept = map(isinstance, modules, repeat(types.ModuleType))
    return list(map(vars, compress(modules, kept)))


def referred_ids(referrer: object, ids: Container[int]) -> list[int]:
    """The ids among ``ids`` of what ``referrer`` refers to, in its referents' order
    (once per reference): whom a referrer that a ``gc.get_referrers`` pass over many
    objects found refers to."""
    return list(filter(ids.__contains__, map(id, gc.get_referents(referrer))))


#: A class's own namespace, read through type's own descriptor (its ``__get__``, mapped
#: in C over many classes): no metaclass code runs.
CLASS_NAMESPACE = type.__dict__["__dict__"]


_QUALNAME = type.__dict__["__qualname__"]


def defined_in(inner: type, outer: type, name: str) -> bool:
    """Whether the class ``inner``, found as ``outer``'s attribute ``name``, was defined
    by ``outer``'s body (``class Outer: class Meta: ...``), not only referred to there.
    Read through type's own descriptors: no metaclass code runs."""
    qualname: str = _QUALNAME.__get__(inner)
    if qualname != f"{_QUALNAME.__get__(outer)}.{name}":
        return False
    module: object = CLASS_NAMESPACE.__get__(inner).get("__module__")
    return bool(module == CLASS_NAMESPACE.__get__(outer).get("__module__"))


def instance_dict(obj: object) -> dict[str, object] | None:
    """The ``__dict__`` of an object that is not a class, or None when it has none."""
    # Read through object's own lookup: no user code (a __getattribute__, a property, a
    # lazy proxy's __class__) runs, and a class that is its own metaclass has no
    # __dictoffset__ to read.
    if not getattr(type(obj), "__dictoffset__", 0) or issubclass(type(obj), type):
        return None
    try:
        found = object.__getattribute__(obj, "__dict__")
    except Exception:  # a broken class must not break the walk
        return None
    return found if isinstance(found, dict) else None


def _instance_dicts(objects: list[object]) -> list[object]:
    return [found for found in map(instance_dict, objects) if found is not None]


def older_of_its_kind(top: object, young: dict[int, object]) -> list[object]:
    """The objects older than the run (not in ``young``, by id) of ``top``'s own type
    that ``top`` refers to, itself or through its young attributes, each once: the link
    a new link of a chain (``Node(last)``) refers to. A dict's link is among its own
    values and has its keys (one statement makes the links: ``{"parent": last}``): a
    dict of data refers to older dicts of other data (a locale's, copied from its
    parent's, to the parent's tables), and through its new tables to thousands of
    names, which are not looked through."""
    kind = type(top)
    near = all_referents([top])
    if kind is not dict:
        near += all_referents(list(compress(near, map(young.__contains__, map(id, near)))))
    # Filtered in C: a locale's data refers to thousands of objects, and each of its
    # thousand new entries in a cache is asked.
    same = list(compress(near, map(operator.is_, map(type, near), repeat(kind))))
    old = list(compress(same, map(operator.not_, map(young.__contains__, map(id, same)))))
    if kind is dict and old:
        keys = cast("dict[object, object]", top).keys()
        dicts = cast("list[dict[object, object]]", old)
        old = list(compress(old, map(operator.eq, map(dict.keys, dicts), repeat(keys))))
    return list(dict(zip(map(id, old), old, strict=True)).values())


class Tops(NamedTuple):
    """The tops of a group of objects (see :func:`top_objects`)."""

    objects: list[object]
    #: Ids of the tops other objects of the group refer to: the first object of a cycle.
    in_cycles: set[int]


def find_tops(objs: list[object]) -> Tops:
    """Where the groups of ``objs`` hang: the objects no other one of them refers to,
    and for a group that is a cycle reached from none of these (a cache whose bound
    methods refer back to it), its first object in ``objs``, the first made when
    ``objs`` is in creation order."""
    if not objs:
        return Tops([], set())
    members = keyed_by_id(objs)
    # In C: objs may be many, and refer to many objects no collector tracks.
    inner = members.keys() & map(id, filter(gc.is_tracked, all_referents(objs)))
    tops = excluding(objs, inner)
    in_cycles: set[int] = set()
    reached = young_reachable(tops, members)
    if len(reached) < len(members):
        for obj in objs:
            if id(obj) not in reached:
                tops.append(obj)
                in_cycles.add(id(obj))
                young_reachable([obj], members, reached)
    return Tops(tops, in_cycles)


def tops_within(objs: list[object], tops: Tops, kept: list[object]) -> list[object]:
    """The objects of ``kept`` (some of ``objs``, whose tops are ``tops``) that it hangs
    from: the tops of ``objs`` it kept, and what the objects it left out refer to among
    it, the only others no object of ``kept`` may refer to. Every object of ``kept`` no
    other refers to is among them, and one of each cycle nothing else of it reaches
    (not always the one :func:`find_tops` would pick): a few more objects than its
    tops, for a walk of those left out only."""
    if len(kept) == len(objs):
        return tops.objects
    kept_ids = set(map(id, kept))
    left_out = excluding(objs, kept_ids)
    candidates = kept_ids.intersection(map(id, all_referents(left_out)))
    candidates.update(map(id, tops.objects))
    return among(kept, candidates)


def top_objects(objs: list[object]) -> list[object]:
    """The objects of :func:`find_tops`."""
    return find_tops(objs).objects


def reference_counts(objs: list[object]) -> list[int]:
    """The reference count of each of ``objs``; compare with :data:`HELD_BY_A_LIST`,
    counted the same way (the list, and the reference the call is handed)."""
    return list(map(sys.getrefcount, objs))


#: What an object that only a list like ``objs`` holds counts in :func:`reference_counts`.
HELD_BY_A_LIST = reference_counts([object()])[0]


def shallow_bytes(objects: Sequence[object]) -> int:
    """Sum of ``sys.getsizeof``: cheap, and enough to rank and to limit."""
    try:
        return sum(map(sys.getsizeof, objects))  # in C: a rebuilt grammar leaves thousands
    except TypeError:  # an object whose __sizeof__ is broken counts nothing
        return sum(map(_size_or_nothing, objects))


def _size_or_nothing(obj: object) -> int:
    try:
        return sys.getsizeof(obj)
    except TypeError:
        return 0
