"""Findings: what a confirmed leak or a leaked resource is, as plain data.

A finding is decided once (by the explain machinery or a sentinel) and then only
rendered: the terminal, JSON and HTML reports read these records and nothing else.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pytest_memguard.shallow import shallow_dict

#: Every kind a finding can have (docs/architecture.md, "The public contract").
#: ``warmup`` is informational.
KINDS: tuple[str, ...] = (
    "growing-container",
    "closure",
    "listener",
    "timer",
    "thread",
    "task",
    "file",
    "socket",
    "subprocess",
    "logging-handler",
    "signal-handler",
    "atexit",
    "cycle",
    "uncollectable",
    "warmup",
)


@dataclass(frozen=True)
class ChainEdge:
    """One step of a retainer chain, from a root towards the retained object.

    ``edge`` is the text that reaches the object from the previous step, written the
    way code reads it (``app.cache``, ``._CACHE``, ``['user:7']``, ``[3]``,
    ``<closure of make_handler>.buf``); ``object`` names the type reached.
    """

    object: str
    edge: str


@dataclass(frozen=True)
class Frame:
    """One frame of an allocation traceback, most recent call last."""

    filename: str
    lineno: int
    name: str = ""
    line: str = ""

    def __str__(self) -> str:
        where = f"{self.filename}:{self.lineno}"
        if self.name:
            where += f" in {self.name}"
        return f"{where}: {self.line}" if self.line else where


@dataclass(frozen=True)
class Finding:
    """A leak explained: what is retained, who holds it, where it was allocated."""

    kind: str
    summary: str
    count: int = 0
    bytes: int = 0
    retainer_chain: tuple[ChainEdge, ...] = ()
    chain_complete: bool = True
    allocated_at: tuple[Frame, ...] = ()
    advice: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; expected one of {KINDS}")

    @property
    def chain_text(self) -> str:
        """The chain as one expression, e.g. ``app.cache._CACHE['user:7'].sessions[3]``."""
        text = "".join(edge.edge for edge in self.retainer_chain)
        return text if self.chain_complete else f"... {text}"

    def to_dict(self) -> dict[str, Any]:
        # Field by field: asdict deep-copies through every edge and frame, and a root's
        # finding is written again for each of its tests (a thousand on a CLI suite).
        data = shallow_dict(self)
        data["retainer_chain"] = [vars(edge).copy() for edge in self.retainer_chain]
        data["allocated_at"] = [vars(frame).copy() for frame in self.allocated_at]
        data["extra"] = copy.deepcopy(self.extra)
        data["chain_text"] = self.chain_text
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            kind=data["kind"],
            summary=data["summary"],
            count=data.get("count", 0),
            bytes=data.get("bytes", 0),
            retainer_chain=tuple(ChainEdge(**edge) for edge in data.get("retainer_chain", ())),
            chain_complete=data.get("chain_complete", True),
            allocated_at=tuple(Frame(**frame) for frame in data.get("allocated_at", ())),
            advice=data.get("advice", ""),
            extra=dict(data.get("extra", {})),
        )
