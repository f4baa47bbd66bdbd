"""The dashboard table: every StreamGuard dashboard, panel by panel, with its PromQL.

One entry per panel, each with the on-call question it answers (shown as the panel's
description in Grafana and in grafana/README.md). Edit here, then regenerate the JSON:
``python -m streamguard.dashboards`` (a test fails while the committed JSON is stale).

Conventions: ``$stream`` and ``$field`` are multi-select template variables (regex
matchers, ``.*`` for All); counters are read with ``rate(...[$__rate_interval])``;
``or on() vector(0)`` makes "nothing happened" read as 0 instead of "No data".
"""

from __future__ import annotations

from streamguard.dashboards.spec import Dashboard, Panel, Query, Row, Variable

__all__ = ["DASHBOARDS", "OVERVIEW", "STREAM", "WORKER"]

Q = Query

STREAM_VAR = Variable(
    "stream", "Stream", "streamguard_records_in_total", "Event streams (behavior, product)."
)
FIELD_VAR = Variable(
    "field",
    "Field",
    "streamguard_quarantine_reasons_total",
    "Schema fields (_record: the whole record; _other: fields the schema does not declare).",
)

OVERVIEW = Dashboard(
    uid="streamguard-overview",
    title="StreamGuard / Overview",
    description="Is every stream flowing, how good is it, and is anyone being paged?",
    variables=(STREAM_VAR,),
    items=(
        Row("Flow"),
        Panel(
            "Throughput in and out",
            "Is each stream flowing, and does what comes out match what goes in?",
            "timeseries",
            (
                Q(
                    'sum by (stream) (rate(streamguard_records_in_total{stream=~"$stream"}'
                    "[$__rate_interval]))",
                    "{{stream}} in",
                ),
                Q(
                    'sum by (stream) (rate(streamguard_records_out_total{stream=~"$stream"}'
                    "[$__rate_interval]))",
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
                    "sum by (stream, outcome) (rate(streamguard_records_out_total"
                    '{stream=~"$stream"}[$__rate_interval])) '
                    "/ ignoring (outcome) group_left sum by (stream) "
                    '(rate(streamguard_records_out_total{stream=~"$stream"}[$__rate_interval]))',
                    "{{stream}} {{outcome}}",
                ),
            ),
            unit="percentunit",
            min=0,
            max=1,
        ),
        Panel(
            "Quarantine rate",
            "How much of each stream is being held back right now?",
            "stat",
            (
                # "or ... * 0": a stream that never quarantined reads 0%, not "No data".
                Q(
                    "(sum by (stream) (rate(streamguard_records_out_total"
                    '{stream=~"$stream", outcome="quarantine"}[$__rate_interval])) '
                    "or sum by (stream) (rate(streamguard_records_out_total"
                    '{stream=~"$stream"}[$__rate_interval])) * 0) '
                    "/ sum by (stream) (rate(streamguard_records_out_total"
                    '{stream=~"$stream"}[$__rate_interval]))',
                    "{{stream}}",
                ),
            ),
            unit="percentunit",
            width=6,
            thresholds=(0.01, 0.05),
        ),
        Panel(
            "Workers ready",
            "How many workers are consuming (ready: partitions assigned, state recovered)?",
            "stat",
            (Q("sum(streamguard_worker_ready)", "ready"),),
            width=6,
        ),
        Panel(
            "Quarantine: top reasons",
            "Why are records quarantined, and on which stream (over the selected range)?",
            "bargauge",
            (
                Q(
                    "topk(10, sum by (stream, reason) (increase("
                    'streamguard_quarantine_reasons_total{stream=~"$stream"}[$__range])))',
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
    ),
)

STREAM = Dashboard(
    uid="streamguard-stream",
    title="StreamGuard / Stream detail",
    description="Which fields of a stream are broken, how, and what is being repaired?",
    variables=(STREAM_VAR, FIELD_VAR),
    items=(
        Row("Fields"),
        Panel(
            "Quarantine reasons by field",
            "Which fields make records unusable, and for which reason?",
            "timeseries",
            (
                Q(
                    "sum by (field, reason) (rate(streamguard_quarantine_reasons_total"
                    '{stream=~"$stream", field=~"$field"}[$__rate_interval]))',
                    "{{field}}: {{reason}}",
                ),
            ),
            unit="suffix: rec/s",
        ),
        Row("Repairs"),
        Panel(
            "Corrections by rule",
            "Which repair rules are firing, and how often?",
            "timeseries",
            (
                Q(
                    "sum by (rule) (rate(streamguard_corrections_total"
                    '{stream=~"$stream", field=~"$field"}[$__rate_interval]))',
                    "{{rule}}",
                ),
            ),
            unit="suffix: rec/s",
        ),
        Panel(
            "Corrections by rule and field",
            "Which field does each rule repair (over the selected range)?",
            "table",
            (
                Q(
                    "sum by (rule, field) (increase(streamguard_corrections_total"
                    '{stream=~"$stream", field=~"$field"}[$__range]))',
                    instant=True,
                ),
            ),
        ),
    ),
)

WORKER = Dashboard(
    uid="streamguard-worker",
    title="StreamGuard / Worker",
    description="Is the worker fast enough, and which part of it is slow?",
    variables=(STREAM_VAR,),
    items=(
        Row("Latency"),
        Panel(
            "Record latency (Kafka timestamp to output acknowledged)",
            "How stale is a record when it reaches the clean or quarantine topic?",
            "timeseries",
            tuple(
                Q(
                    f"histogram_quantile({q}, sum by (le, stream) (rate("
                    'streamguard_record_latency_seconds_bucket{stream=~"$stream"}'
                    "[$__rate_interval])))",
                    f"{{{{stream}}}} p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ),
            unit="s",
        ),
        Panel(
            "Batch processing time",
            "How long does one batch take, outputs acknowledged included?",
            "timeseries",
            tuple(
                Q(
                    f"histogram_quantile({q}, sum by (le, stream) (rate("
                    'streamguard_batch_processing_seconds_bucket{stream=~"$stream"}'
                    "[$__rate_interval])))",
                    f"{{{{stream}}}} p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ),
            unit="s",
        ),
        Panel(
            "Records per batch",
            "Are batches filling up (high: under load, efficient) or trickling?",
            "timeseries",
            (
                Q(
                    'sum by (stream) (rate(streamguard_batch_records_sum{stream=~"$stream"}'
                    "[$__rate_interval])) / sum by (stream) (rate("
                    'streamguard_batch_records_count{stream=~"$stream"}[$__rate_interval]))',
                    "{{stream}} mean",
                ),
            ),
        ),
        Row("State"),
        Panel(
            "Ready per worker",
            "Which worker instances are ready (1) or rebalancing / recovering (0)?",
            "state-timeline",
            (Q("max by (instance) (streamguard_worker_ready)", "{{instance}}"),),
            min=0,
            max=1,
        ),
        Panel(
            "Catalogue size",
            "How many products does the worker know (prices filled from it)?",
            "stat",
            (Q("max(streamguard_catalogue_products)", "products"),),
            width=6,
        ),
        Panel(
            "Skipped records re-read",
            "Is the consumer skipping records around rebalances (each one re-read)?",
            "stat",
            (
                Q(
                    "sum(increase(streamguard_skipped_records_reread_total[$__range])) "
                    "or on() vector(0)",
                    "re-reads",
                    instant=True,
                ),
            ),
            width=6,
            thresholds=(1, 100),
        ),
    ),
)

#: Every dashboard, in the order Grafana lists them.
DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, STREAM, WORKER)
