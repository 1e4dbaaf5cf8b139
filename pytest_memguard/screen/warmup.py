"""Warm-up before the first window: fill what CPython and the plugin fill on first use.

Without it the first guarded test of every process shows survivors that are nobody's
leak, and its verdict depends on which test runs first (serial and ``-n 2`` differ).
Like CPython's refleak runner (``Lib/test/libregrtest/refleak.py``), which runs a
test before counting so caches are filled, this runs once, outside any window:

* the plugin's own screen, dry: the container scan (which materialises the lazily
  made ``__dict__`` of module-level objects on 3.11+), a sweep, and every sentinel's
  snapshot and check (which install their wrappers and filters);
* the ABC caches of the runner's own class hierarchies: pytest asks
  ``isinstance(node, SomeNodeClass)`` of its nodes and requests, and each first
  answer adds a weak reference to a cache set of the ABC (``_abc_impl``);
* every collected item's ``location``, which pytest computes when it reports the
  test and caches per file on the session (the first test of each file would
  otherwise add the file's path to that cache inside its window);
* each logger's level cache (``Logger._cache``, filled by the first record of each
  level a logger is asked about: the first ``logger.error`` of a library);
* the thread's repr state: the first ``repr()`` of a non-empty list or dict in a thread
  (``Py_ReprEnter``) stores a list in the thread state's dict, which the collector then
  tracks: a young dict and list in whichever test reprs a container first;
* the GC tracking of the plugins' empty dicts. CPython leaves a dict holding only
  atomic values untracked, and ``gc.freeze()`` moves only tracked objects to the
  old heap; the first object a plugin stores in such a dict during a test (flaky's
  per-item ``_call_infos``) tracks it in the young generation, where it shows as a
  survivor although it is older than the window. Once tracked and moved to the
  oldest generation by a window, it stays tracked (only generation-1 collections
  untrack dicts).
"""

from __future__ import annotations

import abc
import contextlib
import gc
import logging
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pytest

from pytest_memguard.screen.containers import ContainerWatch
from pytest_memguard.screen.heap import with_subclasses

Sentinels = tuple[Callable[[], Any], Callable[[Any], list[Any]]]


def schedule_warm_up(
    config: pytest.Config, containers: ContainerWatch, sentinels: Sentinels | None
) -> None:
    """Warm up now when the tests are collected, else once collection finishes (the
    guard may be built for the report header, before the test modules are imported)."""
    session = config.pluginmanager.get_plugin("session")
    if getattr(session, "items", None):
        warm_up(config, containers, sentinels)
    else:
        config.pluginmanager.register(_AfterCollection(config, containers, sentinels))


class _AfterCollection:
    """Runs the warm-up when collection finishes, before the first test."""

    def __init__(
        self, config: pytest.Config, containers: ContainerWatch, sentinels: Sentinels | None
    ) -> None:
        self._arguments = (config, containers, sentinels)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self) -> None:
        warm_up(*self._arguments)


def warm_up(
    config: pytest.Config,
    containers: ContainerWatch,
    sentinels: Sentinels | None,
) -> None:
    """Run once before the first window. Each step is independent and never raises:
    a failed one only costs the first test a ``warmup`` verdict."""

    def screen() -> None:
        containers.refresh()
        containers.growth(containers.sizes())
        if sentinels is not None:
            sentinels[1](sentinels[0]())

    session = config.pluginmanager.get_plugin("session")
    items: Sequence[pytest.Item] = getattr(session, "items", None) or ()

    def locations() -> None:
        for item in items:
            item.location  # noqa: B018 - computed and cached by pytest

    steps: tuple[Callable[[], object], ...] = (
        screen,
        lambda: warm_abc_caches(containers.runner, _subjects(items)),
        lambda: track_dicts(_plugin_attributes(config.pluginmanager.get_plugins())),
        warm_logger_caches,
        locations,
        warm_repr_state,
    )
    for step in steps:
        with contextlib.suppress(Exception):
            step()


def warm_abc_caches(packages: Iterable[str], subjects: Iterable[type]) -> int:
    """Ask of each class in ``subjects`` (with its bases) whether it is a subclass of
    each ABC defined in ``packages`` or derived from one, so that pytest's answers are
    cached before any window; returns how many questions were asked."""
    prefixes = tuple(f"{package}." for package in packages)
    wanted = set(packages)
    roots = [
        cls
        for module_name, module in list(sys.modules.items())
        if module_name in wanted or module_name.startswith(prefixes)
        for cls in list(vars(module).values())
        if isinstance(cls, abc.ABCMeta) and cls.__module__ == module_name
    ]
    family = list(with_subclasses(roots))
    asked = {id(base): base for subject in subjects for base in subject.__mro__[:-1]}
    for cls in family:
        for other in asked.values():
            with contextlib.suppress(Exception):  # a Protocol that is not runtime-checkable
                issubclass(other, cls)
    return len(family) * len(asked)


def _subjects(items: Sequence[pytest.Item]) -> list[type]:
    """What pytest asks ABC questions about: its nodes (one of each class in the
    collected chains) and its fixture requests."""
    classes = {id(type(node)): type(node) for item in items for node in item.listchain()}
    for request_class in with_subclasses([pytest.FixtureRequest]):
        classes[id(request_class)] = request_class
    return list(classes.values())


def warm_logger_caches() -> int:
    """Ask every existing logger whether each standard level is enabled; returns how
    many loggers were asked."""
    loggers = [logging.root, *logging.Logger.manager.loggerDict.values()]
    levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
    asked = 0
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            for level in levels:
                logger.isEnabledFor(level)
            asked += 1
    return asked


def warm_repr_state() -> str:
    """Repr a non-empty list, as a test's first container repr would."""
    return repr([None])


#: Stored for an instant in an untracked dict: a list is always tracked.
_TRACKED_KEY = "\0pytest-memguard warm-up"


def track_dicts(candidates: Iterable[object]) -> int:
    """Make each untracked plain ``dict`` among ``candidates`` tracked by the GC (by
    storing a list in it for an instant); returns how many were."""
    done = 0
    for candidate in candidates:
        if type(candidate) is dict and not gc.is_tracked(candidate):
            candidate[_TRACKED_KEY] = []
            del candidate[_TRACKED_KEY]
            done += 1
    return done


def _plugin_attributes(plugins: Iterable[object]) -> Iterator[object]:
    """The attribute values of the plugins: of plugin modules, the objects at their
    module level (a module plugin often delegates to one), and those objects' classes."""
    for plugin in plugins:
        if isinstance(plugin, types.ModuleType):
            values = list(vars(plugin).values())
            yield from values
            owners = [value for value in values if _is_instance(value)]
        else:
            owners = [plugin]
        for owner in owners:
            for holder in (owner, *type(owner).__mro__[:-1]):
                attributes = getattr(holder, "__dict__", None)
                if isinstance(attributes, (dict, types.MappingProxyType)):
                    yield from list(attributes.values())


def _is_instance(value: object) -> bool:
    return (
        not isinstance(value, (type, types.ModuleType, types.FunctionType))
        and hasattr(type(value), "__dict__")
        and type(value).__module__ not in ("builtins",)
    )
