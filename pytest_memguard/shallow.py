"""Dataclass instances as shallow dicts, read in one C-level pass, and made or copied
with changes the same way.

Records and their figures become dicts for every guarded test (the report attribute
that crosses pytest-xdist): a comprehension calling ``getattr`` per field costs several
times one ``operator.attrgetter`` call over all of them. Likewise a run's figures and a
test's record are copied with a change or two, where ``dataclasses.replace`` reads and
passes every field again (six times slower).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

_Reader = tuple[tuple[str, ...], Callable[[Any], Any]]
_READERS: dict[type, _Reader] = {}
_T = TypeVar("_T")


def _reader(cls: type) -> _Reader:
    reader = _READERS.get(cls)
    if reader is None:
        names = tuple(spec.name for spec in fields(cls))
        reader = _READERS[cls] = (names, operator.attrgetter(*names))
    return reader


def shallow_dict(obj: Any) -> dict[str, Any]:
    """The fields of the dataclass instance ``obj`` by name, in their order, not copied."""
    names, read = _reader(type(obj))
    values = read(obj)
    return dict(zip(names, values if len(names) > 1 else (values,), strict=True))


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(_reader(cls)[0])


def updated(obj: _T, **changes: Any) -> _T:
    """A shallow copy of the dataclass instance ``obj`` (frozen or not; not one with
    slots, an ``InitVar`` or a ``__post_init__``) with the fields of ``changes`` set:
    what ``dataclasses.replace`` returns, its dict copied in C. Raises ``TypeError`` for
    a name that is no field."""
    kind: type = type(obj)
    names = _field_names(kind)
    if not changes.keys() <= names:
        unknown = ", ".join(sorted(changes.keys() - names))
        raise TypeError(f"{kind.__name__} has no field {unknown}")
    copy: _T = _filled(kind, obj.__dict__)
    copy.__dict__.update(changes)
    return copy


def made(kind: type[_T], **values: Any) -> _T:
    """An instance of the dataclass ``kind`` (frozen or not; not one with slots, an
    ``InitVar`` or a ``__post_init__``) with every field given in ``values``: what
    ``kind(**values)`` makes, its dict filled in C (a frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__``). Raises ``TypeError`` unless
    ``values`` names every field and nothing else."""
    cls: type = kind
    names = _field_names(cls)
    if values.keys() != names:
        wrong = ", ".join(sorted(values.keys() ^ names))
        raise TypeError(f"{kind.__name__} fields not given or unknown: {wrong}")
    return _filled(kind, values)


def _filled(kind: type[_T], state: dict[str, Any]) -> _T:
    """An instance of ``kind`` made without its ``__init__``, its dict a copy of ``state``."""
    obj: _T = object.__new__(kind)
    obj.__dict__.update(state)
    return obj
