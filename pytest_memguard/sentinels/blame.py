"""Blame: a leaked resource that surfaces in a later test is charged to the test that left it.

A pending task, a running thread or timer, an open file or socket left behind by test A
often shows only later: the task is destroyed during test B ("Task was destroyed but it
is pending!" in B's captured log), the file is closed by the garbage collector with a
``ResourceWarning`` under B, the thread allocates inside B's window. The sentinels
remember each resource they find leaked (:meth:`Ledger.remember`), with the test that
left it and where it was created; the window tells the ledger which test runs
(:meth:`Ledger.enter`, :meth:`Ledger.leave`) and lets it discount what threads older
than the window hold (:meth:`Ledger.discount_threads`). What surfaces becomes a
*charge*: plain data on the record of the test during which (or before which, when it
happened between tests) it surfaced, naming the test that created the resource. A
charge never changes a verdict.

The ledger is checked at window boundaries only: a test pays nothing for it while no
test has leaked anything, and one poll per remembered resource otherwise.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any, NamedTuple, TypeVar

from pytest_memguard.findings import Finding, Frame
from pytest_memguard.screen.heap import young_reachable
from pytest_memguard.screen.holders import values_and_items

#: Called at window boundaries: ``None`` while the resource is still leaked, ``""`` once
#: it was let go quietly (a task done, a thread ended: forget it), else how it surfaced.
Probe = Callable[[], "str | None"]

_T = TypeVar("_T")


class Provenance(NamedTuple):
    """Who left a resource behind: the leaked resource's finding, the test, the place."""

    kind: str
    summary: str
    created_by: str
    created_at: tuple[Frame, ...] = ()


@dataclass
class _Entry:
    provenance: Provenance
    probe: Probe
    thread: weakref.ref[threading.Thread] | None = None


def watch_object(obj: _T, released: Callable[[_T], bool], destroyed: str) -> Probe:
    """A probe for an object held weakly: ``destroyed`` once it is gone, ``""`` once
    ``released(obj)`` says it let its resource go."""
    ref = weakref.ref(obj)

    def probe() -> str | None:
        alive = ref()
        if alive is None:
            return destroyed
        return "" if released(alive) else None

    return probe


def watch_descriptor(fd: int, closed: str) -> Probe:
    """A probe for an open descriptor: ``closed`` once it is closed or reused."""
    identity = _identity(fd)

    def probe() -> str | None:
        if identity is None:
            return ""
        return None if _identity(fd) == identity else closed

    return probe


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


class Ledger:
    """Resources the sentinels found leaked, and the charges of those that surfaced."""

    def __init__(self) -> None:
        #: The node id of the test whose window is open, ``""`` between windows.
        self.running = ""
        self._entries: list[_Entry] = []
        self._charges: dict[tuple[Provenance, str], dict[str, Any]] = {}

    def remember(
        self, finding: Finding, probe: Probe, thread: threading.Thread | None = None
    ) -> None:
        """Charge what surfaces of this leaked resource to the running test.

        ``thread`` is the thread the finding is about, when it is one: what it holds
        in a later test's window is charged to this test.
        """
        if not self.running:
            return
        provenance = Provenance(finding.kind, finding.summary, self.running, finding.allocated_at)
        self._entries.append(
            _Entry(provenance, probe, weakref.ref(thread) if thread is not None else None)
        )

    def enter(self, nodeid: str) -> None:
        """A window opens for ``nodeid``: charge what surfaced since the last one closed."""
        self._poll("")
        self.running = nodeid

    def leave(self) -> None:
        """The window closed: charge what surfaced inside it to the test that ran."""
        nodeid, self.running = self.running, ""
        self._poll(nodeid)

    def held(self) -> list[object]:
        """The ledger's own objects, none of them a test's survivor."""
        if not (self._entries or self._charges):
            return []
        return [*self._entries, *self._charges.values()]

    def discount_threads(self, young: dict[int, object], held: set[int]) -> None:
        """Add to ``held`` the young objects that threads older than the window hold.

        A thread started before the window (its ``Thread`` object is not young) that
        allocates into its frames during the window did not do so for this test; when a
        test left that thread running, it is charged with what it holds.
        """
        frames = sys._current_frames()
        # Our own frame in a local dict would be a cycle keeping ``young`` alive.
        del frames[threading.get_ident()]
        for thread in threading.enumerate():
            top = frames.get(thread.ident or -1)
            if top is None or id(thread) in young:
                continue
            before = len(held)
            young_reachable(_frame_seeds(top), young, held)
            if len(held) > before:
                self._charge_thread(thread, len(held) - before)
            if len(held) == len(young):
                return

    def take_charges(self) -> list[dict[str, Any]]:
        """The charges since the last call, as plain data for a record."""
        if not self._charges:
            return []
        charges = list(self._charges.values())
        self._charges.clear()
        return charges

    def _poll(self, surfaced_in: str) -> None:
        if not self._entries:
            return
        kept = []
        for entry in self._entries:
            try:
                event = entry.probe()
            except Exception:  # a probe on a user object must never break a run
                event = ""
            if event is None:
                kept.append(entry)
            elif event:
                self._charge(entry.provenance, event, surfaced_in)
        self._entries[:] = kept

    def _charge_thread(self, thread: threading.Thread, objects: int) -> None:
        for entry in self._entries:
            if entry.thread is not None and entry.thread() is thread:
                event = f"held {objects} object(s) its thread allocated during the test"
                self._charge(entry.provenance, event, self.running)
                return

    def _charge(self, provenance: Provenance, event: str, surfaced_in: str) -> None:
        if provenance.created_by == surfaced_in:
            return  # surfaced in its own test (a repetition replacing the last one's)
        key = (provenance, event.split(" ", 1)[0])  # one charge per resource and kind of event
        charge = self._charges.get(key)
        if charge is not None:
            charge["count"] += 1
            return
        self._charges[key] = {
            "kind": provenance.kind,
            "summary": provenance.summary,
            "created_by": provenance.created_by,
            "created_at": [asdict(frame) for frame in provenance.created_at],
            "surfaced_in": surfaced_in,
            "event": event,
            "count": 1,
        }


def _frame_seeds(top: FrameType) -> Iterator[object]:
    """A thread's frames, their locals, and the items of containers among them."""
    frame: FrameType | None = top
    while frame is not None:
        local_vars = frame.f_locals
        yield frame
        yield local_vars
        yield from values_and_items(local_vars)
        frame = frame.f_back
