"""Read every partition of some topics with one plain consumer (no group), from given
positions: the standalone recommender's input (:mod:`streamguard.recommender.feed`).

No consumer group: the reader's positions live in its owner's snapshot, not in Kafka, so
whatever it restores it resumes from exactly (see the feed's module docs). Partitions
without a position start at the earliest offset. Topics that do not exist yet are
waited for (the workers create them); partitions added later are picked up within
``rescan_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from streamguard.kafka.side_reader import SourceRecord, start_plain_consumer

__all__ = ["PartitionReader"]

log = logging.getLogger(__name__)


class PartitionReader:
    """All partitions of ``topics`` through one aiokafka consumer outside any group.

    ``client_options`` (TLS/SASL, timeouts) go to the consumer. ``max_records`` bounds
    one :meth:`fetch`; ``wait_log_s`` is how often a missing topic is reported.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        *,
        max_records: int = 2_000,
        rescan_s: float = 30.0,
        wait_log_s: float = 10.0,
        **client_options: Any,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = tuple(dict.fromkeys(topics))
        self.max_records = max_records
        self.rescan_s = rescan_s
        self.wait_log_s = wait_log_s
        self.client_options = client_options
        self._consumer: Any = None
        self._assigned: set[tuple[str, int]] = set()
        self._rescan_at = 0.0

    async def start(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Wait for the topics, then read each partition from ``positions`` (earliest
        where none is given)."""
        self._consumer = await start_plain_consumer(self.bootstrap, **self.client_options)
        logged_at = time.monotonic()
        while True:
            cluster = await self._metadata()
            missing = set(self.topics) - cluster.topics()
            if not missing:
                break
            if time.monotonic() - logged_at >= self.wait_log_s:
                log.info("waiting for topics %s (the workers create them)", sorted(missing))
                logged_at = time.monotonic()
            await asyncio.sleep(0.5)
        await self._assign(self._partitions(cluster), positions)

    async def _metadata(self) -> Any:
        """Fresh metadata of every topic (the consumer's own covers only its assignment)."""
        return await self._consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public way

    async def _assign(
        self, found: set[tuple[str, int]], positions: Mapping[tuple[str, int], int]
    ) -> None:
        """Assign every partition of the topics; ``positions`` for those assigned before
        keep reading where they were, new ones start at the earliest offset."""
        from aiokafka import TopicPartition

        consumer = self._consumer
        self._rescan_at = time.monotonic() + self.rescan_s
        if found == self._assigned:
            return
        tps = {key: TopicPartition(*key) for key in sorted(found)}
        consumer.assign(list(tps.values()))
        fresh = []
        for key, tp in tps.items():
            if key in positions:
                consumer.seek(tp, positions[key])
            else:
                fresh.append(tp)
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        log.info(
            "reading %d partitions of %s (%d from the earliest offset)",
            len(tps),
            ", ".join(self.topics),
            len(fresh),
        )
        self._assigned = set(found)

    def _partitions(self, cluster: Any) -> set[tuple[str, int]]:
        return {
            (topic, partition)
            for topic in self.topics
            for partition in cluster.partitions_for_topic(topic) or ()
        }

    async def fetch(self, timeout_s: float) -> list[SourceRecord]:
        """The next records, each partition's in order."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("start() the reader first")
        if time.monotonic() >= self._rescan_at:
            self._rescan_at = time.monotonic() + self.rescan_s
            found = self._partitions(await self._metadata())
            if found - self._assigned:  # partitions were added
                current = {
                    (tp.topic, tp.partition): await consumer.position(tp)
                    for tp in consumer.assignment()
                }
                await self._assign(found | self._assigned, current)
        fetched = await consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=self.max_records
        )
        return [
            SourceRecord(
                tp.topic, tp.partition, r.offset, r.key, r.value, (r.timestamp or 0) / 1000.0
            )
            for tp, batch in fetched.items()
            for r in batch
        ]

    async def stop(self) -> None:
        """Stop the consumer."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()
