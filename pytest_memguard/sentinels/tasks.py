"""asyncio tasks left pending, and the event loop left open, by a test."""

from __future__ import annotations

import functools
import logging
import re
import sys
import weakref
from collections.abc import Collection
from typing import TYPE_CHECKING, cast

from pytest_memguard.findings import ADVICE, Finding
from pytest_memguard.sentinels.base import (
    ALLOW_NONE,
    Allow,
    Described,
    created_at,
    describe,
    stack_frames,
)
from pytest_memguard.sentinels.blame import Ledger, watch_object

if TYPE_CHECKING:
    import asyncio

    _Task = asyncio.Task[object]
    _Loop = asyncio.AbstractEventLoop
    _State = tuple[frozenset[weakref.ref[_Task]], weakref.ref[_Loop] | None] | None


#: What shows when a leaked task or loop is destroyed, charged to the test that left it.
_DESTROYED_PENDING = (
    "destroyed while still pending (asyncio: 'Task was destroyed but it is pending!')"
)
_DESTROYED_UNCLOSED = "destroyed without being closed (ResourceWarning: 'unclosed event loop')"


def _done(task: _Task) -> bool:
    return task.done()


def _closed(loop: asyncio.AbstractEventLoop) -> bool:
    return loop.is_closed()


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """The loop ``asyncio.set_event_loop`` set for this thread, without creating one."""
    import asyncio

    policy = vars(asyncio.events).get("_event_loop_policy")
    if policy is None:
        return None
    loop = getattr(getattr(policy, "_local", None), "_loop", None)
    return cast("asyncio.AbstractEventLoop | None", loop)


@functools.cache
def _task_registry() -> Collection[_Task] | None:
    """asyncio's set of every live task, on any loop in any thread (CPython 3.10-3.13)."""
    import asyncio

    for name in ("_scheduled_tasks", "_all_tasks"):  # 3.12-3.13, 3.10-3.11
        registry = vars(asyncio.tasks).get(name)
        if registry is not None:
            return cast("Collection[_Task]", registry)
    return None


def _live_tasks() -> Collection[_Task]:
    """Every live task where asyncio keeps a registry, else those of the current loop."""
    registry = _task_registry()
    if registry is not None:
        return registry
    import asyncio

    loop = _current_loop()
    if loop is None or loop.is_closed():
        return ()
    return asyncio.all_tasks(loop)


#: asyncio's report of a pending task being destroyed (its default exception handler
#: logs it on the "asyncio" logger), and how the task shows in it.
_PENDING_DESTROYED = "Task was destroyed but it is pending!"
_TASK_TEXT = re.compile(r"name='(?P<name>[^']*)' coro=<(?P<coro>[^\s(>]+)")


class _DestroyedPending(logging.Filter):
    """Notes each "Task was destroyed but it is pending!" logged by asyncio; lets it pass.

    One per process, made and installed on the ``asyncio`` logger (made now if asyncio
    is not imported yet) when the first task sentinel is built, outside any window.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            self.installed = True
            logging.getLogger("asyncio").addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(_PENDING_DESTROYED):
            self.seen.append(record.msg)
        return True


_DESTROYED = _DestroyedPending()


class TaskSentinel:
    """Pending asyncio tasks and the current event loop left unclosed.

    Covered: every task created during the test and still pending after teardown, on
    any loop in any thread (CPython 3.10-3.13 keep a registry of live tasks; later
    versions only show the tasks of this thread's current loop); the loop set with
    ``asyncio.set_event_loop`` during the test and never closed, with the callbacks
    still scheduled on it. Not covered: a loop neither set as current nor holding a
    pending task; its selector and self-pipe are reported by the file/socket sentinel.
    A task destroyed while still pending during the test (its loop closed with it
    pending, then collected: asyncio logs "Task was destroyed but it is pending!") is
    a finding of the test, unless an earlier test left it pending: the ledger charges
    it to that one. Costs nothing while asyncio has not been imported.
    """

    name = "task"

    def __init__(self, allow: Allow = ALLOW_NONE, ledger: Ledger | None = None) -> None:
        self._allow = allow
        self._ledger = ledger or Ledger()
        #: Names of the tasks found pending after a test: the ledger charges their end.
        self._left: set[str] = set()
        # Now, outside any window: installed during a test, the asyncio logger's
        # filters list (a watched module-level container) would grow in that test.
        _DESTROYED.install()

    def before(self) -> _State:
        """The live tasks and the current loop, or None while asyncio is not imported.

        Held weakly: a task left by an earlier test must be free to die during this
        one, where its "Task was destroyed but it is pending!" belongs (and is charged
        to the test that left it).
        """
        if "asyncio" not in sys.modules:
            return None
        _DESTROYED.seen.clear()
        tasks = _live_tasks()
        loop = _current_loop()
        return (
            frozenset(map(weakref.ref, tasks)) if len(tasks) else frozenset(),
            weakref.ref(loop) if loop is not None else None,
        )

    def after(self, before: _State) -> list[Finding]:
        """One finding per new pending task, for a new unclosed loop and its callbacks."""
        if "asyncio" not in sys.modules:
            return []
        old_tasks, old_loop_ref = before if before is not None else (frozenset(), None)
        old_loop = old_loop_ref() if old_loop_ref is not None else None
        tasks = _live_tasks()
        findings = self._destroyed_findings()
        for task in list(tasks) if len(tasks) else ():
            if (
                weakref.ref(task) in old_tasks
                or task.done()
                or self._allow.module(describe(task.get_coro()))
            ):
                continue
            findings.append(_task_finding(task))
            self._left.add(task.get_name())
            self._ledger.remember(findings[-1], watch_object(task, _done, _DESTROYED_PENDING))
        loop = _current_loop()
        if loop is not None and loop is not old_loop and not loop.is_closed():
            findings.append(_loop_finding(loop))
            self._ledger.remember(findings[-1], watch_object(loop, _closed, _DESTROYED_UNCLOSED))
            findings.extend(self._callback_findings(loop))
        return findings

    def _destroyed_findings(self) -> list[Finding]:
        """The test's own tasks that asyncio reported destroyed while pending."""
        findings = []
        for message in _DESTROYED.seen:
            found = _TASK_TEXT.search(message)
            name, coro = (found["name"], found["coro"]) if found else ("?", "?")
            if name in self._left or self._allow.module(Described(coro)):
                continue
            findings.append(
                Finding(
                    kind="task",
                    summary=f"asyncio task {name!r} (coroutine {coro}) destroyed while "
                    f"still pending, its event loop closed or dropped under it "
                    f"(asyncio: '{_PENDING_DESTROYED}')",
                    count=1,
                    advice=ADVICE["task"],
                    extra={"name": name, "coroutine": coro},
                )
            )
        _DESTROYED.seen.clear()
        return findings

    def _callback_findings(self, loop: asyncio.AbstractEventLoop) -> list[Finding]:
        import asyncio

        wake_up = getattr(asyncio.futures, "_set_result_unless_cancelled", None)
        findings = []
        for handle in getattr(loop, "_scheduled", ()):
            callback = getattr(handle, "_callback", None)
            # a sleeping task's wake-up belongs to the task, reported on its own
            if handle.cancelled() or callback is wake_up:
                continue
            described = describe(callback)
            if self._allow.module(described):
                continue
            findings.append(
                Finding(
                    kind="task",
                    summary=f"asyncio callback {described} still scheduled on an unclosed "
                    f"event loop (due in {handle.when() - loop.time():.3g} s)",
                    count=1,
                    allocated_at=stack_frames(getattr(handle, "_source_traceback", None) or ()),
                    advice="cancel the handle (handle.cancel()) and close the loop in teardown",
                    extra={"callback": described.dotted},
                )
            )
        return findings


def _loop_state(loop: asyncio.AbstractEventLoop) -> str:
    if loop.is_closed():
        return "a closed event loop, so it can never finish"
    if loop.is_running():
        return "an event loop still running"
    return "a stopped event loop that was never closed"


def _task_finding(task: _Task) -> Finding:
    coro = describe(task.get_coro())
    source = getattr(task, "_source_traceback", None)  # kept in asyncio debug mode
    return Finding(
        kind="task",
        summary=f"asyncio task {task.get_name()!r} (coroutine {coro}) still pending after "
        f"teardown, on {_loop_state(task.get_loop())}",
        count=1,
        allocated_at=created_at(task) or stack_frames(source or ()),
        advice=ADVICE["task"],
        extra={"name": task.get_name(), "coroutine": coro.dotted},
    )


def _loop_finding(loop: asyncio.AbstractEventLoop) -> Finding:
    kind = type(loop).__name__
    return Finding(
        kind="task",
        summary=f"event loop {kind} set with asyncio.set_event_loop() during the test "
        "and never closed",
        count=1,
        allocated_at=created_at(loop),
        advice="close it in teardown (loop.close(); asyncio.set_event_loop(None)), "
        "or use asyncio.run()",
        extra={"loop": kind},
    )
