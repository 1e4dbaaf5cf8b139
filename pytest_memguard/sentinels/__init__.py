"""Resource sentinels: what a test leaves running or registered after its teardown.

Each sentinel snapshots one kind of process state before a test's setup and compares
after its teardown; what is new and still there becomes a ``Finding``. The plugin
drives them::

    sentinels = build_sentinels(parse_sentinel_switches("-socket"), Allow(...))
    states = snapshot_all(sentinels)          # before setup
    ...                                       # setup, call, teardown, collection
    findings = check_all(sentinels, states)   # after teardown

A sentinel that fails is turned into a ``PytestMemguardWarning``; it never breaks a test.
The allow-list comes from ``parse_allow`` (the ``memguard_allow`` ini lines); the
project's own registries (``RegistryPath`` entries of ``memguard_registries`` and a
``pytest_memguard_registries`` hook) are watched under the ``listener`` switch.

This module holds only the switch names and their one parser, used by the command
line, the ini key and the plugin alike, so the plugin reads ``--memguard-sentinels``
without importing the sentinels; :mod:`pytest_memguard.sentinels.suite` builds and
drives them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Every switch name, in the order the sentinels run.
SENTINEL_NAMES: tuple[str, ...] = (
    "thread",
    "timer",
    "subprocess",
    "task",
    "listener",
    "logging-handler",
    "signal-handler",
    "atexit",
    "file",
    "socket",
)


def check_sentinel_name(name: str) -> str:
    """Return ``name`` if it is a switch name; else raise ValueError naming it and the
    valid names."""
    if name not in SENTINEL_NAMES:
        raise ValueError(f"unknown sentinel {name!r}; valid: {', '.join(SENTINEL_NAMES)}")
    return name


def sentinel_switches(value: str | Iterable[str]) -> tuple[str, ...]:
    """The checked switches of ``value``, in order: ``"-socket, +thread"`` gives
    ``("-socket", "+thread")``.

    ``value`` is the text of ``--memguard-sentinels`` or the lines of the ini key;
    switches are separated by commas or white space. ``-NAME`` switches a sentinel off,
    ``+NAME`` on again (all are on by default). Raises ValueError naming the bad switch
    for a name without its sign and for an unknown name.
    """
    lines = [value] if isinstance(value, str) else list(value)
    switches = tuple(part for line in lines for part in re.split(r"[,\s]+", line) if part)
    for switch in switches:
        sign, name = switch[0], switch[1:]
        if sign not in "+-":
            raise ValueError(
                f"sentinel switch {switch!r} has no sign: write -{switch} to switch it off "
                f"or +{switch} to switch it on (all are on by default)"
            )
        check_sentinel_name(name)
    return switches


def parse_sentinel_switches(value: str | Iterable[str]) -> frozenset[str]:
    """The sentinels switched off by ``value``: ``"-socket,-atexit"`` -> ``{"socket", "atexit"}``.

    The last switch of a name wins: ``"-socket,+socket"`` leaves it on. Raises
    ValueError as :func:`sentinel_switches` does.
    """
    off: set[str] = set()
    for switch in sentinel_switches(value):
        if switch[0] == "-":
            off.add(switch[1:])
        else:
            off.discard(switch[1:])
    return frozenset(off)
