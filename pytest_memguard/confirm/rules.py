"""Screen, confirm, decide: from the figures of guarded runs to a verdict.

A run over a leak limit is a *suspect*. It is re-run (full setup/call/teardown);
a leak is growth on every repetition that something other than a bounded container
holds. Growth that stops is warm-up (a cache filled once, a lazy import, the first
use of a wider-scoped fixture); growth held only by a bounded container (an
``lru_cache(maxsize=N)``, a ``deque(maxlen=N)``) is warm-up until the bound.
Peak, RSS and GC limits need no repetition: they fail on the screened run.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from pytest_memguard.config import Limits
from pytest_memguard.explain.owners import class_name
from pytest_memguard.figures import Figures
from pytest_memguard.screen.window import GuardedRun
from pytest_memguard.units import format_duration, format_limit, format_size


def median(values: Iterable[float]) -> float:
    """The median of a few figures (``statistics.median``'s, without importing its
    module and ``fractions`` for five numbers at every session's first guarded test)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no median of no values")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def is_suspect(figures: Figures, limits: Limits) -> bool:
    """Whether a run left more behind than every leak limit that is set allows.

    Objects count those the young heap shows and the entries added to watched
    containers (untracked objects, whose bytes are unknown: for them only the objects
    limit applies). Uncollectable garbage is always suspect.
    """
    return _over_leak_limits(
        figures.retained_objects,
        figures.retained_bytes,
        figures.container_growth,
        figures.uncollectable,
        limits,
    )


def _over_leak_limits(
    retained_objects: int,
    retained_bytes: int,
    container_growth: int,
    uncollectable: int,
    limits: Limits,
) -> bool:
    """:func:`is_suspect` on the figures it reads (no copy of a run's figures made)."""
    if uncollectable > 0:
        return True
    if limits.retained_objects is None and limits.retained is None:
        return False
    objects = retained_objects + container_growth
    if objects <= 0:
        return False
    over_objects = limits.retained_objects is None or objects > limits.retained_objects
    untracked_only = retained_objects <= 0
    # Net bytes: what died in the run counts against what it made, and a container's new
    # entries count for nothing. With no allowance of bytes, entries a container gained
    # are growth whatever the bytes say, as they are when no object was retained (an
    # importer per archive, smaller than what an earlier run left and 3.10 let die).
    entries_grew = limits.retained == 0 and container_growth > 0
    over_bytes = (
        limits.retained is None
        or untracked_only
        or entries_grew
        or retained_bytes > limits.retained
    )
    return over_objects and over_bytes


def unexplained_growth(run: GuardedRun, limits: Limits) -> bool:
    """Whether a run grew past the leak limits beyond what its triage explained (warm-up
    and roots already confirmed), or left a resource behind."""
    triage = run.triage
    if run.figures is None:
        raise ValueError(f"a run that was not measured cannot be judged: {run.error}")
    if not (run.figures.retained_objects > 0 or run.figures.container_growth > 0):
        # What every clean test takes: nothing retained, so no limit can be over.
        return run.figures.uncollectable > 0 or bool(run.sentinel_findings)
    figures = run.figures
    objects, size = figures.retained_objects, figures.retained_bytes
    if triage.explained:
        # A repetition's triage sorts the objects it added, and what it added may
        # replace objects that died (sets rebuilt for a setting): no more than the run's
        # net growth is unexplained.
        objects = min(triage.unexplained, objects)
        size = min(triage.unexplained_bytes, size)
    growth = figures.container_growth - triage.growth_explained
    suspect = _over_leak_limits(objects, size, growth, figures.uncollectable, limits)
    return suspect or bool(run.sentinel_findings)


def is_suspect_run(run: GuardedRun, limits: Limits) -> bool:
    """A run is suspect when it grew past the leak limits beyond what is known to be
    warm-up, grew a root already confirmed as leaking, or left a resource behind."""
    return unexplained_growth(run, limits) or bool(run.triage.roots)


def exceeded_limits(figures: Figures, limits: Limits) -> list[str]:
    """The non-leak limits a single run broke, each as a readable sentence."""
    broken = []
    peak = figures.traced_peak
    if limits.peak is not None and peak is not None and peak > limits.peak:
        broken.append(f"peak {format_size(peak)} over the limit {format_limit(limits.peak)}")
    rss = figures.rss_growth
    if limits.rss_growth is not None and rss > limits.rss_growth:
        broken.append(
            f"RSS grew {format_size(rss)}, over the limit {format_limit(limits.rss_growth)}"
        )
    pause = figures.gc_pause_max
    if limits.gc_pause is not None and pause > limits.gc_pause:
        broken.append(
            f"GC pause {format_duration(pause)} over the limit {format_duration(limits.gc_pause)}"
        )
    collections = sum(figures.gc_collections)
    if limits.gc_collections is not None and collections > limits.gc_collections:
        broken.append(f"{collections} GC collections, over the limit {limits.gc_collections}")
    return broken


#: Confirmation of a slow test is fitted into about this many seconds.
CONFIRM_BUDGET = 30.0
#: Fewer repetitions than this would not tell growth from warm-up.
MIN_REPEAT = 2


def repetitions_for(limits: Limits, screened_seconds: float) -> int:
    """How many repetitions confirm a suspect: ``repeat``, fewer for a slow test.

    A confirmation runs the test ``repeat + 1`` more times; a test that takes seconds
    gets as many as fit the budget, never fewer than ``MIN_REPEAT``.
    """
    wanted = limits.repeat or 0
    if wanted <= MIN_REPEAT or screened_seconds <= 0:
        return wanted
    fitting = int(CONFIRM_BUDGET // screened_seconds) - 1
    return max(MIN_REPEAT, min(wanted, fitting))


def untold(runs: list[GuardedRun]) -> str:
    """Why repetitions cannot tell growth from warm-up: one could not be measured, or
    failed where the screened run passed (hypothesis refuses a ``@given`` method called
    on a second instance, and a ``unittest.TestCase`` gets a new one for each run);
    ``""`` when each one was measured and passed."""
    for attempt, run in enumerate(runs, start=1):
        if run.error:
            return f"repetition {attempt} could not be measured: {run.error}"
        if not run.passed:
            failed = next(report for report in run.reports if not report.passed)
            return f"repetition {attempt} {failed.outcome} in {failed.when}"
    return ""


def confirmed(runs: list[GuardedRun], times: int, limits: Limits) -> tuple[bool, str]:
    """Whether all ``times`` repetitions grew, and if not, why the suspect is cleared;
    asked of repetitions that could tell (:func:`untold`)."""
    for attempt, run in enumerate(runs, start=1):
        if not is_suspect_run(run, limits):
            return False, f"growth stopped on repetition {attempt}"
    if len(runs) < times:
        return False, f"only {len(runs)} of {times} repetitions ran"
    return True, ""


def retained_types(retained: list[object], top: int = 5) -> str:
    """``"dict x 60, list x 60"``: the most frequent retained types."""
    counts: dict[str, int] = {}
    for obj in retained:
        name = class_name(type(obj), "__qualname__")
        counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return ", ".join(f"{name} x {count}" for name, count in ranked)


#: A traced run of allocation-heavy code is many times slower: pyparsing's examples 25
#: times at 10 frames, a hypothesis round trip of dateutil's about 50 times, an h2
#: hypothesis test about 80 times (0.09 s of CPU, 14.5 s to explain at 50).
TRACING_SLOWDOWN = 100.0
#: What a terminal report shows of an allocation site: the frame and two callers.
SHALLOW_FRAMES = 3
#: What explaining one root may cost in its traced run, seconds.
EXPLAIN_CAP_SECONDS = 5.0
#: What a traced run keeping every configured frame may cost, seconds: past it, the
#: frames a terminal report shows are kept, at a fraction of the cost.
FULL_TRACE_CAP_SECONDS = 0.25


def tracing_depth(cpu_seconds: float, frames: int) -> int:
    """How many frames the traced run that names a confirmed leak's allocation sites
    keeps, for a leak whose runs take ``cpu_seconds`` of CPU, ``frames`` being the
    configured traceback; 0: no traced run. At :data:`TRACING_SLOWDOWN`, a run that
    fits :data:`FULL_TRACE_CAP_SECONDS` keeps all of them, one that fits
    :data:`EXPLAIN_CAP_SECONDS` at most :data:`SHALLOW_FRAMES` (the site and the callers
    a terminal report shows: tracemalloc walks and hashes every frame it keeps, per
    allocation, and typer's CliRunner tests ran 17-27 times slower traced at 10 frames,
    6 times at 3). A slower one is explained from its last untraced repetition (chains,
    no allocation sites): tracing slows work, not waits."""
    projected = cpu_seconds * TRACING_SLOWDOWN
    if projected <= FULL_TRACE_CAP_SECONDS:
        return frames
    if projected <= EXPLAIN_CAP_SECONDS:
        return min(frames, SHALLOW_FRAMES)
    return 0


#: How many of the heap rules' last runs tell how often they spare the re-runs.
HEAP_RULE_MEMORY = 10
#: Past the budget, the heap rules that seldom spare run for one suspect in this many.
HEAP_RULE_RETRY = 4


class HeapRuleRecord:
    """What the rules that pass over the heap cost lately, and how often they spared
    the re-runs (explained all that a suspect left): on python-dateutil's suite they
    explained nothing in 17 of 22 runs, on typer's everything in 15 of 20."""

    def __init__(self) -> None:
        self._seconds: collections.deque[float] = collections.deque(maxlen=5)
        self._spared: collections.deque[bool] = collections.deque(maxlen=HEAP_RULE_MEMORY)
        #: Suspects past the budget they were not run for, since they last spared less.
        self._skipped = 0

    def ran(self, seconds: float, spared: bool) -> None:
        """Note a run of the rules: what it took, and whether the suspect was cleared."""
        self._seconds.append(seconds)
        self._spared.append(spared)

    @property
    def cost(self) -> float | None:
        """The median of their last runs' seconds; None before the first."""
        return median(self._seconds) if self._seconds else None

    @property
    def success(self) -> float:
        """How likely their next run spares the re-runs: the share of the recent runs
        that did, counted as if two more had, so a few misses do not stop them at once."""
        return min(1.0, (sum(self._spared) + 2) / (len(self._spared) + 2))

    def pay(self, seconds: float, repeatable: bool, reruns_fit: bool = True) -> bool:
        """Whether the rules are worth running for a suspect whose run took ``seconds``.
        They spare the re-runs that confirm warm-up, but a pass costs the same for every
        test (6 ms on jinja2's 90,000-object heap), where re-running a quick test costs
        less: they run when a pass costs no more than the least confirmation
        (:data:`MIN_REPEAT` runs) times how often they spare it, before their first run
        (which measures them), or when the test may not be re-run, where they alone tell
        warm-up from a leak.

        When the re-runs would not fit the budget (``reruns_fit`` false) there are none
        to spare: the rules alone tell warm-up from ``unconfirmed``, and a pass is worth
        it only while they spare more often than not (on h2's and python-dateutil's
        suites they explained one of 40 such suspects, at 10 ms a pass; on
        attrs-hypothesis' 13 of 21). Past the budget most suspects are such, so every
        :data:`HEAP_RULE_RETRY`-th one they would skip runs them anyway: without their
        runs their record would never show that they serve again."""
        cost = self.cost
        if cost is None or not repeatable:
            return True
        if not reruns_fit:
            if self.success >= 0.5:
                return True
            self._skipped += 1
            return self._skipped % HEAP_RULE_RETRY == 0
        return cost <= seconds * MIN_REPEAT * self.success
