"""The stubs ``benchmarks/instructions.py --stages`` counts runs with still fit the
plugin: a stub whose signature the plugin outgrew makes every run it replaces raise and
go unmeasured, and the benchmark then counts that instead of a run without the stage.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from conftest import RunPytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

SUITE = """
def test_sums():
    assert sum(range(10)) == 45

def test_builds_and_drops():
    made = [{"run": n} for n in range(100)]
    assert len(made) == 100
"""


def _stages() -> list[str]:
    """Every stage ``stage_stubs.py`` can replace, read from the file itself."""
    spec = importlib.util.spec_from_file_location("stage_stubs", BENCHMARKS / "stage_stubs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return sorted(module.STAGES)


@pytest.mark.parametrize("stage", _stages())
def test_each_stubbed_stage_still_runs_measured(
    pytester: pytest.Pytester, run_pytest: RunPytest, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    path = os.pathsep.join(filter(None, [str(BENCHMARKS), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    report = pytester.path / "report.json"
    result = run_pytest(
        "--memguard",
        "-p",
        "stage_stubs",
        f"--memguard-stub={stage}",
        f"--memguard-report=json:{report}",
    )
    assert result.ret == 0, result.stdout.str()
    records = json.loads(report.read_text())["tests"]
    assert [record["outcome"] for record in records] == ["passed", "passed"]
    if stage != "guard":  # the guard's stub runs no window: it measures nothing
        assert all(record["delta"] for record in records), records
