"""Hooks pytest-memguard offers to projects (registered in ``pytest_addoption``)."""

from __future__ import annotations

import pytest


@pytest.hookspec
def pytest_memguard_registries() -> object:
    """Return the project's registries of callables, to catch listeners a test leaves.

    A registry is a dict, list, set, tuple or deque of callables (nested ones too,
    such as a dict of lists), or an object holding such containers in its
    attributes: an event emitter, a blinker or Django signal. Return one registry,
    a dict ``{"label": registry}`` to name them in findings, or a list of
    registries; ``None`` watches nothing. Called once, at the first guarded test's
    snapshot (so the project's modules are imported by then); a callable added to a
    registry during a test and still there after its teardown is a ``listener``
    finding naming the registry.

    Example, in ``conftest.py``::

        def pytest_memguard_registries():
            from app.events import bus
            return {"app bus": bus._listeners}
    """
    raise NotImplementedError  # a specification: only implementations are called
