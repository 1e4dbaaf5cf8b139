"""In-process tests of the rule for the slot names ``copyreg`` caches on a class."""

from __future__ import annotations

import copy

from pytest_memguard.confirm.slotnames import cached_slot_names


def test_the_slot_names_a_first_copy_stored_are_found() -> None:
    class Plain:
        pass

    class Slotted:
        __slots__ = ("x", "y")

        def __init__(self) -> None:
            self.x, self.y = 1, 2

    copy.copy(Plain())
    copy.deepcopy(Slotted())
    plain_names = vars(Plain)["__slotnames__"]
    slotted_names = vars(Slotted)["__slotnames__"]
    assert (plain_names, slotted_names) == ([], ["x", "y"])
    unrelated: list[object] = ["x", "y"]
    found = cached_slot_names([unrelated, slotted_names, plain_names])
    assert len(found) == 2
    assert found[0] is slotted_names or found[0] is plain_names
    assert all(names is not unrelated for names in found)
    # With anything else left the run stays a suspect: no look through the classes.
    assert cached_slot_names([slotted_names, {"a": 1}]) == []


def test_lists_no_class_holds_are_not() -> None:
    assert cached_slot_names([[], ["x"]]) == []
    assert cached_slot_names([[1, 2]]) == []
