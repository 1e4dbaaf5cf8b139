"""Process-wide registries a test can leave changed: hooks, gc callbacks, signals, atexit."""

from __future__ import annotations

import atexit
import gc
import importlib
import signal
import sys
import threading
from collections.abc import Callable
from typing import cast

from pytest_memguard.findings import Finding
from pytest_memguard.sentinels.base import ALLOW_NONE, Allow, describe, describe_signal_handler

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


class _AuditHookCounter:
    """Counts ``sys.addaudithook`` calls from the moment it is installed.

    Audit hooks cannot be listed or removed, so this counter is installed at most once
    per process, and only on request: every audited event then calls it.
    """

    def __init__(self) -> None:
        self.added = 0
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            sys.addaudithook(self._hook)
            self.installed = True

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if event == "sys.addaudithook":
            self.added += 1


_AUDIT_HOOKS = _AuditHookCounter()

_ListenerState = tuple[
    tuple[object, ...], tuple[Callable[..., object], ...], tuple[str | None, ...], int
]


class ListenerSentinel:
    """Hooks and callbacks registered process-wide and left behind.

    Covered: trace and profile functions (``sys`` and ``threading``), ``sys.excepthook``,
    ``threading.excepthook``, ``sys.unraisablehook``, ``gc.callbacks``, ``sys.monitoring``
    tool ids (3.12+), and, when ``audit_hooks`` is on, ``sys.addaudithook`` calls (this
    installs a counting audit hook for the rest of the process). Filters added to loggers
    are reported by the logging sentinel with this kind.
    """

    name = "listener"

    def __init__(self, allow: Allow = ALLOW_NONE, audit_hooks: bool = False) -> None:
        self._allow = allow
        self._audit_hooks = audit_hooks
        if audit_hooks:
            _AUDIT_HOOKS.install()

    def before(self) -> object:
        """The current hooks, gc callbacks, monitoring tools and audit hook count."""
        return _hooks(), tuple(gc.callbacks), _monitoring_tools(), _AUDIT_HOOKS.added

    def after(self, before: object) -> list[Finding]:
        """One finding per hook changed, callback added, tool registered; audit hooks grouped."""
        hooks, callbacks, tools, audit = cast(_ListenerState, before)
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
        if self._audit_hooks and _AUDIT_HOOKS.added > audit:
            findings.append(_audit_finding(_AUDIT_HOOKS.added - audit))
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


def _audit_finding(added: int) -> Finding:
    return Finding(
        kind="listener",
        summary=f"{added} audit hook(s) added with sys.addaudithook (they can never be removed)",
        count=added,
        advice="add audit hooks once at program start, never per test or per call",
    )


# signal.getsignal converts every result to an enum, which costs ~0.7 us per signal
_raw_getsignal: Callable[[int], object] = importlib.import_module("_signal").getsignal


class SignalSentinel:
    """Signal handlers changed during the test and not restored.

    Scans the named catchable signals (``signal.Signals``, about 30 on Linux); the
    real-time signals ``SIGRTMIN+n`` are not scanned. Handlers installed from C
    (``faulthandler``) are invisible to Python and not covered.
    """

    name = "signal-handler"

    def __init__(self, allow: Allow = ALLOW_NONE) -> None:
        self._allow = allow
        signals = sorted(
            sig
            for sig in signal.valid_signals()
            if isinstance(sig, signal.Signals) and sig.name not in ("SIGKILL", "SIGSTOP")
        )
        self._numbers = tuple(int(sig) for sig in signals)
        self._names = tuple(sig.name for sig in signals)

    def before(self) -> object:
        """The handler of every scanned signal, as ``signal.getsignal`` sees it."""
        return tuple(map(_raw_getsignal, self._numbers))

    def after(self, before: object) -> list[Finding]:
        """One finding per signal whose handler differs from ``before``."""
        now = tuple(map(_raw_getsignal, self._numbers))
        if now == before:
            return []
        findings = []
        for name, old, new in zip(
            self._names, cast("tuple[object, ...]", before), now, strict=True
        ):
            handler = describe_signal_handler(new)
            if new != old and not self._allow.module(handler):
                findings.append(
                    Finding(
                        kind="signal-handler",
                        summary=f"signal {name} handler changed to {handler} "
                        f"(was {describe_signal_handler(old)}) and not restored",
                        count=1,
                        advice="restore the previous handler in teardown: "
                        f"signal.signal(signal.{name}, previous)",
                        extra={"signal": name, "handler": handler.dotted},
                    )
                )
        return findings


class AtexitSentinel:
    """Callbacks registered with ``atexit`` during the test.

    CPython keeps the callbacks out of reach of Python code, so registrations are
    counted (``atexit._ncallbacks()``), not named. ``atexit.unregister`` empties a
    slot without lowering that count, so a test that registers and then unregisters
    is still reported: each registration keeps a slot until the interpreter exits.
    """

    name = "atexit"

    def before(self) -> object:
        """The number of atexit registrations so far."""
        return atexit._ncallbacks()

    def after(self, before: object) -> list[Finding]:
        """One finding counting the registrations made since ``before``."""
        added = atexit._ncallbacks() - cast(int, before)
        if added <= 0:
            return []
        return [
            Finding(
                kind="atexit",
                summary=f"{added} atexit callback(s) registered during the test "
                "(Python cannot say which)",
                count=added,
                advice="register it once at import time, not per test or per call "
                "(atexit.unregister does not free the slot)",
            )
        ]
