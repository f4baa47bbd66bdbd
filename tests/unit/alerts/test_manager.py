"""The alert manager against a real local HTTP receiver: grouping, resolve, kinds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamguard.alerts import (
    SIGNATURE_HEADER,
    AlertManager,
    AlertTarget,
    verify_signature,
)
from streamguard.observability.alerts import AlertMetrics
from tests.unit.alert_receiver import Receiver, wait_until

SECRET = "whsec-test-0123"


def finding(
    field: str | None = "price", kind: str = "schema_drift", **extra: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "stream": extra.pop("stream", "behavior"),
        "field": field,
        "severity": "warning",
        "statistic": 0.42,
        "threshold": 0.2,
        "window": 500,
        "examples": [{"event_id": "e1"}],
        "position": {"topic": "events.behavior", "partition": 0, "offset": 7},
        "detected_at": "2026-11-23T10:00:00.000Z",
        **extra,
    }


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def manager_for(
    *targets: AlertTarget, clock: Clock | None = None, **kwargs: Any
) -> tuple[AlertManager, CollectorRegistry]:
    registry = CollectorRegistry()
    options: dict[str, Any] = {"group_wait_s": 0}  # sent at once unless a test waits
    options.update(kwargs)
    manager = AlertManager(
        list(targets),
        metrics=AlertMetrics(registry),
        clock=clock or Clock(),
        trust_env=False,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        **options,
    )
    return manager, registry


def test_one_firing_per_stream_episode_not_per_field_or_kind(receiver: Receiver) -> None:
    clock = Clock()
    manager, registry = manager_for(
        AlertTarget("ops", "generic", receiver.url(), secret=SECRET), clock=clock, group_wait_s=5
    )
    manager.start()
    for _ in range(50):
        manager.submit(finding("price"))
    manager.submit(finding("currency"))
    manager.submit(finding(None, kind="quality_drop", dimension="validity"))
    manager.submit(finding(None, kind="quality_drop", dimension="timeliness"))
    manager.submit(finding("title", stream="product"))
    clock.now += 5
    manager.tick()
    wait_until(lambda: receiver.count() == 2)
    assert manager.open_incidents == 2
    manager.stop()  # delivers anything still queued: the count below is final
    bodies = receiver.bodies()
    assert [b["status"] for b in bodies] == ["firing"] * 2
    behavior = next(b for b in bodies if b["stream"] == "behavior")
    assert [(s["kind"], s["field"] or s["dimension"]) for s in behavior["signals"]] == [
        ("schema_drift", "price"),
        ("schema_drift", "currency"),
        ("quality_drop", "validity"),
        ("quality_drop", "timeliness"),
    ]
    assert (
        registry.get_sample_value("streamguard_alert_findings_total", {"kind": "schema_drift"})
        == 52
    )
    labels = {"stream": "behavior", "severity": "warning"}
    assert registry.get_sample_value("streamguard_incidents_open", labels) == 1
    assert registry.get_sample_value("streamguard_incident_signals", {"stream": "behavior"}) == 4
    assert (
        registry.get_sample_value("streamguard_incident_notifications_total", {"status": "firing"})
        == 2
    )


def test_generic_body_follows_design_md(receiver: Receiver) -> None:
    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url("/in"), secret=SECRET))
    with manager:
        manager.submit(finding("price", severity="critical"))
        wait_until(lambda: receiver.count() == 1)
    request = receiver.requests[0]
    body = request.json()
    assert request.path == "/in"
    design = {
        "status", "incident_id", "group_key", "stream", "severity", "summary", "signals",
        "top_reasons", "examples", "records_in", "records_quarantined", "related",
        "started_at", "ended_at", "links",
    }  # fmt: skip
    assert design <= set(body) and set(body) - design <= {"duration_s", "reopened"}
    assert body["status"] == "firing" and body["stream"] == "behavior"
    assert body["severity"] == "critical"
    assert isinstance(body["incident_id"], str) and len(body["incident_id"]) == 36  # a uuid
    (signal,) = body["signals"]
    assert {"kind", "field", "statistic", "threshold", "since"} <= set(signal)
    assert (signal["kind"], signal["field"], signal["statistic"]) == ("schema_drift", "price", 0.42)
    assert body["examples"] == [{"topic": "events.behavior", "partition": 0, "offset": 7}]
    assert body["started_at"] == "2027-01-15T08:00:00.000Z" and body["ended_at"] is None
    assert isinstance(body["links"], dict) and body["related"] == []
    assert request.headers["content-type"] == "application/json"


def test_resolves_after_the_quiet_period(receiver: Receiver) -> None:
    clock = Clock()
    manager, _ = manager_for(
        AlertTarget("ops", "generic", receiver.url()), clock=clock, quiet_period_s=60
    )
    with manager:
        manager.submit(finding("price"))
        clock.now += 50
        manager.submit(finding("price"))  # refreshes the incident: still one
        clock.now += 50
        manager.tick()  # only 50 s quiet: stays open
        assert manager.open_incidents == 1
        clock.now += 11
        manager.tick()
        assert manager.open_incidents == 0
        wait_until(lambda: receiver.count() == 2)
    firing, resolved = receiver.bodies()
    assert (firing["status"], resolved["status"]) == ("firing", "resolved")
    assert resolved["incident_id"] == firing["incident_id"]
    assert resolved["started_at"] == firing["started_at"]
    assert resolved["ended_at"] == "2027-01-15T08:01:51.000Z"
    assert resolved["duration_s"] == 111.0


def test_the_housekeeping_thread_resolves_on_its_own(receiver: Receiver) -> None:
    clock = Clock()
    manager, _ = manager_for(
        AlertTarget("ops", "generic", receiver.url()),
        clock=clock,
        quiet_period_s=5,
        tick_interval_s=0.02,
    )
    with manager:
        manager.submit(finding("price"))
        clock.now += 6
        wait_until(lambda: receiver.count() == 2)
    assert receiver.bodies()[1]["status"] == "resolved"


def test_incident_records_are_kept_for_the_topic_and_taken_over(receiver: Receiver) -> None:
    clock = Clock()
    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url()), clock=clock)
    with manager:
        manager.submit(finding("price"))
        records = manager.drain_records()
        assert [r["status"] for r in records] == ["firing"] and manager.drain_records() == []
        manager.forget(["behavior"])
        assert manager.open_incidents == 0
        assert manager.restore(records) == 1
        manager.submit(finding("price"))  # the same episode: no second page
        wait_until(lambda: receiver.count() == 1)
    assert receiver.count() == 1


def test_signature_verifies_with_the_secret_only(receiver: Receiver) -> None:
    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url(), secret=SECRET))
    with manager:
        manager.submit(finding())
        wait_until(lambda: receiver.count() == 1)
    request = receiver.requests[0]
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert header.startswith("sha256=")
    assert verify_signature(request.body, header, SECRET)
    assert not verify_signature(request.body, header, "wrong-secret")
    assert not verify_signature(request.body + b" ", header, SECRET)


def test_no_signature_without_a_secret(receiver: Receiver) -> None:
    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url()))
    with manager:
        manager.submit(finding())
        wait_until(lambda: receiver.count() == 1)
    assert SIGNATURE_HEADER.lower() not in receiver.requests[0].headers


def test_pagerduty_trigger_then_resolve_share_the_dedup_key(receiver: Receiver) -> None:
    clock = Clock()
    target = AlertTarget("pd", "pagerduty", receiver.url("/v2/enqueue"), secret="R0UTING")
    manager, _ = manager_for(
        target, clock=clock, quiet_period_s=10, update_interval_s=1, group_wait_s=0
    )
    with manager:
        manager.submit(finding("price", severity="critical"))
        clock.now += 2
        manager.submit(finding("stock"))  # joins: an update, which PagerDuty does not get
        manager.tick()
        clock.now += 11
        manager.tick()
        wait_until(lambda: receiver.count() == 2)
        manager.wake()
    trigger, resolve = receiver.bodies()
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["routing_key"] == resolve["routing_key"] == "R0UTING"
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert len(trigger["dedup_key"]) == 36  # the incident id
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "streamguard"
    assert payload["component"] == "behavior"
    assert payload["custom_details"]["signals"][0]["field"] == "price"
    assert "payload" not in resolve


def test_every_target_gets_every_notification(receiver: Receiver) -> None:
    other = Receiver()
    try:
        manager, registry = manager_for(
            AlertTarget("a", "generic", receiver.url()), AlertTarget("b", "slack", other.url())
        )
        with manager:
            manager.submit(finding())
            wait_until(lambda: receiver.count() == 1 and other.count() == 1)
        for name in ("a", "b"):
            labels = {"target": name, "status": "firing"}
            assert (
                registry.get_sample_value("streamguard_alert_notifications_sent_total", labels) == 1
            )
    finally:
        other.stop()


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("not a dict", TypeError),
        ({"stream": "behavior"}, ValueError),
        ({"kind": "anomaly", "stream": ""}, ValueError),
        ({"kind": "anomaly", "stream": "behavior", "field": 3}, ValueError),
    ],
)
def test_malformed_findings_are_refused_clearly(bad: Any, error: type[Exception]) -> None:
    manager, _ = manager_for(AlertTarget("ops", "generic", "http://127.0.0.1:9/x"))
    with pytest.raises(error, match="finding"):
        manager.submit(bad)
    assert manager.open_incidents == 0


def test_too_many_open_incidents_are_refused_and_counted(receiver: Receiver) -> None:
    manager, registry = manager_for(AlertTarget("ops", "generic", receiver.url()), max_open=2)
    with manager:
        for stream in ("a", "b", "c", "d"):
            manager.submit(finding("price", stream=stream))
        wait_until(lambda: receiver.count() == 2)
        assert manager.open_incidents == 2
    labels = {"target": "ops", "reason": "incident_limit"}
    assert registry.get_sample_value("streamguard_alert_notifications_dropped_total", labels) == 2
    # Streams outside the known ones share one label value: cardinality stays bounded.
    assert registry.get_sample_value("streamguard_incident_signals", {"stream": "_other"}) == 2


def test_findings_from_other_engines_are_made_json_safe_and_bounded(receiver: Receiver) -> None:
    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url()))
    huge = {"event_id": "e1", "raw": "x" * 100_000}
    odd = finding(
        "price",
        statistic=np.float32(0.5),
        examples=[huge] * 10,
        fields={"price"},
        position=object(),
    )
    with manager:
        manager.submit(odd)
        wait_until(lambda: receiver.count() == 1)
    request = receiver.requests[0]
    assert len(request.body) < 10_000
    assert request.json()["signals"][0]["statistic"] == 0.5
    assert request.json()["examples"] == []


def test_drift_engine_findings_are_accepted_as_objects(receiver: Receiver) -> None:
    class EngineFinding:  # the drift engine's Finding has as_dict() with the same keys
        def as_dict(self) -> dict[str, Any]:
            return finding("title", kind="semantic_drift")

    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url()))
    with manager:
        manager.submit_many([EngineFinding(), EngineFinding()])
        wait_until(lambda: receiver.count() == 1)
    assert receiver.bodies()[0]["signals"][0]["kind"] == "semantic_drift"
