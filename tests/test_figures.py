"""The table of figure and limit names, and the figures of one run at the boundaries."""

from __future__ import annotations

import dataclasses
import json

from pytest_memguard.config import LIMIT_KEYS, Limits
from pytest_memguard.figures import FIGURES, LIMITS, Figures, figures_dict
from pytest_memguard.history.compare import FIELDS
from pytest_memguard.record import TestRecord
from pytest_memguard.report.json import load_schema


def test_the_table_names_every_field_of_the_figures_and_the_limits() -> None:
    assert {name.name for name in FIGURES} == {f.name for f in dataclasses.fields(Figures)}
    assert tuple(name.name for name in LIMITS) == LIMIT_KEYS
    assert tuple(f.name for f in dataclasses.fields(Limits)) == LIMIT_KEYS
    assert {field.figure for field in FIELDS.values()} <= {name.name for name in FIGURES}


def test_the_schema_declares_the_names_of_the_table() -> None:
    definitions = load_schema()["$defs"]
    full = definitions["delta"]["anyOf"][1]
    assert full["required"] == [f.name for f in dataclasses.fields(Figures)]
    assert set(full["properties"]) == {name.name for name in FIGURES}
    assert set(definitions["limits"]["properties"]) == set(LIMIT_KEYS)


def test_figures_become_the_same_delta_dict_they_were_read_from() -> None:
    delta = Figures(retained_bytes=512, gc_collections=(3, 1, 0), rss_peak=None).to_dict()
    assert list(delta) == [f.name for f in dataclasses.fields(Figures)]
    assert delta["gc_collections"] == (3, 1, 0)
    text = json.dumps(delta)
    again = Figures.from_dict(json.loads(text))
    assert again is not None and json.dumps(again.to_dict()) == text


def test_a_run_not_measured_has_no_figures() -> None:
    assert Figures.from_dict({}) is None
    assert figures_dict(None) == {}
    data = TestRecord("t.py::test", "passed", "error", repetitions=(Figures(), None)).to_dict()
    assert data["delta"] == {} and data["repetitions"][1] == {}
    record = TestRecord.from_dict(data)
    assert record.delta is None and record.repetitions == (Figures(), None)


def test_a_figure_as_one_number_sums_the_generations() -> None:
    figures = Figures(gc_collections=(3, 1, 1), traced_peak=None)
    assert figures.value("gc_collections") == 5
    assert figures.value("traced_peak") is None
