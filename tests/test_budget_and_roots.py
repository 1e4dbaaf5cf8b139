"""In-process tests of the confirmation budget, bounds found above a holder, and roots."""

from __future__ import annotations

import datetime
import functools
import gc
import struct
import sys
import threading
import types
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from lazy_proxy import UnboundProxy

from pytest_memguard.confirm import lrucaches
from pytest_memguard.confirm.bounds import (
    CLIMB_STEPS,
    MAX_HOLDERS,
    Holders,
    c_state_bounds,
    find_holders,
    module_constant_bound,
)
from pytest_memguard.confirm.budget import (
    ALLOWANCE_SECONDS,
    SMALL_SUITE_TESTS,
    ConfirmBudget,
    suite_allowance,
)
from pytest_memguard.confirm.lazy import (
    FREE_MISSES,
    MISSES_PER_FIND,
    NearWalks,
    declared_attributes,
    imported_namespaces,
    materialized,
    referrers_near,
    referrers_outside,
    thread_dicts,
)
from pytest_memguard.confirm.listing import LRU_WRAPPER, HeapListing
from pytest_memguard.confirm.lrucaches import LruCaches
from pytest_memguard.confirm.shapes import (
    SEARCHES_PER_SHAPE,
    UNPAID_SEARCHES,
    ShapeLog,
    growth_shape,
)
from pytest_memguard.confirm.siblings import (
    CLEARS_NEEDED,
    LEARNING_TRIES,
    Siblings,
    Signature,
    function_of,
)
from pytest_memguard.explain.causes import RootBook, session_summary
from pytest_memguard.findings import Finding
from pytest_memguard.record import TestRecord


def test_the_budget_grows_with_the_suite_and_shrinks_with_each_rerun() -> None:
    budget = ConfirmBudget(share=0.1, allowance=1.0)
    assert budget.allows(1.0) and not budget.allows(1.01)
    budget.screened(20.0)  # 10 % of 20 s: 2 s more
    assert budget.allows(3.0)
    budget.spend(2.5)
    assert budget.allows(0.5) and not budget.allows(0.6)


def test_a_suite_past_a_small_one_gets_an_allowance_falling_with_its_size_squared() -> None:
    """A leak case of a few tests keeps the whole fixed allowance; a suite of a thousand
    small tests pays for its confirmations from its own share."""
    assert suite_allowance(1) == suite_allowance(SMALL_SUITE_TESTS) == ALLOWANCE_SECONDS
    assert suite_allowance(2 * SMALL_SUITE_TESTS) == pytest.approx(ALLOWANCE_SECONDS / 4)
    assert suite_allowance(5 * SMALL_SUITE_TESTS) == pytest.approx(ALLOWANCE_SECONDS / 25)


def test_learning_may_spend_half_as_much_again_as_the_budget() -> None:
    budget = ConfirmBudget(share=0.0, allowance=4.0)
    budget.spend(4.0)
    assert not budget.allows(0.1)
    assert budget.allows(2.0, reserve=True) and not budget.allows(2.1, reserve=True)


def test_confirmations_that_overran_the_budget_leave_the_reserve_whole() -> None:
    budget = ConfirmBudget(share=0.0, allowance=4.0)
    budget.spend(6.0)  # a re-run took longer than it was expected to
    assert not budget.allows(0.1)
    assert budget.allows(2.0, reserve=True)
    budget.spend(1.5, reserve=True)
    assert budget.allows(0.5, reserve=True) and not budget.allows(0.6, reserve=True)


def test_the_re_runs_that_vouch_for_siblings_have_a_reserve_of_their_own() -> None:
    """Learning a holder spent its reserve: a parametrized function's first re-runs
    still fit theirs, as large, and spend it alone."""
    budget = ConfirmBudget(share=0.1, allowance=4.0)
    budget.spend(4.0)
    budget.spend(2.0, reserve=True)
    assert not budget.allows(0.5, reserve=True)
    assert budget.allows(2.0, siblings=True) and not budget.allows(2.1, siblings=True)
    budget.spend(1.5, siblings=True)
    assert budget.allows(0.5, siblings=True) and not budget.allows(0.6, siblings=True)
    assert (budget.spent_seconds, budget.reserve_spent, budget.siblings_spent) == (4.0, 2.0, 1.5)


def test_waiting_for_what_re_runs_left_is_charged_apart() -> None:
    """A thread leak's re-runs wait a grace period each: not the test's time, and not
    the allowance of quick tests either, but a fixed one of its own."""
    budget = ConfirmBudget(share=0.0, allowance=1.0, wait_allowance=2.0)
    assert budget.allows(0.1, waits=1.0)
    budget.spend(0.1, waits=1.0)
    assert budget.left == pytest.approx(0.9)
    assert budget.allows(0.1, waits=1.0)
    budget.spend(0.1, waits=1.0)
    assert not budget.allows(0.1, waits=0.5)
    assert budget.allows(0.1)


def test_a_shape_is_worth_learning_at_its_2nd_4th_and_8th_suspect() -> None:
    shapes = ShapeLog()
    rebuilt = growth_shape([{}, [], weakref.WeakValueDictionary()])
    assert rebuilt == growth_shape([weakref.WeakValueDictionary(), {}, [], []])
    worth = []
    for _ in range(20):
        worth.append(shapes.worth_learning(rebuilt))
        shapes.suspect(rebuilt)
        if worth[-1]:
            shapes.searched(rebuilt)
    assert [at + 1 for at, yes in enumerate(worth) if yes] == [2, 4, 8]
    assert SEARCHES_PER_SHAPE == 3
    assert not shapes.worth_learning(growth_shape([()]))


def test_a_search_put_off_for_the_budget_is_due_at_the_shape_s_next_suspect() -> None:
    """The budget had no room at the 2nd and 3rd suspects: the 4th searches, and the
    next search is due at twice that one, the 8th."""
    shapes = ShapeLog()
    rebuilt = growth_shape([{}, weakref.WeakValueDictionary()])
    room = {4, 8}
    searched = []
    for count in range(1, 12):
        worth = shapes.worth_learning(rebuilt)
        shapes.suspect(rebuilt)
        assert worth == (count >= 2 and count not in (5, 6, 7, 9, 10, 11))
        if worth and count in room:
            shapes.searched(rebuilt)
            searched.append(count)
    assert searched == [4, 8]


class _Taught:
    """A holder a learning search taught, as the book counts what it explains."""

    def __init__(self) -> None:
        self.hits = 0


def test_learning_stops_while_what_it_taught_explains_nothing_later() -> None:
    """Each suspect's holder its own (a test module's schema fields): after a few
    searches whose holders no later run reaches, no more are made; one that explains a
    later run (a library's shared cache) starts learning again."""
    shapes = ShapeLog()
    shapes_seen = [growth_shape([kind()]) for kind in (list, dict, set, bytearray, tuple)]

    def second_suspect(shape: frozenset[type]) -> bool:
        shapes.suspect(shape)
        return shapes.worth_learning(shape)

    taught = [_Taught() for _ in range(UNPAID_SEARCHES)]
    for shape, holder in zip(shapes_seen, taught, strict=False):
        assert second_suspect(shape)
        shapes.searched(shape)
        shapes.taught([holder], 0.05)
    assert not second_suspect(shapes_seen[UNPAID_SEARCHES])
    assert shapes.paid_back() == 0.0
    taught[0].hits += 1  # a later run explained by what the first search taught
    assert shapes.worth_learning(shapes_seen[UNPAID_SEARCHES])
    assert shapes.paid_back() == pytest.approx(0.05)  # that search, once
    assert shapes.paid_back() == 0.0


def test_a_learning_search_that_paid_is_given_back_to_the_reserve() -> None:
    budget = ConfirmBudget(share=0.0, allowance=0.2)  # a reserve of 0.1 s
    budget.spend(0.2)
    budget.spend(0.08, reserve=True)
    assert not budget.allows(0.05, reserve=True)
    budget.pay_back(0.08)
    assert budget.allows(0.1, reserve=True) and not budget.allows(0.11, reserve=True)
    budget.pay_back(1.0)  # never more than the reserve spent
    assert not budget.allows(0.11, reserve=True)


def _item(name: str, originalname: str, parent: str = "tests/test_dates.py") -> Any:
    """What :func:`function_of` reads of a test item."""
    return types.SimpleNamespace(
        name=name, originalname=originalname, parent=types.SimpleNamespace(nodeid=parent)
    )


def test_a_parametrized_function_is_told_by_its_parent_and_name() -> None:
    assert function_of(_item("test_smoke[fr]", "test_smoke")) == (
        "tests/test_dates.py",
        "test_smoke",
    )
    assert function_of(_item("test_alone", "test_alone")) is None
    assert function_of(types.SimpleNamespace(name="doctest", parent=None)) is None  # type: ignore[arg-type]


_FILLS = Signature(("tests/test_smoke.py", "test_smoke"), frozenset(), frozenset({"app.exists"}))


def test_siblings_are_vouched_for_once_the_re_runs_of_enough_of_them_cleared() -> None:
    siblings = Siblings()
    for at in range(CLEARS_NEEDED):
        assert siblings.precedent(_FILLS) is None
        siblings.cleared(_FILLS, f"test_smoke[{at}]")
    precedent = siblings.precedent(_FILLS)
    assert precedent is not None and precedent.first == "test_smoke[0]"
    assert f"re-runs of {CLEARS_NEEDED} other tests of this function" in precedent.reason()
    # Another function, other types left or other containers grown: on their own.
    for other in (
        _FILLS._replace(function=("tests/test_smoke.py", "test_other")),
        _FILLS._replace(types=frozenset({dict})),
        _FILLS._replace(containers=frozenset({"app.exists", "app.cache"})),
    ):
        assert siblings.precedent(other) is None


def test_a_shape_the_rules_explained_for_a_sibling_is_vouched_for_after_them_only() -> None:
    siblings = Siblings()
    for at in range(CLEARS_NEEDED):
        siblings.cleared(_FILLS, f"test_smoke[{at}]")
    assert siblings.precedent(_FILLS, before_rules=True) is not None
    siblings.explained(_FILLS)
    assert siblings.precedent(_FILLS, before_rules=True) is None
    assert siblings.precedent(_FILLS) is not None


def test_a_shape_a_sibling_leaked_with_is_never_vouched_for() -> None:
    siblings = Siblings()
    for at in range(CLEARS_NEEDED):
        siblings.cleared(_FILLS, f"test_smoke[{at}]")
    siblings.leaked(_FILLS)
    siblings.cleared(_FILLS, "test_smoke[9]")
    siblings.cleared(_FILLS, "test_smoke[10]")
    assert siblings.precedent(_FILLS) is None
    assert not siblings.worth_learning(_FILLS)


def test_a_shape_s_re_runs_learn_on_the_reserve_a_few_times_until_vouched_for() -> None:
    siblings = Siblings()
    assert [siblings.worth_learning(_FILLS) for _ in range(LEARNING_TRIES + 1)] == [
        *[True] * LEARNING_TRIES,
        False,
    ]
    fresh = Siblings()
    for at in range(CLEARS_NEEDED):
        assert fresh.worth_learning(_FILLS)
        fresh.cleared(_FILLS, f"test_smoke[{at}]")
    assert not fresh.worth_learning(_FILLS)  # vouched for: no more re-runs


class _PerThreadCache:
    """A cache declaring its bound, its entries two levels down in a per-thread dict (the
    shape of hypothesis' GenericCache)."""

    __slots__ = ("_local", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._local = threading.local()
        self._local.data = []


_PER_THREAD = _PerThreadCache(8)
_UNBOUNDED: dict[str, object] = {}


@functools.lru_cache(maxsize=4)
def _cached(key: str) -> list[str]:
    return [key]


def test_a_bound_declared_further_up_the_chain_is_found() -> None:
    entry = {"cached": True}
    _PER_THREAD._local.data.append(entry)
    try:
        holders = find_holders([entry])
    finally:
        _PER_THREAD._local.data.remove(entry)
    assert holders.all_bounded
    assert set(holders.bounds.values()) == {"_PerThreadCache(max_size=8)"}


def test_the_holder_of_most_of_a_group_is_climbed_behind_many_small_holders() -> None:
    """A first run fills a per-thread cache with most of its objects and leaves one in
    each of many small dicts (typing's and a library's first-use caches): the cache is
    climbed to its bound however many holders come before it."""
    cache = _PerThreadCache(1024)
    gc.collect()  # the cache's list is old: the young small holders are listed first
    cache._local.data.extend({"entry": index} for index in range(40))
    small_holders = [{"one": {"entry": index}} for index in range(MAX_HOLDERS + 4)]
    holders = find_holders([*cache._local.data, *(small["one"] for small in small_holders)])
    assert len(holders.holders) == len(small_holders) + 1
    assert list(holders.bounds.values()) == ["_PerThreadCache(max_size=1024)"]


def test_holders_of_an_lru_cache_result_are_bounded() -> None:
    entry = _cached("a")
    holders = find_holders([entry])
    assert holders.all_bounded
    assert any("lru_cache(maxsize=4)" in bound for bound in holders.bounds.values())


def _closure_cache(maxsize: int | None) -> functools._lru_cache_wrapper[list[object]]:
    """An lru_cache reached from no module attribute, the way typing's ``_tp_cache``
    keeps one per generic helper inside a closure."""
    return functools.lru_cache(maxsize=maxsize)(lambda key: [key])


def test_what_a_bounded_lru_cache_holds_is_found_by_listing_the_wrappers() -> None:
    bounded, unbounded = _closure_cache(8), _closure_cache(None)
    # Sets, unlike tuples of atomic values, stay tracked: a window lists them.
    key, other = frozenset({"made by the test"}), frozenset({"not cached"})
    result, unbounded_result = bounded(key), unbounded(other)
    held = LruCaches().holding([key, result, unbounded_result, other, [object()]])
    assert held.ids == {id(key), id(result)}
    assert [wrapper for wrapper, _ in held.wrappers] == [bounded]
    assert held.wrappers[0][1].startswith("lru_cache(maxsize=8)")


def test_an_lru_cache_is_walked_again_only_once_it_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache makes an entry only on a miss: one whose misses and size did not change
    since it was last walked holds nothing made since, and is not walked again."""
    cached = _closure_cache(8)
    caches = LruCaches()
    first = frozenset({"first"})
    assert caches.holding([first, cached(first)]).ids == {id(first)} | {id(cached(first))}
    walked: list[object] = []
    walk = lrucaches.referents_through_dicts

    def counting(objs: list[object]) -> list[object]:
        walked.extend(objs)
        return walk(objs)

    monkeypatch.setattr(lrucaches, "referents_through_dicts", counting)
    cached(first)  # a hit: no entry made
    assert caches.holding([frozenset({"not cached"})]).ids == set()
    assert cached not in walked
    second = frozenset({"second"})
    result = cached(second)  # a miss: a new entry, found
    assert caches.holding([second, result]).ids == {id(second), id(result)}
    assert cached in walked


def test_an_unbounded_cache_of_a_function_without_arguments_holds_one_entry() -> None:
    @functools.cache
    def settings() -> dict[str, object]:
        return {"made": object()}

    @functools.cache
    def lookup(key: object) -> dict[str, object]:
        return {"made": key}

    made, looked_up = settings(), lookup(("key",))
    held = LruCaches().holding([made, looked_up])
    assert held.ids == {id(made)}
    assert held.wrappers[0][1].endswith("settings, which takes no arguments")


class _Plain:
    pass


def _materialized(left: list[object], retained: frozenset[int] = frozenset()) -> list[object]:
    return materialized(left, set(retained), ignore={id(left)})


def test_dicts_made_on_first_access_to_older_objects_are_told_apart() -> None:
    def handler(ctx: int, name: str) -> None: ...

    owner = _Plain()
    owner.value = 1  # type: ignore[attr-defined]
    annotations, attributes = handler.__annotations__, vars(owner)
    assert _materialized([annotations]) == [annotations]
    # 3.13 no longer lists an instance's inline dict among its referents.
    if sys.version_info < (3, 13):
        assert _materialized([annotations, attributes]) == [annotations, attributes]
    # An owner made by the run itself, or a second holder, is no first access.
    assert _materialized([annotations], {id(handler)}) == []
    _HOLDERS.append(annotations)
    try:
        assert _materialized([annotations]) == []
    finally:
        _HOLDERS.clear()
    # Only the dicts made on access: the run's other objects are still its growth.
    assert _materialized([annotations, [1]]) == [annotations]


class _Slotted:
    """What some code registers in ``sys.modules``: no module, and no ``__dict__``."""

    __slots__ = ()


def _tutorial_module() -> types.ModuleType:
    """A module as a CLI tutorial makes one: a command function and an app whose
    registered groups hold an info object."""
    tutorial = types.ModuleType("tutorial")

    def main(ctx: int, name: str) -> None: ...

    info = _Plain()
    info.name = "users"  # type: ignore[attr-defined]
    app = _Plain()
    app.registered_groups = [info]  # type: ignore[attr-defined]
    tutorial.main, tutorial.app = main, app  # type: ignore[attr-defined]
    return tutorial


def test_dicts_made_on_first_access_are_found_from_the_test_s_module() -> None:
    """The owners a test touches first are reached from its module and the modules it
    holds by name (``from docs import tutorial as mod``), without a pass over the heap:
    a command's ``__annotations__``, an app's group's ``__dict__`` (listed on 3.11 and
    3.12). A dict a list of the module holds is not made on first access; an owner
    only another module's namespace reaches is not walked to."""
    tutorial = _tutorial_module()
    test_module = types.ModuleType("test_tutorial")
    test_module.mod = tutorial  # type: ignore[attr-defined]
    test_module.RESULTS = [{"exit_code": 0}]  # type: ignore[attr-defined]
    elsewhere = _tutorial_module()
    sys.modules["memguard_elsewhere"] = elsewhere
    sys.modules["memguard_slotted"] = _Slotted()  # type: ignore[assignment]
    # A function of the other module: its globals are that module's namespace.
    exec("def run():\n    return main", vars(elsewhere))
    test_module.run = elsewhere.run  # type: ignore[attr-defined]
    try:
        namespaces = imported_namespaces(test_module)
        assert namespaces == [vars(test_module), vars(tutorial)]
        annotations = tutorial.main.__annotations__  # type: ignore[attr-defined]
        result = test_module.RESULTS[0]  # type: ignore[attr-defined]
        other = elsewhere.main.__annotations__  # type: ignore[attr-defined]
        left: list[object] = [annotations, result, other]
        if sys.version_info < (3, 13):  # 3.13 no longer lists an instance's inline dict
            left.append(vars(tutorial.app.registered_groups[0]))  # type: ignore[attr-defined]
        near = referrers_near(left, [namespaces], {id(left)})
        lazy = materialized(left, set(), {id(left)}, near)
        assert lazy == [annotations, *left[3:]]
    finally:
        del sys.modules["memguard_elsewhere"], sys.modules["memguard_slotted"]


def test_the_rules_for_dicts_made_on_first_access_never_ask_a_proxy_its_class() -> None:
    """A lazy proxy (werkzeug's request, outside a request) may refer to what a run
    left: it is looked at through its type, never asked its class, which raises."""
    proxy = UnboundProxy()
    made = {"name": "users"}
    proxy.kept = made  # type: ignore[attr-defined]
    left: list[object] = [made]
    referrers = referrers_outside(left, {id(left)})
    assert referrers  # the proxy, or on 3.10 its __dict__
    assert materialized(left, set(), {id(left)}, referrers) == []


def test_walks_near_the_test_enter_nothing_of_pytest_and_stop_once_each_dict_is_held() -> None:
    """pytest's objects lead to its config, its session and every collected item: a walk
    near the test neither starts from pytest's namespace nor enters its objects, nor
    starts from the interpreter's state (``sys``'s every path finder), and never asks a
    lazy proxy its class. Only a dict is made on first access: once each dict left has a
    referrer, no walk follows."""

    def command(name: str) -> None: ...

    annotations = command.__annotations__
    left: list[object] = [annotations]
    stash = pytest.Stash()
    stash[pytest.StashKey[list[object]]()] = [command]
    test_module = types.ModuleType("test_through_pytest")
    test_module.stash = stash  # type: ignore[attr-defined]
    test_module.pytest = pytest  # type: ignore[attr-defined]
    test_module.sys = sys  # type: ignore[attr-defined]
    test_module.request = UnboundProxy()  # type: ignore[attr-defined]
    namespaces = imported_namespaces(test_module)
    assert namespaces == [vars(test_module)]
    assert referrers_near(left, [namespaces], {id(left)}) == []
    also_held = [annotations]
    assert referrers_near(left, [[[command]], [also_held]], {id(left)}) == [command]


def test_a_walk_near_the_test_starts_from_what_classes_declare() -> None:
    """The values a Python class declares (a schema's fields), not its methods, its
    slots' descriptors, nor what a static type (datetime's) keeps."""

    class Elsewhere:
        declared: ClassVar[list[object]] = [object()]

    class Declared:
        fields: ClassVar[dict[str, list[object]]] = {"name": [object()]}
        Alias = Elsewhere  # another class, only referred to: not entered

        class Schema:  # defined by the body: what it declares counts
            options: ClassVar[list[object]] = [object()]

        def method(self) -> None: ...

    found = declared_attributes([{"Declared": Declared, "datetime": datetime.datetime}])
    assert found == [Declared.fields, Declared.Schema.options]


@pytest.mark.skipif(
    sys.version_info >= (3, 13), reason="3.13 no longer lists an instance's inline dict"
)
def test_a_walk_near_the_test_goes_on_through_the_dicts_it_finds() -> None:
    """A declared field keeps another (a list of strings' item field): the first copy
    of both makes both their dicts, the inner one held by the outer's new dict only."""

    class Field:
        def __init__(self, inner: object = None) -> None:
            self.inner = inner

    class Schema:
        fields: ClassVar[dict[str, Field]] = {"tags": Field(Field())}

    test_module = types.ModuleType("test_nested_fields")
    test_module.Schema = Schema  # type: ignore[attr-defined]
    outer = Schema.fields["tags"]
    left: list[object] = [vars(outer), vars(outer.inner)]
    namespaces = imported_namespaces(test_module)
    walks = [namespaces, declared_attributes(namespaces)]
    near = referrers_near(left, walks, {id(left)})
    assert {id(owner) for owner in near} == {id(outer), id(outer.inner)}
    assert materialized(left, set(), {id(left)}, near) == left


def test_walks_near_the_test_stop_while_they_find_no_owner() -> None:
    """A suite whose tests touch no owner of their modules' stops walking after a few
    fruitless walks; each walk that finds one pays for a few more."""
    walks = NearWalks()
    for _ in range(FREE_MISSES):
        assert walks.due()
        walks.ran(found=False)
    assert not walks.due()
    walks.ran(found=True)  # a walk made past them all the same finds one
    assert walks.due()
    walks = NearWalks()
    walks.ran(found=True)
    for _ in range(FREE_MISSES + MISSES_PER_FIND):
        assert walks.due()
        walks.ran(found=False)
    assert not walks.due()


_HOLDERS: list[object] = []
_HOLDERS: list[object] = []

_PER_THREAD_STATE = threading.local()
_OLDER_OWNER = _Plain()


def test_a_threading_locals_dict_made_for_this_thread_is_made_on_first_access() -> None:
    """hypothesis keeps a ``threading.local`` per ``@given`` test; its first run in a
    thread makes the dict that local keeps for the thread."""
    gc.collect()
    gc.freeze()
    try:
        _PER_THREAD_STATE.previous = _Plain()
        made = [obj for obj in gc.get_objects() if type(obj) is dict and "previous" in obj]
    finally:
        gc.unfreeze()
        del _PER_THREAD_STATE.previous
    assert len(made) == 1
    assert _materialized(made) == made


def test_what_a_new_thread_dict_holds_is_its_default_but_not_so_an_objects_dict() -> None:
    gc.collect()
    gc.freeze()
    try:
        _PER_THREAD_STATE.seen = set()
        owner = _OLDER_OWNER
        owner.value = [1]  # type: ignore[attr-defined]
        young = gc.get_objects()
    finally:
        gc.unfreeze()
    thread_dict = next(obj for obj in young if type(obj) is dict and "seen" in obj)
    del young  # the listing holds everything
    assert _materialized([thread_dict, thread_dict["seen"]]) == [thread_dict, thread_dict["seen"]]
    if sys.version_info < (3, 13):  # 3.13 no longer lists an instance's inline dict
        attributes = vars(owner)
        assert _materialized([attributes, attributes["value"]]) == [attributes]


def test_a_thread_locals_dict_is_found_from_the_listed_locals() -> None:
    """hypothesis' per-test local: its dict for this thread, made (or first tracked)
    when the test stores an object in it, is explained with what that first use stored;
    a dict that is no local's is not, nor what only it holds."""
    local, other = threading.local(), threading.local()
    local.prev_self = stored = _Plain()
    per_thread = next(
        ref for ref in gc.get_referrers(stored) if type(ref) is dict and "prev_self" in ref
    )
    unrelated = {"prev_self": stored}
    left = [per_thread, unrelated, stored]
    assert thread_dicts(left, [local]) == [per_thread, stored]
    assert thread_dicts(left, [other]) == []
    assert thread_dicts([unrelated, stored], [local]) == []
    listing = HeapListing((threading.local,))
    assert local in listing.of(threading.local)


def test_lru_caches_are_listed_again_only_after_imports() -> None:
    caches = LruCaches()
    caches.bounded()
    caches.bounded()
    assert caches.listing.listings == 1
    sys.modules["_memguard_test_import"] = types.ModuleType("_memguard_test_import")
    try:
        cached = _closure_cache(4)
        assert cached in [wrapper for wrapper, _ in caches.bounded()]
    finally:
        del sys.modules["_memguard_test_import"]
    assert caches.listing.listings == 2


def test_bounds_read_once_per_listing_follow_the_wrappers_alive() -> None:
    """The bounds are kept by the wrappers' places in the listing: one that dies, with
    no new listing, takes its bound with it and the others keep theirs."""
    first, second, unbounded = _closure_cache(4001), _closure_cache(8003), _closure_cache(None)
    caches = LruCaches()
    bounds = {id(wrapper): bound for wrapper, bound in caches.bounded()}
    assert "maxsize=4001" in bounds[id(first)] and "maxsize=8003" in bounds[id(second)]
    assert id(unbounded) not in bounds
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None
    after = caches.bounded()
    assert [bound for wrapper, bound in after if wrapper is second] == [bounds[id(second)]]
    assert all("maxsize=4001" not in bound for _, bound in after)
    assert caches.listing.listings == 1


def test_a_window_s_imports_are_listed_from_its_young_heap() -> None:
    """What a window made is all in its young heap: no pass over the old one, even when a
    wider-scoped fixture's objects were promoted to it before the import."""
    for promoted in (False, True):
        listing = HeapListing((LRU_WRAPPER,))
        listing.of(LRU_WRAPPER)
        listing.window_opening()
        gc.freeze()
        try:
            sys.modules["_memguard_test_import"] = types.ModuleType("_memguard_test_import")
            cached = _closure_cache(4)
            if promoted:
                listing.add_young()
                gc.freeze()
            sys.modules["_memguard_test_later"] = types.ModuleType("_memguard_test_later")
            later = _closure_cache(8)
            listing.add_young()
        finally:
            gc.unfreeze()
        try:
            assert {cached, later} <= set(listing.of(LRU_WRAPPER))
            assert listing.listings == 1
        finally:
            del sys.modules["_memguard_test_import"], sys.modules["_memguard_test_later"]


def test_the_plugin_s_own_imports_leave_a_listing_as_up_to_date_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The modules the plugin loads to explain its first leak make nothing a test fills:
    the next window lists no heap for them, and a listing stale before stays stale."""
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("_memguard_own_first", "_memguard_own_second"):
        (tmp_path / f"{name}.py").write_text("LOADED = True\n")
        monkeypatch.delitem(sys.modules, name, raising=False)
    listing = HeapListing((LRU_WRAPPER,))
    listing.of(LRU_WRAPPER)
    listing.import_unlisted("_memguard_own_first")
    assert "_memguard_own_first" in sys.modules
    listing.window_opening()
    assert listing.fresh and listing.listings == 1
    monkeypatch.setitem(sys.modules, "_memguard_test_import", types.ModuleType("imported"))
    listing.import_unlisted("_memguard_own_second")
    assert not listing.fresh


def test_imports_outside_windows_are_listed_as_the_next_window_opens() -> None:
    """A teardown between tests imports outside any window: the next window lists the
    heap again, so the rules reading the listing stay free after it."""
    listing = HeapListing((LRU_WRAPPER,))
    listing.window_opening()
    assert listing.listings == 0  # nothing asked for a listing yet: none is made
    listing.of(LRU_WRAPPER)
    sys.modules["_memguard_test_import"] = types.ModuleType("_memguard_test_import")
    try:
        cached = _closure_cache(4)
        assert not listing.fresh
        listing.window_opening()
        assert listing.fresh and listing.listings == 2
        assert cached in listing.of(LRU_WRAPPER)
        assert listing.listings == 2
    finally:
        del sys.modules["_memguard_test_import"]


class _Element:
    def __init__(self) -> None:
        self.white_chars = {" "}


_ELEMENTS = [_Element() for _ in range(16)]


def _searched(
    objs: list[object],
    for_chains: bool = False,
    at_module_level: Callable[[object], bool] | None = None,
) -> tuple[Holders, int]:
    """``find_holders(objs)``, and how many passes over the heap it made."""
    passes = []
    referrers = gc.get_referrers

    def counting(*found_for: object) -> list[object]:
        passes.append(len(found_for))
        # 3.13 reports the call's argument tuple, this function's own, as a referrer.
        return [found for found in referrers(*found_for) if found is not found_for]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gc, "get_referrers", counting)
        holders = find_holders(objs, for_chains=for_chains, at_module_level=at_module_level)
    return holders, len(passes)


def test_the_climbs_above_many_holders_share_one_pass_per_step() -> None:
    """A setting replaced in every instance of a class (pyparsing's whitespace) has one
    holder per instance: their climbs must not cost a pass over the heap each."""
    replaced = []
    for element in _ELEMENTS:
        element.white_chars = {"\t"}
        replaced.append(element.white_chars)
    holders, passes = _searched(replaced)
    assert len(holders.holders) == len(_ELEMENTS)
    assert not holders.bounds
    assert passes <= 1 + CLIMB_STEPS


def _make_shelves() -> Callable[[str, object], None]:
    """A store kept in a closure, as click keeps its stream cache: a dict inside a
    list that only the function's cell refers to."""
    shelves: list[dict[str, object]] = [{}]

    def put(key: str, value: object) -> None:
        shelves[0][key] = value

    return put


_PUT = _make_shelves()


def test_a_climb_ends_at_a_closure_cell_without_passes_to_its_function() -> None:
    """Above a closure's cell come only its closure tuple and its function, where the
    climb ends: unbounded, without the two passes over the heap that would show it,
    unless the climbs are to spare a chain search its passes up to the function."""
    value = {"leaked": True}
    _PUT("key", value)
    holders, passes = _searched([value])
    assert not holders.all_bounded
    assert [type(holder) for holder in holders.holders] == [dict]
    # The holders, the dict's owner (the list), the list's owner (the cell): no more.
    assert passes == 3
    del holders  # its lists refer to what it climbed through: no owner for the next

    for_chains, passes = _searched([value], for_chains=True)
    # A search whose referrers a chain search reuses goes up to the function, which
    # this module holds: found in its namespace, not by two more passes.
    assert not for_chains.all_bounded
    assert passes == 3
    assert any(_PUT in referrers for _, referrers in for_chains.referrers.values())
    assert (_PUT, [globals()]) in for_chains.referrers.values()


#: A closure's function that no module holds as a global: only a list does.
_KEPT_IN_A_LIST = [_make_shelves()]


def test_a_closure_no_module_function_holds_is_climbed_with_passes() -> None:
    """A cell whose function only a list keeps (a callback registered somewhere) is not
    found among the functions modules hold: the climb goes up with passes, as before."""
    value = {"leaked": True}
    _KEPT_IN_A_LIST[0]("key", value)
    for_chains, passes = _searched([value], for_chains=True)
    assert not for_chains.all_bounded
    assert passes == 5
    assert any(_KEPT_IN_A_LIST[0] in referrers for _, referrers in for_chains.referrers.values())


def _make_decorator() -> Callable[[object], None]:
    """State a decorator keeps in its wrapper's closure, as freezegun's ``@freeze_time``
    keeps its object in the closure of every test it decorates: a list only the
    wrapper's cell refers to."""
    seen: list[object] = []

    def wrapper(value: object) -> None:
        seen.append(value)

    return wrapper


_DECORATED = _make_decorator()


def test_a_climb_ends_at_a_closure_cell_at_any_step() -> None:
    """A holder right under a closure's cell (the decorator's list): its climb ends at
    the cell, one step above the holder, not three passes further at the function."""
    value = {"kept": True}
    _DECORATED(value)
    holders, passes = _searched([value])
    assert not holders.all_bounded
    assert [type(holder) for holder in holders.holders] == [list]
    # The holders, then the list's owner (the cell): no more.
    assert passes == 2


def test_a_climb_stops_at_a_module_global_without_a_pass() -> None:
    """A holder the caller knows for a module global (the container watch's) is
    unbounded with no pass over the heap for the namespace that keeps it."""
    value = {"leaked": True}
    _UNBOUNDED["x"] = value
    try:
        holders, passes = _searched([value], at_module_level=lambda obj: obj is _UNBOUNDED)
        assert holders.unbounded() == [_UNBOUNDED]
        assert passes == 1
        holders, passes = _searched([value])
        assert holders.unbounded() == [_UNBOUNDED]
        assert passes == 2
    finally:
        del _UNBOUNDED["x"]


def test_a_cache_in_a_c_modules_private_state_is_bounded() -> None:
    """``_struct`` keeps compiled formats in a dict of its C state, trimmed by its C code."""
    struct.calcsize(">917q")
    cached = next(obj for obj in gc.get_objects() if type(obj) is dict and ">917q" in obj)[">917q"]
    holders = find_holders([cached])
    assert holders.all_bounded
    assert set(holders.bounds.values()) == {"_struct's C state"}


def test_the_caches_c_modules_keep_to_themselves_are_bounded_without_a_search() -> None:
    """The scan finds ``_struct``'s cache among its module's referents; ``_pickle``
    keeps ``copyreg``'s registries in its state too, but those are shared with Python
    code, which may grow them: not bounded. Nor is a Python module's namespace."""
    struct.calcsize(">918q")
    import _pickle  # noqa: F401 - its state refers to copyreg's dicts

    modules = [sys.modules["_struct"], sys.modules["_pickle"], sys.modules["copyreg"]]
    found = c_state_bounds(modules)
    assert [(">918q" in cache, bound) for cache, bound in found] == [(True, "_struct's C state")]


def test_holders_of_a_module_level_entry_are_not_bounded() -> None:
    value = {"leaked": True}
    _UNBOUNDED["x"] = value
    try:
        holders = find_holders([value])
        assert not holders.all_bounded
        assert any(holder is _UNBOUNDED for holder in holders.unbounded())
    finally:
        del _UNBOUNDED["x"]


def _finding(root: str = "app.registry") -> Finding:
    return Finding.from_dict(
        {
            "kind": "growing-container",
            "summary": f"{root} grew by 1 entry on each run",
            "retainer_chain": [{"edge": root, "object": "list"}, {"edge": "[3]", "object": "dict"}],
            "allocated_at": [
                {"filename": "app/registry.py", "lineno": 9, "name": "add", "line": "x"}
            ],
        }
    )


def test_roots_are_counted_once_per_key_with_the_first_test() -> None:
    book = RootBook()
    first = book.add("t.py::a", [_finding()])
    again = book.add("t.py::b", [_finding()])
    assert first is again and first is not None
    assert (first.first, first.tests) == ("t.py::a", 2)
    assert book.add("t.py::c", [_finding("app.other")]) is not first
    assert book.count("missing") is None
    assert [root.tests for root in book.roots()] == [2, 1]


def test_a_root_in_an_installed_distribution_is_named_with_its_version() -> None:
    finding = _finding("pytest.hookimpl")  # any module an installed distribution owns
    root = RootBook().add("t.py::a", [finding])
    assert root is not None and root.distribution is not None
    assert root.distribution.startswith("pytest ")


def test_the_session_summary_is_built_from_records_alone() -> None:
    key = "growing-container | app.registry"
    records = [
        TestRecord(
            "t::a",
            "passed",
            "leak",
            suspect=True,
            confirm_seconds=0.5,
            root=key,
            findings=(_finding(),),
        ),
        TestRecord("t::b", "passed", "leak", root=key, same_root_as="t::a", findings=(_finding(),)),
        TestRecord("t::c", "passed", "unconfirmed", suspect=True),
        TestRecord("t::d", "passed"),
        TestRecord("t::e[1]", "passed", "warmup", vouched=True),
    ]
    summary = session_summary(records)
    assert summary["guarded"] == 5
    assert (summary["suspects"], summary["unconfirmed"], summary["vouched"]) == (2, 1, 1)
    assert summary["confirm_seconds"] == 0.5
    assert summary["roots"] == [
        {
            "root": key,
            "kind": "growing-container",
            "tests": 2,
            "first": "t::a",
            "summary": "app.registry grew by 1 entry on each run",
            "distribution": None,
        }
    ]


def test_a_module_cache_bounded_by_a_module_constant_is_bounded() -> None:
    """``re._cache`` is trimmed by ``re``'s code at ``re._MAXCACHE``: a module constant named
    after the container, with a bound word, is its bound; an unrelated constant is none."""
    module = types.ModuleType("compiled_patterns")
    module._cache = {}  # type: ignore[attr-defined]
    module._MAXCACHE = 512  # type: ignore[attr-defined]
    module._registry = []  # type: ignore[attr-defined]
    module.MAX_RETRIES = 3  # type: ignore[attr-defined]
    namespace = vars(module)
    assert module_constant_bound(namespace, "_cache") == "compiled_patterns._MAXCACHE=512"
    assert module_constant_bound(namespace, "_registry") is None
    sys.modules["compiled_patterns"] = module
    try:
        entry = {"pattern": "a+"}
        module._cache["a+"] = entry  # type: ignore[attr-defined]
        module._registry.append({"listener": True})  # type: ignore[attr-defined]
        assert find_holders([entry]).all_bounded
        assert not find_holders([module._registry[0]]).all_bounded  # type: ignore[attr-defined]
    finally:
        del sys.modules["compiled_patterns"]


def _module_from(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), vars(module))
    return module


def test_a_module_cache_bounded_by_a_constant_named_apart_is_bounded_where_read_together() -> None:
    """``_strptime._regex_cache`` is trimmed at ``_CACHE_MAX_SIZE`` (``urllib.parse``'s
    ``_parse_cache`` at ``MAX_CACHE_SIZE`` up to 3.10): named apart, the constant shares a
    word with the container and the code that fills the container reads it. A constant
    no code reads with the container bounds nothing."""
    trimmed = _module_from(
        "trimmed_cache",
        "MAX_CACHE_SIZE = 20\n_parse_cache = {}\n"
        "def parse(url):\n"
        "    if len(_parse_cache) >= MAX_CACHE_SIZE:\n"
        "        _parse_cache.clear()\n"
        "    return _parse_cache.setdefault(url, url.split('/'))\n",
    )
    assert module_constant_bound(vars(trimmed), "_parse_cache") == "trimmed_cache.MAX_CACHE_SIZE=20"
    apart = _module_from(
        "untrimmed_cache",
        "MAX_CACHE_SIZE = 20\n_parse_cache = {}\n"
        "def parse(url):\n"
        "    return _parse_cache.setdefault(url, url.split('/'))\n"
        "def limit():\n"
        "    return MAX_CACHE_SIZE\n",
    )
    assert module_constant_bound(vars(apart), "_parse_cache") is None


def test_bounded_holders_that_hold_the_whole_net_growth_cover_a_replaced_object() -> None:
    """Next to its bounded strategy cache, hypothesis replaces a set of recursion limits
    on every run: the unbounded holder of one replacement does not make a leak of a run
    whose net growth the bounded cache holds; a run that grew more than it holds does."""
    entries = [{"cached": n} for n in range(3)]
    replaced = {"limit"}
    bounded_cache = _PER_THREAD._local.data
    bounded_cache.extend(entries)
    _UNBOUNDED["limits"] = replaced
    try:
        holders = find_holders([*entries, replaced])
        assert not holders.all_bounded
        retained: list[object] = [*entries, replaced]
        assert holders.cover(retained, net_growth=3)
        assert not holders.cover(retained, net_growth=4)
    finally:
        del bounded_cache[-3:]
        del _UNBOUNDED["limits"]


class _Generated:
    """A class a cache builds on a miss (as typing builds generic aliases)."""


def test_a_weak_reference_to_what_a_bounded_holder_keeps_is_covered() -> None:
    """typing's caches register weak references to the classes they hold, in an
    unbounded dict: those keep nothing alive, and the bounded cache covers the growth."""
    entry = _Generated()
    ref = weakref.ref(entry)
    _PER_THREAD._local.data.append(entry)
    _UNBOUNDED["registry"] = ref
    try:
        holders = find_holders([entry, ref])
        assert not holders.all_bounded
        assert holders.cover([entry, ref], net_growth=2)
    finally:
        _PER_THREAD._local.data.remove(entry)
        del _UNBOUNDED["registry"]
