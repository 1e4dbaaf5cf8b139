"""Parsing and formatting of human sizes, durations, counts and percentages."""

from __future__ import annotations

import math
import re

import pytest

from pytest_memguard.units import (
    format_duration,
    format_size,
    parse_count,
    parse_duration,
    parse_percent,
    parse_size,
)

SIZE_ERROR = "expected a size such as '512 B', '1.5 MiB' or '10 KB' (KB = 1000 bytes, KiB = 1024)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (512, 512),
        (1.6, 2),
        ("0", 0),
        ("0 B", 0),
        ("512B", 512),
        ("512 b", 512),
        ("10 KB", 10_000),
        ("10 KiB", 10_240),
        ("10kb", 10_000),
        ("10kib", 10_240),
        ("1 MB", 1_000_000),
        ("1 MiB", 1_048_576),
        ("1.5 MiB", 1_572_864),
        ("1 GB", 1_000_000_000),
        ("2gib", 2_147_483_648),
        ("2 GIB", 2_147_483_648),
        (" 3 kb ", 3_000),
        (".5 KiB", 512),
        ("1. KiB", 1024),
    ],
)
def test_parse_size(value: str | int | float, expected: int) -> None:
    result = parse_size(value)
    assert result == expected
    assert type(result) is int


def test_parse_size_kb_and_kib_differ_by_24_bytes_per_unit() -> None:
    assert parse_size("1 KiB") - parse_size("1 KB") == 24
    assert parse_size("1 MiB") - parse_size("1 MB") == 48_576


@pytest.mark.parametrize(
    "value",
    [
        "12 parsecs",
        "",
        "   ",
        "-5 B",
        "-1",
        "nan",
        "inf",
        "1e3",
        "1.5.2 B",
        "1 2 B",
        "10 K",
        "5%",
        "9" * 400,
        -1,
        -0.5,
        math.nan,
        math.inf,
        True,
        False,
        None,
        [512],
    ],
)
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_size(value)  # type: ignore[arg-type]
    assert str(excinfo.value) == f"{SIZE_ERROR}, got {value!r}"


def test_parse_size_error_text() -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_size("12 parsecs")
    assert str(excinfo.value) == (
        "expected a size such as '512 B', '1.5 MiB' or '10 KB' "
        "(KB = 1000 bytes, KiB = 1024), got '12 parsecs'"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20 ms", 0.02),
        ("20ms", 0.02),
        ("150us", 150e-6),
        ("150 µs", 150e-6),  # MICRO SIGN
        ("150 μs", 150e-6),  # GREEK SMALL LETTER MU
        ("0.5 s", 0.5),
        ("2s", 2.0),
        ("2 S", 2.0),
        ("2", 2.0),
        ("0", 0.0),
        (2, 2.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(value: str | int | float, expected: float) -> None:
    result = parse_duration(value)
    assert result == pytest.approx(expected)
    assert isinstance(result, float)


@pytest.mark.parametrize(
    "value",
    ["20 minutes", "", "-1 s", "-0.5", "1 h", "ms", "nan s", -1, math.nan, math.inf, True, None],
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration(value)  # type: ignore[arg-type]
    assert str(excinfo.value) == (
        "expected a duration such as '20 ms', '150 us' or '0.5 s' (a bare number is seconds), "
        f"got {value!r}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (3, 3), (3.0, 3), ("3", 3), (" 7 ", 7), ("1_000", 1000), ("0", 0)],
)
def test_parse_count(value: str | int | float, expected: int) -> None:
    result = parse_count(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    ["", "-1", "+1", "3.0", "1.5", "1__000", "_1", "three", "1e3", -1, -2.0, 1.5, math.nan,
     math.inf, True, False, None],
)  # fmt: skip
def test_parse_count_rejects(value: object) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_count(value)  # type: ignore[arg-type]
    assert str(excinfo.value) == (
        f"expected a non-negative whole number such as '3' or '1_000', got {value!r}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10%", 0.10), ("2.5 %", 0.025), ("0%", 0.0), (" 150% ", 1.5), (".5%", 0.005)],
)
def test_parse_percent(value: str, expected: float) -> None:
    assert parse_percent(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["10", "-10%", "%", "ten%", "10 KB%", "", 10, 0.1, None])
def test_parse_percent_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"got {value!r}")) as excinfo:
        parse_percent(value)  # type: ignore[arg-type]
    assert str(excinfo.value).startswith("expected a percentage such as '10%' or '2.5 %'")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1023.4, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (48 * 1024, "48.0 KiB"),
        (1.2 * 1024**2, "1.2 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (5000 * 1024**3, "5000.0 GiB"),
        (1024 * 1023.96, "1.0 MiB"),  # rounds up into the next unit, not "1024.0 KiB"
        (-1536, "-1.5 KiB"),
        (-512, "-512 B"),
        (-0.3, "0 B"),
    ],
)
def test_format_size(n: int | float, expected: str) -> None:
    assert format_size(n) == expected


@pytest.mark.parametrize("n", [0, 512, 1536, 49_152, 1_258_291, 3 * 1024**3])
def test_format_size_reads_back_within_rounding(n: int) -> None:
    assert parse_size(format_size(n)) == pytest.approx(n, rel=0.05)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0 us"),
        (850e-6, "850 us"),
        (0.0123, "12.3 ms"),
        (0.0009997, "1.0 ms"),  # rounds up into the next unit, not "1000 us"
        (0.99996, "1.00 s"),
        (1.25, "1.25 s"),
        (75, "75.00 s"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected
