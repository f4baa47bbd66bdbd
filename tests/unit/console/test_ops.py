"""The console's /healthz (the topic reader's state), /livez and /metrics, over a store fed
without a broker and a fake reader; and the real app's reader failing on a closed port."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from streamguard.console import server
from streamguard.console.health import ReaderHealth
from streamguard.console.server import build_app
from streamguard.console.store import ConsoleStore, TopicRoles
from streamguard.console.web import BasicAuth, make_app
from streamguard.observability.console import ConsoleMetrics
from tests.unit.console.test_web import filled_store, with_client

GOOD = "Basic " + base64.b64encode(b"ops:pa55-word").decode()


class FakeReader:
    """A topic reader that follows when told to."""

    def __init__(self) -> None:
        self.following = False


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def test_healthz_follows_the_readers_state() -> None:
    health = ReaderHealth(clock=lambda: 50.0)
    reader = FakeReader()

    async def body(client: TestClient[Any, Any]) -> None:
        async def healthz() -> tuple[int, dict[str, Any]]:
            response = await client.get("/healthz")
            return response.status, await response.json()

        status, doc = await healthz()
        assert (status, doc["ok"], doc["kafka"]) == (503, False, "not_started")
        assert doc["reason"]
        health.reading(reader)
        status, doc = await healthz()
        assert (status, doc["kafka"]) == (503, "connecting")
        reader.following = True
        assert await healthz() == (200, {"ok": True, "kafka": "following"})
        reader.following = False  # the reader's rescan failed: it stops following
        health.failed(OSError("connect to kafka-0.internal:9092 as svc-user refused"), 8.0)
        status, doc = await healthz()
        assert (status, doc["kafka"]) == (503, "failed")
        assert "OSError" in doc["reason"] and "8 s" in doc["reason"]
        assert "internal" not in doc["reason"] and "svc-user" not in doc["reason"]
        health.reading(FakeReader())
        status, doc = await healthz()
        assert (status, doc["kafka"]) == (503, "connecting") and "OSError" in doc["reason"]
        assert (await client.get("/livez")).status == 200  # liveness ignores Kafka

    with_client(make_app(ConsoleStore(), health=health), body)


def test_probes_are_open_and_metrics_guarded_with_basic_auth() -> None:
    health = ReaderHealth()
    health.reading(FakeReader())

    async def body(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/healthz")).status == 503  # open, and says why
        assert (await client.get("/livez")).status == 200
        assert (await client.get("/metrics")).status == 401
        assert (await client.get("/metrics", headers={"Authorization": GOOD})).status == 200

    app = make_app(ConsoleStore(), auth=BasicAuth("ops", "pa55-word"), health=health)
    with_client(app, body)


def test_metrics_count_requests_by_route_and_report_the_topics() -> None:
    reader = FakeReader()
    reader.following = True
    health = ReaderHealth()
    health.reading(reader)

    async def body(client: TestClient[Any, Any]) -> None:
        for path in (
            "/",
            "/api/quarantine?stream=behavior&limit=5",
            "/api/quarantine?stream=behavior&limit=6",
            "/api/quarantine?limit=abc",  # 400
            "/nope/u1@example.com",  # 404
        ):
            await (await client.get(path)).read()
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
        got = samples(text)

        def value(name: str, **labels: str) -> float:
            return got[name, tuple(sorted(labels.items()))]

        requests = "streamguard_console_requests_total"
        assert value(requests, page="/api/quarantine", status="200") == 2
        assert value(requests, page="/api/quarantine", status="400") == 1
        assert value(requests, page="/", status="200") == 1
        assert value(requests, page="unmatched", status="404") == 1
        latency = "streamguard_console_request_duration_seconds_count"
        assert value(latency, page="/api/quarantine") == 3
        held = "streamguard_console_records_held"
        assert value(held, topic="streamguard.quarantine") == 30
        assert value(held, topic="streamguard.findings") == 3  # 2 findings, 1 worker's totals
        assert value(held, topic="streamguard.incidents") == 1
        assert value(held, topic="recommendations") == 1
        age = "streamguard_console_last_message_age_seconds"
        assert value(age, topic="streamguard.findings") == 100.0 - 11.0
        assert value(age, topic="streamguard.incidents") == 100.0 - 10.0
        assert value("streamguard_console_kafka_following") == 1.0
        # Labels carry route patterns, statuses and topics: no query, no requested path.
        labels = {v for (_, pairs) in got for _, v in pairs}
        assert not any("example.com" in v or "limit" in v or "nope" in v for v in labels)
        assert "example.com" not in text

    app = make_app(filled_store(), clock=lambda: 100.0, health=health)
    with_client(app, body)


def test_a_topic_never_read_has_no_age_and_an_app_without_reader_is_healthy() -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/healthz")).status == 200
        text = await (await client.get("/metrics")).text()
        assert re.search(r"records_held\{topic=\"streamguard.findings\"\} 0.0", text)
        assert "last_message_age_seconds{" not in text
        assert "streamguard_console_kafka_following 0.0" in text

    metrics = ConsoleMetrics()
    with_client(make_app(ConsoleStore(), metrics=metrics), body)
    # The app's requests went to the registry it was given.
    assert metrics.registry.get_sample_value(
        "streamguard_console_requests_total", {"page": "/healthz", "status": "200"}
    )


class ScriptedReader:
    """Stands for RecentReader in build_app: the first attempt fails, the next follows."""

    attempts: list[ScriptedReader] = []

    def __init__(self, bootstrap: str, windows: Any, **options: Any) -> None:
        self.following = False
        ScriptedReader.attempts.append(self)

    async def run(self, on_record: Any) -> None:
        if len(ScriptedReader.attempts) == 1:
            raise ConnectionRefusedError("kafka-0.internal:9092")
        self.following = True
        await asyncio.Event().wait()  # until cancelled


def test_build_apps_reader_loop_reports_failure_then_following(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "RecentReader", ScriptedReader)
    monkeypatch.setattr(ScriptedReader, "attempts", [])
    health = ReaderHealth()
    app = build_app("127.0.0.1:9", TopicRoles(), health=health)

    async def body(client: TestClient[Any, Any]) -> None:
        deadline = time.monotonic() + 10.0
        seen: set[tuple[str, str | None]] = set()
        while not health.following:  # 1 s of back-off after the first attempt
            assert time.monotonic() < deadline, f"never followed; saw {seen}"
            doc = await (await client.get("/healthz")).json()
            seen.add((doc["kafka"], doc.get("reason")))
            await asyncio.sleep(0.02)
        assert (
            "failed",
            "reading the topics failed (ConnectionRefusedError); retrying in 1 s",
        ) in seen
        assert health.failures == 1 and len(ScriptedReader.attempts) == 2
        response = await client.get("/healthz")
        assert response.status == 200 and (await response.json())["kafka"] == "following"
        text = await (await client.get("/metrics")).text()
        assert "streamguard_console_kafka_following 1.0" in text

    with_client(app, body)
