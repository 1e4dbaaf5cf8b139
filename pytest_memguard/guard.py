"""Guarding one test: screen it, confirm a suspect, explain a leak, decide the record."""

from __future__ import annotations

import collections
import reprlib
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from pytest_memguard.config import Limits, Settings
from pytest_memguard.confirm.bounds import Holders, find_holders
from pytest_memguard.confirm.budget import ConfirmBudget
from pytest_memguard.confirm.rules import (
    confirmed,
    exceeded_limits,
    is_suspect_run,
    repetitions_for,
    retained_types,
    unexplained_growth,
)
from pytest_memguard.explain import explained_bytes
from pytest_memguard.explain.causes import Root, RootBook
from pytest_memguard.explain.classify import ADVICE, RESOURCE_KINDS
from pytest_memguard.explain.sites import traceback_frames
from pytest_memguard.figures import Figures
from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.record import TestRecord
from pytest_memguard.screen.containers import Growth
from pytest_memguard.screen.window import (
    GuardedRun,
    Protocol,
    SentinelHooks,
    WindowRunner,
    run_unlogged,
)
from pytest_memguard.units import format_size

#: ``explainer(run, settings, ignore)``: findings for a run's retained objects, with
#: the ids in ``ignore`` (the plugin's own bookkeeping) never part of a chain.
Explainer = Callable[[GuardedRun, Settings, set[int]], list[Finding]]


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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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
                    else ADVICE["growing-container"]
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
    """Turns guarded runs of one item into a verdict and a :class:`TestRecord`.

    Screen, triage, confirm rarely, explain once per root: a test whose survivors the
    screen's triage explains (warm-up, or a root already confirmed) is judged without a
    re-run; a suspect is re-run within the session's :class:`ConfirmBudget`, the
    screened run serving as its priming run; a confirmed leak is explained once per
    root, and the holders found on the way are remembered for the tests after it.
    """

    def __init__(
        self,
        runner: WindowRunner,
        settings: Settings,
        explainer: Explainer,
        sentinels: SentinelHooks | None = None,
        budget: ConfirmBudget | None = None,
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.explainer = explainer
        self.sentinels = sentinels
        self.budget = budget if budget is not None else ConfirmBudget()
        self.roots = RootBook()
        #: What one referrer search over the heap took lately (a guess until the first):
        #: looking a holder up pays off for a test whose re-run would cost more.
        self._search_seconds = FIRST_SEARCH_GUESS
        #: The plugin's own lists of the test being judged, skipped by holder searches.
        self._ours: tuple[object, ...] = ()
        self._found: list[Holders] = []

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
        self.budget.screened(screen.duration)
        try:
            if screen.figures is None:
                raise RuntimeError(f"measuring the run failed: {screen.error}")
            self._judge(item, limits, screen, screen.figures, record)
        except (Exception, pytest.fail.Exception) as exc:
            # The plugin failing (or a test-timeout plugin's alarm firing while it
            # confirms) must never fail the run.
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
        figures: Figures,
        record: TestRecord,
    ) -> None:
        if record.outcome != "passed":
            return  # a failing or skipped test is not judged on memory
        findings: list[Finding] = []
        # The screened run's list of survivors is the plugin's: never a holder.
        self._ours = (screen, screen.retained)
        self._found = []
        broken = exceeded_limits(figures, limits)
        if broken:
            record.verdict = "over-limit"
            record.message = "; ".join(broken)
        if unexplained_growth(screen, limits):
            record.suspect = True
            self._judge_suspect(item, limits, screen, record, findings)
        elif screen.triage.roots:
            self._grew_known_root(record, screen)
            return
        elif screen.triage.why:
            self._warmup(record, "; ".join(screen.triage.why))
        record.findings = [finding.to_dict() for finding in findings]

    def _grew_known_root(self, record: TestRecord, run: GuardedRun) -> bool:
        """The run grew roots already confirmed: the first one's leak again, measured as
        what the run added to the roots, not all it left (the figure a gate compares
        must not depend on whether a leak was confirmed or recognised)."""
        if not run.triage.roots or not self._same_root(record, run.triage.roots):
            return False
        if record.delta is not None:
            record.delta = replace(
                record.delta,
                retained_objects=run.triage.root_objects,
                retained_bytes=run.triage.root_bytes,
            )
        return True

    def _same_root(self, record: TestRecord, keys: tuple[str, ...]) -> bool:
        """The run grew a root already confirmed: its leak again, not explained again.
        False when the root is not known (nothing is decided then)."""
        root = self.roots.count(keys[0])
        if root is None:
            return False
        record.verdict = "leak"
        _set_root(record, root)
        record.message = f"same root as {root.first}: {root.summary}"
        record.findings = [root.finding]
        return True

    def _judge_suspect(
        self,
        item: pytest.Item,
        limits: Limits,
        screen: GuardedRun,
        record: TestRecord,
        findings: list[Finding],
    ) -> None:
        if not limits.repeat:
            self._decide_leak(item, [screen], record, findings)
            return
        seconds = screen.duration
        # For a test whose re-run costs more than a look at the heap, who holds its
        # growth is looked up first: a bounded holder needs no re-run at all.
        holders = None
        if self._worth_a_search(seconds) and self.budget.allows(self._search_seconds):
            unexplained = screen.triage.unexplained_of(screen.retained)
            holders = self._find(unexplained, ())
            # A search costs O(heap): it is confirmation time, charged like a re-run.
            record.confirm_seconds = self._search_seconds
            self.budget.spend(self._search_seconds)
        if holders is not None and holders.all_bounded and not screen.growth:
            self._bounded(record, holders)
            return
        times = repetitions_for(limits, seconds)
        if not self.budget.allows(seconds):
            self._unconfirmed(record, screen)
            return
        started = time.perf_counter()

        def keep_going(run: GuardedRun) -> bool:
            spent = time.perf_counter() - started
            return is_suspect_run(run, limits) and self.budget.allows(spent + seconds)

        try:
            evidence = self._repeat(item, times, keep_going)
        finally:
            spent = time.perf_counter() - started
            record.confirm_seconds += spent
            self.budget.spend(spent)
        record.repetitions = [run.figures for run in evidence]
        grew, why = confirmed(evidence, times, limits)
        if not grew:
            if evidence and all(is_suspect_run(run, limits) for run in evidence):
                self._unconfirmed(record, screen)
                return
            self._warmup(record, f"one-time growth, not a leak ({why})")
            if holders is not None:
                self._remember(holders)
            return
        last = evidence[-1]
        # The repetitions grew known roots and nothing else: what else the screened run
        # left was warm-up, and the leak is the roots', found without a search.
        only_roots = last.triage.roots and not unexplained_growth(last, limits)
        if only_roots and self._grew_known_root(record, last):
            return
        self._decide_leak(item, evidence, record, findings)

    def _known_root(self, holders: Holders | None) -> str | None:
        """The root already confirmed that every unbounded holder of the growth keeps."""
        if holders is None or not holders.unbounded():
            return None
        roots = set()
        for holder in holders.unbounded():
            learned = self.runner.book.known(holder)
            if learned is None or not learned.root:
                return None
            roots.add(learned.root)
        return roots.pop() if len(roots) == 1 else None

    def _worth_a_search(self, seconds: float) -> bool:
        return seconds >= self._search_seconds

    def _find(self, objs: list[object], ignore: tuple[object, ...]) -> Holders:
        """Who holds ``objs`` (O(heap)); the time it took sets when searching pays off."""
        started = time.perf_counter()
        # The plugin's own references are no holders: the runner's book, and what the
        # searches of this test found (their lists refer to the holders they found).
        own = self.runner.own_ids().union(*(found.own_ids() for found in self._found))
        try:
            found = find_holders(objs, ignore=(*self._ours, *ignore), skip_ids=own)
        finally:
            self._search_seconds = time.perf_counter() - started
        self._found.append(found)
        return found

    def _bounded(self, record: TestRecord, holders: Holders) -> None:
        """All the growth is held under declared bounds: warm-up, and the holders are
        remembered so the tests after it need no search."""
        self._remember(holders)
        bounds = sorted(set(holders.bounds.values()))
        self._warmup(record, "growth held by a bounded container: " + ", ".join(bounds))

    def _remember(self, holders: Holders, root: str = "") -> None:
        """Remember each holder: bounded, leaking (``root``) or filled."""
        book = self.runner.book
        for holder in holders.holders:
            bound = holders.bounds.get(id(holder))
            if bound is not None:
                book.learn_bounded(holder, bound)
            elif root:
                book.learn_leaking(holder, root)
            else:
                book.learn_filled(holder)
        for storage, bound in holders.storage:
            book.learn_bounded(storage, bound)

    def _repeat(
        self, item: pytest.Item, times: int, keep_going: Callable[[GuardedRun], bool]
    ) -> list[GuardedRun]:
        return self.runner.repeat(
            item, times=times, keep_going=keep_going, sentinels=self.sentinels, prime=False
        )

    def _decide_leak(
        self,
        item: pytest.Item,
        evidence: list[GuardedRun],
        record: TestRecord,
        findings: list[Finding],
    ) -> None:
        """Growth on every run: a leak, unless only bounded containers hold it."""
        last = evidence[-1]
        holders = (
            self._find(last.retained, (last, evidence, last.retained)) if last.retained else None
        )
        only_objects = not (last.container_growth or last.sentinel_findings)
        known = self._known_root(holders) if only_objects else None
        if known is not None:
            self._same_root(record, (known,))  # confirmed again: no second explanation
            return
        if holders is not None and holders.all_bounded and only_objects:
            self._bounded(record, holders)
            return
        started = time.perf_counter()
        # Confirmation ran untraced (tracing slows every allocation, and most suspects
        # are warm-up); a confirmed leak runs once more, traced, to name allocation
        # sites, unless that run would take longer than the cap.
        seconds = last.duration
        traced = len(evidence) > 1 and seconds * TRACING_SLOWDOWN <= EXPLAIN_CAP_SECONDS
        try:
            with self.runner.tracing(traced, self.settings.traceback):
                if traced:
                    again = self.runner.repeat(
                        item, times=1, keep_going=lambda run: False, sentinels=self.sentinels
                    )
                    last = again[-1] if again else last
                self._explain(last, evidence, record, findings, holders)
        finally:
            record.explain_seconds = time.perf_counter() - started

    def _explain(
        self,
        last: GuardedRun,
        evidence: list[GuardedRun],
        record: TestRecord,
        findings: list[Finding],
        holders: Holders | None,
    ) -> None:
        """Explain ``last``'s growth; the root found is learned on its ``holders``."""
        ours = {id(self), id(vars(self)), id(self._ours), *map(id, self._ours)}
        explained = self.explainer(last, self.settings, self.runner.own_ids() | ours)
        # A container whose new entries explain already reached is not said twice.
        unexplained = growth_findings(_held_by_retained(last.growth, last.retained))
        leaked = [finding for finding in explained if finding.kind != "warmup"]
        if not (last.sentinel_findings or unexplained):
            unattributed = _unattributed(leaked) or _all_warmup(explained)
            if unattributed:
                findings[:0] = explained
                self._warmup(record, unattributed)
                last.release()
                return
        # One definition of a leak's bytes and objects: what its findings weigh (deep
        # size, shared objects once) and count, in the header, the record and reports.
        weighed = (sum(finding.count for finding in leaked), explained_bytes(leaked))
        if leaked and record.delta is not None:
            record.delta = replace(
                record.delta, retained_objects=weighed[0], retained_bytes=weighed[1]
            )
        resources, explained = _fold_into_resources(last.sentinel_findings, explained)
        findings[:0] = resources + explained + unexplained
        over_limit = record.message if record.verdict == "over-limit" else ""
        record.verdict = "leak"
        record.message = _leak_message([*evidence[:-1], last], last, weighed if leaked else None)
        if over_limit:
            record.message += "\n  also " + over_limit
        root = self.roots.add(record.nodeid, [finding.to_dict() for finding in findings])
        if root is not None:
            _set_root(record, root)
            if holders is not None:
                self._remember(holders, root.key)
        last.release()

    @staticmethod
    def _unconfirmed(record: TestRecord, screen: GuardedRun) -> None:
        if record.verdict != "ok":
            return
        record.verdict = "unconfirmed"
        left = screen.triage.unexplained or screen.retained_objects
        record.message = (
            f"suspect not confirmed: the session's confirmation budget had no room to "
            f"re-run it (the screened run left {left} objects no known holder explains)"
        )

    @staticmethod
    def _warmup(record: TestRecord, why: str) -> None:
        if record.verdict == "ok":
            record.verdict = "warmup"
            record.message = why


def _set_root(record: TestRecord, root: Root) -> None:
    record.root = root.key
    record.same_root_as = root.first if root.first != record.nodeid else ""
    record.distribution = root.distribution or ""


#: What a referrer search is taken to cost before the first one is timed: tests quicker
#: than this are re-run rather than looked up.
FIRST_SEARCH_GUESS = 0.05

#: A traced run of allocation-heavy code (hypothesis strategies) can be several times
#: slower: a leak whose traced run, taken at this factor, would pass the cap is
#: explained from its last untraced repetition (chains, no allocation sites).
TRACING_SLOWDOWN = 10.0
EXPLAIN_CAP_SECONDS = 10.0


#: Roots that make growth the test's own: code reaches it from a name.
_ATTRIBUTABLE_ROOTS = ("module", "class", "thread", "sys")


def _unattributed(explained: list[Finding]) -> str:
    """Why growth fails no test when no chain reaches it from a name, else ``""``.

    A leak must be attributable (docs/architecture.md, step 5): growth held only through a
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


def _all_warmup(explained: list[Finding]) -> str:
    """Why growth fails no test when explain found every group to be warm-up (held
    under a bound, or state the standard library keeps), else ``""``."""
    if explained and all(finding.kind == "warmup" for finding in explained):
        return "growth on every run, all of it warm-up: " + explained[0].summary
    return ""


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


def _leak_message(runs: list[GuardedRun], last: GuardedRun, weighed: tuple[int, int] | None) -> str:
    """The header of a leak: what each run added (the findings' own count and deep size
    when they were explained), then resources and untracked growth."""
    counts = [run.retained_objects for run in runs]
    grown = [run.container_growth for run in runs]
    parts = [finding.summary for finding in last.sentinel_findings]
    if any(counts):
        objects, size = weighed or (
            counts[-1],
            last.figures.retained_bytes if last.figures is not None else 0,
        )
        runs_text = "the run" if len(runs) == 1 else f"each of {len(runs)} runs"
        parts.append(
            f"retained {_plural(objects, 'object')} / {format_size(size)} on {runs_text}: {counts}"
        )
        parts.append(f"top retained types: {retained_types(last.retained)}")
    if any(grown):
        parts.append(
            f"module-level containers grew by {_entries(grown[-1], 'entry')} on each of "
            f"{len(runs)} runs: {grown}"
        )
    return "confirmed: " + "\n  ".join(parts)
