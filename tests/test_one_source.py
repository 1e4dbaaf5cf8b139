"""Facts written in one place; where text must repeat one, a test holds them together."""

from __future__ import annotations

import pytest

from pytest_memguard.history.store import DEFAULT_PATH


def test_the_db_option_help_names_the_default_database(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help", "-p", "no:asyncio")
    help_text = " ".join(result.stdout.str().split())
    assert f"history database (default: {DEFAULT_PATH.as_posix()} under the rootdir)" in help_text
