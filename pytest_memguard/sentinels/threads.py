"""Threads and timers started during a test and still alive after its teardown."""

from __future__ import annotations

import signal
import sys
import threading
from typing import cast

from pytest_memguard.blame import Ledger, watch_object
from pytest_memguard.explain.classify import ADVICE
from pytest_memguard.findings import Finding
from pytest_memguard.sentinels.base import (
    ALLOW_NONE,
    GRACE_SECONDS,
    Allow,
    Described,
    created_at,
    describe,
    describe_signal_handler,
    settle,
)


def _target(thread: threading.Thread) -> Described:
    target = getattr(thread, "_target", None)  # set while run() has not returned
    if target is not None:
        return describe(target)
    run = type(thread).run
    if run is not threading.Thread.run:
        return describe(run)
    return Described("<unknown>")


def _running_at(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return ""
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _started_since(before: object) -> list[threading.Thread]:
    now = threading.enumerate()
    if now == before:
        return []
    old = set(cast("list[threading.Thread]", before))
    return [thread for thread in now if thread not in old]


def _thread_finding(thread: threading.Thread) -> Finding:
    target = _target(thread)
    daemon = "daemon" if thread.daemon else "non-daemon"
    return Finding(
        kind="thread",
        summary=f"thread {thread.name!r} (target {target}, {daemon}) still running after teardown",
        count=1,
        allocated_at=created_at(thread),
        advice=ADVICE["thread"],
        extra={
            "name": thread.name,
            "target": target.dotted,
            "daemon": thread.daemon,
            "running_at": _running_at(thread),
        },
    )


def _ended(thread: threading.Thread) -> bool:
    return not thread.is_alive()


def _itimer_real() -> float:
    if sys.platform == "win32":
        return 0.0
    return signal.getitimer(signal.ITIMER_REAL)[0]


class ThreadSentinel:
    """Threads (kind ``thread``) and timers (kind ``timer``) a test left running.

    Threads: every ``threading.Thread`` started during the test and alive after
    teardown plus a grace period shared by all of them (0.5 s). Timers: every
    ``threading.Timer`` started during the test and still pending (one that was
    cancelled, or whose interval fits in the grace period, gets the grace period to
    end), and ``ITIMER_REAL`` armed during the test (``signal.setitimer``). Both
    kinds share one ``threading.enumerate()``, so one sentinel serves both switches.
    Not covered: threads started with ``_thread.start_new_thread`` or from C, which
    the threading module does not list or lists as dummy threads that cannot be
    joined; ``sched`` schedulers (no registry); asyncio timer handles (see the task
    sentinel).
    """

    def __init__(
        self,
        allow: Allow = ALLOW_NONE,
        threads: bool = True,
        timers: bool = True,
        ledger: Ledger | None = None,
    ) -> None:
        self._allow = allow
        self._ledger = ledger or Ledger()
        self._threads = threads
        self._timers = timers
        self.name = ",".join(name for name, on in (("thread", threads), ("timer", timers)) if on)

    def before(self) -> object:
        """The live threads and the seconds left on ``ITIMER_REAL``."""
        return threading.enumerate(), _itimer_real() if self._timers else 0.0

    def after(self, before: object) -> list[Finding]:
        """One finding per new thread or pending timer, one for a newly armed interval timer."""
        threads, armed_before = cast("tuple[list[threading.Thread], float]", before)
        findings = self._itimer_findings() if self._timers and not armed_before else []
        new = [thread for thread in _started_since(threads) if not self._allowed(thread)]
        if not new:
            return findings
        timers = [t for t in new if isinstance(t, threading.Timer)] if self._timers else []
        others = (
            [t for t in new if not isinstance(t, (threading.Timer, threading._DummyThread))]
            if self._threads
            else []
        )
        waiting = [t for t in timers if not t.finished.is_set() and t.interval > GRACE_SECONDS]
        ending = [t for t in timers if t not in waiting] + others
        left = settle(lambda: [t for t in ending if t.is_alive()])
        for thread in waiting + left:
            if isinstance(thread, threading.Timer):
                finding = _timer_finding(thread)
            else:
                finding = _thread_finding(thread)
            self._ledger.remember(finding, watch_object(thread, _ended, ""), thread)
            findings.append(finding)
        return findings

    def _allowed(self, thread: threading.Thread) -> bool:
        if self._allow.thread_name(thread.name):
            return True
        if isinstance(thread, threading.Timer):
            return self._allow.module(describe(thread.function))
        return self._allow.module(_target(thread))

    def _itimer_findings(self) -> list[Finding]:
        if sys.platform == "win32":
            return []
        value, interval = signal.getitimer(signal.ITIMER_REAL)
        if not value:
            return []
        handler = describe_signal_handler(signal.getsignal(signal.SIGALRM))
        if self._allow.module(handler):
            return []
        every = f", then every {interval:g} s" if interval else ""
        return [
            Finding(
                kind="timer",
                summary=f"signal.setitimer(ITIMER_REAL) left armed: SIGALRM in {value:.3g} s"
                f"{every}, handler {handler}",
                count=1,
                advice="disarm it in teardown: signal.setitimer(signal.ITIMER_REAL, 0)",
                extra={"seconds": value, "interval": interval, "handler": handler.dotted},
            )
        ]


def _timer_finding(timer: threading.Timer) -> Finding:
    callback = describe(timer.function)
    return Finding(
        kind="timer",
        summary=f"threading.Timer {timer.name!r} (interval {timer.interval:g} s, "
        f"callback {callback}) still pending after teardown",
        count=1,
        allocated_at=created_at(timer),
        advice=ADVICE["timer"],
        extra={"name": timer.name, "interval": timer.interval, "callback": callback.dotted},
    )
