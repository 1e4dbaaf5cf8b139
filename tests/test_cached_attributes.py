"""Values cached on first access in an older instance's lazy attributes are warm-up."""

from __future__ import annotations

import functools

from explain_helpers import listed

from pytest_memguard.confirm.cached import cached_on_first_access, lazy_attribute
from pytest_memguard.confirm.lazy import referrers_outside


class Made:
    """What a lazy attribute computes."""

    def __init__(self, size: int = 1, link: Made | None = None) -> None:
        self.size = size
        self.link = link


class Parser:
    """Caches the three ways code does: a cached_property, and properties that fill a
    private or a name-mangled attribute; ``remember`` sets a plain attribute."""

    def __init__(self) -> None:
        self._grammar: Made | None = None
        self.__table: Made | None = None
        self._listeners: list[Made] | None = None
        self._last: Made | None = None

    @functools.cached_property
    def compiled(self) -> Made:
        return Made()

    @property
    def grammar(self) -> Made:
        if self._grammar is None:
            self._grammar = Made()
        return self._grammar

    @property
    def table(self) -> Made:
        if self.__table is None:
            self.__table = Made()
        return self.__table

    @property
    def listeners(self) -> list[Made]:
        if self._listeners is None:
            self._listeners = []
        return self._listeners

    @property
    def last(self) -> Made:
        """Not cached: each read links a new node to the one before."""
        self._last = Made(link=self._last)
        return self._last

    def remember(self) -> None:
        self.latest = Made()


def _made(value: object) -> list[object]:
    """A value with its instance dict: what a run leaves when it makes it."""
    return listed([value, vars(value)])


def _explained(left: list[object]) -> list[object]:
    return cached_on_first_access(left, {id(obj) for obj in left}, {id(left)})


def test_lazy_attributes_are_named_by_their_class() -> None:
    assert lazy_attribute(Parser, "compiled") == "Parser.compiled"
    assert lazy_attribute(Parser, "_grammar") == "Parser.grammar"
    assert lazy_attribute(Parser, "_Parser__table") == "Parser.table"
    assert lazy_attribute(Parser, "latest") is None
    assert lazy_attribute(Parser, "_latest") is None


def test_a_value_an_older_instance_computed_on_first_access_is_explained() -> None:
    parser = Parser()
    for value in (parser.compiled, parser.grammar, parser.table):
        left = _made(value)
        assert _explained(left) == left


def test_a_plain_attribute_set_by_a_method_is_not_explained() -> None:
    parser = Parser()
    parser.remember()
    assert _explained(_made(parser.latest)) == []


def test_a_lazy_list_collecting_entries_is_not_explained() -> None:
    parser = Parser()
    parser.listeners.append(Made())
    left = [parser.listeners, parser.listeners[0], vars(parser.listeners[0])]
    assert _explained(left) == []


def test_a_value_something_else_also_holds_is_not_explained() -> None:
    parser = Parser()
    registry = [parser.grammar]
    assert _explained(_made(parser.grammar)) == []
    assert registry  # held while the rule runs


def test_a_value_of_an_instance_the_run_made_is_not_explained() -> None:
    parser = Parser()
    value = parser.grammar
    left = [*_made(value), parser, vars(parser)]
    assert _explained(left) == []


def test_a_value_a_plain_dict_keeps_is_not_explained() -> None:
    cache: dict[str, Made] = {}
    made = Made()
    cache["/tmp/source.py"] = made
    cache["grammar"] = made
    assert _explained(_made(made)) == []


def test_a_value_in_an_instance_dict_the_run_made_is_explained() -> None:
    """Storing the first tracked value in an instance's dict (3.10) makes the dict new to
    the collector: the rule for dicts made on first access explains it, and its owner,
    listed among the run's referrers, is judged without a second pass."""
    parser = Parser()
    value = parser.grammar
    namespace = vars(parser)
    left = _made(value)
    run = [*left, namespace]
    referrers = referrers_outside(run, {id(run), id(left)})
    assert any(ref is parser for ref in referrers)
    retained = {id(obj) for obj in run}
    explained = cached_on_first_access(left, retained, {id(run), id(left)}, referrers, [namespace])
    assert explained == left


def test_a_value_linking_to_an_older_one_of_its_kind_is_not_explained() -> None:
    parser = Parser()
    first = parser.last
    second = parser.last
    assert second.link is first
    assert _explained(_made(second)) == []
