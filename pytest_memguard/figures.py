"""The names of what pytest-memguard measures and limits, and the figures of one run.

:data:`NAMES` is the one table of them: each figure a guarded run measures (the keys of
a record's ``delta`` and ``repetitions``) and each limit a test is checked against (the
marker arguments, ``Limits`` fields and the keys of a record's ``limits``), with its
unit and label. The record, the comparison, the history, the reports, the JSON schema
and the configuration read it rather than lists of their own.

:class:`Figures` is what one run measured, typed; it becomes a dict only at the
boundaries (the report attribute, the JSON report, SQLite).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

from pytest_memguard.shallow import shallow_dict
from pytest_memguard.units import parse_count, parse_duration, parse_size

#: ``bytes``, ``count``, ``seconds``, or ``gens`` (a count per GC generation).
Unit = Literal["bytes", "count", "seconds", "gens"]


class Name(NamedTuple):
    """A figure or a limit: its key, unit and label, and whether it is a limit."""

    name: str
    unit: Unit
    label: str
    limit: bool = False


NAMES: tuple[Name, ...] = (
    Name("retained_bytes", "bytes", "Retained"),
    Name("retained_objects", "count", "Retained objects"),
    Name("pytest_held", "count", "Held by pytest or fixtures"),
    Name("container_growth", "count", "Container growth"),
    Name("rss_growth", "bytes", "RSS growth"),
    Name("rss_peak", "bytes", "RSS peak"),
    Name("traced_growth", "bytes", "Traced growth"),
    Name("traced_peak", "bytes", "Traced peak"),
    Name("gc_collections", "gens", "GC collections (gen 0 / 1 / 2)"),
    Name("gc_collected", "count", "Objects freed by the GC"),
    Name("gc_pause_max", "seconds", "Longest GC pause"),
    Name("gc_pause_total", "seconds", "GC pauses in all"),
    Name("uncollectable", "count", "Uncollectable"),
    Name("duration", "seconds", "Duration"),
    Name("retained", "bytes", "Retained", limit=True),
    Name("retained_objects", "count", "Retained objects", limit=True),
    Name("peak", "bytes", "Peak", limit=True),
    Name("rss_growth", "bytes", "RSS growth", limit=True),
    Name("gc_pause", "seconds", "GC pause", limit=True),
    Name("gc_collections", "count", "GC collections", limit=True),
    Name("repeat", "count", "Repetitions", limit=True),
)

#: The figures of one run, in the order the reports show them.
FIGURES: tuple[Name, ...] = tuple(name for name in NAMES if not name.limit)
#: The limits, in the order of a record's ``limits``.
LIMITS: tuple[Name, ...] = tuple(name for name in NAMES if name.limit)

#: How a value written by a user is read in each unit (a generation count is a count).
PARSERS: Mapping[Unit, Callable[[Any], int | float]] = {
    "bytes": parse_size,
    "count": parse_count,
    "gens": parse_count,
    "seconds": parse_duration,
}

#: The unit of each figure, by name.
FIGURE_UNITS: Mapping[str, Unit] = {name.name: name.unit for name in FIGURES}


@dataclass(frozen=True)
class Figures:
    """What one guarded run measured; :data:`FIGURES` lists the same names.

    ``retained_objects`` and ``retained_bytes`` are the objects the test created and
    left alive (attributed to it) and their shallow size; ``pytest_held`` the survivors
    pytest or wider-scoped fixtures hold (not counted); ``container_growth`` the entries
    added to watched module-level containers; ``rss_growth`` and ``rss_peak`` the
    resident set size after minus before and its peak above the start (None when not
    measured); ``traced_growth`` and ``traced_peak`` the same from tracemalloc (None when
    not tracing); ``gc_collections`` the collections per generation, ``gc_collected`` the
    objects they freed, ``gc_pause_max`` and ``gc_pause_total`` their longest and total
    pause in seconds; ``uncollectable`` the growth of ``gc.garbage``; ``duration`` the
    wall time of the guarded window, seconds.
    """

    retained_objects: int = 0
    retained_bytes: int = 0
    pytest_held: int = 0
    container_growth: int = 0
    rss_growth: int = 0
    rss_peak: int | None = None
    traced_growth: int | None = None
    traced_peak: int | None = None
    gc_collections: tuple[int, ...] = (0, 0, 0)
    gc_collected: int = 0
    gc_pause_max: float = 0.0
    gc_pause_total: float = 0.0
    uncollectable: int = 0
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The figures as the JSON-safe dict of a record's ``delta``."""
        # In the order of the fields, which is that of the JSON report's ``delta``.
        return shallow_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figures | None:
        """The figures of a ``delta`` dict; None for an empty one (a run not measured).
        Keys this version does not know are ignored."""
        if not data:
            return None
        known = {spec.name: data[spec.name] for spec in fields(cls) if spec.name in data}
        if "gc_collections" in known:
            known["gc_collections"] = tuple(known["gc_collections"])
        return cls(**known)

    def value(self, name: str) -> float | None:
        """The figure ``name`` as one number (the generations summed), None when not
        measured."""
        value = getattr(self, name)
        return sum(value) if isinstance(value, tuple) else value


def figures_dict(figures: Figures | None) -> dict[str, Any]:
    """A run's figures as a ``delta`` dict: empty when the run was not measured."""
    return {} if figures is None else figures.to_dict()
