"""In-process tests of the walk through pytest's holders: its work never grows with the
size of a wider-scoped fixture's value (counted in objects visited, not in time)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from conftest import PLUGIN_ARGS
from lazy_proxy import UnboundProxy

from pytest_memguard.builder import FixtureRecorder
from pytest_memguard.confirm.bounds import find_holders
from pytest_memguard.screen import window as window_module
from pytest_memguard.screen.containers import ContainerWatch
from pytest_memguard.screen.gcwatch import GcWatch
from pytest_memguard.screen.heap import RssProbe, YoungHeap
from pytest_memguard.screen.holders import (
    FixtureLedger,
    FullWalks,
    PluginState,
    SharedHolders,
    _containers,
    item_seeds,
    through_pytest,
)
from pytest_memguard.screen.triage import Triage
from pytest_memguard.screen.window import WindowRunner, _Run


class _FixtureDefLike:
    """Stands for a fixture definition: its module is taken as pytest's by the walk."""

    __module__ = "_pytest.fixtures"

    def __init__(self, value: object) -> None:
        self.cached_result = (value, None, None)
        self._finalizers: list[object] = []


def test_the_walk_through_pytest_does_not_enter_a_big_fixture_value() -> None:
    big = [[n] for n in range(100_000)]
    visited = list(through_pytest([_FixtureDefLike(big)]))
    assert any(obj is big for obj in visited)  # the value itself is a seed
    assert len(visited) < 100  # its 100,000 lists are never listed


def test_a_small_fixture_value_is_walked_into() -> None:
    small = [{"row": n} for n in range(10)]
    visited = list(through_pytest([_FixtureDefLike(small)]))
    assert all(any(obj is row for obj in visited) for row in small)


class _State:
    """A plain instance, as pytest's nodes and a test class's instance are."""


def test_the_walks_of_pytests_state_tell_a_lazy_proxy_by_its_type() -> None:
    """pytest's state may keep a lazy proxy whose ``__class__`` raises (werkzeug's
    request on a test class's instance): the walks through that state tell it by its
    type, never asking its class."""
    proxy = UnboundProxy()
    assert list(through_pytest([proxy])) == []
    node, instance = _State(), _State()
    instance.request = proxy  # type: ignore[attr-defined]
    node.instance, node.request = instance, proxy  # type: ignore[attr-defined]
    assert any(found is proxy for found in _containers(node))


def test_learning_shared_holders_skips_a_holder_of_data() -> None:
    big = [[n] for n in range(100_000)]
    small: list[object] = [["young"]]
    shared = SharedHolders()
    seeds = list(shared.learn([big, small], remaining={id(small[0])}))
    assert len(seeds) < 10
    assert shared.known_seeds() == [small[0]]  # the holder of a survivor is remembered


def test_a_young_shared_holder_is_remembered_and_nothing_else() -> None:
    """A holder made during the run (a young dict a fixture filled) is remembered though
    none of its referents is left; one reaching nothing left is not."""
    young: dict[str, object] = {"answer": 42}
    unrelated: list[object] = [["old"]]
    shared = SharedHolders()
    seeds = shared.learn([young, unrelated], remaining={id(young)})
    assert any(seed is unrelated[0] for seed in seeds)  # every holder is walked
    assert shared.known_seeds() == [42]  # only the young holder's referents come back


def test_the_walk_through_pytest_never_enters_a_collection_node(pytester: pytest.Pytester) -> None:
    module = pytester.getmodulecol("def test_func(): pass", configargs=PLUGIN_ARGS)
    (item,) = pytester.genitems([module])
    behind = _FixtureDefLike(item)
    visited = list(through_pytest([behind]))
    assert any(obj is item for obj in visited)  # reached, as a value
    assert not any(obj is item.parent for obj in visited)  # but never entered


class _Rows(list[object]):
    """A list that can be weakly referenced."""


def test_a_shared_holder_only_the_plugin_still_holds_is_forgotten() -> None:
    """A finished test's fixture request is nobody's but the plugin's: walking it costs
    every later test, and keeping it would keep it alive."""
    in_use = _Rows([["young"]])
    finished = _Rows([["young too"]])
    shared = SharedHolders()
    list(shared.learn([in_use, finished], remaining={id(in_use[0]), id(finished[0])}))
    assert [seed for seed in shared.known_seeds() if type(seed) is list] == [*in_use, *finished]
    gone = weakref.ref(finished)
    del finished
    assert [seed for seed in shared.known_seeds() if type(seed) is list] == [*in_use]
    assert gone() is None


def test_learning_shared_holders_never_lists_a_big_holders_referents(
    referents_listed: list[int],
) -> None:
    """The work, not only the seeds: a session fixture's list of 100,000 rows is
    recognised as data by its length, before any of its referents is listed."""
    big = [[n] for n in range(100_000)]
    list(SharedHolders().learn([big, [["young"]]], remaining=set()))
    assert sum(referents_listed) < 10


@contextlib.contextmanager
def _registered(config: pytest.Config, plugin: object) -> Iterator[PluginState]:
    """``plugin`` registered for the block, and a fresh view of the plugins' state."""
    config.pluginmanager.register(plugin, f"memguard-test-{type(plugin).__name__}")
    try:
        yield PluginState(config)
    finally:
        config.pluginmanager.unregister(plugin)


class _PluginWithCaches:
    """A plugin keeping a large cache (the assertion rewriter's names) and a list a run
    appends to."""

    def __init__(self) -> None:
        self.names = {f"module{n}": [n] for n in range(300)}
        self.records: list[object] = []


def test_known_plugin_state_seeds_only_the_items_of_containers_that_changed(
    pytestconfig: pytest.Config,
) -> None:
    plugin = _PluginWithCaches()
    with _registered(pytestconfig, plugin) as state:
        first = ["kept by the plugin"]
        plugin.records.append(first)
        assert any(seed is first for seed in state.learn({id(first)}))  # now known
        state.opening()
        assert len(state.known_seeds()) == len(vars(plugin))  # the values alone
        added = ["added during the window"]
        plugin.records.append(added)
        seeds = state.known_seeds()
        assert any(seed is added for seed in seeds)
        assert not any(seed is plugin.names["module0"] for seed in seeds)


def _item_in(parent: object) -> pytest.Item:
    return cast(pytest.Item, SimpleNamespace(parent=parent))


def test_full_walks_are_due_on_a_new_scope_a_wider_fixture_or_after_a_find() -> None:
    walks, ledger = FullWalks(), FixtureLedger()
    module, other_module = object(), object()
    assert walks.due(_item_in(module), ledger)  # the first test enters its module
    walks.screened(_item_in(module), found=False)
    assert not walks.due(_item_in(module), ledger)  # nothing new for pytest to keep
    ledger.record(SimpleNamespace(scope="module"))
    assert walks.due(_item_in(module), ledger)  # a wider fixture's value set up in the run
    ledger.clear()
    walks.screened(_item_in(module), found=True)
    assert walks.due(_item_in(module), ledger)  # the last walk found what pytest keeps
    walks.screened(_item_in(module), found=False)
    assert walks.due(_item_in(other_module), ledger)  # a new scope set up in the run


def test_only_wider_scoped_fixtures_set_up_in_a_window_are_recorded_and_promoted() -> None:
    ledger, promoted = FixtureLedger(), []
    young = SimpleNamespace(is_open=True, promote=lambda: promoted.append(True))
    recorder = FixtureRecorder(ledger, young, SimpleNamespace(add_young=lambda: None))  # type: ignore[arg-type]

    def set_up(scope: str) -> object:
        fixturedef = SimpleNamespace(scope=scope)
        setup = recorder.pytest_fixture_setup(fixturedef)
        next(setup)
        with pytest.raises(StopIteration) as done:
            setup.send("value")
        assert done.value.value == "value"  # the fixture's value goes through unchanged
        return fixturedef

    set_up("function")
    assert ledger.fixturedefs == [] and promoted == []
    module_fixture = set_up("module")
    assert ledger.fixturedefs == [module_fixture] and promoted == [True]
    young.is_open = False
    set_up("session")  # outside any window: no test's
    assert ledger.fixturedefs == [module_fixture] and promoted == [True]


class _Reporter:
    """A plugin that files per-test objects under their outcome, as pytest's terminal
    reporter does."""

    def __init__(self) -> None:
        self.stats: dict[str, list[object]] = {"passed": []}


def test_holders_a_search_finds_in_plugin_state_are_adopted_as_pytests(
    pytestconfig: pytest.Config,
) -> None:
    plugin = _Reporter()
    with _registered(pytestconfig, plugin) as state:
        cache_of_the_code: dict[str, object] = {}
        found = [plugin.stats, cache_of_the_code]
        assert state.adopt(found) == {id(plugin.stats)}
        state.opening()
        plugin.stats["subtests passed"] = filed = [object()]
        assert any(seed is filed for seed in state.known_seeds())


def test_a_holder_search_never_names_the_plugins_own_lists(
    tmp_path: Path, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The container watch keeps the project's module-level containers in lists of its
    own: a search for what holds one finds its module, never those lists (which it would
    climb above, a pass over the heap each, and count as an unbounded holder)."""
    (tmp_path / "watched_project_module.py").write_text("CACHE = {}\n")
    monkeypatch.syspath_prepend(tmp_path)
    module = importlib.import_module("watched_project_module")
    watch = ContainerWatch([tmp_path])
    watch.refresh()
    monkeypatch.delitem(sys.modules, "watched_project_module")
    assert watch.watched_count == 2  # the module's CACHE and the current context
    runner = WindowRunner(
        YoungHeap(use_freeze=False),
        RssProbe(),
        GcWatch(),
        watch,
        FixtureLedger(),
        PluginState(pytestconfig),
    )
    found = find_holders([module.CACHE], skip_ids=runner.own_ids())
    runner.rss.close()
    assert found.holders == [vars(module)]


@pytest.mark.parametrize("stray", [False, True])
def test_what_a_grown_root_explains_is_not_looked_for_in_the_item_s_state(
    tmp_path: Path,
    pytestconfig: pytest.Config,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    stray: bool,
) -> None:
    """A CLI runner's invocation leaking once more into a root the session confirmed:
    the root's new entry explains all the run left, and the item's state is not walked.
    Whatever else the run left, the item's state is; when it holds none of it, the
    triage made first stands."""
    runner = WindowRunner(
        YoungHeap(use_freeze=False),
        RssProbe(),
        GcWatch(),
        ContainerWatch([tmp_path]),
        FixtureLedger(),
        PluginState(pytestconfig),
    )
    root: dict[int, object] = {}
    runner.book.learn_leaking(root, "stream cache")
    runner.book.note_lengths()
    root[1] = leaked = {"stream": [1]}
    survivors: list[object] = [leaked, leaked["stream"], *([{"stray": 1}] if stray else [])]
    walked: list[object] = []

    def item_seeds(item: pytest.Item, young: list[object]) -> list[object]:
        walked.append(item)
        return []

    triaged: list[object] = []
    triage_after = window_module.triage_after

    def counted(*args: Any) -> Triage:
        triaged.append(args)
        return triage_after(*args)

    monkeypatch.setattr(window_module, "item_seeds", item_seeds)
    monkeypatch.setattr(window_module, "triage_after", counted)
    found = runner._attribute(request.node, [], survivors, None, _Run.SCREEN, None, None)
    runner.rss.close()
    assert found.triage.roots == ("stream cache",)
    assert found.triage.unexplained == (1 if stray else 0)
    assert walked == ([request.node] if stray else [])
    assert triaged == []  # the item's state held nothing more: triaged once


@dataclasses.dataclass(frozen=True)
class _FrozenMark:
    """Stands for pytest's marks and call specs: frozen dataclasses made as it collects."""

    args: tuple[object, ...]


class _TestCase:
    """Stands for a test-class instance pytest keeps on the item."""

    def __init__(self, state: object) -> None:
        self.state = state


class _ItemLike:
    def __init__(self, instance: _TestCase, mark: _FrozenMark) -> None:
        self.stash = pytest.Stash()
        self.instance = instance
        self.own_markers = [mark]


def test_the_items_seeds_hold_an_instances_state_but_not_a_frozen_dataclasss_fields() -> None:
    """The attributes of a plain instance on the item (a test-class instance a test may
    give state) are seeds; the fields of a frozen dataclass (a mark) are never given
    after it was made, and are not read."""
    state, field = ["set by the test"], ["a mark's argument"]
    mark = _FrozenMark((field,))
    item = _ItemLike(_TestCase(state), mark)

    seeds = item_seeds(cast(pytest.Item, item), [])

    assert any(seed is state for seed in seeds)
    assert any(seed is mark for seed in seeds)
    assert not any(seed is mark.args for seed in seeds)
