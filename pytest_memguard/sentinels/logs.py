"""Logging handlers and filters added to loggers during a test and not removed."""

from __future__ import annotations

import logging
from typing import cast

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


class LoggingSentinel:
    """Handlers (kind ``logging-handler``) and filters (kind ``listener``) left on loggers.

    Looks at the root logger and every logger in ``logging.Logger.manager.loggerDict``;
    a logger created during the test is not a finding by itself. Handlers defined in
    ``_pytest.logging`` are pytest's own and ignored. Filters on handlers are not
    covered. The scan costs about 60 ns per logger, so both kinds share one scan and
    the sentinel serves both switches (``name`` lists the ones it reports).
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

    def before(self) -> object:
        """The handlers and filters attached to each logger that has any."""
        return _attached()

    def after(self, before: object) -> list[Finding]:
        """One finding per handler or filter attached since ``before``."""
        now = _attached()
        if now == before:
            return []
        old = cast(_Attached, before)
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
