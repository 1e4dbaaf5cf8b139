"""Guarding one test: screen it, confirm a suspect, explain a leak, decide the record."""

from __future__ import annotations

import collections
import contextlib
import operator
import reprlib
import sys
import threading
import time
import traceback
import tracemalloc
import types
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import pytest

from pytest_memguard.config import Limits, Settings
from pytest_memguard.confirm.bounds import Holders, find_holders
from pytest_memguard.confirm.budget import ConfirmBudget
from pytest_memguard.confirm.cached import CACHED_ON_ACCESS, cached_on_first_access
from pytest_memguard.confirm.decide import (
    Decision,
    Explanation,
    Facts,
    decide,
    entries,
    record_of,
)
from pytest_memguard.confirm.filters import KEPT_BY_WARNINGS, last_read_filters
from pytest_memguard.confirm.lazy import (
    MADE_ON_ACCESS,
    NearWalks,
    declared_attributes,
    imported_namespaces,
    materialized,
    referrers_near,
    referrers_outside,
    thread_dicts,
)
from pytest_memguard.confirm.lrucaches import LruCaches
from pytest_memguard.confirm.replaced import REPLACED, Replacements, growth_beneath
from pytest_memguard.confirm.rules import (
    MIN_REPEAT,
    HeapRuleRecord,
    confirmed,
    median,
    repetitions_for,
    retained_types,
    tracing_depth,
    unexplained_growth,
    untold,
)
from pytest_memguard.confirm.shapes import LEARNING_MAX_SECONDS, ShapeLog, growth_shape
from pytest_memguard.confirm.siblings import Siblings, Signature, function_of
from pytest_memguard.confirm.slotnames import SLOT_NAMES_CACHED, cached_slot_names
from pytest_memguard.explain.causes import Root, RootBook
from pytest_memguard.explain.sites import traceback_frames
from pytest_memguard.explain.sizes import DEEP_SIZER
from pytest_memguard.figures import Figures
from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.record import TestRecord
from pytest_memguard.screen.containers import (
    SET_ON_FIRST_USE,
    Growth,
    grown_holding,
    growth_advice,
    growth_unit,
    is_function_cache,
)
from pytest_memguard.screen.heap import Tops, among, beneath, excluding, find_tops, tops_within
from pytest_memguard.screen.holderbook import Learned, sized_length
from pytest_memguard.screen.triage import (
    ATTRIBUTES_OF_OLDER,
    HELD_BY_BOUNDED,
    REFRESHED_BY_IMPORTS,
    attributes_of_older,
    refreshed_by_finders,
)
from pytest_memguard.screen.window import (
    FirstRule,
    GuardedRun,
    Protocol,
    SentinelHooks,
    Tracing,
    WindowRunner,
    run_unlogged,
)

#: ``explainer(run, settings, ignore, sites_read)``: findings for a run's retained
#: objects, with the ids in ``ignore`` (the plugin's own bookkeeping) never part of a
#: chain; ``sites_read`` is called once their allocation sites are read.
Explainer = Callable[[GuardedRun, Settings, set[int], Callable[[], None]], list[Finding]]


_OUTCOME_OF = operator.attrgetter("outcome")
_PASSED = frozenset({"passed"})


def _outcome(reports: list[Any]) -> str:
    """The test's outcome from its reports: the first failure, else a skip, else passed.
    Read from ``outcome`` itself: its ``failed`` and ``skipped`` properties cost a call
    each, six a test; the outcomes of a test that passed, nearly all, are read in C."""
    if set(map(_OUTCOME_OF, reports)) == _PASSED:
        return "passed"
    skipped = False
    for report in reports:
        outcome = report.outcome
        if outcome == "failed":
            return "failed" if report.when == "call" else "error"
        skipped = skipped or outcome == "skipped"
    return "skipped" if skipped else "passed"


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


def growth_findings(growth: list[Growth]) -> list[Finding]:
    """Findings for module-level containers that grew (the untracked-leak screen)."""
    findings = []
    for grown in growth:
        is_cache = is_function_cache(grown.container)
        noun = entries(grown.added, growth_unit(grown.container))
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
                advice=growth_advice(grown.container),
            )
        )
    return findings


def _held_by_retained(growth: list[Growth], retained: list[object]) -> list[Growth]:
    """Drop containers whose new entries are retained objects: explain covers those."""
    ids = set(map(id, retained))
    return [
        grown
        for grown in growth
        if not any(id(entry) in ids for entry in _recent_entries(grown.container))
    ]


def _bounded_entries(holders: Holders) -> list[tuple[object, str]]:
    """The bounded holders a search found, then their storage, each with its bound."""
    bounded = [
        (holder, holders.bounds[id(holder)])
        for holder in holders.holders
        if id(holder) in holders.bounds
    ]
    return [*bounded, *holders.storage]


class Guard:
    """Turns guarded runs of one item into a verdict and a :class:`TestRecord`.

    Screen, triage, confirm rarely, explain once per root: a test whose survivors the
    screen's triage explains (warm-up, or a root already confirmed) is judged without a
    re-run; a suspect is re-run within the session's :class:`ConfirmBudget`, the
    screened run serving as its priming run; a confirmed leak is explained once per
    root, and the holders found on the way are remembered for the tests after it.
    What each step finds is written down as :class:`Facts`, and
    :func:`~pytest_memguard.confirm.decide.decide` turns them into the verdict.
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
        #: What the last referrer searches over the heap took (a guess until the first):
        #: looking a holder up pays off for a test whose re-run would cost more.
        self._search_times = collections.deque([FIRST_SEARCH_GUESS], maxlen=5)
        #: The plugin's own lists of the test being judged, skipped by holder searches.
        self._ours: tuple[object, ...] = ()
        self._found: list[Holders] = []
        #: What else holds the leak just explained: the watched containers that grew
        #: with it, and the objects its chains end in. Its root's holders too.
        self._root_holders: list[object] = []
        #: What guarding the current test has found so far.
        self._facts = Facts()
        #: The dicts the walk from the current test's module found made on first access.
        self._made_near: list[object] = []
        #: What the rules without a search started from, and its tops: the confirmation
        #: tells the tops of what they left from them (a walk of every object, and of all
        #: they refer to: 50 ms for a list of every Unicode character).
        self._left: tuple[list[object], Tops] | None = None
        self.shapes = ShapeLog()
        self.siblings = Siblings()
        #: The growth the current test left, when it runs a parametrized function.
        self._signature: Signature | None = None
        #: The session's lru_cache wrappers and threading.local objects.
        self.listing = runner.listing
        self.lru_caches = LruCaches(self.listing)
        self.replacements = Replacements()
        self._replaced_first = FirstRule(self._replacing, REPLACED)
        #: What the heap rules cost lately (O(heap)), and how often they spared re-runs.
        self.heap_rules = HeapRuleRecord()
        self.near_walks = NearWalks()

    def guard(
        self,
        item: pytest.Item,
        nextitem: pytest.Item | None,
        limits: Limits,
        protocol: Protocol = run_unlogged,
    ) -> tuple[list[Any], TestRecord]:
        """Screen (run with ``protocol``), confirm and decide; the reports are not logged."""
        self.replacements.opening()
        self.runner.book.pinned = self.replacements.pinned_ids()
        screen = self.runner.screen(
            item,
            trace=self.settings.trace or limits.needs_tracing,
            trace_depth=self.settings.traceback,
            sentinels=self.sentinels,
            protocol=protocol,
            first=self._replaced_first,
        )
        self._facts = Facts(figures=screen.figures, outcome=_outcome(screen.reports))
        self.budget.screened(screen.duration)
        try:
            if screen.figures is None:
                raise RuntimeError(f"measuring the run failed: {screen.error}")
            # A failing or skipped test is not judged on memory.
            holders = self._judge(item, limits, screen) if self._facts.outcome == "passed" else None
            decision = decide(self._facts, limits)
            if decision.new_root:
                decision = self._learn(item.nodeid, decision, holders)
        except (Exception, pytest.fail.Exception) as exc:
            # The plugin failing (or a test-timeout plugin's alarm firing while it
            # confirms) must never fail the run.
            self._note(error=repr(exc))
            decision = decide(self._facts, limits)
            # Where warnings are errors (-W error) the verdict alone says it.
            with contextlib.suppress(Warning):
                item.warn(pytest.PytestWarning(f"{decision.message}\n{traceback.format_exc()}"))
        finally:
            screen.release()
            # Nothing of this test's may stay referenced by the plugin: the next test's
            # replacement rule reads who still holds what this one left.
            self._ours, self._found, self._root_holders = (), [], []
            self._made_near = []
            _report_final_teardown(screen.reports, self.runner.finish(item, nextitem))
        blame = self.runner.blame.take_charges()
        return screen.reports, record_of(
            item.nodeid, limits.to_dict(), self._facts, decision, blame
        )

    def _replacing(self, left: list[object], kept_in: tuple[Iterable[object], ...]) -> list[object]:
        """What of ``left`` (what a screen's cheap holders left) replaces objects earlier
        tests left and the run dropped: applied before the triage, to a run that left
        at most :data:`REPLACED_FIRST_MAX` objects."""
        if len(left) > REPLACED_FIRST_MAX:
            return []
        return self.replacements.replacing(left, kept_in=kept_in)

    def _note(self, **found: Any) -> None:
        self._facts = self._facts._replace(**found)

    def _judge(self, item: pytest.Item, limits: Limits, screen: GuardedRun) -> Holders | None:
        """Find out what a passed test's screened run left: the holders of a leak it
        explained, or None."""
        # The screened run's list of survivors is the plugin's: never a holder.
        self._ours = (screen, screen.retained)
        self._found = []
        self._left = None
        # What the screen found replacing what earlier tests left is held with what the
        # rules leave, to see the next test drop it in turn; no other list of the
        # plugin's may hold it while re-runs count the references to what they replace.
        replaced, screen.replacing = screen.replacing, []
        growing = unexplained_growth(screen, limits)
        self._signature = self._signature_of(item, screen) if growing else None
        if self._vouched_for(screen, before_rules=True):
            return None  # its siblings' re-runs told, and no rule ever did: none asked
        if growing:
            self._explain_without_a_search(screen, limits, item, replaced)
            growing = unexplained_growth(screen, limits)
            if not growing and self._signature is not None:
                self.siblings.explained(self._signature)
        elif replaced:
            self.replacements.remember(replaced, item.nodeid)
        del replaced
        triage = screen.triage
        if triage.why:
            self._note(warmup=tuple(triage.why))
        if growing:
            self._note(suspect=True, unexplained=triage.unexplained or screen.retained_objects)
            return self._confirm(item, limits, screen)
        self._left = None  # they would count in the reference counts the next test reads
        if triage.roots:
            self._grew_root(screen, self.roots.count(triage.roots[0]))
        return None

    def _vouched_for(self, screen: GuardedRun, before_rules: bool = False) -> bool:
        """Whether the re-runs of the current test's siblings vouch for its growth
        (before the rules without a search: when they never explained a sibling's);
        noted as cleared if so."""
        signature = self._signature
        precedent = self.siblings.precedent(signature, before_rules) if signature else None
        if precedent is None:
            return False
        # After the rules the judge noted what they left; before them, the screen's.
        left = self._facts.unexplained or screen.triage.unexplained
        self._note(suspect=True, vouched=True, unexplained=left, cleared=precedent.reason())
        return True

    def _signature_of(self, item: pytest.Item, screen: GuardedRun) -> Signature | None:
        """The growth ``screen`` left as its parametrized siblings' re-runs are compared
        by; None for a test of no parametrized function, or a run that grew a leak's
        root or left a resource behind, which is judged on its own."""
        function = function_of(item)
        if function is None or screen.triage.roots or screen.sentinel_findings:
            return None
        left = screen.triage.unexplained_of(screen.retained)
        grown = frozenset(grown.label for grown in screen.growth)
        return Signature(function, growth_shape(left), grown)

    def _siblings_leaked(self) -> None:
        """The current test grew on every run: its growth is vouched for no sibling."""
        if self._signature is not None:
            self.siblings.leaked(self._signature)

    def _explain_without_a_search(
        self, screen: GuardedRun, limits: Limits, item: pytest.Item, replaced: list[object]
    ) -> None:
        """Explain what the triage left with the rules that need no search and no re-run:
        replacements of objects the plugin saw dropped, directory listings the import
        system read again, the warning filters the interpreter kept, the slot names a
        class got at its first copy, the attributes an older object took beside warm-up,
        what thread locals and bounded ``lru_cache`` wrappers hold once they are listed,
        dicts made on first access to what the test's module reaches, then the heap
        rules."""
        nodeid = item.nodeid
        left = screen.triage.unexplained_of(screen.retained)
        # Both replacement rules start from the tops, a walk of all that was left.
        tops = find_tops(left)
        replacing = self.replacements.replacing(left, tops, kept_in=(screen.retained,))
        screen.triage = screen.triage.explaining(replacing, REPLACED)
        # Each rule reads only what the ones before it left: once nothing is left (an
        # attribute rebuilt by every test), the rest, which walk the interpreter's own
        # state (every path finder), are not asked.
        rest = screen.triage.unexplained_of(left)
        for rule, why in _INTERPRETER_STATE_RULES:
            if not rest:
                break
            rest = _explained_by(screen, rest, rule(rest), why)
        if rest:
            rest = _explained_by(screen, rest, self._set_once(rest, tops), SET_ON_FIRST_USE)
        if rest:
            triage = screen.triage
            attributes = attributes_of_older(rest, screen.retained, triage.explained_ids)
            screen.triage = triage.explaining(attributes, ATTRIBUTES_OF_OLDER)
        del rest  # the heap rules below read who refers to what is left
        # Listed already, the lru_cache wrappers and thread locals cost what they hold.
        listed = self.listing.fresh
        if unexplained_growth(screen, limits) and listed:
            local_dicts = thread_dicts(left, self.listing.of(threading.local))
            screen.triage = screen.triage.explaining(local_dicts, MADE_ON_ACCESS)
            if unexplained_growth(screen, limits):
                self._explain_by_lru_caches(screen, left)
        if unexplained_growth(screen, limits):
            self._explain_near_the_test(screen, item, left)
        if unexplained_growth(screen, limits) and self._heap_rules_fit(screen, limits):
            started = time.perf_counter()
            if not listed:
                self._explain_by_lru_caches(screen, left)
            self._explain_with_the_heap(screen, left, tops.objects)
            spent = time.perf_counter() - started
            self.heap_rules.ran(spent, spared=not unexplained_growth(screen, limits))
            # A pass over the heap, like a search: confirmation time, within the budget.
            self._note(confirm_seconds=spent)
            self.budget.spend(spent)
        # Held to see the next runs drop them (after the heap rules, which read referrers),
        # with what the screen found replacing objects before the triage: one group, whose
        # tops and cycles are those of all that the run left.
        self.replacements.remember([*left, *replaced], nodeid, None if replaced else tops)
        self._left = (left, tops)

    def _set_once(self, rest: list[object], tops: Tops) -> list[object]:
        """What of ``rest`` module globals bound to None at their module's scan now hold,
        with what hangs from it: a lazily made singleton, set once."""
        inside = set(map(id, rest))
        set_once = self.runner.containers.set_since_scan(among(tops.objects, inside))
        return beneath(set_once, rest) if set_once else []

    def _explain_near_the_test(
        self, run: GuardedRun, item: pytest.Item, candidates: list[object]
    ) -> None:
        """Explain the dicts the run made on first access to older objects its test's
        module or its function reaches (a function's ``__annotations__`` that
        ``inspect.signature`` read, an app's ``__dict__`` on 3.11+, a strategy's that
        hypothesis validated), found by a short walk down from them rather than a pass
        over the heap. ``candidates``: what the rules before left of the run's objects,
        of which the triage may have explained more since."""
        left = run.triage.unexplained_of(candidates)
        module = getattr(item, "module", None)
        if not isinstance(module, types.ModuleType) or not any(type(o) is dict for o in left):
            return
        if not self.near_walks.due():
            return
        ours = {id(left), id(run.retained), *map(id, self._ours)}
        # The test's own function first, walked alone: a class-based test's method is
        # out of reach of a walk that enters no class, a decorator keeps what it made on
        # the function (hypothesis' strategies, on the handle ``@given`` sets), and a
        # walk from the module may spend its objects on the module's large values first.
        function = getattr(item, "obj", None)
        walks = [[function]] if callable(function) else []
        namespaces = imported_namespaces(module)
        walks += [namespaces, declared_attributes(namespaces)]
        near = referrers_near(left, walks, ours)
        retained = set(map(id, run.retained))
        self._made_near = materialized(left, retained, ours, near)
        self.near_walks.ran(found=bool(self._made_near))
        self._ours = (*self._ours, self._made_near)  # a list of ours: never a holder
        run.triage = run.triage.explaining(self._made_near, MADE_ON_ACCESS)

    def _heap_rules_fit(self, screen: GuardedRun, limits: Limits) -> bool:
        """Whether the heap rules pay for the suspect ``screen`` left and fit the
        budget: a suite of a thousand suspects they do not explain must not pay for them
        a thousand times."""
        rules = self.heap_rules
        reruns, waits = _least_confirmation(screen, limits)
        fit = self.budget.allows(reruns, waits=waits)
        return rules.pay(screen.duration, bool(limits.repeat), fit) and self.budget.allows(
            rules.cost or 0.0
        )

    def _explain_by_lru_caches(self, run: GuardedRun, candidates: list[object]) -> None:
        """Explain what the triage left of ``candidates`` (as for
        :meth:`_explain_near_the_test`) that bounded ``lru_cache`` wrappers hold, and
        remember those wrappers: a walk down from every wrapper the session lists (a
        pass over the heap when imports made the listing stale)."""
        left = run.triage.unexplained_of(candidates)
        held = self.lru_caches.holding(left)
        for wrapper, bound in held.wrappers:
            self.runner.book.learn_bounded(wrapper, bound)
        explained = among(left, held.ids)
        run.triage = run.triage.explaining(explained, HELD_BY_BOUNDED)

    def _explain_with_the_heap(
        self, run: GuardedRun, candidates: list[object], *listed: list[object]
    ) -> None:
        """Explain what the triage left of ``candidates`` (as for
        :meth:`_explain_near_the_test`) that two rules needing the whole heap (unfrozen,
        after the window) tell without a search or a re-run: dicts made on first access
        to older objects, then values cached on first access in their lazy attributes.
        ``candidates`` and ``listed`` are the caller's lists of some of them: no holder."""
        left = run.triage.unexplained_of(candidates)
        retained = set(map(id, run.retained))
        ours = {id(left), id(candidates), id(run.retained), id(self._made_near)}
        ours |= set(map(id, listed))
        # One pass over the heap serves both rules for what is made on first access.
        referrers = referrers_outside(left, ours)
        lazy = materialized(left, retained, ours, referrers)
        run.triage = run.triage.explaining(lazy, MADE_ON_ACCESS)
        rest = run.triage.unexplained_of(left)
        # A value may be cached in a dict the walk near the test found made on access.
        made = [*lazy, *self._made_near]
        ignore = ours | {id(rest), id(made)}
        cached = cached_on_first_access(rest, retained, ignore, referrers, made)
        run.triage = run.triage.explaining(cached, CACHED_ON_ACCESS)

    def _grew_root(self, run: GuardedRun, root: Root | None) -> None:
        """The run grew roots already confirmed: the first one's leak again, measured as
        what the run added to the roots, not all it left (the figure a gate compares
        must not depend on whether a leak was confirmed or recognised)."""
        triage = run.triage
        self._note(
            same_root=triage.roots[0],
            root=root,
            root_added=(triage.root_objects, triage.root_bytes),
        )

    def _confirm(self, item: pytest.Item, limits: Limits, screen: GuardedRun) -> Holders | None:
        """Re-run a suspect within the budget, unless a bound on its holders explains it,
        or what it left is the third link of a chain earlier tests grew."""
        if not limits.repeat:
            self._left = None
            return self._confirmed(item, [screen])
        seconds = _rerun_seconds(screen)
        # Only what the rules without a search started from may still be unexplained: a
        # run that loaded every locale's data is not read whole again. That list must
        # die with ``_tops_left``: its references would count in the searches' counts.
        candidates = self._left[0] if self._left is not None else screen.retained
        unexplained = screen.triage.unexplained_of(candidates)
        del candidates
        # The re-runs' closure keeps this list alive until the leak is explained: a list
        # of ours, never a holder whose owners a search climbs to.
        self._ours = (*self._ours, unexplained)
        chain = self.replacements.chain_behind(self._tops_left(unexplained), item.nodeid)
        if chain is not None:
            # Growth on every run, seen across tests: the new link, and what hangs from it
            # (not what the run replaced beside it, which only a re-run would tell).
            self._note(chained=chain.behind)
            link = replace(screen, retained=beneath([chain.link], screen.retained))
            self._ours = (*self._ours, link, link.retained)
            return self._confirmed(item, [link])
        if self._vouched_for(screen):
            return None
        # Read before the re-runs, which may replace the entries the screened run made;
        # ids only: a reference held here would count in the rules' reference counts.
        holding = grown_holding(screen.growth, unexplained)
        shape = growth_shape(unexplained)
        quick = seconds <= LEARNING_MAX_SECONDS
        self.budget.pay_back(self.shapes.paid_back())
        learning = quick and self.shapes.worth_learning(shape)
        self.shapes.suspect(shape)
        # Re-runs that may vouch for the test's siblings learn too, with no search.
        signature = self._signature
        vouching = quick and signature is not None and self.siblings.worth_learning(signature)
        # No fewer repetitions tell growth from warm-up: a suspect whose least
        # confirmation would not fit is left unconfirmed, so one slow test cannot spend
        # the budget of all the quick suspects after it. Nor is it searched: a search
        # spares the re-runs only when every holder is bounded, which the slow suspects
        # of hypothesis-heavy suites never were, and it spent what quicker ones needed.
        reruns, waits = _least_confirmation(screen, limits)
        if not self.budget.allows(reruns, learning, waits, vouching):
            self._note(no_budget=True)
            return None
        # For a test whose re-run costs more than a look at the heap, or whose shape of
        # growth came before, who holds its growth is looked up first: a bounded holder
        # needs no re-run at all, and one the re-runs show filled is remembered. Only
        # when the re-runs still fit after it, and when it has objects to look above.
        holders = None
        searched = 0.0
        worth = bool(unexplained) and (learning or self._worth_a_search(seconds))
        if worth and self.budget.allows(self._search_seconds + reruns, reserve=learning):
            if learning:
                self.shapes.searched(shape)
            holders = self._find(unexplained, ())
            # What the plugins keep is pytest's, never a cache of the code under test.
            holders = holders.without(self.runner.plugin_state.adopt(holders.holders))
            self._found.append(holders)  # its lists refer to holders: never on a chain
            # A search costs O(heap): it is confirmation time, charged like a re-run.
            searched = self._search_times[-1]
            self._note(confirm_seconds=self._facts.confirm_seconds + searched)
            self.budget.spend(searched, reserve=learning)
        if holders is not None and holders.all_bounded and not screen.growth:
            self._bounded(holders)
            return None
        if holders is not None and holders.bounds:
            # What the bounded holders keep is warm-up whatever else grows: learned
            # before the re-runs, it is left out of their growth, so a cache filling on
            # every run (hypothesis' strategy cache) does not keep them going.
            self.runner.book.learn_found(_bounded_entries(holders))
        if not self.budget.allows(reruns, learning, waits, vouching):
            self._note(no_budget=True)
            return None
        times = repetitions_for(limits, seconds)
        started = time.perf_counter()
        evidence: list[GuardedRun] = []

        # The budget decides whether re-runs start, not when they stop: a repetition that
        # grew again makes a leak likely, and stopping short would waste the runs made
        # and leave it unconfirmed. Growth on every run is rare; the next suspects pay.
        # A repetition that grew only roots already confirmed ends them: what else the
        # screened run left stopped growing, as warm-up does.
        seen = 0

        def keep_going(run: GuardedRun) -> bool:
            nonlocal seen
            seen += 1
            if seen == 1:
                self._explain_replacements(run, (screen.retained, unexplained))
            return unexplained_growth(run, limits)

        try:
            evidence = self._repeat(item, times, keep_going)
        finally:
            spent = time.perf_counter() - started
            waited = sum(run.waited for run in evidence)
            self._note(confirm_seconds=self._facts.confirm_seconds + spent)
            self.budget.spend(spent - waited, learning, waited, vouching)
        self._note(repetitions=tuple(run.figures for run in evidence))
        if evidence:
            self._hold_leftovers(evidence[-1], item.nodeid)
        # The last repetition grew known roots and nothing else: what else the screened
        # run left was warm-up, and the leak is the roots', found without a search.
        last = evidence[-1] if evidence else None
        if last is not None and _grew_only_roots(last, limits):
            self._siblings_leaked()
            root = self.roots.count(last.triage.roots[0])
            if root is not None:
                self._grew_root(last, root)
                return None
        failed = untold(evidence)
        if failed:
            # No evidence either way: nothing is learned from its holders.
            self._note(untold=failed)
            return None
        grew, why = confirmed(evidence, times, limits)
        if not grew:
            if self._signature is not None:
                self.siblings.cleared(self._signature, item.nodeid)
            self._note(cleared=why)
            if holders is not None:
                self._remember(holders)
                taught = self._filled_entries(holders) if learning else []
                if taught:
                    self.shapes.taught(taught, searched)
            self._learn_filled_containers(screen.growth, holding, holders)
            return None
        return self._confirmed(item, evidence)

    def _tops_left(self, unexplained: list[object]) -> list[object]:
        """The objects of ``unexplained`` it may hang from: its tops, told from those of
        what the rules without a search started from (``tops_within``) rather than by
        walking it again (a second for a run that loaded every locale's data).
        Forgotten here, before any search or re-run: held, they would count in the
        references those read."""
        left, self._left = self._left, None
        if left is None:
            return find_tops(unexplained).objects
        return tops_within(*left, unexplained)

    def _filled_entries(self, holders: Holders) -> list[Learned]:
        """What the book learned of ``holders`` as filled: neither bounded nor a root's."""
        known = map(self.runner.book.known, holders.unbounded())
        return [entry for entry in known if entry is not None and not (entry.bound or entry.root)]

    def _learn_filled_containers(
        self, growth: list[Growth], holding: set[int], holders: Holders | None
    ) -> None:
        """The watched containers that grew holding what the screened run left
        unexplained (ids in ``holding``) are its holders, found with no search: the
        re-runs saw their growth stop, so they are filled. Once several suspects cleared
        in one (a generated class's source in ``linecache``), its growth is once per key
        and the tests after them are not suspects."""
        searched = set(map(id, holders.holders)) if holders is not None else set()
        learned = holding - searched
        for grown in growth:
            if id(grown.container) in learned:
                self.runner.book.learn_filled(grown.container)

    def _explain_replacements(self, run: GuardedRun, listed: tuple[list[object], ...]) -> None:
        """Explain what the first repetition made in place of what the screened run
        left and it dropped (a set an attribute is rebound to on every run): the
        window it shares with the later repetitions compares them with it, but the
        screened run had a window of its own. ``listed`` are the lists in which the
        plugin still holds what the screened run left."""
        if run.figures is None:
            return
        left = run.triage.unexplained_of(run.retained)
        replacing = self.replacements.replacing(left, listed=listed, kept_in=(run.retained,))
        run.triage = run.triage.explaining(replacing, REPLACED)
        run.replacing = [*run.replacing, *replacing]  # for the next test to see dropped

    def _hold_leftovers(self, run: GuardedRun, nodeid: str) -> None:
        """Hold what a re-run left, unexplained or made in place of what the run before
        it made: the heap now holds its objects, not the screened run's, and the next
        test may replace them."""
        self.replacements.remember(
            [*run.triage.unexplained_of(run.retained), *run.replacing], nodeid
        )

    def _beneath_replacements(self, run: GuardedRun) -> set[int]:
        """A run whose every top replaced one the run before made grew beneath them, if
        an older holder keeps some of its objects along with what earlier runs left:
        that is its leak, and what is explained and learned, not the replaced
        structure. Returns the ids of the run's objects left out."""
        if not run.replaced_tops:
            return set()
        own = self.runner.own_ids() | self.replacements.held_ids()
        own.update(map(id, (run.retained, run.replaced_tops, *self._ours)))
        beneath = growth_beneath(run.retained, run.replaced_tops, run.earlier_ids, own)
        if not beneath:
            return set()
        left_out = set(map(id, run.retained)) - set(map(id, beneath))
        run.retained = beneath
        return left_out

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

    @property
    def _search_seconds(self) -> float:
        """What a search costs, the median of the last ones: one search through a
        large group of objects must not stop the cheap ones after it."""
        return median(self._search_times)

    def _worth_a_search(self, seconds: float) -> bool:
        return seconds >= self._search_seconds

    def _find(
        self,
        objs: list[object],
        ignore: tuple[object, ...],
        skip: set[int] | None = None,
        for_chains: bool = False,
    ) -> Holders:
        """Who holds ``objs`` (O(heap)), other than objects whose ids are in ``skip``; the
        time it took sets when searching pays off. ``for_chains``: a leak's chains are
        searched next, from what its climbs found."""
        started = time.perf_counter()
        # The plugin's own references are no holders: the runner's book, and what the
        # searches of this test found (their lists refer to the holders they found).
        own = self.runner.own_ids().union(
            self.replacements.held_ids(),
            *(found.own_ids() for found in self._found),
            _records_ids(self._ours),
            skip or (),
        )
        try:
            found = find_holders(
                objs,
                ignore=(*self._ours, *ignore),
                skip_ids=own,
                for_chains=for_chains,
                at_module_level=self.runner.containers.at_module_level,
            )
        finally:
            self._search_times.append(time.perf_counter() - started)
        self._found.append(found)
        return found

    def _bounded(self, holders: Holders) -> None:
        """All the growth is held under declared bounds: the holders are remembered so
        the tests after it need no search."""
        self._remember(holders)
        self._note(bounds=tuple(sorted(set(holders.bounds.values()))))

    def _remember(self, holders: Holders, root: str = "") -> None:
        """Remember each holder: bounded, leaking (``root``) or filled; the bounded ones
        and their storage first, as the book takes a search's first ones only."""
        others = excluding(holders.holders, holders.bounds)
        self.runner.book.learn_found(
            [*_bounded_entries(holders), *((holder, "") for holder in others)], root
        )

    def _repeat(
        self, item: pytest.Item, times: int, keep_going: Callable[[GuardedRun], bool]
    ) -> list[GuardedRun]:
        return self.runner.repeat(
            item, times=times, keep_going=keep_going, sentinels=self.sentinels, prime=False
        )

    def _confirmed(self, item: pytest.Item, evidence: list[GuardedRun]) -> Holders | None:
        """Growth on every run: who holds it, and unless that is a root already confirmed
        or only bounded containers, what it is. Returns the holders of what was explained."""
        self._siblings_leaked()
        last = evidence[-1]
        # The holders of a growth beneath replaced objects are older than the run: not
        # the replaced objects it left too.
        replaced = self._beneath_replacements(last)
        holders = (
            self._find(
                last.retained,
                (last, evidence, last.retained),
                replaced | _records_ids(evidence),
                for_chains=True,
            )
            if last.retained
            else None
        )
        only_objects = not (last.container_growth or last.sentinel_findings)
        known = self._known_root(holders) if only_objects else None
        if known is not None:
            # Confirmed again: no second explanation.
            self._note(same_root=known, root=self.roots.count(known))
            return None
        if (
            holders is not None
            and only_objects
            and holders.cover(last.retained, last.retained_objects)
        ):
            self._bounded(holders)
            return None
        started = time.perf_counter()
        # The explanation's modules load before tracing starts: imported traced, every
        # allocation of the import is traced too (h11's first explanation took 52 ms
        # with its imports, 14 ms without).
        self.listing.import_unlisted(*_FIRST_LEAK_MODULES)
        # Confirmation ran untraced (tracing slows every allocation, and most suspects
        # are warm-up); a confirmed leak runs twice more, the second run traced, to name
        # allocation sites, with fewer frames or none when that run would be slow.
        depth = tracing_depth(last.busy_seconds, self.settings.traceback)
        traced = len(evidence) > 1 and depth > 0
        try:
            with Tracing(traced, depth) as tracing:
                if traced:
                    again = self.runner.repeat(
                        item,
                        times=1,
                        keep_going=lambda run: False,
                        sentinels=self.sentinels,
                        primed=tracing.start,
                    )
                    last = again[-1] if again else last
                    self._hold_leftovers(last, item.nodeid)
                    self._beneath_replacements(last)
                if holders is not None:  # its climbs went up the way the chains go
                    last.known_referrers = holders.referrers
                self._explain(last, evidence, tracing.stop)
        finally:
            self._note(explain_seconds=time.perf_counter() - started)
        return holders

    def _explain(
        self, last: GuardedRun, evidence: list[GuardedRun], stop_tracing: Callable[[], None]
    ) -> None:
        """Explain ``last``'s growth, the last of the runs in ``evidence``; tracing is
        stopped once allocation sites are read (the chain search runs untraced)."""
        ours = {id(self), id(vars(self)), id(self._ours), *map(id, self._ours), id(self._found)}
        own = self.runner.own_ids().union(
            self.replacements.held_ids(),
            ours,
            *(found.own_ids() for found in self._found),
            _records_ids([last, *evidence, *self._ours]),
            {id(evidence)},
        )
        # A container whose new entries explain reaches is not said twice.
        untracked = growth_findings(_held_by_retained(last.growth, last.retained))
        explained = self.explainer(last, self.settings, own, stop_tracing)
        grown = [grown.container for grown in last.growth if grown.container is not None]
        # Only a container whose length tells growth: an object's new attribute values
        # would read as replacements, and explain later tests' growth away.
        sized = [holder for holder in last.chain_holders if sized_length(holder) >= 0]
        self._root_holders = [*grown, *sized]
        # Warm-up an explanation found bounded is warm-up for the tests after it too:
        # their growth in the same cache is explained on their screened run.
        for holder, bound in last.bounded_holders:
            self.runner.book.learn_bounded(holder, bound)
        runs = [*evidence[:-1], last]
        self._note(
            explanation=Explanation(
                explained=tuple(explained),
                resources=tuple(last.sentinel_findings),
                untracked=tuple(untracked),
                # A run not measured added nothing that can be counted.
                runs=tuple(run.figures or Figures() for run in runs),
                top_types=retained_types(last.retained),
            )
        )
        last.release()

    def _learn(self, nodeid: str, decision: Decision, holders: Holders | None) -> Decision:
        """A leak explained here gives the session a root; its holders are that root's,
        and so are the watched containers that grew with it (entries the young heap does
        not show, as a directory cached per archive) and the containers its chains end
        in (the search's holders may be objects an earlier run of the leak made): a
        later test growing them grows that root, and needs no re-run for it."""
        root = self.roots.add(nodeid, decision.findings)
        if root is not None:
            if holders is not None:
                self._remember(holders, root.key)
            for holder in self._root_holders:
                self.runner.book.learn_leaking(holder, root.key)
        return decision._replace(root=root)


#: Rules that tell what the interpreter keeps of its own among what a run left, each
#: from what the ones before it left: no search, no re-run, no pass over the heap.
_INTERPRETER_STATE_RULES: tuple[tuple[Callable[[list[object]], list[object]], str], ...] = (
    (refreshed_by_finders, REFRESHED_BY_IMPORTS),
    (last_read_filters, KEPT_BY_WARNINGS),
    (cached_slot_names, SLOT_NAMES_CACHED),
)


def _explained_by(
    run: GuardedRun, rest: list[object], explained: list[object], why: str
) -> list[object]:
    """What of ``rest`` is left once a rule explained ``explained`` by ``why``: listed
    again only when the rule explained some (a rebuilt grammar leaves thousands of
    objects, and most rules explain none of them)."""
    if not explained:
        return rest
    run.triage = run.triage.explaining(explained, why)
    return run.triage.unexplained_of(rest)


def _records_ids(runs: Iterable[object]) -> set[int]:
    """Ids of the plugin's records of the runs among ``runs``, their lists, and the
    watch's records of what grew in them, which refer to the grown containers: a chain
    search past a root in ``sys`` went on through them, a pass over the heap each."""
    ids: set[int] = set()
    for run in runs:
        if not isinstance(run, GuardedRun):
            continue
        ids.update((id(run), id(run.retained), id(run.growth)))
        ids.update(map(id, run.growth))
    return ids


def _rerun_seconds(screen: GuardedRun) -> float:
    """What re-running the test of ``screen`` takes, less its wait for what it left."""
    return max(screen.duration - screen.waited, 0.0)


def _least_confirmation(screen: GuardedRun, limits: Limits) -> tuple[float, float]:
    """The seconds and the waits of the fewest repetitions that confirm the suspect
    ``screen`` left (:data:`MIN_REPEAT`, or fewer if ``limits`` ask for fewer)."""
    least = min(repetitions_for(limits, _rerun_seconds(screen)), MIN_REPEAT)
    return _rerun_seconds(screen) * least, screen.waited * least


def _grew_only_roots(run: GuardedRun, limits: Limits) -> bool:
    """Whether a passing, measured run grew roots already confirmed and nothing else."""
    if run.error or not run.passed or not run.triage.roots:
        return False
    return not unexplained_growth(run, limits)


#: What a referrer search is taken to cost before the first one is timed: tests quicker
#: than this are re-run rather than looked up.
FIRST_SEARCH_GUESS = 0.05
#: Objects a screened run may leave for the replacement rule to be asked before the
#: triage: it walks them all to find their tops, and past a few hundred (a test filling
#: hypothesis' caches leaves thousands, a few of them replacements) that costs more than
#: the triage it would spare; the judge asks it then, of what the triage leaves.
REPLACED_FIRST_MAX = 512

#: What explaining the first confirmed leak, naming its root and reporting it import:
#: loaded together, leaving a listing of the heap up to date.
_FIRST_LEAK_MODULES = (
    "pytest_memguard.explain.explainer",
    DEEP_SIZER,
    "pytest_memguard.history.known",
    "pytest_memguard.report.terminal",
)


def _report_final_teardown(reports: list[Any], final_teardown: Any | None) -> None:
    """A failing teardown of wider scopes after the repetitions is the test's teardown error."""
    if final_teardown is None or final_teardown.passed:
        return
    # The last one: a plugin that re-runs failing tests leaves one per attempt.
    for index in reversed(range(len(reports))):
        if reports[index].when == "teardown":
            reports[index] = final_teardown
            return
