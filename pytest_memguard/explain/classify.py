"""What kind of leak a group of retained objects is: a registry of classifiers.

A classifier looks at the :class:`Evidence` about one group (its objects and, when
one was built, the retainer chain) and says whether the group is of its kind. They are
tried in registry order and the first that says yes wins; other modules add kinds
(thread, timer, file, ...) with :func:`register_kind`.
"""

from __future__ import annotations

import gc
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice, pairwise
from types import CellType, FunctionType, ModuleType
from typing import Any

from pytest_memguard.confirm.bounds import own_bound
from pytest_memguard.explain.detours import is_weak_machinery
from pytest_memguard.explain.owners import is_callback, is_stdlib_owned
from pytest_memguard.findings import ADVICE, KINDS, ChainEdge
from pytest_memguard.screen.heap import CONTEXT_STATE, is_a

#: How many items of a container are looked at to decide it is a registry of callables.
_SAMPLE = 64

_REGISTRIES = (dict, list, tuple, deque, set, frozenset)

#: Objects up the chain from the group searched for a declared bound.
_BOUND_REACH = 4


@dataclass(frozen=True)
class Evidence:
    """What is known about one group of retained objects.

    ``top`` is the retained object the chain leads to and ``members`` every object of
    the group. When a chain was built, ``chain`` holds its edges and ``chain_objects``
    the object each edge reaches (the root first: a module, a class, a thread's local,
    a fixture value or the outermost object found); ``path`` is every object from the
    root to ``top``, including the ``__dict__``, closure tuple and cell objects the
    chain text folds away. ``root`` says what the chain starts from: ``module``,
    ``class``, ``thread``, ``holder``, ``sys``, ``object``, or ``""`` without a chain.
    ``isolated`` is true when nothing outside the group holds it. ``older_referent``
    is an object older than the run that a weak reference in the group points to.
    """

    top: object
    members: tuple[object, ...]
    chain: tuple[ChainEdge, ...] = ()
    chain_objects: tuple[object, ...] = ()
    path: tuple[object, ...] = ()
    root: str = ""
    isolated: bool = False
    older_referent: object | None = None


Classifier = Callable[[Evidence], bool]


def _is_registry(holder: object) -> bool:
    """A plain container whose items are mostly callables."""
    if not is_a(holder, _REGISTRIES):
        return False
    items = list(islice(holder.values() if is_a(holder, dict) else holder, _SAMPLE))
    return sum(map(is_callback, items)) * 2 > len(items)


def _is_uncollectable(evidence: Evidence) -> bool:
    """Some of the group sits in ``gc.garbage``."""
    garbage = set(map(id, gc.garbage))
    return any(id(obj) in garbage for obj in evidence.members)


def _is_cycle(evidence: Evidence) -> bool:
    """Only the group itself refers to the group: garbage the cyclic collector frees."""
    return evidence.isolated


def _is_listener(evidence: Evidence) -> bool:
    """A callback registered in a container of callables, or what it keeps alive.

    The registered callable is the group's own (added while the test ran) or holds the
    group directly (a bound method's ``__self__``, a closure's cells): a registry the
    chain merely passes through on its way to a cache or a list further on does not
    make a listener. Without a chain, a retained callback is taken for a listener:
    registering callbacks is by far the commonest way a function outlives the call
    that made it.
    """
    chain = evidence.chain_objects
    if not chain:
        return is_callback(evidence.top)
    members = set(map(id, evidence.members))
    return any(
        _is_registry(holder) and is_callback(item) and (id(item) in members or at == len(chain) - 2)
        for at, (holder, item) in enumerate(pairwise(chain), start=1)
    )


def _is_closure(evidence: Evidence) -> bool:
    """The chain goes through a closure cell, or the group hangs off a closure."""
    if is_a(evidence.top, FunctionType) and evidence.top.__closure__:
        return True
    return any(is_a(obj, CellType) for obj in evidence.path)


def _is_named(obj: object, module: str, name: str) -> bool:
    """Whether ``obj`` is a ``module.name``, without importing the module (no instance
    exists before it is imported) and without asking ``obj`` for its ``__class__``."""
    cls = getattr(sys.modules.get(module), name, None)
    return is_a(cls, type) and issubclass(type(obj), cls)


def _running_thread(obj: Any, timer: bool) -> bool:
    if not _is_named(obj, "threading", "Thread") or not obj.is_alive():
        return False
    return _is_named(obj, "threading", "Timer") == timer


def _pending_task(obj: Any) -> bool:
    return _is_named(obj, "asyncio", "Task") and not obj.done()


def _open_socket(obj: Any) -> bool:
    return _is_named(obj, "socket", "socket") and obj.fileno() >= 0


def _open_file(obj: Any) -> bool:
    # The C base of every file class, not the io.IOBase ABC: an ABC's subclass check
    # runs Python code on the retained object's class, which a cleared class crashes.
    # In-memory streams (StringIO, BytesIO) have no descriptor: fileno() raises.
    return _is_named(obj, "_io", "_IOBase") and not obj.closed and obj.fileno() >= 0


def _running_child(obj: Any) -> bool:
    return _is_named(obj, "subprocess", "Popen") and obj.returncode is None


def _holds(test: Callable[[object], bool]) -> Classifier:
    """A classifier: the group holds a live resource that ``test`` recognises.

    The resource's own bookkeeping (its ``__dict__``, locks, the bound method a thread
    runs, weak references to it) is then named after the resource, not as a listener or
    a container of its own.
    """

    def holds(evidence: Evidence) -> bool:
        for member in evidence.members:
            try:
                if test(member):
                    return True
            except Exception:  # a retained object's own property may raise
                continue
        return False

    return holds


def _held_by_thread(evidence: Evidence) -> bool:
    return evidence.root == "thread" or _holds(lambda obj: _running_thread(obj, False))(evidence)


#: How to tell a group of retained objects holds a live resource, per resource kind
#: (:data:`~pytest_memguard.findings.RESOURCE_KINDS`): it is named after it.
RESOURCE_CLASSIFIERS: dict[str, Classifier] = {
    "timer": _holds(lambda obj: _running_thread(obj, True)),
    "thread": _held_by_thread,
    "task": _holds(_pending_task),
    "socket": _holds(_open_socket),
    "file": _holds(_open_file),
    "subprocess": _holds(_running_child),
}


def _holder_at(evidence: Evidence) -> int:
    """Where the chain reaches the group: the index of its first member, or -1."""
    members = set(map(id, evidence.members))
    return next((at for at, obj in enumerate(evidence.chain_objects) if id(obj) in members), -1)


def holder_bound(evidence: Evidence) -> str | None:
    """The bound of the container that holds the group, or of an owner further up."""
    found = bounded_holder(evidence)
    return found[1] if found is not None else None


def bounded_holder(evidence: Evidence) -> tuple[object, str] | None:
    """The object on the chain that declares the group's bound, with the bound.

    The search goes up the chain from the container the group hangs in, through plain
    containers (a bounded object's inner storage), to the first other object: a bound
    declared there (``deque(maxlen)``, ``lru_cache(maxsize)``, a cache class's
    ``maxsize``) holds the group however the chain reached it, even through a registry
    of the caches' ``cache_clear`` functions.
    """
    first = _holder_at(evidence)
    for obj in reversed(evidence.chain_objects[max(first - _BOUND_REACH, 0) : max(first, 0)]):
        if issubclass(type(obj), (ModuleType, type)):
            return None  # a root: its globals (sys.maxsize...) bound nothing it holds
        bound = own_bound(obj)
        if bound is not None:
            return obj, bound
        if not is_a(obj, _REGISTRIES):
            return None
    return None


def is_machinery_state(evidence: Evidence) -> bool:
    """The group is state the standard library keeps for another object.

    A weak reference whose referent is not in the group (bookkeeping such as
    ``logging._handlerList``), or an object the standard library owns (a codec's
    decoder, a lock, a condition's bound method) that is no container's entry: its
    holder is the standard library's too (a condition's attribute), or no chain shows
    one (nothing the gc can see holds it, or it was not among the groups searched:
    the project's own growth is in the first groups, the largest).
    """
    if _kept_for_an_older_object(evidence):
        return False
    top = evidence.top
    if is_weak_machinery(top) or type(top) in CONTEXT_STATE:
        return True
    if not is_stdlib_owned(top):
        return False
    first = _holder_at(evidence)
    if first < 1:
        return not evidence.chain_objects
    holder = evidence.chain_objects[first - 1]
    return not is_a(holder, _REGISTRIES) and is_stdlib_owned(holder)


def _kept_for_an_older_object(evidence: Evidence) -> bool:
    """Whether the group is state kept for an object older than the run that is the
    project's, or in a container the project keeps (its chain starts at a module or
    class not the standard library's). The explanation is of growth on every run: a
    ``WeakValueDictionary`` entry per request for a shared object, a ``weakref.finalize``
    per call on a long-lived pool, each stays as long as that object lives. State the
    standard library keeps for its own objects (a logger's handler references) is not."""
    referent = evidence.older_referent
    if referent is None:
        return False
    if not is_stdlib_owned(referent):
        return True
    if evidence.root not in ("module", "class") or not evidence.chain_objects:
        return False
    return not is_stdlib_owned(evidence.chain_objects[0])


def _is_warmup(evidence: Evidence) -> bool:
    """Growth that is not a leak of its own: under a bound, or machinery's state."""
    return holder_bound(evidence) is not None or is_machinery_state(evidence)


def warmup_reason(bound: str | None) -> str:
    """Why a group of kind ``warmup`` is one, for its summary, from its holder's bound
    (:func:`bounded_holder`; None: machinery's state)."""
    return f"bounded: {bound}" if bound else "state the standard library keeps"


def _is_growing_container(evidence: Evidence) -> bool:
    """The default: a confirmed leak grows some structure reachable from a root every run."""
    return True


#: kind -> classifier, tried in this order; the last one accepts every group.
CLASSIFIERS: dict[str, Classifier] = {
    "uncollectable": _is_uncollectable,
    **RESOURCE_CLASSIFIERS,
    "cycle": _is_cycle,
    "warmup": _is_warmup,
    "listener": _is_listener,
    "closure": _is_closure,
    "growing-container": _is_growing_container,
}


def register_kind(
    kind: str, classifier: Classifier, advice: str, *, before: str | None = "growing-container"
) -> None:
    """Add (or move) a classifier for ``kind``, tried just before ``before``.

    The default places it ahead of the catch-all ``growing-container``; ``before=None``
    appends it, where it is only reached if the catch-all was replaced.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown finding kind {kind!r}; expected one of {KINDS}")
    order = [(name, test) for name, test in CLASSIFIERS.items() if name != kind]
    at = next((n for n, (name, _) in enumerate(order) if name == before), len(order))
    order.insert(at, (kind, classifier))
    CLASSIFIERS.clear()
    CLASSIFIERS.update(order)
    ADVICE[kind] = advice


def classify(evidence: Evidence) -> str:
    """The kind of the first classifier in the registry that accepts ``evidence``."""
    return next(kind for kind, test in CLASSIFIERS.items() if test(evidence))
