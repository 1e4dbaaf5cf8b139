"""pytest hooks of pytest-memguard: wiring only, the logic lives in the other modules."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from pytest_memguard.config import (
    Limits,
    MarkerError,
    Settings,
    guard_marks,
    limits_for_item,
    marker_arguments,
    resolve_settings,
)
from pytest_memguard.figures import Figures
from pytest_memguard.frozen_time import leave_the_plugin_alone
from pytest_memguard.markers import SESSION_PLUGIN
from pytest_memguard.record import TestRecord
from pytest_memguard.sentinels import parse_sentinel_switches
from pytest_memguard.shallow import updated

# The rest is imported where it is used: a run that guards nothing loads none of it.
if TYPE_CHECKING:
    from pytest_memguard.fixture import Expected, MemguardFixture
    from pytest_memguard.guard import Guard
    from pytest_memguard.history.known import KnownLeaks
    from pytest_memguard.report.outputs import Baseline, SessionOutputs

PLUGIN_NAME = SESSION_PLUGIN

#: The summary-line word of the tests that leak again from a root already explained:
#: they fail the run (exit status, ``--lf``, JUnit) but are not repeated under FAILURES.
LEAKED = "leaked"


class Plan(NamedTuple):
    """How one item is guarded: limits, or the error its marker carries."""

    limits: Limits | None = None
    error: MarkerError | None = None


_UNGUARDED = Plan()
PLAN_KEY = pytest.StashKey[Plan]()
EXPECTED_KEY = pytest.StashKey["list[Expected]"]()


def pytest_configure(config: pytest.Config) -> None:
    settings = resolve_settings(config)
    disabled = parse_sentinel_switches(settings.sentinels)  # checked by resolve_settings
    config.pluginmanager.register(MemguardSession(config, settings, disabled), PLUGIN_NAME)


def _junit_properties(record: TestRecord) -> list[tuple[str, object]]:
    """Properties junitxml writes per test, for CI dashboards."""
    delta = record.delta if record.delta is not None else Figures()
    properties: list[tuple[str, object]] = [
        ("memguard_verdict", record.verdict),
        ("memguard_retained_bytes", delta.retained_bytes),
        ("memguard_gc_pause_ms", round(1000 * delta.gc_pause_max, 3)),
    ]
    peak = delta.traced_peak
    if peak is not None:  # measured only when tracing or writing reports
        properties.append(("memguard_peak_bytes", peak))
    return properties


def _not_collected(item: pytest.Item) -> str:
    """Why objects the test passed to ``memguard.assert_collected`` are still alive, or
    ``""``; each is checked once."""
    expected = item.stash.get(EXPECTED_KEY, None)
    if not expected:
        return ""
    item.stash[EXPECTED_KEY] = []
    from pytest_memguard.fixture import still_alive

    return still_alive(expected) or ""


def _is_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker: its records travel to the
    controller on the reports, and it writes no output of its own."""
    return hasattr(config, "workerinput")


def _runs_workers(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist controller: the records of its tests come
    from the workers, on the reports."""
    if _is_worker(config):
        return False
    option = config.option
    distributing = getattr(option, "numprocesses", None) or getattr(option, "tx", None)
    return bool(distributing) or getattr(option, "dist", "no") != "no"


def _wrappers(impls: list[Any]) -> list[object]:
    """The plugins whose implementations among ``impls`` wrap the others."""
    return [impl.plugin for impl in impls if impl.wrapper or impl.hookwrapper]


def _load_known(path: str | None) -> KnownLeaks | None:
    """The known-leak baseline, read at configure time; a usage error if it is bad."""
    if path is None:
        return None
    from pytest_memguard.history.known import KnownLeakError, KnownLeaks

    try:
        return KnownLeaks.load(path)
    except KnownLeakError as exc:
        raise pytest.UsageError(f"memguard: --memguard-known: {exc}") from exc


def _prepare_outputs(config: pytest.Config, settings: Settings) -> Baseline | None:
    """Check the report paths, the history and the baseline before the first test; a
    usage error if one is unusable. Workers write nothing: only the controller checks."""
    history = (settings.save, settings.compare, settings.compare_fail)
    if _is_worker(config) or not (settings.reports or any(v is not None for v in history)):
        return None
    from pytest_memguard.report.outputs import OutputError, prepare_outputs

    try:
        return prepare_outputs(settings, config.rootpath)
    except OutputError as exc:
        raise pytest.UsageError(f"memguard: {exc}") from exc


class _FailureWords:
    """The summary-line word and letter of a test failed by a memory verdict. pytest asks
    every plugin about every report of every test; this one is registered with the
    session's first such verdict, or from the start where the records come from
    pytest-xdist's workers."""

    NAME = "memguard-failure-words"

    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        data = getattr(report, "memguard", None)
        if not isinstance(data, dict) or not report.failed or report.when != "call":
            return None
        if data.get("verdict") == "leak":
            # A root's later tests still fail, under their own word in the summary line:
            # pytest lists every "failed" report under FAILURES (and looks up each one's
            # teardown among all reports), a wall of copies of one root cause.
            category = LEAKED if data.get("same_root_as") else "failed"
            return category, "L", ("LEAK", {"red": True})
        if data.get("verdict") == "over-limit":
            return "failed", "M", ("OVER-LIMIT", {"red": True})
        return None


class _CollectedCheck:
    """Fails the teardown of an unguarded test whose ``memguard.assert_collected``
    objects are still alive. Registered when the fixture is first used: a wrapper on
    every test's teardown costs each test, and only a test using the fixture needs it."""

    NAME = "memguard-collected-check"

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, Any]:
        result = yield
        # Inside a window the old heap is frozen and chains could not reach it: a
        # guarded test is checked by the protocol once its window has closed.
        if not self._guard.runner.young.is_open:
            failure = _not_collected(item)
            if failure:
                pytest.fail(failure, pytrace=False)
        return result


class _WorkerRecords:
    """Keeps the records pytest-xdist's workers send on their reports. Registered on a
    controller only, which runs no test itself: pytest asks every plugin about every
    report of every test, and a process that runs its tests keeps each record as it
    puts it on the report."""

    NAME = "memguard-worker-records"

    def __init__(self, records: list[TestRecord]) -> None:
        self._records = records

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "memguard", None)
        if isinstance(data, dict):
            self._records.append(TestRecord.from_dict(data))


class MemguardSession:
    """Session state: settings, the window runner, and the records of guarded tests."""

    def __init__(
        self, config: pytest.Config, settings: Settings, disabled_sentinels: frozenset[str]
    ) -> None:
        self.config = config
        self.settings = settings
        self.disabled_sentinels = disabled_sentinels
        #: The plan of every item without a marker of its own: one object, not one each.
        self._suite_plan = Plan(settings.limits if settings.enabled else None)
        self.records: list[TestRecord] = []
        self.outputs: SessionOutputs | None = None
        self.known = _load_known(settings.known)
        self.baseline = _prepare_outputs(config, settings)
        self._guard: Guard | None = None
        #: How many tests the session guards, once collected, when it guards them all.
        self._suite_tests: int | None = None
        #: junitxml writes the memguard properties; without it they would only be kept.
        self._junit = bool(getattr(config.option, "xmlpath", None))
        self._stop_waiting_for_freezegun = leave_the_plugin_alone()
        if _runs_workers(config):
            self._register(_FailureWords(), _FailureWords.NAME)
            self._register(_WorkerRecords(self.records), _WorkerRecords.NAME)

    def _register(self, plugin: object, name: str) -> None:
        """Register a helper plugin of the session, once."""
        if not self.config.pluginmanager.has_plugin(name):
            self.config.pluginmanager.register(plugin, name)

    def _plan(self, item: pytest.Item) -> Plan:
        """How ``item`` is guarded, read from its markers on first use: only items that
        run pay for it (a suite may deselect most of what it collects)."""
        plan = item.stash.get(PLAN_KEY, None)
        if plan is None:
            plan = item.stash[PLAN_KEY] = self._read_plan(item)
        return plan

    def _read_plan(self, item: pytest.Item) -> Plan:
        marks = guard_marks(item)
        arguments = marker_arguments(marks)
        if arguments is None:
            unguarded = any(mark.name == "no_memguard" for mark in marks)
            return _UNGUARDED if unguarded else self._suite_plan
        try:
            limits = limits_for_item(self.settings.limits, *arguments, item.nodeid)
        except MarkerError as error:
            return Plan(error=error)
        return Plan(limits)

    def fixture(self, request: pytest.FixtureRequest) -> MemguardFixture:
        """The value of the ``memguard`` fixture (declared in :mod:`pytest_memguard.markers`)."""
        from pytest_memguard.fixture import MemguardFixture

        guard = self.ensure_guard()
        self._register(_CollectedCheck(guard), _CollectedCheck.NAME)
        # A new list per run: repetitions of a guarded test must not accumulate in it.
        expected: list[Expected] = []
        request.node.stash[EXPECTED_KEY] = expected
        runner = guard.runner
        return MemguardFixture(runner.rss, runner.young, expected, runner.containers)

    def ensure_guard(self) -> Guard:
        """The session's guard, built on first use so an unguarded run pays nothing
        (not even the imports)."""
        if self._guard is None:
            from pytest_memguard.builder import build_guard

            self._guard = build_guard(self.config, self.settings, self.disabled_sentinels)
            self._fit_budget(self._guard)
        return self._guard

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        plan = self._plan(item)
        if plan.error is not None:
            pytest.fail(str(plan.error), pytrace=False)

    def _check_collected(self, item: pytest.Item, reports: list[Any]) -> None:
        failure = _not_collected(item)
        teardown = reports[-1] if reports else None
        if failure and teardown is not None and teardown.when == "teardown" and teardown.passed:
            teardown.outcome = "failed"
            teardown.longrepr = failure

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Run a guarded session's test loop (pytest's, or pytest-xdist's in a worker) in
        a wide data-stack chunk: the plugin's frames below each test then never move
        where its calls cross a chunk's end (:mod:`pytest_memguard.screen.datastack`)."""
        if not self.settings.enabled:
            return None
        from pytest_memguard.screen.datastack import call_on_wide_chunk

        try:
            loop = self._others("pytest_runtestloop")
        except Exception:  # the loop then runs where pytest calls it, as without us
            return None
        call_on_wide_chunk(functools.partial(loop, session=session))
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        plan = self._plan(item)
        if plan.limits is None:
            return None
        guard = self.ensure_guard()
        from pytest_memguard.screen.window import LoggedByOthers, run_unlogged

        owners = self._run_owners
        # Looked up once: each lookup finds the conftests of the item's path again.
        ihook = item.ihook
        if owners is not None:
            logged = LoggedByOthers(owners)
            reports, record = guard.guard(item, nextitem, plan.limits, logged)
        else:
            ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            reports, record = guard.guard(item, nextitem, plan.limits, run_unlogged)
        if self.known is not None:
            record = self.known.apply(record)
        self._check_collected(item, reports)
        self._attach(reports, record)
        if owners is not None:
            logged.replay(item)
            return True
        for report in reports:
            ihook.pytest_runtest_logreport(report=report)
        # The record's: item.nodeid builds its string again on every read (pytest 9).
        ihook.pytest_runtest_logfinish(nodeid=record.nodeid, location=item.location)
        return True

    @functools.cached_property
    def _run_owners(self) -> Callable[..., Any] | None:
        """Other plugins that run an item themselves in ``pytest_runtest_protocol``
        (pytest-rerunfailures and flaky run a failing test again), called as one hook
        without us and without the hook wrappers (they already wrap us); None when
        pytest's runner is the only one. Read at the first guarded test, after the
        conftests are registered.
        """
        impls = self.config.hook.pytest_runtest_protocol.get_hookimpls()
        known = (self, self.config.pluginmanager.get_plugin("runner"), *_wrappers(impls))
        if all(any(impl.plugin is plugin for plugin in known) for impl in impls):
            return None
        return self._others("pytest_runtest_protocol")

    def _others(self, name: str) -> Callable[..., Any]:
        """The hook ``name`` called without us and without its wrappers, which wrap our
        implementation already: for a ``tryfirst`` implementation of ours that runs the
        others itself."""
        impls = getattr(self.config.hook, name).get_hookimpls()
        return self.config.pluginmanager.subset_hook_caller(name, [self, *_wrappers(impls)])

    def _attach(self, reports: list[Any], record: TestRecord) -> None:
        """Put the record on the call report; a memory verdict fails a passed call."""
        # The last call report: a plugin that re-runs failing tests leaves one per attempt.
        last = reports[-1] if reports else None
        target = next((r for r in reversed(reports) if r.when == "call"), last)
        if target is None:
            return
        if record.verdict in ("leak", "over-limit"):
            self._register(_FailureWords(), _FailureWords.NAME)
            from pytest_memguard.report.terminal import failure_text

            text = failure_text(record, self.settings.verbose)
            if self.settings.mode == "fail" and target.passed and target.when == "call":
                target.outcome = "failed"
                target.longrepr = text
                record = updated(record, outcome="failed")
            else:
                target.sections.append(("memguard", text))
        target.memguard = record.to_dict()
        self.records.append(record)
        if self._junit:
            # junitxml writes the properties of the teardown report.
            reports[-1].user_properties.extend(_junit_properties(record))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.settings.enabled:  # every test is guarded: the suite's size is known
            self._suite_tests = len(session.items)
            if self._guard is not None:  # built for the header
                self._fit_budget(self._guard)

    def _fit_budget(self, guard: Guard) -> None:
        """The confirmation allowance of a suite of the size collected."""
        if self._suite_tests is not None:
            from pytest_memguard.confirm.budget import suite_allowance

            guard.budget.allowance = suite_allowance(self._suite_tests)

    def pytest_report_header(self) -> str | None:
        if not self.settings.enabled:
            return None
        from pytest_memguard.report.terminal import header_line
        from pytest_memguard.sentinels.suite import unavailable_sentinels

        runner = self.ensure_guard().runner
        line = header_line(self.settings, runner.young.use_freeze, runner.rss.peak_available)
        missing = unavailable_sentinels()
        if missing:
            line += "; sentinels off: " + ", ".join(f"{k} ({v})" for k, v in missing.items())
        return line

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if _is_worker(self.config):
            return
        settings = self.settings
        if not (settings.reports or settings.save is not None or settings.compare is not None):
            return
        from pytest_memguard.report.outputs import write_outputs

        args = [str(arg) for arg in self.config.invocation_params.args]
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
        self.outputs = write_outputs(
            settings,
            self.records,
            self.config.rootpath,
            args,
            self.baseline,
            interrupted=interrupted,
        )
        if self.outputs.errors or (self.outputs.regressed and session.exitstatus == 0):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.records and self.outputs is None:
            return
        from pytest_memguard.report.terminal import summary_lines, warned_lines

        lines = list(summary_lines(self.records, self.settings.top))
        if self.settings.mode == "warn":
            lines += warned_lines(self.records)
        if self.known is not None:
            from pytest_memguard.history.known import vanished_lines

            lines += vanished_lines(self.known, self.records)
        if self.outputs is not None:
            lines += self.outputs.lines + self.outputs.errors
        if not lines:
            return
        terminalreporter.write_sep("=", "memguard")
        for line in lines:
            terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        self._stop_waiting_for_freezegun()
        if self._guard is not None:
            self._guard.runner.gc_watch.uninstall()
            self._guard.runner.rss.close()
        # No hook runs after this one: what the session kept (the guard's book of
        # holders, the objects it held to see them replaced, every record) goes now,
        # rather than being passed by each of the interpreter's collections at exit.
        self._guard = None
        self.records.clear()  # in place: a controller's helper shares the list
