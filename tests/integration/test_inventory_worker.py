"""The live inventory through the real embedded broker: the worker publishes each input
stream's entry to the compacted inventory topic and serves it at /api/inventory, and two
workers sharing the partitions publish an inventory that counts every record."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.topic_reader import read_latest
from streamguard.sources.fault_kinds import GeneratedRecord
from streamguard.testing.processes import wait_for as wait_until
from streamguard.testing.worker_harness import (
    Topics,
    WorkerProcess,
    free_port,
    produce,
    worker_env,
)

pytestmark = pytest.mark.integration

FAST = {
    "STREAMGUARD_MODEL": "hashing",
    "STREAMGUARD_INVENTORY_PUBLISH_INTERVAL_S": "1",
    "STREAMGUARD_RECOMMENDER_ENABLED": "false",
}
EMAIL = "ana.souza@example.com"


def behaviour(n: int, *, garbage: int = 0) -> list[GeneratedRecord]:
    """``n`` valid behaviour events over many users (so every partition gets some), one
    a search whose query holds an e-mail address, plus ``garbage`` undecodable records."""
    records = []
    for i in range(n):
        user = f"user-{i}"
        event: dict[str, Any] = {
            "event_id": uuid.uuid4().hex,
            "event_type": "view",
            "user_id": user,
            "product_id": f"p-{i % 7}",
            "ts": datetime.now(UTC).isoformat(),
        }
        if i == 0:
            event = {**event, "event_type": "search", "query": f"mail me at {EMAIL}"}
            del event["product_id"]
        records.append(
            GeneratedRecord("behavior", user.encode(), orjson.dumps(event), None, "valid", None)
        )
    for i in range(garbage):
        key = f"junk-{i}".encode()
        records.append(GeneratedRecord("behavior", key, b"\xff{not json", None, "quarantine", None))
    return records


def api_inventory(worker: WorkerProcess) -> dict[str, Any]:
    """The worker's /api/inventory (no streams while the route is not up yet)."""
    worker.check_alive()
    url = f"http://127.0.0.1:{worker.metrics_port}/api/inventory"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            assert response.headers["Content-Type"] == "application/json"
            return dict(orjson.loads(response.read()))
    except urllib.error.HTTPError as exc:
        assert exc.code == 404, exc  # the route is added once the Faust app is built
        return {"streams": []}


def wait_started(worker: WorkerProcess) -> None:
    """Ready, with the Faust app built (/readyz answers 200 a moment before that)."""

    def started() -> bool:
        worker.wait_ready()
        return "generated_at" in api_inventory(worker)

    wait_until(started, 60, "the worker's app to start")
    worker.wait_ready()


def stream_of(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in document["streams"] if s["stream"] == name), None)


def published(bootstrap: str, topics: Topics) -> dict[str, bytes]:
    latest = asyncio.run(read_latest(bootstrap, topics.inventory, 3, timeout_s=10))
    return {key.decode(): value for key, value in latest.items()}


def records_of(worker: WorkerProcess, stream: str) -> int:
    entry = stream_of(api_inventory(worker), stream)
    return -1 if entry is None else int(entry["records"])


def test_worker_publishes_and_serves_the_inventory(broker: EmbeddedBroker, tmp_path: Path) -> None:
    topics = Topics.unique()
    port = free_port()
    env = worker_env(broker.bootstrap, topics, tmp_path / "state", port, **FAST)
    worker = WorkerProcess(env, tmp_path / "worker.log", port)
    try:
        worker.start()
        wait_started(worker)
        asyncio.run(produce(broker.bootstrap, topics, behaviour(40, garbage=2)))
        wait_until(lambda: records_of(worker, "behavior") == 42, 60, "42 records served")

        entry = stream_of(api_inventory(worker), "behavior")
        assert entry is not None
        assert entry["source"] == topics.behavior and entry["schema"] == "behavior.v1"
        assert entry["objects"] == 40
        fields = {f["path"]: f for f in entry["fields"]}
        assert {"event_id", "event_type", "user_id", "ts", "query"} <= set(fields)
        assert fields["user_id"]["presence"] == 1.0 and fields["user_id"]["in_schema"] is True
        assert fields["query"]["pii"] == {"email": 1.0}
        assert EMAIL not in orjson.dumps(entry).decode()  # masked wherever it shows
        lineage = entry["lineage"]
        assert lineage["inputs"] == [topics.behavior]
        assert lineage["schema"] == "behavior.v1" and lineage["contract"] is None
        outputs = lineage["outputs"]
        assert outputs[topics.behavior_clean]["role"] == "clean"
        assert outputs[topics.quarantine]["records"] >= 2
        assert (
            outputs[topics.behavior_clean]["records"] + outputs[topics.quarantine]["records"] == 42
        )

        # The compacted topic: the stream's entry under its name, the worker's partial
        # under a key with a slash.
        def topic_has_all() -> bool:
            value = published(broker.bootstrap, topics).get("behavior")
            return value is not None and orjson.loads(value)["records"] == 42

        wait_until(topic_has_all, 30, "the topic's behavior entry to count 42")
        keys = set(published(broker.bootstrap, topics))
        assert "behavior" in keys and "product" not in keys  # no product records yet
        assert any(k.startswith("behavior/") for k in keys), keys

        assert worker.metric_sum("streamguard_inventory_fields") == len(entry["fields"])
        assert worker.metric_sum("streamguard_pii_values_total") == 1
        assert 'field="query",kind="email"' in worker.metrics_text()
    finally:
        worker.stop()


def test_two_workers_publish_an_inventory_of_the_whole_stream(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics = Topics.unique()
    settings = {**FAST, "STREAMGUARD_APP_ID": f"streamguard-test-inv-{uuid.uuid4().hex[:8]}"}
    workers = []
    for name in ("a", "b"):
        port = free_port()
        env = worker_env(broker.bootstrap, topics, tmp_path / f"state-{name}", port, **settings)
        workers.append(WorkerProcess(env, tmp_path / f"worker-{name}.log", port))
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            wait_started(worker)
        total = 90
        asyncio.run(produce(broker.bootstrap, topics, behaviour(total)))

        def both_worked() -> bool:
            return (
                all(w.metric_sum("streamguard_records_in_total") > 0 for w in workers)
                and sum(w.metric_sum("streamguard_records_in_total") for w in workers) >= total
            )

        wait_until(both_worked, 60, "both workers to validate records")
        # Each worker's own share is less than the stream, yet each serves all of it.
        for worker in workers:
            assert worker.metric_sum("streamguard_records_in_total") < total
            wait_until(
                lambda w=worker: records_of(w, "behavior") == total,  # type: ignore[misc]
                60,
                "the merged inventory to count every record",
            )
            entry = stream_of(api_inventory(worker), "behavior")
            assert entry is not None and entry["workers"] == 2
            assert entry["objects"] == total
            user_id = next(f for f in entry["fields"] if f["path"] == "user_id")
            assert user_id["distinct_estimate"] == total  # HLL is exact this small

        def topic_counts_all() -> bool:
            value = published(broker.bootstrap, topics).get("behavior")
            return value is not None and orjson.loads(value)["records"] == total

        wait_until(topic_counts_all, 30, "the topic's behavior entry to count every record")
        partials = [k for k in published(broker.bootstrap, topics) if k.startswith("behavior/")]
        assert len(partials) == 2, partials
    finally:
        for worker in workers:
            worker.stop()
