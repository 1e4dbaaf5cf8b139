"""Shared fixtures: plain console output and guarded runs for the plugin-level tests,
work counters for the in-process ones.

The plugin-level tests (``test_plugin_*.py``) drive pytest-memguard through ``pytester``
in a child process: the plugin freezes the GC, installs ``gc.callbacks`` and starts
tracemalloc, none of which may touch the interpreter running this suite.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: Flags every inner run gets: no third-party memory plugin, no cache, no colour codes, no
#: shuffling by pytest-randomly (its own tests in test_coexistence.py turn it back on).
BASE_ARGS: tuple[str, ...] = (
    "-p",
    "no:memray",
    "-p",
    "no:randomly",
    "-p",
    "no:cacheprovider",
    "--color=no",
)

#: Third-party pytest plugins installed for tests/test_coexistence.py. Every other inner
#: run blocks them (:data:`LEAN_ARGS`): each costs a child about half a second of imports
#: (pytest-asyncio, anyio with trio, xdist), and memguard next to them is what
#: test_coexistence.py tests, with its own ``run_pytest`` that keeps them loaded. A test
#: that needs one (``-n``) turns it back on with ``-p NAME``.
OTHER_PLUGINS: tuple[str, ...] = (
    "asyncio",
    "anyio",
    "xdist",
    "xdist.looponfail",
    "flaky",
    "rerunfailures",
    "timeout",
)
LEAN_ARGS: tuple[str, ...] = tuple(arg for name in OTHER_PLUGINS for arg in ("-p", f"no:{name}"))

#: What a run with :data:`OTHER_PLUGINS` loaded adds: the loop scope pytest-asyncio warns
#: about when it is unset (``-W error`` would fail). Without pytest-asyncio, the key is
#: unknown and pytest warns about that instead.
PLUGIN_ARGS: tuple[str, ...] = ("-o", "asyncio_default_fixture_loop_scope=function")

#: Child-process time limit: a hung inner run fails its test instead of the whole suite.
RUN_TIMEOUT = 120.0

#: A conftest for inner runs: records each guarded test's verdict (the record the plugin
#: puts on its reports) and the GC state the session leaves behind, in JSON files.
#: ``baseline`` is the freeze count when pytest was configured, before the plugin touched
#: the GC: 0 on most interpreters, a few hundred on CPython 3.12 (whose full collections
#: move immortal objects to the permanent generation), more if the project froze its heap.
PROBE_CONFTEST = """
import gc
import json
import sys
import tracemalloc
from pathlib import Path

import pytest

_HERE = Path(__file__).parent
_BASELINE = None


def pytest_configure(config):
    global _BASELINE
    _BASELINE = gc.get_freeze_count()


def _gc_state():
    callbacks = [
        f"{getattr(cb, '__module__', '')}.{getattr(cb, '__qualname__', repr(cb))}"
        for cb in gc.callbacks
    ]
    return {
        "frozen": gc.get_freeze_count(),
        "baseline": _BASELINE,
        "callbacks": callbacks,
        "gc_enabled": gc.isenabled(),
        "tracing": tracemalloc.is_tracing(),
    }


def pytest_runtest_logreport(report):
    data = getattr(report, "memguard", None)
    if isinstance(data, dict):
        line = {"nodeid": report.nodeid, "when": report.when, "verdict": data.get("verdict")}
        with open(_HERE / "probe-verdicts.jsonl", "a") as out:
            out.write(json.dumps(line) + "\\n")


def pytest_keyboard_interrupt(excinfo):
    (_HERE / "probe-gc-interrupt.json").write_text(json.dumps(_gc_state()))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    (_HERE / "probe-gc-sessionfinish.json").write_text(json.dumps(_gc_state()))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    (_HERE / "probe-gc-unconfigure.json").write_text(json.dumps(_gc_state()))
"""


@pytest.fixture
def referents_listed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many referents each ``gc.get_referents`` call lists during the test, until
    ``monkeypatch`` is undone: the work a walk does, counted rather than timed."""
    listed: list[int] = []
    referents = gc.get_referents

    def counting(*objs: object) -> list[object]:
        found = referents(*objs)
        listed.append(len(found))
        return found

    monkeypatch.setattr(gc, "get_referents", counting)
    return listed


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the console style: no colour codes in any output the tests match."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PY_COLORS", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


RunPytest = Callable[..., pytest.RunResult]


@pytest.fixture
def run_pytest(pytester: pytest.Pytester) -> RunPytest:
    """``run_pytest(*args)``: pytest in a child process, with :data:`BASE_ARGS` and
    :data:`LEAN_ARGS` first."""

    def run(*args: str, timeout: float = RUN_TIMEOUT) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*BASE_ARGS, *LEAN_ARGS, *args, timeout=timeout)

    return run


class Probe:
    """Reads what :data:`PROBE_CONFTEST` wrote during an inner run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def install(self, pytester: pytest.Pytester, extra: str = "") -> None:
        """Write the probe conftest (with ``extra`` code appended) into the test dir."""
        pytester.makeconftest(PROBE_CONFTEST + "\n" + extra)

    def verdicts(self) -> dict[str, str]:
        """The verdict of each guarded test, by node id (the call report's, if any)."""
        file = self.path / "probe-verdicts.jsonl"
        if not file.exists():
            return {}
        found: dict[str, str] = {}
        for line in file.read_text().splitlines():
            entry = json.loads(line)
            if entry["when"] == "call" or entry["nodeid"] not in found:
                found[entry["nodeid"]] = entry["verdict"]
        return found

    def gc_state(self, moment: str) -> dict[str, Any]:
        """The GC state at ``moment``: ``interrupt``, ``sessionfinish`` or ``unconfigure``."""
        file = self.path / f"probe-gc-{moment}.json"
        assert file.exists(), f"the probe conftest did not record the GC state at {moment}"
        state: dict[str, Any] = json.loads(file.read_text())
        return state


@pytest.fixture
def probe(pytester: pytest.Pytester) -> Probe:
    """A :class:`Probe` for the pytester directory; call ``probe.install(pytester)``."""
    return Probe(pytester.path)


def marker_lines(path: Path) -> list[str]:
    """Lines a test module of an inner run appended to ``path`` (none if it never ran)."""
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def read_lines() -> Callable[[Path], list[str]]:
    """``read_lines(path)``: the lines an inner run wrote to a file, [] if none."""
    return marker_lines


@pytest.fixture
def run_configure_only(pytester: pytest.Pytester) -> RunPytest:
    """``run_configure_only(*args)``: pytest in this process, for a run that must stop at
    a usage error while it is configured, before any test is guarded. The directory
    must hold no test module: if the error did not come, nothing would be collected (exit
    code 5), so nothing could ever be guarded in this interpreter."""

    def run(*args: str) -> pytest.RunResult:
        assert not list(pytester.path.rglob("*.py")), "a configure-only run collects no test"
        return pytester.runpytest(*args, "-p", "no:asyncio")

    return run
