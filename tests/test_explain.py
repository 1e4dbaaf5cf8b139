"""Tests of the explain machinery: grouping, retainer chains, kinds, allocation sites."""

from __future__ import annotations

import codecs
import contextvars
import gc
import io
import logging
import sys
import threading
import tracemalloc
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from explain_helpers import PLOTS, chain_of, load, only, young

from pytest_memguard.explain import classify
from pytest_memguard.explain.chains import MAX_DEPTH
from pytest_memguard.explain.explainer import explain
from pytest_memguard.findings import ADVICE, RESOURCE_KINDS

MODULE = "memguard_app"

# The application under test: a module with the usual leak shapes. It is written to a
# file so that tracemalloc tracebacks and linecache can show its source lines.
SOURCE = """
import weakref


class Payload:
    def __init__(self, n=0):
        self.n = n

    def __call__(self):
        return self.n


class Key:
    pass


class Token:
    pass


class Slotted:
    __slots__ = ("current",)


class Node:
    def __init__(self):
        self.child = None
        self.items = []


class Registry:
    items = []


class App:
    def __init__(self):
        self.sessions = [Payload(n) for n in range(4)]


# Holds a container from the start: an empty dict is not tracked by the gc, and would
# join the young heap (and the retained objects) with its first entry.
_CACHE = {"user:0": {"id": 0, "sessions": []}}
BY_ID = {}
BY_KEY = {}
SEEN = set()
LISTENERS = []


def get_user(n):
    _CACHE[f"user:{n}"] = {"id": n, "sessions": []}


def make_handler(buf):
    def handler():
        return len(buf)

    return handler


class Widget:
    def __init__(self):
        LISTENERS.append(self.refresh)

    def refresh(self):
        return self


def make_cycle():
    a, b = Node(), Node()
    a.child, b.child = b, a
    return [a, b]


class Record:
    __slots__ = ("n",)


def make_here():
    return Record()


def make_there():
    return Record()


def worker():
    buf = Payload()
    yield buf
    yield len(buf)


def poll(ready, stop, out):
    buf = Payload()
    out.append(buf)
    ready.set()
    stop.wait()
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The application module."""
    yield from load(tmp_path, MODULE, SOURCE)


@pytest.fixture
def plots(tmp_path: Path) -> Iterator[Any]:
    """The plotting library."""
    yield from load(tmp_path, "memguard_plots", PLOTS)


# --- edges ----------------------------------------------------------------------------


def test_dict_keys_read_as_subscripts(app: Any) -> None:
    app.get_user(7)
    app.BY_ID[7] = app.Payload()
    app.BY_KEY[app.Key()] = app.Payload()
    assert chain_of(app._CACHE["user:7"]) == "memguard_app._CACHE['user:7']"
    assert chain_of(app._CACHE["user:7"]["sessions"]) == (
        "memguard_app._CACHE['user:7']['sessions']"
    )
    assert chain_of(app.BY_ID[7]) == "memguard_app.BY_ID[7]"
    assert chain_of(next(iter(app.BY_KEY.values()))) == "memguard_app.BY_KEY[<Key object>]"


def test_the_container_a_chain_ends_in_is_handed_to_the_caller(app: Any) -> None:
    """The object above the leak on its chain is what a later run of it grows: the
    caller learns it, whatever the search's direct holders were."""
    app.APP = app.App()
    leaked = app.APP.sessions[3]
    holders: list[object] = []
    explain([leaked], chain_holders=holders)
    assert len(holders) == 1 and holders[0] is app.APP.sessions


def test_referrers_found_before_are_taken_while_they_still_refer(app: Any) -> None:
    """The climbs above a leak's holders found who refers to the objects on its way up:
    the chain search takes those referrers without a pass over the heap, but only those
    that still refer to the object (one that dropped it since is no link)."""
    app.APP = app.App()
    leaked = app.APP.sessions[3]
    sessions = app.APP.sessions
    dropped: dict[str, object] = {"sessions": sessions}
    # The list's holder is the instance's dict, or from 3.13 the instance itself.
    known = {id(sessions): (sessions, [dropped, vars(app.APP), app.APP])}
    del dropped["sessions"]
    finding = only(explain([leaked], known_referrers=known))
    assert finding.chain_complete and finding.chain_text == "memguard_app.APP.sessions[3]"
    # Without the attributes that still hold the list, nothing leads on from it.
    stale = {id(sessions): (sessions, [dropped])}
    unlinked = only(explain([leaked], known_referrers=stale))
    assert unlinked.extra["root"] == "object" and unlinked.chain_text == "<list object>[3]"


def test_a_dict_key_itself_is_named_as_a_key(app: Any) -> None:
    key = app.Key()
    app.BY_KEY[key] = 1
    assert chain_of(key) == "memguard_app.BY_KEY.keys(){<Key object>}"


def test_a_class_the_run_made_is_no_root_of_its_own_chain(app: Any) -> None:
    """attrs sets ``B.__attrs_types_resolved__ = B`` on a class a test makes; only a
    cache keyed by the class keeps it alive: the chain names the cache, not the class's
    reference to itself."""
    made = type("Made", (), {})
    made.itself = made  # type: ignore[attr-defined]
    app.BY_KEY[made] = 1
    assert chain_of(made) == "memguard_app.BY_KEY.keys(){<type object>}"


def test_attributes_and_list_indexes(app: Any) -> None:
    app.APP = app.App()
    assert chain_of(app.APP.sessions[3]) == "memguard_app.APP.sessions[3]"


def test_slot_attribute(app: Any) -> None:
    app.SLOTTED = app.Slotted()
    app.SLOTTED.current = app.Payload()
    assert chain_of(app.SLOTTED.current) == "memguard_app.SLOTTED.current"


def test_tuple_index(app: Any) -> None:
    app.PAIR = (app.Payload(), app.Payload())
    assert chain_of(app.PAIR[1]) == "memguard_app.PAIR[1]"


def test_set_member(app: Any) -> None:
    token = app.Token()
    app.SEEN.add(token)
    assert chain_of(token) == "memguard_app.SEEN{<Token object>}"


def test_closure_cell(app: Any) -> None:
    payload = app.Payload()
    app.HANDLER = app.make_handler(payload)
    finding = only(explain([payload]))
    assert finding.chain_text == "memguard_app.HANDLER<closure of make_handler>.buf"
    assert finding.kind == "closure"


def test_bound_method_self(app: Any) -> None:
    widget = app.Widget()
    finding = only(explain([widget]))
    assert finding.chain_text == "memguard_app.LISTENERS[0]<bound method Widget.refresh>.__self__"
    assert finding.kind == "listener"


def test_class_attribute(app: Any) -> None:
    payload = app.Payload()
    app.Registry.items.append(payload)
    assert chain_of(payload) == "memguard_app.Registry.items[0]"


def test_suspended_generator_local(app: Any) -> None:
    app.GEN = app.worker()
    buf = next(app.GEN)
    assert chain_of(buf) == "memguard_app.GEN frame worker() local buf"


def test_sys_state(app: Any) -> None:
    finder = app.Token()
    sys.path_importer_cache["/memguard/nowhere"] = finder
    try:
        finding = only(explain([finder]))
    finally:
        del sys.path_importer_cache["/memguard/nowhere"]
    assert finding.chain_text == "sys.path_importer_cache['/memguard/nowhere']"
    assert finding.extra["root"] == "sys"


def test_a_module_global_a_little_further_is_preferred_to_sys_state(app: Any) -> None:
    finder = app.Token()
    app.HOLDER = app.Node()
    app.HOLDER.items.append(finder)
    sys.path_importer_cache["/memguard/nowhere"] = finder
    try:
        assert chain_of(finder) == "memguard_app.HOLDER.items[0]"
    finally:
        del sys.path_importer_cache["/memguard/nowhere"]


@pytest.fixture
def poller(app: Any) -> Iterator[object]:
    """A live thread 'poller' blocked in poll(), whose local ``buf`` is returned."""
    ready, stop = threading.Event(), threading.Event()
    out: list[object] = []
    thread = threading.Thread(target=app.poll, args=(ready, stop, out), name="poller")
    thread.start()
    try:
        assert ready.wait(10)
        yield out.pop()
    finally:
        stop.set()
        thread.join(10)


def test_live_thread_frame_local(poller: object) -> None:
    assert chain_of(poller) == "Thread 'poller' frame poll() local buf"


def test_holder_label(app: Any) -> None:
    fixture_value = app.Node()
    fixture_value.items.append(app.Payload())
    finding = only(
        explain([fixture_value.items[0]], holders={id(fixture_value): "fixture 'db' (session)"})
    )
    assert finding.chain_text == "fixture 'db' (session).items[0]"
    assert finding.extra["root"] == "holder"


def test_module_global_is_preferred_to_a_longer_way_round(app: Any) -> None:
    payload = app.Payload()
    app.DIRECT = payload
    app.ROUNDABOUT = {"a": {"b": [payload]}}
    assert chain_of(payload) == "memguard_app.DIRECT"


def test_the_registry_code_reads_is_preferred_to_weak_tables_and_contexts(plots: Any) -> None:
    fig = contextvars.copy_context().run(plots.figure)
    assert chain_of(fig) == "memguard_plots.Gcf.figs[1].canvas.figure"


def test_a_context_variable_is_named_when_nothing_else_holds(plots: Any) -> None:
    fig = contextvars.copy_context().run(plots.figure)
    plots.Gcf.figs.clear()
    plots._FIGURE_OF.clear()
    assert chain_of(fig) == "memguard_plots._SNAPSHOT[<ContextVar 'current_figure'>]"


def test_a_weak_keyed_table_is_named_when_nothing_else_holds(plots: Any) -> None:
    fig = contextvars.copy_context().run(plots.figure)
    plots.Gcf.figs.clear()
    plots._SNAPSHOT = None
    assert chain_of(fig) == "memguard_plots._FIGURE_OF.data[<weakref to Key object>]"


def test_the_growing_registry_is_named(plots: Any) -> None:
    def run() -> None:
        for _ in range(3):
            contextvars.copy_context().run(plots.figure)

    finding = explain(young(run))[0]
    assert finding.summary.endswith(" held by memguard_plots.Gcf.figs"), finding.summary
    assert finding.kind == "growing-container"


def test_a_weakref_callback_is_followed_only_without_a_strong_path(
    app: Any,
) -> None:
    callback, target = app.Payload(), app.Key()
    app.TARGET = target
    app.WEAK = weakref_to(target, callback)
    assert chain_of(callback) == "memguard_app.WEAK.__callback__"
    app.HOLDER = app.Node()
    app.HOLDER.items.append(callback)
    assert chain_of(callback) == "memguard_app.HOLDER.items[0]"


def weakref_to(target: object, callback: Callable[..., object]) -> object:
    import weakref

    return weakref.ref(target, callback)


def _payload_twelve_deep(app: Any) -> Any:
    """A payload at the end of ``app.ROOT.child.child...`` (12 steps), in a list."""
    app.ROOT = node = app.Node()
    for _ in range(12):
        node.child = app.Node()
        node = node.child
    payload = app.Payload()
    node.items.append(payload)
    return payload


def test_deep_structure_gets_a_full_chain(app: Any) -> None:
    payload = _payload_twelve_deep(app)
    assert chain_of(payload) == "memguard_app.ROOT" + ".child" * 12 + ".items[0]"


def test_no_root_within_the_depth_limit_gives_a_partial_chain(app: Any) -> None:
    payload = app.Payload()
    nested: object = payload
    for _ in range(MAX_DEPTH + 5):
        nested = [nested]
    app.NESTED = nested
    finding = only(explain([payload]))
    assert not finding.chain_complete
    assert finding.chain_text == "... <list object>" + "[0]" * MAX_DEPTH
    assert f"no root within {MAX_DEPTH} references" in finding.summary


def test_tiny_timeout_gives_a_partial_chain(app: Any) -> None:
    payload = _payload_twelve_deep(app)
    finding = only(explain([payload], timeout=0.0))
    assert not finding.chain_complete
    assert finding.chain_text.startswith("... ")
    assert finding.summary.endswith("(chain search timed out after 0 s)")


def test_excluded_objects_never_appear_in_a_chain(app: Any) -> None:
    payload = app.Payload()
    bookkeeping = [payload]
    app.BOOKKEEPING = bookkeeping
    finding = only(explain([payload], exclude={id(bookkeeping)}))
    assert finding.retainer_chain == ()
    assert "held by nothing the gc can see" in finding.summary


# --- kinds ----------------------------------------------------------------------------


def test_growing_global_cache(app: Any) -> None:
    def run() -> None:
        for n in range(1, 4):
            app.get_user(n)

    finding = only(explain(young(run)))
    assert finding.kind == "growing-container"
    assert finding.count == 6  # three entries, each a dict and its sessions list
    assert finding.summary.startswith("3 dict objects (6 objects, ")
    assert finding.summary.endswith(" held by memguard_app._CACHE")
    assert finding.chain_text in {f"memguard_app._CACHE['user:{n}']" for n in range(1, 4)}
    assert "functools.lru_cache" in finding.advice


def test_closure_kind(app: Any) -> None:
    def run() -> None:
        app.HANDLER = app.make_handler(app.Payload())

    finding = only(explain(young(run)))
    assert finding.kind == "closure"
    assert finding.chain_text == "memguard_app.HANDLER"


def test_listener_list(app: Any) -> None:
    finding = only(explain(young(app.Widget)))
    assert finding.kind == "listener"
    assert finding.chain_text == "memguard_app.LISTENERS[0]"
    assert finding.advice == "remove the listener in teardown or register it with a weakref"


def test_cycle_only_reachable_from_itself(app: Any) -> None:
    retained = app.make_cycle()
    finding = only(explain(retained))
    assert finding.kind == "cycle"
    assert finding.retainer_chain == ()
    assert finding.chain_complete
    assert finding.summary.startswith("2 objects (")
    assert "in 1 reference cycle through Node objects that nothing else holds" in finding.summary
    assert "weakref back-pointer" in finding.advice


def test_cycle_held_from_outside_is_not_a_cycle(app: Any) -> None:
    retained = app.make_cycle()
    app.HOLDER = [retained[1]]
    finding = only(explain(retained))
    assert finding.kind == "growing-container"
    assert finding.chain_text == "memguard_app.HOLDER[0]"


def test_uncollectable(app: Any) -> None:
    saved_garbage = list(gc.garbage)
    flags = gc.get_debug()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        app.make_cycle()
        gc.collect()
    finally:
        gc.set_debug(flags)
    try:
        retained = [obj for obj in gc.garbage if isinstance(obj, app.Node)]
        assert len(retained) == 2
        finding = only(explain(retained))
        assert finding.kind == "uncollectable"
        assert finding.chain_text.startswith("gc.garbage[")
    finally:
        gc.garbage[:] = saved_garbage


def test_a_live_threads_own_objects_are_named_after_the_thread(app: Any) -> None:
    ready, stop = threading.Event(), threading.Event()
    out: list[object] = []

    def run() -> None:
        threading.Thread(target=app.poll, args=(ready, stop, out), name="poller").start()
        assert ready.wait(10)

    try:
        findings = explain(young(run))
        # the Thread, the bound method it runs, and what its frames hold: all the thread's
        assert {finding.kind for finding in findings} == {"thread"}, findings
    finally:
        stop.set()


def test_an_open_file_is_named_file_an_in_memory_stream_is_not(app: Any, tmp_path: Path) -> None:
    app.STREAMS = []

    def run() -> None:
        app.STREAMS.append(io.StringIO("in memory"))
        app.STREAMS.append(open(tmp_path / "log.txt", "w"))  # noqa: SIM115 (the leak)

    try:
        kinds = {finding.summary.split()[1]: finding.kind for finding in explain(young(run))}
    finally:
        app.STREAMS[1].close()
    assert kinds == {"StringIO": "growing-container", "TextIOWrapper": "file"}


# A library's caches, each registered for a clean-up by its cache_clear function (the
# way typing keeps its lru_caches in typing._cleanups).
CACHES = """
import functools

_cleanups = []


def _cached(maxsize):
    def decorate(func):
        cached = functools.lru_cache(maxsize=maxsize)(func)
        _cleanups.append(cached.cache_clear)

        @functools.wraps(func)
        def inner(*args):
            return cached(*args)

        return inner

    return decorate


class Alias:
    def __init__(self, params):
        self.params = params


class Param:
    pass


@_cached(maxsize=64)
def parametrize(params):
    return Alias(params)


@_cached(maxsize=None)
def parametrize_forever(params):
    return Alias(params)


def make_hook():
    seen = []

    def hook(event):
        seen.append(event)

    return hook


HOOKS = [make_hook()]
"""


@pytest.fixture
def caches(tmp_path: Path) -> Iterator[Any]:
    """The library with registered caches."""
    yield from load(tmp_path, "memguard_caches", CACHES)


def test_a_bounded_cache_reached_through_a_registry_is_warmup(caches: Any) -> None:
    findings = explain(young(lambda: caches.parametrize(caches.Param())))
    assert {finding.kind for finding in findings} == {"warmup"}, findings
    alias = next(finding for finding in findings if "Alias" in finding.summary)
    assert alias.chain_text.startswith("memguard_caches._cleanups[0].__self__[<cache entry>]")
    assert alias.summary.endswith("(bounded: lru_cache(maxsize=64) of parametrize)")
    assert alias.extra["bound"] == "lru_cache(maxsize=64) of parametrize"
    assert "bounded container stops growing" in alias.advice


def test_the_object_declaring_a_warmup_bound_is_handed_back(caches: Any) -> None:
    bounded: list[tuple[object, str]] = []
    explain(young(lambda: caches.parametrize(caches.Param())), bounded_holders=bounded)
    wrapper = caches._cleanups[0].__self__
    # One pair per group: the Alias and the Param it holds hang from the same cache.
    assert {(id(holder), bound) for holder, bound in bounded} == {
        (id(wrapper), "lru_cache(maxsize=64) of parametrize")
    }


def test_no_bound_is_handed_back_for_an_unbounded_cache(caches: Any) -> None:
    bounded: list[tuple[object, str]] = []
    explain(young(lambda: caches.parametrize_forever(caches.Param())), bounded_holders=bounded)
    assert bounded == []


def test_an_unbounded_cache_reached_through_a_registry_is_a_growing_container(
    caches: Any,
) -> None:
    findings = explain(young(lambda: caches.parametrize_forever(caches.Param())))
    assert {finding.kind for finding in findings} == {"growing-container"}, findings


def test_a_registered_callback_s_own_container_is_not_a_listener(caches: Any) -> None:
    run = lambda: caches.HOOKS[0](caches.Param())  # noqa: E731
    finding = only(explain(young(run)))
    assert finding.chain_text == "memguard_caches.HOOKS[0]<closure of make_hook>.seen[0]"
    assert finding.kind == "closure"


def test_a_lock_s_bound_method_without_a_chain_is_not_a_listener() -> None:
    acquire = threading.Lock().acquire
    finding = only(explain([acquire], chains=0))
    assert finding.kind == "warmup"
    assert finding.summary.endswith("(state the standard library keeps)")


def test_a_weak_reference_in_a_standard_library_list_is_not_a_growing_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refs = [weakref.ref(logging.root)]  # logging._handlerList's shape: its own objects
    monkeypatch.setattr(logging, "_memguard_refs", refs, raising=False)
    finding = only(explain([refs[0]]))
    assert finding.chain_text == "logging._memguard_refs[0]"
    assert finding.kind == "warmup"


def test_a_weak_reference_to_an_older_object_in_a_project_list_is_growth(app: Any) -> None:
    """Added on every run (the explanation is of confirmed growth), it stays as long as
    the object it points to: a listener list that keeps a new reference per connect."""
    app.REFS = [weakref.ref(app.Registry)]
    finding = only(explain([app.REFS[0]]))
    assert finding.chain_text == "memguard_app.REFS[0]"
    assert finding.kind == "growing-container"


def test_a_decoder_held_by_c_state_is_not_a_growing_container() -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    finding = only(explain([decoder]))
    assert "held by nothing the gc can see" in finding.summary
    assert finding.kind == "warmup"


def test_a_stdlib_object_no_search_looked_for_is_machinery() -> None:
    finding = only(explain([threading.Lock()], chains=0))
    assert finding.kind == "warmup"


def test_a_module_s_own_globals_bound_nothing_it_holds(app: Any) -> None:
    app.maxsize = 10
    app.ITEMS = [app.Token()]
    finding = only(explain([app.ITEMS[0]]))
    assert finding.kind == "growing-container"


def test_a_stdlib_object_in_a_project_container_is_a_growing_container(app: Any) -> None:
    app.LOCKS = [threading.Condition()]
    finding = only(explain([app.LOCKS[0]]))
    assert finding.kind == "growing-container"


# --- grouping, sizes, allocation sites ------------------------------------------------------


def test_a_weak_reference_joins_the_group_of_its_referent(app: Any) -> None:
    app.SEEN_WEAKLY = weakref.WeakSet()
    app.HELD = []

    def run() -> None:
        token = app.Token()
        app.HELD.append(token)
        app.SEEN_WEAKLY.add(token)

    finding = only(explain(young(run)))
    assert finding.chain_text == "memguard_app.HELD[0]"
    assert finding.count == 2  # the Token and the weak reference to it


def test_largest_group_first(app: Any) -> None:
    small, large = app.Token(), list(range(1000))
    app.SMALL, app.LARGE = small, large
    findings = explain([small, large])
    assert [finding.chain_text for finding in findings] == [
        "memguard_app.LARGE",
        "memguard_app.SMALL",
    ]
    assert findings[0].bytes > findings[1].bytes
    assert findings[0].summary.startswith("1 list object (")


def test_warmup_groups_come_after_the_leaks(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app.SMALL = app.Token()
    refs = [weakref.ref(logging.root, print) for _ in range(50)]  # one each: a callback
    monkeypatch.setattr(logging, "_memguard_refs", refs, raising=False)
    findings = explain([app.SMALL, *refs])
    assert findings[0].bytes < findings[1].bytes
    assert [finding.kind for finding in findings][:2] == ["growing-container", "warmup"]


def test_only_the_first_groups_get_chains(app: Any) -> None:
    app.A, app.B = app.Token(), app.Key()
    findings = explain([app.A, app.B], chains=1)
    assert [bool(finding.retainer_chain) for finding in findings] == [True, False]
    assert all(finding.kind == "growing-container" for finding in findings)


def test_the_chains_of_several_groups_are_searched_in_the_same_passes(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each level of a search is a pass over the heap: three groups as deep as one cost
    the passes of one."""
    passes = []
    referrers = gc.get_referrers

    def counting(*objs: object) -> list[object]:
        passes.append(len(objs))
        return referrers(*objs)

    app.Registry.items.append(app.Token())
    app.BY_KEY["k"] = [app.Key()]
    app.LISTENERS.append(app.Payload(3))
    retained = [app.Registry.items[0], app.BY_KEY["k"], app.BY_KEY["k"][0], app.LISTENERS[0]]
    monkeypatch.setattr(gc, "get_referrers", counting)
    findings = explain(retained, chains=3)
    monkeypatch.undo()
    assert len(findings) == 3 and all(finding.retainer_chain for finding in findings)
    assert len(passes) <= 3, passes


@pytest.fixture
def tracing() -> Iterator[None]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(25)
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


@pytest.mark.usefixtures("tracing")
def test_allocation_site_in_code_s_own_words(app: Any) -> None:
    app.HERE = app.make_here()
    finding = only(explain([app.HERE]))
    last = finding.allocated_at[-1]
    assert (last.filename, last.line) == (app.__file__, "return Record()")
    assert last.lineno == SOURCE.splitlines().index("    return Record()") + 1
    assert finding.allocated_at[0].filename == __file__  # this test, first
    assert not any("_pytest" in frame.filename for frame in finding.allocated_at)
    assert not any("pluggy" in frame.filename for frame in finding.allocated_at)
    assert len(explain([app.HERE], traceback_depth=1)[0].allocated_at) == 1


@pytest.mark.usefixtures("tracing")
def test_groups_split_by_allocation_site(app: Any) -> None:
    app.MANY = [app.make_here(), app.make_here(), app.make_there()]
    findings = explain(app.MANY)
    assert sorted(finding.count for finding in findings) == [1, 2]
    assert {finding.allocated_at[-1].line for finding in findings} == {"return Record()"}


@pytest.mark.usefixtures("tracing")
def test_allocation_site_of_an_instance_with_a_dict(app: Any) -> None:
    # On 3.11 tracemalloc cannot see such an instance: one of its members stands for it.
    finding = only(explain(young(lambda: setattr(app, "APP", app.App()))))
    assert finding.chain_text == "memguard_app.APP"
    assert __file__ in {frame.filename for frame in finding.allocated_at}


def test_without_tracemalloc_no_allocation_site(app: Any) -> None:
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is on for the whole run")
    app.MANY = [app.make_here(), app.make_there()]
    finding = only(explain(app.MANY))
    assert finding.allocated_at == ()
    assert finding.summary.startswith("2 Record objects (")


# --- the registry ---------------------------------------------------------------------------


@pytest.fixture
def registry() -> Iterator[None]:
    classifiers, advice = dict(classify.CLASSIFIERS), dict(ADVICE)
    try:
        yield
    finally:
        classify.CLASSIFIERS.clear()
        classify.CLASSIFIERS.update(classifiers)
        ADVICE.clear()
        ADVICE.update(advice)


@pytest.mark.usefixtures("registry")
def test_other_modules_add_kinds(poller: object) -> None:
    classify.register_kind("thread", lambda evidence: evidence.root == "thread", "stop it")
    assert list(classify.CLASSIFIERS)[-2:] == ["thread", "growing-container"]
    finding = only(explain([poller]))
    assert (finding.kind, finding.advice) == ("thread", "stop it")


def test_every_resource_kind_has_a_classifier_and_advice() -> None:
    """The resource kinds the verdict folds with the sentinels' findings are the ones the
    classifiers name groups after, and each has its advice."""
    assert tuple(classify.RESOURCE_CLASSIFIERS) == RESOURCE_KINDS
    assert set(RESOURCE_KINDS) <= set(ADVICE)


@pytest.mark.usefixtures("registry")
def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown finding kind 'leaky'"):
        classify.register_kind("leaky", lambda evidence: True, "")


def test_a_weak_table_s_entry_costs_the_passes_of_its_chain_only(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explainer's own lists of retained objects (a weak reference's referent, kept
    to weigh the group) lead nowhere: followed, they would hold back the way through
    the weak table, which a search takes only once no other way is left."""
    passes = []
    referrers = gc.get_referrers

    def counting(*objs: object) -> list[object]:
        passes.append(len(objs))
        # 3.13 reports the argument tuple itself, here this function's own.
        return [ref for ref in referrers(*objs) if ref is not objs]

    app.TABLE = weakref.WeakKeyDictionary()
    key = app.Key()
    app.TABLE[key] = key  # the value keeps its key alive: a leak
    retained = [key, *app.TABLE.data]
    monkeypatch.setattr(gc, "get_referrers", counting)
    finding = explain(retained)[0]
    monkeypatch.undo()
    assert finding.chain_text.startswith("memguard_app.TABLE")
    assert len(passes) <= 4, passes  # 3 (3.10: 4); 5 to 8 through the explainer's lists


@pytest.mark.usefixtures("tracing")
def test_tracing_can_stop_once_the_allocation_sites_are_read(app: Any) -> None:
    """The chain search and the sizes need no tracing, which slows every allocation:
    ``sites_read`` lets the caller stop it, and the sites stay in the finding."""
    app.HERE = app.make_here()
    stopped = []

    def stop() -> None:
        stopped.append(tracemalloc.is_tracing())
        tracemalloc.stop()

    finding = only(explain([app.HERE], sites_read=stop))
    assert stopped == [True]
    assert finding.allocated_at[-1].line == "return Record()"
    assert finding.chain_text == "memguard_app.HERE"


class _Shared:
    """An object older than the run that weak references point to."""


def test_a_weak_entry_to_an_older_object_in_the_projects_container_is_a_leak() -> None:
    """A weak reference is the standard library's bookkeeping, unless it points to an
    object the run did not make and a container the project keeps holds it: a
    ``WeakValueDictionary`` gaining an entry per request for a shared object."""
    shared = _Shared()
    ref = weakref.ref(shared)
    project = types.ModuleType("shop_requests")
    table = {5: ref}

    def evidence(root: object, older: object | None) -> classify.Evidence:
        return classify.Evidence(
            top=ref,
            members=(ref,),
            chain_objects=(root, table, ref),
            root="module",
            older_referent=older,
        )

    assert classify.classify(evidence(project, older=shared)) == "growing-container"
    assert classify.classify(evidence(project, older=None)) == "warmup"
    # In the standard library's container, for the project's object: still the project's.
    assert classify.classify(evidence(logging, older=shared)) == "growing-container"
    # The standard library's state for its own object (a logger's handler references).
    assert classify.classify(evidence(logging, older=logging.root)) == "warmup"
