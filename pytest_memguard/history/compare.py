"""Per-test comparison of two runs, gated by ``--memguard-compare-fail`` expressions.

An expression is comma-separated ``FIELD:THRESHOLD[:FLOOR]`` checks, e.g.
``retained:10%,peak:20%:1MiB,gc_pause:20ms``. A check fails a test when the field *grew*
from the baseline by more than the threshold: a percentage is relative to the baseline
value, anything else is an absolute growth in the field's unit (bytes, seconds or a
count). A percentage never fails on a change at or below its absolute floor (``FLOOR``,
else the field's default in :data:`FIELDS`): small figures jitter by whole pages,
entries or microseconds, and a relative threshold on them would fail unchanged code.
A change past a check the other way round is an *improvement*: listed, never failing.

A gate is only as good as its figures. Those marked ``stable`` in :data:`FIELDS` are
the same for unchanged code and are what a comparison shows by default: the growth per
run of a confirmed leak (measured on the repetitions, never on the screened first run,
which carries the session's warm-up) and the tracemalloc peak when tracing is on. RSS,
GC and timing figures are compared only when a check names them.

Tests only in one of the runs are listed as new or vanished, never as failures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_memguard.figures import FIGURE_UNITS, PARSERS, Figures, Unit
from pytest_memguard.record import TestRecord
from pytest_memguard.report.json import RecordLike, as_record
from pytest_memguard.units import (
    format_duration,
    format_size,
    parse_percent,
)


@dataclass(frozen=True)
class Field:
    """A comparable figure: the run figure it reads (:data:`~pytest_memguard.figures.FIGURES`,
    generations summed), the default floor of a relative check on it, and whether it is
    ``stable`` (the same for unchanged code, so compared by default)."""

    figure: str
    floor: float
    stable: bool
    help: str

    @property
    def unit(self) -> Unit:
        """The unit of its figure."""
        return FIGURE_UNITS[self.figure]


_KIB = 1024

#: Each comparable field; how a gate reads it is in :func:`gate_figure`.
FIELDS: Mapping[str, Field] = {
    "retained": Field("retained_bytes", 512, True, "bytes a confirmed leak adds per run"),
    "retained_objects": Field("retained_objects", 4, True, "objects a confirmed leak adds per run"),
    "retained_entries": Field(
        "container_growth", 4, True, "container entries a confirmed leak adds per run (untracked)"
    ),
    "peak": Field("traced_peak", _KIB * _KIB, True, "tracemalloc peak; measured only when tracing"),
    "rss_peak": Field("rss_peak", _KIB * _KIB, False, "resident memory peak above the start"),
    "rss_growth": Field("rss_growth", _KIB * _KIB, False, "resident memory growth over the test"),
    "gc_pause": Field("gc_pause_max", 0.005, False, "longest garbage collection"),
    "gc_collections": Field("gc_collections", 5, False, "garbage collections, all generations"),
    "duration": Field("duration", 0.1, False, "wall time of the guarded test"),
}

#: The fields a comparison shows when no check names any.
STABLE_FIELDS: tuple[str, ...] = tuple(name for name, spec in FIELDS.items() if spec.stable)

#: Verdicts of a test whose growth is a confirmed leak. An ``unconfirmed`` suspect is not
#: one: its growth is never a baseline for leaks, nor a regression.
LEAK_VERDICTS: tuple[str, ...] = ("leak", "known")

#: The leak fields: what a confirmed leak adds per run.
_PER_RUN: tuple[str, ...] = ("retained", "retained_objects", "retained_entries")

#: The leak fields a finding carries, and its key for each.
_BY_FINDING: Mapping[str, str] = {"retained": "bytes", "retained_objects": "count"}

_EXAMPLE = "e.g. retained:10%,peak:20%:1MiB,gc_pause:20ms,retained_objects:100"


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def figure(figures: Figures | None, field: str) -> float | None:
    """Return the value of comparable ``field`` in one run's figures, None when unmeasured.

    ``peak`` is the traced peak only (None without tracing; the RSS peak is
    ``rss_peak``); ``gc_collections`` sums the generations; the leak fields read the
    run's raw retained figures.
    """
    spec = FIELDS[field]
    return None if figures is None else _number(figures.value(spec.figure))


def per_run(record: TestRecord, field: str) -> float | None:
    """What a confirmed leak adds per run to a leak field (``retained``,
    ``retained_objects``, ``retained_entries``): the smallest growth over its repetitions,
    or its only run with ``repeat=0``; None (not measured) for an ``unconfirmed`` suspect,
    which the budget left: which suspects it leaves moves with the machine's speed, and a
    leak compared with one, or one with a leak, would fail or pass unchanged code; 0 for
    any other verdict."""
    if record.verdict == "unconfirmed":
        return None
    if record.verdict not in LEAK_VERDICTS:
        return 0
    runs = [figure(run, field) for run in record.repetitions] or [figure(record.delta, field)]
    measured = [value for value in runs if value is not None]
    return min(measured) if measured else None


def gate_figure(record: RecordLike, field: str) -> float | None:
    """The figure a gate compares: for the leak fields, :func:`per_run`, except when a
    thread ran during the test (one it leaked, or one another test left): bytes and
    objects are then those of its own findings, without the thread and what it
    allocated (:func:`pytest_memguard.history.known.own_findings`). The
    peak is the lowest of the record's runs. For the other fields, :func:`figure` of the
    record's delta.
    """
    record = as_record(record)
    if field == "peak":
        # A test's first run may be the session's first use of a fixture or a lazy import
        # (which test that is moves with the order); a repetition is a warm run.
        peaks = [figure(run, field) for run in (record.delta, *record.repetitions)]
        return min((peak for peak in peaks if peak is not None), default=None)
    if field not in _PER_RUN:
        return figure(record.delta, field)
    # Only gates read it: the terminal summary, which reads figures here, must not load
    # the known-leak machinery into a session that has no use for it.
    from pytest_memguard.history.known import names_a_thread, own_findings

    if field in _BY_FINDING and record.verdict in LEAK_VERDICTS and names_a_thread(record):
        # A thread ran during the repetitions: what they retained moves with its timing.
        # Its own findings, without the thread and what it allocated, do not.
        own = [found for found in own_findings(record) if found.kind != "thread"]
        return sum(_number(getattr(found, _BY_FINDING[field])) or 0 for found in own)
    return per_run(record, field)


def format_value(field: str, value: float | None) -> str:
    """Format a value of ``field`` in its unit (``-`` for None)."""
    if value is None:
        return "-"
    unit = FIELDS[field].unit
    if unit == "bytes":
        return format_size(value)
    if unit == "seconds":
        return format_duration(value)
    return f"{value:g}"


@dataclass(frozen=True)
class Check:
    """One ``FIELD:THRESHOLD[:FLOOR]`` part of a compare-fail expression.

    ``threshold`` is a fraction when ``percent`` (``10%`` is 0.1), else an absolute
    change in the field's unit. ``floor`` is the absolute change at or below which a
    percentage never fails. ``text`` is the part as written.
    """

    field: str
    threshold: float
    percent: bool
    text: str
    floor: float = 0.0

    def _exceeds(self, base: float, change: float) -> bool:
        if not self.percent:
            return change > self.threshold
        return change > self.floor and (base == 0 or change / abs(base) > self.threshold)

    def _by(self, base: float, change: float) -> str:
        if self.percent:
            return f"{change / abs(base):+.1%}" if base else "from 0"
        return format_value(self.field, abs(change))

    def fails(self, base: float, current: float) -> str | None:
        """Return why ``current`` is a regression from ``base``, or None when it is not."""
        change = current - base
        if change <= 0 or not self._exceeds(base, change):
            return None
        return f"{self.text}: grew {self._by(base, change)}"

    def improves(self, base: float, current: float) -> str | None:
        """Return how ``current`` improved on ``base`` past this check, or None."""
        change = base - current
        if change <= 0 or not self._exceeds(base, change):
            return None
        return f"{self.text}: shrank {self._by(base, -change)}"


def _bad(part: str, reason: str) -> ValueError:
    return ValueError(
        f"bad compare expression {part!r}: {reason}; valid fields: {', '.join(FIELDS)} ({_EXAMPLE})"
    )


def _check(part: str) -> Check:
    field, sep, rest = (piece.strip() for piece in part.partition(":"))
    value, floor_sep, floor_text = (piece.strip() for piece in rest.partition(":"))
    if not sep or not value:
        raise _bad(part, "expected FIELD:THRESHOLD")
    if field not in FIELDS:
        raise _bad(part, f"unknown field {field!r}")
    parse = PARSERS[FIELDS[field].unit]
    try:
        if not value.endswith("%"):
            if floor_sep:
                raise ValueError("a floor applies to a percentage only, such as retained:10%:1KiB")
            return Check(field, parse(value), False, part)
        floor = parse(floor_text) if floor_sep else FIELDS[field].floor
        return Check(field, parse_percent(value), True, part, floor)
    except ValueError as exc:
        raise _bad(part, str(exc)) from None


def parse_checks(expression: str) -> tuple[Check, ...]:
    """Parse a ``--memguard-compare-fail`` expression into checks.

    Raises ``ValueError`` naming the bad part and the valid fields.
    """
    if not expression.strip():
        raise _bad(expression, "empty expression")
    checks = []
    for raw in expression.split(","):
        part = raw.strip()
        if not part:
            raise _bad(expression, "empty part between commas")
        checks.append(_check(part))
    return tuple(checks)


@dataclass(frozen=True)
class Row:
    """One field of one test in both runs, and the checks it failed or improved on."""

    nodeid: str
    field: str
    base: float | None
    current: float | None
    failed_by: str | None = None
    improved_by: str | None = None

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

    @property
    def improvements(self) -> tuple[Row, ...]:
        """Rows that improved past a check."""
        return tuple(row for row in self.rows if row.improved_by)


def _judge(checks: Sequence[Check], row: Row) -> Row:
    if row.base is None or row.current is None:
        return row
    mine = [check for check in checks if check.field == row.field]
    worse = [m for check in mine if (m := check.fails(row.base, row.current))]
    better = [m for check in mine if (m := check.improves(row.base, row.current))]
    return Row(
        row.nodeid,
        row.field,
        row.base,
        row.current,
        "; ".join(worse) or None,
        "; ".join(better) or None,
    )


def compare_runs(
    base: Sequence[RecordLike],
    current: Sequence[RecordLike],
    checks: Sequence[Check] = (),
    *,
    fields: Sequence[str] | None = None,
) -> Comparison:
    """Compare each test present in both runs, field by field, on :func:`gate_figure`.

    The rows cover ``fields``, by default the fields of ``checks``, or the stable
    fields when there are no checks.
    """
    unknown = [field for field in fields or () if field not in FIELDS]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; valid fields: {', '.join(FIELDS)}")
    shown = list(dict.fromkeys(fields or [check.field for check in checks] or STABLE_FIELDS))
    base_records = {rec.nodeid: rec for rec in map(as_record, base)}
    current_records = {rec.nodeid: rec for rec in map(as_record, current)}
    rows = [
        _judge(
            checks,
            Row(
                nodeid,
                field,
                gate_figure(base_records[nodeid], field),
                gate_figure(record, field),
            ),
        )
        for nodeid, record in current_records.items()
        if nodeid in base_records
        for field in shown
    ]
    return Comparison(
        rows=tuple(rows),
        new=tuple(nodeid for nodeid in current_records if nodeid not in base_records),
        vanished=tuple(nodeid for nodeid in base_records if nodeid not in current_records),
        checks=tuple(checks),
    )


def fit(text: str, width: int) -> str:
    """Shorten ``text`` to ``width`` characters, keeping its start."""
    if len(text) <= width:
        return text
    return text[: width - 3] + "..." if width > 3 else text[:width]


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


def _status(row: Row) -> str:
    return "worse" if row.failed_by else "better" if row.improved_by else ""


def render_comparison(comparison: Comparison) -> list[str]:
    """Render the changed rows, regressions first, then improvements, then the other
    changes, and the new and vanished tests.

    Each row ends with its full test id (never cut); a regression or improvement is
    followed by the checks it failed or improved on. Unchanged rows are counted.
    """
    tests = len({row.nodeid for row in comparison.rows})
    lines = [
        f"{tests} tests in both runs, {len(comparison.regressions)} regressions, "
        f"{len(comparison.improvements)} improvements, {len(comparison.new)} new, "
        f"{len(comparison.vanished)} vanished"
    ]
    changed = [row for row in comparison.rows if row.failed_by or row.improved_by or row.change]
    changed.sort(
        key=lambda row: (row.failed_by is None, row.improved_by is None, -abs(row.relative or 0))
    )
    if changed:
        lines.append(f"{'':<6} {'field':<16} {'base':>10} {'current':>10} {'change':>18}  test")
        for row in changed:
            lines.append(
                f"{_status(row):<6} {row.field:<16} {format_value(row.field, row.base):>10} "
                f"{format_value(row.field, row.current):>10} {_change_text(row):>18}  "
                f"{row.nodeid}"
            )
            if row.failed_by or row.improved_by:
                lines.append(f"       {row.failed_by or row.improved_by}")
    unchanged = len(comparison.rows) - len(changed)
    if unchanged:
        lines.append(f"{unchanged} unchanged figures not shown")
    for title, nodeids in (("new", comparison.new), ("vanished", comparison.vanished)):
        if nodeids:
            lines.append(f"{title} tests (not compared):")
            lines.extend(f"  {nodeid}" for nodeid in nodeids)
    return lines
