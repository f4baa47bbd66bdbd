"""The overview: is every stream flowing, how good is it, is anyone being paged?"""

from __future__ import annotations

from streamguard.dashboards.boards.common import (
    RATE,
    STREAM_VAR,
    Q,
    S,
    score,
)
from streamguard.dashboards.spec import Dashboard, Panel, Row

__all__ = ["OVERVIEW"]

OVERVIEW = Dashboard(
    uid="streamguard-overview",
    title="StreamGuard / Overview",
    description="Is every stream flowing, how good is it, and is anyone being paged?",
    variables=(STREAM_VAR,),
    items=(
        Row("Health"),
        score(
            "Composite quality score",
            "How good is each stream right now, in one number (1 = perfect)?",
            "stat",
            (
                Q(
                    "max by (stream) (streamguard_quality_score"
                    '{stream=~"$stream", dimension="composite", field="_all"})',
                    "{{stream}}",
                ),
            ),
            width=6,
            thresholds=(0.8, 0.95),
        ),
        Panel(
            "Quarantine rate",
            "How much of each stream is being held back right now?",
            "stat",
            (
                # "or ... * 0": a stream that never quarantined reads 0%, not "No data".
                Q(
                    "(sum by (stream) (rate(streamguard_records_out_total"
                    f'{{stream=~"$stream", outcome="quarantine"}}{RATE})) '
                    f"or sum by (stream) (rate(streamguard_records_out_total{S}{RATE})) * 0) "
                    f"/ sum by (stream) (rate(streamguard_records_out_total{S}{RATE}))",
                    "{{stream}}",
                ),
            ),
            unit="percentunit",
            width=6,
            thresholds=(0.01, 0.05),
        ),
        Panel(
            "Open incidents",
            "Is StreamGuard paging someone right now, about which stream, how badly?",
            "stat",
            (
                Q(
                    "sum by (stream, severity) (streamguard_incidents_open)",
                    "{{stream}} {{severity}}",
                ),
            ),
            width=6,
            thresholds=(1,),
        ),
        Panel(
            "Workers ready",
            "How many workers are consuming (ready: partitions assigned, state recovered)?",
            "stat",
            (Q("sum(streamguard_worker_ready)", "ready"),),
            width=6,
        ),
        Row("Flow"),
        Panel(
            "Throughput in and out",
            "Is each stream flowing, and does what comes out match what goes in?",
            "timeseries",
            (
                Q(
                    f"sum by (stream) (rate(streamguard_records_in_total{S}{RATE}))",
                    "{{stream}} in",
                ),
                Q(
                    f"sum by (stream) (rate(streamguard_records_out_total{S}{RATE}))",
                    "{{stream}} out",
                ),
            ),
            unit="suffix: rec/s",
        ),
        Panel(
            "Outcome mix",
            "What share of each stream is valid as sent, repaired, or quarantined?",
            "timeseries",
            (
                Q(
                    f"sum by (stream, outcome) (rate(streamguard_records_out_total{S}{RATE})) "
                    "/ ignoring (outcome) group_left "
                    f"sum by (stream) (rate(streamguard_records_out_total{S}{RATE}))",
                    "{{stream}} {{outcome}}",
                ),
            ),
            unit="percentunit",
            min=0,
            max=1,
        ),
        score(
            "Composite quality score over time",
            "When did a stream's quality change, and by how much?",
            "timeseries",
            (
                Q(
                    "max by (stream) (streamguard_quality_score"
                    '{stream=~"$stream", dimension="composite", field="_all"})',
                    "{{stream}}",
                ),
            ),
        ),
        Panel(
            "Quarantine: top reasons",
            "Why are records quarantined, and on which stream (over the selected range)?",
            "bargauge",
            (
                Q(
                    "topk(10, sum by (stream, reason) (increase("
                    f"streamguard_quarantine_reasons_total{S}[$__range])))",
                    "{{stream}} {{reason}}",
                    instant=True,
                ),
            ),
        ),
        Panel(
            "Consumer lag",
            "Is any input topic falling behind (records not yet read, summed over partitions)?",
            "timeseries",
            (Q("sum by (topic) (streamguard_consumer_lag_records)", "{{topic}}"),),
            unit="suffix: records",
        ),
        Panel(
            "Findings",
            "What have the detectors found per stream (drift, anomaly, quality drops)?",
            "timeseries",
            (
                Q(
                    f"sum by (stream, kind) (increase(streamguard_findings_total{S}{RATE}))",
                    "{{stream}} {{kind}}",
                ),
                Q(
                    f"sum by (stream) (increase(streamguard_quality_drop_findings_total{S}{RATE}))",
                    "{{stream}} quality_drop",
                ),
            ),
        ),
    ),
)
