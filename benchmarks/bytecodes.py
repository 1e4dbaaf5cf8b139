"""Bytecodes the plugin runs per guarded test, per function: a count, not a time.

Runs one suite under ``--memguard`` with this file loaded as a plugin (``-p bytecodes``),
which traces every Python function the guard calls (``sys.settrace`` with opcode events,
from ``Guard.guard`` down, the test's own runs left out) and counts the bytecodes each
executes. Wall times on this kind of machine move by tens of percent between identical
runs and per-stage timers add their own cost; the counts are the same for the same run,
so they tell where the plugin's Python work goes and which of two versions does less of
it. A bytecode is not a unit of time (one calls into C, another adds two numbers): use
``stage_costs.py`` and ``real_suites.py`` for what the work costs.

Decisions made on time (the confirmation budget, the time a re-run may take) differ
under tracing, which slows the plugin: pass ``-- --memguard-confirm-budget=5000%`` so
that two versions confirm the same suspects.

Usage::

    python benchmarks/bytecodes.py --keep /tmp/rs --suite attrs -- --memguard-confirm-budget=5000%
    python benchmarks/bytecodes.py --python PY --cwd DIR -- PYTEST_ARGS...

Prints the bytecodes per test and the functions that run the most of them, with their
calls per test; a dataclass's generated ``__init__`` is named with its class. With
``--by-verdict`` it also prints them per kind of test: by verdict, a suspect (re-run)
and a test its parametrized siblings vouched for apart (a clean test and one whose
leftovers the screen told warm-up cost very different work).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import stage_costs

#: Where the plugin half writes its counts (set by the runner half).
OUT_ENV = "MEMGUARD_BYTECODES_OUT"
#: Set by the runner half when the counts are wanted per kind of test too.
BY_VERDICT_ENV = "MEMGUARD_BYTECODES_BY_VERDICT"
#: Functions listed (per kind of test, fewer).
SHOWN = 40
SHOWN_PER_KIND = 20

_bytecodes: collections.Counter[str] = collections.Counter()
_calls: collections.Counter[str] = collections.Counter()
_tests = [0]
#: With --by-verdict: the counts and tests of each kind of test.
_by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
_kind_tests: collections.Counter[str] = collections.Counter()


def _name(frame: FrameType) -> str:
    code: CodeType = frame.f_code
    name = f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}({code.co_name})"
    if code.co_filename == "<string>":  # a dataclass's generated method: name its class
        name += f" of {type(frame.f_locals.get('self')).__name__}"
    return name


def _count(frame: FrameType, event: str, arg: object) -> Any:
    if event == "opcode":
        _bytecodes[_name(frame)] += 1
    return _count


def _enter(frame: FrameType, event: str, arg: object) -> Any:
    if event != "call":
        return None
    frame.f_trace_opcodes = True
    _calls[_name(frame)] += 1
    return _count


def _traced_guard(
    guard: Callable[..., Any], item: Any, nextitem: Any, limits: Any, protocol: Any
) -> Any:
    """Traces a guarded test's plugin work (with --by-verdict, counted by its kind too)."""
    _tests[0] += 1
    before = _bytecodes.copy() if os.environ.get(BY_VERDICT_ENV) else None
    sys.settrace(_enter)
    try:
        result = guard(item, nextitem, limits, protocol)
    finally:
        sys.settrace(None)
    if before is not None:
        kind = _kind(result[1])
        _by_kind[kind].update(_bytecodes - before)
        _kind_tests[kind] += 1
    return result


def _kind(record: Any) -> str:
    """A test's kind: a suspect, vouched for by its siblings, or its verdict."""
    return "suspect" if record.suspect else "vouched" if record.vouched else record.verdict


def _untraced_runs() -> None:
    """The test's own runs go untraced: the plugin's work is what is counted."""
    from pytest_memguard import pytest_internals

    raw = pytest_internals.run_unlogged

    def run_unlogged(item: Any, nextitem: Any) -> list[Any]:
        sys.settrace(None)
        try:
            return raw(item, nextitem)
        finally:
            sys.settrace(_enter)

    # The plugin tells its own running frames by their code's file: so must this one.
    run_unlogged.__code__ = run_unlogged.__code__.replace(co_filename=raw.__code__.co_filename)
    pytest_internals.run_unlogged = run_unlogged


def pytest_configure(config: Any) -> None:
    """Plugin half: trace the guard before the first guarded test."""
    stage_costs.wrap_guard(_traced_guard)
    _untraced_runs()


def pytest_unconfigure(config: Any) -> None:
    """Plugin half: write the counts for the runner half."""
    tests = _tests[0] or 1
    lines = [f"{_tests[0]} guarded tests, {sum(_bytecodes.values()) / tests:.0f} bytecodes each"]
    lines.append(f"{'per test':>10} {'calls':>7}  function")
    for name, count in _bytecodes.most_common(SHOWN):
        lines.append(f"{count / tests:10.1f} {_calls[name] / tests:7.2f}  {name}")
    for kind, counts in sorted(_by_kind.items(), key=lambda pair: -_kind_tests[pair[0]]):
        n = _kind_tests[kind]
        lines.append(f"{kind}: {n} tests, {sum(counts.values()) / n:.0f} bytecodes each")
        for name, count in counts.most_common(SHOWN_PER_KIND):
            lines.append(f"{count / n:10.1f}  {name}")
    Path(os.environ.get(OUT_ENV, "bytecodes.txt")).write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Runner half: run the suite with this file as a plugin and print its counts."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stage_costs.add_suite_arguments(ap)
    ap.add_argument(
        "--by-verdict",
        action="store_true",
        help="also count per kind of test: each verdict, suspects and vouched tests apart",
    )
    args = ap.parse_args(argv)
    settings = {BY_VERDICT_ENV: "1"} if args.by_verdict else {}
    return stage_costs.run_with_plugin(ap, args, "bytecodes", settings, OUT_ENV)


if __name__ == "__main__":
    raise SystemExit(main())
