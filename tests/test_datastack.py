"""A test's calls run in a data-stack chunk of their own: no chunk mapped per crossing."""

from __future__ import annotations

import resource
from collections.abc import Callable

import pytest

from pytest_memguard.screen.datastack import (
    FRAMES_IN_CHUNKS,
    OWN_CHUNK_SECONDS,
    OwnChunks,
    call_on_own_chunk,
)

pytestmark = pytest.mark.skipif(
    not FRAMES_IN_CHUNKS, reason="frames live on a data stack in chunks from CPython 3.11"
)


def _descend(depth: int) -> int:
    return 0 if depth == 0 else _descend(depth - 1) + 1


def _up_and_down() -> None:
    """Calls 0 to 99 deep, 2,000 times: across a chunk's end if one lies in that range."""
    for depth in range(2000):
        _descend(depth % 100)


def _started_deeper(depth: int, work: Callable[[], object]) -> object:
    return work() if depth == 0 else _started_deeper(depth - 1, work)


def _most_page_faults(work: Callable[[], object]) -> int:
    """The most minor page faults ``work`` caused, started at depths spanning a chunk:
    a chunk CPython maps for a frame is new memory, faulted in when first written."""
    most = 0
    for depth in range(0, 240, 6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        _started_deeper(depth, work)
        most = max(most, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return most


def test_calls_crossing_a_chunk_end_map_a_chunk_each_time() -> None:
    """What the plugin prevents: at some starting depth the calls cross a chunk's end,
    and every crossing maps a new chunk."""
    assert _most_page_faults(_up_and_down) > 1000


def test_calls_on_a_chunk_of_their_own_map_one_chunk_a_run() -> None:
    def on_own_chunk() -> None:
        call_on_own_chunk(lambda first, second: _up_and_down(), None, None)

    assert _most_page_faults(on_own_chunk) < 50


def test_the_call_returns_what_the_called_function_returns() -> None:
    assert call_on_own_chunk(divmod, 7, 2) == (3, 1)


def test_a_module_s_runs_go_on_their_own_chunk_once_one_took_a_millisecond() -> None:
    """Opening a chunk costs about 11 us: worth it for runs long enough to have crossed
    a chunk's end many times, judged by the module's last run."""
    chunks = OwnChunks()
    assert not chunks.wanted("tests/test_parse.py::test_first")
    chunks.ran("tests/test_parse.py::test_first", OWN_CHUNK_SECONDS)
    assert chunks.wanted("tests/test_parse.py::TestGrammar::test_second[1]")
    assert not chunks.wanted("tests/test_other.py::test_first")
    chunks.ran("tests/test_parse.py::test_quick", OWN_CHUNK_SECONDS / 10)
    assert not chunks.wanted("tests/test_parse.py::test_after_a_quick_one")
