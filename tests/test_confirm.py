"""Unit tests of the confirmation rules that need no pytest run."""

from __future__ import annotations

import asyncio
import collections
import queue

import pytest

from pytest_memguard.config import Limits
from pytest_memguard.confirm.bounds import declared_bound, find_holders
from pytest_memguard.confirm.rules import (
    CONFIRM_BUDGET,
    EXPLAIN_CAP_SECONDS,
    FULL_TRACE_CAP_SECONDS,
    HEAP_RULE_MEMORY,
    HEAP_RULE_RETRY,
    MIN_REPEAT,
    SHALLOW_FRAMES,
    TRACING_SLOWDOWN,
    HeapRuleRecord,
    is_suspect,
    median,
    repetitions_for,
    tracing_depth,
    unexplained_growth,
)
from pytest_memguard.figures import Figures
from pytest_memguard.screen.triage import Triage
from pytest_memguard.screen.window import GuardedRun


@pytest.mark.parametrize(
    ("repeat", "seconds", "expected"),
    [
        (3, 0.001, 3),  # a quick test gets every repetition
        (5, CONFIRM_BUDGET / 7, 5),  # 6 runs fit the budget exactly
        (5, CONFIRM_BUDGET / 4, 3),  # only 4 runs fit: 3 repetitions after the priming run
        (5, 13.0, MIN_REPEAT),  # a slow test still gets the minimum
        (1, 60.0, 1),  # never more than asked for
        (0, 60.0, 0),  # repeat=0 stays off
    ],
)
def test_repetitions_fit_the_budget_for_slow_tests(repeat, seconds, expected):
    assert repetitions_for(Limits(repeat=repeat), seconds) == expected


def test_the_median_of_an_odd_and_an_even_count_is_the_middle_and_the_mean_of_two() -> None:
    assert median([0.3, 0.1, 0.2]) == 0.2
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_a_run_is_suspect_only_past_every_set_leak_limit():
    small_leak = Figures(retained_objects=3, retained_bytes=300)
    assert is_suspect(small_leak, Limits())
    assert not is_suspect(small_leak, Limits(retained_objects=1000))
    assert not is_suspect(small_leak, Limits(retained=1024))
    assert is_suspect(small_leak, Limits(retained_objects=1, retained=100))
    untracked = Figures(container_growth=2)
    assert is_suspect(untracked, Limits(retained=1_000_000))  # bytes unknown: objects decide
    # Net bytes that shrank (a larger object an earlier run left died) do not hide the
    # entries a container gained, unless bytes are allowed.
    shrank = Figures(retained_objects=1, retained_bytes=-80, container_growth=2)
    assert is_suspect(shrank, Limits())
    assert not is_suspect(shrank, Limits(retained=1024))
    assert not is_suspect(Figures(retained_objects=1, retained_bytes=-80), Limits())
    assert not is_suspect(Figures(), Limits())
    assert is_suspect(Figures(uncollectable=1), Limits(retained_objects=None, retained=None))


class _Memo:
    """An LRU memo that keeps its bound private, as pyparsing's ``LRUMemo`` does."""

    def __init__(self) -> None:
        self._capacity = 16
        self._active: dict[object, object] = {}


@pytest.mark.parametrize(
    ("holder", "bound"),
    [
        (collections.deque(maxlen=3), "deque(maxlen=3)"),
        (_Memo(), "_Memo(_capacity=16)"),
        (collections.deque(), None),
        ({}, None),
        (_Memo, None),  # a class's attribute is no bound of its own
        (queue.Queue(maxsize=5), "Queue(maxsize=5)"),
        (queue.Queue(), None),  # maxsize=0: grows without limit
        (asyncio.Queue(), None),  # _maxsize=0
    ],
    ids=[
        "deque",
        "private-capacity",
        "unbounded-deque",
        "dict",
        "class",
        "bounded-queue",
        "unbounded-queue",
        "unbounded-asyncio-queue",
    ],
)
def test_declared_bound(holder: object, bound: str | None) -> None:
    assert declared_bound(holder) == bound


class _BoundedCache:
    """Declares its bound; its entries live in a dict it is given."""

    def __init__(self) -> None:
        self.max_size = 64
        self.data: dict[str, object] = {}


class _Entry:
    """A cached value with attributes of its own."""

    def __init__(self) -> None:
        self.parts = [1, 2]
        self.options = {"strict": True}


def test_a_bounded_caches_storage_is_its_containers_not_its_entries_attributes() -> None:
    """What a run made under a bounded cache is remembered as its storage through
    containers only: an entry's own attributes are no place later runs add entries to,
    and each one remembered costs every later triage a look."""
    cache = _BoundedCache()
    entry = _Entry()
    storage = {"key": entry, "nested": {"kept": [entry]}}
    cache.data = storage
    attributes = vars(entry)
    made = [storage, storage["nested"], storage["nested"]["kept"], entry, attributes]
    made += attributes.values()
    found = find_holders(made)
    assert found.all_bounded and set(found.bounds.values()) == {"_BoundedCache(max_size=64)"}
    stored = [obj for obj, _ in found.storage]
    assert len(stored) == 3
    assert {id(obj) for obj in stored} == {
        id(storage),
        id(storage["nested"]),
        id(storage["nested"]["kept"]),
    }


def test_a_repetition_is_unexplained_by_no_more_than_its_net_growth() -> None:
    """A repetition that rebuilt 53 sets for a setting (each replacing one that died)
    added 53 objects its triage cannot explain, yet grew by none."""
    sorted_out = Triage(explained=1, unexplained=53, unexplained_bytes=9_000)
    rebuilt = GuardedRun([], Figures(retained_objects=0, retained_bytes=0), triage=sorted_out)
    assert not unexplained_growth(rebuilt, Limits())
    grew = GuardedRun([], Figures(retained_objects=2, retained_bytes=200), triage=sorted_out)
    assert unexplained_growth(grew, Limits())


def test_a_leak_is_run_again_traced_only_when_its_traced_run_fits_the_cap() -> None:
    """Tracing made a pyparsing example of 0.57 s of CPU take 13 s a run. A quick leak
    still gets its allocation sites (a test that waits for its thread spends wall
    time, not CPU); the run that primes the traced one runs untraced."""
    assert tracing_depth(0.001, 10) == 10
    assert tracing_depth(FULL_TRACE_CAP_SECONDS / TRACING_SLOWDOWN, 10) == 10
    assert tracing_depth(EXPLAIN_CAP_SECONDS / TRACING_SLOWDOWN, 10) == SHALLOW_FRAMES
    assert tracing_depth(0.57, 10) == 0
    # h2's hypothesis test (0.11 s) took 2.1 s traced at 3 frames: still untraced.
    assert tracing_depth(0.11, 10) == 0


def test_a_slower_leak_is_traced_with_the_frames_a_terminal_report_shows() -> None:
    """typer's CliRunner help test (13 ms) took 357 ms traced at 10 frames: it keeps
    the site and its two callers, and never more frames than configured."""
    assert tracing_depth(0.013, 10) == SHALLOW_FRAMES
    assert tracing_depth(0.013, 2) == 2
    assert tracing_depth(0.001, 0) == 0  # no frames wanted: no traced run


def test_the_heap_rules_run_when_a_pass_costs_less_than_the_re_runs_it_spares() -> None:
    rules = HeapRuleRecord()
    assert rules.pay(0.0001, repeatable=True)  # the first run measures them
    rules.ran(0.006, spared=True)
    # A pass of 6 ms against a test of 1 ms: two re-runs cost less.
    assert not rules.pay(0.001, repeatable=True)
    assert rules.pay(0.003, repeatable=True)
    # A test that may not be re-run has no cheaper way to tell warm-up.
    assert rules.pay(0.001, repeatable=False)


def test_heap_rules_that_seldom_spare_the_re_runs_run_for_slower_tests_only() -> None:
    """python-dateutil: they explained nothing in 17 of 22 runs, each a pass over the
    heap that the re-runs followed anyway."""
    rules = HeapRuleRecord()
    rules.ran(0.006, spared=False)
    assert rules.pay(0.005, repeatable=True)  # one miss: still worth it
    for _ in range(HEAP_RULE_MEMORY):
        rules.ran(0.006, spared=False)
    assert not rules.pay(0.005, repeatable=True)
    assert rules.pay(0.02, repeatable=True)  # a slow test's re-runs still cost more
    assert rules.pay(0.001, repeatable=False)
    for _ in range(HEAP_RULE_MEMORY):  # they serve again: only the recent runs count
        rules.ran(0.006, spared=True)
    assert rules.pay(0.005, repeatable=True)


def test_past_the_budget_the_heap_rules_run_only_while_they_usually_spare() -> None:
    """A suspect whose re-runs would not fit is unconfirmed unless the rules explain it:
    a slow test's re-runs cost more than a pass, but there are none to spare, so only
    how often the rules explain a suspect decides (h2: 1 of 21 such runs)."""
    rules = HeapRuleRecord()
    assert rules.pay(2.0, repeatable=True, reruns_fit=False)  # the first run measures them
    rules.ran(0.01, spared=False)
    rules.ran(0.01, spared=False)
    assert rules.pay(2.0, repeatable=True, reruns_fit=False)  # two misses: still even odds
    rules.ran(0.01, spared=False)
    ran = [rules.pay(2.0, repeatable=True, reruns_fit=False) for _ in range(2 * HEAP_RULE_RETRY)]
    assert ran == ([False] * (HEAP_RULE_RETRY - 1) + [True]) * 2  # one in HEAP_RULE_RETRY
    assert rules.pay(2.0, repeatable=True)  # re-runs that fit: a pass spares them
    assert rules.pay(2.0, repeatable=False, reruns_fit=False)
    for _ in range(3):
        rules.ran(0.01, spared=True)
    assert rules.pay(2.0, repeatable=True, reruns_fit=False)
