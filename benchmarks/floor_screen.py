"""A minimal per-test memory screen: the floor ``overhead.py`` measures ``--memguard`` against.

Loaded as a plugin (``-p floor_screen`` with this directory on ``PYTHONPATH``). Around every
test item it does the least a memory screen must do (issue 11): ``gc.freeze()`` before; after,
a young collection and ``len(gc.get_objects())`` (the young survivors), ``gc.unfreeze()``, and
the resource sentinels (thread count, atexit callbacks, open descriptors, every signal's
handler), each compared with its value before. It keeps counts, reports nothing per test, and
prints one line at the end so a run shows that it screened every test.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import signal
import threading
from collections.abc import Callable, Generator

import pytest

_FD_DIR = "/proc/self/fd"


def _raw_getsignal() -> Callable[[int], object]:
    """``signal.getsignal`` without the enum conversion of its result (same handlers).

    ``signal.getsignal`` wraps SIG_DFL/SIG_IGN in an enum: ~0.6 us per signal, ~37 us for the
    62 signals of Linux per read, more than the rest of this screen together. A floor must be
    the cheapest way to read the same values.
    """
    try:
        getsignal: Callable[[int], object] = importlib.import_module("_signal").getsignal
    except (ImportError, AttributeError):
        return signal.getsignal
    return getsignal


_GETSIGNAL = _raw_getsignal()


def _signal_numbers() -> tuple[int, ...]:
    """The signals whose handler can be read here (none where the module lacks the API)."""
    valid = getattr(signal, "valid_signals", None)
    numbers = []
    for sig in valid() if valid is not None else ():
        try:
            _GETSIGNAL(sig)
        except (OSError, ValueError):
            continue
        numbers.append(int(sig))
    return tuple(numbers)


def _atexit_counter() -> Callable[[], int]:
    """``atexit._ncallbacks`` where the interpreter has it, else a constant."""
    counter: Callable[[], int] | None = getattr(atexit, "_ncallbacks", None)
    return counter if counter is not None else lambda: 0


def _descriptors() -> frozenset[str]:
    """The open file descriptors' names; empty where ``/proc/self/fd`` does not exist."""
    try:
        return frozenset(os.listdir(_FD_DIR))
    except OSError:
        return frozenset()


class FloorScreen:
    """The per-test screen; counts what it sees."""

    def __init__(self) -> None:
        self._signals = _signal_numbers()
        self._atexit_count = _atexit_counter()
        self.screened = 0
        self.with_survivors = 0
        self.with_moved_sentinel = 0

    def _sentinels(self) -> tuple[int, int, frozenset[str], tuple[object, ...]]:
        return (
            threading.active_count(),
            self._atexit_count(),
            _descriptors(),
            tuple(map(_GETSIGNAL, self._signals)),
        )

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        """Freeze the old heap around the item; count survivors and moved sentinels."""
        before = self._sentinels()
        gc.freeze()
        try:
            young_before = len(gc.get_objects())
            result = yield
            gc.collect(1)
            young_after = len(gc.get_objects())
        finally:
            gc.unfreeze()
        self.screened += 1
        self.with_survivors += young_after > young_before
        self.with_moved_sentinel += self._sentinels() != before
        return result

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """One line: how many tests were screened and how many left something."""
        terminalreporter.write_line(
            f"floor screen: {self.screened} tests screened, {self.with_survivors} with young "
            f"survivors, {self.with_moved_sentinel} with a moved sentinel"
        )


def pytest_configure(config: pytest.Config) -> None:
    """Register the screen (this module is loaded with ``-p floor_screen``)."""
    config.pluginmanager.register(FloorScreen(), "floor_screen_instance")
