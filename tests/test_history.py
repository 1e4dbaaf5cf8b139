"""The SQLite history, baseline files, and the comparison of two runs."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_memguard.compare import Check, compare_runs, parse_checks, render_comparison
from pytest_memguard.history import (
    SCHEMA_VERSION,
    History,
    HistoryError,
    UnknownRunError,
    load_baseline,
)
from pytest_memguard.record import TestRecord

META = {"commit": "abc123", "branch": "main"}


def record(nodeid: str, verdict: str = "ok", **delta: Any) -> TestRecord:
    return TestRecord(nodeid=nodeid, outcome="passed", verdict=verdict, delta=delta)


def suite(retained: int = 100) -> list[TestRecord]:
    return [
        record("t.py::test_a", retained_bytes=retained, traced_peak=None, rss_peak=4096),
        record("t.py::test_b", "leak", retained_bytes=2 * retained, gc_collections=[2, 1, 1]),
    ]


def sqlite_query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History(tmp_path / "deep" / "history.sqlite") as opened:
        yield opened


def test_save_list_and_get(history: History) -> None:
    first = history.save_run(suite(), name="main", args=["-x", "tests"], meta=META)
    second = history.save_run(suite(200), meta=META)
    third = history.save_run(suite(300), name="main", meta=META)

    runs = history.list_runs()
    assert [run.id for run in runs] == [first, second, third]
    assert [run.name for run in runs] == ["main", None, "main"]
    assert runs[0].args == ("-x", "tests")
    assert (runs[0].commit, runs[0].branch) == ("abc123", "main")
    assert runs[0].python.startswith(("CPython", "PyPy"))
    assert (runs[0].tests, runs[0].failed) == (2, 1)

    assert history.get_run("latest").id == third
    assert history.get_run("main").id == third  # the latest run with that name
    assert history.get_run(first).id == first
    assert history.get_run(str(second)).id == second
    records = history.run_records(first)
    assert records == suite()
    assert history.load("main")[1] == suite(300)


def test_figures_are_columns(history: History) -> None:
    run = history.save_run(suite(), meta=META)
    rows = sqlite_query(
        history.path,
        "SELECT nodeid, retained_bytes, peak, gc_collections FROM tests ORDER BY nodeid",
    )
    # peak falls back to the RSS peak without tracing; collections are summed.
    assert rows == [("t.py::test_a", 100, 4096, None), ("t.py::test_b", 200, None, 4)]
    assert sqlite_query(history.path, "PRAGMA journal_mode") == [("wal",)]
    assert sqlite_query(history.path, "SELECT schema_version FROM meta") == [(SCHEMA_VERSION,)]
    assert history.get_run(run).tests == 2


def test_unknown_runs(history: History, tmp_path: Path) -> None:
    with pytest.raises(UnknownRunError, match="no runs saved"):
        history.get_run("latest")
    history.save_run(suite(), name="main", meta=META)
    for ref in ("nope", "42", 42):
        with pytest.raises(UnknownRunError, match="unknown run"):
            history.get_run(ref)
    with pytest.raises(HistoryError, match="cannot read baseline"):
        history.get_run(str(tmp_path / "missing.json"))
    with pytest.raises(UnknownRunError):
        history.run_records(42)


@pytest.mark.parametrize("name", ["", " ", "latest", "12", "base.json"])
def test_reserved_names(history: History, name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        history.save_run(suite(), name=name, meta=META)


def test_unknown_meta(history: History) -> None:
    with pytest.raises(ValueError, match="unknown run metadata"):
        history.save_run(suite(), meta={"colour": "blue"})


def test_prune(history: History) -> None:
    ids = [history.save_run(suite(n), meta=META) for n in range(5)]
    assert history.prune(2) == 3
    assert [run.id for run in history.list_runs()] == ids[-2:]
    assert sqlite_query(history.path, "SELECT DISTINCT run_id FROM tests ORDER BY run_id") == [
        (ids[3],),
        (ids[4],),
    ]
    assert history.prune(5) == 0
    assert history.prune(0) == 2
    assert history.list_runs() == []
    with pytest.raises(ValueError, match="keep"):
        history.prune(-1)


def test_export_and_load_baseline(history: History, tmp_path: Path) -> None:
    run_id = history.save_run(suite(), name="main", args=["-q"], meta=META)
    baseline = tmp_path / "baselines" / "memguard.json"
    exported = history.export_json("main", baseline)
    assert exported.id == run_id

    document = json.loads(baseline.read_text(encoding="utf-8"))
    assert document["schema"] == 1
    assert document["header"]["run"]["commit"] == "abc123"

    run, records = load_baseline(baseline)
    assert records == suite()
    assert (run.id, run.name, run.commit, run.args, run.path) == (
        None,
        "main",
        "abc123",
        ("-q",),
        str(baseline),
    )
    assert run.created == exported.created
    # A .json reference needs no database at all.
    assert History(tmp_path / "none.sqlite", create=False).get_run(str(baseline)) == run
    assert history.run_records(history.get_run(str(baseline))) == suite()


def test_git_commit_and_branch(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    for command in (
        ["init", "-q", "-b", "trunk"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run([git, *command], cwd=repo, check=True, capture_output=True)
    head = subprocess.run(
        [git, "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    run = history.get_run(history.save_run(suite()))
    assert (run.commit, run.branch) == (head, "trunk")

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no git at all
    run = history.get_run(history.save_run(suite()))
    assert (run.commit, run.branch) == (None, None)


def test_database_errors(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no history database"):
        History(tmp_path / "missing.sqlite", create=False).list_runs()
    assert not (tmp_path / "missing.sqlite").exists()

    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database, " * 200)
    with pytest.raises(HistoryError, match=r"corrupt\.sqlite: file is not a database"):
        History(corrupt).list_runs()

    other = tmp_path / "other.sqlite"
    sqlite_query(other, "CREATE TABLE notes (text TEXT)")
    with pytest.raises(HistoryError, match="not a pytest-memguard history database"):
        History(other, create=False).list_runs()

    newer = tmp_path / "newer.sqlite"
    with History(newer) as history:
        history.save_run(suite(), meta=META)
    db = sqlite3.connect(newer)
    with db:
        db.execute("UPDATE meta SET schema_version = 99")
    db.close()
    with pytest.raises(HistoryError, match="schema version 99"):
        History(newer).list_runs()


def test_migrates_version_0(tmp_path: Path) -> None:
    """A pre-release database: no meta table, runs and tests lacking columns."""
    path = tmp_path / "v0.sqlite"
    old = record("t.py::test_a", "leak", retained_bytes=512, traced_peak=2048, duration=0.5)
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, created TEXT);
        CREATE TABLE tests (run_id INTEGER, nodeid TEXT, outcome TEXT, verdict TEXT,
                            retained_bytes INTEGER, record_json TEXT);
        INSERT INTO runs (name, created) VALUES ('old', '2025-01-01T00:00:00+00:00');
        """
    )
    with db:
        db.execute(
            "INSERT INTO tests VALUES (1, 't.py::test_a', 'passed', 'leak', 512, ?)",
            (json.dumps(old.to_dict()),),
        )
    db.close()

    with History(path, create=False) as history:
        (run,) = history.list_runs()
        assert (run.name, run.python, run.args, run.tests, run.failed) == ("old", "", (), 1, 1)
        assert history.run_records(run) == [old]
        new_id = history.save_run([old], name="new", meta=META)
        assert history.get_run("new").id == new_id

    assert sqlite_query(path, "SELECT schema_version FROM meta") == [(SCHEMA_VERSION,)]
    assert sqlite_query(path, "SELECT peak, duration FROM tests WHERE run_id = 1") == [(2048, 0.5)]
    assert sqlite_query(path, "PRAGMA integrity_check") == [("ok",)]


SAVER = """
import sys, time
from pathlib import Path
from pytest_memguard.history import History
from pytest_memguard.record import TestRecord

path, tag = sys.argv[1], sys.argv[2]
records = [
    TestRecord(f"t.py::test_{i}", "passed", delta={"retained_bytes": i}) for i in range(300)
]
print("ready", flush=True)
while not Path("go").exists():  # start both writers together, on a database not yet created
    time.sleep(0.001)
with History(path) as history:
    for run in range(10):
        history.save_run(records, name=f"{tag}-{run}", meta={"commit": tag, "branch": tag})
"""


def test_concurrent_saves(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path), tag],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("one", "two")
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "ready\n"
    (tmp_path / "go").touch()
    for worker in workers:
        assert worker.wait(timeout=60) == 0
        assert worker.stdout is not None
        worker.stdout.close()

    assert sqlite_query(path, "PRAGMA integrity_check") == [("ok",)]
    with History(path, create=False) as history:
        runs = history.list_runs()
        assert sorted(run.name or "" for run in runs) == sorted(
            f"{tag}-{n}" for tag in ("one", "two") for n in range(10)
        )
        assert {run.tests for run in runs} == {300}


KILLED = """
import sys, time
from pytest_memguard.history import History
from pytest_memguard.record import TestRecord

def records(n):
    return [TestRecord(f"t.py::test_{i}", "passed", delta={"retained_bytes": i}) for i in range(n)]

class Slow(list):
    def __iter__(self):
        for i, item in enumerate(list.__iter__(self)):
            if i == 2000:
                print("mid-save", flush=True)
            if i >= 2000:
                time.sleep(0.001)
            yield item

history = History(sys.argv[1])
history.save_run(records(100), name="first", meta={"commit": "1", "branch": "b"})
history.save_run(records(100), name="second", meta={"commit": "2", "branch": "b"})
history.save_run(Slow(records(50_000)), name="killed", meta={"commit": "3", "branch": "b"})
print("finished", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_mid_save(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    with child.stdout:
        assert child.stdout.readline() == "mid-save\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL

    assert sqlite_query(path, "PRAGMA integrity_check") == [("ok",)]
    with History(path, create=False) as history:
        assert [run.name for run in history.list_runs()] == ["first", "second"]
        assert [len(history.run_records(run)) for run in history.list_runs()] == [100, 100]
        # The half-saved run left no rows behind, and the database takes new runs.
        assert sqlite_query(path, "SELECT count(*) FROM tests") == [(200,)]
        history.save_run(suite(), name="after", meta=META)
        assert history.get_run("latest").name == "after"


# -- comparison -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("retained:10%", [Check("retained", 0.1, True, "retained:10%")]),
        ("peak:5MiB", [Check("peak", 5 * 1024**2, False, "peak:5MiB")]),
        ("gc_pause:20ms", [Check("gc_pause", 0.02, False, "gc_pause:20ms")]),
        ("retained_objects:100", [Check("retained_objects", 100, False, "retained_objects:100")]),
        (
            " retained:1 KB , duration:1.5s,gc_collections:3 ",
            [
                Check("retained", 1000, False, "retained:1 KB"),
                Check("duration", 1.5, False, "duration:1.5s"),
                Check("gc_collections", 3, False, "gc_collections:3"),
            ],
        ),
        ("rss_growth:2.5%", [Check("rss_growth", 0.025, True, "rss_growth:2.5%")]),
    ],
)
def test_parse_checks(expression: str, expected: list[Check]) -> None:
    checks = parse_checks(expression)
    assert [(c.field, c.percent, c.text) for c in checks] == [
        (c.field, c.percent, c.text) for c in expected
    ]
    assert [c.threshold for c in checks] == pytest.approx([c.threshold for c in expected])


@pytest.mark.parametrize(
    ("expression", "bad_part"),
    [
        ("", "''"),
        ("retained", "'retained'"),
        ("retained:", "'retained:'"),
        ("mean:5%", "'mean:5%'"),
        ("retained:10%,bogus:1", "'bogus:1'"),
        ("peak:5 parsecs", "'peak:5 parsecs'"),
        ("gc_pause:20 MiB", "'gc_pause:20 MiB'"),
        ("retained_objects:1.5", "'retained_objects:1.5'"),
        ("retained:-10%", "'retained:-10%'"),
        ("retained:10%,", "'retained:10%,'"),
    ],
)
def test_parse_checks_rejects(expression: str, bad_part: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_checks(expression)
    message = str(info.value)
    assert bad_part in message
    assert "valid fields: retained, retained_objects, peak, rss_growth, gc_pause" in message


def test_compare_runs() -> None:
    base = [
        record("t.py::test_grew", retained_bytes=1000, traced_peak=10_000),
        record("t.py::test_steady", retained_bytes=1000, traced_peak=10_000),
        record("t.py::test_from_zero", retained_bytes=0, traced_peak=None, rss_peak=4096),
        record("t.py::test_shrank", retained_bytes=5000, traced_peak=50_000),
        record("t.py::test_unmeasured"),
        record("t.py::test_gone", retained_bytes=1),
    ]
    current: list[TestRecord | dict[str, Any]] = [
        record("t.py::test_new", retained_bytes=10**9).to_dict(),  # dicts are accepted too
        record("t.py::test_grew", retained_bytes=1200, traced_peak=10_500),
        record("t.py::test_steady", retained_bytes=1050, traced_peak=11_024),
        record("t.py::test_from_zero", retained_bytes=10, traced_peak=None, rss_peak=6000),
        record("t.py::test_shrank", retained_bytes=10, traced_peak=1),
        record("t.py::test_unmeasured", retained_bytes=10**9),
    ]
    comparison = compare_runs(base, current, parse_checks("retained:10%,peak:1KiB"))

    assert comparison.new == ("t.py::test_new",)
    assert comparison.vanished == ("t.py::test_gone",)
    failed = {(row.nodeid, row.field): row.failed_by for row in comparison.regressions}
    assert failed == {
        ("t.py::test_grew", "retained"): "retained:10%: grew +20.0%",
        ("t.py::test_from_zero", "retained"): "retained:10%: grew from 0",
        ("t.py::test_from_zero", "peak"): "peak:1KiB: grew 1.9 KiB",
    }
    rows = {(row.nodeid, row.field): row for row in comparison.rows}
    assert len(rows) == 5 * 2
    grew = rows["t.py::test_grew", "retained"]
    assert (grew.base, grew.current, grew.change, grew.relative) == (1000, 1200, 200, 0.2)
    steady_peak = rows["t.py::test_steady", "peak"]  # 1000 B of growth is under 1 KiB
    assert (steady_peak.change, steady_peak.failed_by) == (1024, None)
    unmeasured = rows["t.py::test_unmeasured", "retained"]
    assert (unmeasured.base, unmeasured.change, unmeasured.failed_by) == (None, None, None)


def test_compare_absolute_threshold_and_fields() -> None:
    base = [record("t.py::test_a", retained_objects=10, gc_pause_max=0.001)]
    over = [record("t.py::test_a", retained_objects=111, gc_pause_max=0.0209)]
    at = [record("t.py::test_a", retained_objects=110, gc_pause_max=0.021)]
    checks = parse_checks("retained_objects:100,gc_pause:20ms")
    assert [row.failed_by for row in compare_runs(base, over, checks).regressions] == [
        "retained_objects:100: grew 101"
    ]
    assert compare_runs(base, at, checks).regressions == ()

    # Without checks every field is a row, and nothing fails.
    plain = compare_runs(base, over)
    assert len(plain.rows) == 7 and plain.regressions == ()
    assert [row.field for row in compare_runs(base, over, fields=["peak"]).rows] == ["peak"]
    with pytest.raises(ValueError, match="unknown field 'mean'"):
        compare_runs(base, over, fields=["mean"])


def test_render_comparison() -> None:
    base = [
        record(
            f"tests/very/deep/package/test_module_{i}.py::test_case[param-{i}]", retained_bytes=1000
        )
        for i in range(3)
    ] + [record("t.py::test_gone")]
    current = [
        record(base[0].nodeid, retained_bytes=5000),
        record(base[1].nodeid, retained_bytes=1000),
        record(base[2].nodeid, retained_bytes=900),
        record("t.py::test_new"),
    ]
    lines = render_comparison(compare_runs(base, current, parse_checks("retained:10%")), width=80)
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in lines), text
    assert lines[0] == "3 tests in both runs, 1 regressions, 1 new, 1 vanished"
    marked = [line for line in lines if line.startswith("!")]
    assert len(marked) == 1 and "param-0]" in marked[0] and "+3.9 KiB" in marked[0]
    assert "retained:10%: grew +400.0%" in text
    assert "1 unchanged figures not shown" in text
    assert "  t.py::test_new" in lines and "  t.py::test_gone" in lines
