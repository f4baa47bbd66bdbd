"""Server-drawn SVG charts: well-formed, escaped, threshold drawn, empty handled."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from streamguard.report.svg import Series, line_chart, scale_ticks


def test_chart_is_well_formed_svg_with_one_polyline_per_series() -> None:
    svg = line_chart(
        [Series("a<b", [(0, 1), (60, 3)]), Series("b", [(0, 2), (60, math.nan), (120, 0)])],
        threshold=2.5,
        title='drift "x" & y',
    )
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2
    assert len(lines[1].get("points", "").split()) == 2  # NaN left out
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert 'drift "x" & y' in texts and "threshold 2.5" in texts


def test_points_stay_inside_the_plot() -> None:
    svg = line_chart([Series("s", [(t, t * t) for t in range(50)])], width=300, height=120)
    root = ET.fromstring(svg)
    (line,) = root.findall("{http://www.w3.org/2000/svg}polyline")
    for pair in line.get("points", "").split():
        x, y = map(float, pair.split(","))
        assert 0 <= x <= 300 and 0 <= y <= 120


def test_empty_and_flat_series() -> None:
    assert "no data yet" in line_chart([Series("s", [])])
    flat = ET.fromstring(line_chart([Series("s", [(5, 1.0)])]))
    assert flat.findall("{http://www.w3.org/2000/svg}circle")


def test_ticks_are_round_and_cover_the_range() -> None:
    ticks = scale_ticks(0.0, 1234.0)
    assert ticks[0] == 0 and ticks[-1] <= 1234 and len(ticks) >= 3
    assert all(t % 250 == 0 for t in ticks)
