"""In-process tests of the heap model's helpers: the RSS probe and the survivors' filters."""

from __future__ import annotations

import os
import sys
import types

import pytest

from pytest_memguard.screen.heap import RssProbe, top_objects, without_running_frames


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_without_proc_the_probe_reads_the_same_rss_through_psutil() -> None:
    probe = RssProbe()
    from_proc = probe.rss()
    probe._statm = None  # what a system without /proc/self/statm gives
    from_psutil = probe.rss()
    assert from_proc > 0
    assert abs(from_psutil - from_proc) < 16 * 1024 * 1024


def test_frames_of_running_functions_are_not_the_tests() -> None:
    """A stack walk inside the window makes frame objects of pytest's and the plugin's
    running callers; a finished frame the test kept is the test's."""

    def finished() -> types.FrameType:
        return sys._getframe()

    kept = finished()
    running = sys._getframe()
    value = {"made": "by the test"}
    assert without_running_frames([running, kept, value]) == [kept, value]
    no_frames: list[object] = [value]
    assert without_running_frames(no_frames) is no_frames


class _SelfBinding:
    """A cache that binds its own methods, as pyparsing's ``_FifoCache`` does: a cycle."""

    def __init__(self) -> None:
        self.get = self.lookup

    def lookup(self) -> None: ...


def test_a_cycle_no_other_object_reaches_has_its_first_object_as_top() -> None:
    tree = {"leaf": [1]}
    cache = _SelfBinding()
    objs: list[object] = [tree, tree["leaf"], cache, vars(cache), cache.get]
    tops = top_objects(objs)
    assert tops[0] is tree
    assert tops[1] is cache
    assert len(tops) == 2
