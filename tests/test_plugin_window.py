"""The guarded window end to end: cleanup on every path, internal errors contained,
repetitions kept out of the reports, and which fixtures a re-run sets up again.

All runs go to a child pytest (``run_pytest``): the window freezes the GC there.
"""

from __future__ import annotations

import pytest

# --- the GC is never left frozen ----------------------------------------------------------

EVERY_PATH = """
import pytest

ITEMS = []

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_fails():
    ITEMS.append([1])
    assert False

def test_fixture_errors(broken):
    pass

def test_skips():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known")
def test_xfails():
    ITEMS.append([2])
    assert False

def test_leaks():
    ITEMS.append([3])

def test_interrupts():
    raise KeyboardInterrupt

def test_never_runs():
    pass
"""


def _assert_unfrozen(state: dict) -> None:
    """Nothing frozen beyond the baseline, the collector on, tracemalloc off."""
    assert state["frozen"] <= state["baseline"], state
    assert state["gc_enabled"], state
    assert not state["tracing"], state


def _assert_released(state: dict) -> None:
    """Unfrozen, and no memguard callback left in ``gc.callbacks`` (after unconfigure)."""
    _assert_unfrozen(state)
    leftovers = [name for name in state["callbacks"] if "memguard" in name]
    assert leftovers == [], state


def test_gc_is_released_after_failures_errors_skips_xfails_and_interrupt(
    pytester, run_pytest, probe
):
    probe.install(pytester)
    pytester.makepyfile(test_paths=EVERY_PATH)

    result = run_pytest("--memguard", "-rA")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*! KeyboardInterrupt !*"])
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 2  # test_fails, and test_leaks as LEAK
    assert outcomes["errors"] == 1
    assert outcomes["skipped"] == 1
    assert outcomes["xfailed"] == 1
    assert "passed" not in outcomes  # test_never_runs did not run
    result.stdout.fnmatch_lines(["LEAK test_paths.py::test_leaks - *"])
    _assert_unfrozen(probe.gc_state("interrupt"))
    _assert_unfrozen(probe.gc_state("sessionfinish"))
    _assert_released(probe.gc_state("unconfigure"))


def test_gc_is_released_when_interrupted_during_a_confirmation_run(pytester, run_pytest, probe):
    """The interrupt comes from a repetition, inside the shared, traced window."""
    probe.install(pytester)
    pytester.makepyfile(
        test_paths="""
        ITEMS = []

        def test_leaks_then_interrupts():
            ITEMS.append([1])
            if len(ITEMS) == 3:
                raise KeyboardInterrupt

        def test_never_runs():
            pass
        """
    )

    result = run_pytest("--memguard")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*! KeyboardInterrupt !*"])
    _assert_unfrozen(probe.gc_state("interrupt"))
    _assert_released(probe.gc_state("unconfigure"))


def test_gc_is_released_after_a_clean_guarded_run(pytester, run_pytest, probe):
    probe.install(pytester)
    pytester.makepyfile(
        test_clean="""
        import pytest

        @pytest.mark.parametrize("case", range(3))
        def test_clean(case):
            pass
        """
    )

    result = run_pytest("--memguard", "--memguard-trace")

    result.assert_outcomes(passed=3)
    _assert_unfrozen(probe.gc_state("sessionfinish"))
    _assert_released(probe.gc_state("unconfigure"))


OPTED_OUT_ONLY = """
import pytest

@pytest.mark.no_memguard
def test_opted_out():
    pass
"""


def test_heap_is_not_left_frozen_when_no_test_is_guarded(pytester, run_pytest, probe):
    """``--memguard`` with every test opted out: no window ever opens. The header is
    shown (no ``-q``): writing it probes whether ``gc.freeze()`` isolates the young heap."""
    probe.install(pytester)
    pytester.makepyfile(test_opted_out=OPTED_OUT_ONLY)

    result = run_pytest("--memguard")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["memguard: Python *"])
    _assert_released(probe.gc_state("unconfigure"))


def test_heap_frozen_by_the_project_is_not_extended_when_no_test_is_guarded(
    pytester, run_pytest, probe
):
    probe.install(pytester, extra="gc.collect()\ngc.freeze()  # like a pre-fork server\n")
    pytester.makepyfile(test_opted_out=OPTED_OUT_ONLY)

    result = run_pytest("--memguard")

    result.assert_outcomes(passed=1)
    state = probe.gc_state("unconfigure")
    assert state["baseline"] > 0, state
    _assert_released(state)


# --- the plugin failing never crashes the run --------------------------------------------

BROKEN_EXPLAIN = """
import pytest_memguard.builder


def _explain_fails(run, settings, ignore, sites_read):
    raise RuntimeError("explain exploded")


pytest_memguard.builder.explain_run = _explain_fails
"""


LEAKY_THEN_CLEAN = """
ITEMS = []

def test_leaks():
    ITEMS.append([1])

def test_after():
    pass
"""

LEAKY_ONE_ERROR = {"test_leaky.py::test_leaks": "error", "test_leaky.py::test_after": "ok"}


def test_plugin_failing_to_explain_gives_verdict_error_and_a_warning(pytester, run_pytest, probe):
    probe.install(pytester, extra=BROKEN_EXPLAIN)
    pytester.makepyfile(test_leaky=LEAKY_THEN_CLEAN)

    result = run_pytest("--memguard", "-rA")

    assert result.ret != pytest.ExitCode.INTERNAL_ERROR
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestWarning: memguard could not judge this test: RuntimeError('explain exploded')*",
            "*2 guarded tests: 1 error, 1 ok",
        ]
    )
    result.stdout.no_fnmatch_line("INTERNALERROR*")
    assert probe.verdicts() == LEAKY_ONE_ERROR
    _assert_released(probe.gc_state("unconfigure"))


def test_plugin_failing_where_warnings_are_errors_still_gives_its_verdict(
    pytester, run_pytest, probe
):
    probe.install(pytester, extra=BROKEN_EXPLAIN)
    pytester.makepyfile(test_leaky=LEAKY_THEN_CLEAN)

    result = run_pytest("--memguard", "-W", "error")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*2 guarded tests: 1 error, 1 ok"])
    result.stdout.no_fnmatch_line("INTERNALERROR*")
    assert probe.verdicts() == LEAKY_ONE_ERROR


def test_module_container_whose_len_raises_does_not_crash_the_run(pytester, run_pytest, probe):
    """The container watch reads ``len()`` of the project's module-level containers: a
    dict subclass whose ``__len__`` raises must not end the session with INTERNALERROR."""
    probe.install(pytester)
    pytester.makepyfile(
        test_lazy="""
        class LazyRegistry(dict):
            loaded = False

            def __len__(self):
                if not self.loaded:
                    raise RuntimeError("registry not loaded yet")
                return super().__len__()

        REGISTRY = LazyRegistry()

        def test_one():
            pass

        def test_two():
            pass
        """
    )

    result = run_pytest("--memguard", "-rA")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("INTERNALERROR*")
    result.assert_outcomes(passed=2)
    assert set(probe.verdicts()) == {"test_lazy.py::test_one", "test_lazy.py::test_two"}
    _assert_released(probe.gc_state("unconfigure"))


# --- repetitions are not tests ------------------------------------------------------------


def test_repetitions_are_not_reported_as_tests(pytester, run_pytest):
    pytester.makepyfile(test_leaky=LEAKY_THEN_CLEAN)

    result = run_pytest("--memguard", "-v", "-p", "junitxml", "--junitxml=report.xml")

    result.assert_outcomes(failed=1, passed=1)
    progress = [line for line in result.outlines if line.startswith("test_leaky.py::")]
    assert len(progress) == 2, progress
    assert progress[0].startswith("test_leaky.py::test_leaks LEAK")
    assert progress[1].startswith("test_leaky.py::test_after PASSED")
    failures = [line for line in result.outlines if line.strip("_ ") == "test_leaks"]
    assert len(failures) == 1, failures
    xml = (pytester.path / "report.xml").read_text()
    assert xml.count("<testcase ") == 2
    assert xml.count('name="test_leaks"') == 1
    assert 'tests="2"' in xml


# --- which fixtures a re-run sets up again -----------------------------------------------

SCOPED_FIXTURES = """
import pytest

LOG = {log!r}


def note(event):
    with open(LOG, "a") as out:
        out.write(event + "\\n")


@pytest.fixture(scope="session")
def session_value():
    note("session-setup")
    yield [1]
    note("session-teardown")


@pytest.fixture(scope="module")
def module_value(request):
    name = request.module.__name__
    note("module-setup " + name)
    yield [2]
    note("module-teardown " + name)


@pytest.fixture
def function_value(request):
    note("function-setup " + request.node.name)
    yield [3]
"""


def test_fixture_scopes_during_confirmation(pytester, run_pytest, read_lines):
    """Function fixtures are set up again for every repetition; module and session
    fixtures are not, even for the last test of a module (docs/architecture.md, "Facts":
    repetitions tear down to the item's parent)."""
    log = pytester.path / "fixtures.txt"
    pytester.makeconftest(SCOPED_FIXTURES.format(log=str(log)))
    pytester.makepyfile(
        test_a="""
        ITEMS = []

        def test_first(session_value, module_value):
            pass

        def test_leaks(session_value, module_value, function_value):
            ITEMS.append([1])

        def test_after(session_value, module_value):
            pass
        """,
        test_b="""
        ITEMS = []

        def test_leaks_last_in_module(session_value, module_value, function_value):
            ITEMS.append([1])
        """,
        test_c="""
        def test_follows(session_value):
            pass
        """,
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(failed=2, passed=3)
    result.stdout.fnmatch_lines(
        [
            "LEAK test_a.py::test_leaks - *",
            "LEAK test_b.py::test_leaks_last_in_module - *",
        ]
    )
    events = read_lines(log)
    assert events.count("session-setup") == 1, events
    assert events.count("session-teardown") == 1, events
    assert events[-1] == "session-teardown", events
    # The screened run and at least the 3 repetitions each get a fresh function fixture.
    assert events.count("function-setup test_leaks") >= 4, events
    assert events.count("function-setup test_leaks_last_in_module") >= 4, events
    # test_after follows in test_a: its module fixture lives through the repetitions.
    assert events.count("module-setup test_a") == 1, events
    # test_b's test is last in its module: the screened run tears the module down (it
    # cannot know it will be re-run); the repetitions must not set it up each time.
    assert events.count("module-setup test_b") <= 2, events
    for module in ("test_a", "test_b"):
        setups = events.count("module-setup " + module)
        assert events.count("module-teardown " + module) == setups, events


def test_session_fixture_is_not_set_up_per_repetition_of_the_last_test(
    pytester, run_pytest, read_lines
):
    """The session's last test has no next item; its repetitions still keep the session
    fixtures alive, and the session is torn down once at the end."""
    log = pytester.path / "fixtures.txt"
    pytester.makeconftest(SCOPED_FIXTURES.format(log=str(log)))
    pytester.makepyfile(
        test_last="""
        ITEMS = []

        def test_leaks(session_value, function_value):
            ITEMS.append([1])
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["LEAK test_last.py::test_leaks - *"])
    events = read_lines(log)
    assert events.count("function-setup test_leaks") >= 4, events
    assert events.count("session-setup") <= 2, events
    assert events.count("session-teardown") == events.count("session-setup"), events
    assert events[-1] == "session-teardown", events


# --- a guarded session's test loop runs in a wide data-stack chunk ------------------------


_ON_WIDE_CHUNK = """
        import sys

        from pytest_memguard.screen.datastack import call_on_wide_chunk

        RUNS = []

        def on_wide_chunk():
            frame = sys._getframe()
            while frame is not None and frame.f_code is not call_on_wide_chunk.__code__:
                frame = frame.f_back
            return frame is not None
"""


def test_a_guarded_sessions_tests_run_above_the_frame_opening_a_wide_chunk(pytester, run_pytest):
    """With --memguard every run of every test, a suspect's repetitions too, calls the
    test from above the frame that opens the session's wide data-stack chunk: the
    plugin's frames never move where the test's calls cross a chunk's end."""
    pytester.makepyfile(
        test_stack=_ON_WIDE_CHUNK
        + """
        def test_first():
            assert on_wide_chunk()

        def test_leaks():
            RUNS.append([on_wide_chunk()])

        def test_ran_on_the_wide_chunk_every_time():
            assert len(RUNS) > 1, RUNS
            assert all(run == [True] for run in RUNS), RUNS
        """
    )

    result = run_pytest("--memguard", "-p", "no:randomly", "-rA")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["LEAK test_stack.py::test_leaks - *"])


def test_the_loop_runs_where_pytest_calls_it_when_it_cannot_be_moved(pytester, run_pytest):
    """Where the loop's other implementations cannot be called on their own (pluggy
    refusing a subset caller), pytest runs its loop as it would without the plugin."""
    pytester.makeconftest(
        """
        def pytest_configure(config):
            subset = config.pluginmanager.subset_hook_caller

            def refuse(name, remove_plugins):
                if name == "pytest_runtestloop":
                    raise RuntimeError("no subset caller of the loop")
                return subset(name, remove_plugins)

            config.pluginmanager.subset_hook_caller = refuse
        """
    )
    pytester.makepyfile(
        test_stack=_ON_WIDE_CHUNK
        + """
        def test_guarded_where_pytest_runs_it():
            assert not on_wide_chunk()
        """
    )

    result = run_pytest("--memguard", "-p", "no:randomly")

    result.assert_outcomes(passed=1)


def test_a_session_guarding_only_marked_tests_keeps_pytests_own_loop(pytester, run_pytest):
    """Without --memguard the plugin leaves pytest's test loop where it is, even for a
    test guarded by its marker: a run that does not guard the suite changes nothing."""
    pytester.makepyfile(
        test_stack=_ON_WIDE_CHUNK
        + """
        import pytest

        @pytest.mark.memguard
        def test_marked():
            assert not on_wide_chunk()

        def test_plain():
            assert not on_wide_chunk()
        """
    )

    result = run_pytest("-p", "no:randomly")

    result.assert_outcomes(passed=2)
