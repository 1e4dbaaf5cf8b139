"""The warning filters the interpreter read last: a list that only C holds.

``warnings.catch_warnings`` (and pytest's ``warns`` and ``deprecated_call``, which are
built on it) puts a copy of ``warnings.filters`` in place for its block and puts the
original back when the block ends. A warning issued inside the block makes the
interpreter's warnings state (in C, out of the collector's sight) keep that copy as the
filters it read last, until the next warning anywhere reads them again (CPython 3.10
to 3.13). So the copy, with the filters the block put at its front, outlives the test
that warned: one list, which the next test that warns replaces; never growth.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence

from pytest_memguard.screen.heap import among, keyed_by_id, young_reachable

#: Why a copy of the warning filters the interpreter kept is not a leak.
KEPT_BY_WARNINGS = "the warning filters a catch_warnings block left to the next warning"

#: The length of a filter entry: (action, message, category, module, lineno).
_FILTER_FIELDS = 5


def last_read_filters(left: list[object]) -> list[object]:
    """The objects of ``left`` that are a copy of the warning filters the interpreter
    kept, with the filters the copy has in front: a list whose items end with those of
    ``warnings.filters`` (the same objects, in order) after filter entries of its own.
    One copy at most: the interpreter keeps one."""
    filters = warnings.filters
    kept = len(filters)
    if not kept:
        return []  # nothing to tell a copy from any list by
    copy = next((obj for obj in left if _copies(obj, filters, kept)), None)
    if copy is None:
        return []
    inside = keyed_by_id(left)
    reached = young_reachable([copy], inside)
    return among(left, reached)


def _copies(obj: object, filters: Sequence[object], kept: int) -> bool:
    if type(obj) is not list or obj is filters or len(obj) < kept:
        return False
    front = len(obj) - kept
    return all(map(operator.is_, obj[front:], filters)) and all(
        type(entry) is tuple and len(entry) == _FILTER_FIELDS for entry in obj[:front]
    )
