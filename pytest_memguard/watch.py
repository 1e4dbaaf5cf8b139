"""Watching the project's module-level containers: the screen for untracked leaks.

A ``str``, ``bytes`` or ``int`` appended to an old global list is not a GC-tracked
object, so it never shows in the young heap, and ``sys.getallocatedblocks()`` would
see it only at O(heap) cost. Such a leak always grows a container that outlives the
test; in practice a module-level one (a global list/dict/set, a class attribute, an
attribute of a module-level singleton, an unbounded ``functools.cache``). Their
lengths are read per test: the cost grows with the number of such containers in the
project's own modules, not with the size of the heap.
"""

from __future__ import annotations

import collections
import os
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_memguard.confirm.bounds import declared_bound

_SIZED = (dict, list, set, collections.deque)
#: Dicts with more entries than this are not searched for nested containers.
_NESTED_SCAN_LIMIT = 100


@dataclass(frozen=True)
class Growth:
    """One watched container that grew during a run."""

    label: str
    added: int
    container: object


def _is_unbounded_cache(obj: object) -> bool:
    cache_info = getattr(obj, "cache_info", None)
    if not callable(cache_info) or not hasattr(obj, "cache_clear"):
        return False
    try:
        return cache_info().maxsize is None
    except Exception:
        return False


def _cache_size(cache: object) -> int:
    if cache == ():
        return 0
    return int(cache.cache_info().currsize)  # type: ignore[attr-defined]


class ContainerWatch:
    """Sizes of the containers held at module level by the project's modules."""

    def __init__(self, project_roots: Sequence[Path], ignored_roots: Sequence[Path]) -> None:
        self._roots = tuple(str(root.resolve()) + os.sep for root in project_roots)
        self._ignored = tuple(str(root.resolve()) + os.sep for root in ignored_roots)
        self._labels: list[str] = []
        self._sized: list[object] = []
        self._caches: list[object] = []
        self._cache_labels: list[str] = []
        self._modules_seen = -1
        self._scanned: set[str] = set()
        self._real_dirs: dict[str, str] = {}

    def _is_project_file(self, filename: str | None) -> bool:
        if not filename:
            return False
        path = self._real_path(filename)
        return path.startswith(self._roots) and not path.startswith(self._ignored)

    def _real_path(self, filename: str) -> str:
        """``os.path.realpath(filename)``, each directory resolved once: resolving costs
        a system call per path component, and hundreds of modules share a few directories."""
        if os.path.islink(filename):
            return os.path.realpath(filename)
        directory, name = os.path.split(filename)
        real = self._real_dirs.get(directory)
        if real is None:
            real = self._real_dirs[directory] = os.path.realpath(directory)
        return os.path.join(real, name)

    def refresh(self) -> None:
        """Scan modules imported since the last scan (lazy imports add new ones)."""
        if len(sys.modules) == self._modules_seen:
            return
        # The set difference runs in C; sorted, so the order of containers is stable.
        for name in sorted(sys.modules.keys() - self._scanned):
            module = sys.modules.get(name)
            if not isinstance(module, types.ModuleType):
                continue
            self._scanned.add(name)
            if self._is_project_file(getattr(module, "__file__", None)):
                for label, container in _module_containers(name, module):
                    self._add(label, container)
        self._modules_seen = len(sys.modules)

    def _add(self, label: str, container: object) -> None:
        if any(container is seen for seen in self._sized) or any(
            container is seen for seen in self._caches
        ):
            return
        if _is_unbounded_cache(container):
            self._caches.append(container)
            self._cache_labels.append(label)
        else:
            self._sized.append(container)
            self._labels.append(label)

    def sizes(self) -> tuple[int, ...]:
        try:
            lengths = tuple(map(len, self._sized))  # type: ignore[arg-type]
            return lengths + tuple(map(_cache_size, self._caches))
        except Exception:
            self._drop_broken()
            return self.sizes()

    def _drop_broken(self) -> None:
        """Stop watching containers whose size cannot be read (a ``__len__`` that raises).

        They are replaced by an empty tuple, so sizes taken earlier keep their positions.
        """
        readers: tuple[tuple[list[object], Callable[[Any], int]], ...] = (
            (self._sized, len),
            (self._caches, _cache_size),
        )
        for watched, read in readers:
            for index, container in enumerate(watched):
                try:
                    read(container)
                except Exception:
                    watched[index] = ()

    def growth(self, before: tuple[int, ...]) -> list[Growth]:
        after = self.sizes()
        if after == before:
            return []
        watched = self._sized + self._caches
        labels = self._labels + self._cache_labels
        return [
            Growth(labels[index], after[index] - before[index], watched[index])
            for index in range(min(len(before), len(after)))
            if after[index] > before[index]
        ]

    @property
    def watched_count(self) -> int:
        return len(self._sized) + len(self._caches)


def _module_containers(name: str, module: types.ModuleType) -> Iterator[tuple[str, object]]:
    for attr, value in list(vars(module).items()):
        if attr.startswith("__"):
            continue
        label = f"{name}.{attr}"
        if isinstance(value, _SIZED):
            yield label, value
            yield from _nested(label, value)
        elif isinstance(value, type) and value.__module__ == name:
            yield from _class_containers(label, value)
        elif _is_unbounded_cache(value):
            yield label, value
        elif _is_plain_instance(value) and declared_bound(value) is None:
            for inner, inner_value in list(vars(value).items()):
                if isinstance(inner_value, _SIZED):
                    yield f"{label}.{inner}", inner_value


def _class_containers(label: str, cls: type) -> Iterator[tuple[str, object]]:
    for attr, value in list(vars(cls).items()):
        if attr.startswith("__"):
            continue
        target = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if isinstance(target, _SIZED) or _is_unbounded_cache(target):
            yield f"{label}.{attr}", target


def _nested(label: str, container: object) -> Iterator[tuple[str, object]]:
    if isinstance(container, dict) and len(container) <= _NESTED_SCAN_LIMIT:
        for key, value in list(container.items()):
            if isinstance(value, _SIZED) and isinstance(key, (str, int)):
                yield f"{label}[{key!r}]", value


def _is_plain_instance(value: object) -> bool:
    # callable() rather than an ABC isinstance: ABC checks fill weakref caches.
    if isinstance(value, (type, types.ModuleType)) or callable(value):
        return False
    return hasattr(value, "__dict__")
