"""Detector state across a worker restart, through the real broker: a worker warms its
detectors, stops (SIGTERM), and its restart restores them, so a drift that is already
under way when it starts is reported at once instead of becoming its baseline."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics
from streamguard.sources.fault_kinds import GeneratedRecord
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    WorkerProcess,
    new_worker,
    produce,
    read_outputs,
    wait_until,
)

pytestmark = pytest.mark.integration

WARM = 400  # past schema drift's 200-record reference
DRIFTED = 150


def with_gtin(records: list[GeneratedRecord]) -> list[GeneratedRecord]:
    """The same products, now carrying an undeclared field on every record."""
    out = []
    for i, record in enumerate(records):
        value = orjson.loads(record.value)
        value["gtin"] = f"789{i:010d}"
        out.append(replace(record, value=orjson.dumps(value)))
    return out


async def read_findings(bootstrap: str, topic: str, until: float) -> list[dict[str, Any]]:
    """Findings from the start of ``topic`` until a schema drift on ``gtin`` or ``until``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        findings: list[dict[str, Any]] = []
        while time.monotonic() < until:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                findings += [orjson.loads(m.value) for m in batch]
            if any(f["kind"] == "schema_drift" and f["field"] == "gtin" for f in findings):
                break
        return findings
    finally:
        await consumer.stop()


def restores(worker: WorkerProcess) -> dict[str, str]:
    """``streamguard_detector_state_restores_total``: the result of each detector."""
    found = re.findall(
        r"^streamguard_detector_state_restores_total\{([^}]*)\} (\S+)$",
        worker.metrics_text(),
        re.M,
    )
    out = {}
    for labels, value in found:
        parsed = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if float(value) > 0:
            out[f"{parsed['detector']}-{parsed['stream']}"] = parsed["result"]
    return out


def test_a_restarted_worker_keeps_its_detectors_warm(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics, first = new_worker(
        broker.bootstrap,
        tmp_path,
        name="worker-1",
        STREAMGUARD_MODEL="hashing",
        STREAMGUARD_RECOMMENDER_ENABLED="false",
    )
    second = first.again(tmp_path / "worker-2.log")
    asyncio.run(create_topics(broker.bootstrap, dict.fromkeys(topics.__dict__.values(), 3)))
    products = list(generate("product", WARM + DRIFTED, seed=7))
    try:
        first.start().wait_ready()
        placed = asyncio.run(produce(broker.bootstrap, topics, products[:WARM]))
        asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))
        assert first.stop() == 0  # SIGTERM: the last snapshot is written on the way out
        state = tmp_path / "state" / "detectors"
        assert sorted(p.name for p in state.iterdir()) == [
            "drift-behavior.state",
            "drift-product.state",
            "quality-behavior.state",
            "quality-product.state",
        ]

        second.start().wait_ready()
        # /readyz can answer before the app is built (its conditions come with it): wait
        # for the restore's own report.
        wait_until(lambda: len(restores(second)) == 4, 30, "the detector state restore")
        assert set(restores(second).values()) == {"restored"}, restores(second)
        drifted = asyncio.run(produce(broker.bootstrap, topics, with_gtin(products[WARM:])))
        asyncio.run(read_outputs(broker.bootstrap, topics, drifted, timeout_s=60))
        # Findings go out with each batch and on the 1 s tick: a few seconds is plenty.
        findings = asyncio.run(
            read_findings(broker.bootstrap, topics.findings, time.monotonic() + 8)
        )
        assert second.stop() == 0
    finally:
        for worker in (first, second):
            if worker.process is not None and worker.process.poll() is None:
                worker.stop()
    gtin = [f for f in findings if f["kind"] == "schema_drift" and f["field"] == "gtin"]
    # A fresh worker takes a field present from its first record as part of its
    # reference; the restored one knows products never had it.
    assert gtin, [(f["kind"], f["field"]) for f in findings]
    position = gtin[0]["position"]
    assert (position["topic"], position["partition"], position["offset"]) in drifted
    assert gtin[0]["details"]["change"] == "new_field:gtin"
