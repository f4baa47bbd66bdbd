"""The recommender as a service of its own: one model fed by every partition.

``streamguard recommender`` runs one :class:`RecommenderFeed`. It reads **all** partitions
of the clean behaviour topic, the clean product topic and the quarantine topic (no
consumer group shares them out), so however many workers validate the input, one model
learns every user's co-occurrences and sees every catalogue change, and user state never
depends on which worker holds a partition.

Exactly-once learning across restarts: the snapshot file holds the model *and* the
position (next offset) of every partition it has learned up to, written in one atomic
step (:func:`~streamguard.recommender.snapshot.snapshot` with ``positions``). A restart
restores both and resumes reading at those positions, so events after the snapshot are
learned once more and events before it never again (no double counting; no offsets are
committed to Kafka). Published lists are at-least-once: a list may be sent again after a
restart, which the compacted ``recommendations`` topic absorbs.

Kafka stays behind two small seams, :class:`RecordSource` and :class:`ListSender`
(:mod:`streamguard.kafka.partition_reader` and :mod:`streamguard.kafka.producer` in
production, fakes in tests).

Examples
--------
>>> class Record:
...     def __init__(self, offset, value):
...         self.topic, self.partition, self.offset, self.value = "clean", 0, offset, value
>>> service, positions = load_service(Path("no-snapshot-here.json"), min_interval_s=0)
>>> feed = RecommenderFeed(
...     service,
...     FeedTopics(behavior="clean", product="products", quarantine="quarantine"),
... )
>>> feed.apply([Record(0, b'{"user_id": "ann", "product_id": "tent", "event_type": "view"}'),
...             Record(1, b'{"user_id": "bob", "product_id": "tent", "event_type": "view"}')])
2
>>> feed.positions
{('clean', 0): 2}
>>> sorted(r["user_id"] for r in feed.service.due_records())
['ann', 'bob']
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from streamguard.observability.recommender import RecommenderMetrics
from streamguard.recommender.models import DEFAULT_ALGORITHM, RecommenderModel, choose_model
from streamguard.recommender.params import RecommenderConfig, SequenceConfig
from streamguard.recommender.refresh import RefreshPolicy
from streamguard.recommender.service import RecommenderService
from streamguard.recommender.snapshot import Positions, restore_positions, write_atomic

__all__ = [
    "FeedTopics",
    "ListSender",
    "Positions",
    "RecommenderFeed",
    "RecordSource",
    "load_service",
]

log = logging.getLogger(__name__)


class Consumed(Protocol):
    """One record as read from a topic (what the feed needs of it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


class RecordSource(Protocol):
    """Every partition of the feed's topics, read from given positions."""

    async def start(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Read each partition from its position in ``positions``, others from the start."""
        ...

    async def fetch(self, timeout_s: float) -> Sequence[Consumed]:
        """The next records (partition order kept), waiting up to ``timeout_s`` for any."""
        ...

    async def stop(self) -> None:
        """Release the client."""
        ...


class ListSender(Protocol):
    """Sends one record; the returned awaitable resolves once it is acknowledged."""

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Awaitable[Any]:
        """Queue one record (:class:`streamguard.kafka.producer.RecordSender` fits)."""
        ...


@dataclass(frozen=True)
class FeedTopics:
    """What the feed reads, and where it publishes."""

    behavior: str
    """Clean behaviour events: the model learns them."""
    product: str
    """Clean product events: upserts, deletes and stock changes."""
    quarantine: str
    """Quarantined records: a product whose latest record was quarantined is hidden."""
    product_source: str | None = None
    """The raw product topic named in a quarantine record's ``source`` (None: ignore
    the quarantine topic's contents)."""
    recommendations: str = "recommendations"

    @property
    def inputs(self) -> tuple[str, ...]:
        """The topics read, every partition of each."""
        return (self.behavior, self.product, self.quarantine)


def load_service(
    path: Path,
    *,
    k: int = 10,
    min_interval_s: float = 5.0,
    algorithm: str = DEFAULT_ALGORITHM,
    config: RecommenderConfig | SequenceConfig | None = None,
    metrics: RecommenderMetrics | None = None,
) -> tuple[RecommenderService, Positions]:
    """The service whose model, and the positions it covers, were saved at ``path``; a new
    ``algorithm`` model (``config``) and no positions when there is no snapshot there yet,
    or when the snapshot holds the other algorithm (logged; the next snapshot replaces it).
    ``auto`` keeps the snapshot's algorithm, and starts ``item-seq`` without one
    (:func:`~streamguard.recommender.models.choose_model`).
    :class:`~streamguard.recommender.snapshot.SnapshotError` if the file is not one."""
    positions: Positions = {}
    restored: RecommenderModel | None = None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        restored, positions = restore_positions(data)
    model = choose_model(algorithm, restored, config, source=f"the snapshot at {path}")
    if model is not restored:  # a new model re-reads the clean topics from their start
        positions = {}
    policy = RefreshPolicy(min_interval_s=min_interval_s)
    return RecommenderService(model, policy, k=k, metrics=metrics), positions


class RecommenderFeed:
    """Feeds one :class:`RecommenderService` from every partition, publishes its lists
    and snapshots it with the positions it covers.

    Parameters
    ----------
    service
        The model, refresh policy and list length (restored by :func:`load_service`).
    topics
        What to read and where to publish.
    positions
        Where the restored model stopped (from the snapshot): reading resumes there.
    snapshot_path
        Where to write snapshots (None: never).
    anomaly_threshold
        Quality gate: clean events whose ``_dq.anomaly_score`` reaches it are not learned.
    snapshot_interval_s, publish_interval_s
        How often :meth:`run` snapshots and publishes.
    clock
        Monotonic seconds, for the intervals.
    """

    def __init__(
        self,
        service: RecommenderService,
        topics: FeedTopics,
        *,
        positions: Mapping[tuple[str, int], int] | None = None,
        snapshot_path: Path | None = None,
        anomaly_threshold: float = 1.0,
        snapshot_interval_s: float = 30.0,
        publish_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.topics = topics
        self.positions: Positions = dict(positions or {})
        self.snapshot_path = snapshot_path
        self.anomaly_threshold = anomaly_threshold
        self.snapshot_interval_s = snapshot_interval_s
        self.publish_interval_s = publish_interval_s
        self._clock = clock
        self.published = 0

    # --- one step at a time (tests drive these) -------------------------------------------
    def apply(self, records: Sequence[Consumed]) -> int:
        """Learn from / apply ``records`` and advance the positions; returns how many
        behaviour events were learned. A record already covered (offset below its
        partition's position) is skipped, so a source that repeats itself cannot make
        the model count an event twice."""
        learned = 0
        topics = self.topics
        for record in records:
            key = (record.topic, record.partition)
            if record.offset < self.positions.get(key, 0):
                continue
            self.positions[key] = record.offset + 1
            value = _json(record.value)
            if value is None:
                continue
            if record.topic == topics.behavior:
                score = _anomaly_score(value)
                if (score is None or score < self.anomaly_threshold) and self.service.learn(value):
                    learned += 1
            elif record.topic == topics.product:
                if isinstance(value.get("product_id"), str):
                    self.service.update_product(value)
            elif record.topic == topics.quarantine:
                product_id = _quarantined_product(value, topics.product_source)
                if product_id is not None:
                    self.service.remove_product(product_id)
        return learned

    async def publish(self, sender: ListSender) -> int:
        """Send the lists that are due and wait for their acknowledgements."""
        due = self.service.due_records()
        acks = [
            await sender.send(
                self.topics.recommendations, orjson.dumps(r), str(r["user_id"]).encode()
            )
            for r in due
        ]
        for ack in acks:
            await ack
        self.published += len(due)
        return len(due)

    def snapshot_bytes(self) -> bytes:
        """The model with the positions it covers (take it between two :meth:`apply`)."""
        return self.service.snapshot(positions=self.positions)

    async def save(self) -> int | None:
        """Write the snapshot (serialised here, written and fsynced in a thread)."""
        if self.snapshot_path is None:
            return None
        data = self.snapshot_bytes()
        size = await asyncio.to_thread(write_atomic, data, self.snapshot_path)
        if self.service.metrics is not None:
            self.service.metrics.snapshot_bytes.set(size)
            self.service.observe_size()
        return size

    # --- the loop ------------------------------------------------------------------------
    async def run(
        self, source: RecordSource, sender: ListSender, stop: asyncio.Event | None = None
    ) -> None:
        """Read, learn, publish and snapshot until ``stop`` is set; then publish and
        snapshot once more (a clean stop loses nothing)."""
        stop = stop or asyncio.Event()
        await source.start(self.positions)
        try:
            published_at = snapshot_at = self._clock()
            while not stop.is_set():
                records = await source.fetch(min(self.publish_interval_s, 0.5))
                self.apply(records)
                now = self._clock()
                if now - published_at >= self.publish_interval_s:
                    await self.publish(sender)
                    published_at = now
                if now - snapshot_at >= self.snapshot_interval_s:
                    await self.save()
                    snapshot_at = now
            await self.publish(sender)
            await self.save()
        finally:
            await source.stop()


def _json(value: bytes | None) -> dict[str, Any] | None:
    try:
        decoded = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _anomaly_score(record: Mapping[str, Any]) -> float | None:
    dq = record.get("_dq")
    score = dq.get("anomaly_score") if isinstance(dq, dict) else None
    return float(score) if isinstance(score, int | float) else None


def _quarantined_product(record: Mapping[str, Any], product_topic: str | None) -> str | None:
    """The product id of a quarantined product record, else None."""
    source = record.get("source")
    if product_topic is None or not isinstance(source, dict):
        return None
    if source.get("topic") != product_topic:
        return None
    raw = record.get("raw")
    if not isinstance(raw, str):
        return None
    try:
        data = base64.b64decode(raw) if record.get("encoding") == "base64" else raw.encode()
    except ValueError:
        return None
    product = _json(data)
    product_id = None if product is None else product.get("product_id")
    return product_id if isinstance(product_id, str) and product_id else None
