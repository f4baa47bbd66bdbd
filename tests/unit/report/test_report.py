"""The HTML report: bounded plot series, masked examples, escaping, and the page itself."""

from __future__ import annotations

import re

import orjson

from streamguard.report import DriftSeries, render_check_report, sample_quarantine
from streamguard.report.svg import Series, line_chart


def test_series_stays_bounded_and_spans_the_whole_run() -> None:
    series = DriftSeries(max_points=50)
    for position in range(0, 100_000, 10):
        series.add(position, [("title", "semantic", position / 100_000, 0.3)])
    curve = series.curves()["title · semantic"]
    assert len(curve) <= 50
    assert curve[0][0] == 0 and curve[-1][0] >= 90_000
    assert [p[0] for p in curve] == sorted(p[0] for p in curve)


def test_chart_draws_a_moving_threshold_and_finding_markers_inside_the_frame() -> None:
    svg = line_chart(
        [
            Series("statistic", [(0, 0.0), (1_000, 2.0)]),
            Series("threshold", [(0, 0.5), (1_000, 0.5)], dashed=True),
        ],
        markers=[500],
        title="t",
        width=520,
        time_axis=False,
    )
    coords = [
        float(v)
        for points in re.findall(r'points="([^"]+)"', svg)
        for pair in points.split()
        for v in pair.split(",")
    ]
    assert coords and all(0 <= v <= 520 for v in coords)
    assert svg.count('class="marker"') == 1  # the finding marker
    assert svg.count("<polyline") == 2 and svg.count("stroke-dasharray") == 1


def quarantine_line(offset: int, code: str, raw: str) -> bytes:
    return orjson.dumps(
        {
            "source": {"topic": "events.behavior", "partition": 0, "offset": offset},
            "raw": raw,
            "encoding": "utf-8",
            "reasons": [{"code": code, "field": "ts", "message": "bad"}],
        }
    )


def test_examples_are_few_per_reason_and_masked() -> None:
    lines = [quarantine_line(i, "invalid_type", '{"m": "ana@example.com"}') for i in range(10)]
    lines += [quarantine_line(10 + i, "missing_field", "{}") for i in range(10)]
    lines.append(b"not json")
    examples = sample_quarantine(lines, per_reason=2)
    assert [e["source"]["offset"] for e in examples] == [0, 1, 10, 11]
    assert all("ana@example.com" not in e["raw"] for e in examples)
    assert examples[0]["raw"] == '{"m": "[email]"}'


def test_page_escapes_data_and_shows_every_part() -> None:
    report = {
        "stream": "product",
        "total": 10,
        "outcomes": {"valid": 7, "corrected": 1, "quarantine": 2},
        "reasons_by_field": {"unknown_enum:<op>": 2},
        "corrections_by_field": {"numeric_string:price": 1},
        "quality": {"composite": 0.9, "dimensions": {"validity": 0.8}},
    }
    finding = {
        "kind": "semantic_drift",
        "field": "title",
        "severity": "critical",
        "statistic": 0.9,
        "threshold": 0.25,
        "position": {"topic": "file:x", "partition": 0, "offset": 5},
        "summary": "<script>alert(1)</script>",
    }
    page = render_check_report(
        report,
        source_name="x.jsonl",
        findings=[finding],
        curves={
            "title · semantic": [(0, 0.0, 0.25), (9, 0.9, 0.25)],
            "brand · semantic": [(0, 0.0, 0.25)],
        },
        examples=[
            {"source": {"topic": "t", "partition": 0, "offset": 3}, "reasons": [], "raw": "<b>"}
        ],
        inventory={
            "fields": [
                {
                    "path": "title",
                    "presence": 1.0,
                    "types": {"string": 1.0},
                    "tags": [{"tag": "title", "confidence": 0.9}],
                    "pii": {"email": 0.1},
                }
            ]
        },
    )
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "unknown_enum:&lt;op&gt;" in page and "&lt;b&gt;" in page
    # The drifting detector is plotted with its marker; the flat one is under "quiet".
    assert page.count("<polyline") == 4 and "1 quiet detectors" in page
    assert "email 10.0%" in page and "0.900" in page
