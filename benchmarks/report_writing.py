"""Time to write the JSON report, the HTML report and a saved run for many tests.

Usage: ``python benchmarks/report_writing.py [--tests N] [--check]``. Design targets:
all three together under 2 s for 10,000 tests, and the HTML file under 5 MB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.history.store import History
from pytest_memguard.record import TestRecord
from pytest_memguard.report.html import write_html_report
from pytest_memguard.report.json import write_json_report

MAX_SECONDS = 2.0
MAX_HTML_BYTES = 5_000_000


def _records(count: int) -> list[TestRecord]:
    """``count`` guarded tests, one in a hundred a leak with a finding."""
    finding = Finding(
        kind="growing-container",
        summary="1 Session object (2 objects, 221 B) held by app.cache._SESSIONS['user:5']",
        count=2,
        bytes=221,
        retainer_chain=(
            ChainEdge("dict", "app.cache._SESSIONS"),
            ChainEdge("Session", "['user:5']"),
        ),
        allocated_at=(Frame("app/cache.py", 30, "login", "session = Session(user_id)"),),
        advice="bound the container or clear it in teardown",
    ).to_dict()
    delta = {
        "retained_objects": 0, "retained_bytes": 0, "pytest_held": 20, "container_growth": 0,
        "rss_growth": 4096, "rss_peak": None, "traced_growth": None, "traced_peak": None,
        "gc_collections": [0, 0, 0], "gc_collected": 0, "gc_pause_max": 0.0,
        "gc_pause_total": 0.0, "uncollectable": 0, "duration": 0.001,
    }  # fmt: skip
    return [
        TestRecord(
            nodeid=f"tests/test_module_{index // 100}.py::test_case[{index}]",
            outcome="failed" if index % 100 == 0 else "passed",
            verdict="leak" if index % 100 == 0 else "ok",
            delta=dict(delta),
            findings=[finding] if index % 100 == 0 else [],
        )
        for index in range(count)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10_000)
    parser.add_argument("--check", action="store_true", help="exit 1 past the targets")
    options = parser.parse_args(argv)
    records = _records(options.tests)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        timings = {}
        started = time.perf_counter()
        write_json_report(
            out / "m.json", records, python="3", platform="bench", plugin_version="", header={}
        )
        timings["json"] = time.perf_counter() - started
        started = time.perf_counter()
        write_html_report(out / "m.html", records)
        timings["html"] = time.perf_counter() - started
        started = time.perf_counter()
        with History(out / "h.sqlite") as history:
            history.save_run(records, name="bench")
        timings["history"] = time.perf_counter() - started
        html_bytes = (out / "m.html").stat().st_size
    total = sum(timings.values())
    parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timings.items())
    print(f"{options.tests:,} tests: {parts}; total {total:.2f} s; HTML {html_bytes / 1e6:.2f} MB")
    over = total > MAX_SECONDS or html_bytes > MAX_HTML_BYTES
    return 1 if options.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
