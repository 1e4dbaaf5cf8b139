"""What every sentinel shares: the protocol, the allow-list, naming and waiting helpers."""

from __future__ import annotations

import fnmatch
import functools
import importlib
import linecache
import signal
import time
import traceback
import tracemalloc
import types
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol, TypeVar

import pytest

from pytest_memguard.findings import Finding, Frame

#: How long, in all, a sentinel waits for threads or children that are about to end.
GRACE_SECONDS = 0.5

_OWN_PACKAGE = "pytest_memguard"

#: ``signal.getsignal`` without its conversion to an enum (~0.7 us per signal).
raw_getsignal: Callable[[int], object] = importlib.import_module("_signal").getsignal
_T = TypeVar("_T")


class PytestMemguardWarning(pytest.PytestWarning):
    """A memguard check could not run; the test's own outcome is unaffected."""


class Sentinel(Protocol):
    """Watches one kind of resource across a test: a snapshot before, a comparison after.

    ``name`` is the switch that turns it off (``--memguard-sentinels=-thread``); a
    sentinel serving several switches joins them with commas (``"file,socket"``).
    """

    name: str

    def before(self) -> object:
        """A cheap snapshot of the watched state, taken before the test's setup."""
        ...

    # ``Any``: each sentinel takes the state its own ``before()`` made, typed as such
    # (a ``cast`` would be a call in every test's path).
    def after(self, before: Any) -> list[Finding]:
        """Compare with ``before`` after the test's teardown; empty when nothing leaked."""
        ...


class Allow(NamedTuple):
    """Things not to report, as ``fnmatch`` patterns (like goleak's ``IgnoreTopFunction``).

    ``thread_names`` match thread names (timers included). ``modules`` match the module
    that defines a thread target, timer callback, task coroutine, hook, filter, signal
    handler or handler class, or that module joined with the callable's qualified name
    (``concurrent.futures.thread._worker``). ``loggers`` match logger names (``root``
    for the root logger).
    """

    thread_names: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    loggers: tuple[str, ...] = ()

    def thread_name(self, name: str) -> bool:
        """Whether a thread with this name is allowed to outlive a test."""
        return _matches(name, self.thread_names)

    def module(self, described: Described) -> bool:
        """Whether a leaked callable from this place is allowed.

        The plugin's own package is always allowed: its hooks are installed around
        the window on purpose.
        """
        module = described.module
        if module == _OWN_PACKAGE or module.startswith(_OWN_PACKAGE + "."):
            return True
        return _matches(module, self.modules) or _matches(described.dotted, self.modules)

    def logger(self, name: str) -> bool:
        """Whether handlers and filters added to this logger are allowed."""
        return _matches(name, self.loggers)


#: The default allow-list: everything is reported.
ALLOW_NONE = Allow()

#: The prefixes of ``memguard_allow`` entries, each with the ``Allow`` field it fills.
_ALLOW_PREFIXES: dict[str, str] = {
    "thread": "thread_names",
    "module": "modules",
    "logger": "loggers",
}


def parse_allow(entries: Iterable[str]) -> Allow:
    """The allow-list of ``memguard_allow`` lines such as ``thread:pool-*``.

    Each entry is ``thread:NAME-GLOB``, ``module:MODULE-GLOB`` or ``logger:NAME-GLOB``;
    blank entries are skipped. Raises ``ValueError`` naming the first bad entry.
    """
    found: dict[str, list[str]] = {field: [] for field in _ALLOW_PREFIXES.values()}
    for entry in entries:
        if not entry.strip():
            continue
        prefix, sep, pattern = entry.partition(":")
        field_name = _ALLOW_PREFIXES.get(prefix.strip().lower())
        if not sep or field_name is None or not pattern.strip():
            raise ValueError(
                f"entry {entry!r}: expected thread:NAME-GLOB, module:MODULE-GLOB or "
                f"logger:NAME-GLOB, such as 'thread:pool-*'"
            )
        found[field_name].append(pattern.strip())
    return Allow(**{name: tuple(patterns) for name, patterns in found.items()})


def _matches(text: str, patterns: Iterable[str]) -> bool:
    return bool(text) and any(fnmatch.fnmatchcase(text, pattern) for pattern in patterns)


class Described(NamedTuple):
    """A callable named the way code reads it: ``Poller.run`` from module ``app.poll``."""

    qualname: str
    module: str = ""

    @property
    def dotted(self) -> str:
        """``module.qualname``, or the qualname alone when the module is unknown."""
        return f"{self.module}.{self.qualname}" if self.module else self.qualname

    def __str__(self) -> str:
        return self.qualname


def describe(obj: object) -> Described:
    """Name a function, bound method, partial, coroutine or callable instance."""
    if isinstance(obj, functools.partial):
        inner = describe(obj.func)
        return Described(f"partial({inner.qualname})", inner.module)
    func = getattr(obj, "__func__", obj)  # a bound method names its function
    if isinstance(func, (types.CoroutineType, types.GeneratorType)):
        frame = func.cr_frame if isinstance(func, types.CoroutineType) else func.gi_frame
        module = frame.f_globals.get("__name__", "") if frame is not None else ""
        return Described(func.__qualname__, module)
    qualname = getattr(func, "__qualname__", None)
    if isinstance(qualname, str):
        return Described(qualname, getattr(func, "__module__", None) or "")
    cls = type(obj)
    return Described(cls.__qualname__, cls.__module__)


def describe_signal_handler(handler: object) -> Described:
    """Name a signal handler as ``signal.getsignal`` returns it."""
    if handler is None:
        return Described("<handler installed outside Python>")
    if isinstance(handler, int):  # SIG_DFL and SIG_IGN, raw or as signal.Handlers
        return Described(signal.Handlers(handler).name, "signal")
    return describe(handler)


def created_at(obj: object) -> tuple[Frame, ...]:
    """Where ``obj`` was allocated, when tracemalloc traced it; most recent call last."""
    if not tracemalloc.is_tracing():
        return ()
    trace = tracemalloc.get_object_traceback(obj)
    if trace is None:
        return ()
    return tuple(
        Frame(f.filename, f.lineno, line=linecache.getline(f.filename, f.lineno).strip())
        for f in trace
    )


def stack_frames(stack: Iterable[traceback.FrameSummary]) -> tuple[Frame, ...]:
    """Convert a ``traceback`` stack summary (oldest first) to findings frames."""
    return tuple(Frame(f.filename, f.lineno or 0, f.name, f.line or "") for f in stack)


def settle(pending: Callable[[], list[_T]], budget: float = GRACE_SECONDS) -> list[_T]:
    """Poll ``pending`` with a doubling back-off until it is empty or ``budget`` runs out.

    Like goleak's retries: what ends within the grace period was being shut down, not
    leaked. Returns what is still pending.
    """
    left = pending()
    deadline = time.monotonic() + budget
    delay = 0.001
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.1)
        left = pending()
    return left
