"""Retainer chains written the way code reads them.

Each edge of a path is named from its holder: ``mod._CACHE['user:7']``,
``.sessions[3]``, ``<closure of make_handler>.buf``, ``Thread 'poller' frame poll()
local buf``; an object's ``__dict__``, a generator's frame and a function's closure
cells fold into the edge after them.
"""

from __future__ import annotations

import contextvars
import functools
import weakref
from collections import deque
from collections.abc import Iterator
from types import (
    AsyncGeneratorType,
    CoroutineType,
    FrameType,
    FunctionType,
    GeneratorType,
    GetSetDescriptorType,
    MemberDescriptorType,
    MethodType,
    ModuleType,
)

from pytest_memguard.explain.chains import Context
from pytest_memguard.explain.detours import CONTEXT_STORAGE
from pytest_memguard.explain.owners import class_name
from pytest_memguard.findings import ChainEdge
from pytest_memguard.screen.heap import is_a

#: Longest repr of a dict key shown in a chain.
_MAX_KEY = 60

_MISSING = object()


# The C type of every functools.lru_cache (and functools.cache) wrapper.
_LRU_CACHE = type(functools.lru_cache(maxsize=None)(print))


def dict_of(obj: object) -> dict[str, object] | None:
    """``obj.__dict__`` when it is a plain dict (on 3.11+ this may create it)."""
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return None
    return attributes if type(attributes) is dict else None


def _type_name(obj: object) -> str:
    return class_name(type(obj))


def _key_text(key: object) -> str:
    if issubclass(type(key), (str, int)):
        text = repr(key)
        return text if len(text) <= _MAX_KEY else f"{text[: _MAX_KEY - 3]}..."
    if is_a(key, weakref.ref):
        # A weak-keyed table's inner dict: code reads it with the key itself.
        referent = key()
        return (
            "<dead weakref>" if referent is None else f"<weakref to {_type_name(referent)} object>"
        )
    if is_a(key, contextvars.ContextVar):
        return f"<ContextVar {key.name!r}>"
    return f"<{_type_name(key)} object>"


def _key_of(mapping: object, value: object) -> object:
    """The key under which ``mapping`` holds ``value``, or ``_MISSING``."""
    if not is_a(mapping, dict):
        return _MISSING
    return next((key for key, item in list(mapping.items()) if item is value), _MISSING)


def _item_edge(parent: object, child: object) -> str | None:
    if is_a(parent, dict):
        key = _key_of(parent, child)
        if key is not _MISSING:
            return f"[{_key_text(key)}]"
        if any(key is child for key in list(parent)):
            return f".keys(){{{_key_text(child)}}}"
    elif is_a(parent, (list, tuple, deque)):
        position = next((n for n, item in enumerate(list(parent)) if item is child), -1)
        if position >= 0:
            return f"[{position}]"
    elif is_a(parent, (set, frozenset)) and any(item is child for item in list(parent)):
        return f"{{{_key_text(child)}}}"
    return None


def _local_edge(frame: FrameType | None, child: object) -> str | None:
    if frame is None:
        return None
    name = next((name for name, value in frame.f_locals.items() if value is child), None)
    return None if name is None else f" frame {frame.f_code.co_name}() local {name}"


def _code_edge(parent: object, child: object) -> str | None:
    """Bound methods, frames and suspended generators or coroutines."""
    if is_a(parent, MethodType) and parent.__self__ is child:
        return f"<bound method {parent.__func__.__qualname__}>.__self__"
    if is_a(parent, FrameType):
        return _local_edge(parent, child)
    return _local_edge(_frame_of(parent), child)


def _frame_of(obj: object) -> FrameType | None:
    """The frame of a suspended generator, coroutine or async generator."""
    if is_a(obj, GeneratorType):
        return obj.gi_frame
    if is_a(obj, CoroutineType):
        return obj.cr_frame
    if is_a(obj, AsyncGeneratorType):
        return obj.ag_frame
    return None


def _attribute_edge(parent: object, child: object) -> str | None:
    name = _key_of(dict_of(parent), child)
    if name is not _MISSING:
        return _attribute_text(name)
    # Slots and the named fields of built-in types (cell_contents, __func__, args, ...).
    for klass in type(parent).__mro__:
        for name, descriptor in list(vars(klass).items()):
            if issubclass(type(descriptor), (MemberDescriptorType, GetSetDescriptorType)):
                try:
                    value = descriptor.__get__(parent, type(parent))
                except Exception:
                    # Any getter may refuse (an empty slot, a closed generator's frame...).
                    continue
                if value is child:
                    return f".{name}"
    return None


def _attribute_text(name: object) -> str:
    if is_a(name, str) and name.isidentifier():
        return f".{name}"
    return f".__dict__[{_key_text(name)}]"


def _cache_edge(parent: object, child: object) -> str | None:
    """An entry of a ``functools.lru_cache``, whose table only the cache itself sees."""
    return "[<cache entry>]" if isinstance(parent, _LRU_CACHE) else None


def _edge(parent: object, child: object) -> str:
    for finder in (_item_edge, _code_edge, _attribute_edge, _cache_edge):
        text = finder(parent, child)
        if text is not None:
            return text
    return "<internal ref>"


def _outer_name(function: FunctionType) -> str:
    """``make_handler`` for ``make_handler.<locals>.handler``: who made the closure."""
    outer, _, _ = function.__qualname__.rpartition(".<locals>.")
    return (outer or function.__qualname__).replace(".<locals>", "")


def render(path: list[object], root: str, context: Context) -> tuple[list[ChainEdge], list[object]]:
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
        module_name = class_name(cls, "__module__")
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
        elif at + 2 < len(path) and type(child) is dict and dict_of(parent) is child:
            attribute_dict = True
        elif at + 2 < len(path) and is_a(child, FrameType) and _frame_of(parent) is child:
            pass  # up to 3.10 a generator holds its locals through its frame: say "frame"
        elif is_a(parent, contextvars.Context):
            # The context's trie nodes fold into the variable that holds the value.
            end = next(
                (n for n in range(at + 1, len(path)) if not is_a(path[n], CONTEXT_STORAGE)),
                len(path) - 1,
            )
            value = path[end]
            variable = next((var for var, item in parent.items() if item is value), None)
            text = "<internal ref>" if variable is None else f"[{_key_text(variable)}]"
            yield value, text
            at = end - 1
        elif (
            at + 3 < len(path)
            and is_a(parent, FunctionType)
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
