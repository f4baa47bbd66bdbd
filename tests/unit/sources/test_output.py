"""Sending generated records: pacing, in-flight bookkeeping and stats, with a fake sender."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import pytest

from streamguard.config import Settings
from streamguard.runtime.ports import free_port
from streamguard.sources._common import CommandError, emit
from streamguard.sources.faults import GeneratedRecord
from streamguard.sources.output import _send_all


class FakeSender:
    """Records what is sent; deliveries of values in ``fail`` raise."""

    def __init__(self, fail: frozenset[bytes] = frozenset()) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.fail = fail
        self.flushed = 0

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        self.sent.append((topic, value, key))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if value in self.fail:
            future.set_exception(RuntimeError("delivery failed"))
        else:
            future.set_result(None)
        return future

    async def flush(self) -> None:
        self.flushed += 1


def record(stream: str, value: bytes, key: bytes = b"k") -> GeneratedRecord:
    return GeneratedRecord(stream, key, value, None, "valid", None)


def test_send_all_routes_counts_and_survives_failed_deliveries() -> None:
    sender = FakeSender(fail=frozenset({b"bad"}))
    records = [record("behavior", b"a"), record("product", b"bad"), record("behavior", b"c", b"")]
    stats = asyncio.run(
        _send_all(
            sender,
            records,
            {"behavior": "t.behavior", "product": "t.product"},
            rate=None,
            duration_s=None,
            progress_interval_s=1e9,
            max_in_flight=1,
        )
    )
    assert sender.sent == [
        ("t.behavior", b"a", b"k"),
        ("t.product", b"bad", b"k"),
        ("t.behavior", b"c", None),  # an empty key is sent as no key
    ]
    assert (stats.sent, stats.failed, sender.flushed) == (2, 1, 1)
    assert dict(stats.by_stream) == {"behavior": 2}


def test_emit_reports_an_unreachable_kafka_as_a_command_error() -> None:
    args = argparse.Namespace(
        labels=None, out=None, bootstrap=f"127.0.0.1:{free_port()}", create_topics=True, rate=None
    )
    with pytest.raises(CommandError, match="cannot reach Kafka at 127.0.0.1:"):
        emit([record("behavior", b"a")], args, Settings(), ("behavior",))
