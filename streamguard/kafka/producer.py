"""Sending raw records to Kafka: a started producer behind a small seam, and its errors.

The tools that write to Kafka (``streamguard generate`` / ``replay`` / ``demo``, the soak
benchmark) open :func:`open_sender` and call ``await sender.send(topic, value, key)``;
they never import aiokafka. Kafka failures inside the block come out as
:mod:`streamguard.kafka.errors` types, so callers can report them without knowing the
client library.

Settings chosen for the embedded broker and Apache Kafka alike: acks=all, no
idempotence (Tansu rejects aiokafka's InitProducerId), linger 5 ms, and a 3 MiB max
request so the generator's ``too_large`` faults (1 MiB + 1 KiB) get through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from streamguard.kafka.errors import kafka_errors

__all__ = ["MAX_REQUEST_SIZE", "RecordSender", "open_sender"]

#: Producer max request size: large enough for ``too_large`` faults (1 MiB + 1 KiB).
MAX_REQUEST_SIZE = 3 * 1024 * 1024


class RecordSender(Protocol):
    """What :func:`open_sender` yields: send one record, flush what is buffered."""

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        """Queue one record; the returned future resolves once it is delivered."""
        ...

    async def flush(self) -> None:
        """Wait until everything queued so far was sent."""
        ...


@contextlib.asynccontextmanager
async def open_sender(
    bootstrap: str, *, client_options: Mapping[str, Any] | None = None
) -> AsyncIterator[RecordSender]:
    """A started producer for ``bootstrap``; stopped (and flushed) on the way out.

    ``client_options`` (TLS/SASL, timeouts) go to the aiokafka producer. Client errors
    raised while it starts, inside the block, or while it stops come out as
    :class:`~streamguard.kafka.errors.KafkaUnavailableError` /
    :class:`~streamguard.kafka.errors.KafkaRequestError`.
    """
    from aiokafka import AIOKafkaProducer

    with kafka_errors():
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=False,
            max_request_size=MAX_REQUEST_SIZE,
            linger_ms=5,
            **dict(client_options or {}),
        )
        try:
            await producer.start()
            yield producer
        finally:
            await producer.stop()  # flushes what is buffered; also after a failed start
