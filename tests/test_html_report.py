"""The HTML report: a self-contained file, escaped, small and fast, and working in a browser.

The string-level tests read the written file; the browser tests open it in the system's
headless Chromium (``tests/browser.py``) and are skipped, with the reason, where Chromium,
its driver or selenium is missing. ``MEMGUARD_SCREENSHOT=PATH`` keeps the screenshot of
the realistic report (the one in the README) at PATH.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import shutil
from collections.abc import Iterator
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pytest

from pytest_memguard.figures import Figures, figures_dict
from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.history.compare import per_run
from pytest_memguard.record import TestRecord
from pytest_memguard.report import svg
from pytest_memguard.report.html import (
    render_html_report,
    short_nodeid,
    write_html_report,
)
from pytest_memguard.units import format_size

KiB = 1024
MiB = 1024 * 1024
LIMITS = {
    "retained": 0,
    "retained_objects": None,
    "peak": 50 * MiB,
    "rss_growth": None,
    "gc_pause": 0.02,
    "gc_collections": None,
    "repeat": 3,
}
HEADER = {
    "python": "CPython 3.12.4",
    "platform": "Linux-6.8-x86_64",
    "pytest": "8.3.2",
    "pytest-memguard": "0.1.0",
    "commit": "9be77d1 (main)",
}


def delta(rng: random.Random, retained: int = 0, **figures: Any) -> Figures:
    """Plausible figures of a run; ``figures`` override any of them."""
    out: dict[str, Any] = {
        "retained_objects": retained // 72,
        "retained_bytes": retained,
        "pytest_held": rng.choice([0, 0, 2, 14]),
        "container_growth": 0,
        "rss_growth": rng.randint(-64 * KiB, 2 * MiB),
        "rss_peak": rng.randint(256 * KiB, 24 * MiB),
        "traced_growth": None,
        "traced_peak": None,
        "gc_collections": (rng.randint(0, 60), rng.randint(0, 5), rng.randint(0, 1)),
        "gc_collected": rng.randint(0, 4000),
        "gc_pause_max": rng.uniform(0.00005, 0.006),
        "gc_pause_total": rng.uniform(0.0001, 0.02),
        "uncollectable": 0,
        "duration": rng.uniform(0.001, 0.4),
    }
    out.update(figures)
    return Figures(**out)


def leak_findings() -> list[tuple[str, Finding, list[int]]]:
    """Four realistic confirmed leaks: nodeid, finding, growth per repetition."""
    return [
        (
            "tests/api/test_sessions.py::test_login_keeps_session[redis]",
            Finding(
                "growing-container",
                "dict app.cache._CACHE grows by 1 entry per run",
                count=3,
                bytes=18_432,
                retainer_chain=(
                    ChainEdge("module app.cache", "app.cache"),
                    ChainEdge("dict", "._CACHE"),
                    ChainEdge("Session", "['user:7']"),
                    ChainEdge("list", ".sessions"),
                    ChainEdge("bytes", "[3]"),
                ),
                allocated_at=(
                    Frame("app/cache.py", 42, "remember", "_CACHE[key] = Session(user)"),
                    Frame("app/auth.py", 88, "login", "cache.remember(f'user:{uid}', s)"),
                    Frame(
                        "tests/api/test_sessions.py",
                        17,
                        "test_login_keeps_session",
                        "client.login('user:7')",
                    ),
                ),
                advice="Bound the cache (functools.lru_cache or a maxlen) or clear "
                "app.cache._CACHE in a fixture teardown.",
            ),
            [18_432, 18_560, 18_432, 18_688],
        ),
        (
            "tests/events/test_bus.py::TestBus::test_subscribe_handler",
            Finding(
                "listener",
                "bound method Handler.on_event added to app.events.BUS._listeners, never removed",
                count=1,
                bytes=3_520,
                retainer_chain=(
                    ChainEdge("module app.events", "app.events"),
                    ChainEdge("EventBus", ".BUS"),
                    ChainEdge("list", "._listeners"),
                    ChainEdge("method", "[12]"),
                    ChainEdge("Handler", ".__self__"),
                ),
                allocated_at=(
                    Frame(
                        "tests/events/test_bus.py",
                        31,
                        "test_subscribe_handler",
                        "BUS.subscribe(Handler().on_event)",
                    ),
                ),
                advice="Call BUS.unsubscribe(handler) in teardown, or keep a weak reference "
                "(weakref.WeakMethod) in the bus.",
            ),
            [3_520, 3_520, 3_520],
        ),
        (
            'tests/core/test_render.py::test_render_template[large-<html>&"]',
            Finding(
                "closure",
                "<closure of make_handler>.buf keeps a 64 KiB bytearray alive",
                count=2,
                bytes=66_000,
                retainer_chain=(
                    ChainEdge("module app.handlers", "app.handlers"),
                    ChainEdge("dict", ".HANDLERS"),
                    ChainEdge("function", "['render']"),
                    ChainEdge("bytearray", "<closure of make_handler>.buf"),
                ),
                allocated_at=(
                    Frame("app/handlers.py", 12, "make_handler", "buf = bytearray(65536)"),
                ),
                advice="Register the handler once at import, or remove it from HANDLERS when "
                "the test ends.",
            ),
            [66_000, 132_000, 66_000, 66_100, 66_000],
        ),
        (
            "tests/net/test_poller.py::test_poll_forever",
            Finding(
                "thread",
                "thread 'poller' is still running after the test",
                count=1,
                bytes=1_048_576,
                retainer_chain=(
                    ChainEdge("Thread", "Thread 'poller'"),
                    ChainEdge("frame", " frame poll()"),
                    ChainEdge("bytearray", " local buf"),
                ),
                chain_complete=False,
                allocated_at=(
                    Frame(
                        "app/net/poller.py",
                        57,
                        "start",
                        "threading.Thread(target=poll, name='poller', daemon=True).start()",
                    ),
                ),
                advice="Stop the poller (poller.stop(); thread.join()) in the fixture that "
                "starts it.",
            ),
            [1_048_576, 1_050_112, 1_048_576],
        ),
    ]


def realistic_records(count: int = 200, seed: int = 7) -> list[TestRecord]:
    """A run that looks like a real suite: mostly fine, a few leaks, warm-ups and overruns."""
    rng = random.Random(seed)
    modules = [
        "api/test_users.py",
        "api/test_orders.py",
        "core/test_cache.py",
        "core/test_parser.py",
        "db/test_models.py",
        "db/test_migrations.py",
        "io/test_export.py",
        "net/test_client.py",
    ]
    names = [
        "create",
        "update",
        "delete",
        "list_paginated",
        "parse_large",
        "roundtrip",
        "concurrent_writes",
        "retry_on_timeout",
        "stream_rows",
        "render",
    ]
    params = ["", "[sqlite]", "[postgres]", "[small]", "[large]", "[utf-8]", "[latin-1]"]
    records = []
    for nodeid, finding, growth in leak_findings():
        reps = [delta(rng, g, traced_peak=g * 3 + rng.randint(0, 4096)) for g in growth]
        records.append(
            TestRecord(
                nodeid,
                "failed",
                "leak",
                f"retained {finding.bytes} bytes on each of {len(growth)} repetitions",
                delta(
                    rng, growth[0] * 2, traced_peak=growth[0] * 5, retained_objects=finding.count
                ),
                reps,
                dict(LIMITS),
                [finding],
            )
        )
    while len(records) < count:
        i = len(records)
        nodeid = (
            f"tests/{modules[i % len(modules)]}::test_{names[i % len(names)]}_{i}"
            f"{params[i % len(params)]}"
        )
        retained = rng.choice([0, 0, 0, 0, 0, 96, 512, 2048, rng.randint(0, 900 * KiB)])
        if i % 29 == 3:
            records.append(
                TestRecord(
                    nodeid,
                    "passed",
                    "warmup",
                    "one-time growth: warm-up",
                    delta(rng, rng.randint(40, 700) * KiB),
                    [],
                    dict(LIMITS),
                    [Finding("warmup", "re cache filled once", count=40, bytes=9_000)],
                )
            )
        elif i % 61 == 5:
            records.append(
                TestRecord(
                    nodeid,
                    "failed",
                    "over-limit",
                    "peak 61.2 MiB over the limit of 50.0 MiB",
                    delta(rng, retained, rss_peak=rng.randint(52, 90) * MiB),
                    [],
                    dict(LIMITS),
                    [],
                )
            )
        elif i == 150:
            records.append(
                TestRecord(
                    nodeid,
                    "error",
                    "error",
                    "setup failed: no database",
                    delta(rng, 0),
                    [],
                    dict(LIMITS),
                    [],
                )
            )
        else:
            records.append(
                TestRecord(nodeid, "passed", "ok", "", delta(rng, retained), [], dict(LIMITS), [])
            )
    return records


def bulk_records(count: int, finding_every: int = 100) -> list[TestRecord]:
    """``count`` tests, a confirmed leak with a finding on one in ``finding_every``."""
    rng = random.Random(count)
    leaks = leak_findings()
    records = []
    for i in range(count):
        nodeid = f"tests/pkg{i % 40}/test_module_{i % 300}.py::TestSuite::test_case_{i}[p{i % 9}]"
        if i % finding_every == 1:
            _, finding, growth = leaks[i % len(leaks)]
            reps = [delta(rng, g) for g in growth]
            records.append(
                TestRecord(
                    nodeid,
                    "failed",
                    "leak",
                    "retained on every repetition",
                    delta(rng, growth[0]),
                    reps,
                    dict(LIMITS),
                    [finding],
                )
            )
        else:
            records.append(
                TestRecord(
                    nodeid,
                    "passed",
                    "ok",
                    "",
                    delta(rng, rng.choice([0, 0, 128, rng.randint(0, MiB)])),
                    [],
                    dict(LIMITS),
                    [],
                )
            )
    return records


def history_runs(rng_seed: int = 3) -> list[tuple[str, list[TestRecord]]]:
    """Six saved runs whose totals drift upwards."""
    runs = []
    for k, name in enumerate(
        ["v1.3.0", "v1.4.0", "main@3f2a1c", "main@7c01e9", "pr-482", "main@9be77d"]
    ):
        records = realistic_records(60, seed=rng_seed + k)
        for record in records:
            assert record.delta is not None
            retained = int(record.delta.retained_bytes * (1 + k / 4))
            record.delta = dataclasses.replace(record.delta, retained_bytes=retained)
        runs.append((name, records))
    return runs


def data_block(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', html, re.S)
    assert match, "no embedded data block"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def figure(html: str, plot_id: str) -> str:
    match = re.search(rf'<figure class="panel plot" id="{plot_id}">(.*?)</figure>', html, re.S)
    assert match, f"no figure {plot_id}"
    return match.group(1)


# ---------------------------------------------------------------- the written file


def test_writes_one_self_contained_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "mem.html"
    write_html_report(path, realistic_records(), history=history_runs(), header=HEADER)
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert list(tmp_path.joinpath("deep", "dir").iterdir()) == [path]  # no temp file left
    # Nothing to fetch: no URL at all, no src/href/url() leaving the file, no import.
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?!data:)[a-z]*:?//""", html, re.I)
    assert re.findall(r"<link\b[^>]*>", html) == ['<link rel="icon" href="data:,">']
    assert "@import" not in html and "url(" not in html
    assert len(re.findall(r"<script\b", html)) == 2  # the data block and the inline script
    # The browser is told to refuse any other source, and the inline blocks match by hash.
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy and "default-src 'none'" in policy.group(1)
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert script and style
    for block in (script.group(1), style.group(1)):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy.group(1)


def test_header_and_totals(tmp_path: Path) -> None:
    records = realistic_records()
    html = render_html_report(records, header=HEADER)
    for key, value in HEADER.items():
        assert f"<dt>{key}</dt><dd>{value}</dd>" in html
    totals = re.search(r'<section class="cards" id="mg-totals">(.*?)</section>', html, re.S)
    assert totals
    cards = dict(
        (label, n)
        for n, label in re.findall(
            r'<div class="n">([^<]*)</div><div class="l">([^<]*)</div>', totals.group(1)
        )
    )
    verdicts = [r.verdict for r in records]
    assert cards["guarded tests"] == "200"
    assert cards["leaks"] == str(verdicts.count("leak")) == "4"
    assert cards["warm-ups"] == str(verdicts.count("warmup"))
    assert cards["over a limit"] == str(verdicts.count("over-limit"))
    assert cards["errors"] == "1"


def test_escapes_everything() -> None:
    nasty = "tests/test_x.py::test_a[</script><script>alert('x')</script>&amp;\"']"
    summary = "<img src=x onerror=alert(1)> & </script>"
    rng = random.Random(1)
    finding = Finding(
        "cycle",
        summary,
        retainer_chain=(ChainEdge("<dict>", "['</b>']"),),
        allocated_at=(Frame("<stdin>", 1, "<module>", "x = '</script>'"),),
        advice="use </pre> & <b>",
    )
    record = TestRecord(
        nasty,
        "failed",
        "leak",
        "message <b>bold</b>",
        delta(rng, 4096),
        [delta(rng, 4096)],
        {},
        [finding],
    )
    html = render_html_report(
        [record],
        history=[("<run1>", [record]), ("run&2", [record])],
        header={"<key>": "<value & 'q'>"},
    )
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>" not in html
    assert html.count("</script>") == 2 and html.count("<script") == 2
    assert "<dt>&lt;key&gt;</dt><dd>&lt;value &amp; &#x27;q&#x27;&gt;</dd>" in html
    # The data block gives the page the exact strings back.
    data = data_block(html)
    test = data["tests"][0]
    assert test["n"] == nasty and test["m"] == "message <b>bold</b>"
    assert test["f"][0]["summary"] == summary
    assert test["f"][0]["chain_text"] == "['</b>']"
    assert test["f"][0]["allocated_at"][0]["line"] == "x = '</script>'"
    # The plots carry the nodeid and the run names escaped.
    assert "&lt;/script&gt;&lt;script&gt;alert(&#x27;x&#x27;)" in figure(html, "plot-retained")
    assert "&lt;run1&gt;" in figure(html, "plot-history")
    assert "run&amp;2" in figure(html, "plot-history")


def _as_json(value: Any) -> Any:
    """``value`` as the embedded data holds it: its tuples become lists."""
    return json.loads(json.dumps(value))


def test_embedded_data_matches_the_records() -> None:
    records = realistic_records()
    data = data_block(render_html_report(records))
    keys = [f[0] for f in data["fields"]]
    assert keys[:2] == ["retained_bytes", "retained_objects"]
    assert len(data["tests"]) == len(records)
    assert len(data["limitSets"]) == 1  # one shared set, stored once
    for record, test in zip(records, data["tests"], strict=True):
        assert (test["n"], test["o"], test["v"]) == (record.nodeid, record.outcome, record.verdict)
        assert dict(zip(keys, test["d"], strict=True)) == _as_json(figures_dict(record.delta))
        assert data["limitSets"][test["l"]] == record.limits
        assert [dict(zip(keys, r, strict=True)) for r in test.get("r", [])] == _as_json(
            [figures_dict(rep) for rep in record.repetitions]
        )
        for got, found in zip(test.get("f", []), record.findings, strict=True):
            want = found.to_dict()
            assert got["summary"] == want["summary"]
            assert got["chain_text"] == want["chain_text"]
            assert got["retainer_chain"] == want["retainer_chain"]
            assert got["allocated_at"] == want["allocated_at"]


def test_non_finite_values_survive() -> None:
    rng = random.Random(2)
    record = TestRecord(
        "t.py::test_nan",
        "passed",
        "ok",
        "",
        delta(rng, 0, rss_growth=math.nan, gc_collections=(1, math.inf, 0)),
        [],
        {"peak": math.inf},
        [],
    )
    data = data_block(render_html_report([record]))
    values = dict(zip([f[0] for f in data["fields"]], data["tests"][0]["d"], strict=True))
    assert values["rss_growth"] is None and values["gc_collections"] == [1, None, 0]
    assert data["limitSets"] == [{"peak": None}]


def test_finding_dicts_without_chain_text_get_one() -> None:
    rng = random.Random(3)
    finding = {
        "kind": "cycle",
        "summary": "s",
        "chain_complete": False,
        "retainer_chain": [{"object": "dict", "edge": "mod"}, {"object": "x", "edge": ".a"}],
    }
    data = TestRecord("t.py::test", "failed", "leak", "", delta(rng)).to_dict()
    record = TestRecord.from_dict({**data, "findings": [finding]})
    got = data_block(render_html_report([record]))["tests"][0]["f"][0]
    assert got["chain_text"] == "... mod.a"
    assert got["allocated_at"] == []


def test_plots() -> None:
    records = realistic_records()
    html = render_html_report(records, history=history_runs())
    retained = figure(html, "plot-retained")
    assert "<svg" in retained and "Leaked per run by confirmed leaks" in retained
    # Only confirmed leaks, by what they add per run: a warm-up never tops this chart.
    leaking = [r for r in records if r.verdict == "leak"]
    assert retained.count("<g><title>") == len(leaking) == 4  # one titled mark per bar
    biggest = max(leaking, key=lambda r: per_run(r, "retained") or 0)
    first_bar = re.search(r"<g><title>(.*?)</title>", retained, re.S)
    assert first_bar and first_bar.group(1).startswith(html_escape(biggest.nodeid) + "\n")
    assert "leaked per run: 1.0 MiB" in first_bar.group(1)
    warmup = figure(html, "plot-warmup")
    warming = [
        r for r in records if r.verdict == "warmup" and r.delta and r.delta.retained_bytes > 0
    ]
    assert warmup.count("<g><title>") == len(warming) > 0
    peak = figure(html, "plot-peak")  # some tests were traced: the traced peak only
    traced = [r for r in records if r.delta and r.delta.traced_peak]
    assert peak.count("<g><title>") == len(traced) and "tracemalloc peak: " in peak
    assert "RSS" not in peak
    leaks = figure(html, "plot-leaks")
    assert leaks.count("<svg") == 4
    assert leaks.count("<circle") == sum(len(growth) for _, _, growth in leak_findings())
    assert "repetition 2: 18.1 KiB" in leaks
    history = figure(html, "plot-history")
    assert all(name in history for name, _ in history_runs())
    traced_runs = sum(
        any(r.delta and r.delta.traced_peak for r in run) for _, run in history_runs()
    )
    assert history.count("<circle") == 6 + traced_runs  # leaked per run; traced peak
    assert "<title>Leaked per run and traced peak over 6 saved runs</title>" in history
    # The palette stays colour-blind safe: every fill and stroke is an Okabe-Ito colour.
    colours = set(re.findall(r'(?:fill|stroke)="(#[0-9A-Fa-f]{6})"', html))
    assert colours and colours <= set(svg.PALETTE)


def test_the_peak_plot_names_its_source_and_never_mixes_rss_into_traced_peaks() -> None:
    rng = random.Random(4)
    traced = TestRecord(
        "t.py::traced", "passed", delta=delta(rng, traced_peak=MiB, rss_peak=9 * MiB)
    )
    rss = TestRecord("t.py::rss", "passed", delta=delta(rng, rss_peak=2 * MiB))
    noise = TestRecord("t.py::noise", "passed", delta=delta(rng, rss_peak=16 * KiB))
    unknown = TestRecord("t.py::unknown", "passed", delta=delta(rng, rss_peak=None))
    peak = figure(render_html_report([traced, rss, noise, unknown]), "plot-peak")
    assert "t.py::traced\ntracemalloc peak: 1.0 MiB" in peak
    assert peak.count("<g><title>") == 1
    for record in (rss, noise, unknown):
        assert record.delta is not None
        record.delta = dataclasses.replace(record.delta, traced_peak=None)
    untraced = figure(render_html_report([rss, noise, unknown]), "plot-peak")
    assert "Peak per test, RSS: tracing was off" in untraced
    assert "t.py::rss\nRSS peak: 2.0 MiB" in untraced
    assert untraced.count("<g><title>") == 1  # 16 KiB of pages is noise, not drawn
    assert "peaks under 1.0 MiB are not drawn" in untraced


def test_an_untracked_leak_is_plotted_in_entries_not_as_a_flat_zero() -> None:
    reps: list[Figures | None] = [Figures(container_growth=1000)] * 3
    leak = TestRecord("t.py::test_audit", "passed", "leak", repetitions=reps)
    html = render_html_report([leak])
    panel = figure(html, "plot-leaks")
    assert "repetition, entries added" in panel and "1,000" in panel
    assert "0 B" not in panel
    assert "1 confirmed leak of untracked objects (entries, not bytes)" in figure(
        html, "plot-retained"
    )


def test_history_needs_two_runs_and_empty_runs_render() -> None:
    runs = history_runs()
    assert 'id="plot-history"' not in render_html_report(realistic_records(), history=runs[:1])
    html = render_html_report([])
    assert 'id="plot-leaks"' not in html and 'id="plot-history"' not in html
    assert "No confirmed leak retains tracked objects." in html
    assert "No warm-up retained anything." in html
    assert data_block(html)["tests"] == []


def test_short_nodeid() -> None:
    nodeid = "tests/api/test_users.py::TestUsers::test_create[postgres]"
    assert short_nodeid(nodeid, 80) == "test_users.py::TestUsers::test_create[postgres]"
    assert short_nodeid(nodeid, 50) == "test_users.py::TestUsers::test_create[postgres]"
    assert short_nodeid(nodeid, 40) == "test_users.py::test_create[postgres]"
    assert short_nodeid(nodeid, 25) == "test_create[postgres]"
    assert short_nodeid(nodeid, 12) == "\u2026e[postgres]"
    assert short_nodeid("tests/test_x.py", 10) == "test_x.py"


def test_ticks() -> None:
    assert svg.nice_ticks(0, 7.3) == [0, 2, 4, 6, 8]
    assert svg.nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.nice_ticks(-3, 9, 4) == [-5, 0, 5, 10]
    assert svg.size_ticks(0, 3 * MiB + 5) == [0, 1 * MiB, 2 * MiB, 3 * MiB, 4 * MiB]
    assert svg.size_ticks(0, 900) == [0, 200, 400, 600, 800, 1000]
    assert svg.size_ticks(0, 5 * KiB, 2) == [0, 5 * KiB]
    assert svg.size_ticks(0, 1) == [0, 1]  # never "1 B / 0 B / 0 B"
    assert svg.count_ticks(0, 3) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="finite"):
        svg.nice_ticks(0, math.inf)


def test_10000_tests_stay_small(tmp_path: Path) -> None:
    # How long writing takes is measured by benchmarks/report_writing.py.
    records = bulk_records(10_000)
    assert sum(1 for r in records if r.findings) == 100
    path = tmp_path / "mem.html"
    write_html_report(path, records, header=HEADER)
    size = path.stat().st_size
    assert size < 5_000_000, f"{size / 1e6:.2f} MB"
    assert len(data_block(path.read_text(encoding="utf-8"))["tests"]) == 10_000


# ---------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    from browser import chromium, missing

    reason = missing()
    if reason:
        pytest.skip(reason)
    with chromium() as started:
        yield started


def open_report(driver: Any, path: Path) -> None:
    """Load ``path`` with the logs of whatever the browser did before drained."""
    driver.get("about:blank")
    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(path.as_uri())


def rows(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, "#mg-rows tr[data-i]"))


def first_nodeid(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    text: str = driver.find_element(By.CSS_SELECTOR, "#mg-rows tr[data-i] td.nodeid").text
    return text


def click_header(driver: Any, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'th[data-key="{key}"] button').click()


def assert_clean(driver: Any) -> None:
    """No console error and no request outside the file itself."""
    from browser import console_errors, requested_urls

    assert console_errors(driver) == []
    urls = requested_urls(driver)
    assert urls, "the performance log recorded nothing"
    assert all(url.startswith("file://") for url in urls), urls


@pytest.fixture(scope="module")
def realistic_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "mem.html"
    write_html_report(path, realistic_records(), history=history_runs(), header=HEADER)
    return path


def test_browser_sorts_by_retained(driver: Any, realistic_report: Path) -> None:
    from selenium.webdriver.common.by import By

    records = realistic_records()
    open_report(driver, realistic_report)
    assert len(rows(driver)) == 200
    # Problems first: errors, then leaks, over-limit, warm-ups.
    assert first_nodeid(driver) == next(r.nodeid for r in records if r.verdict == "error")
    biggest = max(records, key=lambda r: r.delta.retained_bytes)
    assert biggest.verdict != "error"
    click_header(driver, "retained")
    assert first_nodeid(driver) == biggest.nodeid
    head = driver.find_element(By.CSS_SELECTOR, 'th[data-key="retained"]')
    assert head.get_attribute("aria-sort") == "descending"
    shown = [r.find_element(By.CSS_SELECTOR, "td:nth-child(4)").text for r in rows(driver)[:3]]
    assert shown[0] == format_size(biggest.delta.retained_bytes) and shown[0] != shown[2]
    click_header(driver, "retained")
    assert head.get_attribute("aria-sort") == "ascending"
    assert first_nodeid(driver) == next(r.nodeid for r in records if r.delta.retained_bytes == 0)
    click_header(driver, "nodeid")
    assert first_nodeid(driver) == min(r.nodeid for r in records)
    assert_clean(driver)


def test_browser_filters(driver: Any, realistic_report: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    open_report(driver, realistic_report)
    Select(driver.find_element(By.ID, "mg-verdict")).select_by_value("leak")
    shown = rows(driver)
    assert len(shown) == 4
    assert {r.find_element(By.CSS_SELECTOR, ".pill").text for r in shown} == {"leak"}
    assert "passed" not in {r.find_element(By.CSS_SELECTOR, "td.outcome").text for r in shown}
    assert driver.find_element(By.ID, "mg-count").text == "4 of 200 tests"
    search = driver.find_element(By.ID, "mg-search")
    search.send_keys("POLLER")
    WebDriverWait(driver, 5).until(lambda d: len(rows(d)) == 1)
    assert first_nodeid(driver) == "tests/net/test_poller.py::test_poll_forever"
    Select(driver.find_element(By.ID, "mg-verdict")).select_by_value("ok")
    assert driver.find_element(By.CSS_SELECTOR, "#mg-rows td.empty").text == (
        "No test matches the filter."
    )
    assert_clean(driver)


def test_browser_detail_shows_the_chain(driver: Any, realistic_report: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_report(driver, realistic_report)
    nodeid, finding, growth = leak_findings()[2]  # the one whose nodeid needs escaping
    detail = driver.find_element(By.ID, "detail")
    assert not detail.is_displayed()
    row = next(
        r for r in rows(driver) if r.find_element(By.CSS_SELECTOR, "td.nodeid").text == nodeid
    )
    row.click()
    assert detail.is_displayed()
    assert detail.find_element(By.TAG_NAME, "h2").text == nodeid
    assert detail.find_element(By.CSS_SELECTOR, "pre.chain").text == finding.chain_text
    assert finding.chain_text == "app.handlers.HANDLERS['render']<closure of make_handler>.buf"
    assert detail.find_element(By.CSS_SELECTOR, ".finding .summary").text == finding.summary
    assert (
        "app/handlers.py:12 in make_handler"
        in detail.find_element(By.CSS_SELECTOR, "pre.frames").text
    )
    assert detail.find_element(By.CSS_SELECTOR, ".advice").text == finding.advice
    reps = detail.find_element(By.XPATH, ".//h3[text()='Per repetition']/following-sibling::table")
    assert reps.find_element(By.CSS_SELECTOR, "tbody tr").text.split() == [
        "Retained",
        "64.5",
        "KiB",
        "128.9",
        "KiB",
        "64.5",
        "KiB",
        "64.6",
        "KiB",
        "64.5",
        "KiB",
    ]
    assert len(growth) == 5
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    assert not detail.is_displayed()
    # An incomplete chain says so.
    row = next(r for r in rows(driver) if "test_poll_forever" in r.text)
    row.click()
    assert detail.find_element(By.CSS_SELECTOR, "pre.chain").text.startswith("... Thread 'poller'")
    assert "incomplete" in detail.find_element(By.CSS_SELECTOR, ".incomplete").text
    detail.find_element(By.CSS_SELECTOR, "button.close").click()
    assert not detail.is_displayed()
    assert_clean(driver)


def test_browser_plots(driver: Any, realistic_report: Path) -> None:
    from selenium.webdriver.common.by import By

    open_report(driver, realistic_report)
    for plot_id, charts in (
        ("plot-retained", 1),
        ("plot-peak", 1),
        ("plot-leaks", 4),
        ("plot-history", 1),
    ):
        found = driver.find_elements(By.CSS_SELECTOR, f"#{plot_id} svg")
        assert len(found) == charts, plot_id
        for chart in found:
            assert chart.is_displayed()
            assert chart.size["width"] > 150 and chart.size["height"] > 100
    marks = driver.find_elements(By.CSS_SELECTOR, "#plot-retained svg g > title")
    assert len(marks) == 4  # the confirmed leaks
    assert_clean(driver)


def test_browser_shows_hostile_text_as_text(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    nasty = "t.py::test[<img src=x onerror=alert(1)>&</script>'\"]"
    rng = random.Random(5)
    finding = Finding(
        "cycle", "<b>not bold</b>", retainer_chain=(ChainEdge("x", "<script>alert(2)</script>"),)
    )
    path = tmp_path / "mem.html"
    write_html_report(
        path,
        [TestRecord(nasty, "failed", "leak", "<i>m</i>", delta(rng, 64), [], {}, [finding])],
    )
    open_report(driver, path)
    assert first_nodeid(driver) == nasty  # an alert would make this call fail
    rows(driver)[0].click()
    detail = driver.find_element(By.ID, "detail")
    assert detail.find_element(By.CSS_SELECTOR, ".finding .summary").text == "<b>not bold</b>"
    assert detail.find_element(By.CSS_SELECTOR, "pre.chain").text == "<script>alert(2)</script>"
    assert driver.find_elements(By.CSS_SELECTOR, "#detail b, #detail img, #mg-rows img") == []
    assert_clean(driver)


def test_browser_10000_tests(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    path = tmp_path / "mem.html"
    write_html_report(path, bulk_records(10_000))
    open_report(driver, path)
    assert len(rows(driver)) == 500
    assert driver.find_element(By.ID, "mg-count").text == "10,000 tests \u00b7 first 500 shown"
    # Sorting 10,000 tests and rendering the first rows, timed inside the page.
    took = driver.execute_script(
        "const t = performance.now();"
        "document.querySelector('th[data-key=\"peak\"] button').click();"
        "document.body.offsetHeight;"  # include the layout
        "return performance.now() - t;"
    )
    assert took < 1000, f"sorting took {took:.0f} ms"
    peaks = [
        driver.execute_script(
            f"return document.querySelectorAll('#mg-rows tr')[{k}].children[5].textContent"
        )
        for k in (0, 499)
    ]
    assert peaks[0].endswith("MiB")
    # Scrolling the table appends the next rows; "show all" renders the rest.
    driver.execute_script(
        "const w = document.querySelector('.tablewrap');w.scrollTop = w.scrollHeight;"
    )
    wait_for_rows(driver, 1000)
    driver.find_element(By.ID, "mg-show-all").click()
    wait_for_rows(driver, 10_000)
    assert not driver.find_element(By.ID, "mg-more").is_displayed()
    assert_clean(driver)


def wait_for_rows(driver: Any, count: int) -> None:
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: (
            d.execute_script("return document.querySelectorAll('#mg-rows tr').length") == count
        )
    )


def test_browser_screenshot(driver: Any, realistic_report: Path, tmp_path: Path) -> None:
    """The README picture: the table with a leak open in the detail view."""
    from selenium.webdriver.common.by import By

    driver.set_window_size(1500, 1050)
    open_report(driver, realistic_report)
    nodeid = leak_findings()[0][0]
    next(
        r for r in rows(driver) if r.find_element(By.CSS_SELECTOR, "td.nodeid").text == nodeid
    ).click()
    assert driver.find_element(By.ID, "detail").is_displayed()
    shot = tmp_path / "memguard-report.png"
    assert driver.save_screenshot(str(shot))
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert [width, height] == driver.execute_script(
        "return [window.innerWidth * devicePixelRatio, window.innerHeight * devicePixelRatio]"
    )
    if os.environ.get("MEMGUARD_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["MEMGUARD_SCREENSHOT"])
    assert_clean(driver)
