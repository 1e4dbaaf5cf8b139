"""Helpers of the explain stage's tests: modules built from source, the young heap."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytest_memguard.explain import explain
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


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [finding.summary for finding in findings]
    return findings[0]


def chain_of(obj: object, **options: object) -> str:
    finding = only(explain([obj], **options))  # type: ignore[arg-type]
    assert finding.chain_complete, finding.summary
    return finding.chain_text
