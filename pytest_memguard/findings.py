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

#: Kinds of leaked resources: what a sentinel finds, and what a group of retained objects
#: holding a live one is named after.
RESOURCE_KINDS: tuple[str, ...] = ("timer", "thread", "task", "socket", "file", "subprocess")

#: kind -> one line telling the user how to fix it (``register_kind`` adds to it).
ADVICE: dict[str, str] = {
    "uncollectable": (
        "empty gc.garbage (gc.DEBUG_SAVEALL keeps every collected cycle there) "
        "and break the cycle with a weakref"
    ),
    "timer": "cancel the timer in teardown (timer.cancel(), then timer.join())",
    "thread": "stop and join the thread in teardown (set an Event it watches, then join())",
    "task": (
        "cancel the task and await it before its loop closes "
        "(or run it under asyncio.TaskGroup / asyncio.run)"
    ),
    "socket": "close the socket in teardown, or open it in a with-block",
    "file": "close the file in teardown, or open it in a with-block",
    "subprocess": "wait for the child in teardown: proc.wait(), or proc.terminate() then wait()",
    "cycle": "break the reference cycle (weakref back-pointer) or close() the objects explicitly",
    "warmup": (
        "nothing to fix on its own: a bounded container stops growing at its bound, and "
        "the standard library's state goes away with the object it serves"
    ),
    "listener": "remove the listener in teardown or register it with a weakref",
    "closure": (
        "do not capture large data in long-lived callbacks; pass it explicitly or drop the "
        "reference"
    ),
    "growing-container": (
        "bound the container (functools.lru_cache(maxsize=...), collections.deque(maxlen=...)) "
        "or clear it in teardown"
    ),
}


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
