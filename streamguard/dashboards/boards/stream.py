"""Stream detail: which fields of a stream are broken, how, and what is repaired?"""

from __future__ import annotations

from streamguard.dashboards.boards.common import (
    FIELD_VAR,
    RATE,
    SF,
    STREAM_VAR,
    Q,
    S,
    quantiles,
    score,
)
from streamguard.dashboards.spec import Annotation, Dashboard, Panel, Row

__all__ = ["STREAM"]

STREAM = Dashboard(
    uid="streamguard-stream",
    title="StreamGuard / Stream detail",
    description="Which fields of a stream are broken, how, and what is being repaired?",
    variables=(STREAM_VAR, FIELD_VAR),
    items=(
        Row("Quality dimensions"),
        score(
            "Dimension scores",
            "Which quality dimension is pulling the stream's score down, and since when?",
            "timeseries",
            (
                Q(
                    'max by (dimension) (streamguard_quality_score{stream=~"$stream", '
                    'field="_all"})',
                    "{{dimension}}",
                ),
            ),
        ),
        Panel(
            "Event-time lag and late or future events",
            "Are events arriving late (or stamped in the future), and how late?",
            "timeseries",
            (
                Q(
                    f"max by (stream) (streamguard_quality_event_lag_seconds{S})",
                    "{{stream}} lag",
                ),
                Q(
                    f"sum by (stream) (rate(streamguard_quality_late_events_total{S}{RATE}))",
                    "{{stream}} late/s",
                ),
                Q(
                    f"sum by (stream) (rate(streamguard_quality_future_events_total{S}{RATE}))",
                    "{{stream}} future/s",
                ),
            ),
            unit="s",
        ),
        Row("Fields"),
        score(
            "Completeness by field",
            "Which fields go missing, and how often (share of records that carry them)?",
            "bargauge",
            (
                Q(
                    'max by (stream, field) (streamguard_quality_score{stream=~"$stream", '
                    'dimension="completeness", field=~"$field", field!="_all"})',
                    "{{stream}}.{{field}}",
                    instant=True,
                ),
            ),
            thresholds=(0.9, 0.99),
        ),
        score(
            "Validity by field",
            "Which fields break records (share of records with no quarantine reason on it)?",
            "bargauge",
            (
                Q(
                    "1 - sum by (stream, field) (rate("
                    f"streamguard_quarantine_reasons_total{SF}{RATE})) "
                    "/ on (stream) group_left "
                    f"sum by (stream) (rate(streamguard_records_in_total{S}{RATE}))",
                    "{{stream}}.{{field}}",
                    instant=True,
                ),
            ),
            thresholds=(0.9, 0.99),
        ),
        Panel(
            "Quarantine reasons by field",
            "Which fields make records unusable, and for which reason?",
            "timeseries",
            (
                Q(
                    "sum by (field, reason) (rate("
                    f"streamguard_quarantine_reasons_total{SF}{RATE}))",
                    "{{field}}: {{reason}}",
                ),
            ),
            unit="suffix: rec/s",
        ),
        Row("Inventory"),
        Panel(
            "Fields in the inventory",
            "How many field paths does the stream carry (a jump: new or renamed fields)?",
            "timeseries",
            (Q(f"max by (stream) (streamguard_inventory_fields{S})", "{{stream}}"),),
        ),
        Panel(
            "Personal data by field",
            "Which fields carry personal data, of which kind (profiled values/s)?",
            "timeseries",
            (
                Q(
                    f"sum by (field, kind) (rate(streamguard_pii_values_total{S}{RATE}))",
                    "{{field}}: {{kind}}",
                ),
            ),
            unit="suffix: values/s",
        ),
        Panel(
            "Inventory publications",
            "Is the live inventory being published (failed publications and profiler errors "
            "should stay at zero)?",
            "timeseries",
            (
                Q(
                    f"sum by (result) (rate(streamguard_inventory_publications_total{RATE}))",
                    "{{result}}",
                ),
                Q(
                    f"sum by (step) (rate(streamguard_inventory_failures_total{RATE}))",
                    "failed: {{step}}",
                ),
            ),
            unit="suffix: /s",
        ),
        Row("Repairs and anomalies"),
        Panel(
            "Corrections by rule",
            "Which repair rules are firing, and how often?",
            "timeseries",
            (Q(f"sum by (rule) (rate(streamguard_corrections_total{SF}{RATE}))", "{{rule}}"),),
            unit="suffix: rec/s",
        ),
        Panel(
            "Corrections by rule and field",
            "Which field does each rule repair (over the selected range)?",
            "table",
            (
                Q(
                    f"sum by (rule, field) (increase(streamguard_corrections_total{SF}[$__range]))",
                    instant=True,
                ),
            ),
        ),
        Panel(
            "Catalogue lookups",
            "Do behaviour events name products the catalogue knows, at its price? "
            "(flagged in _dq.flags, not quarantined)",
            "timeseries",
            (
                Q(
                    f"sum by (result) (rate(streamguard_catalogue_lookups_total{S}{RATE}))",
                    "{{result}}",
                ),
            ),
            unit="suffix: rec/s",
        ),
        Panel(
            "Anomaly score distribution",
            "Are clean records looking more unusual than before (mass moving to the right)?",
            "heatmap",
            (
                Q(
                    f"sum by (le) (increase(streamguard_anomaly_score_bucket{S}{RATE}))",
                    "{{le}}",
                ),
            ),
        ),
        Panel(
            "Anomaly score quantiles",
            "How unusual is the typical record, and the most unusual one in a hundred?",
            "timeseries",
            quantiles("streamguard_anomaly_score", "stream", S),
            min=0,
            max=1,
        ),
    ),
    annotations=(
        Annotation(
            "Quality drops",
            Q(
                "sum by (stream) (increase("
                'streamguard_quality_drop_findings_total{stream=~"$stream"}[1m])) > 0',
                "quality_drop on {{stream}}",
            ),
            "quality_drop",
            color="orange",
        ),
    ),
)
