"""Guarded runs of a test item: windows from before setup to after teardown.

Runs go through pytest's own ``runtestprotocol`` with ``log=False``: the caller logs
the reports after the verdict, so the terminal reporter, junitxml and xdist see them
outside the window, and repetitions are never logged as tests.

A screen is one run in its own window. Repetitions share one window, so what each
repetition *adds* is the growth of the survivors between two repetitions: objects a
test replaces every run (a module's "last request", pytest's per-phase capture state)
cancel out, and only real growth remains.
"""

from __future__ import annotations

import enum
import functools
import gc
import sys
import time
import tracemalloc
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest

from pytest_memguard import pytest_internals
from pytest_memguard.confirm.listing import LISTED_KINDS, HeapListing
from pytest_memguard.confirm.siblings import function_of
from pytest_memguard.figures import Figures
from pytest_memguard.pytest_internals import made_instance
from pytest_memguard.screen.containers import ContainerWatch, Growth
from pytest_memguard.screen.gcwatch import GcWatch
from pytest_memguard.screen.heap import (
    SURVIVORS_IN_CREATION_ORDER,
    HeapSnapshot,
    Referrers,
    RssProbe,
    YoungHeap,
    among,
    excluding,
    keyed_by_id,
    shallow_bytes,
    take_snapshot,
    top_objects,
    weakly,
    without_running_calls,
    young_reachable,
)
from pytest_memguard.screen.holderbook import FilledWalks, HolderBook
from pytest_memguard.screen.holders import (
    FixtureLedger,
    FullWalks,
    PluginState,
    SharedHolders,
    cheap_seeds,
    dropped_seeds,
    fixture_labels,
    item_seeds,
    shared_holders,
)
from pytest_memguard.screen.literals import literals_of
from pytest_memguard.screen.triage import (
    NOTHING_RETAINED,
    Triage,
    triage,
    triage_after,
    with_growth,
)
from pytest_memguard.sentinels.blame import Ledger
from pytest_memguard.sentinels.hooks import RECORDERS
from pytest_memguard.shallow import made


@dataclass
class GuardedRun:
    """What one run of an item produced, retained and measured."""

    reports: list[Any]
    #: None when the measurement failed (``error`` says why).
    figures: Figures | None
    retained: list[object] = field(default_factory=list)
    growth: list[Growth] = field(default_factory=list)
    holder_labels: dict[int, str] = field(default_factory=dict)
    sentinel_findings: list[Any] = field(default_factory=list)
    error: str = ""
    #: Who holds the retained objects, as far as the screen can tell without a re-run.
    triage: Triage = NOTHING_RETAINED
    #: CPU seconds the run took (the process's, all threads); None where not read (a
    #: screen: two system calls a test, for a figure only a confirmed leak's runs use).
    cpu_seconds: float | None = None
    #: Of a repetition, what it made in place of what the run before it made (dead
    #: since): no growth, but alive, and the next test may replace it in turn.
    replacing: list[object] = field(default_factory=list)
    #: Of a repetition whose every top replaced one the run before made: those tops,
    #: and the ids of the survivors the earlier runs left. Its growth, if any, is
    #: beneath the tops, in a holder that keeps some of those survivors too.
    replaced_tops: list[object] = field(default_factory=list)
    earlier_ids: set[int] = field(default_factory=set)
    #: Seconds of the run's sentinel check, which waits for threads and child
    #: processes the test left to end (a grace period): not the test's own time.
    waited: float = 0.0
    #: Of an explained run, the object above its leaks on each chain from a root.
    chain_holders: list[object] = field(default_factory=list)
    #: Of an explained run, the objects declaring the bounds of its warm-up, with them.
    bounded_holders: list[tuple[object, str]] = field(default_factory=list)
    #: For its explanation, what the search for its holders found referring to the
    #: objects it climbed through (:class:`~pytest_memguard.confirm.bounds.Holders`).
    known_referrers: Referrers = field(default_factory=dict)

    @property
    def retained_objects(self) -> int:
        return self.figures.retained_objects if self.figures is not None else 0

    @property
    def container_growth(self) -> int:
        return self.figures.container_growth if self.figures is not None else 0

    @property
    def duration(self) -> float:
        """The run's wall time in seconds, 0 when it was not measured."""
        return self.figures.duration if self.figures is not None else 0.0

    @property
    def busy_seconds(self) -> float:
        """The run's CPU seconds where they were read, else its wall time."""
        return self.cpu_seconds if self.cpu_seconds is not None else self.duration

    @property
    def passed(self) -> bool:
        return all(report.passed for report in self.reports)

    def release(self) -> None:
        """Drop the strong references to retained objects once they are judged."""
        self.retained = []
        self.replacing = []
        self.replaced_tops = []
        self.earlier_ids = set()
        self.chain_holders = []
        self.bounded_holders = []
        self.known_referrers = {}
        self.growth = [Growth(g.label, g.added, None) for g in self.growth]


#: ``before()`` runs before each run of the test; its result goes to ``after(state)``,
#: which runs after the run's collection and returns findings. The state is never the
#: test's growth: old heap for a screen (made before its window opens), one of the
#: plugin's own seeds for a repetition (made inside the window the runs share).
SentinelHooks = tuple[Callable[[], Any], Callable[[Any], list[Any]]]


#: Runs an item once, setup to teardown down to ``nextitem``, and returns its reports
#: without logging them: ``protocol(item, nextitem)``.
Protocol = Callable[[pytest.Item, Any], list[Any]]


class FirstRule(NamedTuple):
    """A rule a screen applies before its triage, to what pytest does not hold:
    ``explain(left, kept_in)`` returns the objects of ``left`` it explains, ``kept_in``
    being the plugin's other containers that hold them (for reference counts)."""

    explain: Callable[[list[object], tuple[Iterable[object], ...]], list[object]]
    why: str


#: A doctest item's example globals and their copy from before its first run: pytest's
#: doctest runner clears them after every run (``DocTestRunner.run(clear_globs=True)``),
#: so a repetition would start without the module's names.
_EXAMPLE_GLOBALS = pytest.StashKey[tuple[dict[str, Any], dict[str, Any]]]()


def keep_example_globals(item: pytest.Item) -> None:
    """Copy a doctest item's globals before its first run (outside any window)."""
    globs = getattr(getattr(item, "dtest", None), "globs", None)
    if isinstance(globs, dict) and _EXAMPLE_GLOBALS not in item.stash:
        item.stash[_EXAMPLE_GLOBALS] = (globs, dict(globs))


def run_unlogged(item: pytest.Item, nextitem: Any) -> list[Any]:
    """pytest's own run protocol, reports not logged; a doctest's globals restored first."""
    kept = item.stash.get(_EXAMPLE_GLOBALS, None)
    if kept is not None:
        kept[0].update(kept[1])
    return pytest_internals.run_unlogged(item, nextitem)


#: What pairs an object a run added with one the previous run added that died since.
_Shape = tuple[type, int]


class _Top(NamedTuple):
    """A top of what a run added: its shape, and what it referred to (a hash of the
    referents' ids), which tells the same object listed again from a new one at its
    address."""

    shape: _Shape
    contents: int


@dataclass
class _Previous:
    """The survivors of the previous run of a shared window: their ids and bytes, and
    the shape (type, shallow size) of each *top* of what the run added: an added
    object no other added object refers to."""

    ids: set[int]
    bytes: int
    tops: dict[int, _Top] = field(default_factory=dict)
    #: Made after the run was measured: the survivors listed after it are the next
    #: run's own (ids alone cannot tell: a new object may reuse a dead one's address).
    mark: list[object] = field(default_factory=list)


class _Prepared(NamedTuple):
    """What :meth:`WindowRunner._prepare` read before a run."""

    sizes: tuple[int, ...]
    sentinel_state: Any
    #: The test-class instance pytest made for the item before the run, weakly.
    instance: weakref.ref[object] | None


class _Survivors(NamedTuple):
    retained: list[object]
    held: int
    labels: dict[int, str]
    #: The retained objects listed after the previous run's mark, None without one.
    added: list[object] | None
    triage: Triage
    #: Of a screen, what its first rule explained (objects replacing dropped ones).
    first: list[object]


class _Run(enum.Enum):
    """What a measured run is, which decides when it walks the whole of pytest's state."""

    #: Alone in its window: walks when :class:`FullWalks` says it is due, and tells it.
    SCREEN = "screen"
    #: Confirms a suspect: always walks, and so teaches the cheaper holders what pytest
    #: keeps, whatever a screen skipped.
    REPETITION = "repetition"
    #: Follows a priming run in its window (the traced run that explains a leak): the
    #: priming run walked and taught the cheaper holders, and under tracing a walk
    #: costs ten times more, so it walks only when due, as a screen does.
    PRIMED = "primed"


class Tracing:
    """A block (``with Tracing(trace, depth) as tracing``) where allocations are traced
    from its :meth:`start` to its :meth:`stop` or its end, if ``trace`` and nothing else
    already traces: never a tracemalloc that something else started. A context manager
    of its own, not a generator's: every screened run enters one."""

    def __init__(self, wanted: bool, depth: int) -> None:
        self._wanted = wanted
        self._depth = depth
        self._started = False

    def __enter__(self) -> Tracing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._wanted and not tracemalloc.is_tracing():
            tracemalloc.start(self._depth)
            # Objects reused from a free list filled before tracing have no trace: a
            # full collection empties the free lists (cheap in a window: the old heap
            # is frozen).
            gc.collect()
            self._started = True

    def stop(self) -> None:
        """Stop tracing, if this started it: the traces are gone after it."""
        if self._started:
            tracemalloc.stop()
            self._started = False


class WindowRunner:
    """Runs items inside young-heap windows and measures them."""

    def __init__(
        self,
        young: YoungHeap,
        rss: RssProbe,
        gc_watch: GcWatch,
        containers: ContainerWatch,
        ledger: FixtureLedger,
        plugin_state: PluginState,
        measure_peak: bool = False,
        blame: Ledger | None = None,
        book: HolderBook | None = None,
    ) -> None:
        #: Peak RSS costs a read of /proc/self/status (~13 us): only reports show it.
        self.measure_peak = measure_peak and rss.peak_available
        self.young = young
        self.rss = rss
        self.gc_watch = gc_watch
        self.containers = containers
        self.ledger = ledger
        self.plugin_state = plugin_state
        #: Resources tests left behind, charged to them if they surface in a later test.
        self.blame = blame or Ledger()
        #: pytest's shared containers that held survivors before: read first.
        self.shared = SharedHolders()
        self.full_walks = FullWalks()
        self.filled_walks = FilledWalks()
        #: Holders learned during the session: bounded caches, full ones, leaking roots.
        self.book = book if book is not None else HolderBook()
        #: Objects of a few kinds the rules look into, kept up to date by the windows.
        self.listing = HeapListing(LISTED_KINDS)

    def own_ids(self) -> set[int]:
        """Ids of the runner's own bookkeeping: its parts, their attribute dicts and the
        containers in those, and so on through the plugin's own objects among them (the
        container watch's lists of what it watches, the atexit sentinel's record of this
        run's registrations). A holder search or a retainer chain must never run through
        the plugin: one that did named a list of the plugin's as a holder, and paid the
        passes over the heap that climbed above it."""
        parts = [
            self,
            self.book,
            self.shared,
            self.full_walks,
            self.plugin_state,
            self.ledger,
            self.blame,
            self.containers,
            *RECORDERS,
        ]
        ids: set[int] = set()
        while parts:
            ids.update(map(id, parts))
            inner: list[object] = []
            for part in parts:
                attributes = getattr(part, "__dict__", None)
                if not isinstance(attributes, dict):
                    continue
                ids.add(id(attributes))
                for value in attributes.values():
                    if isinstance(value, (list, dict, set, tuple)):
                        ids.add(id(value))
                    elif _is_the_plugins(value) and id(value) not in ids:
                        inner.append(value)
            parts = inner
        return ids | self.book.own_ids()

    def _open_window(
        self, nodeid: str, prepare: Callable[[], _Prepared | Exception] | None = None
    ) -> _Prepared | Exception | None:
        """Open a window for ``nodeid``; returns what ``prepare`` returned, called before
        the young heap opens: what it makes (the sentinels' state) is then old heap, never
        a survivor the walks must attribute. The caller closes the window with
        :meth:`_close_window` in a ``finally`` (not a generator's context: every test
        opens one)."""
        self.blame.enter(nodeid)
        prepared = prepare() if prepare is not None else None
        for holder, bound in self.containers.take_bounded():
            self.book.learn_bounded(holder, bound)
        self.book.note_lengths()
        self.plugin_state.opening()
        self.containers.scan_modules()
        self.listing.window_opening()
        self.young.open()
        return prepared

    def _close_window(self) -> None:
        self.listing.add_young()
        self.young.close()
        self.blame.leave()

    def screen(
        self,
        item: pytest.Item,
        *,
        trace: bool,
        trace_depth: int,
        sentinels: SentinelHooks | None = None,
        protocol: Protocol = run_unlogged,
        first: FirstRule | None = None,
    ) -> GuardedRun:
        """One run in a window of its own: everything it left alive is a candidate.

        It tears down only to the item's parent: wider scopes stay set up for the
        repetitions a suspect gets, and ``finish()`` tears them down afterwards.
        ``protocol`` runs the item: another plugin's (see :class:`LoggedByOthers`) may
        run it several times, and the window then holds all of its attempts. ``first``
        explains what it can before the triage walks the learned holders: objects that
        replace ones an earlier test left (most tests of a class rebuilding its state in
        ``setUp``) leave those walks nothing to do; the objects go to the run's
        ``replacing``.
        """
        keep_example_globals(item)
        if not trace:  # most screens trace nothing: no block to enter (every test screens)
            return self._screened(item, sentinels, protocol, first, None)
        with Tracing(trace, trace_depth) as tracing:
            return self._screened(item, sentinels, protocol, first, tracing)

    def _screened(
        self,
        item: pytest.Item,
        sentinels: SentinelHooks | None,
        protocol: Protocol,
        first: FirstRule | None,
        tracing: Tracing | None,
    ) -> GuardedRun:
        """The run of :meth:`screen`, traced from its start with ``tracing``."""
        nodeid = item.nodeid  # a property building a string: read once
        prepared = self._open_window(
            nodeid, functools.partial(self._prepared, item, sentinels, nodeid)
        )
        try:
            if tracing is not None:
                tracing.start()
            # Positional calls: on 3.10 a keyword call makes a young bound method.
            run, _ = self._measured_run(
                item, item.parent, None, (), sentinels, protocol, prepared, _Run.SCREEN, first
            )
        finally:
            self._close_window()
        return run

    def repeat(
        self,
        item: pytest.Item,
        *,
        times: int,
        keep_going: Callable[[GuardedRun], bool],
        sentinels: SentinelHooks | None = None,
        prime: bool = True,
        primed: Callable[[], None] = lambda: None,
    ) -> list[GuardedRun]:
        """Up to ``times`` repetitions in one window, after a priming run if ``prime``;
        ``primed`` is called between the two (to start tracing only the repetitions).

        Each repetition's figures are what it added to the survivors of the previous
        one; ``keep_going`` sees every repetition and can stop early. Without ``prime``
        the screened run, just before, serves as the priming run: the first
        repetition's survivors are all its own, since what the screen left is old heap
        by then. Like the screen, repetitions tear down only to the item's parent, so
        module-, class- and session-scoped fixtures stay alive between them. Run it
        inside a :class:`Tracing` block, started by ``primed``, to learn where the
        retained objects were allocated.
        """
        keep_scopes = item.parent
        runs: list[GuardedRun] = []
        with _reports_not_logged(item.session):
            self._open_window(item.nodeid)
            try:
                previous: _Previous | None = None
                if prime:
                    first, previous = self._measured_run(item, keep_scopes, None, (), sentinels)
                    del first  # the plugin's own bookkeeping: gone before repetitions count
                    primed()
                kind = _Run.PRIMED if prime else _Run.REPETITION
                for _ in range(times):
                    if runs:
                        runs[-1].release()
                    ours = (*runs, previous)
                    run, previous = self._measured_run(
                        item, keep_scopes, previous, ours, sentinels, run_unlogged, None, kind
                    )
                    runs.append(run)
                    if run.error or not run.passed or not keep_going(run):
                        break
            finally:
                self._close_window()
        return runs

    @staticmethod
    def finish(item: pytest.Item, nextitem: pytest.Item | None) -> Any | None:
        """Tear down the scopes ``nextitem`` does not need, outside any window.

        A module's or the session's finalizers are not the work of the test that
        happened to run last in them. Returns the teardown report when tearing down
        did not pass, else None.
        """
        return _teardown_to(item, nextitem)

    def _measured_run(
        self,
        item: pytest.Item,
        nextitem: pytest.Item | pytest.Collector | None,
        previous: _Previous | None,
        ours: tuple[object, ...],
        sentinels: SentinelHooks | None,
        protocol: Protocol = run_unlogged,
        prepared: _Prepared | Exception | None = None,
        kind: _Run = _Run.REPETITION,
        first: FirstRule | None = None,
    ) -> tuple[GuardedRun, _Previous]:
        """Run once and attribute the window's survivors; ``ours`` holds the plugin's
        own bookkeeping from earlier runs of the same window, which is never growth.
        Prepares the run unless ``prepared`` already (only a screen is).

        The test always runs and its reports are always returned: a failure of the
        measurement itself becomes the run's ``error``.
        """
        # nextitem may be the item's parent (repetitions keep wider scopes alive): pytest
        # only calls listchain() on it, which every node has (docs/architecture.md, "Facts").
        if isinstance(prepared, Exception):
            return _unmeasured(protocol(item, nextitem), prepared, previous)
        # Only a screen, alone in its window, is prepared before the window opens.
        if prepared is not None:
            kind = _Run.SCREEN
        try:
            prepared = prepared or self._prepare(item, sentinels, item.nodeid)
            before = self._start_measuring(cpu=kind is not _Run.SCREEN)
        except Exception as exc:
            return _unmeasured(protocol(item, nextitem), exc, previous)
        self.gc_watch.start()
        try:
            reports = protocol(item, nextitem)
        except BaseException:
            self.gc_watch.stop()
            raise
        # Measured in another frame: a frame the test kept (in a stored traceback) keeps
        # this one alive through f_back, with its locals, so none may hold survivors.
        return self._measure(
            item, reports, previous, ours, sentinels, prepared, before, kind, first
        )

    def _measure(
        self,
        item: pytest.Item,
        reports: list[Any],
        previous: _Previous | None,
        ours: tuple[object, ...],
        sentinels: SentinelHooks | None,
        prepared: _Prepared,
        before: HeapSnapshot,
        kind: _Run,
        first: FirstRule | None,
    ) -> tuple[GuardedRun, _Previous]:
        """Attribute the survivors of the run that produced ``reports``, and measure it."""
        sentinel_state = prepared.sentinel_state
        try:
            try:
                was_recording = self.gc_watch.pause()
                # Before the plugin's own collection, which is not recorded.
                retracked = self.gc_watch.collected_the_oldest()
                held_by_us = [reports, before, ours, prepared, self.blame.held()]
                mark = previous.mark if previous is not None else None
                # One list holds the survivors: the first rule counts the references to them.
                young = self.containers.without_watched(
                    without_running_calls(self.young.survivors())
                )
                survivors = self._attribute(
                    item, held_by_us, young, mark, kind, first, prepared.instance
                )
                self.gc_watch.resume(was_recording)
                # After the collection: files and threads the GC released are gone by now.
                checked = time.perf_counter()
                findings = sentinels[1](sentinel_state) if sentinels else []
                waited = time.perf_counter() - checked
            except Exception as exc:
                return _unmeasured(reports, exc, previous)
        finally:
            gc_stats = self.gc_watch.stop()
        after = take_snapshot(self.rss, cpu=kind is not _Run.SCREEN)
        peak = self.rss.peak(after.rss) if self.measure_peak else None
        growth = self.containers.growth(prepared.sizes)
        ids = set(map(id, survivors.retained))
        current = _Previous(ids, shallow_bytes(survivors.retained))
        replacing: list[object] = []
        replaced_tops: list[object] = []
        earlier: set[int] = set()
        if previous is None:
            new, objects, size = survivors.retained, len(current.ids), current.bytes
            if kind is not _Run.SCREEN:
                # The first run of a shared window: the next one matches its tops.
                current.tops = _tops(new)
        else:
            # Net growth: what this run added beyond the survivors it found.
            added = survivors.added
            made = excluding(survivors.retained, previous.ids) if added is None else added
            current.tops = _tops(made)
            # Only objects listed after the mark, with no full collection, are new ones.
            fresh = added is not None and not retracked
            new, replaced_tops = _without_replacements(made, current.tops, previous, ids, fresh)
            if replaced_tops:
                earlier = previous.ids
            if len(new) < len(made):
                replacing = excluding(made, set(map(id, new)))
            objects = len(current.ids) - len(previous.ids)
            size = current.bytes - previous.bytes
        figures = _figures(before, after, peak, gc_stats, objects, size, survivors.held, growth)
        found = survivors.triage.within(new) if replacing else survivors.triage
        # The test's literals are read only for a root's growth: no reader made otherwise.
        literals = functools.partial(literals_of, item) if growth else frozenset
        sorted_out = with_growth(found, growth, self.book, ids, new, literals)
        run = GuardedRun(
            reports,
            figures,
            new,
            growth,
            survivors.labels,
            findings,
            triage=sorted_out,
            cpu_seconds=None if after.cpu is None or before.cpu is None else after.cpu - before.cpu,
            replacing=replacing or survivors.first,
            replaced_tops=replaced_tops,
            earlier_ids=earlier,
            waited=waited,
        )
        return run, current

    def _prepare(
        self, item: pytest.Item, sentinels: SentinelHooks | None, nodeid: str
    ) -> _Prepared:
        """What a run of ``item`` (``nodeid``) is compared with afterwards: the watched
        containers' sizes and the sentinels' state."""
        self.containers.refresh(nodeid)
        sizes_before = self.containers.sizes()
        self.ledger.clear()
        state = sentinels[0]() if sentinels else None
        return _Prepared(sizes_before, state, weakly(made_instance(item)))

    def _prepared(
        self, item: pytest.Item, sentinels: SentinelHooks | None, nodeid: str
    ) -> _Prepared | Exception:
        """:meth:`_prepare`, or the exception it raised: the run then goes unmeasured."""
        try:
            return self._prepare(item, sentinels, nodeid)
        except Exception as exc:
            return exc

    def _start_measuring(self, cpu: bool) -> HeapSnapshot:
        """Reset the peaks and read the figures at the start of a run (once tracing),
        the CPU time with ``cpu``."""
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
        resident = self.rss.reset_peak() if self.measure_peak else None
        return take_snapshot(self.rss, cpu, resident)

    def _attribute(
        self,
        item: pytest.Item,
        held_by_us: list[Any],
        survivors: list[object],
        mark: list[object] | None,
        kind: _Run,
        first: FirstRule | None,
        instance: weakref.ref[object] | None,
    ) -> _Survivors:
        """Split the survivors into the test's and those pytest holds (only counted);
        with the previous run's ``mark``, also those this run added. Only a repetition
        always walks the whole of pytest's state; the other kinds of run walk it when
        :class:`FullWalks` says it is due. ``first`` explains what it can of what the
        cheap holders leave, before the triage; ``instance``: the test-class instance the
        item had as the run started, weakly."""
        young = dict(zip(map(id, survivors), survivors, strict=True))
        # The plugins' known dicts hold survivors after nearly every run (the capture's
        # streams): one walk with the plugin's own holders.
        seeds = cheap_seeds(held_by_us)
        seeds += self.plugin_state.known_seeds()
        held = young_reachable(seeds, young)
        del seeds  # its references would count in the triage's reference counts
        if len(held) < len(young):
            young_reachable(self.shared.known_seeds(), young, held)
        if len(held) == len(young) and mark is None:
            # Only what pytest and the plugins hold (most runs): nothing to triage.
            self.book.walk_filled, self.book.filled_found = True, None
            if kind is _Run.SCREEN:
                self.full_walks.screened(item, found=False)
            return _Survivors([], len(held), {}, None, NOTHING_RETAINED, [])
        # Only a screened run that leaves something to triage may skip the filled
        # holders' walk (a clean one neither asks nor counts as a sibling's skip): a
        # repetition always walks, as the one that tells whether a skip was wrong.
        triaged = kind is _Run.SCREEN and len(held) < len(young)
        function = function_of(item) if triaged else None
        self.book.walk_filled = self.filled_walks.due(function)
        self.book.filled_found = None
        # A run that leaks into a root the session confirmed once more (a CLI runner's
        # every invocation) is triaged first: when the root explains all that is left,
        # the item's state and the replacement rule have nothing to add.
        tried = self._triaged_if_a_root_grew(survivors, young, held)
        early = tried if tried is not None and tried.roots and not tried.unexplained else None
        held_cheaply = len(held)
        if early is None and len(held) < len(young):
            young_reachable(item_seeds(item, survivors), young, held)
        explained_first: list[object] = []
        why = first.why if first is not None else ""
        # The full walks of pytest's and the plugins' state cost more than the rest: only
        # for what neither the cheaper holders nor the learned ones (the triage) explain.
        if early is None and len(held) < len(young):
            left = excluding(survivors, held)
            if first is not None:
                explained_first = first.explain(left, (survivors, young.values()))
            if tried is not None and len(held) == held_cheaply and not explained_first:
                early = tried  # the same objects, triaged already
            else:
                early = triage_after(left, young, self.book, explained_first, why)
            del left  # its references would count in the reference counts read below
        held_early = len(held)
        if (
            early is not None
            and early.unexplained
            and (kind is _Run.REPETITION or self.full_walks.due(item, self.ledger))
        ):
            remaining = set(young) - held
            holders = shared_holders(item, self.ledger)
            young_reachable(self.shared.learn(holders, remaining), young, held)
            if len(held) < len(young):
                remaining = set(young) - held
                young_reachable(self.plugin_state.learn(remaining), young, held)
        if kind is _Run.SCREEN:
            self.full_walks.screened(item, found=len(held) > held_early)
        if early is not None and early.unexplained and len(held) < len(young):
            young_reachable(dropped_seeds(item, instance), young, held)
        retained: list[object] = []
        if len(held) < len(young):
            self.blame.discount_threads(young, held)
            retained = excluding(survivors, held)
        # Labels only name the holders of retained objects, for explain().
        labels = fixture_labels(self.ledger) if retained else {}
        start = _after(survivors, mark) if mark is not None else -1
        added = excluding(survivors[start:], held) if start >= 0 else None
        judged = retained if added is None else added
        if early is not None and added is None and len(held) == held_early:
            sorted_out = early  # the same objects, sorted already
        else:
            sorted_out = triage_after(judged, young, self.book, explained_first, why)
        if self.book.filled_found is not None:
            self.filled_walks.walked(
                function, missed=not self.book.filled_found and bool(sorted_out.unexplained)
            )
        first_left = excluding(explained_first, held)
        return _Survivors(retained, len(held), labels, added, sorted_out, first_left)

    def _triaged_if_a_root_grew(
        self, survivors: list[object], young: dict[int, object], held: set[int]
    ) -> Triage | None:
        """The triage of the survivors the cheap holders left (``held``: what they hold),
        when a root the session knows to leak grew during the run; None otherwise."""
        if len(held) == len(young) or not self.book.roots_grew():
            return None
        return triage(excluding(survivors, held), young, self.book)


class _QuietHooks:
    """A hook relay that drops ``pytest_runtest_logreport`` and passes everything else."""

    def __init__(self, hooks: Any) -> None:
        self._hooks = hooks

    def __getattr__(self, name: str) -> Any:
        if name == "pytest_runtest_logreport":
            return _ignore
        return getattr(self._hooks, name)


def _ignore(**_: Any) -> None:
    return None


@contextmanager
def _reports_not_logged(session: pytest.Session) -> Iterator[None]:
    """Repetitions are never reported: reports logged during the call (pytest 9's
    subtests, unittest's subTest) go through ``node.ihook``, which asks the session."""
    with pytest_internals.hook_proxy_wrapped(session, _QuietHooks):
        yield


class LoggedByOthers:
    """A :data:`Protocol` that runs the item through other plugins' own
    ``pytest_runtest_protocol`` (``caller``), such as pytest-rerunfailures or flaky,
    which run a failing test again and log each attempt themselves.

    What they log goes through ``node.ihook`` (it asks the session): it is kept, not
    logged, so the verdict can go on the final attempt's call report first; ``replay()``
    then logs every attempt in order. The lists exist before any window opens.
    """

    _KEPT = ("pytest_runtest_logstart", "pytest_runtest_logreport", "pytest_runtest_logfinish")

    def __init__(self, caller: Callable[..., Any]) -> None:
        self.caller = caller
        self.reports: list[Any] = []
        #: Index in ``reports`` of each attempt's first report.
        self.starts: list[int] = []

    def __call__(self, item: pytest.Item, nextitem: Any) -> list[Any]:
        with pytest_internals.hook_proxy_wrapped(
            item.session, lambda hooks: _KeptHooks(hooks, self)
        ):
            self.caller(item=item, nextitem=nextitem)
        return self.reports

    def keep(self, name: str, **kwargs: Any) -> None:
        if name == "pytest_runtest_logstart":
            self.starts.append(len(self.reports))
        elif name == "pytest_runtest_logreport":
            self.reports.append(kwargs["report"])

    def replay(self, item: pytest.Item) -> None:
        """Log the attempts as their plugin would have: start, reports, finish."""
        ihook = item.ihook
        ends = [*self.starts[1:], len(self.reports)]
        for start, end in zip(self.starts, ends, strict=True):
            ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            for report in self.reports[start:end]:
                ihook.pytest_runtest_logreport(report=report)
            ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


class _KeptHooks:
    """A hook relay that hands the logging hooks to a :class:`LoggedByOthers`."""

    def __init__(self, hooks: Any, sink: LoggedByOthers) -> None:
        self._hooks = hooks
        self._sink = sink

    def __getattr__(self, name: str) -> Any:
        if name in LoggedByOthers._KEPT:
            return functools.partial(self._sink.keep, name)
        return getattr(self._hooks, name)


def _teardown_to(item: pytest.Item, nextitem: pytest.Item | None) -> Any | None:
    """Tear down what ``nextitem`` does not need, as pytest's teardown phase would.

    Only the setup stack: running the whole teardown phase again would confuse the
    plugins whose teardown wrappers expect their setup wrappers to have run. The
    report is made only when the teardown raised: it is never logged, and making one
    costs more than the rest of the teardown of a test that needs none.
    """
    if not pytest_internals.needs_teardown(item, nextitem):
        return None
    call = pytest.CallInfo.from_call(
        lambda: pytest_internals.teardown_to(item, nextitem),
        when="teardown",
        reraise=(pytest.exit.Exception, KeyboardInterrupt),
    )
    if call.excinfo is None:
        return None
    return item.ihook.pytest_runtest_makereport(item=item, call=call)


def _is_the_plugins(value: object) -> bool:
    """Whether ``value`` is an instance of one of the plugin's own classes."""
    return type(value).__module__.startswith(_PLUGIN_PACKAGE) and not isinstance(value, type)


_PLUGIN_PACKAGE = __name__.partition(".")[0] + "."


def _after(survivors: list[object], mark: list[object]) -> int:
    """Where the objects made after ``mark`` begin in ``survivors``, or -1 when their
    order does not tell (or the mark is not among them)."""
    if not SURVIVORS_IN_CREATION_ORDER:
        return -1
    for index, obj in enumerate(survivors):
        if obj is mark:
            return index + 1
    return -1


def _tops(objs: list[object]) -> dict[int, _Top]:
    """The objects of ``objs`` no other one refers to, by id, with their shapes and
    contents."""
    return {
        id(obj): _Top((type(obj), sys.getsizeof(obj, 0)), _contents(obj))
        for obj in top_objects(objs)
    }


def _contents(obj: object) -> int:
    return hash(tuple(map(id, gc.get_referents(obj))))


def _without_replacements(
    new: list[object],
    tops: dict[int, _Top],
    previous: _Previous,
    alive: set[int],
    fresh: bool = False,
) -> tuple[list[object], list[object]]:
    """What a run added, less what only replaces what the previous run added; and when
    every added top replaces one, those tops (the growth, if any, is deeper than any
    top: everything is kept).

    A run may rebuild what the last one made (a cache, a "last request"): its new
    objects are not growth when an added top of the same shape (type and shallow size)
    died since. Each added top with such a dead counterpart is dropped with what hangs
    from it, so the objects explained are the growth, not a larger group that is merely
    replaced. The size tells apart the many dicts a run replaces from the one it adds.

    A previous top is dead when its id left the survivors, or, when ``fresh`` (``new``
    holds only objects made since the previous run), when one of ``new`` holds it: an
    object made during the run may take the address of the one the run dropped (3.10
    rebuilds a dict there, 3.11 a list from its free list).
    The caller says ``fresh`` only when no full collection ran during the run: one
    stops tracking a dict that holds no container, and putting one in it lists the same
    dict among the newest objects again. Even then an unchanged previous top may be
    listed among the new objects (pyparsing's settings dict, which the run nests in a
    new one): one still referring to what it did, beneath a new object, is alive.
    """
    by_id = keyed_by_id(new)
    # The place of each dead top among the previous run's tops of its shape, which are
    # in creation order, as this run's are.
    died: dict[_Shape, list[int]] = {}
    made: Counter[_Shape] = Counter()  # filled by hand: Counter(iterable) runs ABC checks
    for key, top in previous.tops.items():
        place = made[top.shape]
        made[top.shape] += 1
        if key not in alive or (fresh and key in by_id and not _relisted(key, top, tops, by_id)):
            died.setdefault(top.shape, []).append(place)
    if not died:
        return new, []
    dropped = _replacing_tops(died, tops)
    kept = [by_id[key] for key in tops if key not in dropped]
    if not kept:
        return new, [by_id[key] for key in tops]
    reached = young_reachable(kept, by_id)
    return among(new, reached), []


def _replacing_tops(died: dict[_Shape, list[int]], tops: dict[int, _Top]) -> set[int]:
    """The ids of the tops of ``tops`` that stand in for the dead ones: as many of each
    shape as died, first those in a dead one's place among the tops of that shape. A test
    makes its objects in the same order every run: when it opens two streams of one shape
    and the second one it opened before died (faulthandler keeps only the newest stderr)
    while the first lives on (a cache keeps every stdout), the new second stream is the
    replacement, and the new first one is growth."""
    by_shape: dict[_Shape, list[int]] = {}
    for key, top in tops.items():
        by_shape.setdefault(top.shape, []).append(key)
    dropped: set[int] = set()
    for shape, places in died.items():
        keys = by_shape.get(shape, [])
        in_place = {keys[place] for place in places if place < len(keys)}
        others = [key for key in keys if key not in in_place]
        dropped |= in_place
        dropped.update(others[: len(places) - len(in_place)])
    return dropped


def _relisted(key: int, previous: _Top, tops: dict[int, _Top], by_id: dict[int, object]) -> bool:
    """Whether the new object at a previous top's address ``key`` is that top, listed
    again: nested beneath a new object, with the same referents. A top at the same
    address is matched as a replacement either way."""
    return key not in tops and _contents(by_id[key]) == previous.contents


def _unmeasured(
    reports: list[Any], error: Exception, previous: _Previous | None
) -> tuple[GuardedRun, _Previous]:
    """A run whose measurement failed: its reports, and the error instead of figures."""
    return GuardedRun(reports, None, error=repr(error)), previous or _Previous(set(), 0)


def _figures(
    before: HeapSnapshot,
    after: HeapSnapshot,
    peak: int | None,
    gc_stats: Any,
    retained_objects: int,
    retained_bytes: int,
    held: int,
    growth: list[Growth],
) -> Figures:
    traced_growth = traced_peak = None
    if before.traced is not None and after.traced is not None and after.traced_peak is not None:
        traced_growth = after.traced - before.traced
        traced_peak = max(after.traced_peak - before.traced, 0)
    # Made as a frozen dataclass's __init__ would, in C: one is made for every run.
    return made(
        Figures,
        retained_objects=retained_objects,
        retained_bytes=retained_bytes,
        pytest_held=held,
        container_growth=sum(grown.added for grown in growth) if growth else 0,
        rss_growth=after.rss - before.rss,
        rss_peak=None if peak is None else max(peak - before.rss, 0),
        traced_growth=traced_growth,
        traced_peak=traced_peak,
        gc_collections=tuple(gc_stats.collections),
        gc_collected=gc_stats.collected,
        gc_pause_max=gc_stats.pause_max,
        gc_pause_total=gc_stats.pause_total,
        uncollectable=after.garbage - before.garbage,
        duration=after.time - before.time,
    )
