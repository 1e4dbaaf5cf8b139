"""Root causes across a session: one explanation per root cause, a count of tests per cause.

A root is what a confirmed leak's main finding fingerprints to: its kind, the chain's
root up to the first key, and the allocation site. The first test with a root is
explained in full; later tests that grow the same root are reported as "same root as"
that test, and the summary lists each root once with the number of its tests.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_memguard.findings import Finding


@dataclass
class Root:
    """One root cause: where it was first explained, and how many tests grew it."""

    key: str
    first: str
    kind: str
    summary: str
    finding: Finding
    distribution: str | None = None
    tests: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.key,
            "kind": self.kind,
            "summary": self.summary,
            "tests": self.tests,
            "first": self.first,
            "distribution": self.distribution,
        }


class RootBook:
    """The roots of the session's confirmed leaks, by key."""

    def __init__(self) -> None:
        self._roots: dict[str, Root] = {}

    def __len__(self) -> int:
        return len(self._roots)

    def get(self, key: str) -> Root | None:
        return self._roots.get(key)

    def roots(self) -> list[Root]:
        """Every root, the one with most tests first."""
        return sorted(self._roots.values(), key=lambda root: (-root.tests, root.first))

    def add(self, nodeid: str, findings: Sequence[Finding]) -> Root | None:
        """The root of a leak explained in ``nodeid``; a root seen before counts one more
        test. None when there is no finding to take a root from."""
        if not findings:
            return None
        # Imported with the first root: a session without a leak never loads history.
        from pytest_memguard.history.known import fingerprint

        main = findings[0]
        key = fingerprint(main)
        known = self._roots.get(key)
        if known is not None:
            known.tests += 1
            return known
        root = Root(
            key=key,
            first=nodeid,
            kind=main.kind,
            summary=main.summary,
            finding=main,
            distribution=distribution_of(chain_module(main)),
        )
        self._roots[key] = root
        return root

    def count(self, key: str) -> Root | None:
        """One more test grew the root ``key``."""
        root = self._roots.get(key)
        if root is not None:
            root.tests += 1
        return root


def chain_module(finding: Finding) -> str:
    """The module a finding's chain starts in (``click._compat``), or ``""``."""
    chain = finding.retainer_chain
    if not chain:
        return ""
    text = chain[0].edge
    for stop in "[(<":
        text = text.split(stop, 1)[0]
    parts = text.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in sys.modules:
            return name
    return ""


@functools.cache
def distribution_of(module: str) -> str | None:
    """``"click 8.1.7"`` for a module of an installed distribution named like its
    top-level package, else None. One look-up by name: scanning every installed
    distribution (``packages_distributions()``) costs a second or more."""
    if not module:
        return None
    import importlib.metadata  # 14 ms (it imports email): paid only once a leak is found

    top = module.split(".", 1)[0]
    try:
        dist = importlib.metadata.distribution(top)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    name = dist.metadata["Name"] or top
    return f"{name} {dist.version}"


def session_summary(records: Sequence[Any]) -> dict[str, Any]:
    """The ``session`` block of the JSON report, from the records alone (so it is the
    same with pytest-xdist): suspects, seconds spent, and the roots with their tests."""
    roots: dict[str, dict[str, Any]] = {}
    for record in records:
        if not record.root:
            continue
        entry = roots.setdefault(
            record.root,
            {
                "root": record.root,
                "kind": "",
                "summary": "",
                "tests": 0,
                "first": record.same_root_as or record.nodeid,
                "distribution": record.distribution or None,
            },
        )
        entry["tests"] += 1
        if record.findings and not entry["summary"]:
            entry["kind"] = record.findings[0].kind
            entry["summary"] = record.findings[0].summary
    return {
        "guarded": len(records),
        "suspects": sum(1 for record in records if record.suspect),
        "vouched": sum(1 for record in records if record.vouched),
        "unconfirmed": sum(1 for record in records if record.verdict == "unconfirmed"),
        # Re-run and failed; the others the budget had no room to re-run.
        "rerun_failed": sum(
            1 for record in records if record.verdict == "unconfirmed" and record.repetitions
        ),
        "confirm_seconds": round(sum(record.confirm_seconds for record in records), 3),
        "explain_seconds": round(sum(record.explain_seconds for record in records), 3),
        "roots": sorted(roots.values(), key=lambda entry: (-entry["tests"], entry["first"])),
    }
