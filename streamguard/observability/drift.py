"""Prometheus metrics of the drift and anomaly engine, and their export.

The engine measures, this module exports: :func:`export_engine` reads what a
:class:`~streamguard.drift.engine.DriftEngine` measured since the last export
(:meth:`~streamguard.drift.engine.DriftEngine.drain_stats`) and :func:`export_batcher` a
:class:`~streamguard.embed.batcher.MicroBatcher`'s counters; the wiring's
``EngineGroup.update_metrics`` calls them once per worker batch, never per record.
Labels are bounded: ``stream`` (two values), ``field`` through
:func:`streamguard.observability.metrics.bounded_field`, ``kind`` and ``detector`` from
fixed sets.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> m = DriftMetrics(CollectorRegistry())
>>> m.set_drift("product", "title", "semantic", 0.12, 0.35)
>>> m.registry.get_sample_value("streamguard_drift_threshold",
...     {"stream": "product", "field": "title", "detector": "semantic"})
0.35
>>> from streamguard.drift.engine import DriftEngine
>>> from streamguard.events.records import SourcePosition
>>> engine = DriftEngine("product")
>>> engine.on_clean({"price": 20.0, "_dq": {}}, SourcePosition("t", 0, 0))
>>> export_engine(engine, m)
>>> m.registry.get_sample_value("streamguard_anomaly_score_count", {"stream": "product"})
1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamguard.observability.metrics import bounded_field, observe_many

if TYPE_CHECKING:
    from streamguard.drift.engine import DriftEngine
    from streamguard.drift.stats import EngineStats
    from streamguard.embed.batcher import MicroBatcher
    from streamguard.embed.cache import EmbeddingCache

__all__ = ["DriftMetrics", "export_batcher", "export_engine", "export_stats"]

SCORE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class DriftMetrics:
    """The engine's metric families, in the given registry (the worker's, or a test's)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._last: dict[str, float] = {}
        r = self.registry
        self.statistic = Gauge(
            "streamguard_drift_statistic",
            "Drift statistic per field (semantic: out-of-support share of the latest "
            "block; contamination: the CUSUM of the stray-value rate, threshold its bound; "
            "language: the rise of the latest block's leading language; gradual: the "
            "CUSUM of the far-repeat rate against a frozen reference; schema: the "
            "largest change in presence or type share of the blocks "
            "compared since the last export, largest meaning furthest past its threshold; "
            'fields outside the schema share field="_other" and its largest value).',
            ["stream", "field", "detector"],
            registry=r,
        )
        self.threshold = Gauge(
            "streamguard_drift_threshold",
            "Threshold the drift statistic is compared with.",
            ["stream", "field", "detector"],
            registry=r,
        )
        self.findings = Counter(
            "streamguard_findings_total",
            "Findings emitted, by kind (schema_drift, semantic_drift, anomaly).",
            ["stream", "kind", "field"],
            registry=r,
        )
        self.anomaly_score = Histogram(
            "streamguard_anomaly_score",
            "Anomaly score of clean records.",
            ["stream"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "streamguard_embedder_batch_texts",
            "Texts per embedding batch.",
            [],
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "streamguard_embedder_batch_seconds",
            "Time to embed one batch (cache lookups, forward pass, detectors).",
            [],
            buckets=BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.texts = Counter(
            "streamguard_embedder_texts_total",
            "Texts processed by the embedding path (rate() gives texts/s).",
            [],
            registry=r,
        )
        self.model_texts = Counter(
            "streamguard_embedder_model_texts_total",
            "Texts that went through the model (cache misses).",
            [],
            registry=r,
        )
        self.cache_hits = Counter(
            "streamguard_embedding_cache_hits_total", "Embedding cache hits.", [], registry=r
        )
        self.cache_misses = Counter(
            "streamguard_embedding_cache_misses_total",
            "Embedding cache misses.",
            [],
            registry=r,
        )
        self.dropped = Counter(
            "streamguard_embedder_texts_skipped_total",
            "Texts not embedded: sampled out under overload, or queue full.",
            ["reason"],
            registry=r,
        )
        self.sampling_rate = Gauge(
            "streamguard_embedder_sampling_ratio",
            "Share of texts the embedding path currently accepts (1 when keeping up).",
            [],
            registry=r,
        )
        self.queue_depth = Gauge(
            "streamguard_embedder_queue_texts",
            "Texts waiting for an embedding batch.",
            [],
            registry=r,
        )
        self.batch_errors = Counter(
            "streamguard_embedder_batch_errors_total",
            "Embedding batches that failed (their texts are not scored; records still flow).",
            [],
            registry=r,
        )
        self.process_starts = Counter(
            "streamguard_embedder_process_starts_total",
            "Embedding child processes started (more than one: the model crashed or hung "
            "and was restarted).",
            [],
            registry=r,
        )

    def observe_embedding(
        self,
        stats: dict[str, float],
        cache_hits: int,
        cache_misses: int,
        batches: list[tuple[int, float]],
        process_starts: int = 0,
    ) -> None:
        """Export the embedding path's counters (cumulative values; deltas are added).

        ``process_starts``: children the embedder started so far (0 when in process).
        """
        current = {
            "errors": stats["errors"],
            "starts": process_starts,
            "processed": stats["processed"],
            "embedded": stats["embedded"],
            "sampled_out": stats["sampled_out"],
            "dropped": stats["dropped"],
            "hits": cache_hits,
            "misses": cache_misses,
        }
        delta = {k: max(0.0, v - self._last.get(k, 0.0)) for k, v in current.items()}
        self._last = current
        self.texts.inc(delta["processed"])
        self.model_texts.inc(delta["embedded"])
        self.dropped.labels("sampled").inc(delta["sampled_out"])
        self.dropped.labels("queue_full").inc(delta["dropped"])
        self.cache_hits.inc(delta["hits"])
        self.cache_misses.inc(delta["misses"])
        self.batch_errors.inc(delta["errors"])
        self.process_starts.inc(delta["starts"])
        self.sampling_rate.set(stats["sampling_rate"])
        self.queue_depth.set(stats["queue_depth"])
        for size, seconds in batches:
            self.batch_size.observe(size)
            self.batch_seconds.observe(seconds)

    def set_drift(
        self, stream: str, field: str | None, detector: str, statistic: float, threshold: float
    ) -> None:
        """Set the statistic and threshold of one detector (``field`` is bounded)."""
        labels = (stream, bounded_field(field), detector)
        self.statistic.labels(*labels).set(statistic)
        self.threshold.labels(*labels).set(threshold)

    def count_finding(self, stream: str, kind: str, field: str | None, count: int = 1) -> None:
        """Count ``count`` emitted findings."""
        self.findings.labels(stream, kind, bounded_field(field)).inc(count)


def export_stats(stats: EngineStats, metrics: DriftMetrics) -> None:
    """Export what one engine measured (:meth:`DriftEngine.drain_stats`)."""
    observe_many(metrics.anomaly_score.labels(stats.stream), stats.anomaly_scores)
    for (kind, field), count in stats.findings.items():
        metrics.count_finding(stats.stream, kind, field, count)
    # Fields that share a label value (fields outside the schema: _other) keep the value
    # furthest past its threshold, not whichever came last.
    largest: dict[tuple[str, str], tuple[float, float]] = {}
    for field, detector, statistic, threshold in stats.drift:
        key = (bounded_field(field), detector)
        old = largest.get(key)
        if old is None or statistic - threshold > old[0] - old[1]:
            largest[key] = (statistic, threshold)
    for (label, detector), (statistic, threshold) in largest.items():
        metrics.set_drift(stats.stream, label, detector, statistic, threshold)


def export_engine(engine: DriftEngine, metrics: DriftMetrics) -> None:
    """Export an engine's statistics, and its own batcher's counters if it has one (a
    shared batcher is exported once per batch by its owner, with :func:`export_batcher`)."""
    export_stats(engine.drain_stats(), metrics)
    embedding = engine.embedding
    if embedding is not None and embedding.owns_batcher and embedding.batcher is not None:
        export_batcher(embedding.batcher, embedding.cache, metrics)


def export_batcher(batcher: MicroBatcher, cache: EmbeddingCache, metrics: DriftMetrics) -> None:
    """Export a batcher's and its cache's counters (call once per batch for a shared one)."""
    batches = []
    while batcher.recent_batches:
        batches.append(batcher.recent_batches.popleft())
    starts = int(getattr(batcher.embedder, "starts", 0))  # a ProcessEmbedder's children
    metrics.observe_embedding(batcher.stats(), cache.hits, cache.misses, batches, starts)
