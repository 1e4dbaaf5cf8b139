"""What a group of retained objects weighs: its deep size, each object counted once.

One figure per leak: the bytes of a finding are the deep size of its group
(pympler's ``asizeof``: an object with everything it holds, a closure with its cells
and what they keep), and the retained bytes of a confirmed leak are the sum over its
findings (:func:`explained_bytes`). One sizer serves all the groups of an explanation,
so an object two groups share is counted once, and the sizer never enters what
existed before the test (the objects outside the retained ones), so a retained entry
pointing at an old table does not weigh the table.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from types import CodeType
from typing import Any

from pytest_memguard.findings import Finding
from pytest_memguard.screen.heap import is_a

#: The module that sizes objects deeply (pympler's), imported on first use.
DEEP_SIZER = "pympler.asizeof"


def deep_sizes(groups: Sequence[Sequence[object]], outside: Iterable[object]) -> list[int]:
    """The deep size of each of ``groups``, in bytes, never counting ``outside`` objects.

    An object that several groups reach is counted in its own group, or in the first
    group that reaches it when it belongs to none. Slow (tens of microseconds per
    object): only confirmed leaks are sized.
    """
    asizeof = importlib.import_module(DEEP_SIZER)  # 12-25 ms, paid by the first leak only

    # code=True: a function's closure and defaults count; code objects never do: the gc
    # does not track them, so none is known to be the test's, and a bound method leads
    # to its class's code.
    sizer: Any = asizeof.Asizer(code=True)
    sizer.exclude_types(CodeType)
    sizer.exclude_refs(*(obj for members in groups for obj in members))
    sizer.exclude_objs(*outside)
    # asizeof reads attributes of every object it sizes: deprecated ones warn, and a
    # class's __getattr__ may raise anything. Neither is the test's doing.
    with warnings.catch_warnings(), _types_forgotten(asizeof, groups):
        warnings.simplefilter("ignore")
        return [sum(_deep_size(sizer, obj) for obj in members) for members in groups]


@contextlib.contextmanager
def _types_forgotten(module: Any, groups: Sequence[Sequence[object]]) -> Iterator[None]:
    """asizeof keeps a description of every type it sizes, keyed by the type (a class
    sized as an object, by a wrapper it keeps per class): a retained class (made per
    run, or its own metaclass) would be kept alive by the plugin, and found as the
    leak's holder. What it keeps of those is dropped again, but what the test's own
    calls of asizeof kept before (the test's leak, held by pympler's tables). Its
    private tables, read only if present: another version merely keeps the classes."""
    typedefs = getattr(module, "_typedefs", None)
    class_keys = getattr(module, "_claskeys", None)
    if not (is_a(typedefs, dict) and is_a(class_keys, dict)):
        yield
        return
    classes = [
        obj
        for members in groups
        for obj in members
        if is_a(obj, type) and obj not in typedefs and id(obj) not in class_keys
    ]
    try:
        yield
    finally:
        for cls in classes:
            typedefs.pop(cls, None)
            typedefs.pop(class_keys.pop(id(cls), None), None)


def _deep_size(sizer: Any, obj: object) -> int:
    try:
        return int(sizer.asizeof(obj))
    except Exception:
        # Its referents are other retained objects or plain values: the object's own
        # size is all that is lost.
        return sys.getsizeof(obj, 0)


def explained_bytes(findings: Iterable[Finding]) -> int:
    """The retained bytes of a confirmed leak: the sum of its findings' bytes.

    Pass the findings :func:`~pytest_memguard.explain.explainer.explain` returned for the leak's
    last run (folding some into a resource finding keeps the sum), so that the leak's
    header, its findings, the summary and every report show one number.
    """
    return sum(finding.bytes for finding in findings)
