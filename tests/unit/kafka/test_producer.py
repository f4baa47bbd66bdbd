"""The producer seam and Kafka errors as the tools see them (no broker needed)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from streamguard.kafka.errors import KafkaRequestError, KafkaUnavailableError, kafka_errors
from streamguard.kafka.producer import open_sender
from streamguard.runtime.ports import free_port


def test_kafka_errors_are_translated() -> None:
    with pytest.raises(KafkaUnavailableError, match="refused") as caught:
        with kafka_errors():
            raise KafkaConnectionError("refused")
    assert isinstance(caught.value, OSError) and isinstance(
        caught.value.__cause__, KafkaConnectionError
    )
    with pytest.raises(KafkaRequestError, match=r"^KafkaTimeoutError\(\)$"):
        with kafka_errors():
            raise KafkaTimeoutError()


def test_open_sender_on_an_unreachable_cluster() -> None:
    async def main() -> None:
        async with open_sender(f"127.0.0.1:{free_port()}", client_options={}):
            pytest.fail("the producer should not start")

    with pytest.raises(KafkaUnavailableError):
        asyncio.run(main())
