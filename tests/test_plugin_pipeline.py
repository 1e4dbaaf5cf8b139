"""The screen-triage-confirm-explain pipeline end to end: warm-up recognised on the
screened run without a re-run, one explanation per root, the confirmation budget, and
what pytest or wider-scoped fixtures build kept out of the test's window.

Runs go to a child pytest (``run_pytest``): the window freezes the GC there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
from inner_runs import counting_conftest

from pytest_memguard.confirm.budget import ALLOWANCE_SECONDS, SMALL_SUITE_TESTS
from pytest_memguard.confirm.cached import CACHED_ON_ACCESS
from pytest_memguard.confirm.filters import KEPT_BY_WARNINGS
from pytest_memguard.confirm.lazy import MADE_ON_ACCESS
from pytest_memguard.confirm.replaced import REPLACED
from pytest_memguard.confirm.slotnames import SLOT_NAMES_CACHED
from pytest_memguard.screen.containers import SET_ON_FIRST_USE
from pytest_memguard.screen.triage import ATTRIBUTES_OF_OLDER

RunPytest = Callable[..., pytest.RunResult]


def _records(pytester: pytest.Pytester, *args: str, run: RunPytest) -> dict[str, Any]:
    result = run("--memguard", "--memguard-report=json:mem.json", *args)
    document: dict[str, Any] = json.loads((pytester.path / "mem.json").read_text())
    document["result"] = result
    document["by_name"] = {t["nodeid"].rpartition("::")[2]: t for t in document["tests"]}
    return document


BOUNDED_PER_THREAD = """
import threading
import time

class StrategyCache:
    '''Declares its bound; keeps its entries in a per-thread dict, as hypothesis does.'''
    __slots__ = ("_local", "max_size")

    def __init__(self, max_size):
        self.max_size = max_size
        self._local = threading.local()

    def put(self, key, value):
        data = getattr(self._local, "data", None)
        if data is None:
            data = self._local.data = {}
        if len(data) < self.max_size:
            data[key] = value

CACHE = StrategyCache(1000)

# Slow enough that looking up the holder costs less than a re-run.
def test_fills_the_cache_first():
    time.sleep(0.05)
    CACHE.put("first", {"strategy": [0]})

def test_fills_it_more():
    time.sleep(0.05)
    for n in range(5):
        CACHE.put(("more", n), {"strategy": [n]})

def test_and_more():
    time.sleep(0.05)
    for n in range(5):
        CACHE.put(("again", n), {"strategy": [n]})
"""


def test_growth_in_a_cache_bounded_further_up_is_warmup_after_one_lookup(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    pytester.makepyfile(test_cache=BOUNDED_PER_THREAD)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    tests = report["by_name"]
    assert {t["verdict"] for t in tests.values()} == {"warmup"}
    # The first test's holder is looked up (a re-run would cost more) and its bound
    # found four steps up; the tests after it are warm-up on their screened run.
    assert "StrategyCache(max_size=1000)" in tests["test_fills_the_cache_first"]["message"]
    assert all(t["repetitions"] == [] for t in tests.values())
    assert not tests["test_and_more"]["suspect"]
    assert tests["test_and_more"]["message"] == "held by a bounded cache"


MODULE_LEVEL_CACHES = """
import itertools

import pytest

class LRUCache:
    # Declares its capacity; keeps its entries in a dict and a list of its own.
    def __init__(self, capacity):
        self.capacity = capacity
        self._mapping = {}
        self._order = []

    def put(self, key, value):
        if len(self._order) >= self.capacity:
            del self._mapping[self._order.pop(0)]
        self._order.append(key)
        self._mapping[key] = value

class Environment:
    def __init__(self):
        self.cache = LRUCache(400)

LEXERS = LRUCache(50)
ENV = Environment()
COUNTER = itertools.count()

@pytest.mark.parametrize("case", range(3))
def test_compiles_a_new_template(case):
    number = next(COUNTER)
    ENV.cache.put(number, {"template": [number]})

@pytest.mark.parametrize("case", range(3))
def test_makes_a_new_lexer(case):
    number = next(COUNTER)
    LEXERS.put(number, {"lexer": [number]})
"""


def test_growth_in_a_module_level_cache_declaring_a_bound_is_warmup_on_its_screen(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """A cache object at module level, or in a module-level object's attributes, that
    declares its bound is known before the first test: what a test adds to it is
    warm-up on its screened run, with no search and no re-run."""
    pytester.makepyfile(test_caches=MODULE_LEVEL_CACHES)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=6)
    tests = report["tests"]
    assert {t["verdict"] for t in tests} == {"warmup"}
    assert {t["message"] for t in tests} == {"held by a bounded cache"}
    assert not any(t["suspect"] or t["repetitions"] for t in tests)


FIRST_USE_AND_A_FILLING_CACHE = """
import threading
import time

# Registries a library fills on first use, each keeping one object of the first run:
# made before the cache, so a search lists them before it.
REGISTRIES = [{} for _ in range(24)]

class StrategyCache:
    # Declares its bound; keeps its entries in a per-thread dict, as hypothesis does.
    __slots__ = ("_local", "max_size")

    def __init__(self, max_size):
        self.max_size = max_size
        self._local = threading.local()
        self._local.data = {}

    def put(self, key, value):
        if len(self._local.data) < self.max_size:
            self._local.data[key] = value

CACHE = StrategyCache(1000)
STATE = {"last": None}

def test_draws_new_strategies():
    time.sleep(0.05)  # slow enough that looking up the holders costs less than a re-run
    for index, registry in enumerate(REGISTRIES):
        registry.setdefault("first", [index])
    for n in range(30):  # new keys on every run: the cache fills run after run
        CACHE.put((n, time.perf_counter()), {"strategy": [n]})
    STATE["last"] = [time.perf_counter()]  # replaced on every run
"""


def test_a_bounded_cache_behind_many_first_use_holders_is_warmup(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The first run leaves one object in each of two dozen registries and most in a
    bounded cache that fills on every run: the search climbs the cache first and finds
    its bound, and the re-runs leave its entries out of their growth (the cache was a
    leak, "retained 60 objects on each of 3 runs", when climbed last or not at all)."""
    pytester.makepyfile(test_first_use=FIRST_USE_AND_A_FILLING_CACHE)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=1)
    test = report["by_name"]["test_draws_new_strategies"]
    assert test["verdict"] == "warmup", test["message"]
    assert test["message"].startswith("one-time growth, not a leak (growth stopped")


REBUILT_PER_TEST = """
import weakref

import pytest

class Lookup:
    # A weak-valued cache that tests empty by replacing it (a cache_clear()).

    def __init__(self):
        self.instances = weakref.WeakValueDictionary()

    def cache_clear(self):
        self.instances = weakref.WeakValueDictionary()

LOOKUP = Lookup()

@pytest.mark.parametrize("n", range(12))
def test_clears_the_cache(n):
    LOOKUP.cache_clear()
"""


def _warmup_re_run_first_only(
    pytester: pytest.Pytester, run_pytest: RunPytest, source: str
) -> list[dict[str, Any]]:
    """The records of the twelve passing tests of ``source``: all warm-up, only the
    first a suspect (re-run); the rest were told without a re-run."""
    pytester.makepyfile(test_rebuilt=source)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=12)
    tests: list[dict[str, Any]] = report["tests"]
    assert {t["verdict"] for t in tests} == {"warmup"}
    assert [t["nodeid"] for t in tests if t["suspect"]] == [tests[0]["nodeid"]]
    return tests


def test_an_attribute_every_test_rebuilds_is_warmup_without_a_rerun(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Each test drops the cache the last one left and leaves a new one: after the
    first (a re-run), the screen sees the old one dropped and needs no re-run."""
    tests = _warmup_re_run_first_only(pytester, run_pytest, REBUILT_PER_TEST)
    assert {t["message"] for t in tests[1:]} == {REPLACED}


#: Notes which test each triage with objects to sort ran for (conftest of an inner run).
TRIAGE_SPY = """
from pytest_memguard.screen import triage as triage_module

CURRENT = ["-"]
_triage = triage_module.triage

def counting_triage(retained, young, book):
    if retained:  # a file, not a list: a growing module list would be a finding
        with open("triaged.txt", "a") as noted:
            noted.write(CURRENT[0] + "\\n")
    return _triage(retained, young, book)

triage_module.triage = counting_triage

def pytest_runtest_logstart(nodeid):
    CURRENT[0] = nodeid
"""


def test_what_replaces_the_last_test_s_leftovers_is_never_triaged(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The screen applies the replacement rule before its triage: a test whose every
    leftover replaces what the last one left makes no walk down the learned holders."""
    pytester.makepyfile(test_rebuilt=REBUILT_PER_TEST)
    pytester.makeconftest(TRIAGE_SPY)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=12)
    tests = report["tests"]
    assert {t["message"] for t in tests[1:]} == {REPLACED}
    triaged = set((pytester.path / "triaged.txt").read_text().split())
    assert triaged == {tests[0]["nodeid"]}


REBUILT_BESIDE_A_FULL_CACHE = REBUILT_PER_TEST.replace(
    "LOOKUP = Lookup()",
    """LOOKUP = Lookup()

_MAXCACHE = 64
_cache = {}  # trimmed at _MAXCACHE by this module: a bounded cache""",
).replace(
    "    LOOKUP.cache_clear()",
    """    LOOKUP.cache_clear()
    if len(_cache) >= _MAXCACHE:
        _cache.clear()
    _cache[n] = [[] for _ in range(600)]""",
)


def test_a_rebuilt_attribute_beside_many_cached_objects_is_warmup_without_a_rerun(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """A run leaving hundreds of objects is triaged before the replacement rule is
    asked (asked first, it would walk them all): the verdict is the same."""
    tests = _warmup_re_run_first_only(pytester, run_pytest, REBUILT_BESIDE_A_FULL_CACHE)
    assert all(REPLACED in t["message"] for t in tests[1:])
    assert all("held by a bounded cache" in t["message"] for t in tests[1:])


#: pytest.warns leaves its copy of the warning filters to the interpreter's warnings
#: state until the next warning.
WARNS_ONCE = """
import warnings

import pytest

def test_first():
    pass

def test_once():
    with pytest.warns(DeprecationWarning):
        warnings.warn("old", DeprecationWarning)

def test_after():
    pass
"""

#: The first copy of an older class's object stores its slot names on the class.
COPIES_ONCE = """
import copy

class Point:
    def __init__(self, x):
        self.x = x

def test_first():
    pass

def test_once():
    assert copy.copy(Point(1)).x == 1

def test_after():
    pass
"""


@pytest.mark.parametrize(
    ("source", "why"), [(WARNS_ONCE, KEPT_BY_WARNINGS), (COPIES_ONCE, SLOT_NAMES_CACHED)]
)
def test_what_the_interpreter_keeps_once_is_no_suspect(
    pytester: pytest.Pytester, run_pytest: RunPytest, source: str, why: str
) -> None:
    """State the interpreter keeps once (per warning, per class) is warm-up on the
    screened run: no re-run for it."""
    pytester.makepyfile(test_once=source)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    once = report["by_name"]["test_once"]
    assert not once["suspect"] and once["repetitions"] == []
    assert once["verdict"] == "warmup" and once["message"] == why


#: An object older than the run, as a unittest case's instance is (made at collection):
#: the attributes the run gives it are a young dict that a bounded cache keeps with it.
ATTRIBUTES_OF_A_CACHED_CASE = """
GRAMMAR = ["expr"]

_MAXCACHE = 16
_cache = []

def parse(case, text):
    if len(_cache) < _MAXCACHE:
        _cache.append((case, [text]))
    return [text]

def test_first():
    pass

class Context:
    pass

_WAITING = [Context()]  # older than the test, held by nothing else once taken

def test_once():
    context = _WAITING.pop()
    vars(context)["grammar"] = GRAMMAR  # its __dict__ made now, as unittest's setUp does
    assert parse(context, "x") == ["x"]

def test_after():
    pass
"""


def test_the_attributes_of_an_older_object_a_bounded_cache_keeps_are_warmup(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The bounded cache explains its entry; the entry refers to an older object, whose
    ``__dict__`` (made by the run since 3.11) goes with it without a pass over the
    heap (the rule for dicts made on first access needs one) and without a re-run."""
    pytester.makepyfile(test_once=ATTRIBUTES_OF_A_CACHED_CASE)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    once = report["by_name"]["test_once"]
    assert not once["suspect"] and once["verdict"] == "warmup"
    assert MADE_ON_ACCESS not in once["message"]
    if sys.version_info >= (3, 11):  # before, the instance makes its dict at once
        assert ATTRIBUTES_OF_OLDER in once["message"]


NESTED_PER_TEST = """
import pytest

class Settings:
    def __init__(self, parent=None):
        self.parent = parent

class Runner:
    settings = Settings()

@pytest.mark.parametrize("n", range(6))
def test_rebuilds_the_cache(n):
    Runner.cache = {"rows": [n]}  # replaced: warm-up

@pytest.mark.parametrize("n", range(4))
def test_nests_the_settings(n):
    Runner.settings = Settings(parent=Runner.settings)  # replaced, but keeps the old one
"""


def test_a_replacement_that_keeps_what_it_replaced_is_a_leak(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """A chain one level deeper per test (hypothesis' settings with a parent) drops
    nothing: it is confirmed as a leak, next to replacements recognised as warm-up."""
    pytester.makepyfile(test_nested=NESTED_PER_TEST)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=6, failed=1)
    assert report["result"].parseoutcomes()["leaked"] == 3
    tests = report["tests"]
    assert [t["verdict"] for t in tests[:6]] == ["warmup"] * 6
    assert {t["message"] for t in tests[1:6]} == {REPLACED}
    assert [t["verdict"] for t in tests[6:]] == ["leak"] * 4


A_REBUILT_CACHE_REFERS_TO_A_LEAK = """
import pytest

class Expression:
    def __init__(self):
        self.ignored = []

# An expression of the library's grammar: its list is no module-level container.
GRAMMAR = (Expression(),)

class Parser:
    cache = {}

def test_rebuilds_the_cache():
    Parser.cache = {("key", -1): Expression()}  # a new packrat cache: replaced, warm-up

@pytest.mark.parametrize("n", range(3))
def test_appends(n):
    Parser.cache = {}  # replaces the last test's cache, which it drops
    ignored = Expression()
    GRAMMAR[0].ignored.append(ignored)  # one more on every run: a leak
    Parser.cache[("key", n)] = ignored  # the new cache refers to it too
"""


def test_what_an_older_holder_keeps_beside_a_replacement_is_a_leak(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """pyparsing's test classes rebuild the packrat cache in ``setUp``; one test appends a
    new expression to a global expression's list, and the new cache refers to it too.
    The new cache replaces the one the last test left, but the expression is not part of
    that replacement: the list keeps it, one more per run. On 3.10 the rebuilt cache
    takes the dropped one's address: it is a replacement all the same."""
    pytester.makepyfile(test_rebuilt_cache=A_REBUILT_CACHE_REFERS_TO_A_LEAK)
    report = _records(pytester, run=run_pytest)
    rebuilds, *appends = report["tests"]
    assert rebuilds["verdict"] == "warmup"
    assert [t["verdict"] for t in appends] == ["leak"] * 3
    assert REPLACED not in {t["message"] for t in appends}


REBUILT_NEXT_TO_A_LEAK = """
import pytest

class Limiter:
    known = {1000}

class Runner:
    settings = None

@pytest.mark.parametrize("n", range(4))
def test_runs(n):
    Limiter.known = {1000}  # rebuilt by every run, as hypothesis' recursion limits
    Runner.settings = {"parent": Runner.settings}  # one link longer per run: a leak
"""


def test_what_the_re_runs_rebuilt_is_a_replacement_in_the_next_test(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The re-runs and the traced run of a confirmed leak each rebuild the set: the next
    test drops the last one's, so its only growth is the known root's, without a re-run."""
    pytester.makepyfile(test_rebuilt_leak=REBUILT_NEXT_TO_A_LEAK)
    report = _records(pytester, run=run_pytest)
    tests = report["tests"]
    assert [t["verdict"] for t in tests] == ["leak"] * 4
    assert [t["suspect"] for t in tests] == [True, False, False, False]
    assert all(t["same_root_as"] == tests[0]["nodeid"] for t in tests[1:])


REBOUND_ON_EVERY_RUN = """
import pytest

class Limiter:
    known = {1000}

class Finalized:
    def __del__(self):
        pass

class Registry:
    last = None

@pytest.mark.parametrize("n", range(3))
def test_rebinds_a_set(n):
    Limiter.known = {1000}  # a new set on every run, as hypothesis' recursion limits

def test_rebinds_a_finalized_object():
    Registry.last = Finalized()  # the plugin never holds what has a finalizer
"""


def test_what_a_re_run_rebinds_in_place_of_the_last_run_s_is_no_growth(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The first re-run's new set replaces the screened run's, which it dropped: the
    suspect is cleared by that one re-run. An object the plugin may not hold is
    compared run to run inside the re-runs' window: from the second re-run on."""
    pytester.makepyfile(test_rebound=REBOUND_ON_EVERY_RUN)
    report = _records(pytester, run=run_pytest)
    first, *later, finalized = report["tests"]
    assert (first["verdict"], len(first["repetitions"])) == ("warmup", 1)
    assert first["message"].endswith("(growth stopped on repetition 1)")
    assert [(t["verdict"], t["suspect"], t["message"]) for t in later] == [
        ("warmup", False, REPLACED)
    ] * 2
    assert (finalized["verdict"], len(finalized["repetitions"])) == ("warmup", 2)
    assert finalized["message"].endswith("(growth stopped on repetition 2)")


KEYED_PER_TEST = """
import pytest

# Source registered once per generated class, as attrs registers it in linecache.
SOURCES = {}

@pytest.mark.parametrize("n", range(12))
def test_generates_a_class(n):
    name = f"<generated {n}>"
    SOURCES[name] = (len(name), None, [f"class C{n}: pass"], name)
"""


def test_a_fast_tests_holder_is_looked_up_once_its_shape_cleared(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Fast tests are re-run rather than searched, but a shape of growth that cleared
    before is searched: its filled holder, once learned, explains the later tests. A
    new entry per test replaces nothing: the replacement rule must not take it."""
    pytester.makepyfile(test_keyed=KEYED_PER_TEST)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=12)
    tests = report["tests"]
    assert {t["verdict"] for t in tests} <= {"ok", "warmup"}
    suspects = [t["nodeid"] for t in tests if t["suspect"]]
    assert 1 <= len(suspects) <= 4, suspects
    assert tests[-1]["message"] == "held by a cache filled earlier in the session"


KEYED_NEW_SHAPES = """
import pytest

# Source registered once per generated class (as attrs registers it in linecache), each
# test's class a type of its own: no shape of growth repeats for a search to learn.
SOURCES = {}

@pytest.mark.parametrize("n", range(8))
def test_generates_a_class(n):
    cls = type(f"Generated{n}", (), {})
    SOURCES[cls.__name__] = (cls(), [f"class Generated{n}: pass"])
"""


def test_a_watched_container_whose_growth_cleared_is_learned_without_a_search(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The re-runs of a suspect that grew a watched container show it stop: that
    container is the holder, with no search. Once two suspects cleared in it, it grows
    once per key, and the tests after them are warm-up on their screened run."""
    pytester.makepyfile(test_keyed_shapes=KEYED_NEW_SHAPES)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=8)
    tests = report["tests"]
    assert [t["suspect"] for t in tests] == [True, True] + [False] * 6
    assert {t["message"] for t in tests[2:]} == {"held by a cache filled earlier in the session"}


CLOSURE_LRU = """
import functools

import pytest

def _tp_cache(func):
    # The way typing keeps an lru_cache per helper: in a closure, no module attribute.
    cached = functools.lru_cache(maxsize=64)(func)

    def inner(*args):
        return cached(*args)

    return inner

@_tp_cache
def parametrize(*args):
    return {"args": list(args)}

@pytest.mark.parametrize("n", range(8))
def test_parametrizes(n):
    parametrize(("alias", n), (n, object()))
"""


def test_growth_in_a_bounded_lru_cache_is_warmup_without_a_search_or_rerun(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """An lru_cache with a maxsize declares its bound wherever it is reached from: what it
    holds is warm-up on the screened run itself, however fast the tests are."""
    pytester.makepyfile(test_closure_lru=CLOSURE_LRU)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=8)
    tests = report["tests"]
    assert [t["suspect"] for t in tests] == [False] * 8
    assert {t["verdict"] for t in tests[1:]} == {"warmup"}
    assert {t["message"] for t in tests[1:]} == {"held by a bounded cache"}


LRU_AFTER_A_PASS = """
import functools

import pytest

FILLED_ONCE = []

@functools.lru_cache(maxsize=64)
def alias(key):
    return {"key": key, "args": [key]}

def test_fills_a_list_once():
    if not FILLED_ONCE:
        FILLED_ONCE.append({"filled": [1]})

@pytest.mark.parametrize("n", range(4))
def test_aliases(n):
    alias(("alias", n))
"""


def test_a_bounded_lru_cache_explains_a_quick_test_the_heap_rules_would_not_pay_for(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Once the heap rules' pass was measured (the first suspect), a quick suspect does
    not pay for another: re-running it costs less. The lru_cache wrappers are listed
    already, so what a bounded one holds is warm-up on the screened run all the same."""
    pytester.makepyfile(test_lru_after=LRU_AFTER_A_PASS)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=5)
    first, *aliases = report["tests"]
    assert first["suspect"] and first["verdict"] == "warmup"
    assert [t["suspect"] for t in aliases] == [False] * 4
    assert {t["message"] for t in aliases} == {"held by a bounded cache"}


ANNOTATED = """
import inspect
import time

import pytest

PAUSE = {pause}

class Context: ...

def one(ctx: Context) -> str: ...
def two(ctx: Context, count: int = 1) -> None: ...
def three(*contexts: Context) -> list: ...

@pytest.mark.parametrize("command", [one, two, three])
def test_reads_a_signature(command):
    time.sleep(PAUSE)
    assert inspect.signature(command).parameters
"""


#: A test this slow pays for the heap rules' pass over a pytester run's heap (a few
#: ms) many times over: re-running it twice would cost more.
SLOWER_THAN_A_PASS = 0.05


def test_a_dict_made_on_first_access_to_an_older_function_is_warmup(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Reading ``__annotations__`` makes a function's dict once: no suspect."""
    pytester.makepyfile(test_annotated=ANNOTATED.format(pause=SLOWER_THAN_A_PASS))
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    tests = report["tests"]
    assert [t["suspect"] for t in tests] == [False] * 3
    assert {t["message"] for t in tests[1:]} == {MADE_ON_ACCESS}


#: A pass over this heap costs tens of times a quick test: a loaded machine slowing
#: the test cannot make the pass look worth it.
BALLAST = "\nBALLAST = [[] for _ in range(200_000)]\n"

#: The commands where no walk from the test's module or function goes: a class's
#: namespace, looked up by index.
ANNOTATED_IN_A_CLASS = """
import inspect

import pytest

class Context: ...

def _commands():
    def one(ctx: Context) -> str: ...
    def two(ctx: Context, count: int = 1) -> None: ...
    def three(*contexts: Context) -> list: ...
    return [one, two, three]

class Commands:
    ALL = _commands()

@pytest.mark.parametrize("index", range(3))
def test_reads_a_signature(index):
    assert inspect.signature(Commands.ALL[index]).parameters
"""


#: The same commands one class further down, in a class the module's class defines.
ANNOTATED_IN_A_NESTED_CLASS = ANNOTATED_IN_A_CLASS.replace(
    "class Commands:\n    ALL = _commands()",
    "class Registry:\n    class Commands:\n        ALL = _commands()",
).replace("Commands.ALL[index]", "Registry.Commands.ALL[index]")

#: The same commands in a class only a module-level dict holds: out of reach of the walk
#: near the test, which enters no class.
ANNOTATED_IN_A_HELD_CLASS = ANNOTATED_IN_A_CLASS.replace(
    "class Commands:\n    ALL = _commands()",
    "def _registry():\n    class Commands:\n        ALL = _commands()\n"
    "    return {'commands': Commands}\n\nREGISTRY = _registry()",
).replace("Commands.ALL[index]", "REGISTRY['commands'].ALL[index]")


@pytest.mark.parametrize(
    "source", [ANNOTATED_IN_A_CLASS, ANNOTATED_IN_A_NESTED_CLASS], ids=["class", "nested"]
)
def test_a_dict_made_on_first_access_to_what_a_class_declares_needs_no_re_run(
    pytester: pytest.Pytester, run_pytest: RunPytest, source: str
) -> None:
    """What a class of the test's module, or a class its body defines (a test class's
    schema), keeps in its own namespace (the objects a declarative library copies for
    each instance) is within the walk near the test."""
    pytester.makepyfile(test_annotated=source + BALLAST)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    tests = report["tests"]
    assert [(t["verdict"], t["suspect"]) for t in tests] == [("warmup", False)] * 3
    assert {t["message"] for t in tests[1:]} == {MADE_ON_ACCESS}


def test_a_quick_test_is_re_run_rather_than_looked_up_on_the_heap(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Once a pass over the heap is timed, a test quicker than that pass is confirmed
    by its re-runs: the same verdict, for less than the pass would cost."""
    assert ANNOTATED_IN_A_HELD_CLASS.count("REGISTRY") == 2
    pytester.makepyfile(test_annotated=ANNOTATED_IN_A_HELD_CLASS + BALLAST)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    tests = report["tests"]
    assert [t["verdict"] for t in tests] == ["warmup"] * 3
    assert [(t["suspect"], bool(t["repetitions"])) for t in tests[1:]] == [(True, True)] * 2


def test_a_dict_made_on_first_access_near_the_test_needs_no_pass_nor_re_run(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The commands a quick test reads the signatures of are its module's: a short walk
    down from that module finds the functions whose ``__annotations__`` the test made,
    where a pass over the heap would cost more than a re-run."""
    pytester.makepyfile(test_annotated=ANNOTATED.format(pause=0) + BALLAST)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    tests = report["tests"]
    assert [(t["verdict"], t["suspect"]) for t in tests] == [("warmup", False)] * 3
    assert {t["message"] for t in tests[1:]} == {MADE_ON_ACCESS}


#: Class-based tests whose decorator keeps a function of its own on the test function,
#: as hypothesis' ``@given`` keeps its strategies; each test reads that function's
#: signature, which makes its ``__annotations__`` on first access.
DECORATED_METHODS = """
import inspect

def given(kind):
    def decorate(test):
        def draw(value: kind) -> kind:
            return value

        def wrapper(self):
            return test(self, draw)

        wrapper.draw = draw
        return wrapper
    return decorate

class Number: ...
class Text: ...

class TestDraws:
    @given(Number)
    def test_draws_a_number(self, draw):
        assert inspect.signature(draw).parameters

    @given(Text)
    def test_draws_a_text(self, draw):
        assert inspect.signature(draw).parameters
"""


def test_a_dict_made_on_first_access_to_what_a_test_method_keeps_needs_no_re_run(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The walk near the test starts from its function too: a method, out of reach of
    a walk that enters no class, keeps on its decorator what the test first touches."""
    pytester.makepyfile(test_decorated=DECORATED_METHODS + BALLAST)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=2)
    tests = report["tests"]
    assert [(t["suspect"], t["message"]) for t in tests] == [(False, MADE_ON_ACCESS)] * 2


LAZY_ATTRIBUTES = """
import time

import pytest

class Built:
    def __init__(self, n):
        self.n = n

class LazyStrategy:
    '''Builds what it wraps on first use, as hypothesis' strategies do.'''
    def __init__(self, n):
        self.n = n
        self.__wrapped = None

    @property
    def wrapped(self):
        if self.__wrapped is None:
            self.__wrapped = Built(self.n)
        return self.__wrapped

class Emitter:
    def __init__(self):
        self._listeners = None

    @property
    def listeners(self):
        if self._listeners is None:
            self._listeners = []
        return self._listeners

STRATEGIES = [LazyStrategy(n) for n in range(3)]
EMITTER = Emitter()

@pytest.mark.parametrize("index", range(3))
def test_draws_from_its_own_strategy(index):
    time.sleep({pause})
    assert STRATEGIES[index].wrapped.n == index

def test_subscribes_a_listener():
    EMITTER.listeners.append(Built(0))
"""


def test_a_value_an_older_object_computes_on_first_access_is_warmup(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Each test's lazy strategy is built once: warm-up with no re-run. A listener list
    made lazily collects: its test still leaks."""
    pytester.makepyfile(test_lazy=LAZY_ATTRIBUTES.format(pause=SLOWER_THAN_A_PASS))
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=3, failed=1)
    drawn = [t for t in report["tests"] if "draws_from" in t["nodeid"]]
    assert [(t["verdict"], t["suspect"], t["repetitions"]) for t in drawn] == [
        ("warmup", False, [])
    ] * 3
    # Where the instance's __dict__ was made by the first value stored (3.10), that
    # dict is warm-up too, said first.
    assert all(t["message"].endswith(CACHED_ON_ACCESS) for t in drawn)
    listener = report["by_name"]["test_subscribes_a_listener"]
    assert listener["verdict"] == "leak"
    assert "EMITTER._listeners" in json.dumps(listener["findings"])


ONE_ROOT = """
import pytest

_LISTENERS = []

def subscribe(callback):
    _LISTENERS.append(callback)

@pytest.mark.parametrize("n", range(6))
def test_subscribes(n):
    subscribe({"handler": n, "payload": list(range(50))})
"""


def test_one_root_is_explained_once_and_counted_per_test(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    pytester.makepyfile(test_root=ONE_ROOT)
    report = _records(pytester, run=run_pytest)
    # The first is listed under FAILURES; the others fail the run as "leaked".
    report["result"].assert_outcomes(failed=1)
    assert report["result"].parseoutcomes()["leaked"] == 5
    assert report["result"].ret == pytest.ExitCode.TESTS_FAILED
    tests = list(report["tests"])
    assert [t["verdict"] for t in tests] == ["leak"] * 6
    first, *later = tests
    assert first["same_root_as"] == "" and first["root"]
    assert all(t["same_root_as"] == first["nodeid"] for t in later)
    assert all(t["root"] == first["root"] for t in later)
    # Later tests are judged on their screened run: no re-run, no explanation.
    assert all(t["repetitions"] == [] and t["explain_seconds"] == 0 for t in later)
    assert report["session"]["roots"][0]["tests"] == 6
    report["result"].stdout.fnmatch_lines(
        [
            "leak roots (1):",
            "*6 tests  growing-container: *",
            "*first explained in test_root.py::test_subscribes[[]0[]]",
            "*leaked again in test_root.py::test_subscribes[[]1[]], "
            "test_root.py::test_subscribes[[]2[]], test_root.py::test_subscribes[[]3[]] "
            "and 2 more",
        ]
    )
    assert report["result"].stdout.str().count("same root as") == 0  # not a copy per test


ONE_ROOT_WITH_UNTRACKED_ENTRIES = """
import itertools

import pytest

# An importer cached per archive path, and the archive's size in a second cache: the
# young heap shows the importer, only the container watch shows the size.
_IMPORTERS = {}
_SIZES = {}
_ARCHIVES = itertools.count()

class Importer:
    pass

@pytest.mark.parametrize("n", range(4))
def test_opens_an_archive(n):
    path = f"/tmp/archive-{next(_ARCHIVES)}.zip"
    _IMPORTERS[path] = Importer()
    _SIZES[path] = len(path)
"""


def test_a_root_s_untracked_entries_are_that_root_s_in_later_tests(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The container that grew by entries the heap does not show is learned with the
    root: the later tests grow the root, recognised without a re-run."""
    pytester.makepyfile(test_archives=ONE_ROOT_WITH_UNTRACKED_ENTRIES)
    tests = _records(pytester, run=run_pytest)["tests"]
    assert [t["verdict"] for t in tests] == ["leak"] * 4
    first, *later = tests
    assert "_SIZES grew by 1 entry" in json.dumps(first["findings"])
    assert all(t["same_root_as"] == first["nodeid"] for t in later)
    assert [(t["suspect"], t["repetitions"]) for t in later] == [(False, [])] * 3


ONE_ROOT_AND_WARM_UP = """
import pytest

_LISTENERS = []
_TABLES = {}

def subscribe(callback):
    _LISTENERS.append(callback)

def table(name):
    if name not in _TABLES:  # filled once per name: warm-up
        _TABLES[name] = [{"row": row} for row in range(20)]
    return _TABLES[name]

def test_subscribes():
    subscribe({"payload": list(range(50))})

def test_subscribes_and_reads_a_table():
    subscribe({"payload": list(range(50))})
    table("rates")
"""


def test_re_runs_stop_once_only_a_known_root_grows(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The second test fills a table once beside the known root: one re-run shows only
    the root growing, and that ends its confirmation."""
    pytester.makepyfile(test_root_and_warm_up=ONE_ROOT_AND_WARM_UP)
    first, second = _records(pytester, run=run_pytest)["tests"]
    assert (first["verdict"], second["verdict"]) == ("leak", "leak")
    assert second["same_root_as"] == first["nodeid"]
    assert (second["suspect"], len(second["repetitions"])) == (True, 1)


A_LIST_IN_A_FILLED_HOLDER = """
import time

import pytest

REGISTRY = {"items": [], "config": None}


def test_configures():
    time.sleep(0.06)  # slower than a search: its holder is looked up, then learned
    if REGISTRY["config"] is None:
        REGISTRY["config"] = {"level": [1, 2, 3]}  # filled once: warm-up


@pytest.mark.parametrize("n", range(3))
def test_appends(n):
    REGISTRY["items"].append({"n": [n]})  # one entry more on every run: a leak
"""


def test_what_a_list_in_a_filled_holder_gains_is_growth(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The first test fills ``REGISTRY`` once, and the session learns it as a filled
    holder: an entry replaced in it later is warm-up. A list among its entries that
    gains an entry on every run is not: the later tests leak."""
    pytester.makepyfile(test_registry=A_LIST_IN_A_FILLED_HOLDER)
    _assert_filled_then_leaks(pytester, run_pytest, "REGISTRY")


def _assert_filled_then_leaks(
    pytester: pytest.Pytester, run_pytest: RunPytest, holder: str
) -> None:
    """The first test fills a holder the session learns after re-running it (warm-up);
    the three after it leak, their first explanation naming ``holder``."""
    first, *later = _records(pytester, run=run_pytest)["tests"]
    assert first["verdict"] == "warmup" and first["repetitions"]
    assert [t["verdict"] for t in later] == ["leak"] * 3
    assert holder in json.dumps(later[0]["findings"])


A_FILLED_CACHE_AND_A_GROWING_LIST = """
import time

import pytest


class Event:
    pass


CACHE = {"latest": None}
EVENTS = []


def test_fills():
    time.sleep(0.06)  # slower than a search: its holder is looked up, then learned
    CACHE["latest"] = Event()  # replaced in place on every run: warm-up


@pytest.mark.parametrize("n", range(3))
def test_records(n):
    event = Event()
    CACHE["latest"] = event  # the cache learned as filled holds it too
    EVENTS.append(event)  # one entry more on every run: a leak
"""


def test_a_list_that_grows_with_what_a_filled_cache_holds_is_growth(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The session learns ``CACHE`` as filled; each later test puts its new event there
    and appends it to ``EVENTS`` as well. The cache explains the event, but not the
    list that grew: only imports explain what a container the book does not know gained."""
    pytester.makepyfile(test_events=A_FILLED_CACHE_AND_A_GROWING_LIST)
    _assert_filled_then_leaks(pytester, run_pytest, "EVENTS")


A_CALLABLE_OBJECT_S_LIST = """
import pytest


class Expression:
    # Callable, as a parser expression: its lists are state like any instance's.

    def __init__(self):
        self.names = []

    def __call__(self, name):
        return self


COMMENT = Expression()


@pytest.mark.parametrize("n", range(3))
def test_names(n):
    COMMENT.names.append("name-%d" % n)  # strings are untracked: only the watch sees them
"""


def test_a_callable_module_level_object_s_lists_are_watched(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """pyparsing's expressions are callable: the lists they hold are watched as any
    module-level object's, and one that gains an entry on every run is a leak."""
    pytester.makepyfile(test_names=A_CALLABLE_OBJECT_S_LIST)
    tests = _records(pytester, run=run_pytest)["tests"]
    assert [t["verdict"] for t in tests] == ["leak"] * 3
    assert "COMMENT.names" in json.dumps(tests[0]["findings"])


GROWING_EVERY_RUN = """
import time

_SEEN = []

def test_grows_on_every_run():
    time.sleep({seconds})
    _SEEN.append({{"run": len(_SEEN)}})
"""


#: Counts the guard's searches for holders (each a pass over the heap) in an inner run.
COUNTING_SEARCHES = counting_conftest(
    "pytest_memguard.guard.find_holders", "1", 'f"holder searches: {len(CALLS)}"'
)


def test_a_suspect_past_the_budget_is_unconfirmed_and_passes(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """One repetition of 1.2 s would fit the 2 s a session always has, but not the two
    a confirmation needs at least: none starts, and no search for its holders either
    (it would spend the budget of the suspects after it, and spare nothing)."""
    pytester.makepyfile(test_slow=GROWING_EVERY_RUN.format(seconds=1.2))
    pytester.makeconftest(COUNTING_SEARCHES)
    report = _records(pytester, "--memguard-confirm-budget=0%", run=run_pytest)
    report["result"].assert_outcomes(passed=1)
    record = report["by_name"]["test_grows_on_every_run"]
    assert record["verdict"] == "unconfirmed"
    assert record["suspect"] and record["repetitions"] == []
    report["result"].stdout.fnmatch_lines(["holder searches: 0"])
    assert "confirmation budget" in record["message"]
    assert report["session"]["unconfirmed"] == 1


#: Counts the guard's walks for the tops of what a run left (each O(what it left)).
COUNTING_TOP_WALKS = counting_conftest(
    "pytest_memguard.guard.find_tops", "len(args[0])", 'f"top walks: {CALLS}"'
)


def test_a_suspects_leftovers_are_walked_for_their_tops_once(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The rules without a search and the confirmation after them start from the same
    leftovers when those rules explain none: one walk for their tops serves both (a
    table of every code point a test keeps costs 25 ms a walk)."""
    pytester.makepyfile(
        test_table="""
_TABLES = []

def test_keeps_a_table():
    _TABLES.append([chr(point) for point in range(50_000)])
"""
    )
    pytester.makeconftest(COUNTING_TOP_WALKS)
    report = _records(pytester, run=run_pytest)
    assert report["by_name"]["test_keeps_a_table"]["verdict"] == "leak"
    report["result"].stdout.fnmatch_lines(["top walks: [[]1[]]"])  # the table alone


#: The settings nested by every test, each too slow for its re-runs to fit the budget.
NESTED_SLOWLY = (
    NESTED_PER_TEST.replace("import pytest", "import time\n\nimport pytest")
    + """
@pytest.mark.parametrize("case", range(3))
def test_nests_slowly(case):
    time.sleep(0.55)
    Runner.settings = Settings(parent=Runner.settings)
"""
)


def test_a_chain_three_tests_grew_is_confirmed_across_them_without_reruns(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """Settings nested one level deeper by every test (hypothesis' settings of a
    parametrised test): tests too slow to re-run within the budget stay unconfirmed
    until the third, whose new link refers to the two earlier tests' links, all alive.
    That is the growth on every run a re-run would show: a leak, with its chain."""
    pytester.makepyfile(test_nested=NESTED_SLOWLY)
    report = _records(pytester, "--memguard-confirm-budget=0%", "-k", "slowly", run=run_pytest)
    report["result"].assert_outcomes(passed=2, failed=1, deselected=10)
    first, second, third = report["tests"]
    assert (first["verdict"], second["verdict"]) == ("unconfirmed", "unconfirmed")
    assert third["verdict"] == "leak" and third["repetitions"] == []
    assert first["nodeid"] in third["message"] and second["nodeid"] in third["message"]
    report["result"].stdout.fnmatch_lines(["*held by: test_nested.Runner.settings"])


def test_a_leak_whose_repetitions_pass_the_budget_is_still_confirmed(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The budget decides whether re-runs start: two repetitions of 0.4 of the seconds a
    session always has fit them, and the third, past them, still runs: stopping after
    two would waste them."""
    pytester.makepyfile(test_growing=GROWING_EVERY_RUN.format(seconds=0.4 * ALLOWANCE_SECONDS))
    report = _records(pytester, "--memguard-confirm-budget=0%", run=run_pytest)
    report["result"].assert_outcomes(failed=1)
    record = report["by_name"]["test_grows_on_every_run"]
    assert record["verdict"] == "leak"
    assert len(record["repetitions"]) == 3
    assert "test_growing._SEEN" in record["findings"][0]["chain_text"]


def test_a_format_compiled_into_a_c_modules_cache_is_warm_up_without_a_search(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """``struct`` compiles each new format into a cache of its C state (cleared at 100):
    known bounded from the scan, so no case unpacking a new format is a suspect (arrow's
    time zone cases read each zone's data that way), however short the budget."""
    pytester.makepyfile(
        test_formats="""
import struct

import pytest

struct.unpack(">B", b"\\0")  # its cache exists before the first test


@pytest.mark.parametrize("count", range(3, 9))
def test_unpacks_a_new_format(count):
    assert struct.unpack(f">{count}B", bytes(count)) == (0,) * count
"""
    )
    report = _records(pytester, "--memguard-confirm-budget=0%", run=run_pytest)
    report["result"].assert_outcomes(passed=6)
    assert {(t["verdict"], t["suspect"]) for t in report["tests"]} <= {
        ("ok", False),
        ("warmup", False),
    }


def test_what_a_unittest_case_drops_at_teardown_is_no_suspect(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """pytest 9 makes a case's instance as it collects and drops it at teardown; a
    ``setUp`` binding a partial of its own method leaves a cycle through that older
    instance, which the young collection cannot free. What hangs from it is pytest's
    to drop: not a suspect, and its instance never learned as a holder."""
    pytester.makepyfile(
        test_cases="""
import functools
import unittest


class Pickles(unittest.TestCase):
    def setUp(self):
        self.check = functools.partial(self.check, twice=True)

    def check(self, value, twice=False):
        assert value == value

    def test_one(self):
        self.check(1)

    def test_two(self):
        self.check(2)

    def test_three(self):
        self.check(3)
"""
    )
    report = _records(pytester, "--memguard-confirm-budget=0%", run=run_pytest)
    report["result"].assert_outcomes(passed=3)
    assert {(t["verdict"], t["suspect"]) for t in report["tests"]} == {("ok", False)}


def test_a_leak_whose_repetition_fails_is_unconfirmed_not_warmup(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """A ``unittest.TestCase`` gets a new instance for each run, and a test that refuses
    a second instance (hypothesis' ``@given`` methods do) fails its re-run: no
    evidence either way. Its leak is unconfirmed, never cleared as warm-up, and its
    holder is not learned as a cache: the next test growing it is a suspect again."""
    pytester.makepyfile(
        test_instances="""
import unittest

LEAK = []
FIRST = []


class Given(unittest.TestCase):
    def test_a_refuses_another_instance(self):
        FIRST[:] = FIRST or [self]
        assert FIRST[0] is self, "called from another instance"
        LEAK.append(bytearray(10_000))

    def test_b_grows_the_same_list(self):
        LEAK.append(bytearray(10_000))
"""
    )
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=1, failed=1)
    refused = report["by_name"]["test_a_refuses_another_instance"]
    assert refused["verdict"] == "unconfirmed"
    assert refused["message"].startswith("suspect not confirmed: repetition 1 failed in call")
    assert report["by_name"]["test_b_grows_the_same_list"]["verdict"] == "leak"
    assert report["session"]["rerun_failed"] == 1
    report["result"].stdout.fnmatch_lines(["*1 unconfirmed (1 whose re-runs failed where*"])


@pytest.mark.parametrize("quiet", [(), ("-q",)], ids=["header", "quiet"])
def test_a_large_suite_confirms_within_a_smaller_allowance(
    pytester: pytest.Pytester, run_pytest: RunPytest, quiet: tuple[str, ...]
) -> None:
    """The same leak in a suite twice the size of a small one: a quarter of the
    allowance, where its two repetitions no longer fit. It is unconfirmed, and passes.
    The header (not shown with ``-q``) builds the guard before collection, the first
    test after it."""
    pytester.makepyfile(
        test_growing=GROWING_EVERY_RUN.format(seconds=0.4 * ALLOWANCE_SECONDS),
        test_others=f"""
import pytest

@pytest.mark.parametrize("n", range({2 * SMALL_SUITE_TESTS - 1}))
def test_quick(n):
    pass
""",
    )
    report = _records(pytester, "--memguard-confirm-budget=0%", *quiet, run=run_pytest)
    report["result"].assert_outcomes(passed=2 * SMALL_SUITE_TESTS)
    record = report["by_name"]["test_grows_on_every_run"]
    assert record["verdict"] == "unconfirmed" and record["repetitions"] == []


PYTEST_HOLDERS = """
import pytest

@pytest.fixture(scope="session")
def big_index():
    return [[n] for n in range(200_000)]

def test_uses_the_big_session_fixture(big_index):
    assert len(big_index) == 200_000

class TestKeepsStateOnSelf:
    def test_sets_an_attribute(self):
        self.rows = [{"row": n} for n in range(20)]
"""


def test_what_pytest_and_wider_fixtures_keep_is_not_the_tests(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    pytester.makepyfile(test_holders=PYTEST_HOLDERS)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=2)
    tests = report["by_name"]
    assert tests["test_sets_an_attribute"]["verdict"] == "ok"
    big = tests["test_uses_the_big_session_fixture"]
    assert big["verdict"] in ("ok", "warmup")
    # The fixture's 200,000 lists became old heap as it returned: the window never
    # walked them (what it attributes to pytest is counted in pytest_held).
    assert big["delta"]["pytest_held"] < 1_000
    assert big["delta"]["retained_objects"] < 1_000


def test_a_bad_confirm_budget_is_a_usage_error(run_configure_only: RunPytest) -> None:
    """In process: the value is refused while pytest parses the command line."""
    result = run_configure_only("--memguard", "--memguard-confirm-budget=5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--memguard-confirm-budget" in result.stderr.str()


LOADED_MODULES_CONFTEST = """
import sys

def pytest_sessionfinish(session):
    loaded = sorted(name for name in sys.modules if name.startswith("pytest_memguard."))
    with open("loaded.txt", "w") as out:
        out.write("\\n".join(loaded))
"""

#: What only explaining a confirmed leak needs: a session without one never loads it.
EXPLANATION_MODULES = (
    "pytest_memguard.explain.chains",
    "pytest_memguard.explain.classify",
    "pytest_memguard.explain.explainer",
    "pytest_memguard.explain.naming",
    "pytest_memguard.history.known",
)


@pytest.mark.parametrize(
    ("body", "loaded"),
    [
        ("def test_clean():\n    assert sum(range(10)) == 45\n", False),
        ("CACHE = []\n\ndef test_leaks():\n    CACHE.append([object()] * 10)\n", True),
    ],
    ids=["clean", "leaking"],
)
def test_only_a_session_with_a_leak_loads_the_explanation(
    pytester: pytest.Pytester, run_pytest: RunPytest, body: str, loaded: bool
) -> None:
    """A clean session pays for the screen, never for importing the explain stage."""
    pytester.makeconftest(LOADED_MODULES_CONFTEST)
    pytester.makepyfile(test_one=body)
    run_pytest("--memguard")
    modules = set((pytester.path / "loaded.txt").read_text().split())
    assert "pytest_memguard.screen.window" in modules
    expected = dict.fromkeys(EXPLANATION_MODULES, loaded)
    assert {name: name in modules for name in EXPLANATION_MODULES} == expected


LAZY_GLOBAL = """
_registry = None

def registry():
    global _registry
    if _registry is None:
        _registry = {"handlers": [object()]}
    return _registry

def test_makes_the_registry():
    assert registry()["handlers"]

def test_uses_it():
    assert registry()["handlers"]
"""


def test_a_module_global_set_on_first_use_is_warmup_without_a_re_run(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """A lazily made singleton is made once, by whichever test first needs it."""
    pytester.makepyfile(test_lazy_global=LAZY_GLOBAL)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=2)
    first = report["by_name"]["test_makes_the_registry"]
    assert (first["verdict"], first["suspect"], first["repetitions"]) == ("warmup", False, [])
    assert first["message"] == SET_ON_FIRST_USE
    assert report["by_name"]["test_uses_it"]["verdict"] == "ok"


#: A function cache every parameter adds one entry to (whether a locale exists): growth
#: only a re-run tells from a leak, and a suite repeats it for every parameter.
PER_PARAMETER = """
import functools
import uuid

import pytest

@functools.cache
def exists(name):
    return name.startswith("loc")

@pytest.mark.parametrize("name", [f"loc{n}" for n in range(8)])
def test_exists(name):
    assert exists(name)

@pytest.mark.parametrize("name", [f"tmp{n}" for n in range(5)])
def test_cleans_up(name):
    assert not exists(f"{name}-{uuid.uuid4()}")
"""


def test_siblings_filling_a_cache_per_parameter_are_warmup_once_two_re_runs_cleared(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """The first two tests of the function are re-run, the rest vouched for by them;
    a function of the same module adding a new name on every run leaks, in every test,
    vouched for by nothing."""
    pytester.makepyfile(test_params=PER_PARAMETER)
    report = _records(pytester, run=run_pytest)
    report["result"].assert_outcomes(passed=8, failed=1)
    assert report["result"].parseoutcomes()["leaked"] == 4
    filling = [record for record in report["tests"] if "test_exists" in record["nodeid"]]
    assert {record["verdict"] for record in filling} == {"warmup"}
    assert [bool(record["repetitions"]) for record in filling] == [True] * 2 + [False] * 6
    # Vouched for, they are no suspects: the summary counts them apart.
    assert [(record["suspect"], record["vouched"]) for record in filling] == [(True, False)] * 2 + [
        (False, True)
    ] * 6
    assert report["session"]["vouched"] == 6
    assert "; 6 more (46.2%) vouched for as warm-up by the re-runs of their parametrized" in str(
        report["result"].stdout
    )
    first = filling[0]["nodeid"]
    assert all(
        f"stopped on the re-runs of 2 other tests of this function, such as {first}"
        in record["message"]
        for record in filling[2:]
    )
    leaking = [record for record in report["tests"] if "test_cleans_up" in record["nodeid"]]
    assert {record["verdict"] for record in leaking} == {"leak"}
    assert all("same root as" in record["message"] for record in leaking[1:])
