"""Where retained objects were allocated: tracemalloc tracebacks as user-code frames."""

from __future__ import annotations

import linecache
import os
import sys
import tracemalloc
from collections.abc import Iterable

import pytest_memguard
from pytest_memguard.findings import Frame
from pytest_memguard.pytest_internals import PYTEST_PACKAGES


def _framework_dirs() -> tuple[str, ...]:
    dirs = [os.path.dirname(os.path.abspath(pytest_memguard.__file__))]
    for name in PYTEST_PACKAGES:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)))
    return tuple(path + os.sep for path in dirs)


def allocated_at(candidates: Iterable[object]) -> list[Frame]:
    """Where tracemalloc saw the first of ``candidates`` it knows allocated, most recent
    call last, from user code; ``[]`` when tracing is off or none is known.

    Callers pass a group's representative first, then the members nearest its top:
    tracemalloc misses objects reused from a free list filled before tracing started
    and, on 3.11, instances with a managed ``__dict__`` (CPython gh-101430).
    """
    if not tracemalloc.is_tracing():
        return []
    traceback = next(
        (found for obj in candidates if (found := tracemalloc.get_object_traceback(obj))), None
    )
    return [] if traceback is None else traceback_frames(traceback)


def traceback_frames(traceback: tracemalloc.Traceback) -> list[Frame]:
    """A tracemalloc traceback as user-code frames, most recent call last."""
    framework = _framework_dirs()
    frames = list(traceback)
    ours = [not frame.filename.startswith(framework) for frame in frames]
    # Before the test's code come pytest's frames and whatever they call out to: its
    # launcher, plugins' hooks (xdist...). The test's code starts where pytest last calls out.
    start = max((at for at in range(1, len(frames)) if ours[at] and not ours[at - 1]), default=0)
    return [
        Frame(
            frame.filename,
            frame.lineno,
            line=linecache.getline(frame.filename, frame.lineno).strip(),
        )
        for frame, mine in zip(frames[start:], ours[start:], strict=True)
        # Generated code (a dataclass __init__ is "<string>") has no file to open.
        if mine and not frame.filename.startswith("<")
    ]
