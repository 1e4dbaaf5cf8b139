"""Holders a chain goes through only when no way code reads leads to a root.

Code reaches a leaked object by names: a module global, a class attribute, a live
thread's local. The same object is often also reachable through bookkeeping that no
code reads by name, and a shortest path may run through it:

- weak-reference machinery: ``WeakKeyDictionary``/``WeakValueDictionary``/``WeakSet``
  and their inner tables keyed by weak references, ``weakref.finalize``'s registry,
  weak references themselves (they hold only their callback);
- context variables' storage: a ``contextvars.Context`` and the nodes of its
  hash-array mapped trie, and the ``Token`` of a ``ContextVar.set``;
- interpreter tables: ``sys.modules``.

A search follows these *detours* only after every other way out was tried. Frames of
the plugin itself are never part of a chain.
"""

from __future__ import annotations

import contextvars
import os
import sys
import weakref
from types import (
    AsyncGeneratorType,
    CodeType,
    CoroutineType,
    FrameType,
    GeneratorType,
)

import pytest_memguard
from pytest_memguard.screen.heap import CONTEXT_STATE, is_a

_WEAKREFS = (weakref.ref, weakref.ProxyType, weakref.CallableProxyType)

#: Modules that define the weak-reference containers.
_WEAK_MODULES = frozenset({"weakref", "_weakref", "_weakrefset"})

_TYPE_MODULE = type.__dict__["__module__"]

_PLUGIN_DIR = os.path.dirname(os.path.abspath(pytest_memguard.__file__)) + os.sep


#: The types of a context's storage (its trie's nodes), the Context and a ``set()``'s
#: ``Token`` included.
CONTEXT_STORAGE = (contextvars.Context, contextvars.Token, *CONTEXT_STATE)


def is_weak_machinery(obj: object) -> bool:
    if is_a(obj, _WEAKREFS):
        return True
    try:
        return _TYPE_MODULE.__get__(type(obj)) in _WEAK_MODULES
    except Exception:  # a class the collector cleared answers nothing
        return False


def _is_weak_table(obj: object) -> bool:
    """A dict keyed by weak references (a ``WeakKeyDictionary``'s data) or by
    ``weakref.finalize`` objects (its registry): its values live as long as the keys."""
    if type(obj) is not dict:
        return False
    try:
        first = next(iter(obj), None)
    except RuntimeError:  # another thread changed it: a table of its own, not one of these
        return False
    return first is not None and is_weak_machinery(first)


def is_detour(obj: object) -> bool:
    """Whether a search should go through ``obj`` only when nothing else leads out."""
    return (
        is_weak_machinery(obj)
        or _is_weak_table(obj)
        or is_a(obj, CONTEXT_STORAGE)
        or obj is sys.modules
    )


def _code_of(obj: object) -> CodeType | None:
    if is_a(obj, FrameType):
        return obj.f_code
    if is_a(obj, GeneratorType):
        return obj.gi_code
    if is_a(obj, CoroutineType):
        return obj.cr_code
    if is_a(obj, AsyncGeneratorType):
        return obj.ag_code
    return None


def is_plugin_frame(obj: object) -> bool:
    """A frame (or suspended generator) of the plugin's own code: never a holder."""
    code = _code_of(obj)
    return code is not None and code.co_filename.startswith(_PLUGIN_DIR)
