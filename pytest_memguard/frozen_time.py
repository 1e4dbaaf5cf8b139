"""freezegun leaves the plugin's modules and clocks alone.

freezegun's ``freeze_time`` walks every module in ``sys.modules`` each time it freezes
time, and patches each one holding a time or date function; while time is frozen,
``time.perf_counter()`` reads the frozen clock unless a module of its ignore list is
among the last callers. Left unconfigured it read and patched the plugin's modules on
every frozen test (a quarter of what guarding humanize's suite added, most of its
tests being frozen), and froze the clock that times the garbage collections during a
test: every pause read 0 s, so a ``gc_pause`` limit could never fail a frozen test.

The plugin adds its package to freezegun's ignore list (``freezegun.configure``,
freezegun 1.1 and later), as pytest's runner modules are in it by default. freezegun
reads that list when a ``freeze_time`` is made, which a decorator does as its test
module is imported: so it is configured at once when it is imported already, else as
soon as it is. Nothing imports freezegun for it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

#: The library, and what the plugin asks of it.
FREEZEGUN = "freezegun"
_PACKAGE = __name__.partition(".")[0]


def leave_the_plugin_alone() -> Callable[[], None]:
    """Configure freezegun now or when it is imported; returns what undoes the wait
    (the configuration stays: a freeze made since keeps its list)."""
    module = sys.modules.get(FREEZEGUN)
    if module is not None:
        _configure(module)
        return _nothing
    finder = WhenImported(FREEZEGUN, _configure)
    sys.meta_path.insert(0, finder)
    return finder.stop


def _configure(freezegun: ModuleType) -> None:
    configure = getattr(freezegun, "configure", None)
    if callable(configure):
        with contextlib.suppress(Exception):  # an older freezegun, or a stand-in
            configure(extend_ignore_list=[_PACKAGE])


def _nothing() -> None:
    return None


class WhenImported(importlib.abc.MetaPathFinder):
    """Finds no module itself: when ``name`` is imported, it lets the other finders
    find it and has ``then(module)`` called once the module has run, then leaves."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self._name = name
        self._then = then

    def stop(self) -> None:
        """Stop waiting for the import."""
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self._name:
            return None
        self.stop()
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        exec_module = getattr(loader, "exec_module", None)
        if loader is None or isinstance(loader, type) or not callable(exec_module):
            return spec  # a loader of classes (built-in, frozen) is shared: left alone
        then = self._then

        def exec_then(module: ModuleType) -> None:
            try:
                exec_module(module)
            finally:
                # Only this import: the loader may serve others (a zip archive's).
                vars(loader).pop("exec_module", None)
            if module.__name__ == fullname:
                then(module)

        setattr(loader, "exec_module", exec_then)  # noqa: B010 - an instance's method
        return spec
