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

from pytest_memguard.figures import Figures
from pytest_memguard.history import HistoryError
from pytest_memguard.history.store import (
    SCHEMA_VERSION,
    History,
    UnknownRunError,
    load_baseline,
)
from pytest_memguard.record import TestRecord

META = {"commit": "abc123", "branch": "main"}


def record(nodeid: str, verdict: str = "ok", **delta: Any) -> TestRecord:
    return TestRecord(
        nodeid=nodeid, outcome="passed", verdict=verdict, delta=Figures.from_dict(delta)
    )


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
        "SELECT nodeid, retained_bytes, peak, rss_peak, gc_collections FROM tests ORDER BY nodeid",
    )
    # peak is the traced peak only, never the RSS peak; collections are summed.
    assert rows == [("t.py::test_a", 100, None, 4096, 0), ("t.py::test_b", 200, None, None, 4)]
    assert sqlite_query(history.path, "PRAGMA journal_mode") == [("wal",)]
    assert sqlite_query(history.path, "SELECT schema_version FROM meta") == [(SCHEMA_VERSION,)]
    assert history.get_run(run).tests == 2


def test_unknown_runs(history: History, tmp_path: Path) -> None:
    with pytest.raises(UnknownRunError, match="no complete runs saved"):
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


def test_an_interrupted_run_is_kept_but_never_latest_nor_its_name(history: History) -> None:
    complete = history.save_run(suite(), name="main", meta=META)
    cut = history.save_run(suite(1), name="main", meta=META, interrupted=True)

    assert history.get_run("latest").id == complete
    assert history.get_run("main").id == complete
    kept = history.get_run(cut)
    assert kept.interrupted and kept.label == f"#{cut} (main, interrupted)"
    assert [run.interrupted for run in history.list_runs()] == [False, True]

    history.save_run(suite(), meta=META, interrupted=True)
    with pytest.raises(UnknownRunError, match="unknown run 'other'"):
        history.get_run("other")


def test_a_read_only_database_is_read_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ro" / "history.sqlite"
    with History(path) as history:
        history.save_run(suite(), name="main", meta=META)
    for side_file in path.parent.glob("history.sqlite-*"):
        side_file.unlink()
    before = sorted(p.name for p in path.parent.iterdir())
    # Root ignores file modes, so "this user cannot write it" is what os.access says.
    monkeypatch.setattr("os.access", lambda target, mode: not mode & 2)

    with History(path, create=False) as history:
        assert history.read_only
        assert [run.name for run in history.list_runs()] == ["main"]
        assert len(history.run_records(history.get_run("latest"))) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == before  # no -wal, no -shm


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
    assert sqlite_query(path, "SELECT interrupted FROM runs") == [(0,), (0,)]
    assert sqlite_query(path, "PRAGMA integrity_check") == [("ok",)]


SAVER = """
import sys, time
from pathlib import Path
from pytest_memguard.history.store import History
from pytest_memguard.figures import Figures
from pytest_memguard.record import TestRecord

path, tag = sys.argv[1], sys.argv[2]
records = [
    TestRecord(f"t.py::test_{i}", "passed", delta=Figures(retained_bytes=i)) for i in range(300)
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
from pytest_memguard.history.store import History
from pytest_memguard.figures import Figures
from pytest_memguard.record import TestRecord

def records(n):
    return [
        TestRecord(f"t.py::test_{i}", "passed", delta=Figures(retained_bytes=i)) for i in range(n)
    ]

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
