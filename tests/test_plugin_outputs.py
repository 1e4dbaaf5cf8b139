"""End-to-end outputs: warn mode, junitxml, the JSON report, history compare, xdist, fixture."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from pytest_memguard.config import resolve_settings
from pytest_memguard.report.json import load_schema

LEAK_AND_CLEAN = """
import pytest
HELD = []

def test_leaks():
    HELD.append({"payload": [1, 2, 3]})

def test_clean():
    assert sum([1, 2, 3]) == 6
"""


def _verdicts(path: str) -> dict[str, str]:
    with open(path) as handle:
        document = json.load(handle)
    return {test["nodeid"].split("::")[-1]: test["verdict"] for test in document["tests"]}


def test_junitxml_and_json_report_carry_the_verdicts_and_outcomes(pytester, run_pytest):
    """One run writes both: junitxml's per-test properties, and the JSON report (valid
    against its schema, with verdicts, findings and the outcome memguard gave)."""
    pytester.makepyfile(test_app=LEAK_AND_CLEAN)

    result = run_pytest("--memguard", "--junitxml=out.xml", "--memguard-report=json:mem.json")

    result.assert_outcomes(passed=1, failed=1)
    tree = ET.parse(pytester.path / "out.xml")
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in tree.iter("testcase")
    }
    assert properties["test_leaks"]["memguard_verdict"] == "leak"
    assert properties["test_clean"]["memguard_verdict"] == "ok"
    assert "memguard_gc_pause_ms" in properties["test_clean"]

    document = json.loads((pytester.path / "mem.json").read_text())
    jsonschema.validate(document, load_schema())
    assert _verdicts(str(pytester.path / "mem.json")) == {"test_leaks": "leak", "test_clean": "ok"}
    leak = next(test for test in document["tests"] if test["verdict"] == "leak")
    assert "test_app.HELD" in json.dumps(leak["findings"])
    # the report's outcome is failed when memguard fails the test
    outcomes = {test["nodeid"].split("::")[-1]: test["outcome"] for test in document["tests"]}
    assert outcomes == {"test_leaks": "failed", "test_clean": "passed"}


def test_compare_fail_fails_the_session_on_a_regression(pytester, run_pytest):
    pytester.makepyfile(test_app="def test_grows():\n    data = list(range(10))\n")
    saved = run_pytest("--memguard", "--memguard-save=base", "--memguard-db=h.sqlite")
    saved.stdout.fnmatch_lines(["*saved run #1*"])

    pytester.makepyfile(
        test_app="HELD = []\ndef test_grows():\n    HELD.append([list(range(100))])\n"
    )
    result = run_pytest(
        "--memguard",
        "--memguard-mode=warn",
        "--memguard-db=h.sqlite",
        "--memguard-compare=base",
        "--memguard-compare-fail=retained_objects:0",
    )

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*compared with*base*"])


@pytest.mark.parametrize("workers", ["0", "2"])
def test_xdist_gives_the_same_verdicts(pytester, run_pytest, workers):
    pytester.makepyfile(test_app=LEAK_AND_CLEAN)

    result = run_pytest(
        "--memguard", "-p", "xdist", "-n", workers, "--memguard-report=json:mem.json"
    )

    result.assert_outcomes(passed=1, failed=1)
    verdicts = _verdicts(str(pytester.path / "mem.json"))
    assert verdicts["test_leaks"] == "leak"
    # The first test a worker process runs fills interpreter caches: warm-up, passing.
    assert verdicts["test_clean"] in ("ok", "warmup")


ONE_ROOT = """
HELD = []

def test_first():
    HELD.append({"payload": [1, 2, 3]})

def test_second():
    HELD.append({"payload": [4, 5, 6]})
"""


def test_a_worker_s_leak_from_a_known_root_is_summed_up_as_leaked(pytester, run_pytest):
    """The controller words the summary from the records on the workers' reports: the
    second test of a root fails as "leaked", not under FAILURES."""
    pytester.makepyfile(test_app=ONE_ROOT)

    result = run_pytest("--memguard", "-p", "xdist", "-n", "1")

    assert result.parseoutcomes() == {"failed": 1, "leaked": 1}


def test_fixture_watch_counts_what_a_block_leaves_and_enforces_its_limit(pytester, run_pytest):
    """One run of two modules: blocks leaving tracked and untracked objects (plain dicts,
    strings, added to an old container) are counted, and the limit fails a test."""
    pytester.makepyfile(
        test_blocks="""
        KEEP = []

        def test_clean_block(memguard):
            with memguard.watch(retained_objects=0) as watch:
                temporary = [[i] for i in range(100)]
                del temporary
            assert watch.retained_objects == 0

        def test_leaking_block(memguard):
            with memguard.watch(retained_objects=0):
                KEEP.extend([[i] for i in range(5)])
        """,
        test_fixture="""
        _HOLD = []
        _NAMES = {}

        def test_plain_dict_appended(memguard):
            with memguard.watch() as watch:
                _HOLD.append({"k": 1})  # a dict of plain values: the gc does not track it
            assert (watch.retained_objects, watch.container_growth) == (1, 1)
            assert watch.retained_bytes > 0

        def test_strings_stored(memguard):
            with memguard.watch() as watch:
                for i in range(3):
                    _NAMES[f"user:{i}"] = f"session token {i}" * 3
            assert (watch.retained_objects, watch.container_growth) == (3, 3)

        def test_tracked_entry_counted_once(memguard):
            with memguard.watch() as watch:
                _HOLD.append([1, 2])
            assert (watch.retained_objects, watch.container_growth) == (1, 1)

        def test_limit_enforced(memguard):
            with memguard.watch(retained_objects=0):
                _HOLD.append("x" * 100)
        """,
    )

    result = run_pytest("-rA")

    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["*memguard.watch(): retained_objects 5 over the limit 0*"])
    result.stdout.fnmatch_lines(["*memguard.watch(): retained_objects 1 over the limit 0*str x 1*"])
    result.stdout.fnmatch_lines(
        [
            "PASSED test_blocks.py::test_clean_block",
            "PASSED test_fixture.py::test_plain_dict_appended",
            "PASSED test_fixture.py::test_strings_stored",
            "PASSED test_fixture.py::test_tracked_entry_counted_once",
        ]
    )


ASSERT_COLLECTED = """
KEEP = []

class Connection:
    pass

def test_collected(memguard):
    memguard.assert_collected(Connection())

def test_kept(memguard):
    connection = Connection()
    KEEP.append(connection)
    memguard.assert_collected(connection)

def test_not_weakrefable(memguard):
    memguard.assert_collected([1, 2])
"""


@pytest.mark.parametrize("guarded", [False, True], ids=["plain", "memguard"])
def test_assert_collected_fails_with_the_chain_of_a_survivor(pytester, run_pytest, guarded):
    pytester.makepyfile(test_objects=ASSERT_COLLECTED)

    result = run_pytest("-rA", *(["--memguard"] if guarded else []))

    outcomes = result.parseoutcomes()
    assert outcomes["errors"] == 1  # test_kept, at teardown
    result.stdout.fnmatch_lines(
        [
            "*objects expected to be collected are still alive after teardown*",
            "*Connection object, held by test_objects.KEEP[[]*[]]*",
        ]
    )
    result.stdout.fnmatch_lines(["*a list cannot be weak-referenced*"])
    result.stdout.fnmatch_lines(["PASSED test_objects.py::test_collected"])


SUBTESTS = """
HELD = []

def test_sub_tests(subtests):
    for index in range(3):
        with subtests.test(index=index):
            HELD.append([index])
"""


def test_repetitions_never_log_subtest_reports(pytester, run_pytest):
    """pytest logs a report per subTest during the call itself; a repetition of a
    suspect must not, or the session counts them again (and again)."""
    pytester.makepyfile(test_subtests=SUBTESTS)

    plain = run_pytest("-q", "-p", "no:memguard")
    guarded = run_pytest("-q", "--memguard", "--memguard-mode=warn")

    plain.stdout.fnmatch_lines(["*1 passed, 3 subtests passed*"])
    guarded.stdout.fnmatch_lines(["*1 passed, 3 subtests passed*"])
    guarded.stdout.fnmatch_lines(["*guarded tests: 1 leak*"])


MANY_LEAKS = """
import threading

EVENTS = threading.Event()
CACHES = [[] for _ in range(5)]

def test_leaks_everywhere():
    for cache in CACHES:
        cache.append({"entry": [len(cache)]})
    threading.Thread(target=EVENTS.wait, name=f"waiter-{len(CACHES[0])}", daemon=True).start()

def test_release():
    EVENTS.set()
"""


def _failure_section(stdout: list[str]) -> list[str]:
    """The lines under the failing test's header, up to the next section."""
    start = next(i for i, line in enumerate(stdout) if "_ test_leaks_everywhere _" in line)
    end = next(i for i in range(start + 1, len(stdout)) if stdout[i].startswith("==="))
    return stdout[start + 1 : end]


@pytest.mark.parametrize(
    ("args", "ini", "brief"),
    [((), "", True), ((), "verbosity_memguard = 1", False)],
    ids=["default", "ini-1"],
)
def test_a_failure_shows_the_worst_finding_and_verbose_shows_all(
    pytester, run_pytest, args, ini, brief
):
    """End to end, brief and verbose; which flags and ini values make it verbose (``-v``,
    an ini 0 over ``-v``) is resolve_settings, tested in process below."""
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_app=MANY_LEAKS)

    result = run_pytest("--memguard", *args)

    result.assert_outcomes(failed=1, passed=1)
    section = _failure_section(result.stdout.lines)
    findings = [line for line in section if re.match(r"  [a-z-]+: ", line)]
    if brief:
        assert len(section) <= 15, "\n".join(section)
        assert len(findings) == 1
        assert section[-1].startswith("  ... ")
        assert section[-1].endswith("more findings: -v or verbosity_memguard=1 shows all")
    else:
        assert len(findings) > 1, "\n".join(section)  # the thread and the containers
        # the memory of the leaked thread is counted with the thread's finding, once
        assert sum(line.startswith("  thread: ") for line in section) == 1
        assert not any("shows all" in line for line in section)


@pytest.mark.parametrize(
    ("args", "ini", "verbose"),
    [
        ((), "", False),
        (("-v",), "", True),
        ((), "verbosity_memguard = 1", True),
        (("-v",), "verbosity_memguard = 0", False),
        (("-vv",), "verbosity_memguard = auto", True),
    ],
    ids=["default", "-v", "ini-1", "-v-but-ini-0", "-vv-ini-auto"],
)
def test_verbose_follows_v_unless_the_ini_key_says_otherwise(pytester, args, ini, verbose):
    """In process: the settings the end-to-end runs above render with."""
    pytester.makeini(f"[pytest]\n{ini}\n")
    assert resolve_settings(pytester.parseconfig(*args)).verbose is verbose


def test_a_bad_verbosity_ini_value_is_a_usage_error(pytester):
    """In process: resolve_settings refuses it in pytest_configure, before any guard."""
    pytester.makeini("[pytest]\nverbosity_memguard = loud\n")
    pytester.makepyfile(test_app=LEAK_AND_CLEAN)

    # Without --memguard: the key is checked whether or not the run guards anything, and
    # a regression could never guard tests in this interpreter.
    result = pytester.runpytest("-p", "no:asyncio")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option verbosity_memguard: expected a number or 'auto'*"])
    result.stdout.no_fnmatch_line("*test_leaks*")


def test_the_session_lets_go_of_its_guard_and_records_once_unconfigured(pytester, run_pytest):
    """No hook runs after pytest_unconfigure: what the session kept (the guard with its
    books, the records) is released there, after the reports were written, rather than
    passed by every collection of the interpreter's exit."""
    pytester.makepyfile(LEAK_AND_CLEAN)
    pytester.makeconftest(
        """
import gc
import pytest

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    gc.collect()
    kept = [type(obj).__name__ for obj in gc.get_objects()
            if type(obj).__module__.startswith("pytest_memguard.")
            and type(obj).__name__ in ("Guard", "TestRecord", "HolderBook")]
    print("memguard objects kept:", sorted(set(kept)))
"""
    )
    result = run_pytest("--memguard", "-s", "--memguard-report=json:mem.json")
    assert _verdicts(str(pytester.path / "mem.json")) == {"test_leaks": "leak", "test_clean": "ok"}
    result.stdout.fnmatch_lines(["memguard objects kept: []"])
