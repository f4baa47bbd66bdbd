"""Send a batch's outputs as one Kafka record batch per partition.

The worker writes two to three records for every record it reads (the clean or
quarantine output, the dedupe table's changelog write, sometimes an eviction).
``AIOKafkaProducer.send`` costs a future, a size estimate and an accumulator lookup per
record, and the batch's acknowledgement then gathers one future per record: ~20% of a
busy worker's event loop (py-spy, 12-03). :class:`PartitionBatchSender` groups the
outputs by partition (picked as the producer's own partitioner picks, so keys land
where a plain ``send`` puts them; with aiokafka's default partitioner the key's murmur2
hash, pure Python, is remembered per key), fills one :class:`aiokafka.producer.BatchBuilder` per
partition and submits it with ``send_batch``: one future per partition and batch.

Order is kept within a partition (records are appended in the order given, batches are
queued per partition in order), which is all Kafka promises for ``send`` too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka.partitioner import DefaultPartitioner, murmur2

__all__ = ["AppSender", "Output", "PartitionBatchSender"]

Output = tuple[str, int | None, bytes | None, bytes | None]
"""One record to write: ``(topic, partition or None for the key's, key, value)``."""


class _Batch(Protocol):
    def append(self, *, timestamp: float | None, key: bytes | None, value: bytes | None) -> Any: ...


class PartitionBatchSender:
    """Writes outputs through ``producer`` (an ``AIOKafkaProducer``), one batch per
    partition.

    :meth:`send` returns the batches' delivery futures; all of them resolving means
    every output is acknowledged (with ``acks=-1``, by every in-sync replica).
    """

    #: Keys whose murmur2 hash is remembered (user ids repeat): cleared when full.
    HASH_CACHE_SIZE = 200_000

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        # With aiokafka's default partitioner a key's partition is murmur2(key) modulo
        # the partition count: the hash (pure Python, ~2 µs) is remembered per key.
        self._hashes: dict[bytes, int] | None = (
            {} if isinstance(producer._partitioner, DefaultPartitioner) else None  # noqa: SLF001
        )

    async def send(self, outputs: Iterable[Output]) -> list[asyncio.Future[Any]]:
        """Queue ``outputs``; return the futures of the record batches that carry them."""
        producer = self.producer
        hashes = self._hashes
        by_partition: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
        # topic -> its partitions, listed as the producer lists them for its partitioner.
        known: dict[str, list[int]] = {}
        for topic, partition, key, value in outputs:
            if partition is None:
                partitions = known.get(topic)
                if partitions is None:
                    # Cached after the first time; needed before the partitioner runs.
                    await producer.client._wait_on_metadata(topic)  # noqa: SLF001
                    partitions = known[topic] = list(
                        producer._metadata.partitions_for_topic(topic)  # noqa: SLF001
                    )
                if hashes is None or key is None:
                    partition = producer._partition(topic, None, key, value, key, value)  # noqa: SLF001
                else:
                    hashed = hashes.get(key)
                    if hashed is None:
                        if len(hashes) >= self.HASH_CACHE_SIZE:
                            hashes.clear()
                        hashed = hashes[key] = murmur2(key) & 0x7FFFFFFF
                    partition = partitions[hashed % len(partitions)]
            group = by_partition.get((topic, partition))
            if group is None:
                group = by_partition[topic, partition] = []
            group.append((key, value))
        futures: list[asyncio.Future[Any]] = []
        for (topic, partition), records in by_partition.items():
            batch: _Batch = producer.create_batch()
            for key, value in records:
                if batch.append(timestamp=None, key=key, value=value) is None:
                    # Full (the producer's max_batch_size): submit it, start the next.
                    # An empty batch takes any one record, so this cannot loop.
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=value)
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures


class AppSender:
    """The :class:`PartitionBatchSender` over a Faust app's current producer client.

    Faust may replace the aiokafka client inside its producer (a restart of the
    producer service); :meth:`get` makes a new sender only then, so the key hashes a
    sender remembers are kept otherwise.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._sender: PartitionBatchSender | None = None

    def get(self) -> PartitionBatchSender:
        """The sender over the producer client Faust uses now (created if it has none yet)."""
        driver: Any = self.app.producer  # Faust's aiokafka driver: the client inside
        producer = driver._ensure_producer()  # noqa: SLF001
        sender = self._sender
        if sender is None or sender.producer is not producer:
            sender = self._sender = PartitionBatchSender(producer)
        return sender
