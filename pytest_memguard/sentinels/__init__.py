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
"""

from __future__ import annotations

import atexit
import warnings
from collections.abc import Collection, Sequence

from pytest_memguard.blame import Ledger
from pytest_memguard.findings import Finding
from pytest_memguard.sentinels import fds
from pytest_memguard.sentinels.base import (
    ALLOW_NONE,
    Allow,
    PytestMemguardWarning,
    Sentinel,
    parse_allow,
)
from pytest_memguard.sentinels.fds import FdSentinel
from pytest_memguard.sentinels.hooks import AtexitSentinel, ListenerSentinel, SignalSentinel
from pytest_memguard.sentinels.logs import LoggingSentinel
from pytest_memguard.sentinels.procs import SubprocessSentinel
from pytest_memguard.sentinels.registries import RegistryHook, RegistryPath, RegistrySentinel
from pytest_memguard.sentinels.tasks import TaskSentinel
from pytest_memguard.sentinels.threads import ThreadSentinel

__all__ = [
    "SENTINEL_NAMES",
    "Allow",
    "AtexitSentinel",
    "FdSentinel",
    "ListenerSentinel",
    "LoggingSentinel",
    "PytestMemguardWarning",
    "RegistryHook",
    "RegistryPath",
    "RegistrySentinel",
    "Sentinel",
    "SignalSentinel",
    "SubprocessSentinel",
    "TaskSentinel",
    "ThreadSentinel",
    "build_sentinels",
    "check_all",
    "parse_allow",
    "parse_sentinel_switches",
    "snapshot_all",
    "unavailable_sentinels",
]

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

_FAILED = object()  # the state of a sentinel whose before() raised


def unavailable_sentinels() -> dict[str, str]:
    """Sentinels that cannot run on this platform, each with the reason (for a header)."""
    reasons = {}
    if not hasattr(atexit, "_ncallbacks"):
        reasons["atexit"] = "this Python cannot count atexit callbacks"
    if fds.unavailable():
        reasons["file"] = reasons["socket"] = fds.unavailable()
    return reasons


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


def build_sentinels(
    disabled: Collection[str] = (),
    allow: Allow = ALLOW_NONE,
    registries: Sequence[RegistryPath] = (),
    registry_hook: RegistryHook | None = None,
    ledger: Ledger | None = None,
) -> list[Sentinel]:
    """One sentinel per enabled switch that this platform supports, in running order.

    Sentinels with a grace period (threads, timers, children) run first, so what
    ends during it has closed its files before they are counted. One sentinel may
    serve several switches (``ThreadSentinel`` is ``thread`` and ``timer``), when
    they share the costly part of the scan. ``registries`` and ``registry_hook``
    (which calls ``pytest_memguard_registries``) add a ``RegistrySentinel`` under the
    ``listener`` switch; both are resolved at the first snapshot, not here. The
    thread, task and file sentinels remember what they find leaked in ``ledger``, to
    charge it to its test if it surfaces in a later one.
    """
    unknown = set(disabled) - set(SENTINEL_NAMES)
    if unknown:
        raise ValueError(
            f"unknown sentinel(s) {', '.join(sorted(unknown))}; valid: {', '.join(SENTINEL_NAMES)}"
        )
    on = set(SENTINEL_NAMES) - set(disabled) - set(unavailable_sentinels())
    sentinels: list[Sentinel] = []
    if "thread" in on or "timer" in on:
        sentinels.append(
            ThreadSentinel(allow, threads="thread" in on, timers="timer" in on, ledger=ledger)
        )
    if "subprocess" in on:
        sentinels.append(SubprocessSentinel())
    if "task" in on:
        sentinels.append(TaskSentinel(allow, ledger))
    if "listener" in on:
        sentinels.append(ListenerSentinel(allow))
        if registries or registry_hook is not None:
            sentinels.append(RegistrySentinel(registries, registry_hook, allow))
    if "logging-handler" in on or "listener" in on:
        sentinels.append(
            LoggingSentinel(allow, handlers="logging-handler" in on, filters="listener" in on)
        )
    if "signal-handler" in on:
        sentinels.append(SignalSentinel(allow))
    if "atexit" in on:
        sentinels.append(AtexitSentinel())
    if "file" in on or "socket" in on:
        sentinels.append(
            FdSentinel(
                fds.default_backend(), files="file" in on, sockets="socket" in on, ledger=ledger
            )
        )
    return sentinels


def snapshot_all(sentinels: Sequence[Sentinel]) -> list[object]:
    """Every sentinel's ``before()``; one that raises is warned about and skipped later."""
    try:
        return [sentinel.before() for sentinel in sentinels]
    except Exception:  # a snapshot can be taken twice: take them again one by one
        pass
    states: list[object] = []
    for sentinel in sentinels:
        try:
            states.append(sentinel.before())
        except Exception as exc:
            _warn(sentinel, "before", exc)
            states.append(_FAILED)
    return states


def check_all(sentinels: Sequence[Sentinel], states: Sequence[object]) -> list[Finding]:
    """Every sentinel's findings; one that raises becomes a ``PytestMemguardWarning``."""
    findings: list[Finding] = []
    for sentinel, state in zip(sentinels, states, strict=True):
        if state is not _FAILED:
            try:
                findings += sentinel.after(state)
            except Exception as exc:
                _warn(sentinel, "after", exc)
    return findings


def _warn(sentinel: Sentinel, step: str, exc: Exception) -> None:
    warnings.warn(
        PytestMemguardWarning(
            f"memguard sentinel {sentinel.name!r} failed in {step}(), its check was skipped: "
            f"{type(exc).__name__}: {exc}"
        ),
        stacklevel=3,
    )
