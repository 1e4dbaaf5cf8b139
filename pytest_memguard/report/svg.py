"""A tiny SVG plotting helper for the HTML report: bar charts and line charts.

No plotting dependency: each function returns one ``<svg>`` element as a string, ready to
be inlined in HTML. Every chart has a visible title and a ``<title>`` (the accessible
name), every mark has its own ``<title>`` so hovering it shows the exact figure. Text is
escaped here; callers pass plain strings. Styling hooks are CSS classes (``mg-axis``,
``mg-grid``, ``mg-label``, ``mg-title``) so the page decides fonts and greys.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: Okabe-Ito, safe for the common colour-vision deficiencies.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",
)

Formatter = Callable[[float], str]
#: Chooses axis ticks from (low, high, about how many), like :func:`nice_ticks`.
Ticks = Callable[[float, float, int], list[float]]

_FONT_PX = 11
_CHAR_PX = 6.6  # average advance of the 11 px UI font, to size label columns


@dataclass(frozen=True)
class Bar:
    """One bar: its label on the axis, its value, its colour and its hover text."""

    label: str
    value: float
    color: str
    tooltip: str


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a name for the legend and one value per x position.

    ``None`` leaves a gap (the run or repetition has no such figure).
    """

    name: str
    values: Sequence[float | None]
    color: str


@dataclass(frozen=True)
class LegendItem:
    """A colour swatch and its meaning."""

    label: str
    color: str


def nice_ticks(low: float, high: float, count: int = 5, min_step: float = 0) -> list[float]:
    """Round tick values covering ``[low, high]`` with a 1-2-5 step, about ``count`` of them,
    never finer than ``min_step`` (1 for whole things: bytes, objects, entries).

    The first tick is at or below ``low`` and the last at or above ``high``, so the ticks
    also give the axis domain.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"ticks need finite bounds, got {low!r} and {high!r}")
    if high < low:
        low, high = high, low
    if high == low:
        high = low + 1
    raw = max((high - low) / max(count, 1), min_step)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    # round() drops float noise such as 0.30000000000000004 from the labels.
    return [round(i * step, 12) for i in range(first, last + 1)]


def size_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Like :func:`nice_ticks` for bytes: steps are round in the binary unit of ``high``.

    ``0, 512 KiB, 1 MiB, 1.5 MiB`` rather than ``0, 500000, 1000000``.
    """
    top = max(abs(low), abs(high))
    unit = 1024 ** min(max(int(math.log(top, 1024)), 0), 4) if top >= 1 else 1
    # Whole bytes: a 1 B range reads "0 B, 1 B", never "1 B / 0 B / 0 B".
    steps = nice_ticks(low / unit, high / unit, count, 1 if unit == 1 else 0)
    return [tick * unit for tick in steps]


def count_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Like :func:`nice_ticks` for whole things (objects, entries): whole steps."""
    return nice_ticks(low, high, count, 1)


def _num(value: float) -> str:
    """A coordinate, short: one decimal at most, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" class="{cls}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, keeping its end (the test name) after an ellipsis."""
    if len(text) <= width:
        return text
    return "\u2026" + text[len(text) - width + 1 :]


def _open(width: float, height: float, title: str, cls: str, caption: str | None) -> list[str]:
    # No xmlns: the charts are inlined in HTML, where the parser puts <svg> in its namespace.
    return [
        f'<svg class="mg-chart {cls}" role="img" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}" '
        f'height="{_num(height)}" font-size="{_FONT_PX}">',
        f"<title>{escape(title)}</title>",
        _text(0, 14, title if caption is None else caption, "mg-title"),
    ]


def _legend(items: Sequence[LegendItem], x: float, y: float) -> list[str]:
    parts: list[str] = []
    for item in items:
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y - 8)}" width="10" height="10" rx="2" '
            f'fill="{item.color}"/>'
        )
        parts.append(_text(x + 14, y + 1, item.label, "mg-label"))
        x += 24 + len(item.label) * _CHAR_PX
    return parts


def hbar_chart(
    title: str,
    bars: Sequence[Bar],
    *,
    fmt: Formatter,
    ticks: Ticks = nice_ticks,
    legend: Sequence[LegendItem] = (),
    width: float = 640,
    label_chars: int = 44,
) -> str:
    """Horizontal bars, one per row, largest first as given; value axis on top.

    ``fmt`` writes the values (ticks, bar ends, hover), ``ticks`` chooses the axis steps
    (:func:`size_ticks` for bytes). Negative values are drawn left of zero.
    """
    row, top = 15.0, 44.0 if legend else 30.0
    label_w = min(label_chars, max((len(bar.label) for bar in bars), default=0)) * _CHAR_PX + 8
    values = [bar.value for bar in bars]
    steps = ticks(min([0.0, *values]), max([0.0, *values]), 5)
    low, high = steps[0], steps[-1]
    plot_x0, plot_x1 = label_w, width - 64  # room on the right for the value labels
    axis_y = top + 12
    height = axis_y + 6 + row * max(len(bars), 1) + 6

    def x_of(value: float) -> float:
        return plot_x0 + (value - low) / (high - low) * (plot_x1 - plot_x0)

    parts = _open(width, height, title, "mg-hbar", None)
    parts += _legend(legend, 0, 32)
    bottom = height - 6
    for tick in steps:
        x = x_of(tick)
        parts.append(
            f'<line class="mg-grid" x1="{_num(x)}" x2="{_num(x)}" '
            f'y1="{_num(axis_y + 3)}" y2="{_num(bottom)}"/>'
        )
        parts.append(_text(x, axis_y, fmt(tick), "mg-axis", "middle"))
    if not bars:
        parts.append(_text((plot_x0 + plot_x1) / 2, axis_y + 24, "no data", "mg-label", "middle"))
    zero = x_of(0.0)
    for i, bar in enumerate(bars):
        y = axis_y + 6 + i * row
        x0, x1 = sorted((zero, x_of(bar.value)))
        parts.append(
            f'<g><title>{escape(bar.tooltip)}</title><rect x="{_num(x0)}" y="{_num(y + 2)}" '
            f'width="{_num(max(x1 - x0, 1))}" height="{_num(row - 4)}" fill="{bar.color}"/>'
            f"</g>"
        )
        parts.append(
            _text(label_w - 6, y + row - 4, shorten(bar.label, label_chars), "mg-label", "end")
        )
        parts.append(_text(x1 + 4, y + row - 4, fmt(bar.value), "mg-axis"))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Formatter,
    ticks: Ticks = nice_ticks,
    width: float = 620,
    height: float = 240,
    x_title: str = "",
    show_legend: bool = True,
    y_ticks: int = 5,
    caption: str | None = None,
    css_class: str = "",
) -> str:
    """Lines over categorical x positions (runs, repetitions), with a point per value.

    The y axis starts at zero unless a value is negative; each point's hover text names
    the series, the x position and the formatted value. ``caption`` is the visible title
    when it must be shorter than ``title`` (small multiples); ``css_class`` is added to
    the ``<svg>``.
    """
    values = [v for s in series for v in s.values if v is not None]
    steps = ticks(min([0.0, *values]), max([0.0, *values]), y_ticks)
    low, high = steps[0], steps[-1]
    left = max(len(fmt(tick)) for tick in steps) * _CHAR_PX + 10
    top = 44.0 if show_legend and series else 28.0
    bottom = height - (34 if x_title else 20)
    right = width - 12
    count = len(x_labels)

    def x_of(i: int) -> float:
        return left + (right - left) * ((i + 0.5) / count if count else 0.5)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    parts = _open(width, height, title, f"mg-line {css_class}".strip(), caption)
    if show_legend:
        parts += _legend([LegendItem(s.name, s.color) for s in series], 0, 32)
    for tick in steps:
        y = y_of(tick)
        parts.append(
            f'<line class="mg-grid" x1="{_num(left)}" x2="{_num(right)}" '
            f'y1="{_num(y)}" y2="{_num(y)}"/>'
        )
        parts.append(_text(left - 5, y + 3.5, fmt(tick), "mg-axis", "end"))
    # Label every k-th position so long run names do not overlap.
    longest = max((len(label) for label in x_labels), default=1)
    every = max(1, math.ceil(count * min(longest, 14) * _CHAR_PX / max(right - left, 1)))
    for i, label in enumerate(x_labels):
        if i % every == 0:
            parts.append(_text(x_of(i), bottom + 14, shorten(label, 14), "mg-axis", "middle"))
    if x_title:
        parts.append(_text((left + right) / 2, height - 4, x_title, "mg-label", "middle"))
    if not values:
        parts.append(_text((left + right) / 2, (top + bottom) / 2, "no data", "mg-label", "middle"))
    for s in series:
        points = [(i, v) for i, v in enumerate(s.values) if v is not None]
        segments: list[list[tuple[int, float]]] = []
        for i, v in points:
            if segments and segments[-1][-1][0] == i - 1:
                segments[-1].append((i, v))
            else:
                segments.append([(i, v)])
        for segment in segments:
            if len(segment) > 1:
                path = " ".join(f"{_num(x_of(i))},{_num(y_of(v))}" for i, v in segment)
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{s.color}" '
                    f'stroke-width="2" stroke-linejoin="round"/>'
                )
        for i, v in points:
            where = f"{x_title} {x_labels[i]}" if x_title else x_labels[i]
            tip = f"{s.name} \u2014 {where}: {fmt(v)}"
            parts.append(
                f'<circle cx="{_num(x_of(i))}" cy="{_num(y_of(v))}" r="3.5" fill="{s.color}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)
