"""What a chain search stops at: modules, classes, live threads' locals, labelled holders."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Collection
from dataclasses import dataclass
from types import FrameType, ModuleType

from pytest_memguard.screen.heap import HEAPTYPE, is_a, with_subclasses

#: Kinds of root, in order of preference among roots at the same distance.
ROOTS = ("module", "class", "thread", "holder", "sys")
MODULE, CLASS, THREAD, HOLDER, SYS = range(len(ROOTS))


@dataclass
class Roots:
    """What a search stops at, looked up by id."""

    modules: dict[int, ModuleType]  # id(module.__dict__) -> module
    classes: dict[int, type]  # id(class dict) -> class
    thread_locals: dict[int, str]  # id(value) -> "Thread 'x' frame f() local y"
    # Keeps the locals alive so that their ids are not reused while a search runs.
    pinned: list[object]
    #: Ids of the objects the explained run made: none of them is a root.
    made: frozenset[int] = frozenset()

    @classmethod
    def collect(cls, made: Collection[int] = ()) -> Roots:
        """The roots of the heap now; a class or module whose id is in ``made`` (the
        explained run made it) is none: it lives only as long as what holds it (a cache
        keyed by a class, ``sys.modules`` keeping a module made by hand), whatever its
        own attributes refer to."""
        made = frozenset(made)
        modules = {
            id(vars(module)): module
            for module in list(sys.modules.values())
            if is_a(module, ModuleType) and id(module) not in made
        }
        classes = _class_dicts()
        if made:
            classes = {key: found for key, found in classes.items() if id(found) not in made}
        pinned: list[object] = []
        return cls(modules, classes, _thread_locals(pinned), pinned, made)

    def container_ids(self) -> set[int]:
        return {id(self.modules), id(self.classes), id(self.pinned), id(self.made)}


def _class_dicts() -> dict[int, type]:
    found: dict[int, type] = {}
    for cls in with_subclasses([object]):
        if cls.__flags__ & HEAPTYPE:
            # A class's __dict__ is a read-only proxy; the proxy refers to the real dict.
            found[id(gc.get_referents(cls.__dict__)[0])] = cls
    return found


def _thread_locals(pinned: list[object]) -> dict[int, str]:
    """Labels for the locals of every other thread's frames, the outermost frame winning.

    On 3.11+ a running frame's locals are invisible to ``gc.get_referrers``, so a live
    thread's stack is a root to look up, not a referrer to find.
    """
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    labels: dict[int, str] = {}
    frames = sys._current_frames()
    # Our own frame, held by that dict, would be a cycle keeping every pinned object alive
    # (the tests' resources too) until a full collection, long after this window.
    del frames[threading.get_ident()]
    for ident, top in frames.items():
        thread = f"Thread {names[ident]!r}" if ident in names else f"Thread {ident}"
        frame: FrameType | None = top
        while frame is not None:
            for name, value in frame.f_locals.items():
                labels[id(value)] = f"{thread} frame {frame.f_code.co_name}() local {name}"
                pinned.append(value)
            frame = frame.f_back
    return labels
