"""In-process tests of the heap model's helpers: the RSS probe and the survivors' filters."""

from __future__ import annotations

import gc
import os
import random
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterator

import pytest

from pytest_memguard.figures import Figures
from pytest_memguard.screen.gcwatch import GcWatch
from pytest_memguard.screen.heap import (
    RssProbe,
    among,
    excluding,
    find_tops,
    freeze_isolates_young_heap,
    keyed_by_id,
    of_kinds,
    of_types,
    take_snapshot,
    top_objects,
    tops_within,
    weak_to_known,
    with_subclasses,
    without_running_calls,
    young_reachable,
)
from pytest_memguard.screen.window import GuardedRun


def test_a_snapshot_reads_the_cpu_time_only_when_asked() -> None:
    """The process's CPU time is a system call: a screen, every test, does not read it."""
    probe = RssProbe()
    try:
        assert take_snapshot(probe, cpu=False).cpu is None
        cpu = take_snapshot(probe).cpu
        assert cpu is not None and cpu > 0
    finally:
        probe.close()


def test_a_run_whose_cpu_time_was_not_read_is_as_busy_as_its_wall_time() -> None:
    """What a confirmed leak's tracing is sized by: CPU seconds, else the wall time."""
    screened = GuardedRun([], Figures(duration=0.25))
    assert screened.busy_seconds == 0.25
    repeated = GuardedRun([], Figures(duration=0.25), cpu_seconds=0.1)
    assert repeated.busy_seconds == 0.1


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_without_proc_the_probe_reads_the_same_rss_through_psutil() -> None:
    probe = RssProbe()
    from_proc = probe.rss()
    probe._statm = None  # what a system without /proc/self/statm gives
    from_psutil = probe.rss()
    assert from_proc > 0
    assert abs(from_psutil - from_proc) < 16 * 1024 * 1024


def _vm_hwm() -> int:
    """The kernel's own figure for the peak: ``VmHWM`` in ``/proc/self/status``."""
    with open("/proc/self/status", "rb") as status:
        line = next(line for line in status if line.startswith(b"VmHWM:"))
    return int(line.split()[1]) * 1024


_PEAK = pytest.mark.skipif(not RssProbe().peak_available, reason="needs a resettable peak")


@_PEAK
def test_the_rss_peak_is_the_kernel_s_since_the_reset() -> None:
    probe = RssProbe()
    probe.reset_peak()
    start = probe.rss()
    block = bytearray(64 * 1024 * 1024)
    block[:: os.sysconf("SC_PAGE_SIZE")] = b"x" * len(block[:: os.sysconf("SC_PAGE_SIZE")])
    del block
    peak = probe.peak()
    assert peak is not None
    assert peak - start >= 60 * 1024 * 1024
    assert abs(peak - _vm_hwm()) < 1024 * 1024
    probe.reset_peak()
    assert (probe.peak() or 0) - probe.rss() < 8 * 1024 * 1024


@_PEAK
def test_a_peak_older_than_the_reset_is_never_the_run_s() -> None:
    """``getrusage()`` keeps the peaks of threads that exited, which the reset does not
    clear: where its figure exceeds the resident size at the reset, the peak is read
    from the kernel's status instead."""
    probe = RssProbe()
    older = types.SimpleNamespace(ru_maxrss=1 << 40)
    probe._usage = lambda: older  # a peak far above anything since
    probe.reset_peak()
    peak = probe.peak()
    assert peak is not None
    assert peak < 1 << 40
    assert abs(peak - _vm_hwm()) < 1024 * 1024


@_PEAK
def test_a_run_measured_for_its_peak_reads_its_resident_size_once_each_end() -> None:
    """The reset's own read of the resident size is the run's start figure, and the
    end figure serves the peak: a run pays no system call twice."""
    probe = RssProbe()
    reads: list[int] = []
    read = probe.rss

    def counted() -> int:
        reads.append(1)
        return read()

    probe.rss = counted  # type: ignore[method-assign]
    start = take_snapshot(probe, cpu=False, resident=probe.reset_peak())
    assert len(reads) == 1 and start.rss > 0
    end = take_snapshot(probe, cpu=False)
    peak = probe.peak(end.rss)
    assert len(reads) == 2
    assert peak is not None and peak >= end.rss


def test_frames_of_running_functions_are_not_the_tests() -> None:
    """A stack walk inside the window makes frame objects of pytest's and the plugin's
    running callers; a finished frame the test kept is the test's."""

    def finished() -> types.FrameType:
        return sys._getframe()

    kept = finished()
    running = sys._getframe()
    value = {"made": "by the test"}
    assert without_running_calls([running, kept, value]) == [kept, value]
    no_frames: list[object] = [value]
    assert without_running_calls(no_frames) is no_frames


@pytest.fixture
def blocked_reader() -> Iterator[int]:
    """A thread blocked in a buffered read of a pipe; yields the pipe's write end."""
    read_end, write_end = os.pipe()
    started = threading.Event()

    def read_all() -> None:
        with os.fdopen(read_end, "rb") as stream:
            started.set()
            while stream.read(64):
                pass

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    started.wait()
    try:
        yield write_end
    finally:
        os.close(write_end)
        reader.join(timeout=5)


def test_the_buffer_another_threads_read_holds_is_not_the_tests(blocked_reader: int) -> None:
    """A message arriving in a window makes the reader start its next read there: the
    view of its buffer that C holds for that call is young, and nothing can be found
    holding it. A view of the test's own bytes is the test's."""
    gc.collect()
    gc.freeze()
    try:
        os.write(blocked_reader, b"x" * 64)  # the reader wakes, then reads again
        for _ in range(500):
            in_flight = [obj for obj in gc.get_objects() if type(obj) is memoryview]
            if in_flight:
                break
            time.sleep(0.01)
        own = memoryview(b"made by the test")
        objects = [*in_flight, *gc.get_referents(*in_flight), own]
    finally:
        gc.unfreeze()
    assert in_flight, "the reader made no view of its buffer"
    assert without_running_calls(objects) == [own]


class _SelfBinding:
    """A cache that binds its own methods, as pyparsing's ``_FifoCache`` does: a cycle."""

    def __init__(self) -> None:
        self.get = self.lookup

    def lookup(self) -> None: ...


def test_a_cycle_no_other_object_reaches_has_its_first_object_as_top() -> None:
    tree = {"leaf": [1]}
    cache = _SelfBinding()
    objs: list[object] = [tree, tree["leaf"], cache, vars(cache), cache.get]
    tops = top_objects(objs)
    assert tops[0] is tree
    assert tops[1] is cache
    assert len(tops) == 2


def test_the_gc_watch_tells_whether_a_full_collection_ran() -> None:
    """Only a full collection stops tracking dicts that hold no container: the window
    reads this before trusting that an object listed among the newest is new."""
    watch = GcWatch()
    watch.install()
    try:
        watch.start()
        gc.collect(0)
        assert not watch.collected_the_oldest()
        gc.collect()
        assert watch.collected_the_oldest()
        watch.start()
        assert not watch.collected_the_oldest()
    finally:
        watch.stop()
        watch.uninstall()


def test_every_class_below_the_roots_is_listed_once() -> None:
    """A class below two of the roots' branches (multiple inheritance) is one class."""

    class Base:
        pass

    class Left(Base):
        pass

    class Right(Base):
        pass

    class Both(Left, Right):
        pass

    found = list(with_subclasses([Base, Left]))
    assert sorted(cls.__name__ for cls in found) == ["Base", "Both", "Left", "Right"]


def test_freezing_isolates_the_young_heap_here_and_is_undone() -> None:
    """CPython 3.10-3.13 list only what was made after ``gc.freeze()``; the check leaves
    nothing frozen behind (the windows freeze and unfreeze on their own)."""
    assert freeze_isolates_young_heap()
    assert gc.get_freeze_count() == 0


def test_the_tops_of_what_is_kept_are_told_from_the_tops_of_all() -> None:
    """Rules explained some of what a run left: the rest hangs from the tops of all it
    kept and what the objects left out refer to, found without walking the rest again:
    every object of the rest no other refers to, and one of each cycle only a left-out
    object reached."""
    rng = random.Random(45)
    for _ in range(300):
        objs: list[list[object]] = [[] for _ in range(rng.randint(1, 30))]
        for obj in objs:
            obj.extend(rng.sample(objs, rng.randint(0, min(3, len(objs)))))
        kept = [obj for obj in objs if rng.random() < 0.7]
        candidates = tops_within(objs, find_tops(objs), kept)
        members = {id(obj): obj for obj in kept}
        referred = {id(ref) for obj in kept for ref in obj} & members.keys()
        assert members.keys() - referred <= {id(obj) for obj in candidates}
        assert young_reachable(candidates, members) == members.keys()
    chain: list[object] = []
    cycle: list[object] = [chain]
    chain.append(cycle)
    explained: list[object] = [cycle]
    every = [explained, cycle, chain]
    assert tops_within(every, find_tops(every), [cycle, chain]) == [cycle]


def test_excluding_and_among_split_objects_by_id_in_order() -> None:
    first, second, third = [1], {"two": 2}, [3]
    objects = [first, second, third]
    picked = {id(first), id(third)}
    assert among(objects, picked) == [first, third]
    assert excluding(objects, picked) == [second]
    # Any container of ids serves: the walks hand over sets and dicts alike.
    assert among(objects, dict.fromkeys(picked)) == [first, third]
    assert excluding((), picked) == []


def test_of_kinds_picks_by_type_and_subclass_without_asking_the_object() -> None:
    class Proxy:
        """A lazy object whose ``__class__`` must never be read."""

        @property  # type: ignore[misc]
        def __class__(self) -> type:
            raise AssertionError("isinstance() read __class__")

    class Items(list[int]):
        pass

    proxy, items, plain = Proxy(), Items(), [0]
    objects: list[object] = [proxy, items, "text", plain]
    assert of_kinds(objects, list) == [items, plain]
    assert of_kinds(objects, list, keep=False) == [proxy, "text"]
    assert of_kinds(objects, (str, Proxy)) == [proxy, "text"]
    assert of_kinds(objects, dict) == []
    # Exact types only: a subclass of list is not a list.
    assert of_types(objects, {list}) == [plain]
    assert of_types(objects, {list}, keep=False) == [proxy, items, "text"]


class _Owner:
    def method(self) -> None:
        pass


def _is_weak_to_known(obj: object, young: dict[int, object], known: set[int]) -> bool:
    """The rule one reference at a time: a weak reference to a dead object, an old one
    or a known young one."""
    if not issubclass(type(obj), weakref.ref):
        return False
    referent = obj()  # type: ignore[operator]
    return referent is None or id(referent) not in young or id(referent) in known


def test_weak_references_to_old_dead_or_known_objects_are_picked_as_one_by_one() -> None:
    """``weak_to_known`` picks, in C, what the rule says of each reference: to an old
    object, a dead one or a known young one, not to an unknown young one."""
    old, young_known, young_unknown, owner = _Owner(), _Owner(), _Owner(), _Owner()
    dead = weakref.ref(_Owner())
    refs = [
        weakref.ref(old),
        weakref.ref(young_known),
        weakref.ref(young_unknown),
        dead,
        weakref.WeakMethod(owner.method),
    ]
    young = keyed_by_id([young_known, young_unknown, owner])
    known = {id(young_known)}
    picked = weak_to_known(refs, young, known)
    assert picked == [ref for ref in refs if _is_weak_to_known(ref, young, known)]
    assert picked[:3] == [refs[0], refs[1], dead]
    assert refs[2] not in picked
