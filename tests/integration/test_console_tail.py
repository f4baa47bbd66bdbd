"""The console reads the tail of a large quarantine topic, not the whole of it, and its
pages stay under a second with 100,000 quarantined records in the topic."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamguard.console.server import ConsoleServer, build_app, windows_for
from streamguard.console.store import ConsoleStore, TopicRoles
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics
from streamguard.testing.worker_harness import wait_until

pytestmark = pytest.mark.integration

RECORDS = 100_000
PARTITIONS = 3


async def fill(bootstrap: str, topic: str, client: dict[str, Any]) -> None:
    await create_topics(bootstrap, {topic: PARTITIONS}, **client)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, **client)
    await producer.start()
    try:
        for i in range(RECORDS):
            value = {
                "source": {"topic": "events.behavior", "partition": i % 6, "offset": i},
                "raw": f'{{"event_id": "e{i}", "email": "u{i}@example.com"}}',
                "encoding": "utf-8",
                "reasons": [{"code": "duplicate" if i % 10 else "missing_field", "field": "x"}],
                "received_at": "2027-01-15T08:00:00.000Z",
            }
            await producer.send(topic, orjson.dumps(value), partition=i % PARTITIONS)
        await producer.flush()
    finally:
        await producer.stop()


def get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        body = response.read()
    return time.perf_counter() - started, body


def test_console_reads_only_the_tail_and_pages_stay_fast(
    broker: EmbeddedBroker,
    topic_name: Callable[[str], str],
    client_options: dict[str, Any],
) -> None:
    roles = TopicRoles(
        quarantine=topic_name("quarantine"),
        findings=topic_name("findings"),
        incidents=topic_name("incidents"),
        inventory=topic_name("inventory"),
        recommendations=topic_name("recommendations"),
    )
    asyncio.run(fill(broker.bootstrap, roles.quarantine, client_options))
    store = ConsoleStore(roles)
    last: dict[int, int] = {}  # partition -> the highest offset the console read
    add = store.add

    def counting_add(
        topic: str, partition: int, offset: int, key: Any, value: Any, at: float
    ) -> None:
        last[partition] = max(offset, last.get(partition, -1))
        add(topic, partition, offset, key, value, at)

    store.add = counting_add  # type: ignore[method-assign]
    app = build_app(broker.bootstrap, roles, client_options=client_options, store=store)
    server = ConsoleServer(app).start()
    try:
        ends = {p: len(range(p, RECORDS, PARTITIONS)) - 1 for p in range(PARTITIONS)}
        wait_until(lambda: last == ends, 60, "the console to read to each partition's end")
        window = windows_for(roles)[roles.quarantine]
        assert window is not None
        read = sum(store.quarantine_seen.values())
        # The tail of each partition (plus at most the end offset's batch), not the topic.
        assert PARTITIONS * window <= read < RECORDS // 4, read
        for path in (
            "/",
            "/quarantine",
            "/quarantine?limit=500",
            "/quarantine?reason=missing_field",
            "/api/quarantine?limit=500",
            "/api/streams",
            "/incidents",
            "/findings",
            "/inventory",
            "/recommendations",
        ):
            elapsed, body = get(server.url + path)
            assert elapsed < 1.0, (path, elapsed)
            assert b"example.com" not in body, path
        answer = json.loads(get(f"{server.url}/api/quarantine?limit=500")[1])
        assert len(answer["records"]) == 500
        # The reader follows the broker: /healthz says so, /metrics counts what is held.
        assert json.loads(get(server.url + "/healthz")[1]) == {"ok": True, "kafka": "following"}
        metrics = get(server.url + "/metrics")[1].decode()
        held = f'streamguard_console_records_held{{topic="{roles.quarantine}"}} '
        assert held in metrics and "streamguard_console_kafka_following 1.0" in metrics
        assert 'page="/api/quarantine",status="200"' in metrics
    finally:
        server.stop()
