"""Marker registration, a plugin of its own.

Registered through its own ``pytest11`` entry point, so ``-p no:memguard`` turns the
plugin off while ``@pytest.mark.memguard`` and ``no_memguard`` stay known to
``--strict-markers`` and harmless.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "memguard(**limits): guard this test's memory with these limits "
        "(retained, retained_objects, peak, rss_growth, gc_pause, gc_collections, repeat).",
    )
    config.addinivalue_line("markers", "no_memguard: do not guard this test under --memguard.")
