"""An incident resolves when its condition has cleared, not merely after a quiet period.

The worker's path in process: records -> pipeline -> DriftEngine / QualityScorer ->
FindingsReporter.report (findings and signal states to the findings topic) ->
AlertManager.handle_record (as the stream's owner does) -> a MockTransport receiver.
The clock is driven by the test: each batch of 100 records takes 10 s, the quiet
period is 60 s.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from prometheus_client import CollectorRegistry

from streamguard.alerts import AlertManager, AlertTarget
from streamguard.app.reporting import FindingsReporter
from streamguard.drift import DriftEngine
from streamguard.embed.cache import EmbeddingCache
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import SourcePosition, format_ts
from streamguard.observability.quality import QualityMetrics
from streamguard.pipeline import RecordPipeline
from streamguard.quality import QualityScorer
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.wiring import EngineGroup
from tests.unit import drift_scenarios as sc
from tests.unit.alert_receiver import wait_until

QUIET_S = 60.0
BATCH = 100
BATCH_S = 10.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Topic:
    """The findings topic: Faust's ``send`` is awaited; its owner's manager reads it."""

    def __init__(self, manager: AlertManager) -> None:
        self.manager = manager

    async def send(self, *, key: bytes, value: bytes) -> None:
        self.manager.handle_record(orjson.loads(value))


def keys_of(body: dict[str, Any]) -> set[str]:
    return {
        f"{body['stream']}/{s['kind']}/{s['field'] or s.get('dimension') or '_record'}"
        for s in body["signals"]
    }


class Flow:
    """One stream as the worker wires it, with the alert manager behind the reporter."""

    def __init__(self, stream: str, engine: DriftEngine | None, scorer: QualityScorer) -> None:
        self.clock = Clock()
        self.stream = stream
        self.bodies: list[dict[str, Any]] = []

        def receive(request: httpx.Request) -> httpx.Response:
            self.bodies.append(orjson.loads(request.read()))
            return httpx.Response(200)

        self.manager = AlertManager(
            [AlertTarget("ops", "generic", "http://alerts.invalid/hook")],
            quiet_period_s=QUIET_S,
            transport=httpx.MockTransport(receive),
            clock=self.clock,
            trust_env=False,
        )
        self.manager.start()
        engines = None
        if engine is not None:
            engines = EngineGroup({stream: engine}, None, EmbeddingCache(16), None)
        observers: list[Any] = [engine] if engine is not None else []
        self.pipeline = RecordPipeline(stream, clock=self.clock, observers=[*observers, scorer])
        self.engine = engine
        self.reporter = FindingsReporter(
            Topic(self.manager), {stream: scorer}, QualityMetrics(CollectorRegistry()),
            engines=engines, clock=self.clock,
        )  # fmt: skip
        self.offset = 0

    def run(self, records: list[dict[str, Any]] | list[bytes]) -> None:
        """Process batches of 100 records, 10 s each; report and tick after each."""
        for start in range(0, len(records), BATCH):
            for record in records[start : start + BATCH]:
                value = record if isinstance(record, bytes) else orjson.dumps(record)
                self.pipeline.process(
                    value, SourcePosition(f"events.{self.stream}", 0, self.offset)
                )
                self.offset += 1
            if self.engine is not None:
                self.engine.flush()
            self.clock.now += BATCH_S
            asyncio.run(self.reporter.report(self.stream))  # type: ignore[arg-type]
            self.manager.tick()

    def idle(self, seconds: float) -> None:
        """Time passes with no records (the health tick still reports every second)."""
        for _ in range(int(seconds)):
            self.clock.now += 1.0
            asyncio.run(self.reporter.report(self.stream))  # type: ignore[arg-type]
            self.manager.tick()

    def statuses(self, key: str) -> list[str]:
        self.manager.stop()
        # Updates (signals joining) aside: one firing, one resolved.
        return [b["status"] for b in self.bodies if key in keys_of(b) and b["status"] != "updated"]

    def fired(self, key: str) -> bool:
        wait_until(lambda: any(key in keys_of(b) for b in self.bodies), 5.0)
        return True

    def is_open(self, key: str) -> bool:
        book = self.manager._book  # noqa: SLF001 - the test's window into it
        return any(key in incident.signals for incident in book.open_incidents())


def product(i: int, clock: Clock, *, brand: bool = True) -> dict[str, Any]:
    record = {
        "event_id": f"e{i}", "product_id": f"p{i % 500}", "op": "upsert",
        "title": f"Casa kettle {i % 40}", "category": "home/kitchen", "price": 20.0,
        "currency": "USD", "stock": 5,
        "ts": format_ts(datetime.fromtimestamp(clock.now, tz=UTC)),
    }  # fmt: skip
    if brand:
        record["brand"] = "Casa"
    return record


def test_persistent_schema_drift_keeps_its_incident_open_until_presence_returns() -> None:
    flow = Flow("product", DriftEngine("product"), QualityScorer("product"))
    key = "product/schema_drift/brand"
    flow.run([product(i, flow.clock) for i in range(400)])
    assert not flow.is_open(key)
    # brand disappears from 80% of records, and stays gone for 5 minutes
    flow.run([product(i, flow.clock, brand=i % 5 == 0) for i in range(400, 3400)])
    assert flow.fired(key) and flow.is_open(key), "resolved while brand is still missing"
    flow.idle(2 * QUIET_S)  # a silent stream proves nothing either way: still open
    assert flow.is_open(key)
    # brand is back: the condition clears, and the incident resolves a quiet period later
    flow.run([product(i, flow.clock) for i in range(3400, 3600)])
    assert flow.is_open(key), "resolved before the quiet period passed"
    flow.idle(QUIET_S + 1)
    assert not flow.is_open(key)
    assert flow.statuses(key) == ["firing", "resolved"]


def test_persistent_semantic_drift_keeps_its_incident_open_until_it_clears() -> None:
    engine = DriftEngine("product", embedder=HashingEmbedder(dim=128), synchronous=True)
    flow = Flow("product", engine, QualityScorer("product"))
    key = "product/semantic_drift/category"
    records = sc.synthetic_products(3800)
    # titles land in category from 1200 to 2400: 12 blocks, two minutes of drift
    drifted = sc.drift_from(records[:2400], 1200, sc.titles_into_category) + records[2400:]
    flow.run(drifted[:1200])
    assert not flow.is_open(key)
    flow.run(drifted[1200:2400])
    assert flow.fired(key) and flow.is_open(key), "resolved while category still holds titles"
    assert sum(key in keys_of(b) and b["status"] == "firing" for b in flow.bodies) <= 1
    flow.run(drifted[2400:])  # categories again: clears, then resolves after the quiet period
    flow.idle(QUIET_S + 1)
    assert not flow.is_open(key)
    assert flow.statuses(key) == ["firing", "resolved"]


def test_a_quality_drop_stays_open_while_the_dimension_stays_low() -> None:
    scorer = QualityScorer("behavior", window=BATCH, detector_min_windows=10)
    flow = Flow("behavior", None, scorer)
    key = "behavior/quality_drop/user_id"
    steady = [r.value for r in generate("behavior", 2000, seed=11)]
    burst = FaultMix(behavior={"missing_user_id": 0.7})
    broken = [r.value for r in generate("behavior", 4000, seed=12, faults=burst)]
    flow.run(steady)
    flow.run(broken)  # 400 s of a broken producer: Page-Hinkley fired once and reset
    assert flow.fired(key) and flow.is_open(key), "resolved while user_id is still missing"
    flow.run([r.value for r in generate("behavior", 1000, seed=13)])
    flow.idle(QUIET_S + 1)
    assert not flow.is_open(key)
    assert flow.statuses(key) == ["firing", "resolved"]
