"""The worker: is it fast enough, which part of it is slow, do alerts get out?"""

from __future__ import annotations

from streamguard.dashboards.boards.common import (
    RATE,
    STREAM_VAR,
    Q,
    S,
    quantiles,
    score,
)
from streamguard.dashboards.spec import Dashboard, Panel, Row

__all__ = ["WORKER"]

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
        Row("Incidents"),
        Panel(
            "Open incidents and their signals",
            "Which streams have an open incident (one per episode), and how many signals "
            "joined it? Counted on the worker that owns the stream's findings.",
            "timeseries",
            (
                Q(
                    "sum by (stream, severity) (streamguard_incidents_open)",
                    "{{stream}} open ({{severity}})",
                ),
                Q("sum by (stream) (streamguard_incident_signals)", "{{stream}} signals"),
                Q("sum by (kind) (streamguard_alert_active_signals)", "active {{kind}}"),
            ),
        ),
        Panel(
            "Incident state changes",
            "How often do incidents fire, update and resolve (sent or linked)?",
            "timeseries",
            (
                Q(
                    f"sum by (status) (rate(streamguard_incident_notifications_total{RATE}))",
                    "{{status}}",
                ),
            ),
            unit="suffix: /s",
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
        Panel(
            "Detector state: saves and restores",
            "Are the drift, anomaly and quality detectors saved, and did a restart restore "
            "them (restored) or start them fresh (missing, rejected: see the worker log)?",
            "timeseries",
            (
                Q(
                    f"sum by (result) (increase(streamguard_detector_state_saves_total{RATE}))",
                    "saved: {{result}}",
                ),
                Q(
                    f"sum by (result) (increase(streamguard_detector_state_restores_total{RATE}))",
                    "restored: {{result}}",
                ),
            ),
        ),
        Panel(
            "Detector state: size, capture time, age",
            "How big is each worker's saved detector state, how long does the event loop "
            "pause to capture it, and how old is the last save?",
            "timeseries",
            (
                Q("sum by (instance) (streamguard_detector_state_bytes)", "{{instance}} bytes"),
                Q(
                    "max by (instance) (streamguard_detector_state_capture_seconds)",
                    "{{instance}} capture s",
                ),
                Q(
                    "time() - max by (instance) "
                    "(streamguard_detector_state_last_save_timestamp_seconds)",
                    "{{instance}} age s",
                ),
            ),
        ),
    ),
)
