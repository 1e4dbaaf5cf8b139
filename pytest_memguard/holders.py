"""Who holds a survivor: telling pytest's own bookkeeping apart from a test's leak.

pytest keeps objects per test (reports, captured warnings, the traceback of a failed
test in ``sys.last_*``, the item's caches, the setup stack of higher-scoped nodes) and
fixtures of a wider scope keep their values past the test. Young objects reachable
from those holders are not the test's: they are discounted by *what holds them*, not
by a fixed count.
"""

from __future__ import annotations

import collections
import gc
import sys
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

_CONTAINERS = (list, tuple, set, frozenset, collections.deque)
_RECORDS = (warnings.WarningMessage, pytest.TestReport, pytest.CollectReport)
_SYS_EXCEPTION_SLOTS = ("last_exc", "last_value", "last_traceback", "last_type")


def values_and_items(mapping: Mapping[str, object]) -> Iterator[object]:
    """The values of ``mapping`` (attributes, a frame's locals), and the items of those
    that are plain containers."""
    for value in list(mapping.values()):
        yield value
        if isinstance(value, dict):
            yield from list(value.values())
        elif isinstance(value, _CONTAINERS):
            yield from list(value)


def _values_and_items(obj: object) -> Iterator[object]:
    """``obj``'s attribute dict and :func:`values_and_items` of it."""
    try:
        attributes = vars(obj)
    except TypeError:
        return
    yield attributes  # on 3.11+ materialized lazily, maybe inside the window: young itself
    yield from values_and_items(attributes)


def _stash_values(node: pytest.Item) -> Iterator[object]:
    # pytest offers no public way to iterate a Stash; read its storage if it is there.
    storage = getattr(node.stash, "_storage", None)
    if isinstance(storage, dict):
        yield from list(storage.values())


@dataclass
class FixtureLedger:
    """Fixture definitions executed while a window was open."""

    fixturedefs: list[Any] = field(default_factory=list)

    def record(self, fixturedef: Any) -> None:
        self.fixturedefs.append(fixturedef)

    def clear(self) -> None:
        self.fixturedefs.clear()

    def wider_scoped(self) -> Iterator[Any]:
        for fixturedef in self.fixturedefs:
            if getattr(fixturedef, "scope", "function") != "function":
                yield fixturedef


def fixture_labels(ledger: FixtureLedger) -> dict[int, str]:
    """``id(value) -> "fixture 'db' (session)"`` for wider-scoped fixture values."""
    labels: dict[int, str] = {}
    for fixturedef in ledger.wider_scoped():
        cached = getattr(fixturedef, "cached_result", None)
        if cached:
            labels[id(cached[0])] = f"fixture {fixturedef.argname!r} ({fixturedef.scope})"
    return labels


def cheap_seeds(held_by_us: list[Any]) -> Iterator[object]:
    """Holders that cost nothing to name: the run's reports (and whatever else the plugin
    itself keeps across runs of one window), and ``sys.last_*``."""
    yield held_by_us
    for held in held_by_us:
        yield held
        if isinstance(held, (list, tuple)):
            yield from held
    for slot in _SYS_EXCEPTION_SLOTS:
        exception = getattr(sys, slot, None)
        if exception is not None:
            yield exception


def thorough_seeds(
    item: pytest.Item, ledger: FixtureLedger, young: Iterable[object]
) -> Iterator[object]:
    """The other holders pytest keeps per test; walked only when cheap seeds leave survivors."""
    yield from _values_and_items(item)
    yield from _stash_values(item)
    setup_stack = getattr(getattr(item.session, "_setupstate", None), "stack", None)
    if isinstance(setup_stack, dict):
        yield from list(setup_stack.values())
    fixture_info = getattr(item, "_fixtureinfo", None)
    name2fixturedefs = getattr(fixture_info, "name2fixturedefs", {}) or {}
    for fixturedefs in list(name2fixturedefs.values()):
        for fixturedef in fixturedefs:
            yield from _values_and_items(fixturedef)
    for fixturedef in ledger.wider_scoped():
        yield from _values_and_items(fixturedef)
    # Warnings the test emitted are recorded by pytest's catch_warnings for the report,
    # and reports logged during the run (pytest 9's subtests) are kept by pytest.
    yield from (obj for obj in young if isinstance(obj, _RECORDS))


def _is_instance_with_state(value: object) -> bool:
    if isinstance(value, (type, types.ModuleType, types.FunctionType, types.MethodType)):
        return False
    return isinstance(getattr(value, "__dict__", None), dict)


class PluginState:
    """The attribute dicts of pytest's plugin objects, as holders of per-test objects.

    Plugins keep session-lived objects that swap in fresh per-test state (the logging
    plugin's capture handlers reset their records list and stream every phase). Those
    young objects are pytest's. Walking every plugin's state per test would cost too
    much, so the dicts that ever held a survivor are remembered and checked first; the
    full walk runs only when survivors remain after every cheaper holder.
    """

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._active: list[dict[str, Any]] = []
        self._active_ids: set[int] = set()

    def _candidate_dicts(self) -> Iterator[dict[str, Any]]:
        roots: list[object] = [self._config, getattr(self._config, "_store", None)]
        roots.extend(
            plugin
            for plugin in self._config.pluginmanager.get_plugins()
            if _is_instance_with_state(plugin)
        )
        seen: set[int] = set()
        for root in roots:
            if root is None or not _is_instance_with_state(root):
                continue
            for owner in [root, *vars(root).values()]:
                if id(owner) in seen or not _is_instance_with_state(owner):
                    continue
                seen.add(id(owner))
                yield vars(owner)

    def known_seeds(self) -> list[object]:
        """Values of the plugin dicts that held survivors before: cheap to read."""
        return gc.get_referents(*self._active) if self._active else []

    def learn(self, remaining: set[int]) -> Iterator[object]:
        """Walk every plugin dict; remember those holding any of ``remaining``."""
        for state in self._candidate_dicts():
            values = list(state.values())
            if any(id(value) in remaining for value in values):
                if id(state) not in self._active_ids:
                    self._active_ids.add(id(state))
                    self._active.append(state)
                yield from values
