"""In-process tests of the replacement rule: objects a later run replaced and dropped.

Each test plays runs by hand: what a run "leaves" is a list of new objects (``left``),
its holder a plain attribute of an older object, and a run is what happens between
``opening()`` and ``replacing()``.
"""

from __future__ import annotations

import types
import weakref

import pytest
from explain_helpers import listed

from pytest_memguard.confirm import replaced
from pytest_memguard.confirm.replaced import (
    MAX_HELD,
    Replacements,
    _held_from_outside,
    growth_beneath,
)
from pytest_memguard.screen.heap import Tops
from pytest_memguard.screen.window import _Previous, _tops, _without_replacements


class _Holder:
    """An object older than the runs; its attribute is what each run rebuilds."""

    value: object = None


def _left_by(holder: _Holder, value: object, *inner: object) -> list[object]:
    holder.value = value
    return [value, *inner]


def test_an_object_replaced_and_dropped_by_the_next_run_is_explained() -> None:
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, {1000}), "t::earlier")
    replacements.opening()
    new = {1000}
    holder.value = new
    assert replacements.replacing([new]) == [new]


def test_what_hangs_from_the_replacing_object_is_explained_with_it() -> None:
    holder, replacements = _Holder(), Replacements()
    first_rows: list[int] = [1]
    replacements.remember(_left_by(holder, {"rows": first_rows}, first_rows), "t::earlier")
    replacements.opening()
    table = {"rows": [2]}
    holder.value = table
    left = [table, table["rows"], ["not held by the table"]]
    assert replacements.replacing(left) == left[:2]


def test_a_replacement_that_keeps_the_old_object_is_not_explained() -> None:
    """A chain one level deeper per run (settings with a parent): nothing is dropped."""
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, {"parent": None}), "t::earlier")
    replacements.opening()
    deeper = {"parent": holder.value}
    holder.value = deeper
    assert replacements.replacing([deeper]) == []


def test_a_grown_copy_of_the_dropped_object_is_not_a_replacement() -> None:
    """``handlers = handlers + (new,)``: the old tuple dies, its items live on."""
    holder, replacements = _Holder(), Replacements()
    first = types.SimpleNamespace()
    replacements.remember(_left_by(holder, [first], first), "t::earlier")
    replacements.opening()
    second = types.SimpleNamespace()
    grown = [*holder.value, second]  # type: ignore[misc]
    holder.value = grown
    assert replacements.replacing([grown, second]) == []


def test_a_table_rebuilt_larger_is_not_a_replacement() -> None:
    """Rebuilt from a count that grows with every call: it holds nothing of the old
    one, but it is larger every time."""
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, [types.SimpleNamespace()]), "t::earlier")
    replacements.opening()
    rebuilt = [types.SimpleNamespace(), types.SimpleNamespace()]
    holder.value = rebuilt
    assert replacements.replacing([rebuilt, *rebuilt]) == []


def test_an_object_of_another_type_is_not_a_replacement() -> None:
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, {1}), "t::earlier")
    replacements.opening()
    new = [1]
    holder.value = new
    assert replacements.replacing([new]) == []


def test_an_object_dropped_between_runs_explains_nothing() -> None:
    """Dropped before the run opened (a wider scope's teardown): not the run's doing."""
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, {1}), "t::earlier")
    holder.value = None
    replacements.opening()
    new = {2}
    holder.value = new
    assert replacements.replacing([new]) == []


def test_an_object_still_held_explains_nothing() -> None:
    """Growth next to an object left before: a leak's second entry is no replacement."""
    holders, replacements = [_Holder(), _Holder()], Replacements()
    replacements.remember(_left_by(holders[0], {1}), "t::earlier")
    replacements.opening()
    new = {2}
    holders[1].value = new
    assert replacements.replacing([new]) == []


class _Cache:
    """Binds its own methods, as pyparsing's packrat cache does: a reference cycle."""

    def __init__(self) -> None:
        self.data: dict[str, int] = {}
        self.get = types.MethodType(_Cache._get, self)

    def _get(self, key: str) -> int | None:
        return self.data.get(key)


def _cache_and_parts(holder: _Holder) -> list[object]:
    cache = _Cache()
    holder.value = cache
    return listed([cache, vars(cache), cache.data, cache.get])


def test_an_object_in_a_reference_cycle_is_seen_dropped() -> None:
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_cache_and_parts(holder), "t::earlier")
    replacements.opening()
    left = _cache_and_parts(holder)
    assert len(replacements.replacing(left)) == len(left)


def test_a_cycle_another_left_cycle_refers_to_is_not_seen_dropped_while_that_one_lives() -> None:
    """Two cycles one run left, the second referring to the first: the first's own
    references are its cycle's, not the second's, which still holds it after its own
    holder let go (the last cycle's are counted from all the leftovers at once)."""
    first, second, replacements = _Holder(), _Holder(), Replacements()
    earlier = _cache_and_parts(first)
    referring = _Cache()
    referring.data = {"earlier": first.value}  # type: ignore[dict-item]
    second.value = referring
    later = listed([referring, vars(referring), referring.data, referring.get])
    replacements.remember([*earlier, *later], "t")
    del earlier, later, referring
    replacements.opening()
    first.value = None  # the second cycle still refers to the first
    assert replacements.replacing(_cache_and_parts(first)) == []


def test_at_most_max_held_objects_are_held_the_newest_kept() -> None:
    replacements = Replacements()
    holders = [_Holder() for _ in range(MAX_HELD + 5)]
    for holder in holders:
        replacements.remember(_left_by(holder, {id(holder)}), "t::earlier")
    oldest, newest = holders[0], holders[-1]
    replacements.opening()
    oldest.value = {1}
    assert replacements.replacing([oldest.value]) == []  # no longer held: not seen dropped
    newest.value = {2}
    assert replacements.replacing([newest.value]) == [newest.value]


def test_of_one_run_s_many_tops_only_the_newest_held_are_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebuilt grammar leaves thousands of tops: whether each dies quietly (its weak
    references read) is asked of the newest ones only, as many as are held."""
    asked: list[object] = []
    quietly = replaced._dies_quietly

    def counting(obj: object) -> bool:
        asked.append(obj)
        return quietly(obj)

    monkeypatch.setattr(replaced, "_dies_quietly", counting)
    holders = [_Holder() for _ in range(MAX_HELD + 5)]
    left = [value for holder in holders for value in _left_by(holder, {id(holder)})]
    replacements = Replacements()
    replacements.remember(left, "t::earlier")
    assert len(asked) == MAX_HELD
    asked.clear()  # its references would keep the held objects from being seen dropped
    del left
    replacements.opening()
    oldest, newest = holders[0], holders[-1]
    oldest.value = {1}
    assert replacements.replacing([oldest.value]) == []  # never held
    newest.value = {2}
    assert replacements.replacing([newest.value]) == [newest.value]


def test_what_replaced_dropped_objects_is_walked_for_its_tops_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A screen's first rule finds what replaced the dropped objects, and the judge then
    holds those to see the next test drop them: one walk for their tops serves both."""
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, {1000}), "t::earlier")
    walks: list[int] = []
    find_tops = replaced.find_tops

    def counting(objs: list[object]) -> Tops:
        walks.append(len(objs))
        return find_tops(objs)

    monkeypatch.setattr(replaced, "find_tops", counting)
    replacements.opening()
    new = {1000}
    holder.value = new
    explained = replacements.replacing([new])
    assert explained == [new]
    replacements.remember(explained, "t::later")
    assert walks == [1]
    del new, explained  # held by the test, they would never be seen dropped
    replacements.opening()
    holder.value = {1000}
    assert replacements.replacing([holder.value]) == [holder.value]  # held, seen dropped


class _Finalized:
    def __del__(self) -> None:
        pass


def test_an_object_whose_death_runs_code_is_never_held() -> None:
    """A task warns when destroyed pending, a file closes: held one test longer, that
    would happen in another test."""
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, _Finalized()), "t::earlier")
    replacements.opening()
    new = _Finalized()
    holder.value = new
    assert replacements.replacing([new]) == []


def test_an_object_with_a_weak_reference_callback_is_never_held() -> None:
    holder, replacements = _Holder(), Replacements()
    old = _Holder()
    watch = weakref.ref(old, lambda ref: None)
    replacements.remember(_left_by(holder, old), "t::earlier")
    del old
    replacements.opening()
    new = _Holder()
    holder.value = new
    assert replacements.replacing([new]) == []
    assert watch() is None  # died when its holder dropped it, not a test later


class _Rebuilt:
    """What a run rebuilds, referring to everything the run made."""

    def __init__(self, entries: list[object]) -> None:
        self.entries = entries


def test_growth_beneath_replaced_tops_is_what_an_accumulating_holder_keeps() -> None:
    earlier = {"left by": "an earlier run"}
    accumulating: list[object] = [earlier]  # an old list that keeps every run's entry
    refilled: dict[str, object] = {}  # an old table cleared and refilled by every run
    rule = ["rule"]
    refilled["rule"] = rule
    inner = ["inner"]
    entry = {"comment": inner}
    accumulating.append(entry)
    cache = _Rebuilt([rule, entry])
    retained = [cache, vars(cache), cache.entries, rule, entry, inner]

    beneath = growth_beneath(retained, [cache], {id(earlier)}, set())

    assert beneath == [entry, inner]


def test_only_what_something_outside_the_group_holds_is_looked_up() -> None:
    """A pass over the heap costs the heap times the objects asked about: of a rebuilt
    grammar, only the objects an older holder refers to as well are asked about."""
    older: list[object] = []
    retained = _grammar_appended_to(older)  # no local name holds its objects
    members = {id(obj): obj for obj in retained}
    assert _held_from_outside(members, set(members), [], ()) == {id(older[0])}


def _grammar_appended_to(older: list[object]) -> list[object]:
    """A rebuilt structure (its top, an entry, what the entry refers to) whose entry
    ``older`` keeps as well."""
    inner = ["only the group holds it"]
    entry = {"inner": inner}
    older.append(entry)
    return [[entry, inner], entry, inner]


def test_no_growth_beneath_replaced_tops_when_no_holder_keeps_an_earlier_object() -> None:
    refilled: dict[str, object] = {}
    rule = ["rule"]
    refilled["rule"] = rule
    cache = _Rebuilt([rule])
    retained = [cache, vars(cache), cache.entries, rule]

    assert growth_beneath(retained, [cache], {id(["dead"])}, set()) == []


class _Expression:
    """A parser element: what the run appends to an older element's list."""


def test_what_an_older_holder_keeps_is_not_explained_with_the_replacement() -> None:
    """pyparsing: a test class's setUp rebuilds the packrat cache (a replacement), and the
    test appends a new expression to an old expression's list, which the new cache refers
    to as well. The expression outlives the cache: growth, not part of the replacement."""
    holder, replacements = _Holder(), Replacements()
    older: list[object] = []
    replacements.remember(_left_by(holder, {"key": None}), "t::earlier")
    replacements.opening()
    older.append(_Expression())
    holder.value = {"key": older[-1]}
    left = [holder.value, older[-1], vars(older[-1])]
    assert replacements.replacing(left) == [left[0]]


def test_what_only_the_replacement_holds_is_explained_with_it() -> None:
    """The same structure, with nothing else holding the expression: all of it replaces."""
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, {"key": None}), "t::earlier")
    replacements.opening()
    holder.value = {"key": _Expression()}
    left = listed([holder.value, holder.value["key"], vars(holder.value["key"])])
    assert replacements.replacing(left) == left


def test_a_dead_top_whose_address_the_run_took_is_replaced() -> None:
    """A repetition's tops are matched with the previous run's that died. On 3.10 a
    dict rebuilt per run takes the address of the one it replaces: a top whose id an
    object made since the previous run holds is dead all the same, and the rebuilt dict
    replaces it. When those objects may not all be new (a full collection ran, which may
    have listed an old dict among the new again) the top at that address is alive."""
    cache = {"key": [1]}
    made = [cache, cache["key"]]
    tops = _tops(made)
    (dropped,) = _tops([{"key": [2]}]).values()  # the cache the run dropped
    same_address = _Previous(ids={id(cache)}, bytes=0, tops={id(cache): dropped})
    alive = {id(obj) for obj in made}
    kept, replaced = _without_replacements(made, tops, same_address, alive, fresh=True)
    assert kept == made and replaced == [cache]
    assert _without_replacements(made, tops, same_address, alive) == (made, [])


def test_the_top_in_a_dead_tops_place_is_its_replacement() -> None:
    """Each run makes two streams of one shape, in the same order: a cache keeps the
    first for good (growth), faulthandler only the newest second one (replaced). The
    previous run's second stream died: this run's second stream replaces it, and its
    first is the growth, although it comes first among the tops of that shape."""
    kept_by_cache, dropped = _Stream(), _Stream()  # the previous run's
    previous = _Previous(ids=set(), bytes=0, tops=_tops([kept_by_cache, dropped]))
    growth, replacement = _Stream(), _Stream()  # this run's, made in the same order
    made = [growth, replacement]
    alive = {id(kept_by_cache), id(growth), id(replacement)}
    assert _without_replacements(made, _tops(made), previous, alive) == ([growth], [])


class _Stream:
    """A stand-in for a text stream: every instance has the same shape."""


def test_a_previous_top_listed_again_beneath_a_new_one_is_alive() -> None:
    """pyparsing nests its settings dict in a new one on every run, and the previous
    dict may be listed among the run's new objects: unchanged beneath a new top, it is
    the same dict, and the new top (of the same shape) is growth, not its replacement.
    Another object at that address (one made since, referring to other objects) means
    the previous top died."""
    settings = {"parent": {"parent": None}}
    previous = _Previous(ids={id(settings)}, bytes=0, tops=_tops([settings]))
    wrapped = {"parent": settings}
    made = [wrapped, settings]
    alive = {id(obj) for obj in made}
    tops = _tops(made)
    assert _without_replacements(made, tops, previous, alive, fresh=True) == (made, [])
    settings["parent"] = {"parent": None}
    assert _without_replacements(made, tops, previous, alive, fresh=True) == (made, [wrapped])


class _Settings:
    """Settings made with the last ones as parent, as hypothesis nests them per run."""

    def __init__(self, parent: object = None) -> None:
        self.parent = parent


def test_a_third_link_of_a_chain_two_earlier_tests_grew_is_confirmed_across_tests() -> None:
    holder, replacements = _Holder(), Replacements()
    for nodeid in ("t::first", "t::second"):
        replacements.remember(_left_by(holder, _Settings(holder.value)), nodeid)
        replacements.opening()
    third = holder.value = _Settings(holder.value)
    assert replacements.chain_behind([third], "t::third") == (third, ("t::first", "t::second"))


def test_one_link_behind_or_one_test_s_links_confirm_nothing() -> None:
    """A chain of two tests may be bounded (a "last and previous" pair); links the same
    test left are its own re-runs: only three tests, each one link, are a growing chain."""
    holder, replacements = _Holder(), Replacements()
    replacements.remember(_left_by(holder, _Settings()), "t::first")
    second = holder.value = _Settings(holder.value)
    assert replacements.chain_behind([second], "t::second") is None
    replacements.remember(_left_by(holder, second), "t::first")
    third = holder.value = _Settings(second)
    assert replacements.chain_behind([third], "t::third") is None


def test_a_chain_of_another_type_is_no_link() -> None:
    holder, replacements = _Holder(), Replacements()
    for nodeid in ("t::first", "t::second"):
        replacements.remember(_left_by(holder, {"parent": holder.value}), nodeid)
    third = holder.value = _Settings(holder.value)
    assert replacements.chain_behind([third], "t::third") is None


def test_links_their_registry_still_holds_are_no_chain() -> None:
    """Loggers named deeper by each test ("app", "app.sub", "app.sub.x") refer to their
    parents, which the manager's dict still holds: a new name each, no link let go."""
    registry, replacements = {}, Replacements()
    parent = None
    for nodeid in ("t::first", "t::second"):
        parent = registry[nodeid] = _Settings(parent)
        replacements.remember([parent], nodeid)
    assert replacements.chain_behind([_Settings(parent)], "t::third") is None
