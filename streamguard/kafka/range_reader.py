"""Read a chosen slice of a topic: some partitions, an offset range, a time window.

``streamguard replay-quarantine --from-topic`` reads the quarantine topic this way. Ends
are the true end offsets (:func:`~streamguard.kafka.admin.true_end_offsets`), so a read
ends on every broker, the embedded one included; each partition is read with
:func:`~streamguard.kafka.side_reader.read_range` (a plain consumer, no group: nothing
is committed). A time window filters on the record timestamp while reading every offset
of the range (no ListOffsets-by-time lookup: the embedded broker's answers to those
cannot be trusted, see ``true_end_offsets``), so narrow it with offsets on large topics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from streamguard.kafka.admin import true_end_offsets
from streamguard.kafka.errors import kafka_errors
from streamguard.kafka.side_reader import SourceRecord, read_range, start_plain_consumer

__all__ = ["TopicSlice", "read_slice", "topic_partitions"]


@dataclass(frozen=True, slots=True)
class TopicSlice:
    """What to read: ``partitions`` (``None``: all), offsets ``start <= offset < end``
    (``None``: from the log start / to the true end), record timestamps
    ``since_s <= t < until_s`` in seconds since the epoch (``None``: unbounded)."""

    topic: str
    partitions: Sequence[int] | None = None
    start: int | None = None
    end: int | None = None
    since_s: float | None = None
    until_s: float | None = None

    def wants_time(self, timestamp_s: float) -> bool:
        """True when a record with this timestamp is inside the time window.

        >>> TopicSlice("q", since_s=10.0, until_s=20.0).wants_time(20.0)
        False
        """
        if self.since_s is not None and timestamp_s < self.since_s:
            return False
        return self.until_s is None or timestamp_s < self.until_s


async def topic_partitions(bootstrap: str, topic: str, **client_options: Any) -> list[int]:
    """The partition numbers of ``topic`` (empty when it does not exist).

    Client errors come out as :mod:`streamguard.kafka.errors` types.
    """
    with kafka_errors():
        consumer = await start_plain_consumer(bootstrap, **client_options)
        try:
            await consumer.topics()  # refreshes the metadata of every topic
            return sorted(consumer.partitions_for_topic(topic) or ())
        finally:
            await consumer.stop()


async def read_slice(
    bootstrap: str,
    wanted: TopicSlice,
    *,
    timeout_s: float = 30.0,
    **client_options: Any,
) -> AsyncIterator[list[SourceRecord]]:
    """Yield the records of ``wanted`` in batches, partition by partition, in offset order.

    Raises ``TimeoutError`` when the broker stops answering for ``timeout_s``; other
    client errors come out as :mod:`streamguard.kafka.errors` types.
    """
    partitions = wanted.partitions
    if partitions is None:
        partitions = await topic_partitions(bootstrap, wanted.topic, **client_options)
    with kafka_errors():
        ends = await true_end_offsets(
            bootstrap,
            [(wanted.topic, p) for p in partitions],
            timeout_s=timeout_s,
            **client_options,
        )
    for (topic, partition), true_end in sorted(ends.items()):
        start = max(wanted.start or 0, 0)
        end = true_end if wanted.end is None else min(wanted.end, true_end)
        if end <= start:
            continue
        with kafka_errors():
            async for batch in read_range(
                bootstrap, topic, partition, start, end, stall_timeout_s=timeout_s, **client_options
            ):
                if wanted.since_s is not None or wanted.until_s is not None:
                    batch = [r for r in batch if wanted.wants_time(r.timestamp_s)]
                if batch:
                    yield batch
