"""Whose code an object is: the project's and its libraries', or the standard library's
machinery.

A retained object of a class the standard library defines (a lock, a condition, a
codec's incremental decoder), or a bound method of one, is state that machinery keeps
for something else; a function or an instance of the project's or a library's class
is code someone registered. Built-in containers and functions (``dict``, ``list``,
``print``) belong to whoever uses them.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from types import BuiltinMethodType, FunctionType, MethodType, ModuleType

from pytest_memguard.explain.detours import is_weak_machinery
from pytest_memguard.screen.heap import is_a

_TYPE_MODULE = type.__dict__["__module__"]


def class_name(cls: type, which: str = "__name__") -> str:
    """A class's name read through ``type``'s own descriptor.

    A class whose metaclass the collector cleared (its ``__mro__`` is None: a
    self-referencing metaclass such as ``v.__class__ = v``) fails ordinary lookups.
    """
    try:
        return str(type.__dict__[which].__get__(cls))
    except Exception:
        return object.__repr__(cls)


def _module_of_class(cls: type) -> str:
    try:
        return str(_TYPE_MODULE.__get__(cls))
    except Exception:  # a class the collector cleared answers nothing
        return ""


def _owner(obj: object) -> str:
    """The module whose code ``obj`` runs or whose class made it."""
    while True:
        if is_a(obj, functools.partial):
            obj = obj.func
        elif is_a(obj, MethodType) or is_a(obj, BuiltinMethodType):
            if issubclass(type(obj.__self__), (ModuleType, type(None))):
                break
            obj = obj.__self__
        else:
            break
    if is_a(obj, ModuleType):
        return obj.__name__
    if is_a(obj, FunctionType):
        return str(getattr(obj, "__module__", "") or "")
    if is_a(obj, type):
        return _module_of_class(obj)
    return _module_of_class(type(obj))


_STDLIB_DIR = os.path.normcase(sysconfig.get_paths()["stdlib"]) + os.sep


@functools.lru_cache(maxsize=256)
def _is_stdlib_module(name: str) -> bool:
    """A module of the standard library by name and by place: a project's own package
    named ``test`` or ``parser`` is not."""
    top = name.partition(".")[0]
    if top == "builtins" or top not in sys.stdlib_module_names:
        return False
    path = getattr(sys.modules.get(top), "__file__", None)
    return path is None or os.path.normcase(os.path.abspath(path)).startswith(_STDLIB_DIR)


def is_stdlib_owned(obj: object) -> bool:
    """Whether ``obj`` (or the object a bound method is bound to) is the standard
    library's, built-in types and functions aside."""
    return _is_stdlib_module(_owner(obj))


def is_callback(obj: object) -> bool:
    """A callable someone registers: not a class, not a weak reference (calling one
    only reads its referent), not a method of the standard library's machinery."""
    if not callable(obj) or is_a(obj, type) or is_weak_machinery(obj):
        return False
    return not is_stdlib_owned(obj)
