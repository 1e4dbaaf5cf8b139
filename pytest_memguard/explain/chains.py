"""The chain search: a shortest path of references from a root to each retained group.

A breadth-first search backwards over ``gc.get_referrers`` from a group's starts stops
at the first level that reaches a root (:mod:`pytest_memguard.explain.roots`), bounded
in depth and in time. Each level is one pass over the heap per batch of objects (the
heap must not be frozen: ``gc.get_referrers`` does not see frozen objects), shared by
the searches of all the groups explained together, so chains found near a root are
cheap whatever the heap size and the number of groups; the time budget stops the rest.
A node whose referrers an earlier pass found (the climbs above a leak's holders, which
go up the same way) costs no pass: those referrers that still refer to it are taken.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType, ModuleType

from pytest_memguard.explain.detours import is_detour, is_plugin_frame
from pytest_memguard.explain.roots import CLASS, HOLDER, MODULE, ROOTS, SYS, THREAD, Roots
from pytest_memguard.screen.heap import Referrers, known_referrers, referred_ids

#: Longest chain searched, in references from the retained object.
MAX_DEPTH = 40

#: Objects looked up per ``gc.get_referrers`` call: each call walks the whole heap and
#: its cost also grows with the number of objects it looks for.
_BATCH = 32

#: How much further than a root in ``sys`` a search looks for another root.
_SLACK = 3


@dataclass
class Context:
    """What every search of one explanation shares: roots, ignored ids, the deadline."""

    roots: Roots
    ignore: set[int]
    holders: Mapping[int, str]
    deadline: float
    timeout: float
    #: Ids of the containers that grew in the explained run: of two ways of the same
    #: length, a chain goes through the one that grew (the list a leak is appended to,
    #: rather than a cache that also refers to its newest entry).
    grown: frozenset[int] = frozenset()
    #: What earlier passes found referring to some old objects, by id.
    known: Referrers = field(default_factory=dict)


@dataclass
class Result:
    """A search's outcome: a path from a root, or from the farthest object reached."""

    # "root", "exhausted" (no root anywhere), "timeout" or "depth".
    status: str
    path: list[object]  # from the root (or the outermost object found) to the start
    root: str  # one of ROOTS, or "object"


def _stack_frame_ids() -> set[int]:
    ids = set()
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        ids.add(id(frame))
        frame = frame.f_back
    return ids


def search_all(context: Context, objs: list[object], starts: list[list[int]]) -> list[Result]:
    """Search from ``objs[at]`` for each ``at`` of each list of ``starts``: one search per
    list, one result each.

    The searches go level by level together, so each level of all of them is one pass
    over the heap per batch of objects, however many groups are searched.
    """
    searches = [Search(context, objs, group) for group in starts]
    while True:
        level = [(search, at) for search in searches for at in search.next_level()]
        if not level:
            return [search.outcome() for search in searches]
        known: list[tuple[Search, int]] = []
        work: list[tuple[Search, int]] = []
        for node in level:
            (known if _is_known(context, node) else work).append(node)
        if known:
            _take_known(context, searches, known)
        for first in range(0, len(work), _BATCH):
            if time.monotonic() >= context.deadline:
                for search in searches:
                    search.time_out()
                return [search.outcome() for search in searches]
            _expand(context, searches, work[first : first + _BATCH])


def _expand(context: Context, searches: list[Search], chunk: list[tuple[Search, int]]) -> None:
    """One pass over the heap for the referrers of the nodes in ``chunk``, each handed
    to the searches whose nodes it refers to."""
    positions = _positions(chunk)
    # A tuple is passed on as the call's argument tuple itself, which 3.13 reports as a
    # referrer (earlier versions skip it): skipping ``batch`` covers both.
    batch = tuple(search.nodes[at] for search, at in chunk)
    skip = _stack_frame_ids() | {id(search.nodes) for search in searches}
    single = next(iter(positions.values())) if len(positions) == 1 else None
    for referrer in gc.get_referrers(*batch):
        ident = id(referrer)
        if (
            ident in skip
            or ident in context.ignore
            or referrer is batch
            or is_plugin_frame(referrer)
        ):
            continue
        # No node at all when another thread dropped the reference since the pass saw it.
        _hand_over(referrer, single or _referred(referrer, positions))


def _is_known(context: Context, node: tuple[Search, int]) -> bool:
    search, at = node
    return known_referrers(context.known, search.nodes[at]) is not None


def _take_known(context: Context, searches: list[Search], chunk: list[tuple[Search, int]]) -> None:
    """The referrers an earlier pass found for the nodes in ``chunk``, those that still
    refer to them (read again from each referrer), handed to the searches as
    :func:`_expand` does: no pass over the heap."""
    positions = _positions(chunk)
    skip = {id(search.nodes) for search in searches}
    referrers = {
        id(referrer): referrer
        for key in positions
        for referrer in context.known[key][1]
        if id(referrer) not in skip and id(referrer) not in context.ignore
    }
    for referrer in referrers.values():
        _hand_over(referrer, _referred(referrer, positions))


def _positions(chunk: list[tuple[Search, int]]) -> dict[int, list[tuple[Search, int]]]:
    """The nodes of ``chunk`` by the id of their object (searches may share objects)."""
    positions: dict[int, list[tuple[Search, int]]] = {}
    for search, at in chunk:
        positions.setdefault(id(search.nodes[at]), []).append((search, at))
    return positions


def _hand_over(referrer: object, nodes: list[tuple[Search, int]]) -> None:
    """Give ``referrer`` to each search it refers to a node of, as that node's parent:
    of two nodes of one search, the container that grew in the run."""
    parents: dict[Search, int] = {}
    for search, at in nodes:
        if search not in parents or (search.grew(at) and not search.grew(parents[search])):
            parents[search] = at
    for search, parent in parents.items():
        search.take(referrer, parent)


def _referred(
    referrer: object, positions: Mapping[int, list[tuple[Search, int]]]
) -> list[tuple[Search, int]]:
    """The nodes among ``positions`` that ``referrer`` refers to."""
    return [node for key in referred_ids(referrer, positions) for node in positions[key]]


class Search:
    """Breadth-first search from retained objects back to a root over ``gc.get_referrers``.

    Nodes live in one list and are otherwise referred to by index, so the search's own
    bookkeeping holds no object the next ``gc.get_referrers`` call could report.
    Detours (:mod:`~pytest_memguard.explain.detours`) are followed only once no other
    way is left, and a root in ``sys`` is kept in reserve while the search goes on, a
    few references further at most, for a module, a class, a thread or a holder.
    """

    __slots__ = (
        "context",
        "depths",
        "detours",
        "found",
        "frontier",
        "index",
        "nodes",
        "parents",
        "reserve",
        "result",
    )

    def __init__(self, context: Context, objs: list[object], starts: list[int]) -> None:
        self.context = context
        self.nodes: list[object] = []
        self.parents: list[int] = []
        self.depths: list[int] = []
        self.index: dict[int, int] = {}
        self.found: list[tuple[int, int]] = []
        self.reserve: list[tuple[int, int]] = []
        self.detours: list[int] = []
        self.result: Result | None = None
        self.frontier = [
            at for at in [self._add(objs[start], -1) for start in starts] if self._found(at)
        ]

    def next_level(self) -> list[int]:
        """The nodes whose referrers come next; none once the search is over."""
        if self.result is not None:
            return []
        if self.found:
            self.result = self._best(self.found)
            return []
        if not self.frontier:
            self.frontier, self.detours = self.detours, []
        if not self.frontier:
            self.result = self._fallback(self.reserve, "exhausted")
            return []
        depth = self.depths[self.frontier[0]]
        if depth >= MAX_DEPTH or (
            self.reserve and depth > self.depths[self.reserve[0][1]] + _SLACK
        ):
            self.result = self._fallback(self.reserve, "depth")
            return []
        level, self.frontier = self.frontier, []
        return level

    def take(self, referrer: object, parent: int) -> None:
        """``referrer`` refers to the node at ``parent``: a node of the next level."""
        if id(referrer) in self.index:
            return
        at = self._add(referrer, parent)
        if is_detour(referrer):
            self.detours.append(at)
        elif self._found(at):
            self.frontier.append(at)

    def time_out(self) -> None:
        if self.result is None:
            self.result = (
                self._best(self.found) if self.found else self._fallback(self.reserve, "timeout")
            )

    def outcome(self) -> Result:
        # Set by next_level() once it has nothing left, or by time_out().
        assert self.result is not None
        return self.result

    def _found(self, at: int) -> bool:
        """Note the root at ``at``, if it is one; whether the search goes on from it.

        A root in ``sys`` ends its way (every module that imports ``sys`` holds it).
        """
        rank = self._rank(at)
        if rank is not None:
            (self.reserve if rank == SYS else self.found).append((rank, at))
        return rank != SYS

    def _best(self, found: list[tuple[int, int]]) -> Result:
        rank, _, at = min((rank, not self._defines(at), at) for rank, at in found)
        return self._result("root", at, ROOTS[rank])

    def _fallback(self, reserve: list[tuple[int, int]], status: str) -> Result:
        """The nearest root kept in reserve, else a partial path ending with ``status``."""
        if reserve:
            nearest = min(self.depths[at] for _, at in reserve)
            return self._best([(rank, at) for rank, at in reserve if self.depths[at] == nearest])
        return self._result(status, self._outermost())

    def _add(self, obj: object, parent: int) -> int:
        at = len(self.nodes)
        self.nodes.append(obj)
        self.parents.append(parent)
        self.depths.append(self.depths[parent] + 1 if parent >= 0 else 0)
        self.index[id(obj)] = at
        return at

    def _rank(self, at: int) -> int | None:
        obj = self.nodes[at]
        ident = id(obj)
        roots = self.context.roots
        if ident in roots.modules:
            return SYS if roots.modules[ident] is sys else MODULE
        if ident in roots.classes:
            return CLASS
        if ident in roots.thread_locals:
            return THREAD
        if ident in self.context.holders:
            return HOLDER
        if issubclass(type(obj), ModuleType) and ident not in roots.made:
            return SYS if obj is sys else MODULE
        return None

    def _defines(self, at: int) -> bool:
        """Whether the root at ``at`` is the module that defines what it holds.

        An object imported elsewhere (``from shop.events import bus``) is held by every
        importing module too; the chain names the module it comes from.
        """
        module = self.context.roots.modules.get(id(self.nodes[at]))
        if module is None or self.parents[at] < 0:
            return False
        held = self.nodes[self.parents[at]]
        owner = getattr(held, "__module__", None) if callable(held) else None
        return module.__name__ in (owner, type(held).__module__)

    def grew(self, at: int) -> bool:
        """Whether the node at ``at`` is a container that grew in the explained run."""
        return id(self.nodes[at]) in self.context.grown

    def _outermost(self) -> int:
        return max(range(len(self.nodes)), key=self.depths.__getitem__)

    def _result(self, status: str, at: int, root: str = "object") -> Result:
        path = []
        while at >= 0:
            path.append(self.nodes[at])
            at = self.parents[at]
        return Result(status, path, root)
