"""Prometheus metrics of the recommender (its own families; register them where you like).

Rates come from the counters: updates/s is
``rate(streamguard_recommender_updates_total[1m])``, publishes/s is
``rate(streamguard_recommendations_published_total[1m])``.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = RecommenderMetrics(registry)
>>> metrics.updates.inc(3)
>>> registry.get_sample_value("streamguard_recommender_updates_total")
3.0
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["MODEL_STRUCTURES", "RecommenderMetrics", "RecommenderProcessMetrics"]

#: The ``structure`` label's values (bounded): what :meth:`CooccurrenceRecommender.size`
#: reports.
MODEL_STRUCTURES = ("users", "items", "neighbours", "candidates", "history", "unavailable")
STALENESS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class RecommenderMetrics:
    """The recommender's metric families, in ``registry`` (a fresh one when None)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "streamguard_recommender_updates_total",
            "Clean behaviour events the recommender learned from.",
            registry=r,
        )
        self.skipped = Counter(
            "streamguard_recommender_skipped_events_total",
            "Behaviour events not learned from (no user or no product, e.g. search).",
            registry=r,
        )
        self.product_updates = Counter(
            "streamguard_recommender_product_updates_total",
            "Catalogue changes applied (upserts, deletes, stock, quarantine).",
            registry=r,
        )
        self.publishes = Counter(
            "streamguard_recommendations_published_total",
            "Recommendation records published.",
            registry=r,
        )
        self.unchanged = Counter(
            "streamguard_recommendations_unchanged_total",
            "Due lists not published because they equal the last one published.",
            registry=r,
        )
        self.staleness = Histogram(
            "streamguard_recommendation_staleness_seconds",
            "From a user's first unpublished change to the publish of their new list.",
            buckets=STALENESS_BUCKETS,
            registry=r,
        )
        self.pending_users = Gauge(
            "streamguard_recommender_pending_users",
            "Users whose list may have changed and is not yet published.",
            registry=r,
        )
        self.oldest_pending = Gauge(
            "streamguard_recommender_oldest_pending_seconds",
            "Age of the oldest unpublished change (0 when none).",
            registry=r,
        )
        self.model_entries = Gauge(
            "streamguard_recommender_model_entries",
            "Entries held by the model, by structure (the model's size).",
            ["structure"],
            registry=r,
        )
        self.snapshot_bytes = Gauge(
            "streamguard_recommender_snapshot_bytes",
            "Size of the last model snapshot written.",
            registry=r,
        )

    def observe_size(self, size: Mapping[str, int]) -> None:
        """Set the model-size gauges from ``model.size()`` (unknown keys ignored)."""
        for structure in MODEL_STRUCTURES:
            if structure in size:
                self.model_entries.labels(structure).set(size[structure])

    def observe_pending(self, pending: int, oldest_since: float | None, now: float) -> None:
        """Set the pending gauges from the refresh policy."""
        self.pending_users.set(pending)
        self.oldest_pending.set(0.0 if oldest_since is None else max(now - oldest_since, 0.0))


class RecommenderProcessMetrics:
    """The worker's view of its recommender process (the model's own families come
    from the process: :class:`RecommenderMetrics`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.failures = Counter(
            "streamguard_recommender_process_failures_total",
            "Times the recommender process died, hung or did not start (it restarts from "
            "its last snapshot).",
            registry=self.registry,
        )
        self.lost_events = Counter(
            "streamguard_recommender_lost_events_total",
            "Clean records (behaviour events, catalogue changes) handed to the recommender "
            "process but not applied (no process running, or the hand-over queue full).",
            registry=self.registry,
        )
