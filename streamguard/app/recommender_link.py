"""The worker's link to its recommender, which runs in a child process.

The recommender learns from the clean records of each acknowledged batch (handed over
in process, see :meth:`RecommenderLink.learn`); Faust timers publish the lists that
changed and snapshot the model; the snapshot is written once more at shutdown. See
:mod:`streamguard.recommender.process` for the child and its failure handling.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson

from streamguard.app.produce import AppSender
from streamguard.config import Settings
from streamguard.events.records import Outcome
from streamguard.kafka.side_reader import SourceRecord
from streamguard.observability.registry import CollectorRegistry
from streamguard.pipeline import StreamName
from streamguard.recommender.process import (
    RecommenderProcess,
    RecommenderProcessError,
    RecommenderSpec,
)

__all__ = ["RecommenderLink", "snapshot_path"]

log = logging.getLogger(__name__)


def snapshot_path(settings: Settings) -> Path:
    """Where the recommender's model is snapshotted (and restored from at start)."""
    return settings.data_dir / "recommender" / "model.json"


def _log_failure(task: asyncio.Future[None]) -> None:
    """Done callback of a background task: its failure is logged, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


class RecommenderLink:
    """Starts the recommender's process and feeds, publishes and snapshots it."""

    def __init__(self, settings: Settings, registry: CollectorRegistry, sender: AppSender) -> None:
        self.settings = settings
        self.snapshot_path = snapshot_path(settings)
        self.process = RecommenderProcess(
            RecommenderSpec(
                snapshot_path=self.snapshot_path,
                min_interval_s=settings.recommender_min_interval_s,
                k=settings.recommender_k,
                algorithm=settings.recommender_algorithm,
                content=settings.recommender_content,
                content_batch=settings.recommender_content_batch,
                embedder=settings.model,
                embedder_backend=settings.embedder_backend,
                onnx_cache_dir=settings.onnx_cache_dir,
            ),
            registry=registry,
        )
        self._sender = sender
        self._publishing: asyncio.Future[None] | None = None

    def learn(
        self, stream: StreamName | str, records: list[SourceRecord], outcomes: list[Outcome]
    ) -> None:
        """Hand the recommender a batch whose outputs are acknowledged.

        In process rather than by consuming the clean topics back: that was a second
        Faust stream over every clean record (~16% of the worker's throughput, measured).
        The inputs are keyed by user_id (the topic contract), so each user's events reach
        one worker, as they would through the clean topic.
        """
        recommender = self.process
        if stream == "product":
            for record, outcome in zip(records, outcomes, strict=True):
                if outcome.record is not None:
                    recommender.update_product(outcome.record)
                else:  # its latest record was quarantined: do not recommend it
                    self._hide_quarantined_product(record.value)
            return
        threshold = self.settings.anomaly_threshold
        learnable = []
        for outcome in outcomes:
            clean = outcome.record
            if clean is None:
                continue
            # Quality gate: an anomalous event teaches the model nothing it should keep.
            score = (clean.get("_dq") or {}).get("anomaly_score")
            if score is None or score < threshold:
                learnable.append(clean)
        recommender.learn(learnable)

    def _hide_quarantined_product(self, raw: bytes | None) -> None:
        """A product whose latest record was quarantined is not recommended."""
        try:
            product_id = orjson.loads(raw or b"").get("product_id")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if isinstance(product_id, str):
            self.process.remove_product(product_id)

    def publish_soon(self) -> None:
        """Publish due lists in the background, one round at a time: the batch does not
        wait for the recommender process to learn what was just handed over (~30 µs an
        event there) before the due lists come back."""
        if not (self._publishing is None or self._publishing.done()):
            return
        self._publishing = asyncio.ensure_future(self.publish())
        self._publishing.add_done_callback(_log_failure)

    async def publish(self) -> None:
        """Send the recommendation lists that are due (a timer, and after each batch)."""
        try:
            due = await asyncio.wrap_future(self.process.due_records())
        except RecommenderProcessError as exc:
            log.warning("no recommendations this round: %s", exc)
            return
        topic = self.settings.topic_recommendations
        if due:
            # Like the outputs, but the acks are not awaited: lists are best effort (the
            # policy counts a list published once it is handed to the producer).
            await self._sender.get().send([(topic, None, key, value) for key, value in due])

    async def snapshot(self) -> None:
        """Snapshot the model (a timer)."""
        try:  # the child serializes and writes: the loop only waits
            await asyncio.wrap_future(self.process.snapshot(self.snapshot_path))
        except RecommenderProcessError as exc:
            log.error("recommender snapshot not written: %s", exc)

    def save(self, timeout_s: float = 120.0) -> None:
        """Write the snapshot now and end the process (at shutdown, with the loop stopped)."""
        try:
            self.process.snapshot(self.snapshot_path).result(timeout_s)
        except (RecommenderProcessError, TimeoutError) as exc:
            log.error("recommender snapshot not written at shutdown: %s", exc)
        finally:
            self.process.close()
