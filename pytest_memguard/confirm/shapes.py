"""Shapes of growth: suspects that repeat one shape are usually one holder's doing.

A test that rebuilds an attribute of an old object (a ``cache_clear()`` that makes a new
weak-valued dict) leaves the same kinds of objects behind every time. Only a re-run
shows that it is warm-up, and only a search of the heap finds the holder, which the
screen then recognises for every later test (``HolderBook.learn_filled``). A fast test
is normally re-run rather than searched; one whose shape of growth was seen before is
searched too, at the shape's 2nd, 4th and 8th suspect, since learning its holder spares
the re-runs of every test after it.
"""

from __future__ import annotations

#: Shapes remembered at most, and the searches each gets: a shape whose suspects keep
#: coming after that many searches has no single holder to learn.
SHAPES_MAX = 1024
SEARCHES_PER_SHAPE = 3
#: Only a test this fast learns on the budget's reserve: a slower one's re-runs would
#: spend it in a few tests (a slow test is searched anyway, its re-run costing more).
LEARNING_MAX_SECONDS = 0.1

Shape = frozenset[type]


def growth_shape(objs: list[object]) -> Shape:
    """The types of the objects a suspect left that no rule explained."""
    return frozenset(map(type, objs))


class ShapeLog:
    """How often each shape of growth made a suspect, and how often it was searched."""

    def __init__(self) -> None:
        self._suspects: dict[Shape, int] = {}
        self._searches: dict[Shape, int] = {}

    def worth_learning(self, shape: Shape) -> bool:
        """Whether a suspect of ``shape`` is worth a search to learn its holder: it is
        the shape's 2nd, 4th, 8th... suspect (the more often a shape comes, the more a
        learned holder spares), and the shape has searches left."""
        count = self._suspects.get(shape, 0) + 1
        return (
            count >= 2
            and count & (count - 1) == 0
            and self._searches.get(shape, 0) < SEARCHES_PER_SHAPE
        )

    def suspect(self, shape: Shape) -> None:
        """Count a suspect of ``shape``."""
        if shape in self._suspects or len(self._suspects) < SHAPES_MAX:
            self._suspects[shape] = self._suspects.get(shape, 0) + 1

    def searched(self, shape: Shape) -> None:
        """Count a search made to learn the holder of ``shape``."""
        self._searches[shape] = self._searches.get(shape, 0) + 1
