"""The dashboard table: every StreamGuard dashboard, panel by panel, with its PromQL.

One entry per panel, each with the on-call question it answers (shown as the panel's
description in Grafana and in grafana/README.md). Edit here, then regenerate the JSON:
``python -m streamguard.dashboards`` (a test fails while the committed JSON is stale).

Conventions: ``$stream`` and ``$field`` are multi-select template variables (regex
matchers, ``.*`` for All); counters are read with ``rate(...[$__rate_interval])``;
``or on() vector(0)`` makes "nothing happened" read as 0 instead of "No data".
"""

from __future__ import annotations

from streamguard.dashboards.spec import (
    Annotation,
    Dashboard,
    Panel,
    PanelKind,
    Query,
    Row,
    Variable,
)

__all__ = ["DASHBOARDS", "DRIFT", "OVERVIEW", "RECOMMENDER", "STREAM", "WORKER"]

Q = Query
S = '{stream=~"$stream"}'
SF = '{stream=~"$stream", field=~"$field"}'
RATE = "[$__rate_interval]"

STREAM_VAR = Variable(
    "stream", "Stream", "streamguard_records_in_total", "Event streams (behavior, product)."
)
FIELD_VAR = Variable(
    "field",
    "Field",
    None,
    "Schema fields (_all: the whole stream; _record: the whole record; _other: fields the "
    "schema does not declare).",
)


def quantiles(histogram: str, by: str, selector: str = "") -> tuple[Query, ...]:
    """p50 and p99 of a histogram, per ``by`` label (``""``: over everything)."""
    labels = f"le, {by}" if by else "le"
    legend = f"{{{{{by}}}}} " if by else ""
    return tuple(
        Q(
            f"histogram_quantile({q}, sum by ({labels}) "
            f"(rate({histogram}_bucket{selector}{RATE})))",
            f"{legend}p{round(q * 100)}",
        )
        for q in (0.5, 0.99)
    )


def score(
    title: str,
    question: str,
    kind: PanelKind,
    queries: tuple[Query, ...],
    *,
    thresholds: tuple[float, ...] = (),
    width: int = 12,
) -> Panel:
    """A panel of scores or shares in [0, 1] where high is good (red below thresholds)."""
    return Panel(
        title,
        question,
        kind,
        queries,
        unit="percentunit",
        width=width,
        min=0,
        max=1,
        thresholds=thresholds,
        thresholds_good_high=True,
    )


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
            "Is StreamGuard paging someone right now, and about what kind of finding?",
            "stat",
            (Q("sum by (kind) (streamguard_alert_open_incidents)", "{{kind}}"),),
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

RECOMMENDER = Dashboard(
    uid="streamguard-recommender",
    title="StreamGuard / Recommender",
    description="Is the recommender learning from clean events and publishing fresh lists?",
    variables=(),
    items=(
        Row("Learning and publishing"),
        Panel(
            "Updates per second",
            "Is the model learning from the clean behaviour stream (and the catalogue)?",
            "timeseries",
            (
                Q(f"sum(rate(streamguard_recommender_updates_total{RATE}))", "events learned"),
                Q(
                    f"sum(rate(streamguard_recommender_skipped_events_total{RATE}))",
                    "events skipped (no user or product)",
                ),
                Q(
                    f"sum(rate(streamguard_recommender_product_updates_total{RATE}))",
                    "catalogue changes",
                ),
            ),
            unit="suffix: /s",
        ),
        Panel(
            "Publishes per second",
            "Are new recommendation lists going out, or are changes mostly no-ops?",
            "timeseries",
            (
                Q(
                    f"sum(rate(streamguard_recommendations_published_total{RATE}))",
                    "published",
                ),
                Q(
                    f"sum(rate(streamguard_recommendations_unchanged_total{RATE}))",
                    "unchanged (not published)",
                ),
            ),
            unit="suffix: /s",
        ),
        Row("Freshness"),
        Panel(
            "Staleness",
            "How long from a user's first unpublished change to their new list going out?",
            "timeseries",
            quantiles("streamguard_recommendation_staleness_seconds", ""),
            unit="s",
        ),
        Panel(
            "Pending users and oldest change",
            "Is the publisher falling behind (users waiting, age of the oldest change)?",
            "timeseries",
            (
                Q("sum(streamguard_recommender_pending_users)", "pending users"),
                Q("max(streamguard_recommender_oldest_pending_seconds)", "oldest change (s)"),
            ),
        ),
        Row("Model"),
        Panel(
            "Model size by structure",
            "Is the model's memory bounded (users, items, neighbours, history held)?",
            "timeseries",
            (
                Q(
                    "sum by (structure) (streamguard_recommender_model_entries)",
                    "{{structure}}",
                ),
            ),
            unit="suffix: entries",
        ),
        Panel(
            "Recommender process failures and lost events",
            "Is the recommender process healthy (restarts, events it never learned)?",
            "timeseries",
            (
                Q(
                    f"sum(increase(streamguard_recommender_process_failures_total{RATE}))",
                    "failures",
                ),
                Q(
                    f"sum(rate(streamguard_recommender_lost_events_total{RATE}))",
                    "events lost /s",
                ),
            ),
        ),
        Panel(
            "Snapshot size",
            "How big is the last model snapshot (restart cost, storage)?",
            "stat",
            (Q("max(streamguard_recommender_snapshot_bytes)", "snapshot"),),
            unit="bytes",
            width=6,
        ),
    ),
)

WORKER = Dashboard(
    uid="streamguard-worker",
    title="StreamGuard / Worker",
    description="Is the worker fast enough, which part of it is slow, and do alerts get out?",
    variables=(STREAM_VAR,),
    items=(
        Row("Latency"),
        Panel(
            "Record latency (Kafka timestamp to output acknowledged)",
            "How stale is a record when it reaches the clean or quarantine topic?",
            "timeseries",
            quantiles("streamguard_record_latency_seconds", "stream", S),
            unit="s",
        ),
        Panel(
            "Batch processing time",
            "How long does one batch take, outputs acknowledged included?",
            "timeseries",
            quantiles("streamguard_batch_processing_seconds", "stream", S),
            unit="s",
        ),
        Panel(
            "Records per batch",
            "Are batches filling up (high: under load, efficient) or trickling?",
            "timeseries",
            (
                Q(
                    f"sum by (stream) (rate(streamguard_batch_records_sum{S}{RATE})) "
                    f"/ sum by (stream) (rate(streamguard_batch_records_count{S}{RATE}))",
                    "{{stream}} mean",
                ),
            ),
        ),
        Row("Embedder"),
        Panel(
            "Embedder batch size",
            "Is the micro-batcher filling batches (GPU efficiency) or sending singles?",
            "timeseries",
            quantiles("streamguard_embedder_batch_texts", ""),
        ),
        Panel(
            "Embedder batch latency",
            "How long does one embedding batch take (cache, forward pass, detectors)?",
            "timeseries",
            quantiles("streamguard_embedder_batch_seconds", ""),
            unit="s",
        ),
        Panel(
            "Embedder throughput and sampling",
            "Is the embedder keeping up, or sampling texts out (ratio below 1)?",
            "timeseries",
            (
                Q(f"sum(rate(streamguard_embedder_texts_total{RATE}))", "texts/s"),
                Q(f"sum(rate(streamguard_embedder_model_texts_total{RATE}))", "through model/s"),
                Q(
                    f"sum by (reason) (rate(streamguard_embedder_texts_skipped_total{RATE}))",
                    "skipped/s {{reason}}",
                ),
            ),
        ),
        Panel(
            "Sampling ratio and queue",
            "What share of texts is embedded (1 = all), and how many wait for a batch?",
            "timeseries",
            (
                Q("min(streamguard_embedder_sampling_ratio)", "sampling ratio"),
                Q("sum(streamguard_embedder_queue_texts)", "queued texts"),
            ),
        ),
        score(
            "Embedding cache hit rate",
            "Are repeated values (categories, brands, queries) served from the cache?",
            "stat",
            (
                Q(
                    f"sum(rate(streamguard_embedding_cache_hits_total{RATE})) / "
                    f"(sum(rate(streamguard_embedding_cache_hits_total{RATE})) "
                    f"+ sum(rate(streamguard_embedding_cache_misses_total{RATE})))",
                    "hit rate",
                ),
            ),
            width=6,
            thresholds=(0.3, 0.7),
        ),
        Panel(
            "Embedder failures and restarts",
            "Is the model failing batches, or was its process restarted (crashed or hung)?",
            "timeseries",
            (
                Q(f"sum(rate(streamguard_embedder_batch_errors_total{RATE}))", "failed batches/s"),
                Q(
                    f"sum(increase(streamguard_embedder_process_starts_total{RATE}))",
                    "model process starts",
                ),
            ),
        ),
        Row("Alert delivery"),
        Panel(
            "Webhook outbox",
            "Are notifications piling up for a target (a receiver down or slow)?",
            "timeseries",
            (
                Q("sum by (target) (streamguard_alert_outbox_notifications)", "{{target}}"),
                Q("sum by (target) (streamguard_alert_outbox_bytes)", "{{target}} bytes"),
            ),
        ),
        Panel(
            "Notifications sent, failed and dropped",
            "Do alerts reach their targets, and is anything given up or dropped?",
            "timeseries",
            (
                Q(
                    "sum by (target, status) (rate("
                    f"streamguard_alert_notifications_sent_total{RATE}))",
                    "{{target}} sent {{status}}",
                ),
                Q(
                    f"sum by (target) (rate(streamguard_alert_notifications_failed_total{RATE}))",
                    "{{target}} failed",
                ),
                Q(
                    "sum by (target, reason) (rate("
                    f"streamguard_alert_notifications_dropped_total{RATE}))",
                    "{{target}} dropped {{reason}}",
                ),
            ),
            unit="suffix: /s",
        ),
        Panel(
            "Delivery errors and rate limiting",
            "Why do delivery attempts fail (4xx, 429, 5xx, timeouts), and are we throttled?",
            "timeseries",
            (
                Q(
                    "sum by (target, reason) (rate("
                    f"streamguard_alert_delivery_errors_total{RATE}))",
                    "{{target}} {{reason}}",
                ),
                Q(
                    f"sum by (target) (rate(streamguard_alert_rate_limited_total{RATE}))",
                    "{{target}} rate-limited",
                ),
            ),
            unit="suffix: /s",
        ),
        Panel(
            "Findings submitted to the alert manager",
            "How many findings reach the alert manager, by kind (before grouping)?",
            "timeseries",
            (
                Q(
                    f"sum by (kind) (rate(streamguard_alert_findings_total{RATE}))",
                    "{{kind}}",
                ),
            ),
            unit="suffix: /s",
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
            "Dedupe ids held",
            "How many event ids does each worker keep for duplicate detection (bounded by "
            "STREAMGUARD_DEDUPE_WORKER_MAX_ENTRIES, ~0.37 KiB each)?",
            "stat",
            (Q("max by (instance) (streamguard_dedupe_entries)", "{{instance}}"),),
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
        Panel(
            "Fetched records set aside at rebalances",
            "How much fetched work did rebalances throw away (read again, not lost)?",
            "stat",
            (
                Q(
                    "sum(increase(streamguard_intake_records_refetched_total[$__range])) "
                    "or on() vector(0)",
                    "set aside",
                    instant=True,
                ),
            ),
            width=6,
            thresholds=(1_000, 100_000),
        ),
        Panel(
            "Garbage-collector pauses",
            "What share of its time is each worker paused in the garbage collector, by "
            "generation (2: full collections)? A few percent is normal; a rising full-"
            "collection share means long-lived objects are piling up.",
            "timeseries",
            (
                Q(
                    "sum by (instance, generation) ("
                    f"rate(streamguard_gc_pause_seconds_total{RATE}))",
                    "{{instance}} gen {{generation}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Garbage-collector runs",
            "How often does the collector run in each worker, by generation?",
            "timeseries",
            (
                Q(
                    f"sum by (instance, generation) (rate(streamguard_gc_collections_total{RATE}))",
                    "{{instance}} gen {{generation}}",
                ),
            ),
            unit="suffix: /s",
        ),
    ),
)

#: Every dashboard, in the order Grafana lists them.
DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, STREAM, DRIFT, RECOMMENDER, WORKER)
