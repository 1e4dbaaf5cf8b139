"""The JSON report (``--memguard-report=json:PATH``) and the baseline files of the history.

The document is public and versioned by ``schema`` (``record.SCHEMA_VERSION``); its JSON
Schema ships next to this module as ``schema.json``::

    {"schema": 1, "python": ..., "platform": ..., "plugin_version": ..., "created": ...,
     "header": {...}, "tests": [TestRecord.to_dict(), ...]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import resources
from typing import Any, TypeAlias

from pytest_memguard.explain.causes import session_summary
from pytest_memguard.record import SCHEMA_VERSION, TestRecord
from pytest_memguard.report.atomic import write_text_atomically

#: A record as the reports and the history accept it: the dataclass or its dict.
RecordLike: TypeAlias = TestRecord | Mapping[str, Any]


def as_record(record: RecordLike) -> TestRecord:
    """Return ``record`` as a :class:`TestRecord`."""
    if isinstance(record, TestRecord):
        return record
    return TestRecord.from_dict(dict(record))


def record_dict(record: RecordLike) -> dict[str, Any]:
    """Return ``record`` as the plain dict the JSON document holds, with every field."""
    return as_record(record).to_dict()


def now_iso() -> str:
    """The current UTC time as ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_document(
    records: Sequence[RecordLike],
    *,
    python: str,
    platform: str,
    plugin_version: str,
    header: Mapping[str, Any],
    created: str | None = None,
) -> dict[str, Any]:
    """Return the JSON report document for ``records`` (``created`` defaults to now)."""
    return {
        "schema": SCHEMA_VERSION,
        "python": python,
        "platform": platform,
        "plugin_version": plugin_version,
        "created": created or now_iso(),
        "header": dict(header),
        "session": session_summary([as_record(record) for record in records]),
        "tests": [record_dict(record) for record in records],
    }


def write_json_report(
    path: str | os.PathLike[str],
    records: Sequence[RecordLike],
    *,
    python: str,
    platform: str,
    plugin_version: str,
    header: Mapping[str, Any],
    created: str | None = None,
) -> None:
    """Write the JSON report of ``records`` to ``path`` atomically."""
    document = build_document(
        records,
        python=python,
        platform=platform,
        plugin_version=plugin_version,
        header=header,
        created=created,
    )
    write_json_atomically(path, document)


def write_json_atomically(path: str | os.PathLike[str], document: Mapping[str, Any]) -> None:
    """Write ``document`` as JSON to ``path`` with :func:`write_text_atomically`."""
    write_text_atomically(path, dumps(document))


def dumps(document: Mapping[str, Any]) -> str:
    """``document`` as JSON text: indented, but its ``tests`` one per line.

    Indenting runs the json module's pure-Python encoder, many times slower than the C
    one that writes a compact line: a suite of thousands of tests would pay it for
    every record, where one line each reads and diffs as well.
    """
    # allow_nan=False: NaN and Infinity are not JSON, and other tools reject them.
    tests = document.get("tests")
    head = {key: value for key, value in document.items() if key != "tests"}
    if not isinstance(tests, list) or not head:
        return json.dumps(document, indent=1, allow_nan=False) + "\n"
    lines = ",\n".join("  " + json.dumps(test, allow_nan=False) for test in tests)
    # The indented head ends with "\n}": the tests go in before that brace.
    return json.dumps(head, indent=1, allow_nan=False)[:-2] + f',\n "tests": [\n{lines}\n ]\n}}\n'


def load_json_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON report or baseline file written by :func:`write_json_report`.

    Checks the shape a reader relies on (schema version, a list of tests, each with a
    nodeid), not the whole schema. Raises ``ValueError`` naming the file otherwise, and
    ``OSError`` when it cannot be read.
    """
    with open(path, encoding="utf-8") as stream:
        try:
            document = json.load(stream)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)} is not JSON: {exc}") from None
    if not isinstance(document, dict) or "tests" not in document:
        raise ValueError(f"{os.fspath(path)} is not a pytest-memguard JSON report")
    version = document.get("schema")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{os.fspath(path)} has report schema {version!r}; "
            f"this pytest-memguard reads schema {SCHEMA_VERSION}"
        )
    tests = document["tests"]
    if not isinstance(tests, list) or not all(
        isinstance(test, dict) and isinstance(test.get("nodeid"), str) for test in tests
    ):
        raise ValueError(f"{os.fspath(path)}: 'tests' must be a list of records with a nodeid")
    return document


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of the report document."""
    text = (
        resources.files("pytest_memguard.report")
        .joinpath("schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema
