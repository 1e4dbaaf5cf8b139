"""Wording of what the terminal prints: limits as written, counts in the right number."""

from __future__ import annotations

import pytest

from pytest_memguard.findings import Finding
from pytest_memguard.record import TestRecord
from pytest_memguard.report.terminal import failure_text, warned_lines
from pytest_memguard.units import format_limit, parse_size


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("10 MB", "10 MB"),
        ("10 MiB", "10.0 MiB"),
        ("1 KB", "1 KB"),
        ("1 KiB", "1.0 KiB"),
        ("3 GB", "3 GB"),
        ("1000 MiB", "1000.0 MiB"),  # also a whole number of KB: binary wins
        ("512 B", "512 B"),
        ("0 B", "0 B"),
    ],
)
def test_a_limit_is_echoed_in_the_units_it_was_written_in(written: str, shown: str) -> None:
    assert format_limit(parse_size(written)) == shown


def _leak(findings: int) -> TestRecord:
    return TestRecord(
        "t.py::test_a",
        "passed",
        "leak",
        "leak confirmed",
        findings=tuple(Finding("closure", f"finding {i}") for i in range(findings)),
    )


def test_one_hidden_finding_is_one_finding() -> None:
    assert failure_text(_leak(2)).splitlines()[-1] == (
        "  ... 1 more finding: -v or verbosity_memguard=1 shows all"
    )
    assert "3 more findings:" in failure_text(_leak(4))


def test_a_leak_of_a_root_shown_by_another_test_is_one_line_unless_verbose() -> None:
    record = TestRecord(
        "t.py::test_b",
        "passed",
        "leak",
        "same root as t.py::test_first: 1 list held by app.REGISTRY",
        findings=(Finding("closure", "finding 0"),),
        same_root_as="t.py::test_first",
    )
    assert failure_text(record) == (
        "memguard: leak: same root as t.py::test_first: 1 list held by app.REGISTRY"
    )
    assert "closure: finding 0" in failure_text(record, verbose=True)


def test_warn_mode_names_every_test_a_verdict_would_fail() -> None:
    records = [
        TestRecord(f"t.py::test_{i}", "passed", verdict)
        for i, verdict in enumerate(["leak", "ok", "over-limit", "warmup", "known", "leak"])
    ]
    assert list(warned_lines(records)) == [
        "3 tests would fail without --memguard-mode=warn:",
        "  leak       t.py::test_0",
        "  over-limit t.py::test_2",
        "  leak       t.py::test_5",
    ]
    assert list(warned_lines(records[1:2])) == []
