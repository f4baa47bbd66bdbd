"""Read an exact offset range of one partition with a plain consumer (no group).

The worker uses it to fill gaps its group consumer skipped (see
:mod:`streamguard.kafka.ledger`): the range is read independently of the group consumer's
fetch state, so nothing that consumer dropped can hide it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = ["SourceRecord", "read_range", "start_plain_consumer"]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as read from Kafka (``timestamp_s`` in seconds since the epoch)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_s: float


async def start_plain_consumer(bootstrap: str, **client_options: Any) -> Any:
    """A started aiokafka consumer outside any group, for reading chosen partitions.

    ``client_options`` (TLS/SASL, timeouts) override the defaults; below the log start
    (retention) it resumes at the first record that exists. Stop it when done.
    """
    from aiokafka import AIOKafkaConsumer

    options: dict[str, Any] = {"request_timeout_ms": 10_000, "fetch_max_wait_ms": 100}
    options.update(client_options)
    options.update(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **options)
    try:
        await consumer.start()
    except BaseException:
        # A consumer that failed to start still holds a client: close it, or every
        # retry (the console reconnecting) leaks one.
        await consumer.stop()
        raise
    return consumer


async def read_range(
    bootstrap: str,
    topic: str,
    partition: int,
    start: int,
    end: int,
    *,
    batch_max: int = 1000,
    stall_timeout_s: float = 30.0,
    **client_options: Any,
) -> AsyncIterator[list[SourceRecord]]:
    """Yield the records of ``topic[partition]`` with ``start <= offset < end`` in batches.

    Offsets absent from the log (compaction, transaction markers, retention) are simply
    not yielded. Raises ``TimeoutError`` when the read makes no progress for
    ``stall_timeout_s`` (broker down, or ``end`` past the end of the log).
    ``client_options`` go to the aiokafka consumer (TLS/SASL).
    """
    from aiokafka import TopicPartition

    consumer = await start_plain_consumer(bootstrap, **client_options)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        progress_at = time.monotonic()
        while await consumer.position(tp) < end:
            fetched = await consumer.getmany(tp, timeout_ms=500, max_records=batch_max)
            batch = [
                SourceRecord(
                    topic, partition, r.offset, r.key, r.value, (r.timestamp or 0) / 1000.0
                )
                for r in fetched.get(tp, ())
                if start <= r.offset < end
            ]
            if fetched.get(tp):
                progress_at = time.monotonic()
            elif time.monotonic() - progress_at > stall_timeout_s:
                raise TimeoutError(
                    f"reading {topic}[{partition}] offsets {start}..{end - 1}: "
                    f"no progress for {stall_timeout_s:g} s"
                )
            if batch:
                yield batch
    finally:
        await consumer.stop()
