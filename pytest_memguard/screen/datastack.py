"""Running a test's calls in a data-stack chunk of their own (CPython 3.11+).

CPython 3.11 and later keep the frames of Python calls on a per-thread data stack,
which they map in chunks (16 KiB) and unmap as soon as the call that opened a chunk
returns. A test whose calls go up and down across a chunk's end (hypothesis drawing
examples, a recursive-descent parser) maps and unmaps a chunk on every crossing, about
10 us each. Where the ends fall depends on how deep the test starts, and the plugin's
frames below it move it: attrs' hypothesis tests made 82,552 mappings guarded and
32,208 under plain pytest.

:func:`call_on_own_chunk` calls through a frame that reserves more value stack than a
16 KiB chunk holds: CPython maps a 64 KiB chunk for it (a frame gets at least 1,000
words of room beyond its own size), and the test's calls run in the 40 KB left above
the reserve, which is never written to. Most tests never leave that chunk: one mapping
a run, whatever their depth. CPython 3.10 allocates each frame on its own, so there
the call goes straight through.

Opening the chunk costs about 11 us (a system call to map it, one to unmap it, two
page faults): :class:`OwnChunks` keeps it for the runs that can pay, the tests of a
module whose last run took a millisecond or more (a shorter run cannot have crossed a
chunk's end many times), and a suspect's repetitions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

_First = TypeVar("_First")
_Second = TypeVar("_Second")
_Result = TypeVar("_Result")

#: Words of value stack the calling frame reserves: over 3,096 (with the 1,000 words of
#: headroom, more than 32 KiB), CPython 3.11-3.13 map a chunk of 64 KiB for it.
RESERVED_WORDS = 3100

#: Whether frames live on a data stack mapped in chunks (the frame evaluation of 3.11+).
FRAMES_IN_CHUNKS = sys.version_info >= (3, 11)


def call_on_own_chunk(
    call: Callable[[_First, _Second], _Result], first: _First, second: _Second
) -> _Result:
    """``call(first, second)``, run in a data-stack chunk of its own where frames live in
    chunks."""
    return call(first, second)


if FRAMES_IN_CHUNKS:
    # Only the stack size changes: the reserve lies above the frame's three locals, and
    # nothing but CPython's reckoning of the room a frame needs reads it.
    call_on_own_chunk.__code__ = call_on_own_chunk.__code__.replace(co_stacksize=RESERVED_WORDS)


#: A test module's last run at least this long (seconds): its next tests run on a chunk
#: of their own. Opening one costs about 1 % of such a run.
OWN_CHUNK_SECONDS = 0.001


class OwnChunks:
    """Which screened runs go on a data-stack chunk of their own: those of a test module
    whose last run took :data:`OWN_CHUNK_SECONDS` or more."""

    def __init__(self) -> None:
        self._long_runs: dict[str, bool] = {}

    def wanted(self, nodeid: str) -> bool:
        """Whether the run of ``nodeid`` goes on a chunk of its own."""
        return self._long_runs.get(_module_of(nodeid), False)

    def ran(self, nodeid: str, seconds: float) -> None:
        """The run of ``nodeid`` took ``seconds``."""
        self._long_runs[_module_of(nodeid)] = seconds >= OWN_CHUNK_SECONDS


def _module_of(nodeid: str) -> str:
    return nodeid.partition("::")[0]
