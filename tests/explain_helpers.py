"""Helpers of the explain stage's tests: modules built from source, the young heap."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytest_memguard.explain.explainer import explain
from pytest_memguard.findings import Finding


def load(tmp_path: Path, name: str, source: str) -> Iterator[Any]:
    """Module ``name`` run from ``source`` (typed ``Any``: built at run time), for the
    test only."""
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(source, str(path), "exec"), vars(module))
        yield module
    finally:
        del sys.modules[name]


def young(build: Callable[[], object]) -> list[object]:
    """What ``build`` leaves alive, found the way the plugin does: the young heap."""
    gc.collect()
    gc.freeze()
    try:
        build()
        gc.collect()
        return gc.get_objects()
    finally:
        gc.unfreeze()


def listed(objs: list[object]) -> list[object]:
    """The objects of ``objs`` a window's listing of the young heap holds: those the
    collector tracks (an empty dict, a dict or tuple of atomic values, is never listed)."""
    return [obj for obj in objs if gc.is_tracked(obj)]


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [finding.summary for finding in findings]
    return findings[0]


def chain_of(obj: object, **options: object) -> str:
    finding = only(explain([obj], **options))  # type: ignore[arg-type]
    assert finding.chain_complete, finding.summary
    return finding.chain_text


# A plotting library's shape: a module-level manager class keeps every figure open
# until closed; the figure is also the value of a weak-keyed table, and the current
# figure is a context variable, and a module global keeps a copy of the context.
PLOTS = """
import contextvars
import weakref


class Figure:
    def __init__(self):
        self.lines = [[0.0] * 100]


class Canvas:
    def __init__(self, figure):
        self.figure = figure


class FigureManager:
    def __init__(self, canvas):
        self.canvas = canvas


class Gcf:
    figs = {}


class Key:
    pass


_FIGURE_OF = weakref.WeakKeyDictionary()
_CURRENT = contextvars.ContextVar("current_figure")
_KEYS = []
_SNAPSHOT = None


def figure():
    global _SNAPSHOT
    fig = Figure()
    Gcf.figs[len(Gcf.figs) + 1] = FigureManager(Canvas(fig))
    _KEYS.append(Key())
    _FIGURE_OF[_KEYS[-1]] = fig
    _CURRENT.set(fig)
    _SNAPSHOT = contextvars.copy_context()
    return fig
"""
