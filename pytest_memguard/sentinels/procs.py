"""Child processes started during a test and still running after its teardown."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import cast

from pytest_memguard.findings import ADVICE, Finding
from pytest_memguard.sentinels.base import settle

_TASKS = "/proc/self/task"
_LOADAVG = "/proc/loadavg"
_WAIT_FLAGS = getattr(os, "WEXITED", 0) | getattr(os, "WNOHANG", 0) | getattr(os, "WNOWAIT", 0)


def _waitid_has_children() -> bool:
    """One ``waitid`` call that reaps nothing: false when the process has no child."""
    try:
        os.waitid(os.P_ALL, 0, _WAIT_FLAGS)
    except ChildProcessError:
        return False
    return True


def _waitid_running(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, _WAIT_FLAGS) is None
    except ChildProcessError:  # already reaped
        return False


def _proc_children() -> frozenset[int]:
    """Direct children from ``/proc/self/task/*/children`` (exited ones included)."""
    pids: list[int] = []
    for tid in os.listdir(_TASKS):
        try:
            with open(f"{_TASKS}/{tid}/children", "rb", buffering=0) as listing:
                pids.extend(map(int, listing.read().split()))
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return frozenset(pids)


class _LastPid:
    """The last process (or thread) id the kernel gave out in this pid namespace, read
    from ``/proc/loadavg`` through a descriptor opened once, at set-up (outside any
    window, so the file sentinel counts it as the process's own): when two reads give
    the same id, no process was created between them. None where it cannot be read, and
    from the first read that fails on (a test that closes every descriptor): it is never
    opened again, nor closed, since its number may be another file's by then. One per
    process (:func:`_last_pid`): every sentinel built shares its descriptor."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open(_LOADAVG, os.O_RDONLY)
        except OSError:
            self._fd = None

    def read(self) -> int | None:
        if self._fd is None:
            return None
        try:
            fields = os.pread(self._fd, 256, 0).split()
            if b"/" in fields[3]:  # "runnable/total": the file is still the kernel's
                return int(fields[4])
        except (OSError, ValueError, IndexError):
            pass
        self._fd = None
        return None


@functools.cache
def _last_pid() -> _LastPid:
    return _LastPid()


def _psutil_children() -> frozenset[int]:
    import psutil

    return frozenset(child.pid for child in psutil.Process().children())


def _psutil_running(pid: int) -> bool:
    import psutil

    try:
        status: str = psutil.Process(pid).status()
    except psutil.Error:
        return False
    return status != str(psutil.STATUS_ZOMBIE)


def _cmdline(pid: int) -> str:
    import psutil

    try:
        text = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return "?"
    return text if len(text) <= 200 else text[:197] + "..."


class SubprocessSentinel:
    """Direct child processes started during the test and running after a grace period.

    Covers ``subprocess``, ``multiprocessing``, ``os.fork`` and ``os.posix_spawn``
    children alike; an exited but unreaped child (a zombie) is not reported. Not
    covered: grandchildren, and daemons that detached from this process. While the
    process has no child at all, ``after`` costs one ``waitid`` call and ``before``
    nothing: it returns the children seen last, so a child started between tests,
    outside any window, is blamed on the next test. While it has one (a zombie a test
    left unreaped, for the rest of the session), the children are listed again only
    when the kernel gave out a process id since the last listing: one read of
    ``/proc/loadavg`` instead of a file per thread.
    """

    name = "subprocess"

    def __init__(self) -> None:
        has_waitid = hasattr(os, "waitid")
        self._has_children: Callable[[], bool] = (
            _waitid_has_children if has_waitid else lambda: True
        )
        self._running: Callable[[int], bool] = _waitid_running if has_waitid else _psutil_running
        on_proc = os.path.exists(f"{_TASKS}/{os.getpid()}/children")
        self._children: Callable[[], frozenset[int]] = (
            _proc_children if on_proc else _psutil_children
        )
        self._last_pid = _last_pid()
        #: The last process id given out before ``_known`` was listed (None: not known).
        self._listed_at: int | None = None
        self._known = self._listed() if self._has_children() else frozenset()

    def _listed(self) -> frozenset[int]:
        """The children now. The last process id is read first: a child made between
        the two reads is listed, and the next check lists again."""
        self._listed_at = self._last_pid.read()
        return self._children()

    def before(self) -> object:
        """The children seen at the last check."""
        return self._known

    def after(self, before: object) -> list[Finding]:
        """One finding per new child still running after the grace period."""
        if not self._has_children():
            self._known, self._listed_at = frozenset(), None
            return []
        if self._listed_at is None or self._last_pid.read() != self._listed_at:
            self._known = self._listed()
        new = sorted(self._known - cast("frozenset[int]", before))
        return [_child_finding(pid) for pid in settle(lambda: [p for p in new if self._running(p)])]


def _child_finding(pid: int) -> Finding:
    cmdline = _cmdline(pid)
    return Finding(
        kind="subprocess",
        summary=f"child process {pid} ({cmdline}) still running after teardown",
        count=1,
        advice=ADVICE["subprocess"],
        extra={"pid": pid, "cmdline": cmdline},
    )
