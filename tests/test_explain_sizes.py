"""Tests of what a finding weighs: deep sizes, each object once, counts that add up."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from explain_helpers import load, only, young

from pytest_memguard.explain.explainer import explain
from pytest_memguard.explain.sizes import deep_sizes, explained_bytes
from pytest_memguard.findings import Finding

SOURCE = """
def make_handler(buf):
    def handler():
        return len(buf)

    return handler


OLD = list(range(100_000))


class Proxy:
    def __init__(self):
        self.rows = [[n] for n in range(10)]

    def __getattr__(self, name):
        raise ValueError(f"no {name}")


class Wide:
    def __init__(self):
        self.NAME = None
""".replace("NAME", "attribute_" + "x" * 5000)

KIB = 1024


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    yield from load(tmp_path, "memguard_sizes", SOURCE)


def test_a_closure_weighs_what_its_cells_keep(app: Any) -> None:
    def run() -> None:
        app.HANDLER = app.make_handler(b"x" * (64 * KIB))

    finding = only(explain(young(run)))
    assert finding.kind == "closure"
    assert 64 * KIB <= finding.bytes < 66 * KIB, finding.bytes
    assert "64." in finding.summary  # "(3 objects, 64.x KiB)"


def test_a_container_weighs_what_it_holds_at_any_depth(app: Any) -> None:
    def run() -> None:
        # the tuple of strings is not tracked by the gc: no retained object stands for it
        app.ROWS = [("a" * (50 * KIB), "b" * (50 * KIB))]

    finding = only(explain(young(run)))
    assert 100 * KIB <= finding.bytes < 101 * KIB, finding.bytes


def test_what_existed_before_is_not_weighed(app: Any) -> None:
    def run() -> None:
        app.HOLDER = [app.OLD]

    finding = only(explain(young(run)))
    assert finding.chain_text == "memguard_sizes.HOLDER"
    assert finding.bytes < KIB, finding.bytes


def test_attribute_names_are_the_class_s_not_the_instance_s(app: Any) -> None:
    def run() -> None:
        app.WIDE = app.Wide()

    finding = only(explain(young(run)))
    assert finding.bytes < 1000, finding.bytes  # the 5 KB name is not the instance's


def test_an_object_that_refuses_attribute_lookups_is_still_weighed(app: Any) -> None:
    def run() -> None:
        app.PROXY = app.Proxy()

    finding = only(explain(young(run)))
    # the proxy, its list and the ten rows, and up to 3.10 the proxy's __dict__
    assert finding.count == (13 if sys.version_info < (3, 11) else 12)
    assert finding.bytes > 10 * 56, finding.bytes


def test_a_weak_reference_does_not_weigh_its_referent(app: Any) -> None:
    app.TARGET = app.Wide()
    app.REFS = [weakref.ref(app.TARGET)]
    finding = only(explain([app.REFS[0]]))
    assert finding.bytes < 200, finding.bytes


def test_an_object_two_groups_share_is_counted_once(app: Any) -> None:
    def run() -> None:
        shared = b"y" * (100 * KIB)
        app.FIRST, app.SECOND = [shared], {shared}

    findings = explain(young(run))
    assert len(findings) == 2, [finding.summary for finding in findings]
    assert findings[0].bytes >= 100 * KIB
    assert findings[1].bytes < KIB
    assert 100 * KIB <= explained_bytes(findings) < 101 * KIB


def test_counts_add_up_to_the_objects_explained(app: Any) -> None:
    retained: list[object] = [[n] for n in range(5)]
    app.ROWS = retained[:3]
    app.MORE = {"rows": retained[3:]}
    findings = explain(retained)
    assert sum(finding.count for finding in findings) == len(retained)


def test_explained_bytes_is_the_sum_over_findings() -> None:
    findings = [Finding("closure", "a", bytes=300), Finding("listener", "b", bytes=12)]
    assert explained_bytes(findings) == 312
    assert explained_bytes([]) == 0


def test_sizing_a_class_made_by_the_test_does_not_keep_it_alive() -> None:
    """asizeof describes each type it sizes in a cache keyed by the type: a class the
    test made (retained with its instance) must not stay in it, found as the holder."""
    made = type("MadePerRun", (), {})
    instance = made()
    assert deep_sizes([[made, instance]], [])[0] > 0
    gone = weakref.ref(made)
    del made, instance
    gc.collect()
    assert gone() is None


def test_what_the_test_s_own_sizing_keeps_is_not_dropped() -> None:
    """A test that calls asizeof itself leaves its classes in pympler's tables (attrs'
    slots tests do, a new class per run): that is its leak, with pympler's table as
    the holder a chain names. Sizing the leak must not drop them."""
    from pympler import asizeof

    made = type("SizedByTheTest", (), {})
    asizeof.asizeof(made())
    kept = weakref.ref(made)
    assert deep_sizes([[made]], [])[0] > 0
    del made
    gc.collect()
    assert kept() is not None
