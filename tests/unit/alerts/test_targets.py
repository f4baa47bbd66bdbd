"""What each target kind receives, checked against the documented formats: PagerDuty
Events API v2 (``/v2/enqueue``) and Slack incoming webhooks with Block Kit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamguard.alerts import AlertTarget, IncidentBook, Notification, render
from streamguard.alerts.targets import SIGNATURE_HEADER, verify_signature

T0 = 1_800_000_000.0
PD_SEVERITIES = {"critical", "error", "warning", "info"}


def notifications() -> list[Notification]:
    book = IncidentBook(group_wait_s=0, quiet_period_s=10, update_interval_s=1)
    base = {"kind": "quality_drop", "stream": "behavior", "statistic": 0.4, "threshold": 0.98}
    book.observe({**base, "field": None, "dimension": "validity", "severity": "critical"}, T0)
    book.observe({**base, "field": "user_id", "severity": "warning"}, T0)
    book.observe_signals([], T0, streams=["behavior"], source="w", counts={"behavior": (0, 0, {})})
    fired = book.tick(T0)
    book.observe({**base, "field": "ts"}, T0 + 1)
    updated = book.tick(T0 + 2)
    book.observe_signals(
        [], T0 + 3, streams=["behavior"], source="w",
        counts={"behavior": (500, 450, {("missing_field", "user_id"): 450})},
    )  # fmt: skip
    resolved = book.tick(T0 + 14)
    out = fired + updated + resolved
    assert [n.status for n in out] == ["firing", "updated", "resolved"]
    return out


def body(n: Notification, target: AlertTarget) -> dict[str, Any] | None:
    rendered = render(n, target)
    return None if rendered is None else orjson.loads(rendered[0])


def test_pagerduty_events_v2_trigger_and_resolve() -> None:
    target = AlertTarget("pd", "pagerduty", secret="R0UTING-KEY")
    firing, updated, resolved = notifications()
    trigger = body(firing, target)
    assert trigger is not None
    assert set(trigger) == {"routing_key", "event_action", "dedup_key", "payload"}
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R0UTING-KEY"
    assert isinstance(trigger["dedup_key"], str) and 0 < len(trigger["dedup_key"]) <= 255
    assert trigger["dedup_key"] == firing.incident_id
    payload = trigger["payload"]
    # Required: summary (<= 1024 chars), source, severity (one of four).
    assert isinstance(payload["summary"], str) and 0 < len(payload["summary"]) <= 1024
    assert isinstance(payload["source"], str) and payload["source"]
    assert payload["severity"] in PD_SEVERITIES and payload["severity"] == "critical"
    # Optional: timestamp (ISO 8601), component, group, class (strings), custom_details.
    assert payload["timestamp"].endswith("Z")
    for key in ("component", "group", "class"):
        assert isinstance(payload[key], str)
    details = payload["custom_details"]
    assert isinstance(details, dict)
    assert {(s["kind"], s["field"]) for s in details["signals"]} == {
        ("quality_drop", None),
        ("quality_drop", "user_id"),
    }
    assert body(updated, target) is None  # updates are off for PagerDuty
    resolve = body(resolved, target)
    assert resolve == {
        "routing_key": "R0UTING-KEY",
        "event_action": "resolve",
        "dedup_key": firing.incident_id,
    }


def test_pagerduty_gets_a_reopen_as_a_trigger_of_the_same_dedup_key() -> None:
    reopened = Notification("updated", {**notifications()[0].body, "reopened": 1})
    sent = body(reopened, AlertTarget("pd", "pagerduty", secret="k"))
    assert sent is not None and sent["event_action"] == "trigger"
    assert sent["dedup_key"] == reopened.incident_id


def _check_blocks(message: dict[str, Any]) -> None:
    assert isinstance(message["text"], str) and message["text"]  # the notification fallback
    blocks = message["blocks"]
    assert isinstance(blocks, list) and 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"section", "context"}
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert isinstance(block["text"]["text"], str) and len(block["text"]["text"]) <= 3000
        else:
            assert 0 < len(block["elements"]) <= 10
            for element in block["elements"]:
                assert element["type"] == "mrkdwn" and isinstance(element["text"], str)


def test_slack_one_message_per_incident_with_signals_and_reasons_then_a_follow_up() -> None:
    target = AlertTarget("slack", "slack", "https://hooks.slack.com/services/T/B/x")
    firing, updated, resolved = notifications()
    first, later, last = (body(n, target) for n in (firing, updated, resolved))
    assert first is not None and later is not None and last is not None
    for message in (first, later, last):
        _check_blocks(message)
        assert firing.incident_id in message["blocks"][0]["text"]["text"]
    assert first["text"].startswith("[FIRING] behavior: 2 signals")
    signals = first["blocks"][1]["text"]["text"]
    assert signals.startswith("*Signals*") and "`user_id`" in signals and "`validity`" in signals
    assert later["text"].startswith("[UPDATED]")
    assert last["text"].startswith("[RESOLVED]")
    assert "500 records in, 450 quarantined" in last["blocks"][0]["text"]["text"]
    reasons = last["blocks"][2]["text"]["text"]
    assert reasons.startswith("*Top reasons*") and "`missing_field` on `user_id`: 450" in reasons


def test_generic_body_is_the_design_body_signed() -> None:
    target = AlertTarget("ops", "generic", "https://hooks.example/x", secret="s3cret")
    resolved = notifications()[2]
    rendered = render(resolved, target)
    assert rendered is not None
    raw, headers = rendered
    assert verify_signature(raw, headers[SIGNATURE_HEADER], "s3cret")
    sent = orjson.loads(raw)
    assert sent["status"] == "resolved" and sent["records_in"] == 500
    assert sent["records_quarantined"] == 450
    assert sent["top_reasons"] == [{"code": "missing_field", "field": "user_id", "count": 450}]
    assert sent["duration_s"] == 14.0


@pytest.mark.parametrize("kind", ["generic", "slack", "pagerduty"])
def test_a_linked_incident_goes_to_no_target(kind: str) -> None:
    linked = Notification("firing", notifications()[0].body, notify=False)
    target = AlertTarget("t", kind, "https://hooks.example/x", secret="k")  # type: ignore[arg-type]
    assert render(linked, target) is not None  # rendered; the delivery skips it
    assert linked.notify is False
