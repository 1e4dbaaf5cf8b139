"""The HTML report (``--memguard-report=html:PATH``): one self-contained file.

Everything is inside the file: the records as a JSON ``<script type="application/json">``
block, the script and the style sheet of ``html_assets/`` inlined, and the plots drawn
here as inline SVG (:mod:`pytest_memguard.report.svg`). A Content-Security-Policy that
allows only these inline blocks (by hash) and no other source makes the browser refuse
any request the page could make, so it works offline and leaks nothing.

The table is rendered in the browser from the JSON (sorted as arrays, written with one
``innerHTML`` assignment, the first 500 rows after a filter until "show all"), which keeps
a 10,000-test report light: each test is ``{"n": nodeid, "o": outcome, "v": verdict,
"d": [delta values in the order of "fields"], "m": message, "l": index into "limitSets",
"r": [[repetition values]], "f": [findings]}`` with the optional keys left out when empty.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from html import escape
from importlib import resources
from types import MappingProxyType
from typing import Any

from pytest_memguard.figures import FIGURES, LIMITS, Figures, figures_dict
from pytest_memguard.findings import Finding
from pytest_memguard.history.compare import FIELDS, LEAK_VERDICTS, per_run
from pytest_memguard.record import VERDICTS, TestRecord
from pytest_memguard.report import svg
from pytest_memguard.report.atomic import write_text_atomically
from pytest_memguard.units import format_size

#: Colour of each verdict in the plots and the page (Okabe-Ito, colour-blind safe).
VERDICT_COLORS: Mapping[str, str] = MappingProxyType(
    {
        "leak": "#D55E00",
        "over-limit": "#E69F00",
        "warmup": "#56B4E9",
        "known": "#F0E442",
        "ok": "#009E73",
        "error": "#CC79A7",
    }
)

#: Bars per plot of the per-test figures; small multiples of confirmed leaks.
TOP_TESTS = 50
MAX_LEAK_PANELS = 24

_NO_HEADER: Mapping[str, str] = MappingProxyType({})
_FINDING_KEYS = ("kind", "summary", "count", "bytes", "chain_complete", "advice")


def write_html_report(
    path: str | os.PathLike[str],
    records: Sequence[TestRecord],
    *,
    history: Sequence[tuple[str, Sequence[TestRecord]]] = (),
    header: Mapping[str, str] = _NO_HEADER,
) -> None:
    """Write the HTML report of ``records`` to ``path`` atomically.

    ``history`` holds saved runs, oldest first, as ``(run name, records)``; with two or
    more, the report plots total retained and peak over them (include the current run
    there if it should be a point). ``header`` is shown as is (Python, platform, plugin
    version...). Parent directories are created; readers never see a half-written file.
    """
    document = render_html_report(records, history=history, header=header)
    write_text_atomically(path, document)


def render_html_report(
    records: Sequence[TestRecord],
    *,
    history: Sequence[tuple[str, Sequence[TestRecord]]] = (),
    header: Mapping[str, str] = _NO_HEADER,
) -> str:
    """Return the report document that :func:`write_html_report` writes."""
    assets = resources.files(__package__).joinpath("html_assets")
    script = assets.joinpath("report.js").read_text(encoding="utf-8")
    style = assets.joinpath("report.css").read_text(encoding="utf-8")
    policy = (
        "default-src 'none'; "
        f"script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    try:
        data = _script_json(_payload(records, finite=False))
    except ValueError:  # a NaN or an infinity somewhere, which JSON cannot write
        data = _script_json(_payload(records, finite=True))
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            # The policy is made of keywords and base64 digests: nothing to escape.
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            '<link rel="icon" href="data:,">\n',
            "<title>pytest-memguard report</title>\n",
            f"<style>{style}</style>\n</head>\n<body>\n",
            _header_html(header),
            "<main>\n",
            _cards_html(records),
            _table_html(records),
            _plots_html(records, history),
            "</main>\n",
            '<aside id="detail" hidden aria-label="Test detail"></aside>\n',
            f'<script type="application/json" id="mg-data">{data}</script>\n',
            f"<script>{script}</script>\n</body>\n</html>\n",
        ]
    )


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _script_json(data: object) -> str:
    """JSON that is safe inside ``<script>``: no ``<`` can close the block or open a comment."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c")


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (not JSON) replaced by None, also inside lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _values(figures: Figures | None) -> list[Any]:
    """A run's figures in the order of :data:`~pytest_memguard.figures.FIGURES`, each
    None when the run was not measured."""
    row = figures_dict(figures)
    return [row.get(name.name) for name in FIGURES]


def _finding(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    out = {key: data[key] for key in _FINDING_KEYS}
    out["retainer_chain"] = data["retainer_chain"]
    out["chain_text"] = data["chain_text"]
    out["allocated_at"] = data["allocated_at"]
    return out


def _payload(records: Sequence[TestRecord], *, finite: bool) -> dict[str, Any]:
    """The data the page reads; ``finite`` replaces NaN and infinities by None (slower)."""

    def clean(value: Any) -> Any:
        return _finite(value) if finite else value

    limit_sets: list[dict[str, Any]] = []
    limit_index: dict[str, int] = {}
    tests: list[dict[str, Any]] = []
    for record in records:
        entry: dict[str, Any] = {
            "n": str(record.nodeid),
            "o": str(record.outcome),
            "v": str(record.verdict),
            "d": clean(_values(record.delta)),
        }
        if record.message:
            entry["m"] = str(record.message)
        if record.limits:
            # Most tests share one set of limits: store each distinct set once.
            signature = repr(sorted(record.limits.items()))
            index = limit_index.get(signature)
            if index is None:
                index = limit_index[signature] = len(limit_sets)
                values = clean(list(record.limits.values()))
                limit_sets.append(dict(zip(record.limits, values, strict=True)))
            entry["l"] = index
        if record.repetitions:
            entry["r"] = clean([_values(rep) for rep in record.repetitions])
        if record.findings:
            entry["f"] = [_finding(finding) for finding in record.findings]
        tests.append(entry)
    return {
        "fields": [[name.name, name.label, name.unit] for name in FIGURES],
        "limitFields": [[name.name, name.label, name.unit] for name in LIMITS],
        "limitSets": limit_sets,
        "tests": tests,
    }


def _number(value: Any) -> float | None:
    """``value`` as a finite number, or None (missing, not measured, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def short_nodeid(nodeid: str, width: int) -> str:
    """A label for ``nodeid`` of at most ``width`` characters, for plots.

    Drops the directory, then the class if it does not fit, then the file, keeping the
    test name and its parameters: ``tests/api/test_users.py::TestUsers::test_create[pg]``
    becomes ``test_users.py::TestUsers::test_create[pg]``, ``test_users.py::test_create[pg]``
    or ``test_create[pg]``.
    """
    path, sep, rest = nodeid.partition("::")
    base = path.rsplit("/", 1)[-1]
    name = rest.rsplit("::", 1)[-1]
    for label in (f"{base}{sep}{rest}", f"{base}{sep}{name}", name or base):
        if len(label) <= width:
            return label
    return svg.shorten(name or base, width)


def _tick_size(value: float) -> str:
    """A size for an axis: ``2 MiB`` rather than ``2.0 MiB``."""
    return format_size(value).replace(".0 ", " ")


def _header_html(header: Mapping[str, str]) -> str:
    items = "".join(
        f"<div><dt>{escape(str(key))}</dt><dd>{escape(str(value))}</dd></div>"
        for key, value in header.items()
    )
    return (
        '<header class="top"><h1>pytest-memguard <span>memory report</span></h1>'
        f'<dl class="env">{items}</dl></header>\n'
    )


def _cards_html(records: Sequence[TestRecord]) -> str:
    counts = {verdict: 0 for verdict in VERDICTS}
    retained = 0.0
    for record in records:
        counts[record.verdict] = counts.get(record.verdict, 0) + 1
        retained += _leaked(record) or 0.0
    cards = [
        ("total", f"{len(records):,}", "guarded tests"),
        ("leak", f"{counts['leak']:,}", "leaks"),
        ("over-limit", f"{counts['over-limit']:,}", "over a limit"),
        ("warmup", f"{counts['warmup']:,}", "warm-ups"),
        ("error", f"{counts['error']:,}", "errors"),
        ("total", format_size(retained), "leaked per run"),
    ]
    body = "".join(
        f'<div class="card {cls}"><div class="n">{escape(n)}</div>'
        f'<div class="l">{label}</div></div>'
        for cls, n, label in cards
    )
    return f'<section class="cards" id="mg-totals">{body}</section>\n'


#: Table columns: (sort key in report.js, header, th class, col class for the width).
_COLUMNS = (
    ("verdict", "Verdict", "", "c-verdict"),
    ("nodeid", "Test", "", "c-nodeid"),
    ("outcome", "Outcome", "", "c-outcome"),
    ("retained", "Retained", "num", "c-size"),
    ("objects", "Objects", "num", "c-count"),
    ("peak", "Peak", "num", "c-size"),
    ("pause", "GC pause", "num", "c-count"),
    ("gc0", "Gen 0", "num", "c-gen"),
    ("gc1", "Gen 1", "num", "c-gen"),
    ("gc2", "Gen 2", "num", "c-gen"),
)

_COLUMN_TITLES = {
    "retained": "bytes the test left alive",
    "objects": "objects the test left alive",
    "peak": "tracemalloc peak when traced, else RSS peak, above the start",
    "pause": "longest garbage collection during the test",
    "gc0": "collections of generation 0",
    "gc1": "collections of generation 1",
    "gc2": "collections of generation 2",
}


def _table_html(records: Sequence[TestRecord]) -> str:
    present = {record.verdict for record in records}
    options = ['<option value="all">all verdicts</option>'] + [
        f'<option value="{escape(v)}">{escape(v)}</option>'
        for v in ("leak", "over-limit", "warmup", "ok", "error")
    ]
    options += [  # a verdict outside the schema still gets its filter
        f'<option value="{escape(v)}">{escape(v)}</option>' for v in sorted(present - set(VERDICTS))
    ]
    heads = "".join(
        f'<th data-key="{key}" class="{cls}" aria-sort="none" '
        f'title="{escape(_COLUMN_TITLES.get(key, ""))}"><button type="button">{label}</button></th>'
        for key, label, cls, _ in _COLUMNS
    )
    cols = "".join(f'<col class="{width}">' for _, _, _, width in _COLUMNS)
    return (
        '<section id="mg-tests"><h2>Tests</h2><div class="panel">'
        '<div class="controls">'
        '<input type="search" id="mg-search" placeholder="Filter by test id\u2026" '
        'aria-label="Filter by test id" autocomplete="off">'
        '<label>Verdict <select id="mg-verdict">' + "".join(options) + "</select></label>"
        '<span class="count" id="mg-count" aria-live="polite"></span>'
        '<button type="button" class="link" id="mg-show-all" hidden>Show all '
        '<span id="mg-more-n"></span></button></div>'
        '<div class="tablewrap"><table class="tests"><colgroup>'
        + cols
        + "</colgroup><thead><tr>"
        + heads
        + '</tr></thead><tbody id="mg-rows"><tr><td colspan="10" class="empty">'
        "<noscript>This table needs JavaScript; the plots below do not.</noscript>"
        "</td></tr></tbody></table>"
        '<div class="more" id="mg-more" hidden>More rows appear as you scroll\u2026</div>'
        "</div></div></section>\n"
    )


def _verdict_legend(verdicts: set[str]) -> list[svg.LegendItem]:
    return [svg.LegendItem(v, color) for v, color in VERDICT_COLORS.items() if v in verdicts]


def _measured(figures: Figures | None, name: str) -> float | None:
    """The figure ``name`` of a run as a finite number, None when not measured."""
    return None if figures is None else _number(getattr(figures, name))


#: A value of one test for a bar chart, or None to leave the test out.
Value = Callable[[TestRecord], "float | None"]

#: Below this an RSS peak is page-granular noise (``compare.FIELDS["rss_peak"].floor``).
RSS_NOISE = FIELDS["rss_peak"].floor


def _top_bars(
    records: Sequence[TestRecord], value_of: Value, label: str
) -> tuple[list[svg.Bar], set[str]]:
    """The bars of the ``TOP_TESTS`` largest positive values."""
    rows = [(value, record) for record in records if (value := value_of(record) or 0) > 0]
    top = heapq.nlargest(TOP_TESTS, rows, key=lambda row: row[0])
    bars = []
    for value, record in top:
        tip = f"{record.nodeid}\n{label}: {format_size(value)}\nverdict: {record.verdict}"
        objects = _measured(record.delta, "retained_objects")
        if label.startswith(("leaked", "retained")) and objects is not None:
            tip += f"\n{objects:,.0f} object{'' if objects == 1 else 's'} on the first run"
        color = VERDICT_COLORS.get(record.verdict, svg.PALETTE[0])
        bars.append(svg.Bar(short_nodeid(record.nodeid, 44), value, color, tip))
    return bars, {record.verdict for _, record in top}


def _leaked(record: TestRecord) -> float | None:
    """What a confirmed leak adds per run, in bytes."""
    return per_run(record, "retained") if record.verdict in LEAK_VERDICTS else None


def _warmup(record: TestRecord) -> float | None:
    """What a warm-up test left on its first run: filled once, never again."""
    return _measured(record.delta, "retained_bytes") if record.verdict == "warmup" else None


def _traced_peak(record: TestRecord) -> float | None:
    return _measured(record.delta, "traced_peak")


def _rss_peak(record: TestRecord) -> float | None:
    value = _measured(record.delta, "rss_peak")
    return value if value is not None and value >= RSS_NOISE else None


def _figure(plot_id: str, content: str, note: str = "") -> str:
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<figure class="panel plot" id="{plot_id}">{content}{note_html}</figure>\n'


def _bar_plot(
    records: Sequence[TestRecord],
    plot_id: str,
    value_of: Value,
    title: str,
    label: str,
    empty: str,
    note: str = "",
) -> str:
    bars, verdicts = _top_bars(records, value_of, label)
    if not bars:
        content = f'<h2>{escape(title)}</h2><p class="note">{escape(empty)}</p>'
        return _figure(plot_id, content, note)
    chart = svg.hbar_chart(
        title,
        bars,
        fmt=_tick_size,
        ticks=svg.size_ticks,
        legend=_verdict_legend(verdicts),
    )
    return _figure(plot_id, chart, note)


def _peak_plot(records: Sequence[TestRecord]) -> str:
    """The traced peak when any test was traced; else the RSS peak, said so, without the
    page-granular noise under :data:`RSS_NOISE`."""
    title = f"Peak per test, tracemalloc (top {TOP_TESTS})"
    if any(_traced_peak(record) is not None for record in records):
        empty = "No traced test has a peak above zero."
        return _bar_plot(records, "plot-peak", _traced_peak, title, "tracemalloc peak", empty)
    return _bar_plot(
        records,
        "plot-peak",
        _rss_peak,
        f"Peak per test, RSS: tracing was off (top {TOP_TESTS})",
        "RSS peak",
        f"Tracing was off, and no RSS peak reached {format_size(RSS_NOISE)}.",
        f"RSS moves in whole pages: peaks under {format_size(RSS_NOISE)} are not drawn. "
        "--memguard-trace measures the tracemalloc peak.",
    )


def _per_run(record: TestRecord) -> tuple[list[float | None], str]:
    """A leak's growth per repetition: bytes, or entries of watched containers when the
    growth is untracked objects (``str``, ``int``...), whose bytes the heap cannot see."""
    sizes = [_measured(rep, "retained_bytes") for rep in record.repetitions]
    if any(sizes):
        return sizes, "bytes"
    entries = [_measured(rep, "container_growth") for rep in record.repetitions]
    return (entries, "entries") if any(entries) else (sizes, "bytes")


def _leak_plot(records: Sequence[TestRecord]) -> str:
    leaks = [r for r in records if r.verdict in LEAK_VERDICTS and r.repetitions]
    if not leaks:
        return ""
    panels = []
    for record in leaks[:MAX_LEAK_PANELS]:
        values, unit = _per_run(record)
        entries = unit == "entries"
        panels.append(
            svg.line_chart(
                record.nodeid,
                [str(i + 1) for i in range(len(values))],
                [
                    svg.Series(
                        record.nodeid,
                        values,
                        VERDICT_COLORS.get(record.verdict, VERDICT_COLORS["leak"]),
                    )
                ],
                fmt=_tick_count if entries else _tick_size,
                ticks=svg.count_ticks if entries else svg.size_ticks,
                width=240,
                height=140,
                x_title="repetition, entries added" if entries else "repetition",
                show_legend=False,
                y_ticks=3,
                caption=short_nodeid(record.nodeid, 34),
                css_class="small",
            )
        )
    note = (
        f"{len(leaks) - MAX_LEAK_PANELS} more leaks are in the table."
        if len(leaks) > MAX_LEAK_PANELS
        else ""
    )
    return _figure(
        "plot-leaks",
        "<h2>Growth per repetition of each confirmed leak</h2>"
        f'<div class="multiples">{"".join(panels)}</div>',
        note,
    )


def _tick_count(value: float) -> str:
    return f"{value:,.0f}"


def _history_plot(history: Sequence[tuple[str, Sequence[TestRecord]]]) -> str:
    if len(history) < 2:
        return ""
    names, leaked, peaks = [], [], []
    for name, run in history:
        names.append(str(name))
        values = [value for value in map(_leaked, run) if value is not None]
        leaked.append(sum(values) if values else 0.0)
        run_peaks = [p for p in map(_traced_peak, run) if p is not None]
        peaks.append(max(run_peaks) if run_peaks else None)
    chart = svg.line_chart(
        f"Leaked per run and traced peak over {len(history)} saved runs",
        names,
        [
            svg.Series("leaked per run, all confirmed leaks", leaked, svg.PALETTE[0]),
            svg.Series("tracemalloc peak, largest test", peaks, svg.PALETTE[3]),
        ],
        fmt=_tick_size,
        ticks=svg.size_ticks,
        width=1100,
        height=260,
        x_title="run",
    )
    return _figure("plot-history", chart)


def _plots_html(
    records: Sequence[TestRecord], history: Sequence[tuple[str, Sequence[TestRecord]]]
) -> str:
    untracked = sum(
        1 for r in records if r.verdict in LEAK_VERDICTS and not _leaked(r) and r.repetitions
    )
    return (
        '<section id="mg-plots"><h2>Plots</h2><div class="plots">'
        + _bar_plot(
            records,
            "plot-retained",
            _leaked,
            f"Leaked per run by confirmed leaks (top {TOP_TESTS})",
            "leaked per run",
            "No confirmed leak retains tracked objects.",
            f"{untracked} confirmed leak{'s' if untracked > 1 else ''} of untracked objects "
            "(entries, not bytes): see the growth per repetition."
            if untracked
            else "",
        )
        + _peak_plot(records)
        + _bar_plot(
            records,
            "plot-warmup",
            _warmup,
            f"Warm-up: retained on the first run only (top {TOP_TESTS})",
            "retained on the first run",
            "No warm-up retained anything.",
        )
        + "</div>"
        + _leak_plot(records)
        + _history_plot(history)
        + "</section>\n"
    )
