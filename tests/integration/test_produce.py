"""PartitionBatchSender through the embedded broker: placement, order, batch splitting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streamguard.app.produce import Output, PartitionBatchSender
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics, true_end_offsets

pytestmark = pytest.mark.integration

PARTITIONS = 3


async def read_back(
    bootstrap: str, topics: list[str], options: dict[str, Any]
) -> dict[TopicPartition, list[tuple[bytes | None, bytes | None]]]:
    tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
    ends = await true_end_offsets(bootstrap, tps)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **options)
    await consumer.start()
    out: dict[TopicPartition, list[tuple[bytes | None, bytes | None]]] = {tp: [] for tp in tps}
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 15
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "timed out reading the outputs back"
            for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                out[tp] += [(r.key, r.value) for r in batch]
    finally:
        await consumer.stop()
    return out


async def send_and_read(
    bootstrap: str,
    outputs: list[Output],
    topics: list[str],
    client_options: dict[str, Any],
    consumer_options: dict[str, Any],
    max_batch_size: int,
) -> tuple[int, dict[TopicPartition, list[tuple[bytes | None, bytes | None]]]]:
    await create_topics(bootstrap, {t: PARTITIONS for t in topics}, **client_options)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=-1, max_batch_size=max_batch_size, **client_options
    )
    await producer.start()
    try:
        futures = await PartitionBatchSender(producer).send(outputs)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures), await read_back(bootstrap, topics, consumer_options)


@pytest.mark.parametrize("max_batch_size", [16_384, 1_048_576])
def test_outputs_land_where_send_would_put_them_in_order(
    broker: EmbeddedBroker,
    topic_name: Callable[[str], str],
    client_options: dict[str, Any],
    consumer_options: dict[str, Any],
    max_batch_size: int,
) -> None:
    keyed, pinned = topic_name("keyed"), topic_name("pinned")
    outputs: list[Output] = []
    for i in range(600):
        # Keyed by user (the partitioner picks), and table writes to a named partition,
        # interleaved as a batch's outputs are; values big enough to fill 16 KiB batches.
        outputs.append((keyed, None, f"user-{i % 37}".encode(), f"{i:06d}".encode() * 20))
        outputs.append((pinned, i % PARTITIONS, f"k{i}".encode(), None if i % 5 == 0 else b"v"))

    n_futures, written = asyncio.run(
        send_and_read(
            broker.bootstrap,
            outputs,
            [keyed, pinned],
            client_options,
            consumer_options,
            max_batch_size,
        )
    )

    partitioner = DefaultPartitioner()
    expected: dict[TopicPartition, list[tuple[bytes | None, bytes | None]]] = {
        tp: [] for tp in written
    }
    for topic, partition, key, value in outputs:
        if partition is None:
            assert key is not None
            partition = partitioner(key, list(range(PARTITIONS)), list(range(PARTITIONS)))
        expected[TopicPartition(topic, partition)].append((key, value))
    assert written == expected  # every record once, in its key's partition, in order
    if max_batch_size == 16_384:
        # ~72 KiB of keyed values: several batches per partition.
        assert n_futures > 2 * PARTITIONS
    else:
        assert n_futures == 2 * PARTITIONS  # one batch per partition


def test_a_record_larger_than_a_batch_goes_alone(
    broker: EmbeddedBroker,
    topic_name: Callable[[str], str],
    client_options: dict[str, Any],
    consumer_options: dict[str, Any],
) -> None:
    topic = topic_name("big")
    big = b"x" * 40_000  # over the 16 KiB batch size: a batch of its own
    outputs: list[Output] = [
        (topic, 0, b"a", b"small"),
        (topic, 0, b"b", big),
        (topic, 0, b"c", b"after"),
    ]
    n_futures, written = asyncio.run(
        send_and_read(broker.bootstrap, outputs, [topic], client_options, consumer_options, 16_384)
    )
    assert written[TopicPartition(topic, 0)] == [(b"a", b"small"), (b"b", big), (b"c", b"after")]
    assert n_futures == 3
