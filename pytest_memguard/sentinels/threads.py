"""Threads and timers started during a test and still alive after its teardown."""

from __future__ import annotations

import signal
import sys
import threading

from pytest_memguard.findings import ADVICE, Finding
from pytest_memguard.sentinels.base import (
    ALLOW_NONE,
    GRACE_SECONDS,
    Allow,
    Described,
    created_at,
    describe,
    describe_signal_handler,
    raw_getsignal,
    settle,
)
from pytest_memguard.sentinels.blame import Ledger, watch_object


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


#: Who runs: the number of threads starting and started, and the newest started one.
_Fingerprint = tuple[int, int, "threading.Thread | None"]


def _fingerprint() -> _Fingerprint:
    """O(1): a thread started since an earlier fingerprint and still alive changes it.

    ``threading._active`` is a dict in insertion order: a new thread that is still
    alive is at its end, or a later one is, so the newest entry differs; one still
    starting is counted in ``threading._limbo``.
    """
    active = threading._active  # type: ignore[attr-defined]
    try:
        newest = active[next(reversed(active))] if active else None
    except (KeyError, RuntimeError, StopIteration):  # changed by another thread meanwhile
        newest = None
    return len(active), len(threading._limbo), newest  # type: ignore[attr-defined]


def _started_since(before: list[threading.Thread]) -> list[threading.Thread]:
    old = set(before)
    return [thread for thread in threading.enumerate() if thread not in old]


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


_SIGALRM = getattr(signal, "SIGALRM", None)


def _itimer_real() -> float:
    """Seconds left on ``ITIMER_REAL``; 0 without a SIGALRM handler, so no system call.

    An armed timer whose SIGALRM keeps the default action ends the process when it
    fires; every use of ``setitimer`` installs a handler first.
    """
    if _SIGALRM is None or raw_getsignal(_SIGALRM) == signal.SIG_DFL:
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
        self._known: _Fingerprint | None = None
        self._listed: list[threading.Thread] = []

    def before(self) -> tuple[_Fingerprint, list[threading.Thread], float]:
        """The thread table's fingerprint, the threads listed when it last changed, and
        the seconds left on ``ITIMER_REAL``."""
        known = _fingerprint()
        if known != self._known:
            self._known, self._listed = known, threading.enumerate()
        return known, self._listed, _itimer_real() if self._timers else 0.0

    def after(self, before: tuple[_Fingerprint, list[threading.Thread], float]) -> list[Finding]:
        """One finding per new thread or pending timer, one for a newly armed interval timer."""
        known, threads, armed_before = before
        findings = self._itimer_findings() if self._timers and not armed_before else []
        if _fingerprint() == known:
            return findings
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
        if not _itimer_real():
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
