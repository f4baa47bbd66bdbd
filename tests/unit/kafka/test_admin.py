"""The Kafka admin helpers' pure parts: true end offsets with a fake consumer."""

from __future__ import annotations

import asyncio

import pytest

from streamguard.kafka import admin as kafka_admin
from streamguard.kafka.admin import create_topics, true_end_offsets


class FakeRecord:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class FakeConsumer:
    """Partitions holding ``ends[tp]`` records; fetches return ``per_fetch`` at a time."""

    def __init__(self, ends: dict[str, int], highwater: dict[str, int], per_fetch: int) -> None:
        self.ends, self.reported_hw, self.per_fetch = ends, highwater, per_fetch
        self.positions: dict[str, int] = {}
        self.hw: dict[str, int] = {}
        self.paused: set[str] = set()
        self.getmany_calls = 0

    def assign(self, tps: list[str]) -> None:
        assert all(tp in self.ends for tp in tps)

    def seek(self, tp: str, offset: int) -> None:
        self.positions[tp] = offset

    async def getmany(self, *tps: str, timeout_ms: int) -> dict[str, list[FakeRecord]]:
        self.getmany_calls += 1
        out = {}
        for tp in tps:
            assert tp not in self.paused
            self.hw[tp] = self.reported_hw[tp]
            start = self.positions[tp]
            end = min(start + self.per_fetch, self.ends[tp])
            if end > start:
                out[tp] = [FakeRecord(o) for o in range(start, end)]
                self.positions[tp] = end
        return out

    def highwater(self, tp: str) -> int | None:
        return self.hw.get(tp)

    async def position(self, tp: str) -> int:
        return self.positions[tp]

    def pause(self, tp: str) -> None:
        self.paused.add(tp)


def read_to_end(consumer: FakeConsumer, start: dict[str, int]) -> dict[str, int]:
    result = dict.fromkeys(start, 0)
    asyncio.run(kafka_admin._read_to_end(consumer, start, result, confirm_ms=10))
    return result


def test_read_to_end_trusts_a_correct_highwater() -> None:
    consumer = FakeConsumer({"a": 21, "b": 40}, {"a": 21, "b": 40}, per_fetch=5)
    assert read_to_end(consumer, {"a": 11, "b": 30}) == {"a": 21, "b": 40}
    assert consumer.getmany_calls == 2  # no extra "confirm nothing more" round
    assert consumer.paused == {"a", "b"}


def test_read_to_end_survives_a_lagging_highwater() -> None:
    # A high-watermark with the same bug as ListOffsets: confirmed by an empty fetch.
    consumer = FakeConsumer({"a": 21}, {"a": 12}, per_fetch=4)
    assert read_to_end(consumer, {"a": 11}) == {"a": 21}


def test_true_end_offsets_of_nothing() -> None:
    assert asyncio.run(true_end_offsets("127.0.0.1:1", [])) == {}
    asyncio.run(create_topics("127.0.0.1:1", {}))
    with pytest.raises(ValueError, match="compacted"):
        asyncio.run(create_topics("127.0.0.1:1", {"a": 1}, compacted={"b"}))
