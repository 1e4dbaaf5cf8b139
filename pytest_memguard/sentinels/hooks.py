"""Process-wide registries a test can leave changed: hooks, gc callbacks, signals, atexit."""

from __future__ import annotations

import atexit
import collections
import functools
import gc
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable
from typing import Any

from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.sentinels.base import (
    ALLOW_NONE,
    Allow,
    Described,
    describe,
    describe_signal_handler,
    raw_getsignal,
    stack_frames,
)
from pytest_memguard.sentinels.blame import Ledger

# (label, how to undo it); aligned with what _hooks() returns
_HOOKS: tuple[tuple[str, str], ...] = (
    ("sys.settrace function", "sys.settrace(previous)"),
    ("sys.setprofile function", "sys.setprofile(previous)"),
    ("threading.settrace function", "threading.settrace(previous)"),
    ("threading.setprofile function", "threading.setprofile(previous)"),
    ("sys.excepthook", "sys.excepthook = previous"),
    ("threading.excepthook", "threading.excepthook = previous"),
    ("sys.unraisablehook", "sys.unraisablehook = previous"),
)


def _hooks() -> tuple[object, ...]:
    return (
        sys.gettrace(),
        sys.getprofile(),
        threading.gettrace(),
        threading.getprofile(),
        sys.excepthook,
        threading.excepthook,
        sys.unraisablehook,
    )


_MONITORING = getattr(sys, "monitoring", None)  # Python 3.12+


def _monitoring_tools() -> tuple[str | None, ...]:
    if _MONITORING is None:
        return ()
    return tuple(map(_MONITORING.get_tool, range(6)))


def _name(obj: object) -> str:
    return "none" if obj is None else str(describe(obj))


_ListenerState = tuple[
    tuple[object, ...], tuple[Callable[..., object], ...], tuple[str | None, ...]
]


class ListenerSentinel:
    """Hooks and callbacks registered process-wide and left behind.

    Covered: trace and profile functions (``sys`` and ``threading``), ``sys.excepthook``,
    ``threading.excepthook``, ``sys.unraisablehook``, ``gc.callbacks``, ``sys.monitoring``
    tool ids (3.12+). Filters added to loggers are reported by the logging sentinel with
    this kind.
    """

    name = "listener"

    def __init__(self, allow: Allow = ALLOW_NONE) -> None:
        self._allow = allow

    def before(self) -> _ListenerState:
        """The current hooks, gc callbacks and monitoring tools."""
        return _hooks(), tuple(gc.callbacks), _monitoring_tools()

    def after(self, before: _ListenerState) -> list[Finding]:
        """One finding per hook changed, callback added, tool registered."""
        hooks, callbacks, tools = before
        findings: list[Finding] = []
        now = _hooks()
        if now != hooks:
            for (label, undo), old, new in zip(_HOOKS, hooks, now, strict=True):
                if new != old and not self._allow.module(describe(new)):
                    findings.append(_hook_finding(label, undo, old, new))
        now_callbacks = tuple(gc.callbacks)
        if now_callbacks != callbacks:
            findings.extend(
                _callback_finding(cb)
                for cb in now_callbacks
                if cb not in callbacks and not self._allow.module(describe(cb))
            )
        for tool_id, (old, new) in enumerate(zip(tools, _monitoring_tools(), strict=True)):
            if new is not None and new != old:
                findings.append(_tool_finding(tool_id, new))
        return findings


def _hook_finding(label: str, undo: str, old: object, new: object) -> Finding:
    if new is None:
        summary = f"{label} removed during the test (was {_name(old)})"
    else:
        summary = f"{label} {_name(new)} left installed after teardown (was {_name(old)})"
    return Finding(
        kind="listener",
        summary=summary,
        count=1,
        advice=f"restore the previous one in teardown: {undo}",
        extra={"hook": label, "new": _name(new), "old": _name(old)},
    )


def _callback_finding(callback: Callable[..., object]) -> Finding:
    described = describe(callback)
    return Finding(
        kind="listener",
        summary=f"gc callback {described} added to gc.callbacks and not removed",
        count=1,
        advice="remove it in teardown: gc.callbacks.remove(callback)",
        extra={"callback": described.dotted},
    )


def _tool_finding(tool_id: int, tool: str) -> Finding:
    return Finding(
        kind="listener",
        summary=f"sys.monitoring tool id {tool_id} ({tool!r}) registered and not freed",
        count=1,
        advice=f"free it in teardown: sys.monitoring.free_tool_id({tool_id})",
        extra={"tool_id": tool_id, "tool": tool},
    )


class SignalSentinel:
    """Signal handlers left different from what they were before the test.

    Scans the named catchable signals (``signal.Signals``, about 30 on Linux) through
    Python's own handler table, which ``signal.signal`` updates whether Python or C
    code calls it: one C-level ``map`` of ``_signal.getsignal`` per snapshot (~1 us).
    The real-time signals ``SIGRTMIN+n`` are not scanned; handlers installed from C
    with ``sigaction`` bypass the table (``faulthandler``) and are not covered.

    The state is compared like a descriptor's: any difference from before the test's
    *first* run counts. The repetitions of a test compare with the handlers from
    before its screened run (the ledger says which test runs), so a test that
    installs the same handler on every run is a ``signal-handler`` finding on each
    of them, not one-time warm-up. A handler that is a bound method or a callable
    object is named through that object, with the handlers and listeners it keeps.
    """

    name = "signal-handler"

    def __init__(self, allow: Allow = ALLOW_NONE, ledger: Ledger | None = None) -> None:
        self._allow = allow
        self._ledger = ledger or Ledger()
        signals = sorted(
            sig
            for sig in signal.valid_signals()
            if isinstance(sig, signal.Signals) and sig.name not in ("SIGKILL", "SIGSTOP")
        )
        self._numbers = tuple(int(sig) for sig in signals)
        self._names = tuple(sig.name for sig in signals)
        self._test = ""
        self._baseline: tuple[object, ...] = ()

    def before(self) -> tuple[object, ...]:
        """The handlers from before the running test's first run (now, between windows)."""
        now = tuple(map(raw_getsignal, self._numbers))
        running = self._ledger.running
        if not running or running != self._test:
            self._test, self._baseline = running, now
        return self._baseline

    def after(self, before: tuple[object, ...]) -> list[Finding]:
        """One finding per signal whose handler differs from ``before``."""
        now = tuple(map(raw_getsignal, self._numbers))
        if now == before:
            return []
        findings = []
        for name, old, new in zip(self._names, before, now, strict=True):
            handler = describe_signal_handler(new)
            if new != old and not self._allow.module(handler):
                findings.append(_signal_finding(name, old, new, handler))
        return findings


def _signal_finding(name: str, old: object, new: object, handler: Described) -> Finding:
    summary = (
        f"signal {name} handler changed to {handler} (was {describe_signal_handler(old)}) "
        "and not restored"
    )
    holder = _handler_holder(new)
    extra: dict[str, object] = {"signal": name, "handler": handler.dotted}
    chain: tuple[ChainEdge, ...] = ()
    if holder is not None:
        kept = _kept_callables(holder)
        owner = f"{type(holder).__module__}.{type(holder).__qualname__}"
        chain = (ChainEdge("signal handler table", f"signal.getsignal(signal.{name})"),) + (
            ChainEdge(owner, f"{handler}.__self__"),
        ) * (new is not holder)
        if kept:
            summary += f"; the handler's {type(holder).__qualname__} object keeps " + ", ".join(
                f"{where} = {what}" for where, what in kept
            )
        extra["holder"] = owner
        extra["keeps"] = [f"{where} = {what}" for where, what in kept]
    return Finding(
        kind="signal-handler",
        summary=summary,
        count=1,
        retainer_chain=chain,
        advice=f"restore the previous handler in teardown: signal.signal(signal.{name}, previous)",
        extra=extra,
    )


def _handler_holder(handler: object) -> object | None:
    """The object a handler belongs to: a bound method's ``__self__``, a callable instance."""
    if isinstance(handler, types.MethodType):
        return handler.__self__
    plain = not isinstance(handler, (types.FunctionType, type, functools.partial))
    if plain and callable(handler) and isinstance(getattr(handler, "__dict__", None), dict):
        return handler
    return None


#: At most this many callables of a handler's object are named in a finding.
_KEPT_SHOWN = 6


def _kept_callables(holder: object) -> list[tuple[str, str]]:
    """The handlers and listeners an object keeps in its attributes: ``(".previous",
    "SIG_DFL")``, ``(".listeners", "2 callables: on_term, flush")``."""
    kept: list[tuple[str, str]] = []
    for attribute, value in list(vars(holder).items()):
        if isinstance(value, (int, types.FunctionType, types.MethodType, functools.partial)):
            if isinstance(value, bool) or (isinstance(value, int) and value not in (0, 1)):
                continue
            what = describe_signal_handler(value) if isinstance(value, int) else describe(value)
            kept.append((f".{attribute}", str(what)))
        elif isinstance(value, (list, tuple, set, dict, collections.deque)):
            items = value.values() if isinstance(value, dict) else value
            found = [item for item in items if callable(item)]
            if found:
                counts: dict[str, int] = {}
                for item in found:
                    name = str(describe(item))
                    counts[name] = counts.get(name, 0) + 1
                names = ", ".join(
                    name if times == 1 else f"{name} x {times}"
                    for name, times in list(counts.items())[:_KEPT_SHOWN]
                )
                more = ", ..." if len(counts) > _KEPT_SHOWN else ""
                kept.append((f".{attribute}", f"{len(found)} callable(s): {names}{more}"))
    return kept


class AtexitSentinel:
    """Callbacks registered with ``atexit`` during the test, named where Python can.

    CPython 3.10-3.13 keep the callbacks out of reach of Python code, so
    registrations are counted (``atexit._ncallbacks()``, O(1)) and named by a wrapper
    around ``atexit.register``, installed when the sentinel is built: it records each
    callable and the frames that registered it, for the sentinel built last (code
    that took a reference to ``register`` before that is counted, not named).
    ``atexit.unregister`` empties a slot without lowering that count, so a test that
    registers and then unregisters is still reported: each registration keeps a slot
    until the interpreter exits.
    """

    name = "atexit"

    def __init__(self) -> None:
        _REGISTRATIONS.install([])

    def before(self) -> tuple[int, _Sink]:
        """The number of atexit registrations so far, and where the names go."""
        # A new list each time: made in the window, what it holds is seen as the plugin's.
        sink: _Sink = []
        _REGISTRATIONS.install(sink)
        return atexit._ncallbacks(), sink

    def after(self, before: tuple[int, _Sink]) -> list[Finding]:
        """One finding per named registration; one counting those that cannot be named."""
        count, seen = before
        added = atexit._ncallbacks() - count
        if added <= 0:
            return []
        named = seen[-added:]
        groups: dict[str, list[tuple[Frame, ...]]] = {}  # callable -> its registration sites
        for func, frames in named:
            groups.setdefault(describe(func).dotted, []).append(frames)
        findings = [_atexit_finding(dotted, sites) for dotted, sites in groups.items()]
        unnamed = added - len(named)
        if unnamed > 0:
            findings.append(
                Finding(
                    kind="atexit",
                    summary=f"{unnamed} atexit callback(s) registered during the test "
                    "(registered through a reference to atexit.register taken before "
                    "the plugin started: Python cannot say which)",
                    count=unnamed,
                    advice=_ATEXIT_ADVICE,
                )
            )
        return findings


_ATEXIT_ADVICE = (
    "register it once at import time, not per test or per call "
    "(atexit.unregister does not free the slot)"
)


def _atexit_finding(dotted: str, sites: list[tuple[Frame, ...]]) -> Finding:
    frames = sites[0]
    times = f" {len(sites)} times" if len(sites) > 1 else ""
    first = "first " if len(sites) > 1 else ""
    where = f", {first}at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return Finding(
        kind="atexit",
        summary=f"atexit callback {dotted} registered{times} during the test{where}",
        count=len(sites),
        allocated_at=frames,
        advice=_ATEXIT_ADVICE,
        extra={"callback": dotted},
    )


_Sink = list[tuple[object, tuple[Frame, ...]]]


class _Registrations:
    """The wrapper around ``atexit.register``: records each registration in a sink."""

    def __init__(self) -> None:
        self._real: Callable[..., Any] = atexit.register
        self._sink: _Sink | None = None

    def install(self, sink: _Sink) -> None:
        self._sink = sink
        if getattr(atexit.register, "__self__", None) is not self:
            self._real = atexit.register
            atexit.register = self.register

    def register(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``atexit.register``, noting the callable and its caller's frames first."""
        if self._sink is not None:
            frames = stack_frames(traceback.extract_stack(sys._getframe(1), limit=8))
            self._sink.append((func, frames))
        return self._real(func, *args, **kwargs)


_REGISTRATIONS = _Registrations()

#: The module's objects that record what a run does: the plugin's, never a holder of it.
RECORDERS: tuple[object, ...] = (_REGISTRATIONS,)
