"""File descriptors (files, pipes, sockets) opened during a test and still open after it."""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol, cast

from pytest_memguard.findings import ADVICE, Finding
from pytest_memguard.sentinels.blame import Ledger, watch_descriptor

_PROC_FD = "/proc/self/fd"
#: What shows when a leaked descriptor is closed in a later test, charged to its test.
_CLOSED_LATER = (
    "closed, by the garbage collector unless code closed it (ResourceWarning: 'unclosed ...')"
)


class OpenFd(NamedTuple):
    """An open descriptor as a backend names it: ``kind`` is ``file`` or ``socket``."""

    fd: int
    kind: str
    text: str


class FdBackend(Protocol):
    """How a platform counts, lists and names the process's open descriptors."""

    def count(self) -> int:
        """The number of open descriptors; cheap, called twice per test."""
        ...

    def listing(self) -> frozenset[int]:
        """The open descriptors this backend can name; called only when the count grew."""
        ...

    def named(self, fds: Iterable[int]) -> list[OpenFd]:
        """Name the given descriptors, skipping any closed meanwhile."""
        ...


class _ProcFdDir:
    """A descriptor on ``/proc/self/fd``, reopened in forked children.

    One per process: it stands for the process's own descriptor table, and an
    ``fstat`` on it costs a third of a ``stat`` by path.
    """

    def __init__(self) -> None:
        self.fd = os.open(_PROC_FD, os.O_RDONLY | os.O_DIRECTORY)
        # since Linux 6.2 the directory's size is the number of open descriptors
        self.sized = os.fstat(self.fd).st_size > 0
        os.register_at_fork(after_in_child=self._reopen)

    def _reopen(self) -> None:
        os.close(self.fd)  # it lists the parent's descriptors
        self.fd = os.open(_PROC_FD, os.O_RDONLY | os.O_DIRECTORY)


@functools.cache
def _proc_fd_dir() -> _ProcFdDir:
    return _ProcFdDir()


class ProcFds:
    """Linux: ``/proc/self/fd``, counted through a directory descriptor held open."""

    def __init__(self) -> None:
        self._dir = _proc_fd_dir()

    def count(self) -> int:
        """Open descriptors, the directory descriptor included."""
        if self._dir.sized:
            return os.fstat(self._dir.fd).st_size
        return len(os.listdir(_PROC_FD)) - 1  # listdir's own descriptor

    def listing(self) -> frozenset[int]:
        """Every open descriptor."""
        fds = sorted(map(int, os.listdir(_PROC_FD)))
        # listdir opened the lowest free number, and has closed it again
        for fd in fds:
            try:
                os.fstat(fd)
            except OSError:
                fds.remove(fd)
                break
        return frozenset(fds)

    def named(self, fds: Iterable[int]) -> list[OpenFd]:
        """Paths from ``readlink``; family, type and addresses for sockets."""
        found = []
        for fd in fds:
            try:
                target = os.readlink(f"{_PROC_FD}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:"):
                found.append(OpenFd(fd, "socket", _socket_text(fd) or target))
            else:
                found.append(OpenFd(fd, "file", target))
        return found


def _socket_text(fd: int) -> str:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return ""
    try:
        text = f"{_name(sock.family)} {_name(sock.type)} {_address(sock.getsockname())}"
        try:
            return f"{text} -> {_address(sock.getpeername())}"
        except OSError:
            return text
    finally:
        sock.detach()  # the descriptor belongs to the test's socket object


def _name(constant: object) -> str:
    """An enum member's name; Python returns a plain int for families it does not know."""
    return getattr(constant, "name", str(constant))


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) if address else "(unnamed)"


class PsutilFds:
    """Other POSIX systems: psutil counts descriptors and names regular files and sockets.

    Pipes, kqueues and other descriptors psutil does not list are only counted.
    """

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()

    def count(self) -> int:
        """``psutil.Process().num_fds()``."""
        return cast(int, self._process.num_fds())

    def listing(self) -> frozenset[int]:
        """The descriptors of regular files and sockets."""
        return frozenset(self._named())

    def named(self, fds: Iterable[int]) -> list[OpenFd]:
        """Paths from ``open_files()``, sockets from ``net_connections()``."""
        known = self._named()
        return [known[fd] for fd in fds if fd in known]

    def _named(self) -> dict[int, OpenFd]:
        found = {f.fd: OpenFd(f.fd, "file", f.path) for f in self._process.open_files()}
        connections = getattr(self._process, "net_connections", None) or self._process.connections
        for conn in connections(kind="all"):
            text = f"{_name(conn.family)} {_name(conn.type)} {_address(conn.laddr)}"
            if conn.raddr:
                text += f" -> {_address(conn.raddr)}"
            found[conn.fd] = OpenFd(conn.fd, "socket", text)
        found.pop(-1, None)  # psutil's "unknown descriptor"
        return found


def unavailable() -> str:
    """Why descriptors cannot be watched on this platform; empty where they can."""
    return "Windows has no cheap count of open descriptors" if sys.platform == "win32" else ""


def default_backend() -> FdBackend:
    """The cheapest backend for this platform (where ``unavailable()`` is empty)."""
    if sys.platform.startswith("linux") and os.path.isdir(_PROC_FD):
        return ProcFds()
    return PsutilFds()


class FdSentinel:
    """Descriptors opened during the test and still open: files and pipes (``file``), sockets.

    The count is compared first (one ``fstat`` on Linux); descriptors are listed and
    named only when it grew, against the listing of the last time the count changed.
    An unclosed asyncio event loop shows here as its selector (``anon_inode:[eventpoll]``)
    and self-pipe sockets. A test that closes one descriptor it did not open and leaks
    another leaves the count unchanged and is not reported.
    """

    def __init__(
        self,
        backend: FdBackend,
        files: bool = True,
        sockets: bool = True,
        ledger: Ledger | None = None,
    ) -> None:
        self._backend = backend
        self._ledger = ledger or Ledger()
        self._files = files
        self._sockets = sockets
        self.name = ",".join(name for name, on in (("file", files), ("socket", sockets)) if on)
        self._known_count = -1
        self._known: frozenset[int] = frozenset()

    def before(self) -> tuple[int, frozenset[int]]:
        """The descriptor count, and the listing last taken at that count."""
        count = self._backend.count()
        if count != self._known_count:
            self._known, self._known_count = self._backend.listing(), count
        return count, self._known

    def after(self, before: tuple[int, frozenset[int]]) -> list[Finding]:
        """One finding per new descriptor; one more counting those that cannot be named."""
        count_before, known = before
        count = self._backend.count()
        if count <= count_before:
            return []
        now = self._backend.listing()
        self._known, self._known_count = now, count
        new = sorted(now - known)
        wanted = {"file": self._files, "socket": self._sockets}
        findings = []
        for fd in self._backend.named(new):
            if wanted[fd.kind]:
                findings.append(_fd_finding(fd))
                self._ledger.remember(findings[-1], watch_descriptor(fd.fd, _CLOSED_LATER))
        unnamed = count - count_before - len(new)
        if unnamed > 0 and self._files:
            findings.append(
                Finding(
                    kind="file",
                    summary=f"{unnamed} more file descriptor(s) opened during the test and "
                    "still open (this platform cannot name them)",
                    count=unnamed,
                    advice="close them in teardown, or open them in with-blocks",
                )
            )
        return findings


def _fd_finding(fd: OpenFd) -> Finding:
    if fd.kind == "socket":
        what, advice = "socket", ADVICE["socket"]
    elif fd.text.startswith("pipe:"):
        what, advice = "pipe", "close both ends in teardown"
    elif fd.text == "anon_inode:[eventpoll]":
        what, advice = "epoll selector", "close its selector or asyncio event loop in teardown"
    else:
        what, advice = "file", ADVICE["file"]
    return Finding(
        kind=fd.kind,
        summary=f"{what} {fd.text} (fd {fd.fd}) still open after teardown",
        count=1,
        advice=advice,
        extra={"fd": fd.fd, "target": fd.text},
    )
