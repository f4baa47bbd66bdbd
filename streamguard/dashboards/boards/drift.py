"""Drift: has the shape or the meaning of a field changed, how close is it to firing?"""

from __future__ import annotations

from streamguard.dashboards.boards.common import (
    FIELD_VAR,
    SF,
    STREAM_VAR,
    Q,
)
from streamguard.dashboards.spec import Annotation, Dashboard, Panel, Row

__all__ = ["DRIFT"]

DRIFT = Dashboard(
    uid="streamguard-drift",
    title="StreamGuard / Drift",
    description="Has the shape or the meaning of a field changed, and how close is it to firing?",
    variables=(STREAM_VAR, FIELD_VAR),
    items=(
        Row("Statistics against thresholds"),
        Panel(
            "Closest to firing",
            "Which fields are nearest their drift threshold (1 = fires)?",
            "bargauge",
            (
                Q(
                    "topk(15, max by (stream, field, detector) ("
                    f"streamguard_drift_statistic{SF} / streamguard_drift_threshold{SF}))",
                    "{{detector}} {{stream}}.{{field}}",
                    instant=True,
                ),
            ),
            unit="percentunit",
            thresholds=(0.8, 1),
        ),
        *(
            Panel(
                f"{title} drift statistic vs threshold",
                question,
                "timeseries",
                (
                    Q(
                        "max by (stream, field) (streamguard_drift_statistic"
                        f'{{stream=~"$stream", field=~"$field", detector="{detector}"}})',
                        "{{stream}}.{{field}}",
                    ),
                    Q(
                        "max by (stream, field) (streamguard_drift_threshold"
                        f'{{stream=~"$stream", field=~"$field", detector="{detector}"}})',
                        "{{stream}}.{{field}} threshold",
                    ),
                ),
            )
            for detector, title, question in (
                (
                    "schema",
                    "Schema",
                    "Is a field appearing, disappearing or changing type (largest change in "
                    "presence or type share)?",
                ),
                (
                    "semantic",
                    "Semantic",
                    "Does a text field still mean what it meant (share of recent values "
                    "outside the reference embeddings)?",
                ),
            )
        ),
        Row("Findings"),
        Panel(
            "Findings by kind and field",
            "What did the detectors report, where (over the selected range)?",
            "table",
            (
                Q(
                    "sum by (stream, kind, field) (increase("
                    f"streamguard_findings_total{SF}[$__range]))",
                    instant=True,
                ),
            ),
        ),
    ),
    annotations=(
        Annotation(
            "Findings",
            Q(
                "sum by (stream, kind, field) (increase("
                'streamguard_findings_total{stream=~"$stream", field=~"$field"}[1m])) > 0',
                "{{kind}} on {{stream}}.{{field}}",
            ),
            "{{kind}}",
        ),
    ),
)
