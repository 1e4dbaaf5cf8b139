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

This module holds only the switch names, so the plugin reads ``--memguard-sentinels``
without importing the sentinels; :mod:`pytest_memguard.sentinels.suite` builds and
drives them.
"""

from __future__ import annotations

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


def parse_sentinel_switches(text: str) -> frozenset[str]:
    """The sentinels switched off by ``text``: ``"-socket,-atexit"`` -> ``{"socket", "atexit"}``.

    Raises ValueError, naming the valid switches, for an unknown name or a name
    without its ``-``.
    """
    names = set()
    for part in text.split(","):
        switch = part.strip()
        if not switch:
            continue
        if not switch.startswith("-"):
            raise ValueError(
                f"sentinel switch {switch!r} must start with '-' (sentinels are on by "
                f"default; write -{switch} to switch it off)"
            )
        name = switch[1:].strip()
        if name not in SENTINEL_NAMES:
            raise ValueError(f"unknown sentinel {name!r}; valid: {', '.join(SENTINEL_NAMES)}")
        names.add(name)
    return frozenset(names)
