"""End to end: a fault burst in the stream pages on-call.

The worker runs on the embedded broker with a generic webhook target pointing at a
local receiver; a real Prometheus scrapes it. Clean traffic first, then a burst of
events without ``user_id``: the quality model's validity drops, a ``quality_drop``
finding goes to ``streamguard.findings`` and, through StreamGuard's own notifier, one
signed ``firing`` notification reaches the receiver; Prometheus sees the score fall;
when the burst is over and the quiet period passes, a ``resolved`` follows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamguard.alerts.targets import verify_signature
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    new_worker,
    produce,
    read_outputs,
    wait_until,
)
from tests.integration.test_dashboards_prometheus import PrometheusServer
from tests.unit.alert_receiver import Receiver

pytestmark = pytest.mark.integration

SECRET = "e2e-hmac-secret"


def test_a_fault_burst_reaches_the_webhook_signed_and_resolves(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    receiver = Receiver()
    topics, worker = new_worker(
        broker.bootstrap,
        tmp_path,
        STREAMGUARD_WEBHOOK_URL=f"http://127.0.0.1:{receiver.port}/hook",
        STREAMGUARD_WEBHOOK_SECRET=SECRET,
        STREAMGUARD_QUALITY_WINDOW="50",
        STREAMGUARD_QUALITY_MIN_WINDOWS="5",
        STREAMGUARD_ALERT_QUIET_PERIOD_S="5",
    )
    prometheus: PrometheusServer | None = None
    try:
        worker.start().wait_ready()
        prometheus = PrometheusServer.start(tmp_path, f"127.0.0.1:{worker.metrics_port}")
        now = datetime.now(UTC)
        calm = list(generate("behavior", 600, seed=1, start=now))
        placed = asyncio.run(produce(broker.bootstrap, topics, calm))
        asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))
        assert receiver.requests == [], "clean traffic paged someone"

        burst = FaultMix(behavior={"missing_user_id": 0.6})
        storm = list(generate("behavior", 600, seed=2, start=now, faults=burst))
        placed = asyncio.run(produce(broker.bootstrap, topics, storm))
        asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))

        def firing() -> list[dict[str, object]]:
            return [
                r.json()
                for r in receiver.requests
                if r.json()["status"] == "firing" and r.json()["kind"] == "quality_drop"
            ]

        wait_until(lambda: bool(firing()), 60, "a quality_drop notification at the webhook")
        page = firing()[0]
        assert page["stream"] == "behavior"
        assert page["findings"], page
        first = next(r for r in receiver.requests if r.json()["status"] == "firing")
        assert verify_signature(first.body, first.headers.get("x-streamguard-signature"), SECRET)
        # Grouped: one firing per open incident, not one per bad record.
        keys = [r.json()["group_key"] for r in receiver.requests if r.json()["status"] == "firing"]
        assert len(keys) == len(set(keys)) < 10, keys

        # Prometheus scraped the fall of the validity score.
        def validity_fell() -> bool:
            assert prometheus is not None
            result = prometheus.query(
                'min_over_time(streamguard_quality_score{stream="behavior",'
                'dimension="validity",field="_all"}[5m])'
            )
            return bool(result) and float(result[0]["value"][1]) < 0.8

        wait_until(validity_fell, 30, "Prometheus to see the validity score drop")

        # Calm again: the incident resolves after the quiet period.
        calm_again = list(generate("behavior", 300, seed=3, start=now))
        placed = asyncio.run(produce(broker.bootstrap, topics, calm_again))
        asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))
        wait_until(
            lambda: any(
                r.json()["status"] == "resolved" and r.json()["group_key"] == page["group_key"]
                for r in receiver.requests
            ),
            60,
            "the incident to resolve",
        )
    finally:
        if prometheus is not None:
            prometheus.stop()
        assert worker.stop() == 0
        receiver.stop()
