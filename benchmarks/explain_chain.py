"""Explain cost at scale: the retainer chain of a leak in a process of 1,000,000 objects.

Usage: ``python benchmarks/explain_chain.py [--objects N] [--check]``. Prints the time
``explain()`` takes to find the chain of an object held three levels below a module
global, and (``--check``) exits 1 when it exceeds the design target of one second.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import types

from pytest_memguard.explain.explainer import explain

TARGET_SECONDS = 1.0


class Session:
    """A leaked object, as an application would hold it."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--check", action="store_true")
    options = parser.parse_args(argv)

    heap = [[index] for index in range(options.objects)]
    app = types.ModuleType("benchapp")
    sys.modules["benchapp"] = app
    app._CACHE = {"warm": {}}  # type: ignore[attr-defined]
    print(f"Python {sys.version.split()[0]}: {len(gc.get_objects()):,} gc-tracked objects")

    worst = 0.0
    for user in range(3):
        leaked = Session()
        app._CACHE[f"user:{user}"] = {"sessions": [leaked]}  # type: ignore[attr-defined]
        started = time.perf_counter()
        finding = explain([leaked])[0]
        took = time.perf_counter() - started
        worst = max(worst, took)
        print(f"  {took * 1000:7.1f} ms  {finding.chain_text}")
    del heap
    verdict = "ok" if worst <= TARGET_SECONDS else "over"
    print(f"worst {worst * 1000:.1f} ms (target {TARGET_SECONDS * 1000:.0f} ms): {verdict}")
    return 1 if options.check and worst > TARGET_SECONDS else 0


if __name__ == "__main__":
    sys.exit(main())
