"""Assembling a session's guard: the window runner, the sentinels and the explainer.

Imported at the first guarded test, so a run that guards nothing never loads the heap
model, the sentinels or psutil.
"""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_memguard.config import Settings
from pytest_memguard.confirm.budget import ConfirmBudget
from pytest_memguard.confirm.listing import HeapListing
from pytest_memguard.findings import Finding
from pytest_memguard.guard import Guard
from pytest_memguard.screen.containers import session_watch
from pytest_memguard.screen.gcwatch import GcWatch
from pytest_memguard.screen.heap import RssProbe, YoungHeap, freeze_isolates_young_heap
from pytest_memguard.screen.holders import FixtureLedger, PluginState
from pytest_memguard.screen.warmup import schedule_warm_up
from pytest_memguard.screen.window import GuardedRun, SentinelHooks, WindowRunner
from pytest_memguard.sentinels.blame import Ledger
from pytest_memguard.sentinels.suite import build_sentinels, check_all, snapshot_all


def build_guard(config: pytest.Config, settings: Settings, disabled: frozenset[str]) -> Guard:
    """The guard of a session, with its fixture recorder registered as a plugin."""
    young = YoungHeap(use_freeze=freeze_isolates_young_heap())
    ledger = FixtureLedger()
    blame = Ledger()
    gc_watch = GcWatch()
    gc_watch.install()
    runner = WindowRunner(
        young=young,
        rss=RssProbe(),
        gc_watch=gc_watch,
        containers=session_watch(config, _ignored_roots()),
        ledger=ledger,
        plugin_state=PluginState(config),
        measure_peak=bool(settings.reports) or settings.save is not None,
        blame=blame,
    )
    config.pluginmanager.register(FixtureRecorder(ledger, young, runner.listing))
    sentinels = _sentinel_hooks(config, settings, disabled, blame)
    schedule_warm_up(config, runner.containers, sentinels)
    budget = ConfirmBudget(share=settings.confirm_budget)
    return Guard(runner, settings, explain_run, sentinels, budget)


def _sentinel_hooks(
    config: pytest.Config, settings: Settings, disabled: frozenset[str], blame: Ledger
) -> SentinelHooks | None:
    """Snapshot and check functions of the enabled sentinels, or None when all are off."""
    sentinels = build_sentinels(
        disabled,
        settings.allow,
        settings.registries,
        lambda: list(config.hook.pytest_memguard_registries()),
        blame,
    )
    if not sentinels:
        return None
    return (lambda: snapshot_all(sentinels), lambda states: check_all(sentinels, states))


def explain_run(
    run: GuardedRun, settings: Settings, ignore: set[int], sites_read: Callable[[], None]
) -> list[Finding]:
    """Findings for the retained objects of a confirmed leak's last repetition; the ids
    in ``ignore`` are the plugin's own bookkeeping, never part of a chain;
    ``sites_read`` is called once allocation sites are read."""
    if not run.retained:
        return []
    from pytest_memguard.explain.explainer import explain

    return explain(
        run.retained,
        chains=settings.chains,
        timeout=settings.chain_timeout,
        traceback_depth=settings.traceback,
        exclude={id(run.retained), id(run), *ignore},
        holders=run.holder_labels,
        sites_read=sites_read,
        chain_holders=run.chain_holders,
        bounded_holders=run.bounded_holders,
        grown=[id(grown.container) for grown in run.growth if grown.container is not None],
        known_referrers=run.known_referrers,
    )


def _ignored_roots() -> list[Path]:
    """Where installed code lives: its containers are not the project's own."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        location = sysconfig.get_paths().get(key)
        if location:
            paths.add(location)
    return [Path(path) for path in paths]


class FixtureRecorder:
    """Records the wider-scoped fixtures set up inside a window; registered only when a
    test is guarded.

    What a wider-scoped fixture builds inside a window is moved to the old heap at once
    (``YoungHeap.promote``): it is the fixture's, never the test's, and a session
    fixture of a million objects then costs nothing to attribute.
    """

    def __init__(self, ledger: FixtureLedger, young: YoungHeap, listing: HeapListing) -> None:
        self.ledger = ledger
        self.young = young
        self.listing = listing

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any) -> Generator[None, Any, Any]:
        result = yield
        # Most fixtures are a test's own: nothing to record, every test sets them up.
        if getattr(fixturedef, "scope", "function") != "function" and self.young.is_open:
            self.ledger.record(fixturedef)
            self.listing.add_young()
            self.young.promote()
        return result
