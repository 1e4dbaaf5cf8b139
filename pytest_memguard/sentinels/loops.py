"""asyncio timers scheduled on a module-level event loop that is not running.

``loop.call_later(3600, callback)`` on a loop kept at module level that nobody runs
never fires: the handle, its callback and whatever the callback holds stay in the
loop's timer heap for the life of the process. Such loops are found among the
globals of imported modules (each module is looked at once, when it first shows in
``sys.modules``) and are held weakly.
"""

from __future__ import annotations

import sys
import types
import weakref
from typing import TYPE_CHECKING

from pytest_memguard.findings import ChainEdge, Finding
from pytest_memguard.sentinels.base import ALLOW_NONE, Allow, describe, stack_frames

if TYPE_CHECKING:
    import asyncio

#: (label, loop, ids of its timer handles) per watched loop; empty without any.
_State = tuple[tuple[str, "asyncio.AbstractEventLoop", frozenset[int]], ...]


class IdleLoopTimerSentinel:
    """Timers (kind ``timer``) added during a test to a module-level loop not running.

    A clean test costs one length check of ``sys.modules`` while no module holds an
    event loop; with such loops, one set of their timer handles' ids each.
    """

    name = "timer"

    def __init__(self, allow: Allow = ALLOW_NONE) -> None:
        self._allow = allow
        self._modules_seen = 0
        self._scanned: set[str] = set()
        self._loops: dict[str, weakref.ref[asyncio.AbstractEventLoop]] = {}

    def before(self) -> _State:
        """The timer handles of every module-level loop, by id."""
        if len(sys.modules) != self._modules_seen:
            self._scan()
        if not self._loops:  # most suites: no module holds a loop
            return ()
        return tuple(
            (label, loop, frozenset(map(id, _timers(loop)))) for label, loop in self._live_loops()
        )

    def after(self, before: _State) -> list[Finding]:
        """One finding per callback scheduled on an idle loop since ``before``."""
        findings = []
        for label, loop, old in before:
            if loop.is_running() or loop.is_closed():
                continue
            for handle in _timers(loop):
                if id(handle) in old or handle.cancelled():
                    continue
                callback = describe(getattr(handle, "_callback", None))
                if not self._allow.module(callback):
                    findings.append(_timer_finding(label, loop, handle, callback.dotted))
        return findings

    def _live_loops(self) -> list[tuple[str, asyncio.AbstractEventLoop]]:
        live = []
        for label, ref in list(self._loops.items()):
            loop = ref()
            if loop is None:
                del self._loops[label]
            else:
                live.append((label, loop))
        return live

    def _scan(self) -> None:
        asyncio = sys.modules.get("asyncio")
        if asyncio is None:
            return  # no loop can exist yet; scan once it is imported
        self._modules_seen = len(sys.modules)
        for name in sys.modules.keys() - self._scanned:
            self._scanned.add(name)
            module = sys.modules.get(name)
            if not isinstance(module, types.ModuleType) or name.startswith("asyncio"):
                continue
            for attribute, value in list(vars(module).items()):
                if isinstance(value, asyncio.AbstractEventLoop):
                    self._loops[f"{name}.{attribute}"] = weakref.ref(value)


def _timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    return list(getattr(loop, "_scheduled", ()))


def _timer_finding(
    label: str, loop: asyncio.AbstractEventLoop, handle: asyncio.TimerHandle, callback: str
) -> Finding:
    due = handle.when() - loop.time()
    return Finding(
        kind="timer",
        summary=f"asyncio timer {callback} (due in {due:.3g} s) scheduled on event loop "
        f"{label}, which is not running: it never fires and keeps its callback alive",
        count=1,
        retainer_chain=(
            ChainEdge(type(loop).__name__, label),
            ChainEdge("TimerHandle", f"{label}._scheduled"),
        ),
        allocated_at=stack_frames(getattr(handle, "_source_traceback", None) or ()),
        advice="cancel the handle in teardown (handle.cancel()), or schedule it on a "
        "loop that runs",
        extra={"loop": label, "callback": callback, "due_in": due},
    )
