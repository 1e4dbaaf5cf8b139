"""Dataclass instances as shallow dicts, read in one C-level pass.

Records and their figures become dicts for every guarded test (the report attribute
that crosses pytest-xdist): a comprehension calling ``getattr`` per field costs several
times one ``operator.attrgetter`` call over all of them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import fields
from typing import Any

_Reader = tuple[tuple[str, ...], Callable[[Any], Any]]
_READERS: dict[type, _Reader] = {}


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
