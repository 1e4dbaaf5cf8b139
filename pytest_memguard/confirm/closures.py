"""Who holds a closure's cell, read from the functions modules hold: no pass over the heap.

A cache kept in a closure (click's stream cache, in the closure of a function its module
holds as a global; a memoizing decorator's dict) is named the way code reads it: the
module, its function, the closure's variable. Climbing there from the cell costs a pass
over the heap per step (``gc.get_referrers``: the closure tuple, then the function, then
the namespaces holding it), 8 to 40 ms each on a real suite's heap. The functions the
modules hold as globals are listed instead, in C, and those whose closure holds the cell
give all three steps at once. A cell no module-level function closes over (a nested
function kept elsewhere) is left to the passes.
"""

from __future__ import annotations

import itertools
import operator
import sys
import types
from collections.abc import Iterable
from typing import cast

from pytest_memguard.screen.heap import Referrers, among, keyed_by_id, module_namespaces

_is_function = {types.FunctionType}.__contains__
_closure_of = operator.attrgetter("__closure__")


def closure_referrers(cells: Iterable[object]) -> Referrers:
    """What refers to each of ``cells`` that a module-level function closes over, as a
    pass over the heap would find it (frames left out), by id: the cell's closure
    tuples, each tuple's function, and the module namespaces holding each function.
    Empty for cells no such function closes over."""
    wanted = keyed_by_id(cells)
    if not wanted:
        return {}
    namespaces = module_namespaces()
    # Listed and filtered in C: the modules of a test session hold about 100,000 values.
    values = list(itertools.chain.from_iterable(map(dict.values, namespaces)))
    functions = cast(  # only functions pass the type filter
        list[types.FunctionType],
        list(itertools.compress(values, map(_is_function, map(type, values)))),
    )
    del values
    closing = dict.fromkeys(itertools.compress(functions, map(_closure_of, functions)))
    found: Referrers = {}
    for function in closing:
        closure = function.__closure__ or ()  # not None: only closing functions are here
        held = among(closure, wanted)
        if not held:
            continue
        for cell in held:
            found.setdefault(id(cell), (cell, []))[1].append(closure)
        found[id(closure)] = (closure, [function])
        found[id(function)] = (function, _namespaces_holding(function, namespaces))
    return found


def _namespaces_holding(
    function: types.FunctionType, namespaces: list[dict[str, object]]
) -> list[object]:
    """The namespace of the module defining ``function`` when it holds it, else those of
    ``namespaces`` that do: a chain names the function after the module it comes from,
    whichever others imported it."""
    module = sys.modules.get(function.__module__)
    home = getattr(module, "__dict__", None)
    if isinstance(home, dict) and _holds(home, function):
        return [home]
    return [namespace for namespace in namespaces if _holds(namespace, function)]


def _holds(namespace: dict[str, object], value: object) -> bool:
    """Whether ``value`` is among the values of ``namespace``, by identity: a value's own
    ``__eq__`` is never called."""
    return any(map(operator.is_, namespace.values(), itertools.repeat(value)))
