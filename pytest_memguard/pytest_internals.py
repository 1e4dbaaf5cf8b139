"""Every private pytest name pytest-memguard touches, and nothing else does.

pytest offers no public way to run an item without logging it, to tear down to a
given node, or to list what it keeps per item. The plugin reads those through the
functions below. ``PRIVATE_NAMES`` lists each private attribute they rely on, and a
test asserts that every one exists on the installed pytest: an upgrade that renames
one fails loudly there instead of quietly turning clean tests into suspects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

#: The top-level packages pytest is made of: their objects are the runner's, never a test's.
PYTEST_PACKAGES = ("pytest", "_pytest", "pluggy")

#: ``(owner, attribute)`` of every private name used here: the owner is a class, or a
#: module path for module-level functions. Instance attributes are checked on live objects.
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    ("_pytest.runner", "runtestprotocol"),
    ("_pytest.runner.SetupState", "stack"),
    ("_pytest.runner.SetupState", "teardown_exact"),
    ("pytest.Session", "_setupstate"),
    ("pytest.Session", "gethookproxy"),
    ("pytest.Stash", "_storage"),
    ("pytest.Function", "_fixtureinfo"),
    ("_pytest.fixtures.FuncFixtureInfo", "name2fixturedefs"),
    ("pytest.FixtureDef", "cached_result"),
    ("pytest.Config", "_store"),
)


def run_unlogged(item: pytest.Item, nextitem: Any) -> list[Any]:
    """Run ``item``'s setup, call and teardown down to ``nextitem``; return the reports
    without logging them."""
    return runtestprotocol(item, False, nextitem)


def needs_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """Whether the setup stack holds nodes ``nextitem`` does not descend from. The stack
    is one chain, set up from the session down: none needs tearing down when its
    deepest node is ``nextitem`` or one of its parents (a walk up of a step or two,
    where listing ``nextitem``'s chain cost every test a list of all its parents)."""
    stack = item.session._setupstate.stack
    if not stack:
        return False
    deepest = next(reversed(stack))
    node: pytest.Item | pytest.Collector | None = nextitem
    while node is not None:
        if node is deepest:
            return False
        node = node.parent
    return True


def teardown_to(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Tear down the setup stack to what ``nextitem`` needs (all of it for None)."""
    item.session._setupstate.teardown_exact(nextitem)


def setup_stack_finalizers(session: pytest.Session) -> list[list[object]]:
    """The finalizer lists on the setup stack, one per node set up."""
    stack = getattr(getattr(session, "_setupstate", None), "stack", None)
    if not isinstance(stack, dict):
        return []
    return [list(entry[0]) for entry in list(stack.values())]


def made_instance(item: pytest.Item) -> object | None:
    """The test-class instance pytest made for ``item`` and keeps on it, else None; read
    without making one (``item.instance`` would make it). pytest 9 keeps it in the
    item's ``_instance`` and drops it at a unittest case's teardown; an item without
    that attribute (pytest 8.0, a function) has none to drop."""
    return vars(item).get("_instance")


def stash_values(node: pytest.Item) -> list[object]:
    """What plugins keep in a node's stash."""
    storage = getattr(node.stash, "_storage", None)
    return list(storage.values()) if isinstance(storage, dict) else []


def fixture_defs(item: pytest.Item) -> list[Any]:
    """Every fixture definition the item's fixture closure may use."""
    info = getattr(item, "_fixtureinfo", None)
    name2fixturedefs = getattr(info, "name2fixturedefs", None) or {}
    return [fixturedef for defs in list(name2fixturedefs.values()) for fixturedef in defs]


def cached_value(fixturedef: Any) -> tuple[bool, object]:
    """``(True, value)`` when the fixture definition holds a value, else ``(False, None)``."""
    cached = getattr(fixturedef, "cached_result", None)
    return (True, cached[0]) if cached else (False, None)


def config_store(config: pytest.Config) -> object | None:
    """The config's private stash, where some plugins keep session state."""
    return getattr(config, "_store", None)


@contextmanager
def hook_proxy_wrapped(session: pytest.Session, wrap: Callable[[Any], Any]) -> Iterator[None]:
    """Route every ``node.ihook`` lookup through ``wrap(real_proxy)`` inside the block:
    hooks called during a run (``pytest_runtest_logreport`` of subtests) go through it."""
    real = session.gethookproxy
    session.gethookproxy = lambda fspath: wrap(real(fspath))  # type: ignore[method-assign]
    try:
        yield
    finally:
        del session.gethookproxy
