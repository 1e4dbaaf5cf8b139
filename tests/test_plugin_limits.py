"""Limits end to end: each passes under and fails over; bad values; precedence; opting out.

Runs that guard tests go to a child pytest (``run_pytest``): the plugin freezes the GC.
"""

from __future__ import annotations

import pytest

#: In-process runs switch pytest-asyncio off: its unset-loop-scope warning.
IN_PROCESS = ("-p", "no:asyncio")

# --- each limit, under and over ---------------------------------------------------------


def test_peak_over_the_limit_fails_over_limit_and_under_it_passes(pytester, run_pytest):
    """One run: a test over its peak limit, one under it, and a parametrize case that
    carries its own budget (a marker on one ``pytest.param``, pytest-memray #156)."""
    pytester.makepyfile(
        test_peak="""
        import pytest

        @pytest.mark.memguard(peak="1 KiB")
        def test_big_buffer():
            buffer = bytearray(10 * 1024 * 1024)
            del buffer

        @pytest.mark.memguard(peak="100 MiB")
        def test_big_buffer_under_its_limit():
            buffer = bytearray(10 * 1024 * 1024)
            del buffer
        """,
        test_cases="""
        import pytest

        @pytest.mark.parametrize(
            "size",
            [
                pytest.param(1024, id="small"),
                pytest.param(10 * 1024 * 1024, id="huge", marks=pytest.mark.memguard(peak="1 MiB")),
            ],
        )
        @pytest.mark.memguard(peak="100 MiB")
        def test_buffer(size):
            buffer = bytearray(size)
            del buffer
        """,
    )

    result = run_pytest("-rA")

    result.assert_outcomes(passed=2, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "memguard: over-limit: peak 1?.? MiB over the limit 1.0 KiB*",
            "PASSED test_cases.py::test_buffer[[]small[]]",
            "PASSED test_peak.py::test_big_buffer_under_its_limit",
            "OVER-LIMIT test_cases.py::test_buffer[[]huge[]] - memguard: over-limit: peak *",
            "OVER-LIMIT test_peak.py::test_big_buffer - memguard: over-limit: *",
        ]
    )
    result.stdout.no_fnmatch_line("*over the limit 100.0 MiB*")
    result.stdout.no_fnmatch_line("*test_big_buffer_under_its_limit - *")
    result.stdout.no_fnmatch_line("*test_buffer[[]small[]] - *")


def test_gc_collections_counts_the_tests_own_collections(pytester, run_pytest):
    """The plugin's own collections (it collects after every run) are not counted;
    an explicit ``gc.collect()`` in the test is."""
    pytester.makepyfile(
        test_gc="""
        import gc
        import pytest

        @pytest.mark.memguard(gc_collections=0)
        def test_collects_three_times():
            for _ in range(3):
                gc.collect()

        @pytest.mark.memguard(gc_collections=0)
        def test_never_collects():
            assert [1, 2] == [1, 2]

        @pytest.mark.memguard(gc_collections=5)
        def test_collects_under_the_limit():
            for _ in range(3):
                gc.collect()
        """
    )

    result = run_pytest("-rA")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "memguard: over-limit: [3-9] GC collections, over the limit 0*",
            "PASSED test_gc.py::test_never_collects",
            "PASSED test_gc.py::test_collects_under_the_limit",
            "OVER-LIMIT test_gc.py::test_collects_three_times - *",
        ]
    )


def test_rss_growth_over_the_limit_fails_over_limit(pytester, run_pytest):
    """A 50 MB buffer kept as the module's "last value": RSS grows, nothing leaks."""
    pytester.makepyfile(
        test_rss="""
        import pytest

        LAST = None

        @pytest.mark.memguard(rss_growth="10 MiB")
        def test_keeps_a_buffer():
            global LAST
            LAST = bytearray(50 * 1024 * 1024)

        @pytest.mark.memguard(rss_growth="10 MiB")
        def test_frees_its_buffer():
            buffer = bytearray(50 * 1024 * 1024)
            del buffer
        """
    )

    result = run_pytest("-rA")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "memguard: over-limit: RSS grew *MiB, over the limit 10.0 MiB*",
            "PASSED test_rss.py::test_frees_its_buffer",
            "OVER-LIMIT test_rss.py::test_keeps_a_buffer - *",
        ]
    )


def test_retained_buffer_over_rss_growth_is_a_leak_that_mentions_rss(pytester, run_pytest):
    pytester.makepyfile(
        test_rss="""
        import pytest

        HELD = []

        @pytest.mark.memguard(rss_growth="10 MiB")
        def test_holds_a_buffer():
            HELD.append(bytearray(50 * 1024 * 1024))
        """
    )

    result = run_pytest("-rA")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["memguard: leak: confirmed: *"])
    result.stdout.fnmatch_lines(["*RSS grew *MiB, over the limit 10.0 MiB*"])


def test_retained_objects_limit_lets_a_small_untracked_leak_pass(pytester, run_pytest):
    pytester.makepyfile(
        test_small="""
        import pytest

        NAMES = []

        @pytest.mark.memguard(retained_objects=1000)
        def test_small_leak():
            NAMES.append("name-%d" % len(NAMES))

        def test_same_leak_unmarked():
            NAMES.append("name-%d" % len(NAMES))
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "PASSED test_small.py::test_small_leak",
            "LEAK test_small.py::test_same_leak_unmarked - *",
        ]
    )


def test_retained_limits_let_a_small_object_leak_pass(pytester, run_pytest):
    """Both limits together, and ``retained_objects`` alone: each lets a small leak pass."""
    pytester.makepyfile(
        test_both="""
        import pytest

        ITEMS = []

        @pytest.mark.memguard(retained_objects=1000, retained="1 MiB")
        def test_small_leak():
            ITEMS.append([len(ITEMS)])
        """,
        test_objects_alone="""
        import pytest

        ITEMS = []

        @pytest.mark.memguard(retained_objects=1000)
        def test_small_leak():
            ITEMS.append([len(ITEMS)])
        """,
    )

    result = run_pytest("-rA")

    result.stdout.no_fnmatch_line("LEAK *")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["PASSED test_both.py::test_small_leak", "PASSED test_objects_alone.py::test_small_leak"]
    )


# --- bad values -----------------------------------------------------------------------

BAD_MARKERS = {
    "bad-value": ('@pytest.mark.memguard(peak="lots")', "*peak='lots'*"),
    "unknown-key": ("@pytest.mark.memguard(retain=1)", "*retain=1: unknown limit*"),
    "positional-argument": (
        '@pytest.mark.memguard("1 KiB")',
        "*positional arguments are not accepted*",
    ),
}


def test_bad_marker_is_one_error_naming_the_test_and_the_key(pytester, run_pytest):
    """One run, one test per kind of bad marker: each is one error of its own test."""
    bad_tests = "\n".join(
        f"{marker}\ndef test_bad_{name.replace('-', '_')}():\n    pass\n"
        for name, (marker, _) in BAD_MARKERS.items()
    )
    pytester.makepyfile(
        test_marked=f"import pytest\n\ndef test_before():\n    pass\n\n{bad_tests}\n"
        "def test_after():\n    pass\n"
    )

    result = run_pytest("-rA")

    result.assert_outcomes(passed=2, errors=len(BAD_MARKERS))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    summary = [line for line in result.outlines if line.startswith("ERROR test_marked.py")]
    assert len(summary) == len(BAD_MARKERS), summary
    for name, (_, message) in BAD_MARKERS.items():
        test = f"test_bad_{name.replace('-', '_')}"
        result.stdout.fnmatch_lines(
            [f"*ERROR at setup of {test}*", f"memguard marker on test_marked.py::{test}: {message}"]
        )
        assert sum(line.startswith(f"ERROR test_marked.py::{test} - ") for line in summary) == 1


def test_bad_marker_value_under_memguard_is_one_error(pytester, run_pytest):
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.memguard(peak="lots")
        def test_bad():
            pass

        def test_after():
            pass
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["memguard marker on test_marked.py::test_bad: argument peak=*"])


def test_bad_cli_value_is_a_usage_error_before_any_test_runs(pytester, read_lines):
    """In process: the value is refused while pytest parses the command line, so nothing
    is guarded (nothing freezes the GC of this interpreter)."""
    ran = pytester.path / "ran.txt"
    pytester.makepyfile(
        test_any=f"""
        def test_records_that_it_ran():
            with open({str(ran)!r}, "a") as out:
                out.write("ran\\n")
        """
    )

    result = pytester.runpytest("--memguard-peak=lots", *IN_PROCESS)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memguard-peak*lots*"])
    assert read_lines(ran) == []


def test_bad_ini_value_is_a_usage_error_naming_the_key(pytester, read_lines):
    """In process: plugin.py resolves the settings in pytest_configure, before any test."""
    ran = pytester.path / "ran.txt"
    pytester.makeini("[pytest]\nmemguard_peak = lots\n")
    pytester.makepyfile(
        test_any=f"""
        def test_records_that_it_ran():
            with open({str(ran)!r}, "a") as out:
                out.write("ran\\n")
        """
    )

    result = pytester.runpytest(*IN_PROCESS)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*memguard_peak*lots*"])
    assert read_lines(ran) == []


# --- markers, precedence and opting out ---------------------------------------------------


def test_strict_markers_accepts_both_markers(pytester, run_pytest):
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.memguard(peak="100 MiB")
        def test_guarded():
            pass

        @pytest.mark.no_memguard
        def test_opted_out():
            pass
        """
    )

    result = run_pytest("--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning")

    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


PRECEDENCE_TESTS = """
import pytest

# Two roots: a test growing a root already confirmed is reported without a re-run.
UNMARKED_ITEMS = []
MARKED_ITEMS = []

def test_unmarked():
    UNMARKED_ITEMS.append([1])

@pytest.mark.memguard(repeat=5)
def test_marked():
    MARKED_ITEMS.append([1])
"""


def _repetitions(result: pytest.RunResult) -> dict[str, int]:
    """How many runs confirmed each leak, from ``on each of N runs`` in the failures."""
    found: dict[str, int] = {}
    current = None
    for line in result.outlines:
        stripped = line.strip("_ ")
        if line.startswith("_") and stripped.startswith("test_"):
            current = stripped
        elif current and line.startswith("memguard: leak:") and "on each of " in line:
            found[current] = int(line.split("on each of ", 1)[1].split()[0])
    return found


def test_repeat_precedence_marker_over_cli_over_ini(pytester, run_pytest):
    """End to end, the repetitions a leak is confirmed by follow the settings: the marker's
    5 over the CLI's 4 over the ini's 2. The other layers (the ini alone, the default of
    3) are resolved by config.resolve_settings, tested in process in test_config.py
    (test_repeat_precedence, test_defaults)."""
    pytester.makeini("[pytest]\nmemguard_repeat = 2\n")
    pytester.makepyfile(test_precedence=PRECEDENCE_TESTS)

    result = run_pytest("--memguard", "--memguard-repeat=4")

    result.assert_outcomes(failed=2)
    assert _repetitions(result) == {"test_unmarked": 4, "test_marked": 5}


LEAKING_PAIR = """
import pytest

ITEMS = []

def test_leaks():
    ITEMS.append([1])

@pytest.mark.no_memguard
def test_leaks_but_opted_out():
    ITEMS.append([1])
"""


def test_no_memguard_opts_a_leaking_test_out(pytester, run_pytest):
    pytester.makepyfile(test_pair=LEAKING_PAIR)

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 guarded tests: 1 leak",
            "PASSED test_pair.py::test_leaks_but_opted_out",
            "LEAK test_pair.py::test_leaks - *",
        ]
    )


def test_without_memguard_or_markers_nothing_is_guarded_nor_loaded(pytester, run_pytest):
    """Installed but unused, the plugin guards nothing and imports its options and nothing
    else: no heap model, sentinels, explain or history (docs/architecture.md, "What it
    may cost")."""
    pytester.makeconftest(
        """
        import sys
        from pathlib import Path

        def pytest_sessionfinish(session):
            loaded = [name for name in sys.modules if name.startswith("pytest_memguard.")]
            Path(__file__).with_name("loaded.txt").write_text("\\n".join(loaded))
        """
    )
    pytester.makepyfile(test_pair=LEAKING_PAIR)

    result = run_pytest("-rA")

    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*= memguard =*")
    result.stdout.no_fnmatch_line("*guarded tests*")
    result.stdout.no_fnmatch_line("memguard: *")
    loaded = set((pytester.path / "loaded.txt").read_text().split())
    heavy = {"builder", "guard", "window", "heap", "explain", "history", "sentinels.suite"}
    assert not loaded & {f"pytest_memguard.{name}" for name in heavy}, loaded
    assert "pytest_memguard.config" in loaded


def test_disabled_plugin_guards_nothing_and_keeps_its_markers_registered(pytester, run_pytest):
    """``-p no:memguard`` turns the guard off; the markers live in a plugin of their own
    (``memguard_markers``), so ``--strict-markers`` still knows them (no unknown-mark
    warning or error) and a marked leaking test simply passes."""
    pytester.makepyfile(
        test_marked="""
        import pytest
        HELD = []

        @pytest.mark.memguard(peak="100 MiB")
        def test_guarded_but_leaking():
            HELD.append([1])

        @pytest.mark.memguard(repeat=2)
        def test_leaks():
            HELD.append([1])

        @pytest.mark.no_memguard
        def test_opted_out():
            pass
        """
    )

    result = run_pytest("-p", "no:memguard", "--strict-markers", "-rA")

    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*memguard ===*")
    result.stdout.no_fnmatch_line("*PytestUnknownMarkWarning*")
