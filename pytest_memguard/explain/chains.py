"""Explain retained objects: what is retained, who holds it, where it was allocated.

:func:`explain` takes the retained objects of one repetition of a leaking test and
returns :class:`~pytest_memguard.findings.Finding` records:

1. **Group.** A *top* is a retained object no other retained object refers to; its
   group is everything retained it reaches. Retained objects that hang off reference
   cycles have no top: their group starts at a cycle no other retained object reaches.
   Groups of the same type and allocation site merge; the largest come first.
2. **Chain.** For the first groups, a breadth-first search backwards over
   ``gc.get_referrers`` finds a shortest path from a root (a module global, a class
   attribute, a live thread's local, a labelled holder, ``sys`` state) to the group,
   bounded in depth and in time.
3. **Name.** Each edge is written the way code reads it (``mod._CACHE['user:7']``,
   ``.sessions[3]``, ``<closure of make_handler>.buf``), and the group is classified
   (:mod:`pytest_memguard.classify`).

Cost: each level of the search is one pass over the heap per batch of objects (the
heap must not be frozen: ``gc.get_referrers`` does not see frozen objects), so chains
found near a root are cheap whatever the heap size; the time budget stops the rest.
"""

from __future__ import annotations

import gc
import linecache
import os
import sys
import threading
import time
import tracemalloc
import weakref
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import (
    AsyncGeneratorType,
    CoroutineType,
    FrameType,
    FunctionType,
    GeneratorType,
    GetSetDescriptorType,
    MappingProxyType,
    MemberDescriptorType,
    MethodType,
    ModuleType,
)
from typing import cast

from pytest_memguard.explain.classify import ADVICE, Evidence, classify
from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.units import format_size

#: Longest chain searched, in references from the retained object.
MAX_DEPTH = 40

#: Objects looked up per ``gc.get_referrers`` call: each call walks the whole heap and
#: its cost also grows with the number of objects it looks for.
_BATCH = 32

#: Where the search of a group without a top starts, at most.
_MAX_STARTS = 256

#: Members of a group asked for its allocation site, nearest the top first.
_SITE_TRIES = 16

#: Longest repr of a dict key shown in a chain.
_MAX_KEY = 60

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes made by a class statement or type()

_NO_HOLDERS: Mapping[int, str] = MappingProxyType({})
_WEAKREFS = (weakref.ref, weakref.ProxyType, weakref.CallableProxyType)

# Kinds of root, in order of preference among roots at the same distance.
_ROOTS = ("module", "class", "thread", "holder", "sys")
_MODULE, _CLASS, _THREAD, _HOLDER, _SYS = range(len(_ROOTS))


def explain(
    retained: Sequence[object],
    *,
    chains: int = 3,
    timeout: float = 2.0,
    traceback_depth: int = 10,
    exclude: Collection[int] = (),
    holders: Mapping[int, str] = _NO_HOLDERS,
) -> list[Finding]:
    """Group ``retained`` objects, find who holds the largest groups, classify each group.

    ``chains`` groups (largest first) get a retainer chain; ``timeout`` seconds bound all
    their searches together, after which a chain is partial (``chain_complete=False``).
    ``exclude`` holds the ids of objects that must never appear in a chain (the caller's
    own lists of the retained objects, its frames' containers); ``retained`` itself and
    the frames of the calling thread are always left out. ``holders`` labels extra
    roots, such as fixture values. ``allocated_at`` has up to ``traceback_depth`` frames
    when tracemalloc traced the objects. Returns one finding per group.
    """
    ignore = {id(retained), *exclude}
    graph = _build_graph(retained, ignore)
    _find_holders(graph)
    groups = _group(graph)
    ignore.add(id(graph.objs))
    context = None
    if chains > 0 and groups:
        context = _Context(_Roots.collect(), ignore, holders, time.monotonic() + timeout, timeout)
        ignore.update(context.roots.container_ids())
    return [
        _explain_group(graph, group, context if rank < chains else None, traceback_depth)
        for rank, group in enumerate(groups)
    ]


# --- grouping ---------------------------------------------------------------------


@dataclass
class _Subgraph:
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
class _Graph:
    """The retained objects (indexed), their references among themselves and sizes."""

    objs: list[object]
    occurrences: list[int]
    children: list[list[int]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    subgraphs: list[_Subgraph] = field(default_factory=list)


@dataclass
class _Group:
    subgraphs: list[_Subgraph]
    type_name: str
    allocated_at: tuple[Frame, ...]
    count: int = 0
    bytes: int = 0


def _build_graph(retained: Sequence[object], ignore: set[int]) -> _Graph:
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
    graph = _Graph(objs, occurrences)
    untracked: set[int] = set()
    for obj in objs:
        kids: set[int] = set()
        size = sys.getsizeof(obj, 0)
        refs = gc.get_referents(obj)
        own_dict_seen = False
        for ref in refs:
            at = index.get(id(ref), -1)
            if at >= 0:
                kids.add(at)
            elif not own_dict_seen and type(ref) is dict and _dict_of(obj) is ref:
                # The object's own __dict__, not retained itself: look through it.
                own_dict_seen = True
                refs.extend(gc.get_referents(ref))
            elif not gc.is_tracked(ref) and id(ref) not in untracked:
                # Strings, bytes and numbers never show up as retained objects (the gc
                # does not track them); count them with the first object that holds them.
                untracked.add(id(ref))
                size += sys.getsizeof(ref, 0)
        graph.children.append(list(kids))
        graph.sizes.append(size)
    graph.subgraphs = _partition(_with_weak_references(graph, index))
    return graph


def _with_weak_references(graph: _Graph, index: dict[int, int]) -> list[list[int]]:
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


def _dict_of(obj: object) -> dict[str, object] | None:
    """``obj.__dict__`` when it is a plain dict (on 3.11+ this may create it)."""
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return None
    return attributes if type(attributes) is dict else None


def _partition(children: list[list[int]]) -> list[_Subgraph]:
    referenced = [False] * len(children)
    for kids in children:
        for kid in kids:
            referenced[kid] = True
    claimed = [False] * len(children)
    subgraphs = [
        _Subgraph(at, _claim(at, children, claimed), rootless=False, starts=[at])
        for at in range(len(children))
        if not referenced[at]
    ]
    # What is left hangs off cycles. Taken by decreasing depth-first finish time, each
    # unclaimed object sits in a cycle no other unclaimed object reaches (the ordering
    # of Kosaraju's algorithm), so claiming from it leaves the next one in the same case.
    for at in reversed(_finish_order(children, claimed)):
        if not claimed[at]:
            subgraphs.append(_Subgraph(at, _claim(at, children, claimed), True, starts=[]))
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


def _find_holders(graph: _Graph) -> None:
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


def _group(graph: _Graph) -> list[_Group]:
    groups: dict[tuple[int, tuple[str, int] | None], _Group] = {}
    for sub in graph.subgraphs:
        cls = type(graph.objs[sub.representative])
        frames = _allocated_at(graph, sub)
        site = (frames[-1].filename, frames[-1].lineno) if frames else None
        group = groups.setdefault((id(cls), site), _Group([], class_name(cls), tuple(frames)))
        group.subgraphs.append(sub)
        group.count += len(sub.members)
        group.bytes += sum(graph.sizes[at] for at in sub.members)
    return sorted(groups.values(), key=lambda group: (-group.bytes, -group.count))


def _framework_dirs() -> tuple[str, ...]:
    dirs = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    for name in ("pytest", "_pytest", "pluggy"):
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)))
    return tuple(path + os.sep for path in dirs)


def _allocated_at(graph: _Graph, sub: _Subgraph) -> list[Frame]:
    """Where tracemalloc saw the subgraph allocated, most recent call last, from user code.

    The representative is asked first, then the members nearest the top: tracemalloc
    misses objects reused from a free list filled before tracing started and, on 3.11,
    instances with a managed ``__dict__`` (CPython gh-101430).
    """
    if not tracemalloc.is_tracing():
        return []
    candidates = (graph.objs[at] for at in [sub.representative, *sub.members[:_SITE_TRIES]])
    traceback = next(
        (found for obj in candidates if (found := tracemalloc.get_object_traceback(obj))), None
    )
    return [] if traceback is None else traceback_frames(traceback)


def traceback_frames(traceback: tracemalloc.Traceback) -> list[Frame]:
    """A tracemalloc traceback as user-code frames, most recent call last."""
    framework = _framework_dirs()
    frames = list(traceback)
    ours = [not frame.filename.startswith(framework) for frame in frames]
    # Before the test's code come pytest's frames and whatever they call out to: its
    # launcher, plugins' hooks (xdist...). The test's code starts where pytest last calls out.
    start = max((at for at in range(1, len(frames)) if ours[at] and not ours[at - 1]), default=0)
    return [
        Frame(
            frame.filename,
            frame.lineno,
            line=linecache.getline(frame.filename, frame.lineno).strip(),
        )
        for frame, mine in zip(frames[start:], ours[start:], strict=True)
        # Generated code (a dataclass __init__ is "<string>") has no file to open.
        if mine and not frame.filename.startswith("<")
    ]


# --- the chain search ---------------------------------------------------------------


@dataclass
class _Roots:
    """What a search stops at, looked up by id."""

    modules: dict[int, ModuleType]  # id(module.__dict__) -> module
    classes: dict[int, type]  # id(class dict) -> class
    thread_locals: dict[int, str]  # id(value) -> "Thread 'x' frame f() local y"
    # Keeps the locals alive so that their ids are not reused while a search runs.
    pinned: list[object]

    @classmethod
    def collect(cls) -> _Roots:
        modules = {
            id(vars(module)): module
            for module in list(sys.modules.values())
            if isinstance(module, ModuleType)
        }
        pinned: list[object] = []
        return cls(modules, _class_dicts(), _thread_locals(pinned), pinned)

    def container_ids(self) -> set[int]:
        return {id(self.modules), id(self.classes), id(self.pinned)}


def _class_dicts() -> dict[int, type]:
    found: dict[int, type] = {}
    seen = {id(object)}
    todo: list[type] = [object]
    while todo:
        cls = todo.pop()
        if cls.__flags__ & _HEAPTYPE:
            # A class's __dict__ is a read-only proxy; the proxy refers to the real dict.
            found[id(gc.get_referents(cls.__dict__)[0])] = cls
        subclasses: list[type] = type.__subclasses__(cls)
        for sub in subclasses:
            if id(sub) not in seen:
                seen.add(id(sub))
                todo.append(sub)
    return found


def _thread_locals(pinned: list[object]) -> dict[int, str]:
    """Labels for the locals of every other thread's frames, the outermost frame winning.

    On 3.11+ a running frame's locals are invisible to ``gc.get_referrers``, so a live
    thread's stack is a root to look up, not a referrer to find.
    """
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    labels: dict[int, str] = {}
    frames = sys._current_frames()
    # Our own frame, held by that dict, would be a cycle keeping every pinned object alive
    # (the tests' resources too) until a full collection, long after this window.
    del frames[threading.get_ident()]
    for ident, top in frames.items():
        thread = f"Thread {names[ident]!r}" if ident in names else f"Thread {ident}"
        frame: FrameType | None = top
        while frame is not None:
            for name, value in frame.f_locals.items():
                labels[id(value)] = f"{thread} frame {frame.f_code.co_name}() local {name}"
                pinned.append(value)
            frame = frame.f_back
    return labels


@dataclass
class _Context:
    roots: _Roots
    ignore: set[int]
    holders: Mapping[int, str]
    deadline: float
    timeout: float


@dataclass
class _Result:
    # "root", "exhausted" (no root anywhere), "timeout" or "depth".
    status: str
    path: list[object]  # from the root (or the outermost object found) to the start
    root: str  # one of _ROOTS, or "object"


def _stack_frame_ids() -> set[int]:
    ids = set()
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        ids.add(id(frame))
        frame = frame.f_back
    return ids


class _Search:
    """Breadth-first search from retained objects back to a root over ``gc.get_referrers``.

    Nodes live in one list and are otherwise referred to by index, so the search's own
    bookkeeping holds no object the next ``gc.get_referrers`` call could report.
    """

    __slots__ = ("context", "depths", "index", "nodes", "parents")

    def __init__(self, context: _Context) -> None:
        self.context = context
        self.nodes: list[object] = []
        self.parents: list[int] = []
        self.depths: list[int] = []
        self.index: dict[int, int] = {}

    def run(self, objs: list[object], starts: list[int]) -> _Result:
        frontier = [self._add(objs[at], -1) for at in starts]
        found = [(rank, at) for at in frontier if (rank := self._rank(at)) is not None]
        # Weakrefs hold only their callback; they are followed only if nothing else leads out.
        weak: list[int] = []
        while frontier and not found:
            if self.depths[frontier[0]] >= MAX_DEPTH:
                return self._result("depth", self._outermost())
            following: list[int] = []
            for at in range(0, len(frontier), _BATCH):
                if time.monotonic() >= self.context.deadline:
                    if found:
                        break
                    return self._result("timeout", self._outermost())
                self._expand(frontier[at : at + _BATCH], following, weak, found)
            frontier = following
            if not frontier and not found:
                frontier, weak = weak, []
        if found:
            rank, _, at = min((rank, not self._defines(at), at) for rank, at in found)
            return self._result("root", at, _ROOTS[rank])
        return self._result("exhausted", self._outermost())

    def _expand(
        self, chunk: list[int], following: list[int], weak: list[int], found: list[tuple[int, int]]
    ) -> None:
        positions = {id(self.nodes[at]): at for at in chunk}
        # A tuple is passed on as the call's argument tuple itself, which 3.13 reports as a
        # referrer (earlier versions skip it): skipping ``batch`` covers both.
        batch = tuple(self.nodes[at] for at in chunk)
        skip = _stack_frame_ids()
        for referrer in gc.get_referrers(*batch):
            ident = id(referrer)
            if (
                ident in self.index
                or ident in skip
                or ident in self.context.ignore
                or referrer is batch
                or referrer is self.nodes
            ):
                continue
            parent = chunk[0] if len(chunk) == 1 else self._parent(referrer, positions)
            if parent < 0:
                continue
            at = self._add(referrer, parent)
            if isinstance(referrer, _WEAKREFS):
                weak.append(at)
                continue
            following.append(at)
            rank = self._rank(at)
            if rank is not None:
                found.append((rank, at))

    @staticmethod
    def _parent(referrer: object, positions: Mapping[int, int]) -> int:
        # -1 when another thread dropped the reference since gc.get_referrers saw it.
        return next(
            (positions[id(ref)] for ref in gc.get_referents(referrer) if id(ref) in positions), -1
        )

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
            return _SYS if roots.modules[ident] is sys else _MODULE
        if ident in roots.classes:
            return _CLASS
        if ident in roots.thread_locals:
            return _THREAD
        if ident in self.context.holders:
            return _HOLDER
        if isinstance(obj, ModuleType):
            return _SYS if obj is sys else _MODULE
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

    def _outermost(self) -> int:
        return max(range(len(self.nodes)), key=self.depths.__getitem__)

    def _result(self, status: str, at: int, root: str = "object") -> _Result:
        path = []
        while at >= 0:
            path.append(self.nodes[at])
            at = self.parents[at]
        return _Result(status, path, root)


# --- naming the edges ---------------------------------------------------------------

_MISSING = object()


_TYPE_GETTERS = type.__dict__


def class_name(cls: type, which: str = "__name__") -> str:
    """A class's name read through ``type``'s own descriptor.

    A class whose metaclass the collector cleared (its ``__mro__`` is None: a
    self-referencing metaclass such as ``v.__class__ = v``) fails ordinary lookups.
    """
    try:
        return str(_TYPE_GETTERS[which].__get__(cls))
    except Exception:
        return object.__repr__(cls)


def _type_name(obj: object) -> str:
    return class_name(type(obj))


def _key_text(key: object) -> str:
    if isinstance(key, (str, int)):
        text = repr(key)
        return text if len(text) <= _MAX_KEY else f"{text[: _MAX_KEY - 3]}..."
    return f"<{_type_name(key)} object>"


def _key_of(mapping: object, value: object) -> object:
    """The key under which ``mapping`` holds ``value``, or ``_MISSING``."""
    if not isinstance(mapping, dict):
        return _MISSING
    return next((key for key, item in list(mapping.items()) if item is value), _MISSING)


def _item_edge(parent: object, child: object) -> str | None:
    if isinstance(parent, dict):
        key = _key_of(parent, child)
        if key is not _MISSING:
            return f"[{_key_text(key)}]"
        if any(key is child for key in list(parent)):
            return f".keys(){{{_key_text(child)}}}"
    elif isinstance(parent, (list, tuple, deque)):
        position = next((n for n, item in enumerate(list(parent)) if item is child), -1)
        if position >= 0:
            return f"[{position}]"
    elif isinstance(parent, (set, frozenset)) and any(item is child for item in list(parent)):
        return f"{{{_key_text(child)}}}"
    return None


def _local_edge(frame: FrameType | None, child: object) -> str | None:
    if frame is None:
        return None
    name = next((name for name, value in frame.f_locals.items() if value is child), None)
    return None if name is None else f" frame {frame.f_code.co_name}() local {name}"


def _code_edge(parent: object, child: object) -> str | None:
    """Bound methods, frames and suspended generators or coroutines."""
    if isinstance(parent, MethodType) and parent.__self__ is child:
        return f"<bound method {parent.__func__.__qualname__}>.__self__"
    if isinstance(parent, FrameType):
        return _local_edge(parent, child)
    return _local_edge(_frame_of(parent), child)


def _frame_of(obj: object) -> FrameType | None:
    """The frame of a suspended generator, coroutine or async generator."""
    if isinstance(obj, GeneratorType):
        return obj.gi_frame
    if isinstance(obj, CoroutineType):
        return obj.cr_frame
    if isinstance(obj, AsyncGeneratorType):
        return obj.ag_frame
    return None


def _attribute_edge(parent: object, child: object) -> str | None:
    name = _key_of(_dict_of(parent), child)
    if name is not _MISSING:
        return _attribute_text(name)
    # Slots and the named fields of built-in types (cell_contents, __func__, args, ...).
    for klass in type(parent).__mro__:
        for name, descriptor in list(vars(klass).items()):
            if isinstance(descriptor, (MemberDescriptorType, GetSetDescriptorType)):
                try:
                    value = descriptor.__get__(parent, type(parent))
                except Exception:
                    # Any getter may refuse (an empty slot, a closed generator's frame...).
                    continue
                if value is child:
                    return f".{name}"
    return None


def _attribute_text(name: object) -> str:
    if isinstance(name, str) and name.isidentifier():
        return f".{name}"
    return f".__dict__[{_key_text(name)}]"


def _edge(parent: object, child: object) -> str:
    for finder in (_item_edge, _code_edge, _attribute_edge):
        text = finder(parent, child)
        if text is not None:
            return text
    return "<internal ref>"


def _outer_name(function: FunctionType) -> str:
    """``make_handler`` for ``make_handler.<locals>.handler``: who made the closure."""
    outer, _, _ = function.__qualname__.rpartition(".<locals>.")
    return (outer or function.__qualname__).replace(".<locals>", "")


def _render(
    path: list[object], root: str, context: _Context
) -> tuple[list[ChainEdge], list[object]]:
    """Chain edges for ``path`` and the object each edge reaches, root first."""
    first = path[0]
    # True when path[0] is a __dict__ whose keys read as attributes.
    attribute_dict = root in ("module", "sys", "class") and not isinstance(first, ModuleType)
    if root in ("module", "sys"):
        module = context.roots.modules[id(first)] if attribute_dict else first
        edges = [ChainEdge("module", str(getattr(module, "__name__", "<module>")))]
        reached = [module]
    elif root == "class":
        cls = context.roots.classes[id(first)]
        module_name = _TYPE_GETTERS["__module__"].__get__(cls)
        qualname = class_name(cls, "__qualname__")
        edges, reached = [ChainEdge("type", f"{module_name}.{qualname}")], [cls]
    else:
        label = {
            "thread": context.roots.thread_locals.get(id(first)),
            "holder": context.holders.get(id(first)),
        }.get(root)
        edges = [ChainEdge(_type_name(first), label or f"<{_type_name(first)} object>")]
        reached = [first]
    for child, text in _steps(path, attribute_dict):
        edges.append(ChainEdge(_type_name(child), text))
        reached.append(child)
    return edges, reached


def _steps(path: list[object], attribute_dict: bool) -> Iterator[tuple[object, str]]:
    """``(object reached, edge text)`` for each step of ``path`` that shows in a chain.

    An object's ``__dict__`` folds into the attribute edge after it, a generator's frame
    into the local after it, and a function's closure tuple and cell into
    ``<closure of outer>.name``.
    """
    at = 0
    while at < len(path) - 1:
        parent, child = path[at], path[at + 1]
        if attribute_dict:
            attribute_dict = False
            name = _key_of(parent, child)
            yield child, _edge(parent, child) if name is _MISSING else _attribute_text(name)
        elif at + 2 < len(path) and type(child) is dict and _dict_of(parent) is child:
            attribute_dict = True
        elif at + 2 < len(path) and isinstance(child, FrameType) and _frame_of(parent) is child:
            pass  # up to 3.10 a generator holds its locals through its frame: say "frame"
        elif (
            at + 3 < len(path)
            and isinstance(parent, FunctionType)
            and parent.__closure__ is not None
            and child is parent.__closure__
        ):
            cell = path[at + 2]
            slot = next(n for n, item in enumerate(parent.__closure__) if item is cell)
            name = parent.__code__.co_freevars[slot]
            yield path[at + 3], f"<closure of {_outer_name(parent)}>.{name}"
            at += 2
        else:
            yield child, _edge(parent, child)
        at += 1


# --- findings -------------------------------------------------------------------------


def _holder_text(edges: list[ChainEdge], complete: bool, several: bool) -> str:
    """The chain up to the container of several tops, or the whole chain of one."""
    if several and len(edges) > 1 and edges[-1].edge.startswith(("[", "{")):
        edges = edges[:-1]
    text = "".join(edge.edge for edge in edges)
    return text if complete else f"... {text}"


def _summary(
    group: _Group, result: _Result | None, isolated: bool, edges: list[ChainEdge], timeout: float
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


def _explain_group(
    graph: _Graph, group: _Group, context: _Context | None, traceback_depth: int
) -> Finding:
    sub = group.subgraphs[0]
    result = None
    if context is not None and not sub.isolated:
        result = _Search(context).run(graph.objs, sub.starts[:_MAX_STARTS])
    isolated = sub.isolated or (
        result is not None and sub.rootless and result.status == "exhausted"
    )
    edges: list[ChainEdge] = []
    reached: list[object] = []
    # An exhausted search that never left the start found nothing to name.
    named = result is not None and (len(result.path) > 1 or result.status != "exhausted")
    if context is not None and result is not None and named and not isolated:
        edges, reached = _render(result.path, result.root, context)
    evidence = Evidence(
        top=graph.objs[sub.representative] if result is None else result.path[-1],
        members=tuple(graph.objs[at] for each in group.subgraphs for at in each.members),
        chain=tuple(edges),
        chain_objects=tuple(reached),
        path=tuple(result.path) if result is not None and edges else (),
        root=result.root if result is not None and edges else "",
        isolated=isolated,
    )
    kind = classify(evidence)
    return Finding(
        kind=kind,
        summary=_summary(group, result, isolated, edges, context.timeout if context else 0.0),
        count=group.count,
        bytes=group.bytes,
        retainer_chain=tuple(edges),
        chain_complete=result is None or result.status not in ("timeout", "depth"),
        allocated_at=group.allocated_at[-traceback_depth:] if traceback_depth > 0 else (),
        advice=ADVICE[kind],
        extra={"root": evidence.root},
    )
