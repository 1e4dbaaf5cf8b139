"""Leak verdicts end to end: real leak shapes fail as LEAK, warm-up patterns pass.

Every scenario runs in a child pytest (``run_pytest``) under ``--memguard``: the plugin
freezes the GC and re-runs suspects, which must not happen inside this interpreter.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap

import pytest

# --- leaks ---------------------------------------------------------------------------

LEAK_PATTERNS = {
    "objects-appended-to-module-global": """
        ITEMS = []

        def test_pattern():
            ITEMS.append({"request": [1, 2, 3]})
    """,
    "class-attribute-dict-growing": """
        class Registry:
            table = {}

        def test_pattern():
            Registry.table[len(Registry.table)] = [object()]
    """,
    "instance-added-to-module-set": """
        class Session:
            pass

        SEEN = set()

        def test_pattern():
            SEEN.add(Session())
    """,
    "strings-appended-to-module-list": """
        NAMES = []

        def test_pattern():
            NAMES.append("user-name-%d" % len(NAMES))
    """,
    "objects-put-in-a-module-level-queue": """
        import queue

        JOBS = queue.Queue()  # maxsize=0: no bound

        def test_pattern():
            JOBS.put({"job": [1, 2, 3]})
    """,
    "module-object-registered-per-call": """
        import itertools
        import sys
        import types

        COUNTER = itertools.count()

        def load_plugin():
            name = "generated_plugin_%d" % next(COUNTER)
            module = types.ModuleType(name)
            module.handlers = [{"handler": n} for n in range(10)]
            sys.modules[name] = module
            return module

        def test_pattern():
            assert load_plugin().handlers
    """,
    "weak-references-appended-to-module-list": """
        import weakref

        class Receiver:
            def on_event(self):
                pass

        RECEIVER = Receiver()
        LISTENERS = []

        def connect(receiver):
            LISTENERS.append(weakref.ref(receiver))  # a new one on every call

        def test_pattern():
            connect(RECEIVER)
    """,
    "weak-values-to-a-shared-object-under-new-keys": """
        import itertools
        import weakref

        class Application:
            pass

        APP = Application()
        BY_REQUEST = weakref.WeakValueDictionary()
        REQUESTS = itertools.count()

        def handle():
            BY_REQUEST[next(REQUESTS)] = APP  # an entry per request, alive with APP

        def test_pattern():
            handle()
    """,
    "finalizer-registered-per-call-on-a-long-lived-object": """
        import weakref

        class Pool:
            pass

        POOL = Pool()

        def release(name):
            pass

        def connect(name):
            weakref.finalize(POOL, release, name)  # one more per call, alive with POOL

        def test_pattern():
            connect("db")
    """,
    "context-variable-made-per-call": """
        import contextvars

        def handle_request(user):
            current = contextvars.ContextVar("current_user")  # the docs warn: module level
            current.set({"user": user})

        def test_pattern():
            handle_request("alice")
    """,
    "defaultdict-entry-read-per-user-id": """
        import collections
        import itertools

        SEEN = collections.defaultdict(list)
        USERS = itertools.count()

        def visited(user_id):
            return "home" in SEEN[user_id]  # reading makes an entry per user

        def test_pattern():
            assert not visited(next(USERS))
    """,
    "class-made-per-call-registered-by-its-name": """
        import itertools

        MODELS = {}
        NUMBERS = itertools.count()

        def model_for(table):
            model = type("Model_%d" % table, (), {"table": table})
            MODELS[model.__name__] = model
            return model

        def test_pattern():
            assert model_for(next(NUMBERS)).table >= 0
    """,
    "bytes-appended-to-a-module-level-buffer": """
        BUFFER = bytearray()

        def log(message):
            BUFFER.extend(message.encode() + b"\\n")  # never flushed

        def test_pattern():
            log("request handled")
    """,
    "lines-written-to-a-module-level-string-stream": """
        import io

        SINK = io.StringIO()

        def log(message):
            SINK.write(message + "\\n")  # a log sink nobody truncates

        def test_pattern():
            log("request handled")
    """,
    "numbers-appended-to-a-module-level-array": """
        import array

        SAMPLES = array.array("d")

        def test_pattern():
            SAMPLES.append(1.5)
    """,
    "strings-kept-in-a-mutable-default-argument": """
        import itertools

        REQUESTS = itertools.count()

        def remember(key, _seen={}):
            _seen[key] = "seen"

        def test_pattern():
            remember("request-%d" % next(REQUESTS))
    """,
    "strings-in-a-list-in-a-class-attribute-dict": """
        import itertools

        USERS = itertools.count()

        class Registry:
            data = {"users": []}

        def add_user():
            Registry.data["users"].append("user-%d" % next(USERS))

        def test_pattern():
            add_user()
    """,
    "strings-in-a-set-in-a-module-level-objects-dict": """
        import uuid

        class Store:
            def __init__(self):
                self.tables = {"sessions": set(), "users": set()}

            def open_session(self):
                self.tables["sessions"].add(uuid.uuid4().hex)  # never closed

        STORE = Store()

        def test_pattern():
            STORE.open_session()
    """,
    "names-appended-to-a-slotted-module-level-object": """
        import itertools

        JOBS = itertools.count()

        class Scheduler:
            __slots__ = ("queued", "limit")

            def __init__(self):
                self.queued = []
                self.limit = 10

        SCHEDULER = Scheduler()

        def test_pattern():
            SCHEDULER.queued.append("job-%d" % next(JOBS))  # never dequeued
    """,
    "unbounded-functools-cache-of-strings": """
        import functools
        import itertools

        COUNTER = itertools.count()

        @functools.cache
        def greeting(number):
            return "hello visitor number %d" % number

        def test_pattern():
            greeting(next(COUNTER) * 1000)
    """,
}


def _module_name(pattern: str) -> str:
    """``test_leak0`` for the first pattern...: short, so the summary lines are not cut."""
    return f"test_leak{list(LEAK_PATTERNS).index(pattern)}"


def test_each_leak_pattern_fails_as_leak(pytester, run_pytest):
    """One run, one module per pattern: each module's own container grows, each test is
    a confirmed leak of its own (its own root: none is "same root as" another)."""
    pytester.makepyfile(
        **{
            _module_name(pattern): textwrap.dedent(source)
            for pattern, source in LEAK_PATTERNS.items()
        }
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(failed=len(LEAK_PATTERNS))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    headers = [i for i, line in enumerate(result.outlines) if "_ test_pattern _" in line]
    assert len(headers) == len(LEAK_PATTERNS), result.outlines
    for start, end in zip(headers, [*headers[1:], len(result.outlines)], strict=True):
        section = result.outlines[start:end]
        assert any(line.startswith("memguard: leak: confirmed: ") for line in section), section
    result.stdout.fnmatch_lines(
        ["*= memguard =*", f"*{len(LEAK_PATTERNS)} guarded tests: {len(LEAK_PATTERNS)} leak"]
    )
    for pattern in LEAK_PATTERNS:
        result.stdout.fnmatch_lines(
            [f"LEAK {_module_name(pattern)}.py::test_pattern - memguard: leak: confirmed*"]
        )
    result.stdout.no_fnmatch_line("*same root as*")


def test_a_module_object_registered_per_call_is_held_by_sys_modules(pytester, run_pytest):
    """A module made by hand is no root of its own chain: ``sys.modules`` holds it."""
    pytester.makepyfile(
        test_plugins=textwrap.dedent(LEAK_PATTERNS["module-object-registered-per-call"])
    )
    result = run_pytest("--memguard")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*held by: sys.modules[[]'generated_plugin_*']"])


def test_untracked_strings_are_caught_by_the_container_watch(pytester, run_pytest):
    """Strings are not in the young heap: the growth shows as module-level container growth."""
    pytester.makepyfile(
        test_leaky="""
        NAMES = []

        def test_pattern():
            NAMES.append("user-name-%d" % len(NAMES))
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "memguard: leak: confirmed: module-level containers grew by 1 entr* "
            "on each of 3 runs: [[]1, 1, 1]*",
            "*growing-container: test_leaky.NAMES grew by 1 entr* on each run*",
        ]
    )


def test_failure_text_names_the_figures_of_each_repetition(pytester, run_pytest):
    pytester.makepyfile(
        test_leaky="""
        ITEMS = []

        def test_pattern():
            ITEMS.append([len(ITEMS)])
        """
    )

    result = run_pytest("--memguard")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["memguard: leak: confirmed: retained 1 object * on each of 3 runs: [[]1, 1, 1]*"]
    )


def test_failing_test_is_reported_failed_not_leak(pytester, run_pytest):
    pytester.makepyfile(
        test_failing="""
        ITEMS = []

        def test_broken():
            ITEMS.append([1])
            assert False, "the test's own failure"
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED test_failing.py::test_broken - AssertionError: the te*"])
    result.stdout.no_fnmatch_line("LEAK *")
    result.stdout.no_fnmatch_line("*memguard: leak*")


def test_repeat_zero_lets_the_screened_run_decide(pytester, run_pytest, read_lines):
    """A test with side effects is run once: the screen alone makes the verdict."""
    runs = pytester.path / "runs.txt"
    pytester.makepyfile(
        test_side_effect=f"""
        import pytest

        ITEMS = []

        @pytest.mark.memguard(repeat=0)
        def test_sends_mail():
            with open({str(runs)!r}, "a") as out:
                out.write("sent\\n")
            ITEMS.append([1])
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(failed=1)
    assert read_lines(runs) == ["sent"]
    result.stdout.fnmatch_lines(
        [
            "memguard: leak: confirmed: * on the run: [[]*]*",
            "LEAK test_side_effect.py::test_sends_mail - *",
        ]
    )


# --- warm-up: one-time growth passes -------------------------------------------------

WARMUP_PATTERNS = {
    "module-object-registered-once": """
        import sys
        import types

        def registry():
            module = sys.modules.get("plugin_registry")
            if module is None:
                module = sys.modules["plugin_registry"] = types.ModuleType("plugin_registry")
                module.handlers = [{"handler": n} for n in range(10)]
            return module

        def test_pattern():
            assert registry().handlers
    """,
    "first-re-compile-of-a-new-pattern": """
        import re

        def test_pattern():
            assert re.compile(r"memguard-warmup-(\\d+)-[a-z]{3,7}$").match("memguard-warmup-1-abc")
    """,
    "bounded-lru-cache-filling": """
        import functools
        import itertools
        import pytest

        COUNTER = itertools.count()

        @functools.lru_cache(maxsize=8)
        def square(number):
            return [number * number]

        @pytest.mark.parametrize("case", range(3))
        def test_pattern(case):
            assert square(next(COUNTER)) is not None
    """,
    "custom-cache-with-a-max-size-attribute": """
        import itertools
        import pytest

        class BoundedCache:
            \"\"\"Keeps at most max_size entries in inner containers, like hypothesis'
            GenericCache or cachetools' Cache.\"\"\"

            def __init__(self, max_size):
                self.max_size = max_size
                self.keys = []
                self.values = {}

            def put(self, key, value):
                if len(self.keys) >= self.max_size:
                    del self.values[self.keys.pop(0)]
                self.keys.append(key)
                self.values[key] = value

        CACHE = BoundedCache(max_size=8)
        COUNTER = itertools.count()

        @pytest.mark.parametrize("case", range(3))
        def test_pattern(case):
            number = next(COUNTER)
            CACHE.put(number, [number])
    """,
    "lazy-import-of-a-stdlib-module": """
        import sys

        WAVE_WAS_IMPORTED = "wave" in sys.modules

        def test_pattern():
            import wave

            assert wave.open

        def test_wave_was_not_imported_before():
            assert not WAVE_WAS_IMPORTED
    """,
    "weak-values-under-the-same-keys": """
        import weakref

        class Application:
            pass

        APP = Application()
        BY_NAME = weakref.WeakValueDictionary()

        def register(name):
            BY_NAME[name] = APP  # the same names every run: replaced, not added

        def test_pattern():
            register("main")
            register("admin")
    """,
    "weak-valued-cache-of-what-the-run-made": """
        import weakref

        class Session:
            pass

        SESSIONS = weakref.WeakValueDictionary()

        def test_pattern():
            session = Session()
            SESSIONS[id(session)] = session  # gone with the session at the end of the run
            assert SESSIONS
    """,
    "finalizer-on-what-the-run-made": """
        import weakref

        class Connection:
            pass

        CLOSED = []

        def test_pattern():
            connection = Connection()
            weakref.finalize(connection, CLOSED.clear)  # runs, and goes, with it
    """,
    "module-level-context-variable-set-per-call": """
        import contextvars

        CURRENT_USER = contextvars.ContextVar("current_user")

        def handle_request(user):
            CURRENT_USER.set({"user": user})  # replaces the last value

        def test_pattern():
            handle_request("alice")
    """,
    "module-level-string-stream-truncated-after-use": """
        import io

        SINK = io.StringIO()

        def report(message):
            SINK.write(message + "\\n")
            text = SINK.getvalue()
            SINK.seek(0)
            SINK.truncate()
            return text

        def test_pattern():
            assert report("request handled")
    """,
    "mutable-default-argument-filled-once": """
        def settings(_cache={}):
            return _cache.setdefault("settings", {"debug": False})

        def test_pattern():
            assert settings()["debug"] is False
    """,
    "dict-set-once": """
        CONFIG = {}

        def test_pattern():
            options = CONFIG.setdefault("options", {"verbose": [1, 2]})
            assert options["verbose"] == [1, 2]
    """,
    "session-fixture-building-a-big-value": """
        import pytest

        @pytest.fixture(scope="session")
        def big_table():
            return [list(range(10)) for _ in range(10_000)]

        def test_pattern(big_table):
            assert len(big_table) == 10_000
    """,
    "module-fixture": """
        import pytest

        @pytest.fixture(scope="module")
        def settings():
            return {"hosts": ["a", "b"], "ports": [1, 2]}

        def test_pattern(settings):
            assert settings["hosts"] == ["a", "b"]
    """,
    "logs-with-caplog": """
        import logging

        def test_pattern(caplog):
            logging.getLogger("app").warning("disk %s is full", "sda")
            assert "disk sda is full" in caplog.text
    """,
    "warns": """
        import warnings

        def test_pattern():
            warnings.warn("this API is deprecated", DeprecationWarning)
    """,
    "replaces-a-module-level-last-value": """
        LAST = None

        def test_pattern():
            global LAST
            LAST = {"request": [1, 2, 3], "answer": "ok"}
    """,
}


@pytest.mark.parametrize("source", WARMUP_PATTERNS.values(), ids=WARMUP_PATTERNS.keys())
def test_warmup_pattern_passes(pytester, run_pytest, probe, source):
    probe.install(pytester)
    pytester.makepyfile(
        test_warmup=textwrap.dedent(source)
        + "\n\ndef test_ordinary_neighbour():\n    assert [1, 2] == [1, 2]\n"
    )

    result = run_pytest("--memguard", "-rA")

    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 2
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("LEAK *")
    verdicts = probe.verdicts()
    assert len(verdicts) == outcomes["passed"]
    assert set(verdicts.values()) <= {"ok", "warmup"}, verdicts


def test_module_fixture_with_a_one_time_side_effect_is_warmup(pytester, run_pytest):
    """The first use of a module fixture that registers itself once is warm-up."""
    pytester.makepyfile(
        test_registry="""
        import pytest

        REGISTRY = []

        @pytest.fixture(scope="module")
        def service():
            REGISTRY.append({"name": "billing"})
            return REGISTRY[-1]

        def test_uses_service(service):
            assert service["name"] == "billing"

        def test_more_in_the_module():
            pass
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("LEAK *")


def test_module_fixture_side_effect_is_warmup_for_the_last_test_of_a_module(pytester, run_pytest):
    pytester.makepyfile(
        test_registry="""
        import pytest

        REGISTRY = []

        @pytest.fixture(scope="module")
        def service():
            REGISTRY.append({"name": "billing"})
            return REGISTRY[-1]

        def test_uses_service(service):
            assert service["name"] == "billing"
        """,
        test_zz_other="""
        def test_other_module():
            pass
        """,
    )

    result = run_pytest("--memguard", "-rA")

    result.stdout.no_fnmatch_line("LEAK *")
    result.assert_outcomes(passed=2)


def test_session_fixture_side_effect_is_warmup_when_the_test_runs_alone(pytester, run_pytest):
    pytester.makepyfile(
        test_registry="""
        import pytest

        REGISTRY = []

        @pytest.fixture(scope="session")
        def service():
            REGISTRY.append({"name": "billing"})
            return REGISTRY[-1]

        def test_uses_service(service):
            assert service["name"] == "billing"
        """
    )

    result = run_pytest("--memguard", "-rA")

    result.stdout.no_fnmatch_line("LEAK *")
    result.assert_outcomes(passed=1)


# --- a clean suite ---------------------------------------------------------------------


def test_clean_suite_of_500_empty_tests_gives_only_ok_verdicts(pytester, run_pytest, probe):
    """At most the very first test may be warm-up (interpreter caches); none is a leak."""
    probe.install(pytester)
    pytester.makepyfile(
        test_clean="""
        import pytest

        @pytest.mark.parametrize("case", range(500))
        def test_empty(case):
            pass
        """
    )

    result = run_pytest("--memguard", "-p", "junitxml", "--junitxml=x.xml")

    result.assert_outcomes(passed=500)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.re_match_lines([r"^500 guarded tests: (499 ok, 1 warmup|500 ok)$"])
    result.stdout.no_fnmatch_line("*leak*")
    verdicts = probe.verdicts()
    assert len(verdicts) == 500
    not_ok = {nodeid: verdict for nodeid, verdict in verdicts.items() if verdict != "ok"}
    assert set(not_ok) <= {"test_clean.py::test_empty[0]"}, not_ok
    assert set(not_ok.values()) <= {"warmup"}, not_ok
    assert (pytester.path / "x.xml").read_text().count("<testcase ") == 500


def test_growth_reached_from_no_named_root_passes_with_its_reason(pytester, run_pytest):
    """A class that is its own metaclass (a sentinel idiom) is cleared by the collector
    but never freed: growth on every run that no name in the program reaches. It is
    reported, not failed, and explaining it must not crash on the cleared class."""
    pytester.makepyfile(
        test_sentinels="""
        class _SentinelBase(type):
            pass

        def make_sentinel(name):
            cls = _SentinelBase(name, (_SentinelBase,), {})
            cls.__class__ = cls
            return cls

        def test_make_sentinel():
            assert make_sentinel("S1") is not make_sentinel("S2")
        """
    )

    result = run_pytest("--memguard", "-rA", "-W", "error::pytest.PytestWarning")

    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*could not judge*")


def test_objects_replaced_on_every_run_are_not_explained_as_the_leak(pytester, run_pytest):
    """Each run rebuilds a large cache (new objects, the old ones freed) and leaks one
    small dict: the finding shown is the dict's, and the cache is not a finding at all."""
    pytester.makepyfile(
        test_mixed="""
        class Index:
            def __init__(self):
                self.rows = [[n] for n in range(200)]

        INDEX = None
        HISTORY = []

        def test_rebuilds_and_leaks():
            global INDEX
            INDEX = Index()
            HISTORY.append({"run": [len(HISTORY)]})
        """
    )

    result = run_pytest("--memguard", "--memguard-report=json:mem.json", "-rA")

    result.assert_outcomes(failed=1)
    (test,) = json.loads((pytester.path / "mem.json").read_text())["tests"]
    (finding,) = test["findings"]
    assert finding["chain_text"].startswith("test_mixed.HISTORY[")
    result.stdout.fnmatch_lines(["  growing-container: 1 dict object * by test_mixed.HISTORY*"])


PARSER = """
import pytest

class Element:
    def __init__(self, name):
        self.name = name
        self.ignores = []

QUOTED = Element("quoted")
TABLE = {}

class Cache:
    def __init__(self, entries):
        self.entries = entries

class Parser:
    cache = None

def parse(comment=None):
    # The rules are rebuilt, the old ones dropped; a cache of this parse replaces the
    # last one's and refers to everything the parse made.
    TABLE.clear()
    TABLE.update((f"rule{n}", Element(f"rule{n}")) for n in range(40))
    entries = {name: [rule, {"at": n}] for n, (name, rule) in enumerate(TABLE.items())}
    if comment is not None:
        QUOTED.ignores.append(comment)
        entries["comment"] = [comment, {"at": -1}]
    Parser.cache = Cache(entries)

def test_parse_with_comments():
    parse(Element("comment"))

@pytest.mark.parametrize("grammar", ["a", "b", "c"])
def test_parse_again(grammar):
    parse()
"""


def test_growth_beneath_a_rebuilt_cache_is_explained_where_it_accumulates(pytester, run_pytest):
    """Each run rebuilds a table and a cache that refers to all it made, the old ones
    dropped, and appends one element to an older object's list (pyparsing's
    ``ignoreExprs``). The leak is the list's entry, not the cache it also hangs from;
    a later test that only rebuilds the cache is no leak of that root."""
    pytester.makepyfile(test_parser=PARSER)

    result = run_pytest("--memguard", "--memguard-report=json:mem.json", "-rA")

    result.assert_outcomes(failed=1, passed=3)
    tests = json.loads((pytester.path / "mem.json").read_text())["tests"]
    leak = next(t for t in tests if t["nodeid"].endswith("test_parse_with_comments"))
    (finding,) = leak["findings"]
    assert finding["chain_text"].startswith("test_parser.QUOTED.ignores")


def _traced_runs(pytester, run_pytest, source: str) -> list[object]:
    """Run ``source``, whose leaking test records per run what tracing looked like and
    whose second test prints that list as ``RUNS [...]``; check the leak's site is
    named and return the list."""
    pytester.makepyfile(test_traced=source)
    result = run_pytest("--memguard", "--memguard-report=json:mem.json", "-s", "-p", "no:randomly")
    result.assert_outcomes(failed=1, passed=1)
    printed = re.search(r"RUNS (\[.*?\])", result.stdout.str())
    assert printed is not None
    (leak, _) = json.loads((pytester.path / "mem.json").read_text())["tests"]
    assert leak["findings"][0]["allocated_at"][-1]["line"].startswith("HISTORY.append(")
    return ast.literal_eval(printed.group(1))


def test_only_the_run_that_names_allocation_sites_is_traced(pytester, run_pytest):
    """Tracing slows every allocation: the screen, the repetitions and the run that
    primes the traced one run untraced; one repetition of a confirmed leak is traced,
    and its finding names where the leak was allocated."""
    flags = _traced_runs(
        pytester,
        run_pytest,
        """
        import tracemalloc

        RUNS = []
        HISTORY = []

        def test_leaks():
            RUNS.append(tracemalloc.is_tracing())
            HISTORY.append({"run": [len(HISTORY)]})

        def test_report_tracing():
            print("RUNS", RUNS)
        """,
    )
    assert flags[-1] is True and not any(flags[:-1]), flags


def test_the_explanation_is_loaded_before_the_traced_run(pytester, run_pytest):
    """Imported while tracing, every allocation of the explanation's modules would be
    traced too (three times the import's cost): they are loaded before tracing starts."""
    loaded = _traced_runs(
        pytester,
        run_pytest,
        """
        import sys
        import tracemalloc

        RUNS = []
        HISTORY = []

        def test_leaks():
            if tracemalloc.is_tracing():
                RUNS.append("pytest_memguard.explain.explainer" in sys.modules)
            HISTORY.append({"run": [len(HISTORY)]})

        def test_report_loaded():
            print("RUNS", RUNS)
        """,
    )
    assert loaded == [True]


def test_a_slower_leak_is_traced_with_the_frames_a_terminal_report_shows(pytester, run_pytest):
    """A leak whose runs take more CPU than a full-depth traced run may cost is traced
    keeping three frames (tracemalloc's cost grows with each frame it keeps): its site
    is still named."""
    frames = _traced_runs(
        pytester,
        run_pytest,
        """
        import time
        import tracemalloc

        RUNS = []
        HISTORY = []

        def test_leaks_slowly():
            end = time.process_time() + 0.01
            while time.process_time() < end:
                pass
            RUNS.append(tracemalloc.get_traceback_limit() if tracemalloc.is_tracing() else 0)
            HISTORY.append({"run": [len(HISTORY)]})

        def test_report_frames():
            print("RUNS", RUNS)
        """,
    )
    assert frames[-1] == 3 and not any(frames[:-1]), frames


def test_a_wider_fixture_set_up_by_a_later_test_of_its_scope_is_pytests(pytester, run_pytest):
    """The screen walks pytest's state for a run that sets up a wider fixture even where
    the run before it, in the same module and class, needed no walk: the fixtures'
    values are pytest's, the tests no suspects."""
    pytester.makepyfile(
        test_scopes="""
        import pytest

        @pytest.fixture(scope="module")
        def settings():
            return {"hosts": [["a"], ["b"]], "ports": [[1], [2]]}

        @pytest.fixture(scope="class")
        def table():
            return [[n] for n in range(50)]

        def test_first():
            pass

        def test_second():
            pass

        def test_uses_module_fixture(settings):
            assert settings["hosts"] == [["a"], ["b"]]

        class TestGroup:
            def test_first(self):
                pass

            def test_uses_class_fixture(self, table):
                assert len(table) == 50
        """
    )

    result = run_pytest("--memguard", "-p", "no:randomly", "--memguard-report=json:mem.json")

    result.assert_outcomes(passed=5)
    tests = json.loads((pytester.path / "mem.json").read_text())["tests"]
    verdicts = {
        test["nodeid"].split("::", 1)[1]: (test["verdict"], test["suspect"]) for test in tests
    }
    assert verdicts["test_uses_module_fixture"] == ("ok", False)
    assert verdicts["TestGroup::test_uses_class_fixture"] == ("ok", False)


def test_what_a_plugin_files_per_test_is_pytests_once_a_search_found_it(pytester, run_pytest):
    """A plugin that files each test's objects under a new key of a dict it keeps (as
    the terminal reporter files subtest reports) may make the first such test a suspect
    (the screen walks pytest's state only where pytest likely kept something); its
    re-runs teach the plugin's state, and the tests after it are no suspects."""
    pytester.makeconftest(
        """
        class Filer:
            def __init__(self):
                self.stats = {"passed": []}

            def pytest_runtest_call(self, item):
                kind = item.get_closest_marker("files")
                if kind is not None:
                    self.stats[kind.args[0]] = [{"report": [item.name]}]

        def pytest_configure(config):
            config.addinivalue_line("markers", "files(kind): file an object")
            config.pluginmanager.register(Filer(), "filer")
        """
    )
    pytester.makepyfile(
        test_filed="""
        import pytest

        def test_first():
            pass

        def test_second():
            pass

        @pytest.mark.files("kind b")
        def test_files_a_new_kind():
            pass

        @pytest.mark.files("kind c")
        def test_files_another_kind():
            pass
        """
    )

    result = run_pytest("--memguard", "-p", "no:randomly", "--memguard-report=json:mem.json")

    result.assert_outcomes(passed=4)
    tests = json.loads((pytester.path / "mem.json").read_text())["tests"]
    verdicts = {
        test["nodeid"].split("::", 1)[1]: (test["verdict"], test["suspect"]) for test in tests
    }
    assert verdicts["test_files_another_kind"] == ("ok", False), verdicts


def test_new_entries_of_a_cache_its_module_bounds_make_no_suspect(pytester, run_pytest):
    """``re`` trims ``re._cache`` at ``re._MAXCACHE``: a pattern compiled for the first
    time is warm-up on the screened run, without a search or a re-run."""
    pytester.makepyfile(
        test_patterns="""
        import re
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_compiles_a_new_pattern(n):
            assert re.compile(f"item-{n}-[a-z]+").match(f"item-{n}-abc")
        """
    )

    result = run_pytest("--memguard", "-p", "no:randomly", "--memguard-report=json:mem.json")

    result.assert_outcomes(passed=4)
    tests = json.loads((pytester.path / "mem.json").read_text())["tests"]
    assert [(test["verdict"], test["suspect"]) for test in tests] == [("warmup", False)] * 4


UNDO_LIST_REPLACED_AT_THE_END = """
import pytest


class Freezer:
    '''As freezegun's freeze_time: a list of the patches to undo, filled while frozen
    and replaced by a new empty one when the freeze ends.'''

    def __init__(self):
        self.undo_changes = []

    def run(self):
        for n in range(5):
            self.undo_changes.append(("module", "attribute-%d" % n, [n]))
        self.undo_changes = []


FREEZER = Freezer()


@pytest.mark.parametrize("n", range(8))
def test_frozen(n):
    FREEZER.run()
"""


def test_what_a_dropped_holder_gained_in_the_run_makes_no_suspect(pytester, run_pytest):
    """The plugin holds what a suspect left (the empty list a test put in place of the
    last one) to see the next test drop it. The next test fills it, then drops it: what
    it put there is alive only because the plugin held the list, and with it would have
    died. It is no suspect of that test's."""
    pytester.makepyfile(test_freezer=UNDO_LIST_REPLACED_AT_THE_END)
    result = run_pytest("--memguard", "--memguard-report=json:mem.json")
    result.assert_outcomes(passed=8)
    tests = json.loads((pytester.path / "mem.json").read_text())["tests"]
    assert {t["verdict"] for t in tests} <= {"ok", "warmup"}
    assert [t["nodeid"] for t in tests[2:] if t["suspect"]] == []


def test_a_leak_held_through_a_lazy_proxy_is_caught_and_explained(pytester, run_pytest):
    """A module-level lazy proxy whose ``__class__`` raises (werkzeug's ``LocalProxy``
    outside a request) keeps a list the test appends to: the plugin looks at the proxy
    through its type, never asks its class, and reports the leak with its chain."""
    pytester.makepyfile(
        test_proxied="""
        class LocalProxy:
            def __init__(self):
                self.items = []

            @property
            def __class__(self):
                raise RuntimeError("working outside of a request context")

        request = LocalProxy()

        def test_leaks_through_the_proxy():
            request.items.append({"payload": [object()]})
        """
    )

    result = run_pytest("--memguard", "--memguard-report=json:mem.json", "-rA")

    result.assert_outcomes(failed=1)
    (test,) = json.loads((pytester.path / "mem.json").read_text())["tests"]
    assert test["verdict"] == "leak", test["message"]
    assert "request.items" in test["findings"][0]["chain_text"]
