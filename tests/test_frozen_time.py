"""freezegun is told to leave the plugin's modules and clocks alone, before any test
module makes a ``freeze_time`` (a stand-in freezegun records what it is told)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_memguard.frozen_time import WhenImported

RunPytest = Callable[..., pytest.RunResult]

#: Reads its ignore list when a freeze is made, as freezegun does.
STAND_IN = """
IGNORE = ["_pytest.runner."]


def configure(extend_ignore_list=None):
    IGNORE.extend(extend_ignore_list or [])


def freeze_time(when):
    ignore = tuple(IGNORE)

    def decorate(function):
        function.ignored = ignore
        return function

    return decorate
"""

FROZEN_TESTS = """
from freezegun import freeze_time


@freeze_time("2020-02-02")
def test_frozen():
    pass


def test_the_freeze_leaves_the_plugin_alone():
    assert "pytest_memguard" in test_frozen.ignored
"""


@pytest.mark.parametrize("first_import", ["test module", "conftest"])
def test_freezegun_ignores_the_plugin_from_the_first_freeze(
    pytester: pytest.Pytester, run_pytest: RunPytest, first_import: str
) -> None:
    """Imported first by the test module that freezes (configured as it is imported) or
    by a conftest (configured at once)."""
    pytester.makepyfile(**{"freezegun/__init__": STAND_IN, "test_frozen": FROZEN_TESTS})
    if first_import == "conftest":
        pytester.makeconftest("import freezegun\n")
    result = run_pytest("--memguard", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_module_is_handed_over_once_it_has_run(tmp_path: Path) -> None:
    (tmp_path / "late_module.py").write_text("VALUE = 42\n")
    seen: list[int] = []
    finder = WhenImported("late_module", lambda module: seen.append(module.VALUE))
    sys.path.insert(0, str(tmp_path))
    sys.meta_path.insert(0, finder)
    try:
        import late_module  # noqa: F401

        assert seen == [42]
        assert finder not in sys.meta_path  # it leaves after the one import
    finally:
        finder.stop()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("late_module", None)
