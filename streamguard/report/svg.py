"""Charts as inline SVG, drawn on the server: no JavaScript, no network. The console's
pages and ``check --html`` both draw with this module.

:func:`line_chart` takes named series of ``(x, y)`` points (x in seconds since the epoch
when ``time_axis``), an optional horizontal threshold line and vertical ``markers``
(where a finding fired), and returns one ``<svg>`` element; :func:`bar` is one
horizontal share bar. Every label is escaped.

Examples
--------
>>> svg = line_chart([Series("drift", [(0, 0.1), (60, 0.5)])], threshold=0.3, title="p<&>")
>>> svg.startswith("<svg") and "polyline" in svg and "threshold 0.3" in svg
True
>>> "p&lt;&amp;&gt;" in svg
True
>>> "no data" in line_chart([])
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

__all__ = ["PALETTE", "Series", "bar", "line_chart", "scale_ticks"]

#: Colour of the n-th series (colour-blind friendly, Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442")


@dataclass(frozen=True)
class Series:
    """One line: a name and its points; ``colour`` (default: the palette's next) and
    ``dashed`` (e.g. a threshold that moves)."""

    name: str
    points: Sequence[tuple[float, float]]
    colour: str | None = None
    dashed: bool = False


def scale_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``.

    >>> scale_ticks(0, 1)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> scale_ticks(3, 3)
    [3.0]
    """
    if not high > low:
        return [float(low)]
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%H:%M:%S")


def line_chart(
    series: Sequence[Series],
    *,
    threshold: float | None = None,
    title: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 200,
    time_axis: bool = True,
    y_min: float | None = None,
    y_max: float | None = None,
    markers: Sequence[float] = (),
) -> str:
    """An SVG line chart of ``series`` (see the module docs)."""
    left, right, top, bottom = 56, 12, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [p for s in series for p in s.points if math.isfinite(p[0]) and math.isfinite(p[1])]
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title or y_label or "chart")}">'
        f"<title>{escape(title or y_label or 'chart')}</title>"
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>'
        f'<text x="{left}" y="16" class="chart-title" font-size="13" '
        f'font-weight="600" fill="#222">{escape(title)}</text>'
    )
    if not points:
        return (
            head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#888" '
            'font-size="12">no data yet</text></svg>'
        )
    xs = [p[0] for p in points] + [m for m in markers if math.isfinite(m)]
    ys = [p[1] for p in points] + ([threshold] if threshold is not None else [])
    x0, x1 = min(xs), max(xs)
    lo = min(ys) if y_min is None else y_min
    hi = max(ys) if y_max is None else y_max
    if hi <= lo:
        lo, hi = lo - 0.5 if lo else 0.0, hi + 0.5 if hi else 1.0
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - lo) / (hi - lo) * plot_h

    parts = [head]
    for tick in scale_ticks(lo, hi):
        y = sy(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            'stroke="#e6e6e6"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{escape(_label(tick))}</text>'
        )
    for x, anchor in ((x0, "start"), ((x0 + x1) / 2, "middle"), (x1, "end")):
        text = _clock(x) if time_axis else _label(x)
        parts.append(
            f'<text x="{sx(x):.1f}" y="{height - 8}" text-anchor="{anchor}" font-size="11" '
            f'fill="#555">{escape(text)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#999"/>'
    )
    if threshold is not None:
        y = sy(threshold)
        label_y = y + 13 if y - top < 16 else y - 4  # below the line near the title
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            'stroke="#c00" stroke-dasharray="5 4"/>'
            f'<text x="{left + 4}" y="{label_y:.1f}" text-anchor="start" '
            f'font-size="11" fill="#c00">threshold {escape(_label(threshold))}</text>'
        )
    for x in markers:
        if math.isfinite(x):
            parts.append(
                f'<line class="marker" x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" '
                f'y2="{top + plot_h}" stroke="#f59e0b" stroke-width="2">'
                f"<title>finding at {escape(_label(x))}</title></line>"
            )
    legend_x = width - right
    for i, line in enumerate(series):
        colour = line.colour or PALETTE[i % len(PALETTE)]
        good = [p for p in line.points if math.isfinite(p[0]) and math.isfinite(p[1])]
        if not good:
            continue
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{coords}">'
            f"<title>{escape(line.name)}</title></polyline>"
        )
        if len(good) == 1:
            x, y = good[0]
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        if len(series) > 1:
            parts.append(
                f'<text x="{legend_x - 110 * i}" y="16" text-anchor="end" '
                f'font-size="11" fill="{colour}">{escape(line.name[:24])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def bar(share: float, *, colour: str = PALETTE[0], width: int = 160, height: int = 12) -> str:
    """A horizontal bar filled to ``share`` (clipped to 0..1).

    >>> 'width="80.0"' in bar(0.5)
    True
    """
    filled = max(0.0, min(1.0, share)) * width
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'class="bar"><rect width="{width}" height="{height}" fill="#e2e8f0"/>'
        f'<rect width="{filled:.1f}" height="{height}" fill="{colour}"/></svg>'
    )
