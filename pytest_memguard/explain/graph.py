"""The retained objects as a graph: their references among themselves, and groups.

A *top* is a retained object no other retained object refers to; its subgraph is
everything retained it reaches. Retained objects that hang off reference cycles have
no top: their subgraph starts at a cycle no other retained object reaches. Subgraphs
of the same type and allocation site form a group; the largest groups come first.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import CodeType, ModuleType
from typing import cast

from pytest_memguard.explain.naming import dict_of
from pytest_memguard.explain.owners import class_name
from pytest_memguard.explain.sites import allocated_at
from pytest_memguard.explain.sizes import deep_sizes
from pytest_memguard.findings import Frame
from pytest_memguard.screen.heap import is_a

#: Members of a group asked for its allocation site, nearest the top first.
_SITE_TRIES = 16

#: What a retained object may refer to without the gc tracking it, yet never its own.
_OLD = (CodeType, ModuleType, type)


@dataclass
class Subgraph:
    """The retained objects reachable from one top (or from one unreached cycle)."""

    top: int
    members: list[int]
    # True when the subgraph starts at a cycle: no member is a top.
    rootless: bool
    # Members something outside the retained objects may hold: where a search starts.
    starts: list[int]
    isolated: bool = False

    @property
    def representative(self) -> int:
        return self.starts[0] if self.starts else self.top


@dataclass
class Graph:
    """The retained objects (indexed) and their references among themselves."""

    objs: list[object]
    occurrences: list[int]
    children: list[list[int]] = field(default_factory=list)
    # What the retained objects refer to that is not retained (and not a bare value).
    outside: list[object] = field(default_factory=list)
    subgraphs: list[Subgraph] = field(default_factory=list)

    def own_ids(self) -> set[int]:
        """Ids of the graph's lists that refer to objects: the plugin's bookkeeping,
        never a link of a retainer chain."""
        return {id(self), id(vars(self)), id(self.objs), id(self.outside)}


@dataclass
class Group:
    """Subgraphs of one type and allocation site: one finding."""

    subgraphs: list[Subgraph]
    type_name: str
    allocated_at: tuple[Frame, ...]
    count: int = 0
    bytes: int = 0

    def members(self, objs: list[object]) -> list[object]:
        """Every object of the group, its tops' subgraphs one after the other."""
        return [objs[at] for sub in self.subgraphs for at in sub.members]


def build_graph(retained: Sequence[object], ignore: set[int]) -> Graph:
    """The graph of ``retained`` (duplicates once), leaving out the ids in ``ignore``."""
    objs: list[object] = []
    occurrences: list[int] = []
    index: dict[int, int] = {}
    for obj in retained:
        if id(obj) in ignore or _is_shared_dict(obj):
            continue
        at = index.setdefault(id(obj), len(objs))
        if at == len(objs):
            objs.append(obj)
            occurrences.append(0)
        occurrences[at] += 1
    graph = Graph(objs, occurrences)
    for obj in objs:
        kids: set[int] = set()
        attributes = dict_of(obj)
        if attributes is not None:
            # Attribute names are the class's, shared by every instance: not the group's.
            graph.outside.extend(attributes)
        referent = obj() if is_a(obj, weakref.ref) else None
        if referent is not None:
            # asizeof weighs a weak reference's referent: it is not what the weakref keeps.
            graph.outside.append(referent)
        refs = gc.get_referents(obj)
        own_dict_seen = False
        for ref in refs:
            at = index.get(id(ref), -1)
            if at >= 0:
                kids.add(at)
            elif not own_dict_seen and ref is attributes:
                # The object's own __dict__, not retained itself: look through it.
                own_dict_seen = True
                refs.extend(gc.get_referents(ref))
            elif gc.is_tracked(ref) or is_a(ref, _OLD):
                # Not retained, so older than the window: it is not the group's to weigh.
                graph.outside.append(ref)
        graph.children.append(list(kids))
    graph.subgraphs = _partition(_with_weak_references(graph, index))
    return graph


def _with_weak_references(graph: Graph, index: dict[int, int]) -> list[list[int]]:
    """The references among the retained objects, plus one from each retained object to
    the retained weak references to it, to group them together.

    A weak reference is bookkeeping about its referent (a ``WeakSet`` registry of live
    threads, a base class's table of subclasses): not a leak of its own, and without
    this edge a group held by nothing the gc can see. The edge is for grouping only: no
    reference is counted for it.
    """
    children = graph.children
    for at, obj in enumerate(graph.objs):
        # type(): some objects do not answer isinstance's question for their __class__
        if issubclass(type(obj), weakref.ReferenceType):
            referent = index.get(id(cast("weakref.ReferenceType[object]", obj)()), -1)
            if referent >= 0 and referent != at:
                if children is graph.children:
                    children = [list(kids) for kids in graph.children]
                children[referent].append(at)
    return children


def _is_shared_dict(obj: object) -> bool:
    """An object's ``__dict__`` made on 3.13+ over values the object itself holds.

    Its values are visited by the object, not by the dict, and nothing visits the
    dict: it would show up as a group held by nothing. Its owner stands for it.
    """
    return type(obj) is dict and bool(obj) and not gc.get_referents(obj)


def _partition(children: list[list[int]]) -> list[Subgraph]:
    referenced = [False] * len(children)
    for kids in children:
        for kid in kids:
            referenced[kid] = True
    claimed = [False] * len(children)
    subgraphs = [
        Subgraph(at, _claim(at, children, claimed), rootless=False, starts=[at])
        for at in range(len(children))
        if not referenced[at]
    ]
    # What is left hangs off cycles. Taken by decreasing depth-first finish time, each
    # unclaimed object sits in a cycle no other unclaimed object reaches (the ordering
    # of Kosaraju's algorithm), so claiming from it leaves the next one in the same case.
    for at in reversed(_finish_order(children, claimed)):
        if not claimed[at]:
            subgraphs.append(Subgraph(at, _claim(at, children, claimed), True, starts=[]))
    return subgraphs


def _finish_order(children: list[list[int]], claimed: list[bool]) -> list[int]:
    """Unclaimed objects in the order a depth-first search finishes them."""
    order: list[int] = []
    seen = list(claimed)
    for start in range(len(children)):
        if seen[start]:
            continue
        seen[start] = True
        stack = [(start, iter(children[start]))]
        while stack:
            at, kids = stack[-1]
            kid = next((kid for kid in kids if not seen[kid]), -1)
            if kid < 0:
                stack.pop()
                order.append(at)
            else:
                seen[kid] = True
                stack.append((kid, iter(children[kid])))
    return order


def _claim(start: int, children: list[list[int]], claimed: list[bool]) -> list[int]:
    members = [start]
    claimed[start] = True
    for at in members:
        for kid in children[at]:
            if not claimed[kid]:
                claimed[kid] = True
                members.append(kid)
    return members


def _refcounts(items: list[object], which: list[int]) -> list[int]:
    return [sys.getrefcount(items[at]) for at in which]


def find_holders(graph: Graph) -> None:
    """Find which members of each rootless subgraph something else refers to.

    A member's references are its refcount; the retained objects' own references and
    ``retained``'s are known, so a member with more has an outside holder. A subgraph
    with none is garbage only the cyclic collector frees, found without a heap walk.
    Counting each referrer once errs towards "held", which the search then checks.
    """
    inbound = [0] * len(graph.objs)
    for kids in graph.children:
        for kid in kids:
            inbound[kid] += 1
    # References the counting itself adds: the list and the call's argument.
    base = _refcounts([object()], [0])[0]
    for sub in graph.subgraphs:
        if sub.rootless:
            counts = _refcounts(graph.objs, sub.members)
            sub.starts = [
                at
                for at, count in zip(sub.members, counts, strict=True)
                if count - base - inbound[at] - graph.occurrences[at] > 0
            ]
            sub.isolated = not sub.starts


def groups_of(graph: Graph, sites_read: Callable[[], None] = lambda: None) -> list[Group]:
    """Subgraphs grouped by the type of their top and their allocation site, sized,
    largest first. ``sites_read`` is called once the allocation sites are read: the
    caller may stop tracing there, which slows every allocation after it."""
    objs = graph.objs
    groups: dict[tuple[int, tuple[str, int] | None], Group] = {}
    for sub in graph.subgraphs:
        cls = type(objs[sub.representative])
        frames = allocated_at(objs[at] for at in [sub.representative, *sub.members[:_SITE_TRIES]])
        site = (frames[-1].filename, frames[-1].lineno) if frames else None
        group = groups.setdefault((id(cls), site), Group([], class_name(cls), tuple(frames)))
        group.subgraphs.append(sub)
        group.count += len(sub.members)
    found = list(groups.values())
    sites_read()
    sizes = deep_sizes([group.members(objs) for group in found], graph.outside)
    for group, size in zip(found, sizes, strict=True):
        group.bytes = size
    return sorted(found, key=lambda group: (-group.bytes, -group.count))
