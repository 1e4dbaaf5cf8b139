"""Watching module-level containers: the screen for untracked leaks, in any module.

A ``str``, ``bytes`` or ``int`` added to an old global dict or list is not a GC-tracked
object, so it never shows in the young heap, and ``sys.getallocatedblocks()`` would
see it only at O(heap) cost. Such a leak always grows a container that outlives the
test; in practice a module-level one (a global dict/list/set/deque, a class
attribute, an attribute of a module-level singleton, an unbounded
``functools.cache``), of the project or of any module it imported: the standard
library's and installed packages' included.

Reading every length per test would cost O(containers), thousands with a few hundred
modules imported. So the containers are split:

* **hot**, read before and after every test: the project's own, and every other one
  ever seen to change;
* **cold**, all others (of the standard library and installed packages): read in full
  by a *sweep* run, whose window brackets both reads: the first test of each test
  module, every :data:`SWEEP_EVERY`-th test, and every run of a test run again (a
  suspect's repetitions, paid only by suspects). A cold container that grew, in a
  sweep or between two sweeps, is promoted to hot for the rest of the session; one
  that shrank manages its own size (a cache trimmed or cleared) and is dropped.

A sweep's growth in a cold container is that test's finding. Growth between sweeps
is not attributed to a test: the container is promoted, and the next run that grows
it is caught (a leak grows it again). The
runner's own modules (pytest, pluggy, the plugins and the packages they require,
this plugin) are never watched, nor containers that declare a bound (``deque(maxlen)``,
``lru_cache(maxsize)``, an object with ``maxsize``/``max_size``/``maxlen``/``capacity``):
those, with the cache objects at module level or in a module-level object's attributes
that declare one and the dicts extension modules keep in their own state (``_struct``'s
cache of compiled formats), are handed to the triage as bounded holders, so a test that
fills them is warm-up on its screened run, with no search and no re-run.
The per-test cost is the hot containers' lengths; the cold ones cost one read per
sweep, amortised over the tests between sweeps.
"""

from __future__ import annotations

import array
import collections
import contextlib
import contextvars
import functools
import gc
import importlib.metadata
import io
import itertools
import operator
import os
import sys
import threading
import types
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar, cast

import pytest

from pytest_memguard.confirm.bounds import (
    bound_constants,
    c_state_bounds,
    declared_bound,
    module_constant_bound,
)
from pytest_memguard.confirm.lazy import per_thread_dicts
from pytest_memguard.confirm.listing import LRU_WRAPPER
from pytest_memguard.findings import ADVICE
from pytest_memguard.pytest_internals import PYTEST_PACKAGES
from pytest_memguard.screen.heap import HEAPTYPE, defined_in, excluding, is_a

_SIZED = (dict, list, set, collections.deque, bytearray, array.array)
_T = TypeVar("_T")

#: Buffers that grow as they are written to: their length is where writing is.
_STREAMS = (io.StringIO, io.BytesIO)
#: Dicts with more entries than this are not searched for nested containers.
_NESTED_SCAN_LIMIT = 100
#: A sweep of the cold containers every this many tests (and at each new test module).
SWEEP_EVERY = 25


class Growth(NamedTuple):
    """One watched container that grew during a run."""

    label: str
    added: int
    container: object


def _plain_type(cls: type) -> bool:
    """Attribute reads on its instances run no code of theirs (no ``__getattr__``, no
    ``__getattribute__`` written in Python): safe to look into objects of any module.
    Answered once per type, like :func:`_has_cache_api`: a scan asks it of every
    instance at module level."""
    known = _PLAIN_TYPES.get(cls)
    if known is None:
        known = _PLAIN_TYPES[cls] = not any(map(_reads_run_code, cls.__mro__))
    return known


def _reads_run_code(klass: type) -> bool:
    attributes = vars(klass)
    return "__getattr__" in attributes or isinstance(
        attributes.get("__getattribute__"), types.FunctionType
    )


_PLAIN_TYPES: dict[type, bool] = {}


#: Types that never are, nor hold, a watched container: skipped without a look (a
#: function is looked at: its mutable defaults are).
_PLAIN_VALUES = frozenset(
    {
        types.BuiltinFunctionType,
        types.MethodDescriptorType,
        types.WrapperDescriptorType,
        types.GetSetDescriptorType,
        types.MemberDescriptorType,
        property,
        str,
        bytes,
        int,
        float,
        bool,
        type(None),
        tuple,
        frozenset,
    }
)
#: Whether a type offers ``cache_info`` and ``cache_clear``: asked of every value a
#: scan meets, answered once per type (types outlive the modules that hold them).
_CACHE_API: dict[type, bool] = {}


def _has_cache_api(cls: type) -> bool:
    known = _CACHE_API.get(cls)
    if known is None:
        known = _CACHE_API[cls] = callable(getattr(cls, "cache_info", None)) and hasattr(
            cls, "cache_clear"
        )
    return known


def _is_unbounded_cache(obj: object) -> bool:
    """An ``lru_cache``/``cache`` wrapper, or an object whose class has ``cache_info``
    and ``cache_clear``, reporting ``maxsize=None``; decided from the type first."""
    cls = type(obj)
    if cls in _PLAIN_VALUES or not _has_cache_api(cls):
        return False
    try:
        return obj.cache_info().maxsize is None  # type: ignore[attr-defined]
    except Exception:
        return False


class _CacheSize:
    """``len()`` of a cache that only says its size through ``cache_info()``."""

    __slots__ = ("cache",)

    def __init__(self, cache: object) -> None:
        self.cache = cache

    def __len__(self) -> int:
        return int(self.cache.cache_info().currsize)  # type: ignore[attr-defined]


class Context:
    """The calling thread's current ``contextvars`` context, watched like a container: a
    context keeps every variable set in it, and one made per call (the documentation
    warns against it: variables belong at module level) grows it on every call, with
    nothing the young heap or a module-level container shows."""

    #: What a test that grows it should do instead.
    ADVICE = (
        "create ContextVar objects once, at module level, or reset() each one with the "
        "token its set() returned: the context holds every variable set in it"
    )

    def __len__(self) -> int:
        return len(contextvars.copy_context())


#: The label of the watched context, as findings name it.
CONTEXT_LABEL = "the current contextvars context"


def is_function_cache(container: object) -> bool:
    """Whether ``container`` is a cache that tells its size through ``cache_info()``."""
    return callable(getattr(container, "cache_info", None))


def growth_unit(container: object) -> str:
    """What one unit of ``container``'s length is, for a finding's words."""
    if is_function_cache(container):
        return "cache entry"
    if isinstance(container, io.StringIO):
        return "character"
    if isinstance(container, (io.BytesIO, bytearray)):
        return "byte"
    if isinstance(container, array.array):
        return "item"
    return "entry"


def growth_advice(container: object) -> str:
    """What to do about a watched ``container`` that grows on every run."""
    if isinstance(container, Context):
        return Context.ADVICE
    if is_function_cache(container):
        return "give the cache a bound: functools.lru_cache(maxsize=...)"
    return ADVICE["growing-container"]


class _Written:
    """``len()`` of an in-memory stream: how far it has been written (a log sink that
    nobody truncates grows with every message)."""

    __slots__ = ("stream",)

    def __init__(self, stream: io.StringIO | io.BytesIO) -> None:
        self.stream = stream

    def __len__(self) -> int:
        return self.stream.tell()


def _sized_view(container: object) -> object:
    """What ``len()`` reads for ``container``: itself, or the dict an unbounded
    ``functools`` cache keeps its entries in (found among its referents: the C
    wrapper visits it), so a cache costs a C ``len`` rather than a ``cache_info()``."""
    if isinstance(container, _STREAMS):
        return _Written(container)
    if not _is_unbounded_cache(container):
        return container
    entries = cache_entries(container)
    return _CacheSize(container) if entries is None else entries


def cache_entries(cache: object) -> dict[object, object] | None:
    """The dict an unbounded ``functools`` cache keeps its entries in, by key (the C
    wrapper visits it, beside its own ``__dict__``); None for anything else."""
    if not isinstance(cache, LRU_WRAPPER):
        return None
    own = getattr(cache, "__dict__", None)
    dicts = [ref for ref in gc.get_referents(cache) if type(ref) is dict and ref is not own]
    return cast("dict[object, object]", dicts[0]) if len(dicts) == 1 else None


def _container_bound(container: object) -> str | None:
    """The bound a container declares (``deque(maxlen=N)``, a dict subclass with
    ``maxsize``), or None."""
    if type(container) in _SIZED and type(container) is not collections.deque:
        return None
    return declared_bound(container) if _plain_type(type(container)) else None


class _Watched:
    """Containers whose lengths are read together, with their labels. ``views[i]`` is
    what ``len()`` reads for ``owners[i]`` (a cache's inner dict, or the owner)."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.owners: list[object] = []
        self.views: list[object] = []

    def __len__(self) -> int:
        return len(self.views)

    def add(self, label: str, container: object) -> None:
        self.labels.append(label)
        self.owners.append(container)
        self.views.append(_sized_view(container))

    def sizes(self) -> tuple[int, ...]:
        try:
            return tuple(map(len, self.views))  # type: ignore[arg-type]
        except Exception:
            self._drop_broken()
            return self.sizes()

    def _drop_broken(self) -> None:
        """Stop watching containers whose size cannot be read (a ``__len__`` that raises).

        They are replaced by an empty tuple, so sizes taken earlier keep their positions.
        """
        for index, view in enumerate(self.views):
            try:
                len(view)  # type: ignore[arg-type]
            except Exception:
                self.views[index] = ()

    def entry(self, index: int) -> tuple[str, object]:
        return self.labels[index], self.owners[index]

    def remove(self, indices: set[int]) -> list[tuple[str, object]]:
        """Take the containers at ``indices`` out; returns them, labelled."""
        taken = [self.entry(index) for index in sorted(indices)]
        self.labels[:] = _dropping(self.labels, indices)
        self.owners[:] = _dropping(self.owners, indices)
        self.views[:] = _dropping(self.views, indices)
        return taken


#: Why what a module global bound to None now holds is warm-up.
SET_ON_FIRST_USE = "a module global set on its first use"


class ContainerWatch:
    """Sizes of the containers held at module level: the project's per test (hot), the
    rest of the imported modules' by sweeps (cold), promoted to hot once they change."""

    def __init__(
        self,
        project_roots: Sequence[Path],
        installed_roots: Sequence[Path] = (),
        runner_packages: Iterable[str] = (),
        sweep_every: int = SWEEP_EVERY,
    ) -> None:
        self._roots = tuple(str(root.resolve()) + os.sep for root in project_roots)
        self._installed = tuple(str(root.resolve()) + os.sep for root in installed_roots)
        self._runner = frozenset(runner_packages) | {__name__.partition(".")[0]}
        self._sweep_every = max(1, sweep_every)
        self._hot = _Watched()
        self._hot.add(CONTEXT_LABEL, Context())
        self._cold = _Watched()
        self._seen_ids: set[int] = set()
        self._modules_seen = -1
        self._scanned: set[str] = set()
        self._real_dirs: dict[str, str] = {}
        self._scope = ""
        self._last_run = ""
        self._since_sweep = 0
        self._sweeping = False
        #: The cold sizes at the end of the last sweep, aligned with the cold list.
        self._cold_last: tuple[int, ...] = ()
        #: Ids of the hot containers promoted from cold (of other modules than the project).
        self._from_cold: set[int] = set()
        #: Module-level containers their module bounds (``re._cache`` by ``re._MAXCACHE``),
        #: found by scans since :meth:`take_bounded`, with their bounds.
        self._bounded: list[tuple[object, str]] = []
        #: The hot sizes after the last run, aligned with the hot list.
        self._hot_last: tuple[int, ...] = ()
        #: Module globals bound to None when their module was scanned, not seen set since.
        self._unset: list[tuple[dict[str, object], str]] = []
        #: The module and the name of each watched container that is a module global, by
        #: its id (names, not namespaces: no search may find the watch holding a module).
        self._globals: dict[int, tuple[str, str]] = {}

    def _is_project_file(self, filename: str | None) -> bool:
        if not filename:
            return False
        path = self._real_path(filename)
        return path.startswith(self._roots) and not path.startswith(self._installed)

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

    def refresh(self, nodeid: str = "") -> None:
        """Scan modules imported since the last scan (lazy imports add new ones), and
        decide whether the coming run of ``nodeid`` sweeps: the first test of a test
        module, a test run again (a suspect's repetitions), or a sweep due."""
        scope = nodeid.partition("::")[0]
        if (
            scope != self._scope
            or nodeid == self._last_run
            or self._since_sweep >= self._sweep_every
        ):
            self._scope = scope
            self._sweeping = True
        self._last_run = nodeid
        self.scan_modules()

    def scan_modules(self) -> None:
        """Scan the modules imported since the last scan for containers to watch. Call it
        before a window opens: looking into a new module may build objects (a type's
        lazily made attributes) that are the plugin's, not the test's."""
        if len(sys.modules) == self._modules_seen:
            return
        # The set difference runs in C; sorted, so the order of containers is stable.
        new_modules = []
        for name in sorted(sys.modules.keys() - self._scanned):
            module = sys.modules.get(name)
            if not isinstance(module, types.ModuleType):
                continue
            self._scanned.add(name)
            new_modules.append(module)
            project = self._is_project_file(getattr(module, "__file__", None))
            if not project and name.partition(".")[0] in self._runner:
                continue
            watched = self._hot if project else self._cold
            try:
                found = list(
                    _module_containers(name, module, not project, self._bounded, self._unset)
                )
            except Exception:  # a module whose objects cannot be looked into is skipped
                continue
            namespace = vars(module)
            for label, container in found:
                if id(container) in self._seen_ids:
                    continue
                bound = _container_bound(container)
                if bound is None:
                    self._seen_ids.add(id(container))
                    watched.add(label, container)
                    attribute = label[len(name) + 1 :]
                    if namespace.get(attribute) is container:
                        self._globals[id(container)] = (name, attribute)
                else:
                    self._bounded.append((container, bound))
        self._bounded += c_state_bounds(new_modules)
        self._modules_seen = len(sys.modules)

    def at_module_level(self, obj: object) -> bool:
        """Whether ``obj`` is a watched container a module holds as a global: its module
        declares no bound for it (those are never watched), so it can grow without one."""
        found = self._globals.get(id(obj))
        if found is None:
            return False
        module = sys.modules.get(found[0])
        return getattr(module, "__dict__", {}).get(found[1]) is obj

    def set_since_scan(self, tops: list[object]) -> list[object]:
        """The objects of ``tops`` that a module global bound to None when its module was
        scanned now holds: set on first use, once (a lazily made singleton). Each global
        seen set is forgotten, whatever it holds: only its first setting counts."""
        ids = set(map(id, tops))
        found: list[object] = []
        unset: list[tuple[dict[str, object], str]] = []
        for namespace, attr in self._unset:
            value = namespace.get(attr)
            if value is None:
                unset.append((namespace, attr))
            elif id(value) in ids:
                found.append(value)
        self._unset = unset
        return found

    def take_bounded(self) -> list[tuple[object, str]]:
        """The module-level containers and cache objects that declare a bound, or whose
        module declares one, found since the last call, each with its bound: what they
        hold is warm-up, for the triage to tell without a search."""
        found, self._bounded = self._bounded, []
        return found

    def without_watched(self, objects: list[object]) -> list[object]:
        """``objects`` less the watched containers, which are old: a module's dict that
        held only atomic values was untracked when the window opened, and the entry that
        makes the collector track it lists the dict among the young objects."""
        if self._seen_ids.isdisjoint(map(id, objects)):
            return objects
        return excluding(objects, self._seen_ids)

    def sizes(self) -> tuple[int, ...]:
        """The hot sizes, followed by the cold ones when this run sweeps."""
        hot = self._drop_managed(self._hot_last, self._hot.sizes())  # shrank between tests
        if not self._sweeping:
            self._since_sweep += 1
            return hot
        self._since_sweep = 0
        cold = self._cold.sizes()
        grew, shrank = _compare(self._cold_last, cold)  # changed between two sweeps
        if grew or shrank:
            self._leave_cold(grew, shrank)
            cold = _dropping(cold, grew | shrank)
            hot = self._hot.sizes()
        return hot + cold

    def growth(self, before: tuple[int, ...]) -> list[Growth]:
        """The watched containers that grew since ``before`` (a :meth:`sizes` result).

        A container of another module (not the project's) seen to shrink manages its
        own size (a cache cleared or trimmed: a logger's level cache, ``re``'s): it is
        no longer watched.
        """
        hot = self._hot.sizes()
        found = _grown(self._hot, before, hot)
        sweep = self._sweeping and len(before) == len(self._hot) + len(self._cold)
        if sweep:
            self._sweeping = False
            cold_before = before[len(self._hot) :]
            cold = self._cold.sizes()
            found += _grown(self._cold, cold_before, cold)
            self._cold_last = cold
            self._leave_cold(*_compare(cold_before, cold))
        self._hot_last = self._drop_managed(before[: len(hot)], hot)
        if len(self._hot_last) != len(self._hot):  # promoted: read the new ones too
            self._hot_last = self._hot.sizes()
        return found

    def _drop_managed(self, before: tuple[int, ...], hot: tuple[int, ...]) -> tuple[int, ...]:
        """Stop watching the promoted containers that shrank since ``before``; returns
        the hot sizes without them."""
        if not self._from_cold or len(before) != len(hot) or before == hot:
            return hot
        _, shrank = _compare(before, hot)
        managed = {at for at in shrank if id(self._hot.owners[at]) in self._from_cold}
        if not managed:
            return hot
        self._hot.remove(managed)
        return _dropping(hot, managed)

    def _leave_cold(self, grew: set[int], shrank: set[int]) -> None:
        """Promote the cold containers that grew; stop watching those that shrank."""
        if not (grew or shrank):
            return
        changed = grew | shrank
        taken = self._cold.remove(changed)
        for at, (label, container) in zip(sorted(changed), taken, strict=True):
            if at in grew:
                self._hot.add(label, container)
                self._from_cold.add(id(container))
        self._cold_last = _dropping(self._cold_last, changed)

    @property
    def runner(self) -> frozenset[str]:
        """The top-level packages of the test runner, never watched."""
        return self._runner

    @property
    def watched_count(self) -> int:
        """How many containers are read per test (hot)."""
        return len(self._hot)

    @property
    def cold_count(self) -> int:
        """How many containers are read only by sweeps (cold)."""
        return len(self._cold)


def _compare(before: tuple[int, ...], after: tuple[int, ...]) -> tuple[set[int], set[int]]:
    """The positions whose size grew, and those whose size shrank."""
    changed = _changed(before, after)
    grew = {at for at in changed if after[at] > before[at]}
    return grew, set(changed) - grew


def _dropping(values: Sequence[_T], positions: set[int]) -> tuple[_T, ...]:
    """``values`` without those at ``positions``, in order (in C, as :func:`_changed`)."""
    kept = map(operator.not_, map(positions.__contains__, range(len(values))))
    return tuple(itertools.compress(values, kept))


def _changed(before: tuple[int, ...], after: tuple[int, ...]) -> list[int]:
    """The positions both tuples have whose sizes differ. Found in C: the project's test
    modules may hold a thousand watched containers, read every test, and few change."""
    if len(before) == len(after):
        if before == after:  # no copies: the common case, every test
            return []
    elif before[: len(after)] == after[: len(before)]:
        return []
    return list(itertools.compress(itertools.count(), map(operator.ne, before, after)))


def grown_holding(growth: list[Growth], objects: list[object]) -> set[int]:
    """The ids of the containers in ``growth`` that refer to some of ``objects`` (what a
    run left unexplained): the holders of its growth, found without a search, and not
    one whose new entries a rule explained (``sys.modules`` gaining the modules a run
    imported)."""
    ids = set(map(id, objects))
    return {
        id(grown.container)
        for grown in growth
        if grown.container is not None
        and not ids.isdisjoint(map(id, gc.get_referents(grown.container)))
    }


def _grown(watched: _Watched, before: tuple[int, ...], after: tuple[int, ...]) -> list[Growth]:
    grown = []
    for at in _changed(before, after):
        if after[at] > before[at]:
            label, container = watched.entry(at)
            grown.append(Growth(label, after[at] - before[at], container))
    return grown


def session_watch(config: pytest.Config, installed_roots: Sequence[Path]) -> ContainerWatch:
    """The watch of a session: the project under ``config.rootpath``; the runner is
    pytest with its requirements and every registered plugin with its requirements."""
    manager = config.pluginmanager
    distributions: list[object] = [dist for _, dist in manager.list_plugin_distinfo()]
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        distributions.append(importlib.metadata.distribution("pytest"))
    requires = plugin_requirements(distributions)
    runner = runner_packages(manager.get_plugins(), requires)
    return ContainerWatch([config.rootpath], installed_roots, runner)


def runner_packages(plugins: Iterable[object], requires: Iterable[str] = ()) -> set[str]:
    """The top-level packages of the test runner: of every plugin module or object
    (pytest's own, pluggy's, third-party plugins'), and the import names of the
    distributions in ``requires``."""
    found = set(PYTEST_PACKAGES)
    for plugin in plugins:
        module = plugin.__name__ if isinstance(plugin, types.ModuleType) else None
        module = module or getattr(type(plugin), "__module__", "") or ""
        if module and not module.startswith(("builtins", "__main__")):
            found.add(module.partition(".")[0])
    found.update(name.replace("-", "_").lower() for name in requires)
    return found


def plugin_requirements(distributions: Iterable[object]) -> set[str]:
    """The names of the distributions the plugin distributions require (``execnet``
    for pytest-xdist), read from their metadata; extras are left out."""
    names: set[str] = set()
    for dist in distributions:
        for requirement in _requires(dist):
            if "extra ==" in requirement:
                continue
            name = requirement.split(";")[0].strip()
            for stop in "<>=!~[ (":
                name = name.split(stop)[0]
            if name:
                names.add(name)
    return names


def _requires(dist: object) -> list[str]:
    """A distribution's ``Requires-Dist`` entries, read from the headers of its
    ``METADATA`` (the email parser ``Distribution.requires`` runs reads the whole file,
    a long description too: 5 ms for pytest-xdist's and four others', every session);
    its ``requires`` where it has no such file (an egg's ``requires.txt``)."""
    read = getattr(dist, "read_text", None)
    text = read("METADATA") if callable(read) else None
    if not isinstance(text, str):
        return list(getattr(dist, "requires", None) or ())
    headers = itertools.takewhile(bool, text.splitlines())  # they end at a blank line
    return [line[len(_REQUIRES) :].strip() for line in headers if line.startswith(_REQUIRES)]


_REQUIRES = "Requires-Dist:"


def _module_containers(
    name: str,
    module: types.ModuleType,
    safe: bool,
    bounded: list[tuple[object, str]],
    unset: list[tuple[dict[str, object], str]],
) -> Iterator[tuple[str, object]]:
    """The containers a module holds at module level, but those its module bounds and
    the objects at module level (or in a module-level object's attributes) that declare
    a bound (a cache with a ``maxsize``, an environment's template cache with a
    ``capacity``), which go to ``bounded`` with their bound. ``safe``: decide from types
    alone where reading an attribute could run the module's code (a lazy object's
    ``__getattr__``). The names bound to None go to ``unset``: a global set on first
    use (``_name_sequence = None`` until the first temporary name)."""
    namespace = vars(module)
    constants: dict[str, int] | None = None  # read once, for the first container
    for attr, value in list(namespace.items()):
        cls = type(value)
        if cls in _PLAIN_VALUES or attr.startswith("__"):
            if value is None and not attr.startswith("__"):
                unset.append((namespace, attr))
            continue
        if cls is types.FunctionType:  # the most common value: asked first
            if _has_mutable_defaults(value):
                yield from _default_containers(f"{name}.{attr}", value, name)
            continue
        # Labels are made only for what is watched: most values a scan meets are not.
        if issubclass(cls, _SIZED):
            if constants is None:
                constants = bound_constants(namespace)
            bound = module_constant_bound(namespace, attr, constants)
            if bound is not None:  # trimmed by its module's code, at the bound it declares
                bounded.append((value, bound))
                continue
            label = f"{name}.{attr}"
            yield label, value
            yield from _nested(label, value)
        elif issubclass(cls, _STREAMS):
            yield f"{name}.{attr}", value
        elif issubclass(cls, type) and value.__module__ == name:
            yield from _class_containers(f"{name}.{attr}", value)
        elif _is_unbounded_cache(value):
            yield f"{name}.{attr}", value
        elif _is_plain_instance(value, safe):
            cache = _bounded_cache(value)
            if cache:
                bounded += cache
                continue
            for inner, inner_value in list(_instance_attributes(value).items()):
                inner_type = type(inner_value)
                if issubclass(inner_type, _SIZED):
                    inner_label = f"{name}.{attr}.{inner}"
                    yield inner_label, inner_value
                    yield from _nested(inner_label, inner_value)
                elif inner_type not in _PLAIN_VALUES and _is_plain_instance(inner_value, safe):
                    bounded += _bounded_cache(inner_value)


def _bounded_cache(obj: object) -> list[tuple[object, str]]:
    """For an object that declares a bound (a cache with a ``maxsize``), the object and
    the containers among its attributes where its entries live, each with the bound (a
    walk down from the object itself would stop at that storage, which is older than
    the entries a test adds); empty for any other object. A cache keeping its storage
    per thread (hypothesis' strategy cache, in a ``threading.local``) has it in each
    thread's dict of that local. Told by their types alone: a lazy proxy's ``__class__``
    may run code, or raise."""
    bound = declared_bound(obj)
    if bound is None:
        return []
    attributes = list(_instance_attributes(obj).values())
    locals_ = [value for value in attributes if issubclass(type(value), threading.local)]
    per_thread = map(dict.values, per_thread_dicts(*locals_))
    storage = [*attributes, *itertools.chain.from_iterable(per_thread)]
    return [(obj, bound), *((value, bound) for value in storage if issubclass(type(value), _SIZED))]


def _class_containers(label: str, cls: type) -> Iterator[tuple[str, object]]:
    """The containers ``cls`` keeps in its own namespace, and those of the classes its
    body defines (a test class's schema, a model's ``Meta``): each is made once, at
    import, and what a run puts there stays."""
    for attr, value in list(vars(cls).items()):
        kind = type(value)
        if kind is types.FunctionType:  # a method: the most common value, asked first
            if _has_mutable_defaults(value):
                yield from _default_containers(f"{label}.{attr}", value, cls.__module__)
            continue
        if kind in _PLAIN_VALUES or attr.startswith("__"):
            continue
        if issubclass(kind, type) and defined_in(value, cls, attr):
            yield from _class_containers(f"{label}.{attr}", value)
            continue
        # Told by the type: a class attribute may be a lazy proxy, whose __class__ raises.
        wrapped = is_a(value, staticmethod) or is_a(value, classmethod)
        target = value.__func__ if wrapped else value
        if issubclass(type(target), _SIZED) or _is_unbounded_cache(target):
            yield f"{label}.{attr}", target
            yield from _nested(f"{label}.{attr}", target)


#: The types a mutable default argument has, in practice.
_DEFAULT_KINDS = frozenset({dict, list, set, bytearray})


def _has_mutable_defaults(function: types.FunctionType) -> bool:
    """Whether ``function`` has a default of :data:`_DEFAULT_KINDS` (asked of every
    function a scan meets: the types are compared in C)."""
    defaults = function.__defaults__
    if defaults and not _DEFAULT_KINDS.isdisjoint(map(type, defaults)):
        return True
    keywords = function.__kwdefaults__
    return keywords is not None and not _DEFAULT_KINDS.isdisjoint(map(type, keywords.values()))


def _default_containers(
    label: str, function: types.FunctionType, module: str
) -> Iterator[tuple[str, object]]:
    """The mutable default values of a function of ``module`` (``def remember(key,
    _seen={})``): made once, at its definition, and kept as long as the function, so
    what a call puts there stays. One imported from another module is that module's."""
    if function.__module__ != module:
        return
    defaults = function.__defaults__ or ()
    code = function.__code__
    first = code.co_argcount - len(defaults)
    named = [(code.co_varnames[first + at], value) for at, value in enumerate(defaults)]
    named += list((function.__kwdefaults__ or {}).items())
    for parameter, value in named:
        if type(value) in _DEFAULT_KINDS:
            yield f"{label}() default {parameter}", value


def _nested(label: str, container: object) -> Iterator[tuple[str, object]]:
    if type(container) is dict and len(container) <= _NESTED_SCAN_LIMIT:
        for key, value in list(container.items()):
            if issubclass(type(value), _SIZED) and issubclass(type(key), (str, int)):
                yield f"{label}[{key!r}]", value


def _instance_attributes(value: object) -> dict[str, object]:
    """An instance's attributes: its ``__dict__`` and the slots its classes declare (read
    through their member descriptors, which run no code of the class's); empty for a C
    type's instance."""
    try:
        attributes = object.__getattribute__(value, "__dict__")
    except Exception:
        attributes = None
    found = attributes if is_a(attributes, dict) else {}
    slots = _slots(type(value))
    if not slots:
        return found
    found = dict(found)
    for name, member in slots:
        if name not in found:
            try:
                found[name] = member.__get__(value, type(value))
            except AttributeError:  # a slot never set
                continue
    return found


#: Callables that are code, not an object with state: an instance whose class defines
#: ``__call__`` (a parser expression) keeps its state in attributes like any other.
_ROUTINES = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    functools.partial,
)


def _is_plain_instance(value: object, safe: bool) -> bool:
    # Concrete types rather than an ABC isinstance: ABC checks fill weakref caches.
    cls = type(value)
    if issubclass(cls, _ROUTINES):
        return False
    if safe:
        return bool(cls.__dictoffset__ or _slots(cls)) and _plain_type(cls)
    return hasattr(value, "__dict__") or bool(_slots(cls))


_Slots = tuple[tuple[str, types.MemberDescriptorType], ...]


def _slots(cls: type) -> _Slots:
    """The slots ``cls`` and its bases defined in Python declare, with their member
    descriptors (answered once per type; a C type's members are its own business)."""
    known = _SLOTS.get(cls)
    if known is None:
        known = _SLOTS[cls] = tuple(
            (name, member)
            for base in cls.__mro__
            if base.__flags__ & HEAPTYPE
            for name, member in list(vars(base).items())
            if type(member) is types.MemberDescriptorType
        )
    return known


_SLOTS: dict[type, _Slots] = {}
