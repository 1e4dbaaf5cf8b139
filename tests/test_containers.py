"""The untracked-growth screen: module-level containers of any module, hot and cold.

Unit tests build modules in memory (registered in ``sys.modules`` for the test only);
one child pytest shows a standard-library container growing by one ``str`` per run
caught with its label, and its fill-once twin passing.
"""

from __future__ import annotations

import array
import collections
import contextvars
import functools
import gc
import importlib.metadata
import io
import json
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lazy_proxy import UnboundProxy

from pytest_memguard.screen.containers import (
    CONTEXT_LABEL,
    ContainerWatch,
    Growth,
    grown_holding,
    plugin_requirements,
    runner_packages,
)

MakeModule = Callable[..., types.ModuleType]


@pytest.fixture
def make_module(tmp_path: Path) -> Iterator[MakeModule]:
    """``make_module(name, project=False, **globals)``: a module in ``sys.modules``,
    its file under ``tmp_path/project`` or ``tmp_path/site``."""
    made: list[str] = []

    def make(name: str, project: bool = False, **values: Any) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__file__ = str(tmp_path / ("project" if project else "site") / f"{name}.py")
        vars(module).update(values)
        sys.modules[name] = module
        made.append(name)
        return module

    yield make
    for name in made:
        sys.modules.pop(name, None)


def new_watch(
    tmp_path: Path, sweep_every: int = 25, runner: tuple[str, ...] = ()
) -> ContainerWatch:
    return ContainerWatch([tmp_path / "project"], [], runner, sweep_every=sweep_every)


def run(watch: ContainerWatch, nodeid: str, body: Callable[[], object] = lambda: None) -> list[str]:
    """What the window does around one run: which of this file's modules' containers
    grew (the process's other modules may change meanwhile)."""
    watch.refresh(nodeid)
    before = watch.sizes()
    body()
    grown = watch.growth(before)
    return [f"{g.label}+{g.added}" for g in grown if g.label.startswith("w_")]


def hot_labels(watch: ContainerWatch) -> list[str]:
    return [label for label in watch._hot.labels if label.startswith("w_")]


def test_project_containers_are_read_on_every_test(tmp_path: Path, make_module: MakeModule) -> None:
    app = make_module("w_app", project=True, CACHE={})
    watch = new_watch(tmp_path)
    assert run(watch, "t.py::a") == []
    assert run(watch, "t.py::b", lambda: app.CACHE.update(k="v")) == ["w_app.CACHE+1"]


def test_cold_container_is_caught_by_a_sweep_and_then_watched_per_test(
    tmp_path: Path, make_module: MakeModule
) -> None:
    lib = make_module("w_lib", NAMES={}, SEEN=[])
    watch = new_watch(tmp_path)
    assert run(watch, "t.py::first") == []  # the module's first test sweeps
    assert hot_labels(watch) == []
    # the first test of a test module sweeps: its growth is its own
    assert run(watch, "u.py::first", lambda: lib.NAMES.update(a="1")) == ["w_lib.NAMES+1"]
    assert hot_labels(watch) == ["w_lib.NAMES"]  # promoted: read on every test from now on
    assert run(watch, "u.py::second", lambda: lib.NAMES.update(b="2")) == ["w_lib.NAMES+1"]
    # not a sweep, and still cold: not seen by this test...
    assert run(watch, "u.py::third", lambda: lib.SEEN.append("x")) == []
    # ...but the next sweep notices it changed, and promotes it
    assert run(watch, "v.py::first") == []
    assert run(watch, "v.py::second", lambda: lib.SEEN.append("y")) == ["w_lib.SEEN+1"]


def test_a_container_of_another_module_that_shrinks_manages_its_size(
    tmp_path: Path, make_module: MakeModule
) -> None:
    lib = make_module("w_cache", LEVELS={}, TRIMMED={"a": 1})
    app = make_module("w_own", project=True, LOG=[])
    watch = new_watch(tmp_path)
    run(watch, "t.py::a")
    assert run(watch, "u.py::a", lambda: lib.LEVELS.update(k=1)) == ["w_cache.LEVELS+1"]
    lib.LEVELS.clear()  # cleared by its own module (a logger's _clear_cache)
    assert run(watch, "u.py::b", lambda: lib.LEVELS.update(k=1)) == []  # no longer watched
    assert "w_cache.LEVELS" not in hot_labels(watch)
    lib.TRIMMED.clear()  # shrank between two sweeps: never promoted
    run(watch, "v.py::a")
    assert run(watch, "v.py::b", lambda: lib.TRIMMED.update(b=2)) == []
    # the project's own containers stay watched whatever they do
    app.LOG.append("x")
    app.LOG.clear()
    assert run(watch, "v.py::c", lambda: app.LOG.append("y")) == ["w_own.LOG+1"]


def test_a_test_run_again_sweeps_every_run(tmp_path: Path, make_module: MakeModule) -> None:
    lib = make_module("w_lib2", NAMES={})
    watch = new_watch(tmp_path)
    run(watch, "t.py::a")
    assert run(watch, "t.py::b", lambda: lib.NAMES.update(a="1")) == []  # missed
    assert run(watch, "t.py::b", lambda: lib.NAMES.update(b="1")) == ["w_lib2.NAMES+1"]


def test_sweeps_are_due_every_n_tests(tmp_path: Path, make_module: MakeModule) -> None:
    lib = make_module("w_lib3", NAMES={})
    watch = new_watch(tmp_path, sweep_every=3)
    run(watch, "t.py::a")
    found = [
        run(watch, f"t.py::n{number}", lambda: lib.NAMES.update({number: "x"}))  # noqa: B023
        for number in range(4)
    ]
    assert found == [[], [], [], ["w_lib3.NAMES+1"]]


def test_bounded_and_runner_containers_are_not_watched(
    tmp_path: Path, make_module: MakeModule
) -> None:
    class Lru(dict):  # type: ignore[type-arg]
        maxsize = 100

    make_module(
        "w_bounded",
        RECENT=collections.deque(maxlen=1000),
        TABLE=Lru(),
        LOOKUP=functools.lru_cache(maxsize=8)(str),
        UNBOUNDED=functools.cache(str),
        OPEN=collections.deque(),
    )
    make_module("w_runner", HOOKS=[])
    watch = new_watch(tmp_path, runner=("w_runner",))
    watch.refresh("t.py::a")
    watch.sizes()
    labels = {label for label in watch._cold.labels}
    assert {"w_bounded.UNBOUNDED", "w_bounded.OPEN"} <= labels
    assert not labels & {
        "w_bounded.RECENT",
        "w_bounded.TABLE",
        "w_bounded.LOOKUP",
        "w_runner.HOOKS",
    }


def test_lazy_objects_of_other_modules_are_not_touched(
    tmp_path: Path, make_module: MakeModule
) -> None:
    touched: list[str] = []

    class Lazy:
        def __init__(self) -> None:
            self.items: list[str] = []

        def __getattr__(self, name: str) -> object:
            touched.append(name)  # a lazy proxy would import or connect here
            raise AttributeError(name)

    make_module("w_lazy", PROXY=Lazy())
    watch = new_watch(tmp_path)
    watch.refresh("t.py::a")
    assert touched == []


def test_runner_packages_come_from_plugins_and_their_requirements() -> None:
    class Dist:
        def __init__(self) -> None:
            self.requires = ["execnet>=2.1", "psutil>=3.0; extra == 'psutil'", "typing-extensions"]

    plugins = [types.ModuleType("xdist.plugin"), json, object.__new__(type("P", (), {}))]
    requires = plugin_requirements([Dist()])
    assert requires == {"execnet", "typing-extensions"}
    found = runner_packages(plugins, requires)
    assert {"xdist", "json", "execnet", "typing_extensions", "pytest", "pluggy"} <= found
    assert "psutil" not in found


def test_requirements_are_read_from_the_metadata_headers_only() -> None:
    class Dist:
        requires = ("never-read",)

        def read_text(self, name: str) -> str | None:
            assert name == "METADATA"
            return (
                "Metadata-Version: 2.1\nName: p\nRequires-Dist: execnet>=2.1\n"
                "Requires-Dist: psutil>=3.0; extra == 'psutil'\n\n"
                "Requires-Dist: a-description-line\n"
            )

    assert plugin_requirements([Dist()]) == {"execnet"}

    class Parsed:  # no metadata file to read: what the email parser read is used
        def __init__(self, requires: list[str] | None) -> None:
            self.requires = requires

    installed = importlib.metadata.distribution("pytest")
    found = plugin_requirements([installed])
    assert found == plugin_requirements([Parsed(installed.requires)])
    assert "pluggy" in found


STDLIB_GROWTH = """
import itertools
import logging

_numbers = itertools.count(1000)


def test_names_a_new_level_each_run():
    number = next(_numbers)
    logging.addLevelName(number, f"LEVEL{number}")


def test_plain():
    pass


def test_names_another_new_level():
    number = next(_numbers)
    logging.addLevelName(number, f"LEVEL{number}")
"""

STDLIB_FILL_ONCE = """
import logging


def test_names_a_fixed_level():
    logging.addLevelName(25, "NOTICE")


def test_names_it_again():
    logging.addLevelName(25, "NOTICE")
"""


def test_stdlib_container_growing_by_a_str_per_run_is_caught_with_its_label(
    pytester: pytest.Pytester, run_pytest: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(test_fill_once=STDLIB_FILL_ONCE, test_growth=STDLIB_GROWTH)
    run_pytest("--memguard", "-p", "no:randomly", "--memguard-report=json:mem.json")
    tests = json.loads((pytester.path / "mem.json").read_text())["tests"]
    found = {test["nodeid"].split("::")[-1]: test for test in tests}
    for name in ("test_names_a_new_level_each_run", "test_names_another_new_level"):
        record = found[name]
        assert record["verdict"] == "leak", record["message"]
        summaries = [f["summary"] for f in record["findings"] if f["kind"] == "growing-container"]
        assert any(s.startswith("logging._levelToName grew by 1 entry") for s in summaries)
    assert found["test_plain"]["verdict"] == "ok"
    assert found["test_names_a_fixed_level"]["verdict"] in ("ok", "warmup")
    assert found["test_names_it_again"]["verdict"] == "ok"


def test_an_untracked_dict_the_collector_starts_tracking_is_not_young(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """A module dict of atomic values is untracked; the first tuple stored in it makes the
    collector track it, so it is listed with the young objects though it is old."""
    cache: dict[str, object] = {"a": 1}
    make_module("w_cache", w_cache=cache)
    watch = new_watch(tmp_path)
    watch.scan_modules()
    assert not gc.is_tracked(cache)
    entry = ("made", "now", [])
    cache["b"] = entry
    assert gc.is_tracked(cache)
    other: list[object] = []
    assert watch.without_watched([cache, entry, other]) == [entry, other]
    survivors: list[object] = [entry, other]
    assert watch.without_watched(survivors) is survivors


def test_a_container_its_module_bounds_by_a_constant_is_not_watched(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """``re._cache`` is trimmed by ``re`` at ``re._MAXCACHE``: its growth is no suspect."""
    cache: dict[str, str] = {}
    seen: list[str] = []
    make_module("w_patterns", True, _cache=cache, _MAXCACHE=512, _seen=seen)
    watch = new_watch(tmp_path)

    def grow() -> None:
        cache["a+"] = "compiled"
        seen.append("a+")

    assert run(watch, "t.py::test_a", grow) == ["w_patterns._seen+1"]
    # ...and is handed over with its bound, for the triage to tell its entries warm-up.
    assert (cache, "w_patterns._MAXCACHE=512") in watch.take_bounded()
    assert watch.take_bounded() == []


class _Cache:
    """A cache object declaring its bound, its entries in containers of its own."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._mapping: dict[object, object] = {}
        self._queue: collections.deque[object] = collections.deque()


class _Environment:
    """A module-level object keeping a bounded cache and containers of its own."""

    def __init__(self) -> None:
        self.cache = _Cache(400)
        self.globals: dict[str, object] = {}


def test_cache_objects_declaring_a_bound_are_handed_over_with_their_storage(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """A cache object at module level (jinja2's lexer cache), or in a module-level
    object's attributes (an environment's template cache), is bounded: with the
    containers its entries live in, which a walk down from the object itself would not
    enter, it goes to the triage, never to the watch."""
    lexers = _Cache(50)
    environment = _Environment()
    make_module("w_caches", True, LEXERS=lexers, ENV=environment)
    watch = new_watch(tmp_path)
    watch.refresh("t.py::a")
    bounded = {id(holder): bound for holder, bound in watch.take_bounded()}
    assert bounded[id(lexers)] == bounded[id(lexers._mapping)] == "_Cache(capacity=50)"
    assert bounded[id(lexers._queue)] == "_Cache(capacity=50)"
    cache = environment.cache
    assert bounded[id(cache)] == bounded[id(cache._mapping)] == "_Cache(capacity=400)"
    assert id(environment.globals) not in bounded
    assert hot_labels(watch) == ["w_caches.ENV.globals"]


class _PerThreadCache:
    """A cache declaring its bound that keeps its storage per thread, as hypothesis'
    strategy cache does."""

    __slots__ = ("_local", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._local = threading.local()
        self._local.entries = []
        self._local.index = {}


def test_a_cache_keeping_its_storage_per_thread_is_handed_over_with_it(
    tmp_path: Path, make_module: MakeModule
) -> None:
    cache = _PerThreadCache(1024)
    make_module("w_thread_cache", True, CACHE=cache)
    watch = new_watch(tmp_path)
    watch.refresh("t.py::a")
    bounded = {id(holder): bound for holder, bound in watch.take_bounded()}
    storage = vars(cache._local)
    assert bounded[id(cache)] == "_PerThreadCache(max_size=1024)"
    assert bounded[id(storage["entries"])] == bounded[id(storage["index"])] == bounded[id(cache)]


def test_a_proxy_kept_by_a_bounded_cache_does_not_stop_the_scan(
    tmp_path: Path, make_module: MakeModule
) -> None:
    cache = _Cache(10)
    cache.current = UnboundProxy()  # type: ignore[attr-defined]
    make_module("w_proxy_cache", True, CACHE=cache)
    watch = new_watch(tmp_path)
    watch.refresh("t.py::a")
    bounded = {id(holder) for holder, _ in watch.take_bounded()}
    assert {id(cache), id(cache._mapping), id(cache._queue)} <= bounded


def test_a_class_attribute_that_is_a_lazy_proxy_does_not_stop_the_scan(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """A class keeps a lazy proxy (whose ``__class__`` raises) beside a registry: the
    scan tells the proxy by its type and watches the registry."""
    registry: dict[str, object] = {}
    app = type("App", (), {"request": UnboundProxy(), "routes": registry})
    module = make_module("w_proxy_class", True)
    app.__module__ = module.__name__
    module.App = app  # type: ignore[attr-defined]
    watch = new_watch(tmp_path)
    watch.refresh("t.py::a")
    assert "w_proxy_class.App.routes" in hot_labels(watch)


def test_the_classes_a_class_body_defines_are_scanned_with_it(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """A test class's schema (``class TestDefaults: class MySchema(Schema)``) keeps its
    registries as a module-level class does; a class the body only refers to is its
    own module's, scanned there."""
    elsewhere = type("Elsewhere", (), {"kept": []})
    module = make_module("w_nested_class", True, Elsewhere=elsewhere)
    elsewhere.__module__ = "another_module"
    nested = "class TestDefaults:\n    class MySchema:\n        _hooks = {}\n"
    exec(f"{nested}    Alias = Elsewhere\n", vars(module))
    watch = new_watch(tmp_path)
    watch.refresh("t.py::a")
    assert hot_labels(watch) == ["w_nested_class.TestDefaults.MySchema._hooks"]


def test_a_deque_with_a_maxlen_is_handed_over_as_bounded(
    tmp_path: Path, make_module: MakeModule
) -> None:
    recent: collections.deque[object] = collections.deque(maxlen=100)
    make_module("w_recent", True, RECENT=recent)
    watch = new_watch(tmp_path)
    watch.refresh("t.py::a")
    assert (recent, "deque(maxlen=100)") in watch.take_bounded()
    assert hot_labels(watch) == []


def test_the_containers_holding_what_a_run_left_unexplained_are_its_holders() -> None:
    """A container whose new entries a rule explained (a module the run imported, in
    ``sys.modules``) holds none of what is left: it is no holder of the growth."""
    left = [("source", ["class C: pass"])]
    imported = types.ModuleType("imported_now")
    sources: dict[str, object] = {"<generated>": left[0]}
    modules: dict[str, object] = {"imported_now": imported}
    growth = [Growth("app.SOURCES", 1, sources), Growth("sys.modules", 1, modules)]
    growth.append(Growth("gone", 1, None))  # released: its container is not kept
    assert grown_holding(growth, left) == {id(sources)}
    assert grown_holding(growth, []) == set()


def test_the_current_context_is_watched_like_a_container(tmp_path: Path) -> None:
    """A context keeps every variable set in it: one made per call grows it, with
    nothing a module-level container or the young heap would show."""
    watch = ContainerWatch([tmp_path])
    before = watch.sizes()
    made_per_call: contextvars.ContextVar[int] = contextvars.ContextVar("made_per_call")
    token = made_per_call.set(1)
    try:
        grown = watch.growth(before)
    finally:
        made_per_call.reset(token)
    assert [(found.label, found.added) for found in grown] == [(CONTEXT_LABEL, 1)]
    assert watch.growth(watch.sizes()) == []


def _remember(key: str, _seen: dict[str, str] = {}) -> None:  # noqa: B006 - the shape watched
    _seen[key] = "seen"


class _Recorder:
    def record(self, line: str, _lines: list[str] = []) -> None:  # noqa: B006
        _lines.append(line)


def test_buffers_streams_and_mutable_defaults_are_watched(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """What a call can leave strings or bytes in, besides globals: a byte buffer, an
    array, an in-memory stream nobody truncates, a function's or method's mutable
    default (made once at its definition)."""
    _remember.__module__ = _Recorder.__module__ = _Recorder.record.__module__ = "w_sink"
    buffer, samples, stream = bytearray(), array.array("d"), io.StringIO()
    make_module(
        "w_sink",
        project=True,
        BUFFER=buffer,
        SAMPLES=samples,
        SINK=stream,
        remember=_remember,
        Recorder=_Recorder,
    )
    watch = new_watch(tmp_path)

    def calls() -> None:
        buffer.extend(b"line\n")
        samples.append(1.5)
        stream.write("line\n")
        _remember("key")
        _Recorder().record("line")

    assert sorted(run(watch, "t.py::a", calls)) == [
        "w_sink.BUFFER+5",
        "w_sink.Recorder.record() default _lines+1",
        "w_sink.SAMPLES+1",
        "w_sink.SINK+5",
        "w_sink.remember() default _seen+1",
    ]


def test_a_module_global_bound_to_none_at_its_scan_is_set_once(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """A lazily made singleton (``tempfile._name_sequence``: None until the first
    temporary name) holds what its first use made; a global is forgotten once seen set,
    so what replaces it later is not taken for a first setting."""
    module = make_module("w_lazy", _sequence=None, _policy=None, _name="x")
    watch = new_watch(tmp_path)
    watch.scan_modules()
    made, other = [object()], [object()]
    module._sequence = made  # type: ignore[attr-defined]
    module._policy = other  # type: ignore[attr-defined]
    assert watch.set_since_scan([made, [object()]]) == [made]
    module._sequence = again = [object()]  # type: ignore[attr-defined]
    assert watch.set_since_scan([again, other]) == []


def test_a_watched_module_global_is_known_at_module_level(
    tmp_path: Path, make_module: MakeModule
) -> None:
    """A holder search's climbs stop at a global whose module declares no bound for it:
    the watch tells it with no pass over the heap, while the module still holds it."""
    names: dict[str, int] = {}
    module = make_module("w_globals", NAMES=names, _MAXCACHE=8, _cache={}, SETTINGS={"a": {}})
    watch = new_watch(tmp_path)
    watch.scan_modules()
    assert watch.at_module_level(names)
    assert not watch.at_module_level(module._cache)  # type: ignore[attr-defined]  # bounded
    assert not watch.at_module_level(module.SETTINGS["a"])  # type: ignore[attr-defined]
    assert not watch.at_module_level({})
    module.NAMES = {}  # type: ignore[attr-defined]  # rebound: the old dict is no global
    assert not watch.at_module_level(names)
