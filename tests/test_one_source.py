"""Facts written in one place; where text must repeat one, a test holds them together."""

from __future__ import annotations

import pytest

from pytest_memguard import config
from pytest_memguard.history.store import DEFAULT_PATH


def test_the_db_option_help_names_the_default_database(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help", "-p", "no:asyncio")
    help_text = " ".join(result.stdout.str().split())
    assert f"history database (default: {DEFAULT_PATH.as_posix()} under the rootdir)" in help_text


def test_option_helps_read_their_defaults_from_the_settings() -> None:
    """A default is written once, in Limits or Settings; the help texts read it there."""
    helps = {option.name: option.help_text for option in config._OPTIONS}
    assert helps["memguard_top"].endswith(f"(default: {config.Settings().top})")
    assert helps["memguard_repeat"].endswith(f"(default: {config.Limits().repeat})")
    assert helps["memguard_retained"].endswith("(default: 0 B)")
    assert helps["memguard_peak"].endswith("(default: off)")
    assert helps["memguard_chain_timeout"].endswith("(default: 2.00 s)")
    share = config.Settings().confirm_budget
    assert helps["memguard_confirm_budget"].endswith(f"(default: {share * 100:g} percent)")
    assert not any("(default:" in option.help for option in config._OPTIONS)
