"""The known-leak baseline: fingerprints, the ``known`` verdict, export and vanished leaks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_memguard.findings import Finding
from pytest_memguard.history.cli import main
from pytest_memguard.history.known import (
    FILE_KIND,
    UNEXPLAINED,
    KnownLeakError,
    KnownLeaks,
    fingerprint,
    known_leaks_document,
)
from pytest_memguard.record import TestRecord


def _finding(key: str = "user:7", address: str = "0x7f3a", line: int = 12) -> dict[str, Any]:
    return {
        "kind": "growing-container",
        "summary": f"1 Session object held by app.cache._CACHE[{key!r}]",
        "retainer_chain": [
            {"object": "module", "edge": "app.cache"},
            {"object": "dict", "edge": "._CACHE"},
            {"object": "Session", "edge": f"[{key!r}]"},
            {"object": "list", "edge": f".items[<Item at {address}>]"},
        ],
        "allocated_at": [
            {
                "filename": "/home/ci/build-1/src/app/cache.py",
                "lineno": line,
                "name": "",
                "line": "session = Session(user)",
            }
        ],
        "extra": {"root": "module"},
    }


def _thread(name: str) -> dict[str, Any]:
    return {
        "kind": "thread",
        "summary": f"thread {name!r} still running",
        "extra": {"name": name, "target": "app.poll.Poller.run"},
    }


def _print(finding: dict[str, Any]) -> str:
    """The fingerprint of a finding as a record holds it."""
    return fingerprint(Finding.from_dict(finding))


def _leak(nodeid: str, *findings: dict[str, Any], verdict: str = "leak") -> TestRecord:
    found = [Finding.from_dict(finding) for finding in findings]
    return TestRecord(nodeid, "passed", verdict, "leak confirmed", findings=found)


def test_fingerprint_ignores_keys_addresses_line_numbers_and_machine_paths():
    one = _finding()
    other = _finding(key="user:8", address="0x55aa", line=40)
    other["allocated_at"][0]["filename"] = "/tmp/checkout/app/cache.py"

    assert _print(one) == _print(other)
    assert _print(one) == (
        "growing-container | app.cache._CACHE | app/cache.py:session = Session(user)"
    )


def test_fingerprint_changes_with_the_root_the_kind_and_the_allocation_line():
    base = _print(_finding())
    moved = _finding()
    moved["retainer_chain"][1]["edge"] = "._SESSIONS"
    other_line = _finding()
    other_line["allocated_at"][0]["line"] = "session = Session(admin)"

    assert len({base, _print(moved), _print(other_line), _print(_thread("t"))}) == 4


def test_a_chainless_finding_is_named_by_what_it_runs_not_by_its_instance():
    assert _print(_thread("Thread-3")) == _print(_thread("Thread-12"))
    assert "app.poll.Poller.run" in _print(_thread("x"))


def _known(tmp_path: Path, *records: TestRecord) -> KnownLeaks:
    path = tmp_path / "known.json"
    path.write_text(json.dumps(known_leaks_document(list(records), "#1")))
    return KnownLeaks.load(path)


def test_apply_turns_a_fully_known_leak_into_known(tmp_path):
    known = _known(tmp_path, _leak("t.py::a", _finding(), _thread("w")))
    record = _leak("t.py::a", _finding(key="user:9"), _thread("Thread-2"))

    record = known.apply(record)

    assert record.verdict == "known"
    assert str(tmp_path / "known.json") in record.message


def test_apply_keeps_a_leak_with_a_new_finding_and_says_which_part_is_known(tmp_path):
    known = _known(tmp_path, _leak("t.py::a", _finding()))
    record = _leak("t.py::a", _finding(), _thread("w"))

    record = known.apply(record)

    assert record.verdict == "leak"
    assert "1 of 2 findings are known" in record.message


def test_apply_matches_per_test(tmp_path):
    known = _known(tmp_path, _leak("t.py::a", _finding()))
    record = _leak("t.py::b", _finding())

    record = known.apply(record)

    assert record.verdict == "leak"


def test_a_leak_without_findings_is_matched_by_its_test(tmp_path):
    known = _known(tmp_path, _leak("t.py::a"))
    assert [leak.fingerprint for leak in known.leaks] == [UNEXPLAINED]
    record = _leak("t.py::a")

    record = known.apply(record)

    assert record.verdict == "known"


def test_vanished_lists_known_leaks_of_tests_that_ran_clean(tmp_path):
    known = _known(tmp_path, _leak("t.py::fixed", _finding()), _leak("t.py::still", _finding()))
    records = [
        TestRecord("t.py::fixed", "passed", "ok"),
        _leak("t.py::still", _finding(), verdict="known"),
    ]

    gone = known.vanished(records)

    assert [leak.nodeid for leak in gone] == ["t.py::fixed"]


def test_vanished_says_nothing_of_tests_that_failed_or_did_not_run(tmp_path):
    known = _known(tmp_path, _leak("t.py::broken", _finding()), _leak("t.py::skipped", _finding()))

    assert known.vanished([TestRecord("t.py::broken", "failed", "ok")]) == []


def test_vanished_says_nothing_of_a_suspect_the_budget_left_unconfirmed(tmp_path):
    """Whether an unconfirmed suspect still leaks is not known: its known leak stays."""
    known = _known(tmp_path, _leak("t.py::suspect", _finding()))

    assert known.vanished([TestRecord("t.py::suspect", "passed", "unconfirmed")]) == []


def _file(target: str) -> dict[str, Any]:
    return {"kind": "file", "summary": f"file {target} still open", "extra": {"target": target}}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # pytest's tmp_path: another session number, test counter and user.
        (
            "/tmp/pytest-of-root/pytest-4/test_c_file6/data.txt",
            "/tmp/pytest-of-runner/pytest-17/test_c_file0/data.txt",
        ),
        # tempfile's random names, and a random hex suffix.
        ("/tmp/tmpk3j_x8a2/cache.db", "/tmp/tmp9_qzeu0w/cache.db"),
        ("/srv/out/export_a3f9c2e1.csv", "/srv/out/export_77b0e4d2.csv"),
    ],
)
def test_temporary_names_are_not_part_of_a_fingerprint(first: str, second: str) -> None:
    assert _print(_file(first)) == _print(_file(second))


def test_a_file_under_another_folder_is_another_finding() -> None:
    assert _print(_file("/srv/out/a.csv")) != _print(_file("/srv/in/a.csv"))


def test_a_known_leak_file_written_before_a_normalisation_rule_still_matches(tmp_path):
    old = {
        "kind": FILE_KIND,
        "version": 1,
        "leaks": [
            {"nodeid": "t.py::a", "fingerprint": "file | target=/srv/out/export_a#f#c#e#.csv"}
        ],
    }
    path = tmp_path / "known.json"
    path.write_text(json.dumps(old))
    record = _leak("t.py::a", _file("/srv/out/export_99aa00bb.csv"))

    record = KnownLeaks.load(path).apply(record)

    assert record.verdict == "known"


def _on_a_thread() -> dict[str, Any]:
    """Objects a running thread allocated: no chain, the stack starts in threading.py."""
    return {
        "kind": "growing-container",
        "summary": "5 list objects (1000 B) held by nothing the gc can see",
        "retainer_chain": [],
        "allocated_at": [
            {
                "filename": "/usr/lib/python3.11/threading.py",
                "lineno": 1002,
                "name": "",
                "line": "self._bootstrap_inner()",
            },
            {"filename": "/src/app/poll.py", "lineno": 8, "name": "", "line": "junk.append([])"},
        ],
    }


def _charged(record: TestRecord) -> TestRecord:
    charge = {
        "kind": "thread",
        "summary": "thread 'spinner' (target _spin, daemon) still running after teardown",
        "created_by": "t.py::starts_the_thread",
        "created_at": [],
        "surfaced_in": record.nodeid,
        "event": "held 5 object(s) its thread allocated during the test",
        "count": 3,
    }
    return replace(record, blame=(*record.blame, charge))


def test_what_another_tests_thread_allocated_is_never_new(tmp_path):
    known = _known(tmp_path, _leak("t.py::a", _finding()))
    record = _charged(_leak("t.py::a", _finding(), _on_a_thread()))

    record = known.apply(record)

    assert record.verdict == "known"


def test_a_test_whose_only_findings_are_another_threads_doing_is_not_a_new_leak(tmp_path):
    known = _known(tmp_path, _leak("t.py::other", _finding()))
    record = _charged(_leak("t.py::a", _on_a_thread()))

    record = known.apply(record)

    assert record.verdict == "known"
    assert "a thread's doing" in record.message


def test_without_a_thread_to_charge_objects_held_by_nothing_stay_a_finding(tmp_path):
    known = _known(tmp_path, _leak("t.py::other", _finding()))
    record = _leak("t.py::a", _on_a_thread())

    record = known.apply(record)

    assert record.verdict == "leak"


def test_an_exported_thread_leak_lists_the_thread_not_what_it_allocated_meanwhile():
    record = _leak("t.py::a", _thread("poller"), _on_a_thread())
    document = known_leaks_document([record], "#1")
    assert [leak["fingerprint"] for leak in document["leaks"]] == [_print(_thread("x"))]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe{not utf-8", "is not UTF-8 text"),
        ("{not json", "is not JSON"),
        ('{"schema": 1, "tests": []}', "is not a known-leak file"),
        (json.dumps({"kind": FILE_KIND, "leaks": [{"nodeid": "x"}]}), "malformed entry"),
    ],
)
def test_a_bad_known_leak_file_is_refused_naming_it(tmp_path, content, message):
    path = tmp_path / "known.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)

    with pytest.raises(KnownLeakError, match=message):
        KnownLeaks.load(path)


# -- end to end: export from the history, then --memguard-known -------------------------

SUITE = """
HELD = []
SEEN = []

def test_known_leak():
    HELD.append({"payload": [1, 2, 3]})

def test_fixed_later():
    SEEN.append([object()])

def test_clean():
    assert sum([1, 2]) == 3
"""


def _export(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> Path:
    db = str(pytester.path / "history.sqlite")
    target = pytester.path / "known.json"
    assert main(["--db", db, "export", "latest", "--known-leaks", str(target)]) == 0
    assert "exported 2 known leaks of 2 tests" in capsys.readouterr().out
    return target


def test_a_baseline_passes_known_leaks_fails_new_ones_and_lists_vanished(
    pytester, run_pytest, capsys
):
    pytester.makepyfile(test_app=SUITE)
    first = run_pytest("--memguard", "--memguard-db=history.sqlite", "--memguard-save")
    first.assert_outcomes(passed=1, failed=2)
    _export(pytester, capsys)

    pytester.makepyfile(
        test_app=SUITE.replace("SEEN.append([object()])", "pass")
        + "\nNEW = []\n\ndef test_new_leak():\n    NEW.append({'x': [1]})\n"
    )
    result = run_pytest("--memguard", "--memguard-known=known.json", "-rA")

    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*4 guarded tests: 1 known, 1 leak, 2 ok*",
            "*1 known leaks no longer found; remove them from known.json:",
            "  test_app.py::test_fixed_later: growing-container | test_app.SEEN*",
            "LEAK test_app.py::test_new_leak*",
        ]
    )


def test_a_missing_known_leak_file_is_a_usage_error(run_configure_only):
    """In process: the file is read when the plugin is configured, before any test."""
    result = run_configure_only("--memguard", "--memguard-known=nowhere.json")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memguard-known: cannot read known leaks nowhere.json*"])


def test_export_needs_a_target(tmp_path, capsys):
    status = main(["--db", str(tmp_path / "h.sqlite"), "export", "latest"])

    assert status == 2
    assert "give --json PATH, --known-leaks PATH or both" in capsys.readouterr().err


def test_a_finding_seen_without_its_allocation_site_still_matches(tmp_path):
    """tracemalloc misses objects reused from a free list (dicts on 3.12): the same leak
    shows with and without its site, and stays known either way."""
    known = _known(tmp_path, _leak("t.py::a", _finding()))
    unsited = _finding()
    unsited["allocated_at"] = []
    record = _leak("t.py::a", unsited)

    record = known.apply(record)

    assert record.verdict == "known"
    assert known.vanished([record]) == []
    elsewhere = _finding()
    elsewhere["allocated_at"][0]["line"] = "session = Session(admin)"
    assert known.vanished([_leak("t.py::a", elsewhere, verdict="leak")]) == list(known.leaks)
