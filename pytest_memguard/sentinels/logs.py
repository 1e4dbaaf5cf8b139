"""Logging handlers and filters added to loggers during a test and not removed."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from pytest_memguard.findings import Finding
from pytest_memguard.sentinels.base import ALLOW_NONE, Allow, created_at, describe

# pytest adds and removes its capture handlers around every phase on its own
_PYTEST_LOGGING = "_pytest.logging"

_Attached = dict[logging.Logger, tuple[tuple[logging.Handler, ...], tuple[object, ...]]]


def _attached() -> _Attached:
    """The handlers and filters of every logger that has any, the root included."""
    loggers = [logging.root, *logging.Logger.manager.loggerDict.values()]
    return {
        logger: (tuple(logger.handlers), tuple(logger.filters))
        for logger in loggers
        if isinstance(logger, logging.Logger) and (logger.handlers or logger.filters)
    }


class _Attachments:
    """An O(1) checksum of which handlers and filters are attached where.

    ``Logger.addHandler``/``removeHandler`` and ``Filterer.addFilter``/``removeFilter``
    are wrapped once per process: each call that changes a list XORs a hash of the
    (owner, object) pair into the checksum. pytest's own capture handlers, added and
    removed around every phase (twelve calls a test) and never reported, are passed
    straight through: the checksum's big-integer arithmetic costs five times the call
    it wraps. Code that edits ``.handlers`` or ``.filters`` directly bypasses it; a
    handler it creates still shows in the number of live handlers
    (``logging._handlerList``).
    """

    def __init__(self) -> None:
        self.checksum = 0
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        # Read once: a cache of every type met would keep each handler class a test
        # defines alive.
        pytests = frozenset(_pytest_handler_types())
        for cls, add, remove, attribute in (
            (logging.Logger, "addHandler", "removeHandler", "handlers"),
            (logging.Filterer, "addFilter", "removeFilter", "filters"),
        ):
            setattr(cls, add, self._wrap(getattr(cls, add), attribute, True, pytests))
            setattr(cls, remove, self._wrap(getattr(cls, remove), attribute, False, pytests))

    def _wrap(
        self,
        method: Callable[[Any, Any], None],
        attribute: str,
        adds: bool,
        pytests: frozenset[type],
    ) -> Callable[..., None]:
        @functools.wraps(method)
        def changed(owner: Any, obj: Any) -> None:
            if type(obj) in pytests:
                method(owner, obj)
                return
            # Both methods add only what is absent and remove only what is present: one
            # membership test says whether the call changes the list.
            changes = (obj in getattr(owner, attribute)) is not adds
            method(owner, obj)
            if changes:
                self.checksum ^= hash((id(owner), id(obj)))

        return changed


def _pytest_handler_types() -> list[type]:
    """pytest's own handler classes (its logging plugin's module, once imported)."""
    module = sys.modules.get(_PYTEST_LOGGING)
    if module is None:
        return []
    values = vars(module).values()
    return [
        value
        for value in values
        if isinstance(value, type)
        and issubclass(value, logging.Handler)
        and value.__module__ == _PYTEST_LOGGING
    ]


_ATTACHMENTS = _Attachments()

#: The checksum of attachments and the number of live handlers.
_Fingerprint = tuple[int, int]


def _fingerprint() -> _Fingerprint:
    return _ATTACHMENTS.checksum, len(logging._handlerList)  # type: ignore[attr-defined]


class LoggingSentinel:
    """Handlers (kind ``logging-handler``) and filters (kind ``listener``) left on loggers.

    Looks at the root logger and every logger in ``logging.Logger.manager.loggerDict``;
    a logger created during the test is not a finding by itself. Handlers defined in
    ``_pytest.logging`` are pytest's own and ignored. Filters on handlers are not
    covered. A clean test costs an O(1) fingerprint (see :class:`_Attachments`)
    before and after; the scan of every logger (about 60 ns per logger) runs only
    when it changed. Both kinds share the scan, so the sentinel serves both switches
    (``name`` lists the ones it reports).
    """

    def __init__(
        self, allow: Allow = ALLOW_NONE, handlers: bool = True, filters: bool = True
    ) -> None:
        self._allow = allow
        self._handlers = handlers
        self._filters = filters
        self.name = ",".join(
            name for name, on in (("logging-handler", handlers), ("listener", filters)) if on
        )
        self._known: _Fingerprint | None = None
        self._attached: _Attached = {}
        _ATTACHMENTS.install()

    def before(self) -> tuple[_Fingerprint, _Attached]:
        """The fingerprint, and the handlers and filters of each logger at that fingerprint."""
        known = _fingerprint()
        if known != self._known:
            self._known, self._attached = known, _attached()
        return known, self._attached

    def after(self, before: tuple[_Fingerprint, _Attached]) -> list[Finding]:
        """One finding per handler or filter attached since ``before``."""
        known, old = before
        if _fingerprint() == known:
            return []
        now = _attached()
        findings: list[Finding] = []
        for logger, (handlers, filters) in now.items():
            if self._allow.logger(logger.name):
                continue
            old_handlers, old_filters = old.get(logger, ((), ()))
            if self._handlers:
                findings.extend(
                    _handler_finding(logger, handler)
                    for handler in handlers
                    if handler not in old_handlers
                    and type(handler).__module__ != _PYTEST_LOGGING
                    and not self._allow.module(describe(handler))
                )
            if self._filters:
                findings.extend(
                    _filter_finding(logger, log_filter)
                    for log_filter in filters
                    if log_filter not in old_filters
                    and not self._allow.module(describe(log_filter))
                )
        return findings


def _handler_finding(logger: logging.Logger, handler: logging.Handler) -> Finding:
    cls = type(handler).__qualname__
    level = logging.getLevelName(handler.level)
    path = getattr(handler, "baseFilename", None)
    writing = f", writing to {path}" if path else ""
    return Finding(
        kind="logging-handler",
        summary=f"logging handler {cls} (level {level}{writing}) added to logger "
        f"{logger.name!r} and not removed",
        count=1,
        allocated_at=created_at(handler),
        advice="remove it in teardown: logger.removeHandler(handler); handler.close()",
        extra={"handler": cls, "level": level, "logger": logger.name},
    )


def _filter_finding(logger: logging.Logger, log_filter: object) -> Finding:
    described = describe(log_filter)
    return Finding(
        kind="listener",
        summary=f"logging filter {described} added to logger {logger.name!r} and not removed",
        count=1,
        allocated_at=created_at(log_filter),
        advice="remove it in teardown: logger.removeFilter(filter)",
        extra={"filter": described.dotted, "logger": logger.name},
    )
