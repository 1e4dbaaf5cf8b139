"""The ``memguard`` fixture: measure a block inside a test, or take a snapshot."""

from __future__ import annotations

import gc
import itertools
import tracemalloc
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_memguard.config import parse_limit
from pytest_memguard.explain.owners import class_name
from pytest_memguard.screen.containers import ContainerWatch, Growth
from pytest_memguard.screen.heap import (
    HeapSnapshot,
    RssProbe,
    YoungHeap,
    excluding,
    shallow_bytes,
    take_snapshot,
)
from pytest_memguard.units import format_limit, format_size

_WATCH_LIMITS = ("retained", "retained_objects", "rss_growth", "peak")


@dataclass
class Watch:
    """What a ``memguard.watch()`` block left behind; filled when the block ends."""

    retained_objects: int = 0
    retained_bytes: int = 0
    rss_growth: int = 0
    peak: int | None = None
    types: dict[str, int] = field(default_factory=dict)
    #: Entries the block added to the project's module-level containers; those that
    #: are untracked objects (a ``str``, a dict of plain values) count in the figures
    #: above too, since the young heap cannot see them.
    container_growth: int = 0


def _new_entries(growth: Sequence[Growth]) -> list[object]:
    """The entries a container's growth added, where its order says which: the last items
    of a list or deque, the last values of a dict (insertion order)."""
    entries: list[object] = []
    for grown in growth:
        container = grown.container
        if isinstance(container, dict):
            entries.extend(itertools.islice(reversed(container.values()), grown.added))
        elif isinstance(container, (list, deque)):
            entries.extend(itertools.islice(reversed(container), grown.added))
    return entries


#: An object a test declared must be collected, with how to name it in a failure.
Expected = tuple["weakref.ref[Any]", str]


class MemguardFixture:
    """Measure memory inside a test: ``with memguard.watch(retained="1 KiB") as w: ...``."""

    def __init__(
        self,
        rss: RssProbe,
        outer: YoungHeap | None,
        expected: list[Expected] | None = None,
        containers: ContainerWatch | None = None,
    ) -> None:
        self._rss = rss
        self._outer = outer
        self._expected = [] if expected is None else expected
        self._containers = containers

    def assert_collected(self, *objects: object) -> None:
        """Declare that ``objects`` must be gone once the test's teardown is over.

        Checked after teardown and a collection; one still alive fails the test with
        its retainer chain. Objects that cannot be weak-referenced (``list``, ``dict``,
        ``int``...) are refused: wrap them, or check the object that owns them.
        """
        for obj in objects:
            try:
                reference = weakref.ref(obj)
            except TypeError:
                pytest.fail(
                    f"memguard.assert_collected(): a {type(obj).__name__} cannot be "
                    "weak-referenced, so its collection cannot be observed; pass the object "
                    "that owns it instead",
                    pytrace=False,
                )
            self._expected.append((reference, f"{type(obj).__qualname__} object"))

    def snapshot(self) -> HeapSnapshot:
        """The process's figures now: RSS, ``gc.garbage`` and traced memory when tracing."""
        return take_snapshot(self._rss)

    @contextmanager
    def watch(self, **limits: Any) -> Iterator[Watch]:
        """Count the objects the block leaves alive; fail the test past ``limits``.

        Objects are the young container objects still alive, and the untracked objects
        (``str``, ``bytes``, a dict of plain values) the block added to the project's
        module-level containers, which the young heap cannot see. Limits: ``retained``
        and ``rss_growth`` (sizes), ``retained_objects`` (a count), ``peak`` (a size;
        turns tracemalloc on for the block).
        """
        checked = _parse_limits(limits)
        result = Watch()
        tracing = "peak" in checked and not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        nested = self._outer is not None and self._outer.is_open
        before = self.snapshot()
        known = set(map(id, gc.get_objects())) if nested else set()
        if self._containers is not None:
            self._containers.refresh()
            sizes = self._containers.sizes()
        if not nested:
            gc.freeze()
        try:
            yield result
            gc.collect()
            survivors = excluding(gc.get_objects(), known)
        finally:
            if not nested:
                gc.unfreeze()
            if tracemalloc.is_tracing():
                result.peak = max(tracemalloc.get_traced_memory()[1] - (before.traced or 0), 0)
            if tracing:
                tracemalloc.stop()
        ours = {id(known), id(result), id(before), id(result.types)}
        retained = excluding(survivors, ours)
        if self._containers is not None:
            growth = self._containers.growth(sizes)
            result.container_growth = sum(grown.added for grown in growth)
            # Tracked entries are survivors already; the others only the growth shows.
            untracked = {id(obj): obj for obj in _new_entries(growth) if not gc.is_tracked(obj)}
            retained += untracked.values()
        result.retained_objects = len(retained)
        result.retained_bytes = shallow_bytes(retained)
        result.rss_growth = self._rss.rss() - before.rss
        for obj in retained:
            name = class_name(type(obj), "__qualname__")
            result.types[name] = result.types.get(name, 0) + 1
        _check(result, checked)


def _parse_limits(limits: dict[str, Any]) -> dict[str, int]:
    parsed = {}
    for key, value in limits.items():
        if key not in _WATCH_LIMITS:
            pytest.fail(
                f"memguard.watch(): unknown limit {key!r}; valid: {', '.join(_WATCH_LIMITS)}",
                pytrace=False,
            )
        try:
            limit = parse_limit(key, value)
        except ValueError as exc:
            pytest.fail(f"memguard.watch(): {exc}", pytrace=False)
        if limit is not None:
            parsed[key] = int(limit)
    return parsed


def _check(result: Watch, limits: dict[str, int]) -> None:
    figures = {
        "retained": result.retained_bytes,
        "retained_objects": result.retained_objects,
        "rss_growth": result.rss_growth,
        "peak": result.peak or 0,
    }
    broken = [
        f"{key} {_show(key, figures[key])} over the limit "
        f"{limit if key == 'retained_objects' else format_limit(limit)}"
        for key, limit in limits.items()
        if figures[key] > limit
    ]
    if broken:
        types = ", ".join(f"{name} x {count}" for name, count in sorted(result.types.items()))
        detail = f" (retained: {types})" if types else ""
        pytest.fail("memguard.watch(): " + "; ".join(broken) + detail, pytrace=False)


def _show(key: str, value: int) -> str:
    return str(value) if key == "retained_objects" else format_size(value)


def still_alive(expected: list[Expected]) -> str | None:
    """The failure text for declared objects still alive after a collection, or None.

    Call it with the heap unfrozen: the chains need to see every referrer.
    """
    if all(reference() is None for reference, _ in expected):
        return None
    gc.collect()
    alive = [(obj, name) for reference, name in expected if (obj := reference()) is not None]
    if not alive:
        return None
    from pytest_memguard.explain.explainer import explain

    lines = ["memguard: objects expected to be collected are still alive after teardown:"]
    for obj, name in alive:
        findings = explain([obj], chains=1)
        chain = findings[0].chain_text if findings and findings[0].retainer_chain else ""
        lines.append(f"  {name}, held by {chain or 'an unnamed holder'}")
    del alive
    return "\n".join(lines)
