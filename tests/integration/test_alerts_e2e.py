"""End to end: a fault burst in the stream opens ONE incident, pages once, resolves once.

Workers run on the embedded broker with a generic webhook target pointing at a local
receiver (short windows via env, not in the defaults). Healthy behaviour traffic, then a
burst in which ~95% of records have ``event_type: teleport``: several signals (validity,
completeness...) begin together and join one incident, so the receiver gets exactly one
signed ``firing`` carrying them; when traffic is healthy again and the quiet period
passes, exactly one ``resolved`` with its summary follows. With two workers sharing the
partitions the stream's findings still go to one owner: still one firing. The incident
is on the compacted incidents topic; the secret is in no log line and no metric.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard.alerts.targets import verify_signature
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.kafka.topic_reader import read_latest
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    Topics,
    WorkerProcess,
    new_worker,
    produce,
    read_outputs,
    wait_until,
)
from tests.integration.test_dashboards_prometheus import PrometheusServer
from tests.unit.alert_receiver import Receiver

pytestmark = pytest.mark.integration

SECRET = "e2e-hmac-secret-5b1f"
SHORT = {
    "STREAMGUARD_WEBHOOK_SECRET": SECRET,
    "STREAMGUARD_QUALITY_WINDOW": "50",
    "STREAMGUARD_QUALITY_MIN_WINDOWS": "5",
    "STREAMGUARD_ALERT_QUIET_PERIOD_S": "5",
    "STREAMGUARD_ALERT_GROUP_WAIT_S": "4",
    "STREAMGUARD_ALERT_SIGNAL_REPORT_S": "1",
    "STREAMGUARD_ALERT_SIGNAL_TTL_S": "4",
    "STREAMGUARD_ALERT_FLAP_WINDOW_S": "30",
}


def bodies(receiver: Receiver, status: str) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies() if b["status"] == status and b["stream"] == "behavior"]


def healthy_then_burst(bootstrap: str, topics: Topics) -> None:
    now = datetime.now(UTC)
    calm = list(generate("behavior", 600, seed=1, start=now))
    placed = asyncio.run(produce(bootstrap, topics, calm))
    asyncio.run(read_outputs(bootstrap, topics, placed, timeout_s=60))
    burst = FaultMix(behavior={"unknown_event_type": 0.95})
    storm = list(generate("behavior", 600, seed=2, start=now, faults=burst))
    asyncio.run(produce(bootstrap, topics, storm))


def assert_one_firing(receiver: Receiver, started: float) -> dict[str, Any]:
    wait_until(lambda: bool(bodies(receiver, "firing")), 60, "a firing notification")
    assert time.monotonic() - started < 60
    time.sleep(6)  # more findings arrive and the tick runs: still no second page
    firing = bodies(receiver, "firing")
    assert len(firing) == 1, [b["summary"] for b in firing]
    page = firing[0]
    assert len(page["signals"]) >= 2, page["signals"]
    for signal in page["signals"]:
        assert {"kind", "field", "statistic", "threshold", "since"} <= set(signal)
    return page


def assert_signed_and_secret_free(receiver: Receiver, *workers: WorkerProcess) -> None:
    for request in receiver.requests:
        assert verify_signature(
            request.body, request.headers.get("x-streamguard-signature"), SECRET
        )
    for worker in workers:
        assert SECRET not in worker.metrics_text()
        assert SECRET not in worker.log_path.read_text(errors="replace")


def test_a_teleport_burst_is_one_incident_one_page_one_resolve(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    receiver = Receiver()
    topics, worker = new_worker(
        broker.bootstrap, tmp_path, STREAMGUARD_WEBHOOK_URL=receiver.url(), **SHORT
    )
    prometheus: PrometheusServer | None = None
    try:
        worker.start().wait_ready()
        prometheus = PrometheusServer.start(tmp_path, f"127.0.0.1:{worker.metrics_port}")
        started = time.monotonic()
        healthy_then_burst(broker.bootstrap, topics)
        assert not bodies(receiver, "resolved")
        page = assert_one_firing(receiver, started)
        assert page["severity"] in ("warning", "critical")
        assert isinstance(page["incident_id"], str) and page["incident_id"]

        def incidents_open() -> bool:
            assert prometheus is not None
            result = prometheus.query('sum(streamguard_incidents_open{stream="behavior"})')
            return bool(result) and float(result[0]["value"][1]) >= 1

        wait_until(incidents_open, 30, "Prometheus to see the open incident")

        # Healthy again: every signal clears, and the incident resolves once.
        calm_again = list(generate("behavior", 400, seed=3, start=datetime.now(UTC)))
        asyncio.run(produce(broker.bootstrap, topics, calm_again))
        wait_until(lambda: bool(bodies(receiver, "resolved")), 60, "the incident to resolve")
        time.sleep(3)
        (resolved,) = bodies(receiver, "resolved")
        assert resolved["incident_id"] == page["incident_id"]
        assert resolved["ended_at"] is not None and resolved["duration_s"] > 0
        assert resolved["records_in"] > 0 and resolved["records_quarantined"] > 0
        assert resolved["top_reasons"][0]["code"] == "unknown_enum", resolved["top_reasons"]
        assert resolved["top_reasons"][0]["field"] == "event_type"
        assert resolved["examples"] and set(resolved["examples"][0]) == {
            "topic",
            "partition",
            "offset",
        }
        assert len(bodies(receiver, "firing")) == 1
        assert_signed_and_secret_free(receiver, worker)

        # The incident's latest state is on the compacted incidents topic.
        latest = asyncio.run(read_latest(broker.bootstrap, topics.incidents, 3))
        record = orjson.loads(latest[page["incident_id"].encode()])
        assert record["status"] == "resolved" and record["stream"] == "behavior"
    finally:
        if prometheus is not None:
            prometheus.stop()
        assert worker.stop() == 0
        receiver.stop()


def test_two_workers_sharing_the_partitions_page_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    receiver = Receiver()
    group = f"streamguard-test-incidents-{time.time_ns()}"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    topics, first = new_worker(
        broker.bootstrap,
        tmp_path / "a",
        name="first",
        STREAMGUARD_WEBHOOK_URL=receiver.url(),
        STREAMGUARD_APP_ID=group,
        **SHORT,
    )
    _, second = new_worker(
        broker.bootstrap,
        tmp_path / "b",
        topics=topics,
        name="second",
        STREAMGUARD_WEBHOOK_URL=receiver.url(),
        STREAMGUARD_APP_ID=group,
        **SHORT,
    )
    try:
        first.start().wait_ready()
        second.start().wait_ready()
        time.sleep(3)  # the rebalance that gave the second worker its partitions settles
        first.wait_ready()
        started = time.monotonic()
        healthy_then_burst(broker.bootstrap, topics)
        page = assert_one_firing(receiver, started)
        # Both workers saw the burst and reported it; one of them owns the incident.
        assert first.metric_sum("streamguard_records_in_total") > 0
        assert second.metric_sum("streamguard_records_in_total") > 0
        owners = [
            w.metric_sum("streamguard_incident_notifications_total") > 0 for w in (first, second)
        ]
        assert sum(owners) == 1, owners
        assert page["stream"] == "behavior"
        assert_signed_and_secret_free(receiver, first, second)

        # Stop one, and let the rebalance finish before the other stops (a SIGTERM in
        # the middle of a rebalance makes Faust's fetcher crash on the way out).
        def assignments() -> int:
            return second.log_path.read_text(errors="replace").count("newly assigned partitions")

        before = assignments()
        assert first.stop() == 0
        wait_until(lambda: assignments() > before, 30, "the survivor to take the partitions")
        second.wait_ready()
        time.sleep(2)
    finally:
        codes = [w.stop() if w.process is not None else 0 for w in (first, second)]
        receiver.stop()
        assert codes == [0, 0]
