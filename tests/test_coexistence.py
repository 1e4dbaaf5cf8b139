"""pytest-memguard next to other plugins and pytest modes (issue #7, point 7).

Each scenario runs in a child pytest (``run_pytest``) with the other plugin loaded: a
clean test keeps a passing verdict, a leak counts once, and the other plugin still does
its job (reruns, event loops, timeouts, random order, ``-x``, ``--lf``, ``--pdb``,
doctests, ``unittest``, class and package fixtures).
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter

import pytest
from conftest import BASE_ARGS, PLUGIN_ARGS, RUN_TIMEOUT, Probe, RunPytest


@pytest.fixture
def run_pytest(pytester: pytest.Pytester) -> RunPytest:
    """The conftest's ``run_pytest`` without its ``LEAN_ARGS``: every installed plugin
    loads in the child, as in a real project that installed them."""

    def run(*args: str, timeout: float = RUN_TIMEOUT) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*BASE_ARGS, *PLUGIN_ARGS, *args, timeout=timeout)

    return run


#: Verdicts a test that leaks nothing may get (the first test of a process warms up).
PASSING = {"ok", "warmup"}


def judgements(probe: Probe) -> Counter[str]:
    """How many logged reports carried a verdict, per node id: 1 for a test judged once."""
    file = probe.path / "probe-verdicts.jsonl"
    lines = file.read_text().splitlines() if file.exists() else []
    return Counter(json.loads(line)["nodeid"] for line in lines)


def assert_unfrozen(probe: Probe) -> None:
    """The session ended with nothing frozen beyond the baseline and the collector on."""
    state = probe.gc_state("sessionfinish")
    assert state["frozen"] <= state["baseline"], state
    assert state["gc_enabled"], state


# --- plugins that run a failing test again -------------------------------------------------

RERUN_SOURCE = """
import itertools
{decorator_import}

ATTEMPTS = itertools.count()
LEAKING_ATTEMPTS = itertools.count()
HELD = []

{decorator}
def test_fails_once_then_passes():
    assert next(ATTEMPTS) >= 1

{decorator}
def test_fails_once_and_leaks():
    HELD.append([1])
    assert next(LEAKING_ATTEMPTS) >= 1
"""

#: Per plugin: the import and decorator of a test it re-runs, the flags, and a line of its
#: own output that shows it ran the first test again.
RERUNNERS = {
    "pytest-rerunfailures": (
        "",
        "",
        ("-p", "no:flaky", "--reruns", "2"),
        "*= 1 failed, 1 passed, 2 rerun in *",
    ),
    "flaky": (
        "from flaky import flaky",
        "@flaky(max_runs=3)",
        ("-p", "no:rerunfailures"),
        "test_fails_once_then_passes passed 1 out of the required 1 times. Success!",
    ),
}


@pytest.mark.parametrize(
    ("decorator_import", "decorator", "args", "rerun_line"),
    RERUNNERS.values(),
    ids=RERUNNERS.keys(),
)
def test_rerun_plugins_rerun_a_failing_attempt_and_memguard_judges_the_last_once(
    pytester: pytest.Pytester,
    run_pytest: RunPytest,
    probe: Probe,
    decorator_import: str,
    decorator: str,
    args: tuple[str, ...],
    rerun_line: str,
) -> None:
    """A guarded test that fails once is run again by the plugin (it used to be shadowed by
    memguard's own protocol); the passing attempt is judged, and a leak counts once."""
    probe.install(pytester)
    pytester.makepyfile(
        test_rerun=RERUN_SOURCE.format(decorator_import=decorator_import, decorator=decorator)
    )

    result = run_pytest("--memguard", "-rA", *args)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([rerun_line])
    verdicts = probe.verdicts()
    assert verdicts["test_rerun.py::test_fails_once_then_passes"] in PASSING
    assert verdicts["test_rerun.py::test_fails_once_and_leaks"] == "leak"
    assert set(judgements(probe).values()) == {1}
    result.stdout.fnmatch_lines(
        [
            "*2 guarded tests: 1 leak, 1 *",
            "PASSED test_rerun.py::test_fails_once_then_passes",
            "LEAK test_rerun.py::test_fails_once_and_leaks - memguard: leak: *",
        ]
    )


# --- per-test event loops ------------------------------------------------------------------

ASYNC_SOURCES = {
    "pytest-asyncio": """
        import asyncio
        import pytest
        import pytest_asyncio

        HELD = []

        @pytest_asyncio.fixture
        async def connection():
            await asyncio.sleep(0)
            yield {"open": True}

        @pytest.mark.asyncio
        async def test_clean(connection):
            await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0))
            assert connection["open"]

        @pytest.mark.asyncio(loop_scope="module")
        async def test_clean_on_a_module_loop():
            await asyncio.create_task(asyncio.sleep(0))

        @pytest.mark.asyncio
        async def test_leaks():
            await asyncio.sleep(0)
            HELD.append([1])
    """,
    "anyio": """
        import anyio
        import pytest

        HELD = []

        @pytest.fixture
        async def connection():
            await anyio.sleep(0)
            yield {"open": True}

        @pytest.mark.anyio
        async def test_clean(connection):
            async with anyio.create_task_group() as group:
                group.start_soon(anyio.sleep, 0)
            assert connection["open"]

        @pytest.mark.anyio
        async def test_leaks():
            await anyio.sleep(0)
            HELD.append([1])
    """,
}


@pytest.mark.parametrize("source", ASYNC_SOURCES.values(), ids=ASYNC_SOURCES.keys())
def test_event_loops_of_async_plugins_are_not_leaks(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe, source: str
) -> None:
    """The loop (and tasks) pytest-asyncio or anyio (on each of its backends) runs a test
    in are theirs, not a task leak of the test; a real leak in an async test is still one,
    named as a list."""
    probe.install(pytester)
    pytester.makepyfile(test_async=source)

    result = run_pytest("--memguard", "-rA")

    verdicts = probe.verdicts()
    leaking = {node for node in verdicts if node.startswith("test_async.py::test_leaks")}
    assert leaking, verdicts
    assert {node: verdicts[node] for node in leaking} == dict.fromkeys(leaking, "leak")
    assert {verdicts[node] for node in set(verdicts) - leaking} <= PASSING, verdicts
    # One root: its first test is listed as failed, the other fails as "leaked".
    result.assert_outcomes(passed=len(verdicts) - len(leaking), failed=1)
    assert result.parseoutcomes().get("leaked", 0) == len(leaking) - 1
    result.stdout.fnmatch_lines(["memguard: leak: confirmed: retained 1 object *"])
    result.stdout.no_fnmatch_line("*asyncio task*")
    result.stdout.no_fnmatch_line("*event loop*")


# --- pytest-timeout ------------------------------------------------------------------------


def test_timeout_still_stops_a_hanging_guarded_test(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe
) -> None:
    """``--timeout`` fails a hanging test inside memguard's window; the window closes, the
    next test is judged as usual and the session ends with the GC unfrozen."""
    probe.install(pytester)
    pytester.makepyfile(
        test_hangs="""
        import time

        HELD = []

        def test_hangs():
            HELD.append([1])
            time.sleep(60)

        def test_leaks():
            HELD.append([2])

        def test_clean():
            pass
        """
    )

    result = run_pytest("--memguard", "-rA", "--timeout=5", timeout=60)

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>5.0s) from pytest-timeout.*"])
    verdicts = probe.verdicts()
    assert verdicts["test_hangs.py::test_leaks"] == "leak"
    assert verdicts["test_hangs.py::test_clean"] in PASSING
    assert_unfrozen(probe)


# --- pytest-randomly -----------------------------------------------------------------------

RANDOM_ORDER = {
    "test_first": """
        import random

        HELD = []

        def test_leaks():
            HELD.append([random.random()])

        def test_clean_a():
            assert 0 <= random.random() < 1

        def test_clean_b():
            pass
    """,
    "test_second": """
        import random

        def test_clean_c():
            assert random.randint(1, 6) in range(1, 7)

        def test_clean_d():
            pass
    """,
}


def test_verdicts_do_not_depend_on_the_order_pytest_randomly_picks(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe
) -> None:
    """The same test leaks and the others pass whatever order (seed) pytest-randomly runs
    them in; the two orders really differ (every other inner run has it off)."""
    probe.install(pytester)
    pytester.makepyfile(**RANDOM_ORDER)
    log = pytester.path / "probe-verdicts.jsonl"
    orders = set()
    for seed in (1, 7):
        log.unlink(missing_ok=True)

        result = run_pytest("--memguard", "-p", "randomly", f"--randomly-seed={seed}")

        result.assert_outcomes(passed=4, failed=1)
        verdicts = probe.verdicts()
        assert verdicts.pop("test_first.py::test_leaks") == "leak"
        assert len(verdicts) == 4 and set(verdicts.values()) <= PASSING, verdicts
        orders.add(tuple(json.loads(line)["nodeid"] for line in log.read_text().splitlines()))
    assert len(orders) > 1


# --- -x, --lf, --pdb -----------------------------------------------------------------------

TWO_LEAKS = """
HELD = []

def test_clean():
    pass

def test_leaks_first():
    HELD.append([1])

def test_leaks_second():
    HELD.append([2])
"""


def test_exitfirst_stops_after_the_first_leak(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe
) -> None:
    """A leak is a failure like any other for ``-x``: the session stops there."""
    probe.install(pytester)
    pytester.makepyfile(test_two=TWO_LEAKS)

    result = run_pytest("--memguard", "-x")

    result.assert_outcomes(passed=1, failed=1)
    assert probe.verdicts()["test_two.py::test_leaks_first"] == "leak"
    assert "test_two.py::test_leaks_second" not in probe.verdicts()
    result.stdout.fnmatch_lines(["2 guarded tests: 1 leak, 1 *", "*stopping after 1 failures*"])


def test_last_failed_reruns_only_the_leaking_tests(pytester: pytest.Pytester, probe: Probe) -> None:
    """The cache provider records a leak as a failure: ``--lf`` runs the leaks again."""
    probe.install(pytester)
    pytester.makepyfile(test_two=TWO_LEAKS)
    # The inner runs' flags without their "-p no:cacheprovider".
    blocked = BASE_ARGS.index("no:cacheprovider")
    with_cache = (*BASE_ARGS[: blocked - 1], *BASE_ARGS[blocked + 1 :], *PLUGIN_ARGS, "--memguard")
    # The second leaks from the first's root: it fails as "leaked", not under FAILURES.
    first = pytester.runpytest_subprocess(*with_cache)
    first.assert_outcomes(passed=1, failed=1)
    assert first.parseoutcomes()["leaked"] == 1
    (pytester.path / "probe-verdicts.jsonl").unlink()

    result = pytester.runpytest_subprocess(*with_cache, "--lf")

    result.assert_outcomes(failed=1)
    assert result.parseoutcomes()["leaked"] == 1
    result.stdout.fnmatch_lines(["run-last-failure: rerun previous 2 failures"])
    assert probe.verdicts() == {
        "test_two.py::test_leaks_first": "leak",
        "test_two.py::test_leaks_second": "leak",
    }


def test_pdb_does_not_hang_on_a_leak(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe
) -> None:
    """A leak raises nothing, so ``--pdb`` has nothing to stop at: the run goes on to a
    real failure, whose debugger session ends on the closed stdin, and nothing is left
    frozen."""
    probe.install(pytester)
    pytester.makepyfile(
        test_debugged="""
        HELD = []

        def test_leaks():
            HELD.append([1])

        def test_fails():
            assert False, "look at me"
        """
    )

    result = run_pytest("--memguard", "--pdb", timeout=30)

    assert probe.verdicts()["test_debugged.py::test_leaks"] == "leak"
    result.stdout.fnmatch_lines(["*>>> PDB post_mortem*", "*look at me*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert_unfrozen(probe)


# --- doctests, unittest, class and package fixtures ----------------------------------------

DOCTESTS = '''
HELD = []


def clean():
    """
    >>> sorted({3, 1, 2})
    [1, 2, 3]
    """


def leaks():
    """
    >>> HELD.append([len(HELD)])
    """
'''


def test_doctests_are_guarded(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe
) -> None:
    """Doctest items go through the window and the confirmation like test functions."""
    probe.install(pytester)
    pytester.makepyfile(shop=DOCTESTS)

    result = run_pytest("--memguard", "--doctest-modules", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    verdicts = probe.verdicts()
    assert verdicts["shop.py::shop.clean"] in PASSING
    assert verdicts["shop.py::shop.leaks"] == "leak"
    result.stdout.fnmatch_lines(["LEAK shop.py::shop.leaks - memguard: leak: *"])


def test_unittest_test_cases_are_guarded(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe
) -> None:
    """``unittest.TestCase`` methods: what ``setUpClass`` builds is the class's, what
    ``setUp`` builds goes with the instance, and a method that leaks is caught."""
    probe.install(pytester)
    pytester.makepyfile(
        test_cases="""
        import unittest

        HELD = []

        class TestAccounts(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                cls.table = {"alice": [1, 2]}
                HELD.append(cls.table)

            def setUp(self):
                self.scratch = [object() for _ in range(10)]

            def test_reads(self):
                self.assertIn("alice", self.table)

            def test_writes_scratch(self):
                self.scratch.append([3])

            def test_leaks(self):
                HELD.append([len(HELD)])
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(passed=2, failed=1)
    verdicts = probe.verdicts()
    assert verdicts.pop("test_cases.py::TestAccounts::test_leaks") == "leak"
    assert len(verdicts) == 2 and set(verdicts.values()) <= PASSING, verdicts


WIDE_FIXTURES = {
    "class": {
        "test_scoped.py": """
            import pytest

            REGISTRY = []

            class TestWithClassFixture:
                @pytest.fixture(scope="class")
                def table(self):
                    value = {"rows": [[1], [2]]}
                    REGISTRY.append(value)
                    yield value

                def test_first_use(self, table):
                    assert table["rows"]

                def test_last_use(self, table):
                    assert table["rows"]
        """,
    },
    "package": {
        "pkg/__init__.py": "",
        "pkg/conftest.py": """
            import pytest

            REGISTRY = []

            @pytest.fixture(scope="package")
            def table():
                value = {"rows": [[1], [2]]}
                REGISTRY.append(value)
                yield value
        """,
        "pkg/test_scoped.py": """
            def test_first_use(table):
                assert table["rows"]

            def test_last_use(table):
                assert table["rows"]
        """,
    },
}


@pytest.mark.parametrize("files", WIDE_FIXTURES.values(), ids=WIDE_FIXTURES.keys())
def test_class_and_package_fixtures_are_not_the_leak_of_their_first_test(
    pytester: pytest.Pytester, run_pytest: RunPytest, probe: Probe, files: dict[str, str]
) -> None:
    """A class- or package-scoped fixture that registers its value once belongs to its
    scope: neither the first nor the last test using it leaks."""
    probe.install(pytester)
    for path, source in files.items():
        target = pytester.path / path
        target.parent.mkdir(exist_ok=True)
        target.write_text(textwrap.dedent(source))

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(passed=2)
    verdicts = probe.verdicts()
    assert len(verdicts) == 2 and set(verdicts.values()) <= PASSING, verdicts
