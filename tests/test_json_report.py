"""The JSON report: its document, its schema, and the atomic write."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_memguard.figures import Figures
from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.record import SCHEMA_VERSION, VERDICTS, TestRecord
from pytest_memguard.report.json import dumps, load_json_report, load_schema, write_json_report


def full_delta(**changes: Any) -> dict[str, Any]:
    delta: dict[str, Any] = {
        "retained_objects": 2,
        "retained_bytes": 512,
        "pytest_held": 33,
        "container_growth": 1,
        "rss_growth": -4096,
        "rss_peak": None,
        "traced_growth": 1024,
        "traced_peak": 8192,
        "gc_collections": [3, 1, 0],
        "gc_collected": 7,
        "gc_pause_max": 0.0004,
        "gc_pause_total": 0.0009,
        "uncollectable": 0,
        "duration": 0.012,
    }
    delta.update(changes)
    return delta


def leaky_record() -> TestRecord:
    finding = Finding(
        kind="growing-container",
        summary="app.cache._CACHE grows by 1 entry per run",
        count=2,
        bytes=512,
        retainer_chain=(
            ChainEdge(object="module", edge="app.cache"),
            ChainEdge(object="dict", edge="._CACHE"),
            ChainEdge(object="list", edge="['user:7']"),
        ),
        allocated_at=(Frame("app/cache.py", 12, "remember", "_CACHE[key] = value"),),
        advice="bound the cache (functools.lru_cache(maxsize=...)) or clear it",
    )
    return TestRecord(
        nodeid="tests/test_app.py::test_cache[user]",
        outcome="failed",
        verdict="leak",
        message="retained 512 B on each of 3 runs",
        delta=Figures.from_dict(full_delta()),
        repetitions=(
            Figures.from_dict(full_delta()),
            Figures.from_dict(full_delta(retained_bytes=480)),
        ),
        limits={"retained": 0, "peak": 50 * 1024**2, "gc_pause": 0.02, "repeat": 3},
        findings=(finding,),
    )


def write(path: Path, records: list[Any]) -> dict[str, Any]:
    write_json_report(
        path,
        records,
        python="CPython 3.11.7",
        platform="Linux-x86_64",
        plugin_version="0.1.0",
        header={"trace": True, "mode": "screen"},
    )
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_report_document_matches_schema(
    tmp_path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    unmeasured = TestRecord("tests/test_app.py::test_broken", "failed", verdict="error")
    clean = {"nodeid": "tests/test_app.py::test_ok", "outcome": "passed", "delta": full_delta()}
    document = write(tmp_path / "out" / "mem.json", [leaky_record(), unmeasured, clean])

    validator.validate(document)
    assert document["schema"] == SCHEMA_VERSION == 1
    assert document["python"] == "CPython 3.11.7"
    assert document["header"] == {"trace": True, "mode": "screen"}
    assert [test["nodeid"] for test in document["tests"]] == [
        "tests/test_app.py::test_cache[user]",
        "tests/test_app.py::test_broken",
        "tests/test_app.py::test_ok",
    ]
    leak = document["tests"][0]
    assert TestRecord.from_dict(leak) == leaky_record()
    assert leak["findings"][0]["chain_text"] == "app.cache._CACHE['user:7']"
    assert leak["findings"][0]["allocated_at"][0]["lineno"] == 12
    # A dict record is completed with the defaults of the fields it lacks.
    assert document["tests"][2] == json.loads(json.dumps(TestRecord.from_dict(clean).to_dict()))
    assert document["tests"][2]["verdict"] == "ok"
    assert load_json_report(tmp_path / "out" / "mem.json") == document


def _set(path: str, value: Any) -> Any:
    """A mutation of the leaky record's dict: set (or with ``...`` delete) a dotted path."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return mutate


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("nodeid", ...),
        ("nodeid", ""),
        ("outcome", ...),
        ("verdict", "leaky"),
        ("verdict", ...),
        ("delta", ...),
        ("delta.retained_bytes", "512"),
        ("delta.retained_bytes", -1),
        ("delta.retained_objects", 1.5),
        ("delta.duration", ...),
        ("delta.traced_peak", "8 KiB"),
        ("delta.gc_collections", [1, 2]),
        ("delta.gc_pause_max", None),
        ("repetitions.1.rss_growth", None),
        ("limits.retained", "0 B"),
        ("limits.unknown_limit", 3),
        ("findings", ...),
        ("findings.0.kind", "memory-leak"),
        ("findings.0.advice", ...),
        ("findings.0.count", -2),
        ("findings.0.retainer_chain", "app.cache._CACHE"),
        ("findings.0.retainer_chain.0.edge", ...),
        ("findings.0.allocated_at.0.lineno", "12"),
        ("findings.0.allocated_at.0.line", ...),
    ],
)
def test_schema_rejects_broken_record(
    tmp_path: Path, validator: jsonschema.Draft202012Validator, path: str, value: Any
) -> None:
    document = write(tmp_path / "mem.json", [leaky_record()])
    broken = copy.deepcopy(document)
    _set(path, value)(broken["tests"][0])
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


@pytest.mark.parametrize(
    "change",
    [
        {"schema": 2},
        {"created": 20260101},
        {"tests": {}},
        {"python": None},
    ],
)
def test_schema_rejects_broken_document(
    tmp_path: Path, validator: jsonschema.Draft202012Validator, change: dict[str, Any]
) -> None:
    document = write(tmp_path / "mem.json", [])
    validator.validate(document)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**document, **change})


def test_verdicts_of_schema_are_the_contract() -> None:
    record_schema = load_schema()["$defs"]["record"]
    assert tuple(record_schema["properties"]["verdict"]["enum"]) == VERDICTS


def test_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "mem.json"
    first = write(path, [leaky_record()])

    nan_record = TestRecord(
        "t.py::test_nan", "passed", delta=Figures.from_dict(full_delta(duration=math.nan))
    )
    with pytest.raises(ValueError, match="JSON"):
        write(path, [nan_record])

    # The failed write left the previous report whole and no temporary file behind.
    assert json.loads(path.read_text(encoding="utf-8")) == first
    assert [p.name for p in tmp_path.iterdir()] == ["mem.json"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "is not JSON"),
        ('{"schema": 1}', "is not a pytest-memguard JSON report"),
        ('{"schema": 99, "tests": []}', "has report schema 99"),
        ('{"schema": 1, "tests": [{"outcome": "passed"}]}', "must be a list of records"),
    ],
)
def test_load_rejects_other_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        load_json_report(path)


@pytest.mark.parametrize("tests", [[], [{"nodeid": "t.py::a", "verdict": "ok"}, {"nodeid": "b"}]])
def test_a_report_is_the_same_json_with_one_line_per_test(tests: list[dict[str, Any]]) -> None:
    document = {"schema": SCHEMA_VERSION, "session": {"guarded": 2, "roots": []}, "tests": tests}
    text = dumps(document)
    assert json.loads(text) == document
    assert sum(line.startswith('  {"nodeid"') for line in text.splitlines()) == len(tests)
    assert dumps({"tests": tests}) == json.dumps({"tests": tests}, indent=1) + "\n"
