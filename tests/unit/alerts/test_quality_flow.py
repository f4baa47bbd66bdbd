"""The whole in-process alert path, as the worker wires it: pipeline -> QualityScorer ->
drain_findings -> AlertManager.submit -> a real HTTP receiver; gauges on /metrics-style
exposition. No Kafka here (the worker end-to-end test covers that)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from streamguard.alerts import SIGNATURE_HEADER, AlertManager, AlertTarget
from streamguard.alerts.targets import verify_signature
from streamguard.events.records import SourcePosition
from streamguard.observability.alerts import AlertMetrics
from streamguard.observability.quality import QualityMetrics
from streamguard.pipeline import RecordPipeline
from streamguard.quality import QualityScorer
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.validate.dedupe import DedupeIndex
from tests.unit.alert_receiver import Receiver, wait_until

START = datetime(2026, 11, 1, tzinfo=UTC)
SECRET = "flow-secret"


def now() -> float:
    return START.timestamp() + 60.0


def test_a_fault_burst_pages_once_and_shows_in_the_gauges() -> None:
    registry = CollectorRegistry()
    quality_metrics = QualityMetrics(registry)
    scorer = QualityScorer("behavior", clock=now, window=100, detector_min_windows=10)
    pipeline = RecordPipeline(
        "behavior", clock=now, dedupe=DedupeIndex(3600, 10_000), observers=[scorer]
    )
    receiver = Receiver()
    alert_now = [now()]
    manager = AlertManager(
        [AlertTarget("ops", "generic", receiver.url(), secret=SECRET)],
        metrics=AlertMetrics(registry),
        clock=lambda: alert_now[0],
        trust_env=False,
        group_wait_s=10,
    )
    manager.start()
    try:
        steady = generate("behavior", 3000, seed=11, faults=FaultMix.uniform(0.05, "behavior"))
        burst = generate(
            "behavior", 1500, seed=12, faults=FaultMix(behavior={"missing_user_id": 0.7})
        )
        offset = 0
        for batch in (list(steady), list(burst)):
            # One worker batch: process, then drain findings and export gauges.
            for record in batch:
                pipeline.process(record.value, SourcePosition("events.behavior", 0, offset))
                offset += 1
            manager.submit_many(scorer.drain_findings())
            quality_metrics.observe(scorer.snapshot())
        alert_now[0] += 10  # the group wait: the burst's signals page together
        manager.tick()
        wait_until(lambda: receiver.count() >= 1)
        manager.stop()
        # One firing for the stream's episode (validity, completeness, user_id... all in
        # it), not one per field, finding or record.
        bodies = receiver.bodies()
        assert [b["status"] for b in bodies] == ["firing"], bodies
        names = {s["field"] or s["dimension"] for s in bodies[0]["signals"]}
        assert {"validity", "user_id"} <= names, names
        for request in receiver.requests:
            assert verify_signature(request.body, request.headers[SIGNATURE_HEADER.lower()], SECRET)
        exposition = generate_latest(registry).decode()
        composite = registry.get_sample_value(
            "streamguard_quality_score",
            {"stream": "behavior", "dimension": "composite", "field": "_all"},
        )
        assert composite is not None and composite < 0.9
        assert 'streamguard_quality_drop_findings_total{stream="behavior"}' in exposition
        assert "streamguard_alert_notifications_sent_total" in exposition
    finally:
        manager.stop()
        receiver.stop()
