"""The one-line summary of a finding: what is retained, how much, and who holds it."""

from __future__ import annotations

from pytest_memguard.explain.chains import MAX_DEPTH, Result
from pytest_memguard.explain.graph import Group
from pytest_memguard.findings import ChainEdge
from pytest_memguard.units import format_size


def _holder_text(edges: list[ChainEdge], complete: bool, several: bool) -> str:
    """The chain up to the container of several tops, or the whole chain of one."""
    if several and len(edges) > 1 and edges[-1].edge.startswith(("[", "{")):
        edges = edges[:-1]
    text = "".join(edge.edge for edge in edges)
    return text if complete else f"... {text}"


def summary(
    group: Group, result: Result | None, isolated: bool, edges: list[ChainEdge], timeout: float
) -> str:
    tops = len(group.subgraphs)
    plural = "" if tops == 1 else "s"
    size = format_size(group.bytes)
    if isolated:
        return (
            f"{group.count} objects ({size}) in {tops} reference cycle{plural} through "
            f"{group.type_name} objects that nothing else holds: only the cyclic gc frees them"
        )
    noun = f"{tops} {group.type_name} object{plural}"
    what = f"{noun} ({size})" if group.count == tops else f"{noun} ({group.count} objects, {size})"
    if result is None:
        return what
    complete = result.status not in ("timeout", "depth")
    held = _holder_text(edges, complete, tops > 1) if edges else ""
    if result.status == "timeout":
        where = f" held by {held}" if len(result.path) > 1 else ""
        return f"{what}{where} (chain search timed out after {timeout:g} s)"
    if result.status == "depth":
        return f"{what} held by {held} (no root within {MAX_DEPTH} references)"
    if held:
        return f"{what} held by {held}"
    return f"{what} held by nothing the gc can see (a C extension or a thread's stack)"
