"""The ``memguard`` console script, through ``main([...])``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_memguard.figures import Figures
from pytest_memguard.findings import ChainEdge, Finding
from pytest_memguard.history.cli import main
from pytest_memguard.history.store import History
from pytest_memguard.record import TestRecord

META = {"commit": "0123456789abcdef", "branch": "main"}
LONG = "tests/integration/storage/test_very_long_module_name.py::test_case[" + "x" * 80 + "]"


def record(nodeid: str, verdict: str = "ok", **delta: Any) -> TestRecord:
    findings = []
    if verdict == "leak":
        findings.append(
            Finding(
                "growing-container",
                "app.cache._CACHE grows by 1 entry per run",
                retainer_chain=(ChainEdge("dict", "app.cache._CACHE['user:7']"),),
            )
        )
    return TestRecord(
        nodeid, "passed", verdict=verdict, delta=Figures.from_dict(delta), findings=findings
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite"
    base = [
        record("t.py::test_a", retained_bytes=1000, traced_peak=2048, duration=0.01),
        record("t.py::test_b", retained_bytes=10, traced_peak=4096, duration=0.02),
        record("t.py::test_gone", retained_bytes=0),
        record(LONG, retained_bytes=5, gc_pause_max=0.002),
    ]
    current = [
        record("t.py::test_a", "leak", retained_bytes=3000, traced_peak=2048, duration=0.01),
        record("t.py::test_b", retained_bytes=10, traced_peak=1024**2, duration=0.02),
        record("t.py::test_new", retained_bytes=1),
        record(LONG, retained_bytes=5, gc_pause_max=0.002),
    ]
    with History(path) as history:
        history.save_run(base, name="main", args=["-q"], meta=META)
        history.save_run(current, name="feature/x", meta=META)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.splitlines()
    # Test ids end a line and are never cut; everything else fits 100 columns.
    assert all(len(line) <= 100 or line.endswith(LONG) for line in lines), out
    assert "Traceback" not in err
    return status, lines, err


def assert_error(err: str, *fragments: str) -> None:
    assert err.startswith("memguard: error: ")
    assert err.count("\n") == 1, err  # one line
    for fragment in fragments:
        assert fragment in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, _ = run(capsys, "--help")
    text = "\n".join(lines)
    assert status == 0
    for command in ("list", "show", "compare", "export", "report", "prune", "--db"):
        assert command in text
    assert "memguard compare main latest --fail retained:10%,peak:5MiB,gc_pause:20ms" in text
    assert "* retained          bytes a confirmed leak adds per run (floor 512 B)" in text
    assert "  rss_peak" in text


def test_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "frobnicate")
    assert status == 2
    assert "invalid choice: 'frobnicate'" in err


def test_list(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    status, lines, _ = run(capsys, "--db", str(db), "list")
    assert status == 0
    assert lines[0].split() == [
        "id",
        "name",
        "created",
        "commit",
        "branch",
        "python",
        "tests",
        "failed",
    ]
    assert lines[1].split()[:2] == ["1", "main"] and "01234567" in lines[1]
    assert lines[2].split()[:2] == ["2", "feature/x"]
    assert lines[2].split()[-2:] == ["4", "1"]


def test_list_empty(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with History(tmp_path / "empty.sqlite") as history:
        history.prune(0)  # creates the database
    status, lines, _ = run(capsys, "list", "--db", str(tmp_path / "empty.sqlite"))
    assert (status, lines) == (0, [f"no runs saved in {tmp_path / 'empty.sqlite'}"])


def test_show(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    status, lines, _ = run(capsys, "show", "--db", str(db))
    assert status == 0
    assert lines[0].startswith("run #2 (feature/x), ")
    assert "commit 0123456789" in lines[0] and "branch main" in lines[0]
    assert lines[1] == "4 tests, 1 failed, sorted by retained"
    assert lines[2].split() == [
        "verdict",
        "retained",
        "objects",
        "peak",
        "RSS",
        "peak",
        "gc",
        "pause",
        "duration",
        "test",
    ]
    assert lines[3].split()[:3] == ["leak", "2.9", "KiB"]
    assert lines[3].endswith(" t.py::test_a")
    assert lines[4] == "    growing-container: app.cache._CACHE grows by 1 entry per run"
    assert lines[5] == "      held by: app.cache._CACHE['user:7']"
    assert any(line.endswith(" " + LONG) for line in lines)  # never cut


def test_show_wraps_long_findings_instead_of_cutting_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    summary = "a growing container " + " ".join(f"word{i}" for i in range(40))
    leak = TestRecord("t.py::test_a", "passed", "leak", findings=(Finding("closure", summary),))
    with History(tmp_path / "h.sqlite") as history:
        history.save_run([leak], meta=META)
    status, lines, _ = run(capsys, "--db", str(tmp_path / "h.sqlite"), "show")
    assert status == 0
    shown = lines[lines.index(next(line for line in lines if "closure: a growing" in line)) :]
    assert " ".join(line.strip() for line in shown) == f"closure: {summary}"
    assert shown[1].startswith("      word")


def test_show_sort_top(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    status, lines, _ = run(capsys, "--db", str(db), "show", "main", "--sort", "peak", "--top", "1")
    assert status == 0
    assert lines[0].startswith("run #1 (main), ")
    assert lines[3].split()[0] == "ok" and lines[3].endswith(" t.py::test_b")
    assert lines[-1] == "... 3 more tests (use --top)"


def test_show_bad_options(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    status, _, err = run(capsys, "--db", str(db), "show", "--sort", "mean")
    assert status == 2 and "invalid choice: 'mean'" in err
    status, _, err = run(capsys, "--db", str(db), "show", "--top", "0")
    assert status == 2 and "expected a positive whole number" in err


def test_compare(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    status, lines, _ = run(capsys, "--db", str(db), "compare", "main", "latest")
    text = "\n".join(lines)
    assert status == 0
    assert lines[0].startswith("base:    run #1 (main)")
    assert lines[1].startswith("current: run #2 (feature/x)")
    assert "3 tests in both runs, 0 regressions, 0 improvements, 1 new, 1 vanished" in text
    # Without --fail, only the figures that are stable for unchanged code are compared.
    assert "gc_pause" not in text and "duration" not in text
    assert "t.py::test_new" in text and "t.py::test_gone" in text


def test_compare_fail(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    status, lines, _ = run(
        capsys, "--db", str(db), "compare", "main", "2", "--fail", "retained:10%,peak:5MiB"
    )
    assert status == 1
    marked = [line for line in lines if line.startswith("worse")]
    assert len(marked) == 1 and marked[0].endswith(" t.py::test_a")
    assert "       retained:10%: grew from 0" in lines  # ok, then a 2.9 KiB leak
    assert lines[-1] == "FAILED: 1 regressions over --fail"

    status, _, _ = run(capsys, "--db", str(db), "compare", "main", "2", "--fail", "peak:5MiB")
    assert status == 0


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["compare", "main", "latest", "--fail", "mean:5%"], ["'mean:5%'", "valid fields"]),
        (["compare", "main", "nope"], ["unknown run 'nope'"]),
        (["compare", "missing.json", "main"], ["cannot read baseline missing.json"]),
        (["show", "99"], ["unknown run '99'"]),
        (["export", "nope", "--json", "x.json"], ["unknown run 'nope'"]),
        (["report", "nope", "--html", "x.html"], ["unknown run 'nope'"]),
    ],
)
def test_command_errors(
    capsys: pytest.CaptureFixture[str],
    db: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    fragments: list[str],
) -> None:
    monkeypatch.chdir(db.parent)
    status, lines, err = run(capsys, "--db", str(db), *argv)
    assert (status, lines) == (2, [])
    assert_error(err, *fragments)


@pytest.mark.parametrize(
    "command", [["list"], ["show"], ["compare", "1", "2"], ["prune", "--keep", "1"]]
)
def test_missing_and_corrupt_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "missing.sqlite"
    status, _, err = run(capsys, "--db", str(missing), *command)
    assert status == 2
    assert_error(err, f"no history database at {missing}")
    assert not missing.exists()

    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"garbage " * 1000)
    status, _, err = run(capsys, "--db", str(corrupt), *command)
    assert status == 2
    assert_error(err, str(corrupt), "file is not a database")


def test_export_then_compare_with_file(
    capsys: pytest.CaptureFixture[str], db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(db.parent)
    baseline = "ci/baseline.json"
    status, lines, _ = run(capsys, "--db", str(db), "export", "main", "--json", baseline)
    assert status == 0
    assert lines == [f"exported run #1 (main): 4 tests to {baseline}"]
    document = json.loads((db.parent / baseline).read_text(encoding="utf-8"))
    assert document["header"]["run"]["name"] == "main"

    status, lines, _ = run(
        capsys, "--db", str(db), "compare", baseline, "latest", "--fail", "retained:10%"
    )
    assert status == 1
    assert lines[0].startswith(f"base:    run {baseline}, ")

    # A baseline file needs no database.
    status, lines, _ = run(capsys, "--db", "none.sqlite", "show", baseline, "--top", "1")
    assert status == 0
    assert lines[3].split()[0] == "ok" and lines[3].endswith(" t.py::test_a")
    assert not (db.parent / "none.sqlite").exists()


def test_export_unwritable(capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    status, _, err = run(
        capsys, "--db", str(db), "export", "main", "--json", str(blocker / "b.json")
    )
    assert status == 2
    assert_error(err, str(blocker))


def test_report_html(capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path) -> None:
    pytest.importorskip("pytest_memguard.report.html")
    target = tmp_path / "mem.html"
    status, lines, _ = run(capsys, "--db", str(db), "report", "latest", "--html", str(target))
    assert (status, lines) == (0, [f"wrote {target}"])
    html = target.read_text(encoding="utf-8")
    assert "t.py::test_a" in html and "#1 main" in html


def test_report_html_missing(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pytest_memguard.report.html", None)  # import fails
    target = tmp_path / "mem.html"
    status, _, err = run(capsys, "--db", str(db), "report", "latest", "--html", str(target))
    assert status == 2
    assert_error(err, "HTML reports are not available")
    assert not target.exists()


def test_prune(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    status, lines, _ = run(capsys, "--db", str(db), "prune", "--keep", "1")
    assert (status, lines) == (0, ["deleted 1 runs, kept the newest 1"])
    with History(db, create=False) as history:
        assert [run.name for run in history.list_runs()] == ["feature/x"]
    status, _, err = run(capsys, "--db", str(db), "prune", "--keep", "-1")
    assert status == 2 and "expected a non-negative whole number such as '3'" in err


def test_default_database(
    capsys: pytest.CaptureFixture[str], db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    below = db.parent / "tests" / "unit"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)
    status, _, err = run(capsys, "list")
    assert status == 2
    assert_error(err, f"no history database at {below.resolve() / '.memguard/history.sqlite'}")
    # pytest writes it under its rootdir: found from any folder below it.
    (db.parent / ".memguard").mkdir()
    db.rename(db.parent / ".memguard" / "history.sqlite")
    status, lines, _ = run(capsys, "list")
    assert status == 0 and len(lines) == 3


def test_console_script(db: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_memguard.history.cli",
            "--db",
            str(db),
            "compare",
            "1",
            "2",
            "--fail",
            "retained:10%",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "FAILED: 1 regressions" in done.stdout


def test_exporting_known_leaks_says_how_many_suspects_were_left_unconfirmed(
    tmp_path, capsys, monkeypatch
):
    """A leak its run left unconfirmed is not in the file: a later run that confirms it
    fails it as new, so the export says so."""
    db = tmp_path / "h.sqlite"
    records = [
        record("t.py::test_a", "leak"),
        record("t.py::test_b", "unconfirmed"),
        record("t.py::test_c", "unconfirmed"),
    ]
    with History(db) as history:
        history.save_run(records, meta=META)

    monkeypatch.chdir(tmp_path)
    status, lines, _ = run(capsys, "--db", str(db), "export", "latest", "--known-leaks", "k.json")

    assert status == 0
    assert lines[0].startswith("exported 1 known leaks of 1 tests in run")
    assert lines[1].startswith("2 suspects of that run were left unconfirmed")
    assert "--memguard-confirm-budget" in " ".join(lines[1:])
