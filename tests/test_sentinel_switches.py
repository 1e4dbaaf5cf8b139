"""Sentinel switches: one parser for the command line, the ini key and the plugin."""

from __future__ import annotations

from typing import cast

import pytest

from pytest_memguard.markers import SESSION_PLUGIN
from pytest_memguard.plugin import MemguardSession
from pytest_memguard.sentinels import parse_sentinel_switches, sentinel_switches

#: In-process runs read no ini of ours: pytest-asyncio would warn that its loop scope is unset.
QUIET_PLUGINS = ("-p", "no:asyncio")


@pytest.mark.parametrize(
    ("text", "off"),
    [
        ("+socket", set()),
        ("-socket", {"socket"}),
        ("-socket,+socket", set()),
        ("+socket -socket", {"socket"}),
        ("-socket, -atexit", {"socket", "atexit"}),
        ("", set()),
    ],
)
def test_switches_are_applied_in_order(text: str, off: set[str]) -> None:
    assert parse_sentinel_switches(text) == off


def test_ini_lines_are_switches_too() -> None:
    assert sentinel_switches(["-socket,+thread", "-atexit"]) == ("-socket", "+thread", "-atexit")


@pytest.mark.parametrize(
    ("args", "off"),
    [
        (("--memguard-sentinels=+socket",), frozenset()),
        (("--memguard-sentinels=-socket",), frozenset({"socket"})),
        ((), frozenset({"socket"})),  # the ini's
    ],
)
def test_the_session_gets_what_the_switches_say(
    pytester: pytest.Pytester, args: tuple[str, ...], off: frozenset[str]
) -> None:
    pytester.makeini("[pytest]\nmemguard_sentinels = -socket\n")
    config = pytester.parseconfigure(*args, *QUIET_PLUGINS)
    session = cast("MemguardSession", config.pluginmanager.get_plugin(SESSION_PLUGIN))
    assert session.disabled_sentinels == off


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "socket",
            "sentinel switch 'socket' has no sign: write -socket to switch it off or "
            "+socket to switch it on (all are on by default)",
        ),
        ("-sockets", "unknown sentinel 'sockets'; valid: thread, timer, *, socket"),
        ("+9lives", "unknown sentinel '9lives'; valid: *"),
    ],
)
def test_a_bad_switch_stops_the_session_naming_it(
    pytester: pytest.Pytester, value: str, message: str
) -> None:
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(f"--memguard-sentinels={value}", *QUIET_PLUGINS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument --memguard-sentinels: {message}"])
    result.stdout.no_fnmatch_line("*test_never_runs*")

    pytester.makeini(f"[pytest]\nmemguard_sentinels = {value}\n")
    result = pytester.runpytest(*QUIET_PLUGINS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: memguard: ini option memguard_sentinels: {message}"])
    result.stdout.no_fnmatch_line("*test_never_runs*")
