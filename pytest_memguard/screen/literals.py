"""The strings a test's own code spells: the literals of its function, or of its doctest.

A test that passes a literal to a cache (``Catalog(locale="ding")``) passes the same one
on every run, so a re-run finds its entry rather than adding one; a key the program
makes on every call (a temporary file's name) is new each time. The literals are read
from the test's code objects, nested ones (comprehensions, lambdas) too; a doctest's
from its examples, compiled as doctest compiles them. Read only when a confirmed root
grew: never on a clean test's path.
"""

from __future__ import annotations

import contextlib
import inspect
import types

import pytest


def literals_of(item: pytest.Item) -> frozenset[str]:
    """The string constants of ``item``'s test function or doctest examples."""
    codes = _doctest_codes(item)
    function = getattr(item, "obj", None)
    if callable(function):
        with contextlib.suppress(ValueError):  # a cycle of __wrapped__
            function = inspect.unwrap(function)
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if isinstance(code, types.CodeType):
            codes.append(code)
    found: set[str] = set()
    while codes:
        consts = [const for code in codes for const in code.co_consts]
        found.update(const for const in consts if type(const) is str)
        codes = [const for const in consts if isinstance(const, types.CodeType)]
    return frozenset(found)


def _doctest_codes(item: pytest.Item) -> list[types.CodeType]:
    """The code of a doctest item's examples (none for any other item, or an example
    that does not compile)."""
    examples = getattr(getattr(item, "dtest", None), "examples", None)
    codes: list[types.CodeType] = []
    for example in examples if isinstance(examples, list) else []:
        source = getattr(example, "source", None)
        if not isinstance(source, str):
            continue
        try:
            codes.append(compile(source, "<doctest>", "single"))
        except (SyntaxError, ValueError):
            continue
    return codes
