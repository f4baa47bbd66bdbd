"""The worker's topics through the real admin API: created with the configured
replication factor, and existing topics that differ are reported (or refused)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.admin import create_topics
from streamguard.testing.worker_harness import new_worker

pytestmark = pytest.mark.integration


async def describe(bootstrap: str, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: t["partitions"] for t in await admin.describe_topics(names)}
    finally:
        await admin.close()


def test_the_worker_creates_its_topics_with_the_configured_replication_factor(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # The embedded broker records the replica count it is asked for (one broker id
    # repeated), so the factor the worker passed is visible through DescribeTopics.
    topics, worker = new_worker(broker.bootstrap, tmp_path, STREAMGUARD_REPLICATION_FACTOR="3")
    worker.start().wait_ready()
    try:
        names = [topics.behavior, topics.quarantine, topics.recommendations]
        described = asyncio.run(describe(broker.bootstrap, names))
        for name in names:
            assert len(described[name]) == 3, name  # STREAMGUARD_PARTITIONS from the harness
            assert {len(p["replicas"]) for p in described[name]} == {3}, (name, described[name])
    finally:
        assert worker.stop() == 0


def test_existing_topics_that_differ_are_reported(
    broker: EmbeddedBroker, topic_name: Any, client_options: dict[str, Any]
) -> None:
    narrow, thin = topic_name("narrow"), topic_name("thin")
    asyncio.run(create_topics(broker.bootstrap, {narrow: 2, thin: 3}, **client_options))
    mismatches = asyncio.run(
        create_topics(
            broker.bootstrap, {narrow: 3, thin: 3}, replication_factor=2, **client_options
        )
    )
    assert sorted(str(m) for m in mismatches) == sorted(
        [
            f"topic {narrow} exists with 2 partitions, not 3 and replication factor 1, not 2",
            f"topic {thin} exists with replication factor 1, not 2",
        ]
    )


def test_a_worker_told_to_refuse_mismatched_topics_exits_2_saying_why(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics, worker = new_worker(broker.bootstrap, tmp_path, STREAMGUARD_TOPIC_MISMATCH="refuse")
    asyncio.run(create_topics(broker.bootstrap, {topics.behavior: 2}))  # the harness wants 3
    worker.start()
    assert worker.process is not None
    assert worker.process.wait(timeout=60) == 2
    log = worker.log_tail()
    assert f"topic {topics.behavior} exists with 2 partitions, not 3" in log
    assert "refusing to start" in log
