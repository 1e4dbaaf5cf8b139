"""The RSS probe: /proc/self/statm where it exists, psutil elsewhere, the same figure."""

from __future__ import annotations

import os

import pytest

from pytest_memguard.screen.heap import RssProbe


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_without_proc_the_probe_reads_the_same_rss_through_psutil() -> None:
    probe = RssProbe()
    from_proc = probe.rss()
    probe._statm = None  # what a system without /proc/self/statm gives
    from_psutil = probe.rss()
    assert from_proc > 0
    assert abs(from_psutil - from_proc) < 16 * 1024 * 1024
