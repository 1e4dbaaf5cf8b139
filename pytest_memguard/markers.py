"""What stays registered under ``-p no:memguard``: options, ini keys, hooks, markers, fixture.

A plugin of its own, through its own ``pytest11`` entry point, so that ``-p no:memguard``
turns the guarding off in a project whose ini file says ``addopts = --memguard`` or
``memguard = true``: the options and ini keys stay known (no "unrecognized arguments"),
``@pytest.mark.memguard`` and ``no_memguard`` stay known to ``--strict-markers``, a
conftest's ``pytest_memguard_registries`` stays a known hook, and a test that asks for
the ``memguard`` fixture is skipped, saying why, instead of erroring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pytest

from pytest_memguard import hookspecs
from pytest_memguard.config import add_options

if TYPE_CHECKING:
    from pytest_memguard.fixture import MemguardFixture
    from pytest_memguard.plugin import MemguardSession

#: The name the session plugin (:mod:`pytest_memguard.plugin`) registers under.
SESSION_PLUGIN = "memguard-session"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "memguard(**limits): guard this test's memory with these limits "
        "(retained, retained_objects, peak, rss_growth, gc_pause, gc_collections, repeat).",
    )
    config.addinivalue_line("markers", "no_memguard: do not guard this test under --memguard.")


@pytest.fixture
def memguard(request: pytest.FixtureRequest) -> MemguardFixture:
    """Measure memory inside a test: ``with memguard.watch(retained="1 KiB") as w: ...``."""
    session = request.config.pluginmanager.get_plugin(SESSION_PLUGIN)
    if session is None:
        pytest.skip("pytest-memguard is disabled (-p no:memguard)")
    return cast("MemguardSession", session).fixture(request)
