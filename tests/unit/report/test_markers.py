"""A finding's marker is drawn on the chart of the detector that raised it, not on every
chart of its field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import streamguard.drift
from streamguard.report import render_check_report
from streamguard.report.series import DETECTOR_OF_STATISTIC, Point, detector_of

REPORT = {"stream": "product", "total": 100, "outcomes": {"valid": 100}}


def finding(kind: str, field: str, offset: int, statistic_name: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": kind,
        "field": field,
        "severity": "warning",
        "statistic": 13.0,
        "threshold": 12.0,
        "position": {"topic": "file:x", "partition": 0, "offset": offset},
        "summary": "drift",
    }
    if statistic_name is not None:
        out["details"] = {"statistic_name": statistic_name}
    return out


def marked_charts(page: str) -> dict[str, int]:
    """Markers per chart title."""
    charts = re.findall(r'<svg[^>]*class="chart".*?</svg>', page, flags=re.DOTALL)
    out = {}
    for chart in charts:
        title = re.search(r"<title>(.*?)</title>", chart)
        assert title is not None
        out[title.group(1)] = chart.count('class="marker"')
    return out


def curve(peak: float) -> list[Point]:
    return [(0, 0.0, 12.0), (50, peak, 12.0), (99, peak, 12.0)]


CURVES = {
    "description · semantic": curve(0.9),
    "description · gradual": curve(13.0),
    "description · language": curve(8.0),
    "description · schema": curve(0.5),
}


@pytest.mark.parametrize(
    ("kind", "statistic_name", "chart"),
    [
        ("semantic_drift", "far_repeat_rate", "gradual"),
        ("semantic_drift", "language_share", "language"),
        ("semantic_drift", "out_of_support_share", "semantic"),
        ("semantic_drift", None, "semantic"),  # the block detector's rebaseline finding
        ("schema_drift", None, "schema"),
    ],
)
def test_a_findings_marker_is_on_its_detectors_chart_only(
    kind: str, statistic_name: str | None, chart: str
) -> None:
    page = render_check_report(
        REPORT,
        source_name="x.jsonl",
        findings=[finding(kind, "description", 50, statistic_name)],
        curves=CURVES,
    )
    marked = marked_charts(page)
    assert set(marked) == set(CURVES)
    assert marked == {name: int(name == f"description · {chart}") for name in CURVES}


def test_two_detectors_two_findings_each_on_its_own_chart() -> None:
    curves = {"category · semantic": curve(0.9), "category · contamination": curve(13.0)}
    findings = [
        finding("semantic_drift", "category", 40, "stray_rate"),
        finding("semantic_drift", "category", 60, "stray_rate"),
        finding("semantic_drift", "category", 70, "new_value_share"),
        finding("semantic_drift", "title", 30, "stray_rate"),  # another field: no marker
    ]
    page = render_check_report(REPORT, source_name="x", findings=findings, curves=curves)
    assert marked_charts(page) == {"category · semantic": 1, "category · contamination": 2}


def test_anomalies_and_unknown_statistics_mark_no_chart() -> None:
    assert detector_of({"kind": "anomaly", "field": "price"}) is None
    assert detector_of(finding("semantic_drift", "d", 1, "someone_elses_rate")) is None
    assert detector_of({"kind": "semantic_drift", "details": "not a mapping"}) == "semantic"


def test_every_statistic_the_drift_package_names_has_a_chart() -> None:
    """A detector added to drift/ with a new ``statistic_name`` must join the map, or its
    findings lose their marker."""
    names: set[str] = set()
    for source in Path(streamguard.drift.__file__).parent.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        pattern = r'statistic_name"?\s*[:=]\s*(\((?:\s*"\w+",?)+\s*\)|"\w+")'
        for match in re.finditer(pattern, text):
            names.update(re.findall(r'"(\w+)"', match.group(1)))
    assert {"stray_rate", "far_repeat_rate", "language_share", "new_value_share"} <= names
    assert names <= set(DETECTOR_OF_STATISTIC)
