"""Small SVG charts drawn on the server: no JavaScript, no network, opens anywhere.

:func:`line_chart` plots a statistic and its threshold over record position, with a
marker where a finding fired; :func:`bar` is one horizontal share bar.

>>> svg = line_chart([(0, 0.1, 0.5), (100, 0.7, 0.5)], markers=[100], title="title")
>>> svg.startswith("<svg") and svg.count("<polyline") == 2 and "<title>" in svg
True
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar", "line_chart"]

_STAT = "#2563eb"
_THRESHOLD = "#dc2626"
_MARKER = "#f59e0b"


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def line_chart(
    points: Sequence[tuple[float, float, float]],
    *,
    markers: Sequence[float] = (),
    title: str = "",
    width: int = 520,
    height: int = 170,
    x_label: str = "record",
) -> str:
    """An SVG line chart of ``(x, statistic, threshold)`` points; ``markers`` are x values
    drawn as vertical lines (where a finding fired). Empty ``points`` draw an empty frame."""
    left, right, top, bottom = 48, 24, 22, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [p[0] for p in points] + list(markers)
    ys = [v for p in points for v in (p[1], p[2])]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(0.0, min(ys)), max(ys)) if ys else (0.0, 1.0)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 * 1.05 if y1 > y0 else y0 + 1

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    def polyline(values: list[tuple[float, float]], colour: str, dash: str = "") -> str:
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        style = f' stroke-dasharray="{dash}"' if dash else ""
        return (
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{style} points="{coords}"/>'
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f8fafc" '
        'stroke="#cbd5e1"/>',
        f'<text x="{left}" y="14" font-size="12" fill="#0f172a">{escape(title)}</text>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = y0 + frac * (y1 - y0)
        parts.append(
            f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#475569">{_fmt(y)}</text>'
        )
        x = x0 + frac * (x1 - x0)
        parts.append(
            f'<text x="{sx(x):.1f}" y="{height - 12}" font-size="10" text-anchor="middle" '
            f'fill="#475569">{x:,.0f}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 1}" font-size="10" text-anchor="end" '
        f'fill="#475569">{escape(x_label)}</text>'
    )
    for x in markers:
        parts.append(
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{_MARKER}" stroke-width="2"><title>finding at {_fmt(x)}</title></line>'
        )
    if points:
        parts.append(polyline([(p[0], p[2]) for p in points], _THRESHOLD, "4 3"))
        parts.append(polyline([(p[0], p[1]) for p in points], _STAT))
    parts.append("</svg>")
    return "".join(parts)


def bar(share: float, *, colour: str = _STAT, width: int = 160, height: int = 12) -> str:
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
