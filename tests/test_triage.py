"""In-process tests of the screen's triage and the session's holder book: pure rules on
hand-made young heaps (no window, no collection)."""

from __future__ import annotations

import collections
import doctest
import functools
import gc
import importlib.machinery
import importlib.util
import itertools
import json
import sys
import threading
import types
import weakref

import pytest
from explain_helpers import listed

from pytest_memguard.screen import triage as triage_module
from pytest_memguard.screen.containers import Growth
from pytest_memguard.screen.holderbook import (
    _LRU_REFERENTS_IN_USE_ORDER,
    KEYED_CLEARS,
    MAX_HOLDERS,
    MAX_LEARNED_AT_ONCE,
    MISSES_BEFORE_SKIPPING,
    NEWEST,
    WALK_DOUBLINGS,
    WALK_EVERY,
    FilledWalks,
    HolderBook,
    Learned,
    contents,
    grown,
    newest_entries,
)
from pytest_memguard.screen.literals import literals_of
from pytest_memguard.screen.triage import (
    MADE_ON_READ,
    NAMED_CLASSES,
    ONE_BY_ONE,
    ONE_PER_THREAD,
    attributes_of_older,
    refreshed_by_finders,
    triage,
    triage_after,
    with_growth,
)


class _Old:
    """An object alive before the 'test': not in the young heap."""


def _imported(name: str) -> types.ModuleType:
    """A module as the import system makes one: with its spec."""
    return importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None))


def _young(*objs: object) -> dict[int, object]:
    return {id(obj): obj for obj in objs}


def test_nothing_retained_is_clean() -> None:
    assert triage([], {}, HolderBook()).unexplained == 0


@pytest.mark.parametrize("others", [0, 1, 5_000])
def test_weak_references_to_old_objects_and_their_sets_are_warmup(others: int) -> None:
    """Found among any number of other sets and dicts the run left, and only those."""
    old = _Old()
    ref = weakref.ref(old)
    registry = {ref}
    unrelated = [{"key": n} if n % 2 else {n} for n in range(others)]
    made = [*unrelated[: others // 2], ref, registry, *unrelated[others // 2 :]]
    result = triage(made, _young(*made), HolderBook())
    assert (result.explained, result.unexplained) == (2, others)
    assert result.explained_ids == {id(ref), id(registry)}
    assert result.why == ()  # bookkeeping, not warm-up


def test_a_list_gaining_weak_references_is_growth_a_set_gaining_one_is_not() -> None:
    """A set or dict keeps one weak reference per object or key (an ABC cache, a
    ``WeakSet``); a list keeps a new one on every call: its growth stays unexplained."""
    old = _Old()
    ref = weakref.ref(old)
    retained = [ref]
    found = triage(retained, _young(ref), HolderBook())
    assert found.unexplained == 0 and found.weak_ids == {id(ref)}
    listeners: list[object] = [ref]
    registry = {ref}
    ids = {id(ref)}
    assert with_growth(found, [Growth("LISTENERS", 1, listeners)], HolderBook(), ids) == found
    grown = with_growth(found, [Growth("REGISTRY", 1, registry)], HolderBook(), ids)
    assert grown.growth_explained == 1


def test_a_dict_gaining_a_weak_value_to_an_old_object_is_growth() -> None:
    """A dict keeps an entry per key: a weak reference to a long-lived object stored as a
    value under a new key (a ``WeakValueDictionary`` of requests) leaves it grown for as
    long as the object lives; as a key (a ``WeakKeyDictionary``'s) it is one per object."""
    old = _Old()
    ref = weakref.ref(old)
    found = triage([ref], _young(ref), HolderBook())
    assert found.unexplained == 0 and found.weak_ids == {id(ref)}
    ids = {id(ref)}
    by_request = {7: ref}
    assert with_growth(found, [Growth("BY_REQUEST", 1, by_request)], HolderBook(), ids) == found
    by_object = {ref: "settings"}
    grown = with_growth(found, [Growth("BY_OBJECT", 1, by_object)], HolderBook(), ids)
    assert grown.growth_explained == 1


class _ListedValues(dict[object, object]):
    """A dict that counts how often its values are listed."""

    listed = 0

    def values(self):  # type: ignore[override]
        self.listed += 1
        return super().values()


def test_a_grown_dicts_values_are_listed_only_for_a_run_that_left_weak_references() -> None:
    """Its weak values are looked for only when the run left weak references: a cache of
    a thousand locales grows by one in most tests of a locale suite, and its values are
    not listed for them."""
    made = {"data": "of one locale"}
    cache = _ListedValues(first=made)
    found = triage([made], _young(made), HolderBook())
    assert not found.weak_ids
    with_growth(found, [Growth("cache", 1, cache)], HolderBook(), {id(made)})
    assert cache.listed == 0
    ref = weakref.ref(_Old())
    weak = triage([ref], _young(ref), HolderBook())
    with_growth(weak, [Growth("cache", 1, cache)], HolderBook(), {id(ref)})
    assert cache.listed == 1


def test_a_dict_gaining_an_entry_per_running_thread_is_warmup() -> None:
    """A dict keyed by ``threading.get_ident()`` (hypothesis' strategies note so that
    each thread validated them) holds one entry per thread; an entry under the id of a
    thread that has ended, or under any other key, is growth."""
    found = triage([], {}, HolderBook())
    validated = {threading.get_ident(): True}
    grown = with_growth(found, [Growth("validated", 1, validated)], HolderBook(), set())
    assert grown.growth_explained == 1
    assert grown.why == (ONE_PER_THREAD,)
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    assert ended.ident is not None
    by_thread = {threading.get_ident(): True, ended.ident: True}
    assert with_growth(found, [Growth("by_thread", 1, by_thread)], HolderBook(), set()) == found
    counts = {threading.get_ident(): 1, 7: 1}
    assert with_growth(found, [Growth("counts", 2, counts)], HolderBook(), set()) == found


def test_a_defaultdicts_empty_entries_under_names_of_the_code_are_warmup() -> None:
    """Reading ``hooks[("pre_load", False)]`` adds an empty list, once per key the code
    spells; a key the program reads or counts (a user's id, a path) grows with its
    input, and an entry something was added to is no mere read."""
    hooks: collections.defaultdict[object, list[object]] = collections.defaultdict(list)
    made = [hooks[("pre_load", False)], hooks["validates"]]
    found = triage(made, _young(*made), HolderBook())
    assert found.unexplained == 2
    grown = with_growth(found, [Growth("hooks", 2, hooks)], HolderBook(), set(map(id, made)))
    assert (grown.growth_explained, grown.unexplained) == (2, 0)
    assert grown.why == (MADE_ON_READ,)
    read_from_input = json.loads('["user_7", "/users/7"]')
    for key in (7, *read_from_input):
        seen: collections.defaultdict[object, list[object]] = collections.defaultdict(list)
        made = [seen[key]]
        found = triage(made, _young(*made), HolderBook())
        assert with_growth(found, [Growth("seen", 1, seen)], HolderBook(), {id(made[0])}) == found
    filled: collections.defaultdict[str, list[int]] = collections.defaultdict(list)
    filled["events"].append(1)
    found = triage([filled["events"]], _young(filled["events"]), HolderBook())
    assert with_growth(found, [Growth("filled", 1, filled)], HolderBook(), set()) == found


def test_a_registry_taking_a_class_the_run_defined_under_its_own_name_is_warmup() -> None:
    """A class statement runs again under the same name, which a registry keyed by it
    replaces: one entry per class of the code. A name made at run time, or a list that
    takes every class a repeated statement makes, grows with the calls."""
    found = triage([], {}, HolderBook())

    class Defined:
        pass

    made = {id(Defined)}
    by_name = {"Older": [int], "Defined": [Defined], f"{__name__}.Defined": [Defined]}
    grown = with_growth(found, [Growth("registry", 2, by_name)], HolderBook(), made)
    assert (grown.growth_explained, grown.why) == (2, (NAMED_CLASSES,))
    # What the run's class holds (its namespace, its methods) goes with it.
    defined = [Defined, *filter(gc.is_tracked, gc.get_referents(Defined)), weakref.ref(Defined)]
    left = triage(defined, _young(*defined), HolderBook())
    assert left.unexplained == len(defined) > 1
    ids = set(map(id, defined))
    grown = with_growth(left, [Growth("registry", 2, by_name)], HolderBook(), ids, defined)
    assert (grown.unexplained, grown.growth_explained) == (0, 2)
    same_module = [Defined]  # a list per name: one class per module
    assert with_growth(found, [Growth("by_module", 1, same_module)], HolderBook(), made) != found
    again = type("Defined", (), {"__qualname__": Defined.__qualname__})
    twice = [Defined, again]  # the same statement's class again: every call adds one
    assert with_growth(found, [Growth("twice", 1, twice)], HolderBook(), {id(again)}) == found
    counted = type("".join(["Model", "7"]), (), {})  # a name made at run time
    by_counter = {counted.__name__: counted}
    assert (
        with_growth(found, [Growth("models", 1, by_counter)], HolderBook(), {id(counted)}) == found
    )
    assert (
        with_growth(found, [Growth("old", 1, {"Defined": [Defined]})], HolderBook(), set()) == found
    )


def test_a_weak_reference_to_a_young_object_is_not_explained() -> None:
    young_obj = _Old()
    ref = weakref.ref(young_obj)
    result = triage([young_obj, ref], _young(young_obj, ref), HolderBook())
    assert result.unexplained == 2


def test_what_a_new_module_reaches_is_warmup() -> None:
    module = _imported("lazily_imported")
    table: dict[str, list[int]] = {"rows": []}
    module.TABLE = table  # type: ignore[attr-defined]
    retained = [module, vars(module), table, table["rows"]]
    result = triage(retained, _young(*retained), HolderBook())
    assert result.unexplained == 0
    assert result.why == ("modules imported: lazily_imported",)


def test_a_module_made_by_hand_and_registered_is_no_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module object with no spec put in ``sys.modules`` was not imported: a loader
    registering one under a new name on every call grows without bound, for a re-run to
    judge. One kept elsewhere (hypothesis' modules made from source, cached by source)
    counts as an import."""
    registered = types.ModuleType("generated_plugin_7")
    monkeypatch.setitem(sys.modules, "generated_plugin_7", registered)
    cached = types.ModuleType("hypothesis_temporary_module_7")
    for module in (registered, cached):
        module.handlers = [{"handler": 1}]  # type: ignore[attr-defined]
    retained = [registered, vars(registered), registered.handlers]  # type: ignore[attr-defined]
    assert triage(retained, _young(*retained), HolderBook()).unexplained == 3
    retained = [cached, vars(cached), cached.handlers]  # type: ignore[attr-defined]
    result = triage(retained, _young(*retained), HolderBook())
    assert result.unexplained == 0
    assert result.why == ("modules imported: hypothesis_temporary_module_7",)


def test_entries_of_a_learned_bounded_cache_are_warmup() -> None:
    cache: dict[str, list[int]] = {}
    book = HolderBook()
    book.learn_bounded(cache, "LRU(max_size=8)")
    entry = [1, 2]
    cache["k"] = entry
    result = triage([entry], _young(entry), book)
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)


def test_what_a_rule_explained_before_the_triage_is_not_walked_to() -> None:
    cache: dict[str, list[int]] = {}
    book = HolderBook()
    book.learn_bounded(cache, "LRU(max_size=8)")
    replacing, cached, stray = [1], [2], [3]
    cache["replacing"], cache["cached"] = replacing, cached
    young = _young(replacing, cached, stray)
    alone = triage_after([replacing], young, book, [replacing], "replaced")
    assert (alone.explained, alone.unexplained, alone.why) == (1, 0, ("replaced",))
    mixed = triage_after([replacing, cached, stray], young, book, [replacing], "replaced")
    assert (mixed.explained, mixed.unexplained) == (2, 1)
    assert mixed.why == ("replaced", "held by a bounded cache")
    assert mixed.unexplained_of([replacing, cached, stray]) == [stray]


def _compiled(name: str) -> tuple[types.FunctionType, list[object]]:
    """A function compiled from source, as a template engine makes one, with the young
    constants its code holds (a set literal compiles to a frozenset: tracked)."""
    namespace: dict[str, object] = {}
    source = f"def {name}(word):\n    return word in {{'alpha', 'beta'}}\n"
    exec(compile(source, "<template>", "exec"), namespace)
    function = namespace[name]
    assert isinstance(function, types.FunctionType)
    consts = function.__code__.co_consts
    return function, [consts, *(const for const in consts if gc.is_tracked(const))]


def test_what_a_cached_function_s_code_holds_is_warmup_with_it() -> None:
    """Code objects are not tracked by the collector, so no walk passes them: a template
    compiled into a bounded cache holds its constants through its function's code. The
    constants of a function nothing explains stay unexplained."""
    cache: dict[str, object] = {}
    book = HolderBook()
    book.learn_bounded(cache, "LRU(max_size=8)")
    cached, cached_constants = _compiled("render")
    stray, stray_constants = _compiled("stray")
    cache["page"] = cached
    retained = [cached, *cached_constants, stray, *stray_constants]
    result = triage(retained, _young(*retained), book)
    assert result.why == ("held by a bounded cache",)
    assert result.unexplained_of(retained) == [stray, *stray_constants]


def test_no_code_is_looked_for_when_nothing_left_could_be_a_constant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only tuples and frozensets among what is left can be the constants of a function a
    learned holder reached: with none left, the holders' objects are not searched for
    code objects (every locale's data, for one dict a run left beside it)."""
    cache: dict[str, object] = {}
    book = HolderBook()
    book.learn_bounded(cache, "LRU(max_size=8)")
    searched: list[int] = []
    search = triage_module._through_code
    monkeypatch.setattr(
        triage_module,
        "_through_code",
        lambda held, *args: searched.append(len(held)) or search(held, *args),
    )
    cache["page"] = cached = [["rendered"]]
    stray = {"left": "behind"}
    retained = [cached, cached[0], stray]
    result = triage(retained, _young(*retained), book)
    assert result.unexplained_of(retained) == [stray] and searched == []
    retained.append(stray_tuple := (stray,))
    result = triage(retained, _young(*retained), book)
    assert result.unexplained_of(retained) == [stray, stray_tuple] and searched


def test_within_the_growth_only_its_own_objects_are_left_unexplained() -> None:
    """A repetition sorts every object it made; one that replaced what the run before
    made (and died since) is no growth, whether a rule explained it or not."""
    cache: dict[str, list[int]] = {}
    book = HolderBook()
    book.learn_bounded(cache, "LRU(max_size=8)")
    cached, replacing, grown = [1], [2], [3]
    cache["k"] = cached
    made = [cached, replacing, grown]
    sorted_out = triage(made, _young(*made), book)
    assert sorted_out.unexplained == 2
    within = sorted_out.within([cached, grown])
    assert within.unexplained == 1 and within.unexplained_of([cached, grown]) == [grown]
    assert within.unexplained_bytes == sys.getsizeof(grown)
    assert within.within([cached]).unexplained == 0


def test_a_filled_cache_is_warmup_until_its_length_grows() -> None:
    cache: dict[str, list[int]] = {"a": [0]}
    book = HolderBook()
    book.learn_filled(cache)
    book.note_lengths()
    replaced = [1]
    cache["a"] = replaced  # replaced, not added
    assert triage([replaced], _young(replaced), book).unexplained == 0
    added = [2]
    cache["b"] = added  # the cache grew: a suspect again
    assert triage([added], _young(added), book).unexplained == 1


def test_a_grown_filled_cache_does_not_stop_a_steady_one_from_explaining() -> None:
    """Each filled holder is judged on its own length: an object's attribute rebuilt by
    every test is warm-up even when another learned cache grew in the same run, and
    the walk from the steady holder does not pass through the grown one."""
    owner = types.SimpleNamespace(instances={}, registry=[])
    attributes = vars(owner)
    book = HolderBook()
    book.learn_filled(attributes)
    book.learn_filled(owner.registry)
    book.note_lengths()
    rebuilt: dict[str, list[int]] = {"first": []}  # tracked: a window lists it
    owner.instances = rebuilt  # replaced, as a cache_clear() does
    added = [3]
    owner.registry.append(added)  # this holder grew
    result = triage([rebuilt, added], _young(rebuilt, added), book)
    assert result.explained_ids == frozenset({id(rebuilt)})
    assert result.why == ("held by a cache filled earlier in the session",)


def test_a_weak_reference_to_what_a_filled_cache_holds_is_explained() -> None:
    """A weak-valued cache next to a strong one: its new weak reference keeps nothing."""
    strong: dict[str, _Old] = {"a": _Old()}
    book = HolderBook()
    book.learn_filled(strong)
    book.note_lengths()
    value = _Old()
    strong["a"] = value
    ref = weakref.ref(value)
    result = triage([value, ref], _young(value, ref), book)
    assert result.unexplained == 0


def test_a_cache_whose_growth_stopped_for_two_tests_grows_once_per_key() -> None:
    """linecache gains a generated class's source per test; each re-run replaces it."""
    sources: dict[str, list[str]] = {"<generated A>": ["a"]}
    book = HolderBook()
    book.learn_filled(sources)
    book.note_lengths()
    added = ["b"]
    sources["<generated B>"] = added
    assert triage([added], _young(added), book).unexplained == 1
    book.learn_filled(sources)  # a second test's re-runs cleared in it too
    book.note_lengths()
    again = ["c"]
    sources["<generated C>"] = again
    assert triage([again], _young(again), book).unexplained == 0


def _filled_once_per_key(holder: object) -> HolderBook:
    """A book that learned ``holder`` filled by enough tests' re-runs to grow once per
    key, its length noted as a window opens."""
    book = HolderBook()
    for _ in range(KEYED_CLEARS):
        book.learn_filled(holder)
    book.note_lengths()
    return book


def test_a_cache_filled_once_per_key_is_walked_from_the_entries_it_gained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """linecache holds a source per class generated so far, hundreds: a test that
    generates one more pays for its entry, not for the newest hundreds."""
    sources: dict[str, list[str]] = {f"<generated {n}>": [str(n)] for n in range(NEWEST)}
    book = _filled_once_per_key(sources)
    added = ["new"]
    sources["<generated new>"] = added
    seeds: list[int] = []
    walk = triage_module.young_reachable

    def counting(starts: list[object], *args: object, **kwargs: object) -> set[int]:
        seeds.append(len(starts))
        return walk(starts, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(triage_module, "young_reachable", counting)
    result = triage([added], _young(added), book)
    monkeypatch.undo()
    assert result.unexplained == 0
    assert sum(seeds) < 20, seeds


class _Slotted:
    """An object alive before the 'test' keeping its attribute in a slot: what it is
    given is one step below it on every version (an instance dict made on 3.10 is
    young itself)."""

    __slots__ = ("cached",)


def test_a_filled_cache_that_grew_also_explains_what_an_older_entry_made() -> None:
    """A registry that took a new entry while an older entry made an object of its own
    (a class registered beside one whose lazily made attribute the run filled): its new
    entry does not reach all the run left, so its newest entries are walked too."""
    registry: dict[str, object] = {f"<schema {n}>": _Slotted() for n in range(8)}
    book = _filled_once_per_key(registry)
    added = ["new"]
    registry["<schema new>"] = added
    made = {"made": "on first use"}
    registry["<schema 3>"].cached = made  # type: ignore[attr-defined]
    assert triage([added, made], _young(added, made), book).unexplained == 0


def test_growth_of_a_leaking_root_names_the_root_without_a_suspect() -> None:
    registry: list[object] = []
    book = HolderBook()
    book.learn_leaking(registry, "growing-container | app.registry")
    book.note_lengths()
    handler = {"on": ["save"]}
    registry.append(handler)
    result = triage([handler], _young(handler), book)
    assert result.roots == ("growing-container | app.registry",)
    assert result.unexplained == 0


def test_a_root_s_entry_under_a_key_the_code_spells_is_left_to_a_re_run() -> None:
    """An unbounded cache of whether a locale exists leaks a test's temporary names,
    one per run; a test asking about the locale ``"ding"`` adds one entry under a name
    its code spells, once: that growth is left to the suspect's re-runs, never called
    the root's."""

    @functools.cache
    def exists(name: str) -> bool:
        return False

    book = HolderBook()
    book.learn_leaking(exists, "growing-container | locales.exists")
    book.note_lengths()
    found = triage([], {}, book)
    exists("ding")
    spelled = with_growth(found, [Growth("locales.exists", 1, exists)], book, set())
    assert (spelled.roots, spelled.growth_explained) == ((), 0)
    book.note_lengths()
    exists("/tmp/pytest-of-root/test_locale_name_cleanup0/" + str(len(sys.argv) + 4711))
    made = with_growth(found, [Growth("locales.exists", 1, exists)], book, set())
    assert made.roots == ("growing-container | locales.exists",)
    # A copy of a literal the test spells (a doctest's Catalog(locale="Dang"), lowered
    # by the library), or made from a name: the test's literals tell them apart.
    book.note_lengths()
    exists("DANG".lower())
    growth = [Growth("locales.exists", 1, exists)]
    copied = with_growth(found, growth, book, set(), (), lambda: frozenset({"dang"}))
    assert (copied.roots, copied.growth_explained) == ((), 0)
    made = with_growth(found, growth, book, set(), (), lambda: frozenset({"dong"}))
    assert made.roots == ("growing-container | locales.exists",)


def _spells(names: list[str]) -> list[str]:
    return [f"{name}.dat" for name in names if name != "skipped"] + [(lambda: "λ")()]


DOCTESTED = """
>>> Catalog(locale='ding').plural_expr
'(n != 1)'
>>> broken syntax here (
"""


def test_a_test_s_literals_are_its_function_s_or_its_doctest_s() -> None:
    """Nested code included (a comprehension's, a lambda's); a decorated function's
    own; a doctest's examples', those that compile."""

    @functools.wraps(_spells)
    def decorated(*args: object) -> object:
        return _spells(*args)  # type: ignore[arg-type]

    assert {"skipped", ".dat", "λ"} <= literals_of(types.SimpleNamespace(obj=decorated))  # type: ignore[arg-type]
    doctest_item = types.SimpleNamespace(
        dtest=doctest.DocTestParser().get_doctest(DOCTESTED, {}, "plural_expr", None, 0)
    )
    assert {"ding", "(n != 1)"} & literals_of(doctest_item) == {"ding"}  # type: ignore[arg-type]
    assert literals_of(types.SimpleNamespace()) == frozenset()  # type: ignore[arg-type]


def test_what_a_grown_root_holds_is_its_leak_though_a_bounded_cache_holds_it_too() -> None:
    """An unbounded root that grew keeps its new entries alive whatever the bound of a
    cache that refers to them too (a CLI runner's stream cached by a leaking dict and
    by an ``lru_cache``): the run is the root's leak, not warm-up."""
    registry: list[object] = []
    cache: dict[str, object] = {}
    book = HolderBook()
    book.learn_leaking(registry, "growing-container | app.registry")
    book.learn_bounded(cache, "LRU(max_size=8)")
    book.note_lengths()
    stream = {"lines": ["<stdout>"]}
    registry.append(stream)
    cache["last"] = stream
    result = triage([stream], _young(stream), book)
    assert result.roots == ("growing-container | app.registry",)
    assert (result.unexplained, result.why) == (0, ())


class _Settings:
    def __init__(self, parent: _Settings | None = None) -> None:
        self.parent = parent


@pytest.mark.parametrize("carried", [0, 300])
def test_a_chain_one_link_longer_in_a_filled_holder_is_not_explained(carried: int) -> None:
    """Settings made with the last ones as parent: the holder's length is the same,
    but the old settings live on under the new ones; so too when each link carries
    more objects than the holder has entries (its tops are then told from those)."""
    owner = types.SimpleNamespace(settings=_Settings())
    book = HolderBook()
    book.learn_filled(vars(owner))
    book.note_lengths()

    def link(parent: _Settings | None) -> list[object]:
        owner.settings = made = _Settings(parent=parent)
        made.carried = [[n] for n in range(carried)]  # type: ignore[attr-defined]
        return listed([made, vars(made), made.carried, *made.carried])  # type: ignore[attr-defined]

    made = link(parent=owner.settings)
    assert triage(made, _young(*made), book).unexplained == len(made)
    made = link(parent=None)  # a true replacement
    assert triage(made, _young(*made), book).unexplained == 0


def test_a_dict_link_is_a_dict_of_the_same_keys_not_older_data_it_took_over() -> None:
    """A locale's data replaced in a filled cache by one copied from its parent: it
    holds the parent's older tables (dicts), now nothing else's, with other keys: no
    chain. A dict made with the last one as its parent, its keys the same, is one."""
    tables = {"territories": {"001": "world"}, "languages": {"aa": "Afar"}}
    cache = {"my": tables}
    book = HolderBook()
    book.learn_filled(cache)
    book.note_lengths()
    cache["my"] = copied = {"character_order": "left-to-right", **tables}
    del tables
    assert triage([copied], _young(copied), book).unexplained == 0
    links = {"last": {"parent": None, "depth": 0}}
    book.learn_filled(links)
    book.note_lengths()
    links["last"] = deeper = {"parent": links["last"], "depth": 1}
    assert triage([deeper], _young(deeper), book).unexplained == 1


def test_a_leaking_lru_cache_is_walked_only_after_a_miss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ``lru_cache`` stores only on a miss: a run that only hit a leaking cache's
    entries put nothing young in it, and no walk goes down its thousand entries for it;
    the result of a run that missed is found there."""

    @functools.cache
    def lookup(name: str) -> list[object]:
        return [name]

    for number in range(1000):
        lookup(str(number))
    book = HolderBook()
    book.learn_leaking(lookup, "growing-container | app.lookup")
    book.note_lengths()
    walked: list[object] = []
    walk = triage_module._reached_in_root
    monkeypatch.setattr(
        triage_module,
        "_reached_in_root",
        lambda entry, *args: walked.append(entry) or walk(entry, *args),
    )
    other = ["made by the test"]
    lookup("999")  # a hit
    assert triage([other], _young(other), book).unexplained == 1
    assert walked == []
    made = lookup("new")
    result = triage([made, other], _young(made, other), book)
    assert len(walked) == 1
    assert (result.unexplained, result.why) == (1, ("replaced in a leaking holder, not added",))


def test_a_chain_one_link_longer_in_a_root_that_did_not_grow_is_its_leak() -> None:
    owner = types.SimpleNamespace(settings=_Settings())
    book = HolderBook()
    book.learn_leaking(vars(owner), "root")
    book.note_lengths()
    owner.settings = deeper = _Settings(parent=owner.settings)
    made = [deeper, vars(deeper)]
    assert triage(made, _young(*made), book).roots == ("root",)
    owner.settings = fresh = _Settings()
    made = [fresh, vars(fresh)]
    result = triage(made, _young(*made), book)
    assert (result.roots, result.why) == ((), ("replaced in a leaking holder, not added",))


@pytest.mark.parametrize("length", [3, 5, 12, 40])
def test_a_dicts_newest_entries_are_its_last_values_and_keys(length: int) -> None:
    """Short or long, keyed by names or by objects: the values of the newest entries,
    with the keys that may refer to young objects, and nothing of the older ones."""
    by_name = {f"key{n}": [n] for n in range(length)}
    by_tuple = {(n,): [n] for n in range(length)}
    values = [entry for entry in newest_entries(by_name, 3) if type(entry) is list]
    assert sorted(values) == [[length - 3], [length - 2], [length - 1]]
    newest = newest_entries(by_tuple, 3)
    assert sorted(entry[0] for entry in newest) == sorted([*range(length - 3, length)] * 2)
    assert newest_entries(by_tuple, 0) == [] and newest_entries({}, 3) == []


def test_a_large_root_is_walked_from_its_newest_entries_only() -> None:
    """What a run appends to a root of thousands of entries is found; an entry replaced
    far back is not looked for (a re-run would show it), so the walk costs no more than
    for a short root."""
    registry: dict[int, object] = {key: (key,) for key in range(3 * NEWEST)}
    book = HolderBook()
    book.learn_leaking(registry, "root")
    book.note_lengths()
    appended, replaced = {"new": [1]}, {"old": [0]}
    registry[len(registry)] = appended
    registry[0] = replaced
    assert triage([appended], _young(appended), book).roots == ("root",)
    assert triage([replaced], _young(replaced), book).unexplained == 1


def test_a_root_that_grew_is_walked_from_the_entries_it_gained(
    monkeypatch: pytest.MonkeyPatch, referents_listed: list[int]
) -> None:
    """A root that keeps leaking is long: each test must pay for what it gained."""
    registry: dict[int, object] = {key: [key] for key in range(NEWEST)}
    book = HolderBook()
    book.learn_leaking(registry, "root")
    book.note_lengths()
    appended = {"new": [1]}
    registry[len(registry)] = appended
    referents_listed.clear()  # the triage's work only
    result = triage([appended, appended["new"]], _young(appended, appended["new"]), book)
    monkeypatch.undo()
    assert result.roots == ("root",) and result.unexplained == 0
    assert sum(referents_listed) < 20, referents_listed


def test_what_a_root_explained_is_walked_from_no_other_holder(
    monkeypatch: pytest.MonkeyPatch, referents_listed: list[int]
) -> None:
    """A CLI runner's tests each add to one leaking root, whose objects filled caches
    and other roots also reach: once the root explains them, no other walk runs."""
    registry: dict[int, object] = {}
    book = HolderBook()
    book.learn_leaking(registry, "root")
    book.learn_leaking({"other": 1}, "other root")
    shared = [[n] for n in range(1000)]  # what every holder reaches: the run's objects
    for n in range(ONE_BY_ONE * 2):
        book.learn_filled({"cache": shared, "n": n})
    book.note_lengths()
    registry[0] = shared
    referents_listed.clear()  # the triage's work only
    result = triage([shared, *shared], _young(shared, *shared), book)
    monkeypatch.undo()
    assert result.roots == ("root",) and result.unexplained == 0
    # The root's walk lists the 1,000 lists and their items once; no other walk does.
    assert sum(referents_listed) < 2500, sum(referents_listed)  # 12,019 before


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many learned holders each walk of the triage started from, during the test
    (the other kinds of holder, none learned, walk nothing)."""
    started: list[int] = []
    reach = triage_module._reach

    def counted(learned: list[object], *args: object, **kwargs: object) -> object:
        if learned:
            started.append(len(learned))
        return reach(learned, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(triage_module, "_reach", counted)
    return started


def test_filled_holders_that_hold_nothing_left_are_not_walked_one_by_one(walks: list[int]) -> None:
    """Past the first few filled holders, one walk from all the rest shows none holds
    the leftover, and after such a run that walk comes first: the result is the same,
    the walks are not one per holder."""
    book = HolderBook()
    caches = [{"entry": [n]} for n in range(ONE_BY_ONE * 5)]
    for cache in caches:
        book.learn_filled(cache)
    book.note_lengths()
    leaked = {"held by": "no learned holder"}
    assert triage([leaked], _young(leaked), book).unexplained == 1
    assert walks == [1] * ONE_BY_ONE + [len(caches) - ONE_BY_ONE]
    # After a run they held nothing of, the first walk is from all of them.
    walks.clear()
    assert triage([leaked], _young(leaked), book).unexplained == 1
    assert walks == [len(caches)]
    # One held by the last of them is still found, by that holder.
    replaced = ["replaced in place"]
    caches[-1]["entry"] = replaced
    walks.clear()
    result = triage([replaced], _young(replaced), book)
    assert result.explained_ids == frozenset({id(replaced)})
    # Groups from the front, each twice the last, then the one holding it halved: nine
    # walks where one per holder made twenty-one.
    assert walks == [len(caches), 1, 2, 4, 8, 2, 1, 1, 1]
    # After a run they explained, the first few are walked alone again.
    caches[0]["entry"] = replaced = ["replaced again"]
    walks.clear()
    result = triage([replaced], _young(replaced), book)
    assert result.explained_ids == frozenset({id(replaced)})
    assert walks[:2] == [1, 1]


def test_a_function_whose_siblings_filled_holders_held_nothing_skips_most_walks() -> None:
    """Past a few siblings in a row whose walks found nothing, one in every few walks;
    a walk that finds something walks every sibling again. A test of no parametrized
    function (None) always walks."""
    walks = FilledWalks()
    smoke = ("tests/test_smoke.py", "test_smoke")
    for _ in range(MISSES_BEFORE_SKIPPING):
        assert walks.due(smoke)
        walks.walked(smoke, missed=True)
    due = [walks.due(smoke) for _ in range(2 * WALK_EVERY)]
    assert due == ([False] * (WALK_EVERY - 1) + [True]) * 2
    walks.walked(smoke, missed=False)  # found some, or nothing was left to find
    assert walks.due(smoke) and walks.due(smoke)
    for _ in range(MISSES_BEFORE_SKIPPING - 1):
        walks.walked(smoke, missed=True)
    walks.walked(smoke, missed=False)
    walks.walked(smoke, missed=True)
    assert walks.due(smoke)  # not three in a row
    walks.walked(None, missed=True)
    assert all(walks.due(None) for _ in range(2 * WALK_EVERY))


def test_each_of_a_functions_occasional_walks_that_misses_halves_how_often_it_walks() -> None:
    """A thousand siblings whose walks keep missing walk ever more rarely, down to one in
    ``WALK_EVERY << WALK_DOUBLINGS``; a walk that finds something makes every sibling
    walk again."""
    walks = FilledWalks()
    smoke = ("tests/test_smoke.py", "test_smoke")
    walked: list[int] = []
    for sibling in range(1000):
        if walks.due(smoke):
            walked.append(sibling)
            walks.walked(smoke, missed=True)
    gaps = [later - earlier for earlier, later in itertools.pairwise(walked)]
    doubled = [WALK_EVERY << doubling for doubling in range(WALK_DOUBLINGS + 1)]
    assert gaps[: MISSES_BEFORE_SKIPPING + WALK_DOUBLINGS] == [1, 1, *doubled]
    assert set(gaps[MISSES_BEFORE_SKIPPING + WALK_DOUBLINGS :]) == {doubled[-1]}
    walks.walked(smoke, missed=False)
    assert all(walks.due(smoke) for _ in range(MISSES_BEFORE_SKIPPING))


def test_a_run_that_skips_the_filled_holders_leaves_what_they_hold_unexplained() -> None:
    """The cost of a wrong skip: a suspect (whose re-runs walk), never a verdict."""
    cache = {"first": [1]}
    book = HolderBook()
    book.learn_filled(cache)
    book.note_lengths()
    cache["first"] = replaced = [2]
    book.walk_filled = False
    assert triage([replaced], _young(replaced), book).unexplained == 1
    assert book.filled_found is None
    book.walk_filled = True
    assert triage([replaced], _young(replaced), book).unexplained == 0
    assert book.filled_found


def test_after_a_filled_holder_explains_some_one_walk_asks_the_rest(walks: list[int]) -> None:
    """A run whose first filled holder explains part of what it left, and no other holder
    the rest (a class-defining test: the rest is its weak references, for other rules),
    pays three walks, the holder's, the next one's and one from all the others, not one
    per holder."""
    book = HolderBook()
    caches = [{"entry": [n]} for n in range(ONE_BY_ONE * 3)]
    for cache in caches:
        book.learn_filled(cache)
    book.note_lengths()
    replaced = ["replaced in place"]
    caches[0]["entry"] = replaced
    unheld = {"held by": "no learned holder"}
    result = triage([replaced, unheld], _young(replaced, unheld), book)
    assert result.explained_ids == frozenset({id(replaced)}) and result.unexplained == 1
    assert walks == [1, 1, len(caches) - 2]
    # When one of the others holds some of the rest, it is still found, by itself.
    caches[1]["entry"] = other = ["replaced by another holder"]
    caches[0]["entry"] = replaced = ["replaced again"]
    walks.clear()
    result = triage([replaced, other, unheld], _young(replaced, other, unheld), book)
    assert result.explained_ids == frozenset({id(replaced), id(other)})
    assert walks == [1, 1, 1, len(caches) - 3]


def test_filled_holders_side_by_side_holding_one_object_each_are_walked_once_each(
    walks: list[int],
) -> None:
    """A parser suite's learned expressions hold one object of a run each: they are
    walked one by one, each once, never the rest of them again after each."""
    book = HolderBook()
    caches = [{"entry": [n]} for n in range(40)]
    for cache in caches:
        book.learn_filled(cache)
    book.note_lengths()
    replaced: list[list[int]] = []
    for cache in caches:
        cache["entry"] = entry = [len(replaced)]
        replaced.append(entry)
    result = triage(replaced, _young(*replaced), book)
    assert result.explained_ids == frozenset(map(id, replaced))
    assert walks == [1] * len(caches)


@pytest.mark.parametrize("holders", [2, 37, 200])
def test_the_filled_holder_that_holds_what_is_left_costs_a_few_walks_wherever_it_is(
    walks: list[int], holders: int
) -> None:
    """A parser suite learns hundreds of its expressions' dicts as filled holders: the
    one holding a run's objects is found wherever it stands, in walks that grow with
    the logarithm of their number, not one walk per holder."""
    book = HolderBook()
    caches = [{"entry": [n]} for n in range(holders)]
    for cache in caches:
        book.learn_filled(cache)
    book.note_lengths()
    book.filled_missed = True  # the search starts at the first holder
    for place in range(holders):
        caches[place]["entry"] = replaced = [f"replaced in {place}"]
        book.note_lengths()
        walks.clear()
        result = triage([replaced], _young(replaced), book)
        assert result.explained_ids == frozenset({id(replaced)}), place
        assert len(walks) <= 2 * holders.bit_length() + 2, (place, walks)
        book.filled_missed = True


def test_weak_references_left_beside_a_filled_holders_entry_need_no_other_walk(
    walks: list[int],
) -> None:
    """A class-defining test: a registry keeps the new class in place of the last, and
    the rest of what the run left is weak references to it (its bases' subclass lists,
    the ABC caches). Once the registry explains the class, no walk from the other filled
    holders looks for the weak references."""
    book = HolderBook()
    caches = [{"entry": [n]} for n in range(ONE_BY_ONE * 3)]
    for cache in caches:
        book.learn_filled(cache)
    book.note_lengths()
    new_class = type("Registered", (), {})
    caches[0]["entry"] = entry = [new_class]
    ref = weakref.ref(new_class)
    made = [entry, new_class, ref]
    result = triage(made, _young(*made), book)
    assert result.unexplained == 0
    assert result.why == ("held by a cache filled earlier in the session",)
    assert walks == [1]


def test_unknown_holders_leave_a_suspect() -> None:
    holder: list[object] = []
    leaked = {"k": 1}
    holder.append(leaked)
    result = triage([leaked], _young(leaked), HolderBook())
    assert (result.unexplained, result.roots) == (1, ())
    assert result.unexplained_bytes > 0


def test_a_leaking_root_stays_leaking_when_learned_again_as_filled() -> None:
    holder: list[object] = []
    book = HolderBook()
    book.learn_leaking(holder, "root")
    book.learn_filled(holder)
    assert [entry.root for entry in book.leaking()] == ["root"]
    assert book.filled() == []


def test_a_registry_of_modules_grown_by_an_import_is_warmup() -> None:
    """``sys.modules`` gaining the module the run imported is the import's warm-up."""
    module = _imported("imported_now")
    registry: dict[str, object] = {"old": types}
    registry["imported_now"] = module
    retained = [module, vars(module)]
    found = triage(retained, _young(*retained), HolderBook())
    grown = with_growth(
        found, [Growth("sys.modules", 1, registry)], HolderBook(), {*map(id, retained)}
    )
    assert grown.growth_explained == 1


def test_a_container_grown_by_an_unexplained_object_or_a_str_is_not_explained() -> None:
    module = _imported("imported_now")
    entry = [1, 2]
    retained = listed([module, vars(module), entry])
    ids = {*map(id, retained)}
    found = triage(retained, _young(*retained), HolderBook())
    assert found.unexplained == 1
    mixed: dict[str, object] = {"m": module, "e": entry}
    names: list[str] = ["a", "b"]  # untracked values: nothing young to explain them
    growth = [Growth("mixed", 2, mixed), Growth("names", 1, names)]
    assert with_growth(found, growth, HolderBook(), ids).growth_explained == 0


def test_a_bounded_lru_cache_is_walked_only_after_a_miss() -> None:
    """An ``lru_cache`` stores an entry only on a miss: with no miss since the window
    opened nothing young hangs from it, and the walk down it is skipped."""

    @functools.lru_cache(maxsize=8)
    def parse(text: str) -> list[str]:
        return text.split()

    cached = parse("a b")
    book = HolderBook()
    book.learn_bounded(parse, "lru_cache(maxsize=8) of parse")
    book.note_lengths()
    assert parse("a b") is cached  # a hit
    assert not book.bounded()[0].may_hold_new()
    made = parse("c d")  # a miss: its result is young and held by the cache
    assert book.bounded()[0].may_hold_new()
    result = triage([made], _young(made), book)
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)


def test_a_bounded_lru_cache_is_walked_from_the_entries_the_run_used() -> None:
    """A run's new entries, and those it used, are an ``lru_cache``'s most recently used:
    only those are walked, so a full cache costs a test what it used."""

    @functools.lru_cache(maxsize=512)
    def parse(text: str) -> list[object]:
        return [text]

    for number in range(512):
        parse(str(number))
    book = HolderBook()
    book.learn_bounded(parse, "lru_cache(maxsize=512) of parse")
    book.note_lengths()
    used = parse("7")  # a hit: the run gives the old result a young part
    used.append(["young"])
    made = parse("new")  # a miss, which evicts the oldest entry
    entry = book.bounded()[0]
    assert len(entry.referents()) < 16  # two entries and the wrapper's own fields
    result = triage([made, used[-1]], _young(made, used[-1]), book)
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)


@pytest.mark.skipif(not _LRU_REFERENTS_IN_USE_ORDER, reason="another lru_cache layout")
def test_lru_cache_referents_list_entries_least_recently_used_first() -> None:
    """The layout ``Learned.referents`` reads (CPython 3.10 to 3.13): the wrapper's type,
    each entry as key, result and link type from the least recently used, then six
    fields, the first the dict of every key."""

    @functools.lru_cache(maxsize=4)
    def square(number: int) -> tuple[int]:
        return (number * number,)

    for number in range(3):
        square(number)
    square(0)  # used again: now the most recently used
    found = gc.get_referents(square)
    entries = found[1:-6]
    assert [entries[at] for at in range(0, len(entries), 3)] == [1, 2, 0]
    assert [entries[at] for at in range(1, len(entries), 3)] == [(1,), (4,), (0,)]
    assert isinstance(found[-6], dict) and set(found[-6]) == {0, 1, 2}
    assert found[-5] is square.__wrapped__ and found[-1] is vars(square)


def test_a_function_holder_is_walked_from_what_it_holds_not_from_its_module() -> None:
    """A function that held what a run made (attributes, its ``__annotations__`` made
    on first access) is walked from those, never from its module's names."""

    def handler() -> None:
        return None

    book = HolderBook()
    book.learn_filled(handler)
    book.note_lengths()
    handler.registry = made = ["young"]  # type: ignore[attr-defined]
    seeds = contents(book.filled())
    assert not any(seed is globals() for seed in seeds)
    assert len(seeds) < len(globals())
    result = triage([vars(handler), made], _young(vars(handler), made), book)
    assert result.unexplained == 0


def test_a_bounded_dict_is_walked_only_when_its_newest_key_or_length_changed() -> None:
    """A bounded dict cache adds its entries at the end: with the same length and newest
    key as when the window opened, it took nothing young."""
    cache: dict[str, list[str]] = {"a": ["a"]}
    book = HolderBook()
    book.learn_bounded(cache, "re._MAXCACHE=512")
    book.note_lengths()
    assert not book.bounded()[0].may_hold_new()
    del cache["a"]
    made = ["b"]
    cache["b"] = made  # evicted the oldest, added one: the same length, a new key
    assert book.bounded()[0].may_hold_new()
    result = triage([made], _young(made), book)
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)


def test_a_bounded_dict_is_walked_from_the_entries_the_run_added(
    monkeypatch: pytest.MonkeyPatch, referents_listed: list[int]
) -> None:
    """attrs' tests add a few entries per test to bounded caches of hundreds: each test
    must pay for what it added, not for the cache's size."""
    cache: dict[int, list[int]] = {key: [key] for key in range(1000)}
    book = HolderBook()
    book.learn_bounded(cache, "LRU(max_size=4096)")
    book.note_lengths()
    added = [1000]
    cache[1000] = added
    referents_listed.clear()  # the triage's work only
    result = triage([added], _young(added), book)
    monkeypatch.undo()
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)
    assert sum(referents_listed) < 50, referents_listed


def test_an_lru_caches_own_dict_is_walked_only_from_the_keys_a_run_added(
    monkeypatch: pytest.MonkeyPatch, referents_listed: list[int]
) -> None:
    """A search may find an lru_cache's dict of keys as the holder of a key (typing's
    caches keep the classes a test made as keys), with the cache's bound: a run that
    only used its entries adds no key, and is not walked there."""
    wrapper = functools.lru_cache(maxsize=2048)(id)
    keys = [_Old() for _ in range(1000)]
    for key in keys:
        wrapper(key)
    inner = next(ref for ref in gc.get_referents(wrapper) if type(ref) is dict and len(ref) == 1000)
    book = HolderBook()
    book.learn_bounded(inner, "lru_cache(maxsize=2048) of id")
    book.note_lengths()
    wrapper(keys[5])  # a hit: no key added
    added = _Old()
    wrapper(added)
    key = next(reversed(inner))  # the run's key: a tuple of its arguments
    referents_listed.clear()  # the triage's work only
    result = triage([added, key], _young(added, key), book)
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)
    assert sum(referents_listed) < 50, sum(referents_listed)
    book.note_lengths()
    wrapper(keys[5])
    referents_listed.clear()
    left = ["held by nothing learned"]
    assert triage([left], _young(left), book).unexplained == 1
    monkeypatch.undo()
    assert sum(referents_listed) < 10, sum(referents_listed)


def test_old_tuples_among_a_holders_entries_are_not_listed_again(
    monkeypatch: pytest.MonkeyPatch, referents_listed: list[int]
) -> None:
    """``linecache``'s entries are tuples: an old one holds only what is older than it,
    so a walk from a filled holder lists each entry once, not its items."""
    cache = {f"<attrs generated {n}>": (n, None, [f"line {n}"], "") for n in range(300)}
    book = HolderBook()
    book.learn_filled(cache)
    book.note_lengths()
    replaced = (300, None, ["the run's"], "")
    cache["<attrs generated 7>"] = replaced
    referents_listed.clear()  # the triage's work only
    result = triage([replaced, replaced[2]], _young(replaced, replaced[2]), book)
    monkeypatch.undo()
    assert result.unexplained == 0
    assert sum(referents_listed) < 1000, sum(referents_listed)


def test_a_search_teaches_the_book_its_first_holders_only() -> None:
    """A strategy cache's search finds hundreds of holders: the book takes an eighth of
    its room, so the holders other tests taught it stay."""
    book = HolderBook()
    kept = {"linecache": 1}
    book.learn_filled(kept)
    found: list[tuple[object, str]] = [({"entry": n}, "") for n in range(MAX_HOLDERS)]
    book.learn_found(found)
    assert len(book) == 1 + MAX_LEARNED_AT_ONCE
    assert book.known(kept) is not None


def test_a_full_book_forgets_its_oldest_filled_holder_that_never_served() -> None:
    book = HolderBook()
    bounded, served = {"bounded": 1}, {"served": 1}
    book.learn_bounded(bounded, "LRU(max_size=8)")
    book.learn_filled(served)
    served_entry = book.known(served)
    assert served_entry is not None
    served_entry.hits = 1
    idle = [{"idle": n} for n in range(MAX_HOLDERS - 2)]
    for holder in idle:
        book.learn_filled(holder)
    newest = {"new": 1}
    book.learn_bounded(newest, "re._MAXCACHE=512")
    assert len(book) == MAX_HOLDERS
    assert book.known(newest) is not None and book.known(idle[0]) is None
    assert book.known(bounded) is not None and book.known(served) is not None


def test_a_book_of_bounds_and_roots_only_learns_nothing_more() -> None:
    book = HolderBook()
    holders = [{"kept": n} for n in range(MAX_HOLDERS)]
    for n, holder in enumerate(holders):
        if n % 2:
            book.learn_bounded(holder, "LRU(max_size=8)")
        else:
            book.learn_leaking(holder, "root")
    late = {"late": 1}
    book.learn_filled(late)
    assert len(book) == MAX_HOLDERS and book.known(late) is None


def test_a_full_bounded_cache_is_walked_whole_for_an_entry_replaced_in_place() -> None:
    """hypothesis' LRU keeps a heap in a list of its bound's length: a new entry takes an
    evicted one's place anywhere in it, not at the end."""
    heap: list[object] = [(key,) for key in range(2 * NEWEST)]
    book = HolderBook()
    book.learn_bounded(heap, "LRUReusedCache(max_size=1024)")
    book.note_lengths()
    entry = {"strategy": [1]}
    heap[3] = entry
    result = triage([entry], _young(entry), book)
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)


class _Stream:
    """A cached object that makes a helper on its first use (a decoder), which it refers
    to directly, as a C stream does its decoder."""

    __slots__ = ("decoder",)

    def __init__(self) -> None:
        self.decoder: object = None


def _bounded_stream_and_filled() -> tuple[HolderBook, _Stream, dict[str, object]]:
    """A book with a bounded cache of old streams (fed by the run) and a filled cache."""
    stream = _Stream()
    streams: list[object] = [stream, _Old()]
    filled: dict[str, object] = {"old": _Old()}
    book = HolderBook()
    book.learn_bounded(streams, "LRU(max_size=2)")
    book.learn_filled(filled)
    book.note_lengths()
    return book, stream, filled


@pytest.mark.parametrize("beneath_first", [True, False])
def test_what_an_old_entry_of_a_bounded_cache_made_is_warmup_before_or_after_filled(
    beneath_first: bool,
) -> None:
    """After a run whose walk into the bounded holders' old entries found nothing, the
    next walks into them after the filled holders: what an old entry made is warm-up in
    either order, and a find puts the walk first again."""
    book, stream, _ = _bounded_stream_and_filled()
    book.beneath_bounded = beneath_first
    stream.decoder = decoder = {"state": [0]}
    result = triage([decoder], _young(decoder), book)
    assert result.unexplained == 0 and result.why == ("held by a bounded cache",)
    assert book.beneath_bounded


def test_a_filled_cache_spares_the_walk_into_a_bounded_cache_s_old_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once a walk into the bounded holders' old entries found nothing, a run whose
    objects a filled cache holds is explained without one (a full cache of a thousand
    strategies costs a walk into each)."""
    book, _, filled = _bounded_stream_and_filled()
    book.beneath_bounded = False
    walks: list[bool] = []
    reach = triage_module._reach

    def counted(
        learned: list[Learned], *args: object, beneath: bool = True, **kwargs: object
    ) -> object:
        if any(entry.bound for entry in learned):
            walks.append(beneath)
        return reach(learned, *args, beneath=beneath, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(triage_module, "_reach", counted)
    filled["old"] = entry = {"key": [1]}  # replaced in place: a filled cache's way
    result = triage([entry], _young(entry), book)
    assert result.unexplained == 0
    assert result.why == ("held by a cache filled earlier in the session",)
    assert walks == [False] and not book.beneath_bounded


def test_a_root_the_run_cleared_and_refilled_explains_nothing() -> None:
    """A packrat cache cleared at every parse: longer after this test than before it,
    but nothing it held before survived. Its growth is for a re-run to judge."""
    cache: dict[str, object] = {"old": (1,)}
    book = HolderBook()
    book.learn_leaking(cache, "root")
    book.note_lengths()
    cache.clear()
    refilled = [{"entry": n} for n in range(3)]
    for n, entry in enumerate(refilled):
        cache[f"new {n}"] = entry
    result = triage(refilled, _young(*refilled), book)
    assert result.roots == () and result.unexplained == 3


SHARED_DEFAULTS: dict[str, int] = {"size": 1}


def test_an_entry_referring_to_a_shared_older_object_of_its_type_is_no_chain() -> None:
    """A new cache dict that refers to a module's older dict (held there too) replaces
    the old entry: only a link nothing else holds makes a chain."""
    owner = types.SimpleNamespace(cache={"defaults": {"size": 0}})
    book = HolderBook()
    book.learn_filled(vars(owner))
    book.note_lengths()
    owner.cache = rebuilt = {"defaults": SHARED_DEFAULTS}
    assert triage([rebuilt], _young(rebuilt), book).unexplained == 0


def test_what_an_older_finder_read_again_is_the_import_system_s() -> None:
    """A path finder reads its directory's listing again once the directory changed (a
    test imported from it, or wrote a file there): the new listing is the import
    system's. An object the run added to the finder cache is not explained by it."""
    finder = types.SimpleNamespace(path="/tmp/refreshed", _path_cache={"old.py"})
    sys.path_importer_cache["/tmp/refreshed"] = finder  # type: ignore[assignment]
    try:
        listing = {"old.py", "new.py"}
        finder._path_cache = listing
        added = types.SimpleNamespace(path="/tmp/added")
        sys.path_importer_cache["/tmp/added"] = added  # type: ignore[assignment]
        assert refreshed_by_finders([listing, added, vars(added)]) == [listing]
    finally:
        del sys.path_importer_cache["/tmp/refreshed"], sys.path_importer_cache["/tmp/added"]


class _Case:
    """A class-based test's instance, made before the window (as pytest does at
    collection)."""


def test_the_attributes_an_older_object_took_beside_warmup_are_found() -> None:
    """A young record a cache keeps (a frame's locals) refers to an older instance
    whose ``__dict__`` the run made: the dict goes with the record."""
    case = _Case()
    attributes = vars(case)  # made now: young in this run
    record = {"frame locals": case}
    retained = [record, attributes]
    assert attributes_of_older([attributes], retained, {id(record)}) == [attributes]


def test_the_attributes_of_an_older_object_nothing_explained_refers_to_are_not() -> None:
    case = _Case()
    attributes = vars(case)
    other: dict[str, object] = {"unrelated": 1}
    record = {"frame locals": case}
    assert attributes_of_older([attributes], [other, attributes], {id(other)}) == []
    # With anything but dicts left, the run stays a suspect: no look.
    leftover = ["not a dict"]
    retained = [record, attributes, leftover]
    assert attributes_of_older([attributes, leftover], retained, {id(record)}) == []


class _Unsized:
    """A holder whose length cannot be read."""

    def __len__(self) -> int:
        raise RuntimeError("no length")


def test_a_window_s_opening_notes_each_kind_of_holder_and_growth_is_read_against_it() -> None:
    filled: list[object] = [1]
    leaking: dict[str, object] = {"first": 1}
    bounded: dict[str, object] = {"a": 1}
    broken = _Unsized()

    @functools.lru_cache(maxsize=4)
    def cached(value: int) -> int:
        return value

    book = HolderBook()
    book.learn_filled(filled)
    book.learn_leaking(leaking, "a root")
    book.learn_bounded(bounded, "maxsize 8")
    book.learn_bounded(cached, "lru_cache(maxsize=4) of cached")
    book.learn_filled(broken)
    book.note_lengths()
    entries = {id(entry.holder): entry for entry in book.filled() + book.leaking() + book.bounded()}
    assert [book.known(filled), book.known(leaking)] == [entries[id(filled)], entries[id(leaking)]]
    assert entries[id(filled)].length == 1 and entries[id(leaking)].length == 1
    assert entries[id(leaking)].head == id("first")
    assert entries[id(bounded)].tail == (1, id("a"))
    assert entries[id(cached)].misses == 0
    assert entries[id(broken)].length == -1  # noted as unknown, never read as growth
    assert entries[id(bounded)].may_hold_new() is False
    filled.append(2)
    bounded["b"] = 2
    cached(1)
    assert list(grown(book.filled())) == [entries[id(filled)]]
    assert not book.roots_grew()
    leaking["second"] = 2
    assert book.roots_grew()
    assert entries[id(bounded)].may_hold_new() and entries[id(cached)].may_hold_new()
    # A holder learned later is noted at the next opening, with the others.
    late: list[object] = []
    book.learn_filled(late)
    late.append(1)
    book.note_lengths()
    assert book.known(late) is not None and book.known(late).length == 1  # type: ignore[union-attr]
    assert not list(grown(book.filled()))
