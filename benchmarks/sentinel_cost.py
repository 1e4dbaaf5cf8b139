"""Per-sentinel cost of one idle test: microseconds per ``before()`` + ``after()`` pair.

Builds every sentinel as ``--memguard`` does (all switches on, an empty ledger), warms
each up, then times ``after(before())`` in a loop while nothing changes: the cost every
clean test pays. Also prints a floor screen's resource part for reference (thread count,
``atexit._ncallbacks()``, a ``/proc/self/fd`` listing, every signal's handler), and the
untracked-growth screen (``ContainerWatch``): a plain test, a sweep, and the average with
one sweep per ``SWEEP_EVERY`` tests. ``--modules N`` imports N standard-library modules
first: the cold containers (and a sweep's cost) grow with them; a plain test's must not.

Usage::

    python benchmarks/sentinel_cost.py [--pairs N] [--rounds R] [--modules N] [--loggers N]

``--loggers N`` (default 200) first makes N loggers, a tenth with a handler, as a
real application's libraries do. Prints one line per sentinel (best of ``--rounds``),
then the total.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pytest_memguard.screen.containers import SWEEP_EVERY, ContainerWatch, runner_packages
from pytest_memguard.sentinels.base import Sentinel
from pytest_memguard.sentinels.blame import Ledger
from pytest_memguard.sentinels.suite import build_sentinels


def _best_us(pair: Callable[[], object], pairs: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(pairs):
            pair()
        best = min(best, (time.perf_counter() - start) / pairs)
    return best * 1e6


def _pair(sentinel: Sentinel) -> Callable[[], object]:
    def pair() -> object:
        findings = sentinel.after(sentinel.before())
        assert not findings, findings
        return findings

    return pair


_SIGNALS = [
    sig
    for sig in signal.valid_signals()
    if isinstance(sig, signal.Signals) and sig not in (signal.SIGKILL, signal.SIGSTOP)
]


def _floor() -> object:
    return (
        threading.active_count(),
        atexit._ncallbacks(),
        os.listdir("/proc/self/fd"),
        [signal.getsignal(sig) for sig in _SIGNALS],
    )


def make_loggers(count: int) -> None:
    """``count`` loggers as an application's libraries make them, a tenth with a handler."""
    for number in range(count):
        logger = logging.getLogger(f"lib{number % 20}.module{number}")
        if number % 10 == 0:
            logger.addHandler(logging.NullHandler())


def import_stdlib(count: int) -> int:
    """Import up to ``count`` standard-library modules; returns how many are imported."""
    skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__"}
    names = sorted(name for name in sys.stdlib_module_names if name not in skip)
    done = 0
    for name in names:
        if done >= count:
            break
        try:
            importlib.import_module(name)
        except Exception:
            continue
        done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modules", type=int, default=0)
    parser.add_argument("--loggers", type=int, default=200)
    args = parser.parse_args()
    if args.modules:
        print(f"imported {import_stdlib(args.modules)} stdlib modules")
    make_loggers(args.loggers)
    import asyncio  # noqa: F401  (the task sentinel reads asyncio's registry once imported)

    sentinels = build_sentinels(ledger=Ledger())
    total = 0.0
    for sentinel in sentinels:
        pair = _pair(sentinel)
        pair()  # first use: lazy resolution, caches
        cost = _best_us(pair, args.pairs, args.rounds)
        total += cost
        print(f"{type(sentinel).__name__:20} {sentinel.name:28} {cost:7.2f} us")
    print(f"{'all sentinels':49} {total:7.2f} us")
    floor = _best_us(_floor, args.pairs // 2, args.rounds) * 2
    print(f"{'floor screen (resources, before+after)':49} {floor:7.2f} us")
    _container_watch(args.pairs, args.rounds)


def _container_watch(pairs: int, rounds: int) -> None:
    """The untracked-growth screen: a plain test, a sweep test, and their average.

    Sweeps that fall due are left out of the plain figure (``sweep_every`` huge) and
    counted in the average instead.
    """
    watch = ContainerWatch([Path.cwd()], _installed_roots(), runner_packages(()), 10**9)
    watch.refresh("warm.py::scan")  # the one-time scan of every module, then a sweep
    watch.growth(watch.sizes())
    calls = iter(range(10**9))

    def plain() -> object:
        watch.refresh(f"same.py::test{next(calls)}")  # the next test of the same module
        return watch.growth(watch.sizes())

    def sweep() -> object:
        watch.refresh(f"module{next(calls)}.py::test")  # a new test module: a sweep
        return watch.growth(watch.sizes())

    plain_us = _best_us(plain, pairs, rounds)
    sweep_us = _best_us(sweep, max(1, pairs // 10), rounds)
    every = SWEEP_EVERY
    average = (plain_us * (every - 1) + sweep_us) / every
    print(
        f"{'container watch, per test (hot: ' + str(watch.watched_count) + ')':49} "
        f"{plain_us:7.2f} us"
    )
    print(f"{'container watch, sweep (cold: ' + str(watch.cold_count) + ')':49} {sweep_us:7.2f} us")
    print(f"{f'container watch, one sweep per {every} tests':49} {average:7.2f} us")


def _installed_roots() -> list[Path]:
    return [Path(sys.prefix), Path(sys.base_prefix)]


if __name__ == "__main__":
    main()
