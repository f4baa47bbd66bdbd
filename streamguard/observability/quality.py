"""Prometheus gauges for the quality scores (one call per batch, not per record).

Label cardinality is bounded: ``stream`` is behavior/product, ``dimension`` one of
:data:`~streamguard.quality.scorer.DIMENSIONS` or ``composite``, ``field`` a schema field
(via :func:`streamguard.observability.metrics.bounded_field`) or ``_all`` for a whole-stream score.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> from streamguard.quality.scorer import QualityScorer
>>> registry = CollectorRegistry()
>>> metrics = QualityMetrics(registry)
>>> metrics.observe(QualityScorer("product").snapshot())
>>> registry.get_sample_value("streamguard_quality_late_events_total", {"stream": "product"})
0.0
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from streamguard.observability.metrics import bounded_field
from streamguard.quality.scorer import QualitySnapshot

__all__ = ["ALL_FIELDS", "QualityMetrics"]

#: ``field`` label value of a score that covers the whole record.
ALL_FIELDS = "_all"


class QualityMetrics:
    """The quality metric families; :meth:`observe` copies a snapshot into them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.score = Gauge(
            "streamguard_quality_score",
            "Online quality score in [0, 1] (dimension=composite is the stream's score).",
            ["stream", "dimension", "field"],
            registry=r,
        )
        self.lag = Gauge(
            "streamguard_quality_event_lag_seconds",
            "EWMA of processing time minus event time of clean records.",
            ["stream"],
            registry=r,
        )
        self.late = Counter(
            "streamguard_quality_late_events_total",
            "Clean records whose event time lagged more than the late limit.",
            ["stream"],
            registry=r,
        )
        self.future = Counter(
            "streamguard_quality_future_events_total",
            "Clean records whose event time was ahead of the clock by more than the limit.",
            ["stream"],
            registry=r,
        )
        self.findings = Counter(
            "streamguard_quality_drop_findings_total",
            "quality_drop findings emitted.",
            ["stream"],
            registry=r,
        )
        # Counters are fed from cumulative totals in snapshots: remember what was added.
        self._seen: dict[tuple[str, str], int] = {}

    def _advance(self, counter: Counter, stream: str, name: str, total: int) -> None:
        before = self._seen.get((stream, name), 0)
        counter.labels(stream).inc(max(total - before, 0))
        self._seen[stream, name] = max(total, before)

    def observe(self, snapshot: QualitySnapshot) -> None:
        """Export one stream's scores (call once per batch, or on a timer)."""
        stream = snapshot.stream
        if snapshot.composite is not None:
            self.score.labels(stream, "composite", ALL_FIELDS).set(snapshot.composite)
        for dimension, value in snapshot.dimensions.items():
            if value is not None:
                self.score.labels(stream, dimension, ALL_FIELDS).set(value)
        for field, value in snapshot.fields.items():
            self.score.labels(stream, "completeness", bounded_field(field)).set(value)
        if snapshot.lag_seconds is not None:
            self.lag.labels(stream).set(snapshot.lag_seconds)
        self._advance(self.late, stream, "late", snapshot.late_events)
        self._advance(self.future, stream, "future", snapshot.future_events)
        self._advance(self.findings, stream, "findings", snapshot.findings)
