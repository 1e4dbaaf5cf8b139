"""Dataclass instances read and copied field by field in C (``pytest_memguard.shallow``)."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_memguard.figures import Figures
from pytest_memguard.record import TestRecord
from pytest_memguard.shallow import made, shallow_dict, updated


def test_a_shallow_dict_holds_every_field_in_order_not_copied() -> None:
    record = TestRecord(nodeid="t.py::test", outcome="passed", limits={"retained": 0})
    data = shallow_dict(record)
    assert list(data) == [spec.name for spec in dataclasses.fields(TestRecord)]
    assert data["limits"] is record.limits


@pytest.mark.parametrize(
    ("original", "changes"),
    [
        (
            Figures(retained_objects=2, retained_bytes=96),
            {"retained_objects": 0, "retained_bytes": 0},
        ),
        (TestRecord(nodeid="t.py::test", outcome="passed"), {"outcome": "failed"}),
    ],
)
def test_an_updated_copy_is_what_dataclasses_replace_makes(
    original: object, changes: dict[str, object]
) -> None:
    copy = updated(original, **changes)
    assert copy == dataclasses.replace(original, **changes)  # type: ignore[type-var]
    assert copy is not original
    assert type(copy) is type(original)
    for name in changes:  # the original is left as it was
        assert getattr(original, name) != changes[name]


def test_a_frozen_copy_stays_frozen() -> None:
    copy = updated(Figures(), retained_objects=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.retained_objects = 0  # type: ignore[misc]


def test_updating_a_name_that_is_no_field_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Figures has no field retained"):
        updated(Figures(), retained=1)


def test_a_made_instance_is_what_the_constructor_makes_and_stays_frozen() -> None:
    values = dataclasses.asdict(Figures(retained_objects=3, rss_peak=None, duration=0.5))
    values["gc_collections"] = (1, 0, 0)
    made_figures = made(Figures, **values)
    assert made_figures == Figures(**values)
    assert shallow_dict(made_figures) == shallow_dict(Figures(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made_figures.retained_objects = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    "values",
    [{"retained_objects": 1}, {**dataclasses.asdict(Figures()), "nope": 1}],
    ids=["a field not given", "a name that is no field"],
)
def test_making_without_every_field_or_with_another_name_is_a_type_error(
    values: dict[str, object],
) -> None:
    with pytest.raises(TypeError, match=r"nope|duration"):
        made(Figures, **values)
