"""Per-test comparison of two runs, gated by ``--memguard-compare-fail`` expressions.

An expression is comma-separated ``FIELD:THRESHOLD`` checks, e.g.
``retained:10%,peak:5MiB,gc_pause:20ms,retained_objects:100``. A check fails a test when
the field *grew* from the baseline by more than the threshold: a percentage is relative
to the baseline value, anything else is an absolute growth in the field's unit (bytes,
seconds or a count). Any growth from a baseline of zero exceeds every percentage.

Tests only in one of the runs are listed as new or vanished, never as failures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_memguard.report.json import RecordLike, as_record
from pytest_memguard.units import (
    format_duration,
    format_size,
    parse_count,
    parse_duration,
    parse_percent,
    parse_size,
)

Unit = Literal["size", "count", "duration"]

#: Each comparable field and its unit; the delta figure behind it is in :func:`figure`.
FIELDS: Mapping[str, Unit] = {
    "retained": "size",
    "retained_objects": "count",
    "peak": "size",
    "rss_growth": "size",
    "gc_pause": "duration",
    "gc_collections": "count",
    "duration": "duration",
}

_PARSERS: Mapping[Unit, Callable[[str], float]] = {
    "size": parse_size,
    "count": parse_count,
    "duration": parse_duration,
}

_EXAMPLE = "e.g. retained:10%,peak:5MiB,gc_pause:20ms,retained_objects:100"


def figure(delta: Mapping[str, Any], field: str) -> float | None:
    """Return the value of comparable ``field`` in a record's ``delta``, None when unmeasured.

    ``peak`` is the traced peak when tracemalloc ran, else the RSS peak;
    ``gc_collections`` sums the generations.
    """
    if field not in FIELDS:
        raise KeyError(field)
    value: Any
    if field == "retained":
        value = delta.get("retained_bytes")
    elif field == "peak":
        value = delta.get("traced_peak")
        if value is None:
            value = delta.get("rss_peak")
    elif field == "gc_pause":
        value = delta.get("gc_pause_max")
    elif field == "gc_collections":
        counts = delta.get("gc_collections")
        value = sum(counts) if counts is not None else None
    else:
        value = delta.get(field)
    return value if isinstance(value, (int, float)) else None


def format_value(field: str, value: float | None) -> str:
    """Format a value of ``field`` in its unit (``-`` for None)."""
    if value is None:
        return "-"
    unit = FIELDS[field]
    if unit == "size":
        return format_size(value)
    if unit == "duration":
        return format_duration(value)
    return f"{value:g}"


@dataclass(frozen=True)
class Check:
    """One ``FIELD:THRESHOLD`` part of a compare-fail expression.

    ``threshold`` is a fraction when ``percent`` (``10%`` is 0.1), else an absolute
    growth in the field's unit. ``text`` is the part as written.
    """

    field: str
    threshold: float
    percent: bool
    text: str

    def fails(self, base: float, current: float) -> str | None:
        """Return why ``current`` is a regression from ``base``, or None when it is not."""
        change = current - base
        if change <= 0:
            return None
        if self.percent:
            if base != 0 and change / abs(base) <= self.threshold:
                return None
            grew = f"{change / abs(base):+.1%}" if base != 0 else "from 0"
            return f"{self.text}: grew {grew}"
        if change <= self.threshold:
            return None
        return f"{self.text}: grew {format_value(self.field, change)}"


def _bad(part: str, reason: str) -> ValueError:
    return ValueError(
        f"bad compare expression {part!r}: {reason}; valid fields: {', '.join(FIELDS)} ({_EXAMPLE})"
    )


def parse_checks(expression: str) -> tuple[Check, ...]:
    """Parse a ``--memguard-compare-fail`` expression into checks.

    Raises ``ValueError`` naming the bad part and the valid fields.
    """
    if not expression.strip():
        raise _bad(expression, "empty expression")
    checks = []
    for raw in expression.split(","):
        part = raw.strip()
        field, sep, value = (piece.strip() for piece in part.partition(":"))
        if not part:
            raise _bad(expression, "empty part between commas")
        if not sep or not value:
            raise _bad(part, "expected FIELD:THRESHOLD")
        if field not in FIELDS:
            raise _bad(part, f"unknown field {field!r}")
        try:
            if value.endswith("%"):
                checks.append(Check(field, parse_percent(value), True, part))
            else:
                checks.append(Check(field, _PARSERS[FIELDS[field]](value), False, part))
        except ValueError as exc:
            raise _bad(part, str(exc)) from None
    return tuple(checks)


@dataclass(frozen=True)
class Row:
    """One field of one test in both runs. ``failed_by`` says which checks it failed."""

    nodeid: str
    field: str
    base: float | None
    current: float | None
    failed_by: str | None = None

    @property
    def change(self) -> float | None:
        """``current - base``, None when either is unmeasured."""
        if self.base is None or self.current is None:
            return None
        return self.current - self.base

    @property
    def relative(self) -> float | None:
        """The change as a fraction of the baseline, None when undefined."""
        change = self.change
        if change is None or not self.base:
            return None
        return change / abs(self.base)


@dataclass(frozen=True)
class Comparison:
    """The per-test comparison of a current run against a baseline."""

    rows: tuple[Row, ...]
    new: tuple[str, ...]
    vanished: tuple[str, ...]
    checks: tuple[Check, ...] = ()

    @property
    def regressions(self) -> tuple[Row, ...]:
        """Rows that failed a check."""
        return tuple(row for row in self.rows if row.failed_by)


def compare_runs(
    base: Sequence[RecordLike],
    current: Sequence[RecordLike],
    checks: Sequence[Check] = (),
    *,
    fields: Sequence[str] | None = None,
) -> Comparison:
    """Compare each test present in both runs, field by field.

    The rows cover ``fields``, by default the fields of ``checks``, or every field when
    there are no checks.
    """
    unknown = [field for field in fields or () if field not in FIELDS]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; valid fields: {', '.join(FIELDS)}")
    shown = list(dict.fromkeys(fields or [check.field for check in checks] or FIELDS))
    base_deltas = {rec.nodeid: rec.delta for rec in map(as_record, base)}
    current_deltas = {rec.nodeid: rec.delta for rec in map(as_record, current)}
    rows = []
    for nodeid, delta in current_deltas.items():
        if nodeid not in base_deltas:
            continue
        for field in shown:
            before = figure(base_deltas[nodeid], field)
            after = figure(delta, field)
            failures = []
            if before is not None and after is not None:
                for check in checks:
                    message = check.fails(before, after) if check.field == field else None
                    if message:
                        failures.append(message)
            rows.append(Row(nodeid, field, before, after, "; ".join(failures) or None))
    return Comparison(
        rows=tuple(rows),
        new=tuple(nodeid for nodeid in current_deltas if nodeid not in base_deltas),
        vanished=tuple(nodeid for nodeid in base_deltas if nodeid not in current_deltas),
        checks=tuple(checks),
    )


def fit(text: str, width: int) -> str:
    """Shorten ``text`` to ``width`` characters, keeping its end (a test's name)."""
    if len(text) <= width:
        return text
    return "..." + text[len(text) - width + 3 :] if width > 3 else text[:width]


def _change_text(row: Row) -> str:
    change = row.change
    if change is None:
        return "-"
    text = format_value(row.field, change)
    if change > 0:
        text = "+" + text
    relative = row.relative
    if relative is None or not change:
        return text
    # Past +999 % a ratio reads better and keeps the column narrow.
    return f"{text} ({relative + 1:.0f}x)" if relative >= 10 else f"{text} ({relative:+.0%})"


def render_comparison(comparison: Comparison, width: int = 80) -> list[str]:
    """Render the changed rows, regressions first, then the new and vanished tests.

    Regressions are marked ``!`` and followed by the checks they failed; unchanged rows
    are counted, not listed.
    """
    tests = len({row.nodeid for row in comparison.rows})
    regressions = comparison.regressions
    lines = [
        f"{tests} tests in both runs, {len(regressions)} regressions, "
        f"{len(comparison.new)} new, {len(comparison.vanished)} vanished"
    ]
    changed = [row for row in comparison.rows if row.failed_by or row.change]
    changed.sort(key=lambda row: (row.failed_by is None, -(row.relative or 0.0)))
    if changed:
        field_w, value_w, change_w = 16, 10, 20
        test_w = max(12, width - (2 + field_w + 2 * value_w + change_w + 4))
        lines.append(
            f"  {'test':<{test_w}} {'field':<{field_w}} {'base':>{value_w}} "
            f"{'current':>{value_w}} {'change':>{change_w}}"
        )
        for row in changed:
            mark = "!" if row.failed_by else " "
            lines.append(
                f"{mark} {fit(row.nodeid, test_w):<{test_w}} {row.field:<{field_w}} "
                f"{format_value(row.field, row.base):>{value_w}} "
                f"{format_value(row.field, row.current):>{value_w}} "
                f"{fit(_change_text(row), change_w):>{change_w}}"
            )
            if row.failed_by:
                lines.append(f"    {fit(row.failed_by, width - 4)}")
    unchanged = len(comparison.rows) - len(changed)
    if unchanged:
        lines.append(f"{unchanged} unchanged figures not shown")
    for title, nodeids in (("new", comparison.new), ("vanished", comparison.vanished)):
        if nodeids:
            lines.append(f"{title} tests (not compared):")
            lines.extend(f"  {fit(nodeid, width - 2)}" for nodeid in nodeids)
    return lines
