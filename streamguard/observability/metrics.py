"""Prometheus metrics of the worker (served by :mod:`.server`, with :mod:`.health`).

Metrics are updated once per batch, not per record, from a
:class:`~streamguard.quality.tally.RunTally`-like batch summary. Label values are bounded:
``field`` comes from the schema, anything else is bucketed as ``_other``.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
)
from prometheus_client import (
    Counter as PromCounter,
)

from streamguard.events.models import BehaviorEvent, ProductEvent
from streamguard.events.records import CORRECTION_RULES, REASON_CODES, Outcome
from streamguard.runtime.heap import CollectionTimer

__all__ = ["WorkerMetrics", "bounded_field", "observe_many"]

log = logging.getLogger(__name__)

_KNOWN_FIELDS = frozenset(BehaviorEvent.model_fields) | frozenset(ProductEvent.model_fields)
_KNOWN_REASONS = frozenset(REASON_CODES)
_KNOWN_RULES = frozenset(CORRECTION_RULES)
OTHER = "_other"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def bounded_field(field: str | None) -> str:
    """A label value for a field name: schema fields as they are, others bucketed.

    >>> bounded_field("price"), bounded_field("utm_campaign_123"), bounded_field(None)
    ('price', '_other', '_record')
    """
    if field is None:
        return "_record"
    return field if field in _KNOWN_FIELDS else OTHER


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """``histogram.observe(v)`` for each value, with one increment per bucket touched.

    ``Histogram.observe`` scans the bounds in Python and takes two locks per value (a few
    µs); a batch's latencies and anomaly scores fall in a handful of buckets, so this
    counts them first. It reads the histogram's internals (``_upper_bounds``,
    ``_buckets``, ``_sum``, the same in every prometheus-client release with
    ``Histogram``); where they are missing it observes one value at a time.
    ``tests/unit/observability/test_metrics.py`` checks it exports what the one-by-one calls would.

    >>> from prometheus_client import CollectorRegistry
    >>> h = Histogram("h", "doc", buckets=(1.0, 5.0), registry=CollectorRegistry())
    >>> observe_many(h, [0.5, 0.7, 3.0, 99.0])
    >>> [(s.labels.get("le"), s.value) for s in next(iter(h.collect())).samples][:4]
    [('1.0', 2.0), ('5.0', 3.0), ('+Inf', 4.0), (None, 4.0)]
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            histogram.observe(value)
        return
    counts: Counter[int] = Counter()
    for value in values:
        if value == value:  # a NaN lands in no bucket, as in Histogram.observe
            counts[bisect_left(bounds, value)] += 1
    for index, count in counts.items():  # the last bound is +Inf: every index is a bucket
        buckets[index].inc(count)
    if values:
        total.inc(math.fsum(values))


class WorkerMetrics:
    """The worker's metric families, in their own registry (tests build their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records_in = PromCounter(
            "streamguard_records_in_total", "Records consumed.", ["stream"], registry=r
        )
        self.records_out = PromCounter(
            "streamguard_records_out_total",
            "Records written, by outcome (valid, corrected, quarantine).",
            ["stream", "outcome"],
            registry=r,
        )
        self.reasons = PromCounter(
            "streamguard_quarantine_reasons_total",
            "Quarantine reasons (a record may have several).",
            ["stream", "reason", "field"],
            registry=r,
        )
        self.corrections = PromCounter(
            "streamguard_corrections_total",
            "Repairs made, by rule and field.",
            ["stream", "rule", "field"],
            registry=r,
        )
        self.catalogue_lookups = PromCounter(
            "streamguard_catalogue_lookups_total",
            "Behaviour events checked against the product catalogue, by result "
            "(hit, unknown_product, price_mismatch): flagged in _dq.flags, not quarantined.",
            ["stream", "result"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "streamguard_batch_processing_seconds",
            "Time to process one batch and have its outputs acknowledged.",
            ["stream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_records = Histogram(
            "streamguard_batch_records",
            "Records per processed batch.",
            ["stream"],
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=r,
        )
        self.record_latency = Histogram(
            "streamguard_record_latency_seconds",
            "From the input record's Kafka timestamp to its output being acknowledged.",
            ["stream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "streamguard_consumer_lag_records",
            "Records behind the partition's high watermark (from fetched data).",
            ["topic", "partition"],
            registry=r,
        )
        self.skips_recovered = PromCounter(
            "streamguard_skipped_records_reread_total",
            "Records the group consumer skipped (around rebalances and restarts) that were "
            "re-read on the side and processed.",
            ["topic"],
            registry=r,
        )
        self.intake_refetched = PromCounter(
            "streamguard_intake_records_refetched_total",
            "Fetched source records set aside unhandled because a rebalance began or ended "
            "first; they are read again from the committed offsets.",
            registry=r,
        )
        self.ready = Gauge(
            "streamguard_worker_ready", "1 when the worker is ready to process.", registry=r
        )
        self.catalogue_products = Gauge(
            "streamguard_catalogue_products", "Products in the catalogue table.", registry=r
        )
        self.dedupe_entries = Gauge(
            "streamguard_dedupe_entries",
            "Event ids the worker's dedupe indexes hold (bounded by "
            "STREAMGUARD_DEDUPE_WORKER_MAX_ENTRIES).",
            registry=r,
        )
        self.gc_collections = PromCounter(
            "streamguard_gc_collections_total",
            "Garbage-collector runs in the worker process, by generation (2: full).",
            ["generation"],
            registry=r,
        )
        self.gc_pause_seconds = PromCounter(
            "streamguard_gc_pause_seconds_total",
            "Seconds the worker process was paused in the garbage collector, by generation.",
            ["generation"],
            registry=r,
        )
        self._gc_exported = CollectionTimer()  # the totals exported so far

    def observe_collector(self, timer: CollectionTimer) -> None:
        """Add what ``timer`` counted since the last call to the collector counters."""
        done = self._gc_exported
        for generation in range(3):
            runs = timer.collections[generation] - done.collections[generation]
            seconds = timer.seconds[generation] - done.seconds[generation]
            if runs > 0:
                label = str(generation)
                self.gc_collections.labels(label).inc(runs)
                self.gc_pause_seconds.labels(label).inc(max(seconds, 0.0))
                done.collections[generation] += runs
                done.seconds[generation] += seconds

    def stream_counts(self, stream: str) -> tuple[int, int, dict[tuple[str, str], int]]:
        """This worker's running counts of ``stream``: records in, quarantined, and
        quarantine reasons by (code, field); read once per report, never per record."""
        records_in = quarantined = 0
        reasons: dict[tuple[str, str], int] = {}
        for family in (self.records_in, self.records_out, self.reasons):
            for metric in family.collect():
                for sample in metric.samples:
                    labels = sample.labels
                    if not sample.name.endswith("_total") or labels.get("stream") != stream:
                        continue
                    if metric.name == "streamguard_records_in":
                        records_in = int(sample.value)
                    elif metric.name == "streamguard_records_out":
                        if labels.get("outcome") == "quarantine":
                            quarantined = int(sample.value)
                    else:
                        reasons[labels["reason"], labels["field"]] = int(sample.value)
        return records_in, quarantined, reasons

    def observe_batch(
        self,
        stream: str,
        outcomes: Iterable[Outcome],
        *,
        seconds: float,
        latencies: Iterable[float] = (),
    ) -> None:
        """Account for one processed batch (one call per batch keeps metrics cheap)."""
        statuses: Counter[str] = Counter()
        reasons: Counter[tuple[str, str]] = Counter()
        rules: Counter[tuple[str, str]] = Counter()
        lookups: Counter[str] = Counter()
        for outcome in outcomes:
            statuses[outcome.status] += 1
            if outcome.catalogue is not None:
                lookups[outcome.catalogue] += 1
            for reason in outcome.reasons:
                code = reason.code if reason.code in _KNOWN_REASONS else OTHER
                reasons[code, bounded_field(reason.field)] += 1
            for correction in outcome.corrections:
                rule = correction.rule if correction.rule in _KNOWN_RULES else OTHER
                rules[rule, bounded_field(correction.field)] += 1
        total = sum(statuses.values())
        self.records_in.labels(stream).inc(total)
        for status, count in statuses.items():
            self.records_out.labels(stream, status).inc(count)
        for (code, field), count in reasons.items():
            self.reasons.labels(stream, code, field).inc(count)
        for (rule, field), count in rules.items():
            self.corrections.labels(stream, rule, field).inc(count)
        for result, count in lookups.items():
            self.catalogue_lookups.labels(stream, result).inc(count)
        self.batch_seconds.labels(stream).observe(seconds)
        self.batch_records.labels(stream).observe(total)
        observe_many(self.record_latency.labels(stream), [max(x, 0.0) for x in latencies])
