"""Guarding one test: screen it, confirm a suspect, explain a leak, decide the record."""

from __future__ import annotations

import collections
import reprlib
import sys
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from pytest_memguard.config import Limits, Settings
from pytest_memguard.confirm import (
    bounded_holders,
    confirmed,
    exceeded_limits,
    is_suspect_run,
    repetitions_for,
    retained_types,
)
from pytest_memguard.explain.classify import RESOURCE_KINDS
from pytest_memguard.explain.sites import traceback_frames
from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.record import TestRecord
from pytest_memguard.units import format_size
from pytest_memguard.watch import Growth
from pytest_memguard.window import (
    GuardedRun,
    Protocol,
    SentinelHooks,
    WindowRunner,
    run_unlogged,
)

Explainer = Callable[[GuardedRun, Settings], list[Finding]]


def _outcome(reports: list[Any]) -> str:
    for report in reports:
        if report.failed:
            return "failed" if report.when == "call" else "error"
    if any(report.skipped for report in reports):
        return "skipped"
    return "passed"


#: How many of a container's newest entries are compared with the retained objects.
_RECENT = 8


def _recent_entries(container: object) -> list[object]:
    """The entries added last, oldest first, where the container keeps an order (list,
    deque, dict values); every member of a set, which keeps none."""
    if isinstance(container, dict):
        return list(container.values())[-_RECENT:]
    if isinstance(container, (list, collections.deque)):
        return list(container)[-_RECENT:]
    if isinstance(container, (set, frozenset)):
        return list(container)
    return []


def _entries(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun.replace('entry', 'entries')}"


def growth_findings(growth: list[Growth]) -> list[Finding]:
    """Findings for module-level containers that grew (the untracked-leak screen)."""
    findings = []
    for grown in growth:
        is_cache = callable(getattr(grown.container, "cache_info", None))
        noun = _entries(grown.added, "cache entry" if is_cache else "entry")
        summary = f"{grown.label} grew by {noun} on each run"
        ordered = not isinstance(grown.container, (set, frozenset))
        recent = _recent_entries(grown.container) if ordered and not is_cache else []
        newest = recent[-1] if recent else None
        allocated: tuple[Frame, ...] = ()
        if newest is not None:
            summary += f", newest: {reprlib.repr(newest)}"
            traceback = tracemalloc.get_object_traceback(newest)
            allocated = tuple(traceback_frames(traceback)) if traceback else ()
        findings.append(
            Finding(
                kind="growing-container",
                summary=summary,
                count=grown.added,
                bytes=sys.getsizeof(newest) * grown.added if newest is not None else 0,
                retainer_chain=(ChainEdge(type(grown.container).__name__, grown.label),),
                allocated_at=allocated,
                advice=(
                    "give the cache a bound: functools.lru_cache(maxsize=...)"
                    if is_cache
                    else "bound the container (functools.lru_cache(maxsize=...), "
                    "collections.deque(maxlen=...)) or clear it in teardown"
                ),
            )
        )
    return findings


def _held_by_retained(growth: list[Growth], retained: list[object]) -> list[Growth]:
    """Drop containers whose new entries are retained objects: explain covers those."""
    ids = {id(obj) for obj in retained}
    return [
        grown
        for grown in growth
        if not any(id(entry) in ids for entry in _recent_entries(grown.container))
    ]


class Guard:
    """Turns guarded runs of one item into a verdict and a :class:`TestRecord`."""

    def __init__(
        self,
        runner: WindowRunner,
        settings: Settings,
        explainer: Explainer,
        sentinels: SentinelHooks | None = None,
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.explainer = explainer
        self.sentinels = sentinels

    def guard(
        self,
        item: pytest.Item,
        nextitem: pytest.Item | None,
        limits: Limits,
        protocol: Protocol = run_unlogged,
    ) -> tuple[list[Any], TestRecord]:
        """Screen (run with ``protocol``), confirm and decide; the reports are not logged."""
        screen = self.runner.screen(
            item,
            trace=self.settings.trace or limits.needs_tracing,
            trace_depth=self.settings.traceback,
            sentinels=self.sentinels,
            protocol=protocol,
        )
        record = TestRecord(
            nodeid=item.nodeid,
            outcome=_outcome(screen.reports),
            delta=screen.figures,
            limits=limits.to_dict(),
        )
        try:
            if screen.error:
                raise RuntimeError(f"measuring the run failed: {screen.error}")
            self._judge(item, limits, screen, record)
        except Exception as exc:  # the plugin failing must never fail the run
            record.verdict = "error"
            record.message = f"memguard could not judge this test: {exc!r}"
            record.findings = []
            item.warn(pytest.PytestWarning(f"{record.message}\n{traceback.format_exc()}"))
        finally:
            screen.release()
            _report_final_teardown(screen.reports, self.runner.finish(item, nextitem))
        record.blame = self.runner.blame.take_charges()
        return screen.reports, record

    def _judge(
        self,
        item: pytest.Item,
        limits: Limits,
        screen: GuardedRun,
        record: TestRecord,
    ) -> None:
        if record.outcome != "passed":
            return  # a failing or skipped test is not judged on memory
        findings: list[Finding] = []
        broken = exceeded_limits(screen.figures, limits)
        if broken:
            record.verdict = "over-limit"
            record.message = "; ".join(broken)
        if is_suspect_run(screen, limits):
            self._judge_suspect(item, limits, screen, record, findings)
        record.findings = [finding.to_dict() for finding in findings]

    def _judge_suspect(
        self,
        item: pytest.Item,
        limits: Limits,
        screen: GuardedRun,
        record: TestRecord,
        findings: list[Finding],
    ) -> None:
        if not limits.repeat:
            self._decide_leak([screen], record, findings)
            return
        times = repetitions_for(limits, float(screen.figures.get("duration", 0.0)))
        evidence = self._repeat(item, limits, times)
        record.repetitions = [run.figures for run in evidence]
        grew, why = confirmed(evidence, times, limits)
        if not grew:
            self._warmup(record, f"one-time growth, not a leak ({why})")
            return
        # Confirmation ran untraced (tracing slows every allocation, and most suspects
        # are warm-up); a confirmed leak runs once more, traced, to name allocation sites.
        with self.runner.tracing(True, self.settings.traceback):
            explained = self._repeat(item, limits, 1)
            self._decide_leak(evidence[:-1] + explained[-1:], record, findings)

    def _repeat(self, item: pytest.Item, limits: Limits, times: int) -> list[GuardedRun]:
        return self.runner.repeat(
            item,
            times=times,
            keep_going=lambda run: is_suspect_run(run, limits),
            sentinels=self.sentinels,
        )

    def _decide_leak(
        self, evidence: list[GuardedRun], record: TestRecord, findings: list[Finding]
    ) -> None:
        """Growth on every run: a leak, unless only bounded containers hold it."""
        last = evidence[-1]
        bounds = bounded_holders(last)
        if bounds:
            self._warmup(record, "growth held by a bounded container: " + ", ".join(bounds))
            return
        explained = self.explainer(last, self.settings)
        # A container whose new entries explain already reached is not said twice.
        unexplained = growth_findings(_held_by_retained(last.growth, last.retained))
        if not (last.sentinel_findings or unexplained):
            unattributed = _unattributed(explained)
            if unattributed:
                findings[:0] = explained
                self._warmup(record, unattributed)
                last.release()
                return
        resources, explained = _fold_into_resources(last.sentinel_findings, explained)
        findings[:0] = resources + explained + unexplained
        over_limit = record.message if record.verdict == "over-limit" else ""
        record.verdict = "leak"
        record.message = _leak_message(evidence, last)
        if over_limit:
            record.message += "\n  also " + over_limit
        last.release()

    @staticmethod
    def _warmup(record: TestRecord, why: str) -> None:
        if record.verdict == "ok":
            record.verdict = "warmup"
            record.message = why


#: Roots that make growth the test's own: code reaches it from a name.
_ATTRIBUTABLE_ROOTS = ("module", "class", "thread", "sys")


def _unattributed(explained: list[Finding]) -> str:
    """Why growth fails no test when no chain reaches it from a name, else ``""``.

    A leak must be attributable (DESIGN section 3): growth held only through a
    wider-scoped fixture is that fixture's, and growth reached from no named root
    (interpreter or C-level internals, such as a type's subclass table) is reported
    but not failed.
    """
    roots = {finding.extra.get("root", "") for finding in explained}
    if not explained or roots & set(_ATTRIBUTABLE_ROOTS):
        return ""
    if "holder" in roots:
        return "growth held by a wider-scoped fixture, not by the test"
    return "growth on every run, but reached from no named root: not attributable"


def _fold_into_resources(
    resources: list[Finding], explained: list[Finding]
) -> tuple[list[Finding], list[Finding]]:
    """Count explained groups named after a resource kind with the sentinel's finding of
    that kind: the live thread's retained objects are that thread's, said once."""
    first: dict[str, int] = {}
    for at, finding in enumerate(resources):
        first.setdefault(finding.kind, at)
    folded = list(resources)
    rest = []
    for finding in explained:
        at = first.get(finding.kind, -1) if finding.kind in RESOURCE_KINDS else -1
        if at < 0:
            rest.append(finding)
            continue
        into = folded[at]
        folded[at] = replace(
            into, count=into.count + finding.count, bytes=into.bytes + finding.bytes
        )
    return folded, rest


def _report_final_teardown(reports: list[Any], final_teardown: Any | None) -> None:
    """A failing teardown of wider scopes after the repetitions is the test's teardown error."""
    if final_teardown is None or final_teardown.passed:
        return
    # The last one: a plugin that re-runs failing tests leaves one per attempt.
    for index in reversed(range(len(reports))):
        if reports[index].when == "teardown":
            reports[index] = final_teardown
            return


def _leak_message(runs: list[GuardedRun], last: GuardedRun) -> str:
    counts = [run.retained_objects for run in runs]
    sizes = [int(run.figures["retained_bytes"]) for run in runs]
    grown = [run.container_growth for run in runs]
    parts = [finding.summary for finding in last.sentinel_findings]
    if any(counts):
        parts.append(
            f"retained {counts[-1]} objects / {format_size(sizes[-1])} on each of "
            f"{len(runs)} runs: {counts}"
        )
        parts.append(f"top retained types: {retained_types(last.retained)}")
    if any(grown):
        parts.append(
            f"module-level containers grew by {_entries(grown[-1], 'entry')} on each of "
            f"{len(runs)} runs: {grown}"
        )
    return "leak confirmed: " + "\n  ".join(parts)
