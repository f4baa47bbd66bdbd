"""The worker's inventory glue without a broker: what a delivered batch adds, what a
publication sends (own partial + merged entry), the served body, findings counted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from streamguard.app.inventory import CountedFindings, InventoryLink, input_streams
from streamguard.config import Settings
from streamguard.embed.base import Embedder
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import Outcome, SourcePosition, Status
from streamguard.inventory.live import LiveInventory, StreamSpec
from streamguard.inventory.merge import decode_partial, encode_partial, partial_key
from streamguard.kafka.side_reader import SourceRecord
from streamguard.observability.inventory import InventoryMetrics


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None, bytes | None, bytes | None]] = []

    def get(self) -> FakeSender:
        return self

    async def send(self, outputs: list[Any]) -> list[asyncio.Future[Any]]:
        self.sent += outputs
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return [done]


def _link(
    embedder: Embedder | None = None, **overrides: Any
) -> tuple[InventoryLink, FakeSender, CollectorRegistry]:
    settings = Settings(topic_inventory="inv", recommender_enabled=True, **overrides)
    sender, registry = FakeSender(), CollectorRegistry()
    link = InventoryLink(
        object(),  # type: ignore[arg-type]  # the app is used by install() only
        settings,
        "127.0.0.1:1",
        sender,  # type: ignore[arg-type]
        InventoryMetrics(registry),
        input_streams(settings),
        worker="w1",
        embedder=embedder,
    )

    async def no_read_back() -> None:
        return None

    link._read_back = no_read_back  # type: ignore[method-assign]
    return link, sender, registry


def _batch(n: int, quarantined: int) -> tuple[list[SourceRecord], list[Outcome]]:
    records, outcomes = [], []
    for i in range(n):
        value = orjson.dumps({"event_id": f"e{i}", "user_id": "ana@example.com"})
        records.append(SourceRecord("events.behavior", 0, i, None, value, 0.0))
        status: Status = "quarantine" if i < quarantined else "valid"
        outcomes.append(Outcome(status, SourcePosition("events.behavior", 0, i), None, b"{}"))
    return records, outcomes


def test_a_publication_sends_the_partial_and_the_merged_entry_and_serves_it() -> None:
    link, sender, registry = _link()
    link.observe("behavior", "events.behavior.clean", *_batch(10, quarantined=3))
    # Another worker's partial, as read back from the topic.
    other = LiveInventory({"behavior": StreamSpec("events.behavior")})
    other.observe("behavior", [b'{"event_id": "x"}'] * 5)
    other.lineage("behavior").count("events.behavior.clean", "clean", 5)
    link.partials.add(
        partial_key("behavior", "w2"), encode_partial(other.partial("behavior", "w2", now=1e12))
    )
    asyncio.run(link.publish())

    by_key = {
        key.decode(): value
        for _, _, key, value in sender.sent
        if key is not None and value is not None
    }
    assert set(by_key) == {"behavior/w1", "behavior"}  # no product records: no entry
    assert decode_partial(by_key["behavior/w1"]).seen == 10
    entry = orjson.loads(by_key["behavior"])
    assert entry["records"] == 15 and entry["workers"] == 2
    assert entry["schema"] == "behavior.v1" and entry["source"] == "events.behavior"
    assert entry["lineage"]["outputs"] == {
        "events.behavior.clean": {"role": "clean", "records": 12},
        "streamguard.quarantine": {"role": "quarantine", "records": 3},
        "recommendations": {"role": "recommendations", "records": 7},
    }
    served = orjson.loads(link.api_body())
    assert served["worker"] == "w1" and served["streams"] == [entry]
    assert "ana@example.com" not in link.api_body().decode()
    assert (
        registry.get_sample_value(
            "streamguard_pii_values_total",
            {"stream": "behavior", "field": "user_id", "kind": "email"},
        )
        == 10
    )
    assert registry.get_sample_value("streamguard_inventory_fields", {"stream": "behavior"}) == len(
        entry["fields"]
    )
    assert (
        registry.get_sample_value("streamguard_inventory_publications_total", {"result": "ok"}) == 1
    )


def test_a_failed_publication_is_counted_and_the_last_body_kept() -> None:
    link, sender, registry = _link()
    link.observe("behavior", "events.behavior.clean", *_batch(2, quarantined=0))
    asyncio.run(link.publish())
    body = link.api_body()

    async def broken(outputs: list[Any]) -> list[asyncio.Future[Any]]:
        raise ConnectionError("broker gone")

    sender.send = broken  # type: ignore[method-assign]
    link.observe("behavior", "events.behavior.clean", *_batch(2, quarantined=0))
    asyncio.run(link.publish())  # does not raise
    assert link.api_body() == body
    assert (
        registry.get_sample_value("streamguard_inventory_publications_total", {"result": "failed"})
        == 1
    )


def test_after_close_nothing_is_observed_or_published() -> None:
    link, sender, _ = _link()
    asyncio.run(link._close())
    link.observe("behavior", "events.behavior.clean", *_batch(2, quarantined=0))
    link.count_finding("behavior")
    asyncio.run(link.publish())
    assert sender.sent == []


def test_findings_are_counted_by_stream_signal_states_are_not() -> None:
    link, _, _ = _link()
    sent: list[bytes] = []

    class Topic:
        async def send(self, *, key: bytes, value: bytes) -> str:
            sent.append(key)
            return "future"

    findings = CountedFindings(Topic(), link)

    async def report() -> None:
        assert await findings.send(key=b"behavior", value=b'{"kind": "anomaly"}') == "future"
        await findings.send(key=b"behavior", value=b'{"kind": "signals"}')
        await findings.send(key=b"behavior", value=b"not json")
        await findings.send(key=b"unknown-stream", value=b'{"kind": "anomaly"}')

    asyncio.run(report())
    assert len(sent) == 4  # everything still goes to the topic
    assert link.inventory.lineage("behavior").to_dict() == {
        "streamguard.findings": {"role": "findings", "records": 1}
    }


def test_a_profiler_failure_is_counted_and_does_not_raise() -> None:
    link, _, registry = _link()

    def broken(stream: str, values: Sequence[bytes | None]) -> None:
        raise TypeError("a profiler bug")

    link.inventory.observe = broken  # type: ignore[method-assign]
    records, outcomes = _batch(3, quarantined=1)
    link.observe("behavior", "events.behavior.clean", records, outcomes)
    link.observe("behavior", "events.behavior.clean", records, outcomes)
    assert (
        registry.get_sample_value("streamguard_inventory_failures_total", {"step": "observe"}) == 2
    )
    # the counts that do not need the profiler still advance
    assert link.inventory.lineage("behavior").records("streamguard.quarantine") == 2


def test_the_contract_in_force_is_in_the_lineage() -> None:
    link, sender, _ = _link()
    spec = link.inventory.specs["behavior"]
    contract = {"id": "behavior", "version": "1.1.0", "hash": "abc"}
    link.inventory.specs["behavior"] = StreamSpec(spec.source, "behavior.v1", None, contract)
    link.observe("behavior", "events.behavior.clean", *_batch(1, quarantined=0))
    asyncio.run(link.publish())
    entry = orjson.loads(link.api_body())["streams"][0]
    assert entry["lineage"]["contract"] == contract
    assert entry["lineage"]["schema"] == "behavior.v1"


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def embed(self, texts: Sequence[str]) -> Any:
        self.threads.add(threading.current_thread().name)
        return super().embed(texts)


def test_with_a_model_the_entries_are_tagged_off_the_event_loop() -> None:
    embedder = CountingEmbedder()
    link, sender, _ = _link(embedder)
    link.observe("behavior", "events.behavior.clean", *_batch(4, quarantined=0))
    asyncio.run(link.publish())
    entry = orjson.loads(link.api_body())["streams"][0]
    assert entry["records"] == 4 and entry["fields"]
    assert embedder.threads and threading.main_thread().name not in embedder.threads
