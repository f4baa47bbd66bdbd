"""The recommender as the worker uses it: model + refresh policy + records + metrics.

No Kafka here: the Faust agent feeds clean records in and sends what
:meth:`RecommenderService.due_records` returns to the ``recommendations`` topic (key
``record["user_id"]``).

Examples
--------
>>> clock = iter([100.0, 100.0, 100.0, 101.0, 101.0, 102.0]).__next__
>>> service = RecommenderService(policy=RefreshPolicy(min_interval_s=60), clock=clock)
>>> service.learn({"user_id": "ann", "product_id": "tent", "event_type": "view"})
True
>>> service.learn({"user_id": "bob", "product_id": "tent", "event_type": "view"})
True
>>> [(r["user_id"], [i["product_id"] for i in r["items"]]) for r in service.due_records()]
[('ann', []), ('bob', [])]
>>> service.learn({"user_id": "ann", "product_id": "stove", "event_type": "purchase"})
True
>>> service.due_records()  # ann changed, but was published 1 s ago
[]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from streamguard.observability.recommender import RecommenderMetrics
from streamguard.recommender.content_source import attach_content
from streamguard.recommender.model import CooccurrenceRecommender
from streamguard.recommender.models import RecommenderModel
from streamguard.recommender.recommendation import recommendation_record
from streamguard.recommender.refresh import RefreshPolicy
from streamguard.recommender.sequence import SequenceRecommender
from streamguard.recommender.snapshot import Positions, snapshot

if TYPE_CHECKING:  # numpy: imported only where a model takes content
    from streamguard.recommender.content import ContentIndex

__all__ = ["RecommenderService"]


class RecommenderService:
    """Learns from clean records and says which recommendation records to publish.

    ``clock`` gives wall-clock seconds (``time.time``): it stamps ``generated_at`` and
    drives the refresh policy. Not thread-safe: call it from one task.
    """

    def __init__(
        self,
        model: RecommenderModel | None = None,
        policy: RefreshPolicy | None = None,
        *,
        k: int = 10,
        metrics: RecommenderMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.model: RecommenderModel = model or CooccurrenceRecommender()
        self.policy = policy or RefreshPolicy()
        self.k = k
        self.metrics = metrics
        self._clock = clock
        #: Product meaning for a model that takes it (:meth:`use_content`), else None.
        self.content: ContentIndex | None = None
        self.content_batch = 64

    def use_content(self, index: ContentIndex, batch: int = 64) -> bool:
        """Feed ``index`` from catalogue records, embed ``batch`` texts at most before
        each :meth:`due_records`, and give it to the model, when the model takes content
        (True); otherwise leave both alone (False)."""
        if batch < 1:
            raise ValueError("batch must be >= 1")
        if not attach_content(self.model, index):
            return False
        self.content, self.content_batch = index, batch
        return True

    def learn(self, record: Mapping[str, Any]) -> bool:
        """Learn from a clean behaviour record; the user's list becomes pending."""
        learned = self.model.learn_one(record)
        if learned:
            self.policy.mark_changed(str(record["user_id"]), self._clock())
        if self.metrics is not None:
            (self.metrics.updates if learned else self.metrics.skipped).inc()
        return learned

    def update_product(self, record: Mapping[str, Any]) -> None:
        """Apply a clean product record (upsert, delete, stock change)."""
        was_available = self.model.is_available(str(record.get("product_id")))
        self.model.update_product(record)
        if self.content is not None:  # only queues a changed text: embedded in batches
            self.content.observe(record)
        self._after_product_change(str(record["product_id"]), was_available)

    def remove_product(self, product_id: str) -> None:
        """Hide a product: deleted, or its latest record was quarantined."""
        was_available = self.model.is_available(product_id)
        self.model.remove_product(product_id)
        self._after_product_change(product_id, was_available)

    def _after_product_change(self, product_id: str, was_available: bool) -> None:
        if was_available and not self.model.is_available(product_id):
            # Lists that show it must be republished without it.
            self.policy.mark_product_changed(product_id, self._clock())
        if self.metrics is not None:
            self.metrics.product_updates.inc()

    def due_records(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Recommendation records to publish now (changed lists of due users only)."""
        if self.content is not None and self.content.due:
            self.content.refresh(self.content_batch)
        now = self._clock()
        records: list[dict[str, Any]] = []
        generated_at = datetime.fromtimestamp(now, tz=UTC)
        for user_id in self.policy.due(now, limit):
            since = self.policy.pending_since(user_id)
            items = self.model.recommend(user_id, self.k)
            if self.policy.accept(user_id, [product_id for product_id, _ in items], now):
                records.append(
                    recommendation_record(user_id, items, self.model.version, generated_at)
                )
                if self.metrics is not None:
                    self.metrics.publishes.inc()
                    if since is not None:
                        self.metrics.staleness.observe(max(now - since, 0.0))
            elif self.metrics is not None:
                self.metrics.unchanged.inc()
        if self.metrics is not None:
            self.metrics.observe_pending(self.policy.pending, self.policy.oldest_pending(), now)
        return records

    def observe_size(self) -> None:
        """Refresh the model-size gauges (walks the model: call it on a timer, not per event)."""
        if self.metrics is not None:
            self.metrics.observe_size(self.model.size())

    def snapshot(self, positions: Positions | None = None) -> bytes:
        """The model's state, with the input ``positions`` it covers (the refresh policy
        restarts empty: users republish once)."""
        model = self.model
        if not isinstance(model, CooccurrenceRecommender | SequenceRecommender):
            raise TypeError(f"{type(model).__name__} has no snapshot format")
        return snapshot(model, positions=positions)
