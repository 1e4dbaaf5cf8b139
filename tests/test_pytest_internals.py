"""Every private pytest name the plugin uses exists on the installed pytest."""

from __future__ import annotations

import importlib

import pytest

from pytest_memguard import pytest_internals


def _owner(path: str) -> object:
    module, _, name = path.rpartition(".")
    try:
        return importlib.import_module(path)
    except ImportError:
        return getattr(importlib.import_module(module), name)


@pytest.fixture
def live_value() -> int:
    return 1


@pytest.mark.parametrize(("owner", "name"), pytest_internals.PRIVATE_NAMES)
def test_private_name_exists(
    request: pytest.FixtureRequest, live_value: int, owner: str, name: str
) -> None:
    target = _owner(owner)
    live = {
        "Session": request.session,
        "Function": request.node,
        "Config": request.config,
        "Stash": request.node.stash,
        "SetupState": request.session._setupstate,
        "FuncFixtureInfo": request.node._fixtureinfo,
        "FixtureDef": request.node._fixtureinfo.name2fixturedefs["live_value"][-1],
    }
    instance = live.get(owner.rpartition(".")[2])
    assert hasattr(target, name) or (instance is not None and hasattr(instance, name)), (
        f"pytest {pytest.__version__} has no {owner}.{name}: update pytest_internals.py"
    )


def test_the_accessors_read_a_live_session(request: pytest.FixtureRequest, live_value: int) -> None:
    defs = pytest_internals.fixture_defs(request.node)
    assert any(pytest_internals.cached_value(fixturedef) == (True, 1) for fixturedef in defs)
    assert any(pytest_internals.setup_stack_finalizers(request.session))
    assert pytest_internals.config_store(request.config) is not None


def test_a_teardown_is_needed_unless_the_next_item_descends_from_the_whole_stack(
    request: pytest.FixtureRequest,
) -> None:
    item = request.node
    # While a test runs, the stack reaches down to it.
    assert not pytest_internals.needs_teardown(item, item)
    assert pytest_internals.needs_teardown(item, item.parent)
    assert pytest_internals.needs_teardown(item, None)


class TestTheInstancePytestMade:
    """pytest 8.2+ keeps the test-class instance it made on the item (``_instance``):
    the window keeps it weakly, to tell what a dropped unittest case still holds."""

    @pytest.mark.skipif(pytest.version_tuple < (8, 2), reason="pytest 8.2 made _instance")
    def test_is_read_without_making_one(self, request: pytest.FixtureRequest) -> None:
        assert pytest_internals.made_instance(request.node) is self


def test_a_function_has_no_instance_made(request: pytest.FixtureRequest) -> None:
    assert pytest_internals.made_instance(request.node) is None
