"""The project's own registries: listeners left in them are found and named.

The first part drives ``RegistrySentinel`` in this interpreter, on registries made
here; the second runs the plugin in a child process (``run_pytest``), with registries
declared by the ``memguard_registries`` ini key and by the
``pytest_memguard_registries`` hook, and runs the worked example of
``examples/events_registry``.
"""

from __future__ import annotations

import json
import sys
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pytest_memguard.findings import Finding
from pytest_memguard.sentinels.base import Allow, PytestMemguardWarning
from pytest_memguard.sentinels.registries import RegistryPath, RegistrySentinel
from pytest_memguard.sentinels.suite import build_sentinels, check_all, snapshot_all

RunPytest = Callable[..., pytest.RunResult]  # the run_pytest fixture of conftest.py


class Emitter:
    """A pyee-style emitter: ``{event: [listener, ...]}``."""

    def __init__(self) -> None:
        self._events: dict[str, list[Callable[[str], None]]] = {}

    def on(self, event: str, fn: Callable[[str], None]) -> None:
        self._events.setdefault(event, []).append(fn)

    def off(self, event: str, fn: Callable[[str], None]) -> None:
        self._events[event].remove(fn)


class Mailer:
    def send_receipt(self, order: str) -> None:
        pass


def on_saved(payload: str) -> None:
    pass


def window(sentinel: RegistrySentinel, test: Callable[[], object]) -> list[Finding]:
    """Snapshot, run ``test``, compare: what the plugin does around a test."""
    states = snapshot_all([sentinel])
    test()
    return check_all([sentinel], states)


def summaries(findings: list[Finding]) -> list[str]:
    assert all(f.kind == "listener" for f in findings), findings
    return [f.summary for f in findings]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module ``memguard_test_app`` with an emitter, importable by name."""
    module = types.ModuleType("memguard_test_app")
    module.emitter = Emitter()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


# --- registry paths -------------------------------------------------------------------


def test_registry_path_parses_and_resolves(app: types.ModuleType) -> None:
    path = RegistryPath.parse(" memguard_test_app:emitter._events ")
    assert path == RegistryPath("memguard_test_app", ("emitter", "_events"))
    assert str(path) == "memguard_test_app:emitter._events"
    assert path.resolve() is app.emitter._events


@pytest.mark.parametrize(
    "text", ["app.events", "app.events:", ":bus", "app events:bus", "app:bus..x", "app:bus-x"]
)
def test_bad_registry_path_names_the_entry(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected MODULE:ATTRIBUTE\.PATH") as info:
        RegistryPath.parse(text)
    assert repr(text) in str(info.value)


# --- what a registry holds ------------------------------------------------------------


def test_leaked_listener_names_the_registry_place_and_callable(app: types.ModuleType) -> None:
    sentinel = RegistrySentinel([RegistryPath.parse("memguard_test_app:emitter._events")])
    emitter: Emitter = app.emitter
    emitter.on("saved", on_saved)  # there before the test: not a finding

    findings = window(sentinel, lambda: emitter.on("order.placed", Mailer().send_receipt))
    assert summaries(findings) == [
        "listener Mailer.send_receipt added to registry 'memguard_test_app:emitter._events' "
        "under ['order.placed'] and not removed"
    ]
    finding = findings[0]
    assert finding.count == 1
    assert finding.extra == {
        "registry": "memguard_test_app:emitter._events",
        "where": "['order.placed']",
        "listener": f"{__name__}.Mailer.send_receipt",
    }
    assert "off" in finding.advice


def test_removed_listener_is_clean(app: types.ModuleType) -> None:
    sentinel = RegistrySentinel([RegistryPath.parse("memguard_test_app:emitter._events")])
    emitter: Emitter = app.emitter

    def subscribed_and_removed() -> None:
        mailer = Mailer()
        emitter.on("order.placed", mailer.send_receipt)
        emitter.off("order.placed", mailer.send_receipt)

    assert window(sentinel, subscribed_and_removed) == []


def test_the_snapshot_keeps_no_listener_alive() -> None:
    """The plugin does not count what its own state holds as the test's."""
    handlers: list[Callable[[], None]] = [lambda: None]
    sentinel = RegistrySentinel(hook=lambda: [{"handlers": handlers}])
    alive = weakref.ref(handlers[0])
    states = snapshot_all([sentinel])
    handlers.clear()
    assert alive() is None
    # a listener added now may get the freed one's address: it is still new
    handlers.append(lambda: None)
    assert [f.count for f in check_all([sentinel], states)] == [1]


def test_listeners_of_one_name_are_counted_together() -> None:
    handlers: list[Callable[[], None]] = []
    sentinel = RegistrySentinel(hook=lambda: [{"handlers": handlers}])

    def leak() -> None:
        for _ in range(3):
            handlers.append(lambda: None)

    finding = window(sentinel, leak)[0]
    assert finding.count == 3
    assert finding.summary == (
        "3 listeners test_listeners_of_one_name_are_counted_together.<locals>.leak.<locals>"
        ".<lambda> added to registry 'handlers' and not removed"
    )


def test_one_callable_in_two_places_is_one_listener() -> None:
    by_function: dict[Callable[[str], None], Callable[[str], None]] = {}  # pyee's fn -> fn
    sentinel = RegistrySentinel(hook=lambda: [{"once": by_function}])
    mailer = Mailer()
    finding = window(
        sentinel, lambda: by_function.update({mailer.send_receipt: mailer.send_receipt})
    )
    assert [f.count for f in finding] == [1]


def test_weak_receivers_are_seen_through_their_references() -> None:
    """blinker keeps ``{id: weakref}``, Django ``[((id, id), weakref), ...]``."""
    receivers: dict[int, object] = {}
    django_style: list[tuple[tuple[int, int], object]] = []
    sentinel = RegistrySentinel(hook=lambda: [{"blinker": receivers, "django": django_style}])
    mailer = Mailer()

    def connect() -> None:
        receivers[id(on_saved)] = weakref.ref(on_saved)
        django_style.append(((id(mailer), 0), weakref.WeakMethod(mailer.send_receipt)))

    assert sorted(summaries(window(sentinel, connect))) == [
        "listener Mailer.send_receipt added to registry 'django' and not removed",
        "listener on_saved added to registry 'blinker' and not removed",
    ]
    # a weak receiver that was already connected is the same listener every time
    assert window(sentinel, lambda: None) == []


def test_hook_may_return_an_object_a_list_or_a_set() -> None:
    emitter = Emitter()
    handlers: set[Callable[[str], None]] = set()
    sentinel = RegistrySentinel(hook=lambda: [emitter, [handlers]])

    def leak() -> None:
        emitter.on("saved", on_saved)
        handlers.add(Mailer().send_receipt)

    assert sorted(summaries(window(sentinel, leak))) == [
        "listener Mailer.send_receipt added to registry "
        "'pytest_memguard_registries() result #2 (list)' and not removed",
        "listener on_saved added to registry 'pytest_memguard_registries() result #1 (Emitter)' "
        "under ._events['saved'] and not removed",
    ]


def test_a_new_event_of_a_labelled_registry_is_watched() -> None:
    emitter = Emitter()
    sentinel = RegistrySentinel(hook=lambda: [{"bus": emitter}])
    findings = window(sentinel, lambda: emitter.on("created-during-the-test", on_saved))
    assert summaries(findings) == [
        "listener on_saved added to registry 'bus' under ._events['created-during-the-test'] "
        "and not removed"
    ]


def test_allowed_module_is_not_reported() -> None:
    handlers: list[Callable[[str], None]] = []
    sentinel = RegistrySentinel(
        hook=lambda: [{"handlers": handlers}], allow=Allow(modules=(__name__,))
    )
    assert window(sentinel, lambda: handlers.append(on_saved)) == []


# --- resolving: lazily, once, and never a crash ---------------------------------------


def test_registries_resolve_at_the_first_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[None] = []
    handlers: list[Callable[[str], None]] = []

    def hook() -> list[object]:
        calls.append(None)
        return [{"handlers": handlers}]

    sentinels = build_sentinels(
        registries=[RegistryPath.parse("memguard_late_app:handlers")], registry_hook=hook
    )
    assert calls == []  # building imports and calls nothing
    module = types.ModuleType("memguard_late_app")
    late_handlers: list[Callable[[str], None]] = []
    module.handlers = late_handlers  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for _ in range(2):
        states = snapshot_all(sentinels)
        late_handlers.append(on_saved)
        findings = [f for f in check_all(sentinels, states) if "registry" in f.extra]
        late_handlers.clear()
        assert [f.extra["registry"] for f in findings] == ["memguard_late_app:handlers"]
    assert calls == [None]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("memguard_no_such_module:bus", "cannot be resolved (ModuleNotFoundError: "),
        ("memguard_test_app:emitter.missing", "cannot be resolved (AttributeError: "),
        ("memguard_test_app:emitter.on", "is a callable, not a registry"),
    ],
)
def test_unresolvable_registry_is_one_warning(
    app: types.ModuleType, entry: str, message: str
) -> None:
    handlers: list[Callable[[str], None]] = []
    sentinel = RegistrySentinel([RegistryPath.parse(entry)], hook=lambda: [{"handlers": handlers}])
    with pytest.warns(PytestMemguardWarning) as record:
        first = window(sentinel, lambda: handlers.append(on_saved))
        assert window(sentinel, lambda: None) == []
    assert len(record) == 1
    warning = str(record[0].message)
    assert warning.startswith(f"memguard_registries entry '{entry}' {message}")
    assert warning.endswith("; it is not watched")
    assert summaries(first) == ["listener on_saved added to registry 'handlers' and not removed"]


def test_failing_hook_and_bad_hook_results_are_warnings() -> None:
    def broken() -> list[object]:
        raise RuntimeError("settings not configured")

    with pytest.warns(PytestMemguardWarning, match="raised RuntimeError: settings not configured"):
        assert window(RegistrySentinel(hook=broken), lambda: None) == []
    with pytest.warns(PytestMemguardWarning) as record:
        bad = RegistrySentinel(hook=lambda: [42, {"label": "not a registry"}])
        assert window(bad, lambda: None) == []
    assert [str(w.message).split(",")[0] for w in record] == [
        "pytest_memguard_registries() result #1 (int) is a int",
        "pytest_memguard_registries() registry 'label' is a str",
    ]


def test_build_sentinels_watches_registries_under_the_listener_switch() -> None:
    def hook() -> list[object]:
        return []

    def registry_sentinels(disabled: set[str]) -> list[str]:
        built = build_sentinels(disabled, registry_hook=hook)
        return [s.name for s in built if isinstance(s, RegistrySentinel)]

    assert registry_sentinels(set()) == ["listener"]
    assert registry_sentinels({"listener"}) == []
    assert not any(isinstance(s, RegistrySentinel) for s in build_sentinels())


# --- the plugin -----------------------------------------------------------------------

EVENTS_APP = """
class Emitter:
    def __init__(self):
        self._events = {}

    def on(self, event, fn):
        self._events.setdefault(event, []).append(fn)

    def off(self, event, fn):
        self._events[event].remove(fn)


emitter = Emitter()
"""

EVENT_TESTS = """
import pytest
from events_app import emitter


def test_leaks_a_listener():
    emitter.on("saved", lambda payload: None)


@pytest.fixture
def subscribed():
    def on_saved(payload):
        pass

    emitter.on("saved", on_saved)
    yield
    emitter.off("saved", on_saved)


def test_cleans_up(subscribed):
    pass
"""

LEAKY = "test_events.py::test_leaks_a_listener"
CLEAN = "test_events.py::test_cleans_up"


def run_events(
    pytester: pytest.Pytester,
    run_pytest: RunPytest,
    ini: str,
    expect: Sequence[str] = (),
    warnings: int = 0,
) -> dict[str, Any]:
    """Run :data:`EVENT_TESTS` under ``--memguard``; the JSON report's tests by node id.
    ``expect``: more lines the output must show (fnmatch patterns, in order); ``warnings``
    how many warnings the run must end with."""
    pytester.makepyfile(events_app=EVENTS_APP, test_events=EVENT_TESTS)
    pytester.makeini(f"[pytest]\npythonpath = .\n{ini}")
    result = run_pytest("--memguard", "--memguard-report=json:mem.json")
    result.assert_outcomes(passed=1, failed=1, warnings=warnings)
    result.stdout.fnmatch_lines(["*LEAK test_events.py::test_leaks_a_listener*"])
    if expect:
        result.stdout.fnmatch_lines(list(expect))
    document = json.loads((pytester.path / "mem.json").read_text())
    return {test["nodeid"]: test for test in document["tests"]}


def listener_summaries(test: dict[str, Any]) -> list[str]:
    return [
        f["summary"]
        for f in test["findings"]
        if f["kind"] == "listener" and "registry" in f["extra"]
    ]


def test_ini_registry_catches_a_leaked_listener_and_unresolvable_ones_are_warned_about(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    """One run, three entries: a resolvable registry catches the leaked listener (and
    not the one a fixture removes); an entry whose attribute is missing and one whose
    module is missing leave it watched, each with a warning, once per session (the run
    has two tests)."""
    tests = run_events(
        pytester,
        run_pytest,
        "memguard_registries =\n    events_app:no_such_bus\n    events_app:emitter._events\n"
        "    memguard_missing_app:bus._listeners",
        expect=[
            "*PytestMemguardWarning: memguard_registries entry 'events_app:no_such_bus' "
            "cannot be resolved (AttributeError: *); it is not watched",
            "*PytestMemguardWarning: memguard_registries entry 'memguard_missing_app:bus."
            "_listeners' cannot be resolved (ModuleNotFoundError: *); it is not watched",
        ],
        warnings=2,
    )
    assert tests[LEAKY]["verdict"] == "leak"
    assert listener_summaries(tests[LEAKY]) == [
        "listener test_leaks_a_listener.<locals>.<lambda> added to registry "
        "'events_app:emitter._events' under ['saved'] and not removed"
    ]
    assert tests[CLEAN]["verdict"] != "leak"
    assert listener_summaries(tests[CLEAN]) == []


def test_hook_registry_catches_a_leaked_listener(
    pytester: pytest.Pytester, run_pytest: RunPytest
) -> None:
    pytester.makeconftest(
        """
        def pytest_memguard_registries():
            from events_app import emitter
            return {"app emitter": emitter}
        """
    )
    tests = run_events(pytester, run_pytest, "")
    assert listener_summaries(tests[LEAKY]) == [
        "listener test_leaks_a_listener.<locals>.<lambda> added to registry 'app emitter' "
        "under ._events['saved'] and not removed"
    ]
    assert tests[CLEAN]["verdict"] != "leak"


def test_bad_registry_entry_is_a_usage_error(
    pytester: pytest.Pytester, run_configure_only: RunPytest
) -> None:
    """In process: the ini key is read when the plugin is configured, before any test."""
    pytester.makeini("[pytest]\nmemguard_registries =\n    app.events:bus\n    app.events.bus\n")
    result = run_configure_only("--memguard")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*memguard: ini option memguard_registries: entry 'app.events.bus': expected*"]
    )


def test_events_registry_example(pytester: pytest.Pytester, run_pytest: RunPytest) -> None:
    pytester.copy_example("events_registry")
    assert (pytester.path / "check_events.py").exists()
    result = run_pytest("--memguard")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*LEAK check_events.py::test_mailer_left_listening*"])
    lines = result.stdout.lines
    finding = lines.index(
        "  listener: listener Mailer.send_receipt added to registry "
        "'events_app:emitter._events' under ['order.placed'] and not removed"
    )
    assert lines[finding + 1].startswith("    allocated at: events_app.py:")
    assert run_pytest().ret == pytest.ExitCode.OK  # without --memguard both pass
