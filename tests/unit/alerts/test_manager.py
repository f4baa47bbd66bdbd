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
        "stream": "behavior",
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
    manager = AlertManager(
        list(targets),
        metrics=AlertMetrics(registry),
        clock=clock or Clock(),
        trust_env=False,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        **kwargs,
    )
    return manager, registry


def test_one_firing_per_group_not_per_finding(receiver: Receiver) -> None:
    manager, registry = manager_for(AlertTarget("ops", "generic", receiver.url(), secret=SECRET))
    manager.start()
    for _ in range(50):
        manager.submit(finding("price"))
    manager.submit(finding("currency"))
    manager.submit(finding(None, kind="quality_drop", dimension="validity"))
    manager.submit(finding(None, kind="quality_drop", dimension="timeliness"))
    wait_until(lambda: receiver.count() == 4)
    assert manager.open_incidents == 4
    manager.stop()  # delivers anything still queued: the count below is final
    bodies = receiver.bodies()
    assert [b["status"] for b in bodies] == ["firing"] * 4
    assert [b["group_key"] for b in bodies] == [
        "behavior/schema_drift/price",
        "behavior/schema_drift/currency",
        "behavior/quality_drop/validity",
        "behavior/quality_drop/timeliness",
    ]
    assert (
        registry.get_sample_value("streamguard_alert_findings_total", {"kind": "schema_drift"})
        == 51
    )
    assert (
        registry.get_sample_value("streamguard_alert_open_incidents", {"kind": "quality_drop"}) == 2
    )


def test_generic_body_follows_design_md(receiver: Receiver) -> None:
    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url("/in"), secret=SECRET))
    with manager:
        manager.submit(finding("price", severity="critical"))
        wait_until(lambda: receiver.count() == 1)
    request = receiver.requests[0]
    body = request.json()
    assert request.path == "/in"
    assert set(body) == {
        "status", "group_key", "kind", "stream", "field", "severity", "summary",
        "findings", "started_at", "ended_at",
    }  # fmt: skip
    assert (body["kind"], body["stream"], body["field"]) == ("schema_drift", "behavior", "price")
    assert body["severity"] == "critical"
    assert body["findings"][0]["position"] == {
        "topic": "events.behavior",
        "partition": 0,
        "offset": 7,
    }
    assert body["started_at"] == "2027-01-15T08:00:00.000Z" and body["ended_at"] is None
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
    assert resolved["group_key"] == firing["group_key"]
    assert resolved["started_at"] == firing["started_at"]
    assert resolved["ended_at"] == "2027-01-15T08:01:51.000Z"
    assert len(resolved["findings"]) == 2


def test_explicit_clear_resolves_now(receiver: Receiver) -> None:
    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url()), quiet_period_s=3600)
    with manager:
        manager.submit(finding("price"))
        assert manager.clear("behavior", "schema_drift", "price") is True
        assert manager.clear("behavior", "schema_drift", "price") is False
        manager.submit(finding("price"))  # a new incident
        wait_until(lambda: receiver.count() == 3)
    assert [b["status"] for b in receiver.bodies()] == ["firing", "resolved", "firing"]


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
    manager, _ = manager_for(target, clock=clock, quiet_period_s=10)
    with manager:
        manager.submit(finding("price", severity="critical"))
        clock.now += 11
        manager.tick()
        wait_until(lambda: receiver.count() == 2)
    trigger, resolve = receiver.bodies()
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["routing_key"] == resolve["routing_key"] == "R0UTING"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "behavior/schema_drift/price"
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "streamguard"
    assert payload["component"] == "behavior" and payload["class"] == "price"
    assert "payload" not in resolve


def test_slack_gets_an_incoming_webhook_payload(receiver: Receiver) -> None:
    clock = Clock()
    manager, _ = manager_for(
        AlertTarget("slack", "slack", receiver.url("/services/T/B/x")),
        clock=clock,
        quiet_period_s=1,
    )
    with manager:
        manager.submit(finding("price"))
        clock.now += 2
        manager.tick()
        wait_until(lambda: receiver.count() == 2)
    firing, resolved = receiver.bodies()
    assert firing["text"].startswith("[FIRING] schema_drift on behavior.price")
    assert resolved["text"].startswith("[RESOLVED]")
    assert firing["blocks"][0]["type"] == "section"
    assert "behavior.price" in firing["blocks"][0]["text"]["text"]


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
        for field in ("a", "b", "c", "d"):
            manager.submit(finding(field))
        wait_until(lambda: receiver.count() == 2)
        assert manager.open_incidents == 2
    labels = {"target": "ops", "reason": "incident_limit"}
    assert registry.get_sample_value("streamguard_alert_notifications_dropped_total", labels) == 2


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
    sent = request.json()["findings"][0]
    assert sent["statistic"] == 0.5 and sent["fields"] == "{'price'}"  # str() of a set
    assert sent["examples"].startswith('[{"event_id":"e1"') and sent["examples"].endswith("…")
    assert isinstance(sent["position"], str)


def test_drift_engine_findings_are_accepted_as_objects(receiver: Receiver) -> None:
    class EngineFinding:  # the drift engine's Finding has as_dict() with the same keys
        def as_dict(self) -> dict[str, Any]:
            return finding("title", kind="semantic_drift")

    manager, _ = manager_for(AlertTarget("ops", "generic", receiver.url()))
    with manager:
        manager.submit_many([EngineFinding(), EngineFinding()])
        wait_until(lambda: receiver.count() == 1)
    assert receiver.bodies()[0]["group_key"] == "behavior/semantic_drift/title"
