"""``streamguard replay-quarantine --from-topic`` through the embedded broker: overlapping
runs deliver each source record to its clean topic once, keyed as the worker keys it."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamguard import cli
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.events.records import Reason, SourcePosition, quarantine_value
from streamguard.kafka.admin import create_topics
from streamguard.kafka.range_reader import TopicSlice, read_slice

pytestmark = pytest.mark.integration

NOW = "2026-12-01T00:00:00.000Z"


def behavior(i: int, *, valid: bool) -> bytes:
    event: dict[str, Any] = {
        "event_id": f"e{i}",
        "event_type": "view",
        "user_id": f"u{i}",
        "product_id": "p-1",
        "ts": "2026-11-01T10:00:00Z",
    }
    if not valid:
        del event["user_id"]
    return orjson.dumps(event)


def product(i: int) -> bytes:
    return orjson.dumps(
        {"event_id": f"pe{i}", "product_id": f"p-{i}", "op": "upsert", "ts": 1_800_000_000_000}
    )


def held(raw: bytes, source: SourcePosition) -> bytes:
    reason = (Reason("unknown_enum", "event_type", "a rule that was too strict"),)
    return quarantine_value(raw, source, reason, NOW)


async def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, value in records:
            await producer.send_and_wait(topic, value, key=b"k", partition=partition)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, dict[str, Any]]]:
    found = []
    async for batch in read_slice(bootstrap, TopicSlice(topic), timeout_s=15.0):
        found += [(r.key, orjson.loads(r.value or b"null")) for r in batch]
    return found


@pytest.fixture
def topics(
    broker: EmbeddedBroker, topic_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    for name in list(os.environ):
        if name.upper().startswith("STREAMGUARD_"):
            monkeypatch.delenv(name)
    names = {
        "behavior": topic_name("events.behavior"),
        "product": topic_name("events.product"),
        "behavior_clean": topic_name("behavior.clean"),
        "product_clean": topic_name("product.clean"),
        "quarantine": topic_name("quarantine"),
        "replayed": topic_name("replayed"),
    }
    monkeypatch.setenv("STREAMGUARD_BROKER", broker.url)
    monkeypatch.setenv("STREAMGUARD_PARTITIONS", "2")
    for key, value in names.items():
        monkeypatch.setenv(f"STREAMGUARD_TOPIC_{key.upper()}", value)
    return names


def replay(args: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = cli.main(["replay-quarantine", *args, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "moved_to_clean" in captured.out
    report: dict[str, Any] = orjson.loads((out / "report.json").read_bytes())
    return report


def test_overlapping_live_runs_deliver_each_source_record_once(
    broker: EmbeddedBroker,
    topics: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bootstrap, quarantine = broker.bootstrap, topics["quarantine"]
    asyncio.run(create_topics(bootstrap, {quarantine: 2}))
    # Partition 0: ten behaviour records held by a too-strict rule; the odd ones are
    # really broken. Partition 1: a product record, a second listing of one behaviour
    # source, and a message that is not a quarantine record.
    sources = [SourcePosition(topics["behavior"], 0, i) for i in range(10)]
    records = [(0, held(behavior(i, valid=i % 2 == 0), sources[i])) for i in range(10)]
    product_source = SourcePosition(topics["product"], 1, 0)
    records += [(1, held(product(0), product_source)), (1, records[2][1]), (1, b"garbage")]
    asyncio.run(produce(bootstrap, quarantine, records))

    # A time window before the records were written: nothing read, nothing delivered.
    window = ["--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02T00:00:00Z"]
    assert replay(["--from-topic", quarantine, *window], tmp_path / "r0", capsys)["read"] == 0
    first = ["--from-topic", quarantine, "--partition", "0", "--from-offset", "0"]
    report1 = replay([*first, "--to-offset", "6"], tmp_path / "r1", capsys)
    assert (report1["read"], report1["moved_to_clean"], report1["still_quarantined"]) == (6, 3, 3)
    # The whole topic: overlaps the first run's range.
    report2 = replay(["--from-topic", quarantine], tmp_path / "r2", capsys)
    assert report2["read"] == 13
    assert report2["moved_to_clean"] == 3  # behaviour 6 and 8, the product
    assert report2["skipped_duplicates"] == 4  # 0, 2, 4 delivered before; 2 listed twice
    assert report2["already_replayed"] == 4
    assert report2["bad_lines"] == 1
    assert report2["by_stream"] == {
        "behavior": {"moved_to_clean": 2, "still_quarantined": 5},
        "product": {"moved_to_clean": 1},
    }
    since = ["--since", "2000-01-01T00:00:00Z"]  # every record is newer
    report3 = replay(["--from-topic", quarantine, *since], tmp_path / "r3", capsys)
    assert (report3["read"], report3["moved_to_clean"], report3["skipped_duplicates"]) == (13, 0, 7)

    clean = asyncio.run(read_all(bootstrap, topics["behavior_clean"]))
    delivered = Counter(record["_dq"]["source"]["offset"] for _, record in clean)
    assert delivered == Counter({0: 1, 2: 1, 4: 1, 6: 1, 8: 1})
    for key, record in clean:
        assert key == record["user_id"].encode()  # keyed as the worker keys it
        assert record["_dq"]["source"]["topic"] == topics["behavior"]
        replayed_from = record["_dq"]["replayed_from"]
        assert replayed_from["topic"] == quarantine
        # The first listing (partition 0) delivered it, in the run that read it first.
        assert (replayed_from["partition"], replayed_from["offset"]) == (
            0,
            record["_dq"]["source"]["offset"],
        )
    (product_clean,) = asyncio.run(read_all(bootstrap, topics["product_clean"]))
    assert product_clean[0] == b"p-0"
    assert product_clean[1]["_dq"]["replayed_from"] == {
        "topic": quarantine,
        "partition": 1,
        "offset": 0,
    }
    ledger = asyncio.run(read_all(bootstrap, topics["replayed"]))
    assert sorted(key for key, _ in ledger if key is not None) == sorted(
        f"{s.topic}/{s.partition}/{s.offset}".encode() for s in [*sources[0::2], product_source]
    )
