"""Drift through the worker: injected drifts reach ``streamguard.findings`` on the right
field and kind, within a few hundred records of their start, with the real MiniLM model
behind the asynchronous micro-batcher; clean records carry anomaly scores meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics
from streamguard.testing.worker_harness import new_worker
from tests.unit import drift_scenarios as sc

pytestmark = pytest.mark.integration

START = 1000
WITHIN = 300


def add_gtin(record: sc.Record, i: int) -> sc.Record:
    """An undeclared field that starts appearing on every record."""
    record["gtin"] = f"789{i:010d}"
    return record


def titles_and_gtin(record: sc.Record, i: int) -> sc.Record | None:
    changed = sc.titles_into_category(record, i)
    return add_gtin(changed if changed is not None else record, i)


async def produce_in_order(bootstrap: str, topic: str, records: list[sc.Record]) -> None:
    """One partition, so ``position.offset`` is the record's index in the scenario."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(
                topic, orjson.dumps(r), key=str(r["product_id"]).encode(), partition=0
            )
            for r in records
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def read_findings(
    bootstrap: str, topic: str, wanted: set[tuple[str, str]], timeout_s: float
) -> list[dict[str, Any]]:
    """Findings from the start of ``topic`` until every (kind, field) in ``wanted`` is in."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        findings: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while not wanted <= {(f["kind"], f["field"]) for f in findings}:
            if time.monotonic() > deadline:
                got = [(f["kind"], f["field"], f["position"]) for f in findings]
                raise TimeoutError(f"wanted {wanted}, got {got}")
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                findings += [orjson.loads(m.value) for m in batch]
        return findings
    finally:
        await consumer.stop()


def test_drifts_reach_the_findings_topic_on_the_right_field(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics, worker = new_worker(broker.bootstrap, tmp_path)
    asyncio.run(create_topics(broker.bootstrap, dict.fromkeys(topics.__dict__.values(), 3)))
    try:
        worker.start().wait_ready()
        records = sc.drift_from(sc.synthetic_products(1400), START, titles_and_gtin)
        asyncio.run(produce_in_order(broker.bootstrap, topics.product, records))
        wanted = {("semantic_drift", "category"), ("schema_drift", "gtin")}
        findings = asyncio.run(read_findings(broker.bootstrap, topics.findings, wanted, 180))
    finally:
        assert worker.stop() == 0
    drift = [f for f in findings if f["kind"] in ("schema_drift", "semantic_drift")]
    early = [f for f in drift if f["position"]["offset"] < START]
    assert not early, f"false alarm before the drift started: {early}"
    for kind, field in wanted:
        first = next(f for f in drift if (f["kind"], f["field"]) == (kind, field))
        assert first["stream"] == "product"
        assert first["position"]["topic"] == topics.product
        assert START <= first["position"]["offset"] < START + WITHIN, first
        assert first["statistic"] > first["threshold"], first
