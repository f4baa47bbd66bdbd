"""Kafka admin helpers the worker and the tools use: create topics, find true end offsets.

:func:`create_topics` (the worker) creates every topic it is given and raises on any
error but "already exists"; :func:`ensure_topics` (the producer tools) lists topics
first, creates only the missing ones, and logs a per-topic failure instead of raising,
so a principal allowed to write but not to create topics can still produce.

They take a bootstrap address plus aiokafka client options (TLS/SASL, see
:meth:`streamguard.config.Settings.kafka_client_options`), so they work against Apache
Kafka and the embedded broker alike. The embedded broker (Tansu) answers
ListOffsets(latest) with the first offset of the last stored batch + 1 instead of the
true end: use :func:`true_end_offsets` wherever the end matters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streamguard.kafka.errors import kafka_errors
from streamguard.kafka.side_reader import start_plain_consumer

__all__ = [
    "TopicMismatch",
    "create_topics",
    "ensure_topics",
    "topic_mismatches",
    "true_end_offsets",
]

logger = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicMismatch:
    """An existing topic whose partition count or replication factor is not the one
    asked for (topics are never changed once they exist)."""

    topic: str
    partitions: int
    wanted_partitions: int
    replication_factor: int
    wanted_replication_factor: int

    def __str__(self) -> str:
        parts = []
        if self.partitions != self.wanted_partitions:
            parts.append(f"{self.partitions} partitions, not {self.wanted_partitions}")
        if self.replication_factor != self.wanted_replication_factor:
            parts.append(
                f"replication factor {self.replication_factor}, "
                f"not {self.wanted_replication_factor}"
            )
        return f"topic {self.topic} exists with {' and '.join(parts)}"


def topic_mismatches(
    described: Iterable[Mapping[str, Any]], wanted: Mapping[str, int], replication_factor: int
) -> list[TopicMismatch]:
    """Compare DescribeTopics answers with the wanted partitions and replication factor.

    The replication factor of a topic is the smallest replica count of its partitions.

    >>> answer = [{"topic": "t", "partitions": [{"replicas": [1, 2]}, {"replicas": [2]}]}]
    >>> [str(m) for m in topic_mismatches(answer, {"t": 2}, 3)]
    ['topic t exists with replication factor 1, not 3']
    >>> topic_mismatches(answer, {"t": 2}, 1)
    []
    """
    found = []
    for topic in described:
        name, partitions = str(topic["topic"]), list(topic.get("partitions") or [])
        have_rf = min((len(p.get("replicas") or ()) for p in partitions), default=0)
        mismatch = TopicMismatch(name, len(partitions), wanted[name], have_rf, replication_factor)
        if mismatch.partitions != mismatch.wanted_partitions or have_rf != replication_factor:
            found.append(mismatch)
    return found


async def create_topics(
    bootstrap: str,
    topics: dict[str, int],
    *,
    compacted: Collection[str] = frozenset(),
    replication_factor: int = 1,
    **client_options: Any,
) -> list[TopicMismatch]:
    """Create ``topics`` (name -> partitions) with ``replication_factor``; topics that
    already exist are fine and are returned when their partition count or replication
    factor differs (logged as warnings, never changed: the caller decides whether that
    is fatal).

    Names in ``compacted`` get ``cleanup.policy=compact`` (Tansu's memory storage
    accepts but does not enforce it). ``client_options`` go to the aiokafka admin
    client (TLS/SASL, timeouts). Raises the aiokafka error for any other failure.
    """
    unknown = set(compacted) - topics.keys()
    if unknown:
        raise ValueError(f"compacted names topics not being created: {sorted(unknown)}")
    if not topics:
        return []
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import for_code

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options)
    await admin.start()
    try:
        requested = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs={"cleanup.policy": "compact"} if name in compacted else {},
            )
            for name, partitions in topics.items()
        ]
        response = await admin.create_topics(requested)
        existing = []
        for name, error_code, *rest in response.topic_errors:
            if error_code == _TOPIC_ALREADY_EXISTS:
                existing.append(name)
            elif error_code != 0:
                message = rest[0] if rest and rest[0] else ""
                raise for_code(error_code)(f"cannot create topic {name!r}: {message}")
        mismatches = []
        if existing:
            described = await admin.describe_topics(existing)
            mismatches = topic_mismatches(described, topics, replication_factor)
            for mismatch in mismatches:
                logger.warning("%s", mismatch)
        logger.debug("topics ready: %s (already existed: %s)", sorted(topics), existing)
        return mismatches
    finally:
        await admin.close()


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    client_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create those of ``topics`` that do not exist yet; return the names created.

    A topic the broker refuses to create is logged as a warning, not raised. Client
    errors (unreachable cluster, failed request) come out as
    :class:`~streamguard.kafka.errors.KafkaUnavailableError` /
    :class:`~streamguard.kafka.errors.KafkaRequestError`.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    with kafka_errors():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **dict(client_options or {}))
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = sorted(set(topics) - existing)
            if not missing:
                return []
            new = [NewTopic(name, partitions, replication_factor) for name in missing]
            response = await admin.create_topics(new)
            created = []
            for name, code, *rest in getattr(response, "topic_errors", []):
                if code in (0, _TOPIC_ALREADY_EXISTS):  # a race with another creator
                    created.append(name)
                else:
                    logger.warning("could not create topic %s: error %s %s", name, code, rest)
            logger.info("created topics %s with %d partitions", created, partitions)
            return created
        finally:
            await admin.close()


async def true_end_offsets(
    bootstrap: str,
    tps: Iterable[tuple[str, int]],
    *,
    timeout_s: float = 30.0,
    confirm_ms: int = 200,
    **client_options: Any,
) -> dict[tuple[str, int], int]:
    """The true end offset (last offset + 1) of each ``(topic, partition)``.

    Tansu's ListOffsets(latest) answers the first offset of the last stored batch + 1,
    so the plain ``end_offsets()`` is short by up to a batch. This asks for it anyway,
    then reads forward from ``max(reported - 1, beginning)`` (the start of that last
    batch) and returns the position after the last record. A partition is done when the
    fetch high-watermark says so, or, if the high-watermark lags what was read, when
    fetching yields nothing more for ``confirm_ms``. Correct on Apache Kafka too (one
    short read per non-empty partition). Records appended concurrently may or may not
    be counted. Raises ``TimeoutError`` after ``timeout_s`` seconds.
    ``client_options`` go to the aiokafka consumer (TLS/SASL, fetch sizes, timeouts).
    """
    wanted = list(dict.fromkeys((str(topic), int(partition)) for topic, partition in tps))
    if not wanted:
        return {}
    from aiokafka import TopicPartition

    consumer = await start_plain_consumer(bootstrap, **client_options)
    try:
        async with asyncio.timeout(timeout_s):
            partitions = [TopicPartition(topic, partition) for topic, partition in wanted]
            beginning = await consumer.beginning_offsets(partitions)
            reported = await consumer.end_offsets(partitions)
            result = {tp: int(reported[tp]) for tp in partitions}
            start = {
                tp: max(int(reported[tp]) - 1, int(beginning[tp]))
                for tp in partitions
                if int(reported[tp]) > int(beginning[tp])
            }
            await _read_to_end(consumer, start, result, confirm_ms)
    except TimeoutError:
        raise TimeoutError(f"true end offsets not found within {timeout_s:g} s") from None
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): end for tp, end in result.items()}


async def _read_to_end(
    consumer: Any, start: dict[Any, int], result: dict[Any, int], confirm_ms: int
) -> None:
    """Fetch each partition of ``start`` from its offset to the end; update ``result``."""
    if not start:
        return
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    pending = set(start)
    seen: set[Any] = set()
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=confirm_ms)
        got = {tp for tp, records in batches.items() if records}
        seen |= got
        for tp in list(pending):
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # no fetch response since the seek yet
            position = int(await consumer.position(tp))
            if position < highwater:
                continue  # the broker says there is more
            if position == highwater or tp not in got:
                # At the high-watermark, or past a lagging one with nothing more to read.
                result[tp] = max(position if tp in seen else int(highwater), result[tp])
                pending.discard(tp)
                consumer.pause(tp)
