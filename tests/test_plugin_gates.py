"""The CI gates end to end: options checked before the first test, interrupted runs."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from pytest_memguard.history.store import History

#: In-process runs switch pytest-asyncio off: its unset-loop-scope warning.
IN_PROCESS = ("-p", "no:asyncio")

RAN = """
from pathlib import Path

def test_runs():
    Path("ran").write_text("yes")
"""


@pytest.fixture
def saved(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with a history holding one run named main."""
    pytester.makepyfile(test_app=RAN)
    with History(pytester.path / "h.sqlite") as history:
        history.save_run([], name="main")
    return pytester


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memguard-compare=nope"], "unknown run 'nope'"),
        (["--memguard-compare=missing.json"], "cannot read baseline missing.json"),
        (["--memguard-compare-fail=retained:10%"], "--memguard-compare-fail needs"),
        (["--memguard-report=json:blocker/r.json"], "blocker is not a directory"),
        (["--memguard-report=html:."], "is a directory"),
        (["--memguard-db=corrupt.sqlite", "--memguard-save"], "file is not a database"),
        (["--memguard-db=nowhere.sqlite", "--memguard-compare"], "no history database"),
        (["--memguard-save", "test_app.py"], "--memguard-save took 'test_app.py' as its value"),
        (["--memguard-compare", "test_app.py::test_runs"], "is a test path"),
        (["--memguard-known=latin1.json"], "latin1.json is not UTF-8 text"),
    ],
)
def test_an_unusable_output_or_baseline_is_a_usage_error_before_any_test(
    saved: pytest.Pytester, args: list[str], message: str
) -> None:
    (saved.path / "blocker").write_text("")
    (saved.path / "corrupt.sqlite").write_bytes(b"garbage " * 1000)
    (saved.path / "latin1.json").write_bytes('{"summary": "café"}'.encode("latin-1"))

    result = saved.runpytest(*IN_PROCESS, "--memguard", "--memguard-db=h.sqlite", *args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert not (saved.path / "ran").exists()


def test_a_run_name_after_the_paths_or_with_equals_is_a_name(
    saved: pytest.Pytester, run_pytest
) -> None:
    result = run_pytest("--memguard", "--memguard-db=h.sqlite", "--memguard-save=feature")
    assert result.ret == pytest.ExitCode.OK
    result = run_pytest("test_app.py", "--memguard", "--memguard-db=h.sqlite", "--memguard-save")
    assert result.ret == pytest.ExitCode.OK
    with History(saved.path / "h.sqlite") as history:
        assert [run.name for run in history.list_runs()] == ["main", "feature", None]


INTERRUPTED = """
def test_first():
    pass

def test_interrupted():
    raise KeyboardInterrupt

def test_never_run():
    pass
"""


def test_an_interrupted_run_is_saved_marked_and_never_becomes_latest(
    pytester: pytest.Pytester, run_pytest
) -> None:
    pytester.makepyfile(test_app="def test_first():\n    pass\n")
    run_pytest("--memguard", "--memguard-db=h.sqlite", "--memguard-save=main")
    pytester.makepyfile(test_app=INTERRUPTED)

    result = run_pytest("--memguard", "--memguard-db=h.sqlite", "--memguard-save=main")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*saved run #2 in *h.sqlite (interrupted: addressed by its id only)"]
    )
    with History(pytester.path / "h.sqlite") as history:
        assert [run.interrupted for run in history.list_runs()] == [False, True]
        assert history.get_run("latest").id == history.get_run("main").id == 1
    # Closed here: 3.13 warns about an unclosed connection when it is collected, which
    # may happen during a later test.
    with closing(sqlite3.connect(pytester.path / "h.sqlite")) as connection:
        rows = connection.execute("SELECT nodeid FROM tests").fetchall()
    assert [nodeid for (nodeid,) in rows] == ["test_app.py::test_first"] * 2


def test_p_no_memguard_switches_off_a_project_that_turns_it_on(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        addopts = --memguard --memguard-retained="1 KiB"
        memguard = true
        memguard_known = known.json
        """
    )
    pytester.makeconftest("def pytest_memguard_registries():\n    return []\n")
    pytester.makepyfile(
        test_app="""
        import pytest

        @pytest.mark.memguard(repeat=0)
        def test_marked():
            pass

        def test_fixture(memguard):
            pass
        """
    )

    result = pytester.runpytest(
        *IN_PROCESS,
        "-p",
        "no:memguard",
        "--strict-markers",
        "-W",
        "error::pytest.PytestConfigWarning",
        "-rs",
    )

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*pytest-memguard is disabled (-p no:memguard)*"])


def test_warn_mode_reports_leaks_passes_and_names_those_outside_the_top_n(
    pytester: pytest.Pytester, run_pytest
):
    """Warn mode: every test passes, the session is OK, the summary counts the leaks, and
    each test a verdict would fail is named, also those the top-1 tables leave out."""
    pytester.makepyfile(
        test_app="\n".join(
            f"HELD_{i} = []\n\ndef test_leak_{i}():\n    HELD_{i}.append({{'n': [{i}]}})\n"
            for i in range(3)
        )
        + "\ndef test_clean():\n    assert sum([1, 2, 3]) == 6\n"
    )

    result = run_pytest("--memguard", "--memguard-mode=warn", "--memguard-top=1", "-rA")

    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*4 guarded tests: 3 leak, 1 ok*",
            "3 tests would fail without --memguard-mode=warn:",
            "  leak       test_app.py::test_leak_0",
            "  leak       test_app.py::test_leak_1",
            "  leak       test_app.py::test_leak_2",
        ]
    )
