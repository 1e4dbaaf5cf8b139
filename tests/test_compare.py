"""The comparison of two runs: which figures a gate compares, checks, floors, rendering."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_memguard.figures import Figures
from pytest_memguard.findings import Finding, Frame
from pytest_memguard.history.compare import (
    FIELDS,
    STABLE_FIELDS,
    Check,
    compare_runs,
    gate_figure,
    parse_checks,
    render_comparison,
)
from pytest_memguard.record import TestRecord


def record(
    nodeid: str, verdict: str = "ok", repetitions: list[dict[str, Any]] | None = None, **delta: Any
) -> TestRecord:
    return TestRecord(
        nodeid=nodeid,
        outcome="passed",
        verdict=verdict,
        delta=Figures.from_dict(delta),
        repetitions=tuple(Figures.from_dict(run) for run in repetitions or ()),
    )


def leak(nodeid: str, per_run: int, first_run: int = 0, **delta: Any) -> TestRecord:
    """A confirmed leak adding ``per_run`` bytes on each of 3 repetitions; its screened
    first run carried ``first_run`` more (the session's warm-up)."""
    runs = [{"retained_bytes": per_run, "retained_objects": 2, "container_growth": 1}] * 3
    return record(nodeid, "leak", runs, retained_bytes=per_run + first_run, **delta)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("retained:10%", [Check("retained", 0.1, True, "retained:10%", 512)]),
        ("retained:10%:0B", [Check("retained", 0.1, True, "retained:10%:0B", 0)]),
        ("peak:20%:1MiB", [Check("peak", 0.2, True, "peak:20%:1MiB", 1024**2)]),
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
        ("rss_growth:2.5%", [Check("rss_growth", 0.025, True, "rss_growth:2.5%", 1024**2)]),
    ],
)
def test_parse_checks(expression: str, expected: list[Check]) -> None:
    checks = parse_checks(expression)
    assert [(c.field, c.percent, c.text, c.floor) for c in checks] == [
        (c.field, c.percent, c.text, c.floor) for c in expected
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
        ("retained:1KiB:1KiB", "'retained:1KiB:1KiB'"),
        ("peak:10%:lots", "'peak:10%:lots'"),
    ],
)
def test_parse_checks_rejects(expression: str, bad_part: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_checks(expression)
    message = str(info.value)
    assert bad_part in message
    assert f"valid fields: {', '.join(FIELDS)}" in message


def test_the_gate_compares_what_a_confirmed_leak_adds_per_run_not_its_first_run() -> None:
    # The screened first run of the first test carries the session's warm-up, and what
    # it carries moves with the options (issue #13: "retained 800 B -> 984 B +23%").
    assert gate_figure(leak("t.py::test_a", 112, first_run=688), "retained") == 112
    assert gate_figure(leak("t.py::test_a", 112, first_run=872), "retained") == 112
    assert gate_figure(leak("t.py::test_a", 112), "retained_entries") == 1
    shrinking = record("t.py::test_b", "known", [{"retained_objects": n} for n in (5, 4, 14)])
    assert gate_figure(shrinking, "retained_objects") == 4
    one_run = record("t.py::test_c", "leak", retained_bytes=300)  # repeat=0: its only run
    assert gate_figure(one_run, "retained") == 300


@pytest.mark.parametrize("verdict", ["ok", "warmup", "over-limit", "error"])
def test_growth_that_is_no_confirmed_leak_is_zero_for_the_gate(verdict: str) -> None:
    grew = record("t.py::test_a", verdict, [{"retained_bytes": 900}], retained_bytes=900)
    assert gate_figure(grew, "retained") == 0
    assert gate_figure(grew, "retained_objects") == 0


def test_an_unconfirmed_suspect_is_never_compared_on_what_it_leaks() -> None:
    """Which suspects the budget leaves unconfirmed moves with the machine's speed: on
    unchanged code a leak confirmed in one run is unconfirmed in the next. Its growth is
    not known either way, so the comparison neither fails nor improves on it."""
    unconfirmed = record("t.py::test_a", "unconfirmed", retained_bytes=900)
    assert gate_figure(unconfirmed, "retained") is None
    checks = parse_checks("retained:10%,retained_objects:10%")
    confirmed_later = compare_runs([unconfirmed], [leak("t.py::test_a", 4096)], checks)
    confirmed_before = compare_runs([leak("t.py::test_a", 4096)], [unconfirmed], checks)
    for comparison in (confirmed_later, confirmed_before):
        assert comparison.regressions == comparison.improvements == ()
        assert {row.current is None or row.base is None for row in comparison.rows} == {True}


def test_peak_is_the_traced_peak_only_and_rss_is_compared_only_when_asked() -> None:
    untraced = record("t.py::test_a", rss_peak=16384, traced_peak=None)
    assert gate_figure(untraced, "peak") is None
    assert gate_figure(untraced, "rss_peak") == 16384
    assert STABLE_FIELDS == ("retained", "retained_objects", "retained_entries", "peak")
    base = [record("t.py::test_a", rss_peak=0, traced_peak=None)]
    # RSS moves in 4 KiB pages: "0 B -> 16.0 KiB" failed peak:20% on identical runs.
    comparison = compare_runs(base, [untraced], parse_checks("retained:10%,peak:20%"))
    assert comparison.regressions == ()
    assert {row.field for row in compare_runs(base, [untraced]).rows} == set(STABLE_FIELDS)
    asked = compare_runs(base, [untraced], parse_checks("rss_peak:20%:4KiB"))
    assert [row.failed_by for row in asked.regressions] == ["rss_peak:20%:4KiB: grew from 0"]


def test_identical_runs_never_fail_whatever_their_first_runs_carried() -> None:
    base = [leak("t.py::test_a", 112, first_run=688), record("t.py::test_b", "warmup")]
    current = [leak("t.py::test_a", 112, first_run=872), record("t.py::test_b", "ok")]
    comparison = compare_runs(base, current, parse_checks("retained:10%,peak:20%"))
    assert comparison.regressions == comparison.improvements == ()


def test_a_relative_check_never_fails_at_or_below_its_floor() -> None:
    check = parse_checks("retained:10%")[0]
    assert check.fails(100, 612) is None  # +512 B is +512 %, but at the 512 B floor
    assert check.fails(100, 613) == "retained:10%: grew +513.0%"
    assert check.fails(0, 513) == "retained:10%: grew from 0"
    assert check.fails(10_000, 10_999) is None  # over the floor, under 10 %
    explicit = parse_checks("peak:20%:1MiB")[0]
    assert explicit.fails(1024, 1024**2) is None
    assert explicit.fails(1024, 2 * 1024**2) is not None


def test_compare_reports_regressions_and_improvements() -> None:
    base = [
        leak("t.py::test_grew", 1000),
        leak("t.py::test_shrank", 50_000),
        leak("t.py::test_steady", 1000),
        record("t.py::test_fixed", "leak", retained_bytes=4096),
        record("t.py::test_new_leak", "ok"),
        record("t.py::test_gone"),
    ]
    current: list[TestRecord | dict[str, Any]] = [
        record("t.py::test_new", "leak", retained_bytes=10**9).to_dict(),  # dicts are accepted
        leak("t.py::test_grew", 2000),
        leak("t.py::test_shrank", 1000),
        leak("t.py::test_steady", 1050),
        record("t.py::test_fixed", "ok", retained_bytes=4096),
        record("t.py::test_new_leak", "leak", retained_bytes=2048),
    ]
    comparison = compare_runs(base, current, parse_checks("retained:10%"))

    assert comparison.new == ("t.py::test_new",)
    assert comparison.vanished == ("t.py::test_gone",)
    assert {row.nodeid: row.failed_by for row in comparison.regressions} == {
        "t.py::test_grew": "retained:10%: grew +100.0%",
        "t.py::test_new_leak": "retained:10%: grew from 0",
    }
    assert {row.nodeid: row.improved_by for row in comparison.improvements} == {
        "t.py::test_shrank": "retained:10%: shrank -98.0%",
        "t.py::test_fixed": "retained:10%: shrank -100.0%",
    }
    grew = next(row for row in comparison.rows if row.nodeid == "t.py::test_grew")
    assert (grew.base, grew.current, grew.change, grew.relative) == (1000, 2000, 1000, 1.0)


def test_absolute_checks_and_shown_fields() -> None:
    base = [record("t.py::test_a", retained_objects=10, gc_pause_max=0.001)]
    over = [record("t.py::test_a", retained_objects=111, gc_pause_max=0.0209)]
    at = [record("t.py::test_a", retained_objects=110, gc_pause_max=0.021)]
    checks = parse_checks("gc_pause:10ms")
    assert [row.failed_by for row in compare_runs(base, over, checks).regressions] == [
        "gc_pause:10ms: grew 19.9 ms"
    ]
    assert compare_runs(base, at, parse_checks("gc_pause:20ms")).regressions == ()
    assert [row.improved_by for row in compare_runs(over, base, checks).improvements] == [
        "gc_pause:10ms: shrank 19.9 ms"
    ]
    assert [row.field for row in compare_runs(base, over, fields=["duration"]).rows] == ["duration"]
    with pytest.raises(ValueError, match="unknown field 'mean'"):
        compare_runs(base, over, fields=["mean"])


def test_render_never_cuts_a_test_id_and_lists_improvements() -> None:
    deep = [f"tests/very/deep/package/test_module_{i}.py::test_case[param-{i}]" for i in range(3)]
    base = [
        leak(deep[0], 1000),
        leak(deep[1], 1000),
        leak(deep[2], 9000),
        record("t.py::test_gone"),
    ]
    current = [
        leak(deep[0], 5000),
        leak(deep[1], 1000),
        leak(deep[2], 900),
        record("t.py::test_new"),
    ]
    lines = render_comparison(compare_runs(base, current, parse_checks("retained:10%")))
    text = "\n".join(lines)
    assert lines[0] == "3 tests in both runs, 1 regressions, 1 improvements, 1 new, 1 vanished"
    worse = [line for line in lines if line.startswith("worse")]
    assert len(worse) == 1 and worse[0].endswith(deep[0]) and "+3.9 KiB" in worse[0]
    better = [line for line in lines if line.startswith("better")]
    assert len(better) == 1 and better[0].endswith(deep[2])
    assert "retained:10%: grew +400.0%" in text and "retained:10%: shrank -90.0%" in text
    assert lines.index(worse[0]) < lines.index(better[0])
    assert "1 unchanged figures not shown" in text
    assert "  t.py::test_new" in lines and "  t.py::test_gone" in lines


def test_when_a_thread_ran_the_gate_reads_the_tests_own_findings() -> None:
    """A thread allocates during the repetitions as its timing goes: what they retained
    moves from run to run (a stability benchmark showed +56 % on unchanged code)."""
    on_thread = Finding(
        "growing-container",
        "4 list objects held by nothing the gc can see",
        count=4,
        bytes=900,
        allocated_at=(Frame("/usr/lib/python3.11/threading.py", 0, line="run()"),),
    )
    charge = {"kind": "thread", "summary": "thread 'poller' still running", "created_by": "x"}
    surfaced = leak("t.py::test_b", 600)
    surfaced.findings, surfaced.blame = [on_thread], [charge]
    assert gate_figure(surfaced, "retained") == gate_figure(surfaced, "retained_objects") == 0
    own = Finding("closure", "its own", count=3, bytes=200)
    surfaced.findings = [on_thread, own]
    assert (gate_figure(surfaced, "retained"), gate_figure(surfaced, "retained_objects")) == (
        200,
        3,
    )

    thread = Finding("thread", "thread 'poller' still running", count=20, bytes=3347)
    left_running = leak("t.py::test_a", 1500)
    left_running.findings = [thread, on_thread]
    assert gate_figure(left_running, "retained") == 0
    assert gate_figure(left_running, "retained_entries") == 1  # the repetitions' entries


def test_the_peak_is_the_lowest_of_a_tests_runs() -> None:
    # The session's first use of tmp_path moved 75 KiB between tests from run to run.
    first_use = record("t.py::test_a", "leak", [{"traced_peak": 44_000}], traced_peak=120_000)
    assert gate_figure(first_use, "peak") == 44_000
    assert gate_figure(record("t.py::test_b", traced_peak=5000), "peak") == 5000
    assert parse_checks("peak:20%")[0].fails(44_000, 120_000) is None  # under the 1 MiB floor
