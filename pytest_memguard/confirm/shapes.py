"""Shapes of growth: suspects that repeat one shape are usually one holder's doing.

A test that rebuilds an attribute of an old object (a ``cache_clear()`` that makes a new
weak-valued dict) leaves the same kinds of objects behind every time. Only a re-run
shows that it is warm-up, and only a search of the heap finds the holder, which the
screen then recognises for every later test (``HolderBook.learn_filled``). A fast test
is normally re-run rather than searched; one whose shape of growth was seen before is
searched too, at the shape's 2nd, 4th and 8th suspect, since learning its holder spares
the re-runs of every test after it. A search the budget had no room for is not skipped
but put off: the shape's next suspect asks again. Had it waited for the next power of
two, whether dateutil's ``gettz`` cache was ever learned hung on the milliseconds of a
few earlier searches (50 suspects in one run of its suite, 1,964 in the next).

That pays only where the holder is shared: a library's cache that every test of a kind
fills (dateutil's ``gettz`` cache, learned once, explains hundreds of tests). Where each
suspect's holder is its own (the fields of a schema a test module defines, which cache
what they compute on first use), the searches teach holders no later test reaches, and
cost a pass over the heap each: marshmallow's suite spent 0.2 s on eleven such searches,
and the confirmation budget they took left tests unconfirmed. So learning stops after
:data:`UNPAID_SEARCHES` searches whose holders explained no later run, and starts again
once one of them does. A search that paid so is paid back to the budget's reserve it was
charged to: the reserve is small (a share of the suite's time), and on dateutil's suite
the searches that learned its parser's and its rrule's caches had spent it all before the
``gettz`` cache's suspects came.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

#: Shapes remembered at most, and the searches each gets: a shape whose suspects keep
#: coming after that many searches has no single holder to learn.
SHAPES_MAX = 1024
SEARCHES_PER_SHAPE = 3
#: Only a test this fast learns on the budget's reserve: a slower one's re-runs would
#: spend it in a few tests (a slow test is searched anyway, its re-run costing more).
LEARNING_MAX_SECONDS = 0.1

#: Learning searches whose holders explained no later run, past which none is made.
UNPAID_SEARCHES = 3

Shape = frozenset[type]


class Taught(Protocol):
    """A holder the book learned: how many runs it explained since."""

    hits: int


def growth_shape(objs: list[object]) -> Shape:
    """The types of the objects a suspect left that no rule explained."""
    return frozenset(map(type, objs))


class ShapeLog:
    """How often each shape of growth made a suspect, and how often it was searched."""

    def __init__(self) -> None:
        self._suspects: dict[Shape, int] = {}
        self._searches: dict[Shape, int] = {}
        #: The suspect of each searched shape at which its next search is due.
        self._due: dict[Shape, int] = {}
        #: What each of the last learning searches taught, while none of it has
        #: explained a later run, with the seconds the search took.
        self._unpaid: list[tuple[Sequence[Taught], float]] = []
        self._paid_seconds = 0.0

    def worth_learning(self, shape: Shape) -> bool:
        """Whether a suspect of ``shape`` is worth a search to learn its holder: it is
        the shape's 2nd suspect, or twice the one searched last (the more often a shape
        comes, the more a learned holder spares), or any later one while a search due
        was not made; the shape has searches left, and learning pays."""
        count = self._suspects.get(shape, 0) + 1
        return (
            count >= self._due.get(shape, 2)
            and self._searches.get(shape, 0) < SEARCHES_PER_SHAPE
            and self._learning_pays()
        )

    def _learning_pays(self) -> bool:
        """Whether fewer than :data:`UNPAID_SEARCHES` learning searches taught holders
        that explained no later run; one that did settles the searches before it."""
        self._settle()
        return len(self._unpaid) < UNPAID_SEARCHES

    def _settle(self) -> None:
        """Once what a search taught explained a later run, that search is paid back and
        the unpaid searches before it are forgiven."""
        paid = [seconds for taught, seconds in self._unpaid if any(e.hits for e in taught)]
        if paid:
            self._paid_seconds += sum(paid)
            self._unpaid.clear()

    def paid_back(self) -> float:
        """Seconds of the learning searches that paid since the last call."""
        self._settle()
        seconds, self._paid_seconds = self._paid_seconds, 0.0
        return seconds

    def taught(self, entries: Sequence[Taught], seconds: float) -> None:
        """A learning search of ``seconds`` taught the book ``entries``, filled holders
        (its suspect cleared on its re-runs): they pay when they explain a later run."""
        self._unpaid.append((entries, seconds))

    def suspect(self, shape: Shape) -> None:
        """Count a suspect of ``shape``."""
        if shape in self._suspects or len(self._suspects) < SHAPES_MAX:
            self._suspects[shape] = self._suspects.get(shape, 0) + 1

    def searched(self, shape: Shape) -> None:
        """Count a search made to learn the holder of ``shape``, at its latest suspect
        (counted before the search): the next is due at twice as many."""
        self._searches[shape] = self._searches.get(shape, 0) + 1
        self._due[shape] = 2 * self._suspects.get(shape, 1)
