"""The explain stage's entry point: one confirmed leak's run, grouped, searched and
classified (the stages are listed in :mod:`pytest_memguard.explain`)."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType

from pytest_memguard.explain import classify
from pytest_memguard.explain.chains import Context, Result, search_all
from pytest_memguard.explain.graph import Graph, Group, build_graph, find_holders, groups_of
from pytest_memguard.explain.naming import render
from pytest_memguard.explain.roots import Roots
from pytest_memguard.explain.summary import summary
from pytest_memguard.findings import ADVICE, ChainEdge, Finding
from pytest_memguard.screen.heap import Referrers

#: Where the search of a group without a top starts, at most.
_MAX_STARTS = 256

_NO_HOLDERS: Mapping[int, str] = MappingProxyType({})


def explain(
    retained: Sequence[object],
    *,
    chains: int = 3,
    timeout: float = 2.0,
    traceback_depth: int = 10,
    exclude: Collection[int] = (),
    holders: Mapping[int, str] = _NO_HOLDERS,
    sites_read: Callable[[], None] = lambda: None,
    chain_holders: list[object] | None = None,
    bounded_holders: list[tuple[object, str]] | None = None,
    grown: Collection[int] = (),
    known_referrers: Referrers | None = None,
) -> list[Finding]:
    """Group ``retained`` objects, find who holds the largest groups, classify each group.

    ``chains`` groups (largest first) get a retainer chain; ``timeout`` seconds bound all
    their searches together, after which a chain is partial (``chain_complete=False``).
    ``exclude`` holds the ids of objects that must never appear in a chain (the caller's
    own lists of the retained objects, its frames' containers); ``retained`` itself and
    the frames of the calling thread are always left out. ``holders`` labels extra
    roots, such as fixture values. ``allocated_at`` has up to ``traceback_depth`` frames
    when tracemalloc traced the objects; ``sites_read`` is called once they are read,
    where the caller may stop tracing (it slows every allocation of the rest). Returns
    one finding per group, largest first, groups of kind ``warmup`` (not leaks of their
    own) after the others. ``chain_holders``, if given, receives the object each leak's
    chain ends in before the retained objects (the list a listener was appended to):
    the container a later run of the same leak grows. ``bounded_holders``, if given,
    receives the object that declares the bound of each group of kind ``warmup`` it
    found bounded, with that bound (an ``lru_cache`` filling with new keys): a later
    test's growth in it is warm-up with no search. ``grown`` holds the ids of the
    containers that grew in the run: a chain goes through one of them rather than
    through another holder as near a root. ``known_referrers`` are what earlier passes
    over the heap found referring to some old objects (the climbs above the leak's
    holders): the search takes them rather than passing over the heap for those.
    """
    ignore = {id(retained), *exclude}
    graph = build_graph(retained, ignore)
    find_holders(graph)
    groups = groups_of(graph, sites_read)
    ignore.update(graph.own_ids())
    made = set(map(id, retained))
    context = None
    if chains > 0 and groups:
        deadline = time.monotonic() + timeout
        context = Context(
            Roots.collect(made),
            ignore,
            holders,
            deadline,
            timeout,
            frozenset(grown),
            known_referrers or {},
        )
        ignore.update(context.roots.container_ids())
    searched = [
        rank for rank, group in enumerate(groups[:chains]) if not group.subgraphs[0].isolated
    ]
    results: dict[int, Result] = {}
    if context is not None and searched:
        starts = [groups[rank].subgraphs[0].starts[:_MAX_STARTS] for rank in searched]
        results = dict(zip(searched, search_all(context, graph.objs, starts), strict=True))
    bounded: list[tuple[object, str]] = []
    findings = [
        _explain_group(
            graph,
            group,
            context if rank < chains else None,
            results.get(rank),
            traceback_depth,
            bounded,
        )
        for rank, group in enumerate(groups)
    ]
    if bounded_holders is not None:
        bounded_holders += bounded
    if chain_holders is not None:
        chain_holders += _chain_holders(results, findings, made)
    # The leak before what is not one: a report shows the first finding first.
    return sorted(findings, key=lambda finding: finding.kind == "warmup")


def _chain_holders(
    results: Mapping[int, Result], findings: Sequence[Finding], retained: set[int]
) -> list[object]:
    """The object above the retained ones on each leak's chain from a root."""
    return [
        result.path[-2]
        for rank, result in results.items()
        if result.status == "root"
        and len(result.path) > 1
        and findings[rank].kind != "warmup"
        and id(result.path[-2]) not in retained
    ]


def _older_referent(members: tuple[object, ...], graph: Graph) -> object | None:
    """A live object the run did not make that a weak reference among ``members`` (a
    group) points to: the group is state kept for it."""
    made = set(map(id, graph.objs))
    for member in members:
        if issubclass(type(member), weakref.ref):
            referent: object = member()  # type: ignore[operator]
            if referent is not None and id(referent) not in made:
                return referent
    return None


def _explain_group(
    graph: Graph,
    group: Group,
    context: Context | None,
    result: Result | None,
    traceback_depth: int,
    bounded: list[tuple[object, str]],
) -> Finding:
    """The finding of one group; a bounded holder of a ``warmup`` group goes to ``bounded``."""
    sub = group.subgraphs[0]
    isolated = sub.isolated or (
        result is not None and sub.rootless and result.status == "exhausted"
    )
    edges: list[ChainEdge] = []
    reached: list[object] = []
    # An exhausted search that never left the start found nothing to name.
    named = result is not None and (len(result.path) > 1 or result.status != "exhausted")
    if context is not None and result is not None and named and not isolated:
        edges, reached = render(result.path, result.root, context)
    members = tuple(group.members(graph.objs))
    evidence = classify.Evidence(
        top=graph.objs[sub.representative] if result is None else result.path[-1],
        members=members,
        chain=tuple(edges),
        chain_objects=tuple(reached),
        path=tuple(result.path) if result is not None and edges else (),
        root=result.root if result is not None and edges else "",
        isolated=isolated,
        older_referent=_older_referent(members, graph),
    )
    kind = classify.classify(evidence)
    text = summary(group, result, isolated, edges, context.timeout if context else 0.0)
    extra: dict[str, object] = {"root": evidence.root}
    if kind == "warmup":
        holder = classify.bounded_holder(evidence)
        text += f" ({classify.warmup_reason(holder[1] if holder is not None else None)})"
        if holder is not None:
            extra["bound"] = holder[1]
            bounded.append(holder)
    return Finding(
        kind=kind,
        summary=text,
        count=group.count,
        bytes=group.bytes,
        retainer_chain=tuple(edges),
        chain_complete=result is None or result.status not in ("timeout", "depth"),
        allocated_at=group.allocated_at[-traceback_depth:] if traceback_depth > 0 else (),
        advice=ADVICE[kind],
        extra=extra,
    )
