"""A guarded session's calls run in a wide data-stack chunk: no chunk mapped per crossing."""

from __future__ import annotations

import resource
from collections.abc import Callable

import pytest

from pytest_memguard.screen.datastack import FRAMES_IN_CHUNKS, call_on_wide_chunk

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


def _page_faults(work: Callable[[], object]) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    work()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_calls_on_the_wide_chunk_map_one_chunk_a_call() -> None:
    assert _most_page_faults(lambda: call_on_wide_chunk(_up_and_down)) < 50


def _deep_up_and_down() -> None:
    """Calls 800 to 899 deep, 200 times: across several chunk ends on a plain stack."""
    for depth in range(200):
        _descend(800 + depth % 100)


def test_calls_near_the_recursion_limit_stay_in_the_wide_chunk() -> None:
    """A test recursing as deep as the default recursion limit lets it never reaches the
    wide chunk's end: its pages are written once, not mapped again at every descent."""
    assert _page_faults(_deep_up_and_down) > 1000
    assert _page_faults(lambda: call_on_wide_chunk(_deep_up_and_down)) < 200


def test_the_call_returns_what_the_called_function_returns() -> None:
    assert call_on_wide_chunk(lambda: divmod(7, 2)) == (3, 1)
