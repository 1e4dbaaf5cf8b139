"""Building the enabled sentinels and running them around a test, each failure a warning."""

from __future__ import annotations

import atexit
import itertools
import operator
import warnings
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from pytest_memguard.findings import Finding
from pytest_memguard.sentinels import SENTINEL_NAMES, check_sentinel_name, fds
from pytest_memguard.sentinels.base import (
    ALLOW_NONE,
    Allow,
    PytestMemguardWarning,
    Sentinel,
)
from pytest_memguard.sentinels.blame import Ledger
from pytest_memguard.sentinels.fds import FdSentinel
from pytest_memguard.sentinels.hooks import AtexitSentinel, ListenerSentinel, SignalSentinel
from pytest_memguard.sentinels.logs import LoggingSentinel
from pytest_memguard.sentinels.loops import IdleLoopTimerSentinel
from pytest_memguard.sentinels.procs import SubprocessSentinel
from pytest_memguard.sentinels.registries import RegistryHook, RegistryPath, RegistrySentinel
from pytest_memguard.sentinels.tasks import TaskSentinel
from pytest_memguard.sentinels.threads import ThreadSentinel

_FAILED = object()  # the state of a sentinel whose before() raised
_T = TypeVar("_T")


def unavailable_sentinels() -> dict[str, str]:
    """Sentinels that cannot run on this platform, each with the reason (for a header)."""
    reasons = {}
    if not hasattr(atexit, "_ncallbacks"):
        reasons["atexit"] = "this Python cannot count atexit callbacks"
    if fds.unavailable():
        reasons["file"] = reasons["socket"] = fds.unavailable()
    return reasons


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
    for name in disabled:
        check_sentinel_name(name)
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
    if "timer" in on:
        sentinels.append(IdleLoopTimerSentinel(allow))
    if "listener" in on:
        sentinels.append(ListenerSentinel(allow))
        if registries or registry_hook is not None:
            sentinels.append(RegistrySentinel(registries, registry_hook, allow))
    if "logging-handler" in on or "listener" in on:
        sentinels.append(
            LoggingSentinel(allow, handlers="logging-handler" in on, filters="listener" in on)
        )
    if "signal-handler" in on:
        sentinels.append(SignalSentinel(allow, ledger))
    if "atexit" in on:
        sentinels.append(AtexitSentinel())
    if "file" in on or "socket" in on:
        sentinels.append(
            FdSentinel(
                fds.default_backend(), files="file" in on, sockets="socket" in on, ledger=ledger
            )
        )
    return sentinels


#: Calls ``function(argument)`` from C (3.11+), each sentinel's check in one ``map``.
_call: Callable[[Callable[[Any], _T], Any], _T] = getattr(
    operator, "call", lambda function, argument: function(argument)
)
_BEFORE = operator.methodcaller("before")
_AFTER = operator.attrgetter("after")


def snapshot_all(sentinels: Sequence[Sentinel]) -> list[object]:
    """Every sentinel's ``before()``; one that raises is warned about and skipped later."""
    try:
        return list(map(_BEFORE, sentinels))
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
    """Every sentinel's findings; one that raises becomes a ``PytestMemguardWarning``.
    Every test runs this: one ``try`` around all the checks (a check is never made
    twice: it may wait for threads, or consume what it reports)."""
    if _FAILED in states:
        kept = [at for at, state in enumerate(states) if state is not _FAILED]
        return check_all([sentinels[at] for at in kept], [states[at] for at in kept])
    found: list[list[Finding]] = []
    try:
        # extend() keeps what the checks before a failing one returned: the failed
        # check is the next one, and none is made twice.
        found.extend(map(_call, map(_AFTER, sentinels), states))
    except Exception as exc:
        failed = len(found)
        _warn(sentinels[failed], "after", exc)
        found.append(check_all(sentinels[failed + 1 :], states[failed + 1 :]))
    return list(itertools.chain.from_iterable(found))


def _warn(sentinel: Sentinel, step: str, exc: Exception) -> None:
    warnings.warn(
        PytestMemguardWarning(
            f"memguard sentinel {sentinel.name!r} failed in {step}(), its check was skipped: "
            f"{type(exc).__name__}: {exc}"
        ),
        stacklevel=3,
    )
