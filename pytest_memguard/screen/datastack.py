"""Running a guarded session's test loop in a wide data-stack chunk (CPython 3.11+).

CPython 3.11 and later keep the frames of Python calls on a per-thread data stack,
which they map in chunks (16 KiB) and unmap as soon as the call that opened a chunk
returns. A test whose calls go up and down across a chunk's end (hypothesis drawing
examples, a recursive-descent parser) maps and unmaps a chunk on every crossing, about
12 us each here, and where the ends fall depends on how deep the test starts: the
plugin's frames below it move them (pyparsing's suite made 196,184 mappings plain and
334,967 guarded), and even a shallow test crossed one end per run once guarded.

:func:`call_on_wide_chunk` calls through a frame that reserves more value stack than
half a MiB: CPython maps a chunk of 1 MiB for it (a frame gets at least 1,000 words of
room beyond its own size, and chunks come in powers of two), and every call made from
it runs in the 516 KiB left above the reserve, which is never written to (nor, untouched,
made resident). The guarded session's test loop runs there: one mapping for the whole
session, and the tests' calls reach the end of the chunk only past about three thousand
frames, beyond the default recursion limit. CPython 3.10 allocates each frame on its own,
so there the call goes straight through.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TypeVar

_Result = TypeVar("_Result")

#: Words of value stack the calling frame reserves: with the 1,000 words of headroom
#: CPython 3.11-3.13 add, more than 512 KiB, so the chunk mapped for it is 1 MiB.
RESERVED_WORDS = 65_000

#: Whether frames live on a data stack mapped in chunks (the frame evaluation of 3.11+).
FRAMES_IN_CHUNKS = sys.version_info >= (3, 11)


def call_on_wide_chunk(call: Callable[[], _Result]) -> _Result:
    """``call()``, run in a data-stack chunk of 1 MiB where frames live in chunks."""
    return call()


if FRAMES_IN_CHUNKS:
    # Only the stack size changes: the reserve lies above the frame's one local, and
    # nothing but CPython's reckoning of the room a frame needs reads it. An interpreter
    # that refuses it calls straight through, as 3.10 does.
    with contextlib.suppress(Exception):
        call_on_wide_chunk.__code__ = call_on_wide_chunk.__code__.replace(
            co_stacksize=RESERVED_WORDS
        )
