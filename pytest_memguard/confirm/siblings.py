"""Parametrized siblings: the tests of one function that leave the same growth.

A parametrized test runs one function once per parameter, and a cache keyed by what the
parameter selects (a locale's data, a time zone) takes one more entry in each of its
tests: growth the screen cannot tell from a leak, which only a re-run shows stopping. A
suite of a thousand such tests would need a thousand re-runs, far past any budget.

So when the re-runs of :data:`CLEARS_NEEDED` tests of one function showed growth of one
shape stop (the same types left unexplained, the same watched containers grown), and no
test of that function leaked with that shape, a later test of the function leaving that
shape is warm-up without a re-run of its own: the same code filling the same caches for
one more parameter. A shape a sibling leaked with is never vouched for again; a run that
grew a leak's root, or left a resource behind, is judged on its own. The shape is the
screen's: the rules without a search are not asked for a sibling of a shape they never
explained (babel's smoke tests, 0.5 ms each), and are asked first for one they did
(python-dateutil's time zone tests, whose leftovers often replace the last test's: a
sibling they explain is no suspect, and what it left is remembered for the next).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

#: Re-runs of different tests of one function that must have cleared a shape.
CLEARS_NEEDED = 2

#: Shapes remembered at most: a suite's functions, not its tests, make them.
SIGNATURES_MAX = 4096

#: Re-runs of one shape that may draw on the budget's reserve for learning: a shape
#: whose re-runs keep failing or growing must not spend it all.
LEARNING_TRIES = 2 * CLEARS_NEEDED


class Signature(NamedTuple):
    """The growth a test of a parametrized function left: its function (the parent's
    node id and the function's name), the types of the objects no rule explained and
    the labels of the watched containers that grew."""

    function: tuple[str, str]
    types: frozenset[type]
    containers: frozenset[str]


def function_of(item: pytest.Item) -> tuple[str, str] | None:
    """The parametrized function ``item`` runs (its parent's node id and the function's
    name), None for a test that is no parametrization of a function."""
    original = getattr(item, "originalname", None)
    if not isinstance(original, str) or original == item.name:
        return None
    parent = item.parent
    return (parent.nodeid if parent is not None else "", original)


class Precedent(NamedTuple):
    """Why a signature needs no re-run: the re-runs of ``clears`` siblings, the first
    ``first``."""

    first: str
    clears: int

    def reason(self) -> str:
        others = "other test" if self.clears == 1 else "other tests"
        return (
            f"the same growth stopped on the re-runs of {self.clears} {others} of this "
            f"function, such as {self.first}"
        )


class Siblings:
    """What the re-runs of parametrized tests showed, by :class:`Signature`."""

    def __init__(self) -> None:
        self._cleared: dict[Signature, Precedent] = {}
        self._leaked: set[Signature] = set()
        self._tries: dict[Signature, int] = {}
        #: Shapes of which the rules without a search explained a sibling's growth.
        self._explained: set[Signature] = set()

    def worth_learning(self, signature: Signature) -> bool:
        """Whether a suspect that left ``signature`` is worth re-running on the budget's
        reserve: its re-runs may vouch for every later sibling that leaves the same
        (counted as one of the :data:`LEARNING_TRIES`)."""
        tries = self._tries.get(signature, 0)
        known = self._cleared.get(signature)
        if signature in self._leaked or tries >= LEARNING_TRIES:
            return False
        if known is not None and known.clears >= CLEARS_NEEDED:
            return False
        if tries or len(self._tries) < SIGNATURES_MAX:
            self._tries[signature] = tries + 1
        return True

    def cleared(self, signature: Signature, nodeid: str) -> None:
        """The re-runs of ``nodeid``, which left ``signature``, showed its growth stop."""
        known = self._cleared.get(signature)
        if known is not None:
            self._cleared[signature] = known._replace(clears=known.clears + 1)
        elif len(self._cleared) < SIGNATURES_MAX:
            self._cleared[signature] = Precedent(nodeid, 1)

    def leaked(self, signature: Signature) -> None:
        """A test that left ``signature`` grew on every run: never vouched for again."""
        self._leaked.add(signature)
        self._cleared.pop(signature, None)

    def explained(self, signature: Signature) -> None:
        """The rules without a search explained a sibling's growth of ``signature``."""
        if len(self._explained) < SIGNATURES_MAX:
            self._explained.add(signature)

    def precedent(self, signature: Signature, before_rules: bool = False) -> Precedent | None:
        """Why ``signature`` is warm-up without a re-run, or None when it is not; with
        ``before_rules``, None too when the rules without a search explained a sibling's."""
        if signature in self._leaked or (before_rules and signature in self._explained):
            return None
        known = self._cleared.get(signature)
        return known if known is not None and known.clears >= CLEARS_NEEDED else None
