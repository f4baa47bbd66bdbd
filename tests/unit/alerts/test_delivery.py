"""Delivery against a real local HTTP receiver: retries, outages, rate limits, the outbox."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streamguard.alerts import AlertManager, AlertTarget, targets_from_settings
from streamguard.config import load_settings
from streamguard.observability.alerts import AlertMetrics
from streamguard.runtime.ports import free_port
from tests.unit.alert_receiver import Receiver, wait_until

SECRET = "whsec-never-log-me-42"
TOKEN = "T0KEN-in-the-url-77"


def finding(field: str) -> dict[str, Any]:
    return {"kind": "anomaly", "stream": "behavior", "field": field, "severity": "warning"}


def make(target: AlertTarget, **kwargs: Any) -> tuple[AlertManager, CollectorRegistry]:
    registry = CollectorRegistry()
    # One incident per finding (no correlation window), sent at once (no group wait).
    options: dict[str, Any] = {
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "seed": 1,
        "group_wait_s": 0,
        "correlation_window_s": 0,
    }
    options.update(kwargs)
    manager = AlertManager([target], metrics=AlertMetrics(registry), trust_env=False, **options)
    return manager, registry


def field_of(body: dict[str, Any]) -> str:
    return str(body["signals"][0]["field"])


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_retries_after_500s_then_delivers() -> None:
    receiver = Receiver(statuses=[500, 503, 200])
    try:
        manager, registry = make(AlertTarget("ops", "generic", receiver.url()))
        with manager:
            manager.submit(finding("price"))
            wait_until(
                lambda: (
                    sample(
                        registry,
                        "streamguard_alert_notifications_sent_total",
                        target="ops",
                        status="firing",
                    )
                    == 1
                )  # fmt: skip
            )
        assert receiver.count() == 3
        assert len({r.body for r in receiver.requests}) == 1  # the same notification, resent
        assert sample(registry, "streamguard_alert_delivery_errors_total",
                      target="ops", reason="http_5xx") == 2  # fmt: skip
        assert sample(registry, "streamguard_alert_notifications_failed_total", target="ops") == 0
    finally:
        receiver.stop()


def test_receiver_down_then_back() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    manager, registry = make(AlertTarget("ops", "generic", url, max_attempts=1000))
    with manager:
        manager.submit(finding("price"))
        manager.submit(finding("stock"))
        wait_until(
            lambda: (
                sample(
                    registry,
                    "streamguard_alert_delivery_errors_total",
                    target="ops",
                    reason="connect",
                )
                >= 2
            )  # fmt: skip
        )
        assert manager.outbox_depth("ops") == 2  # nothing lost while the receiver is down
        receiver = Receiver(port)  # back, on the same address
        try:
            wait_until(lambda: receiver.count() == 2)
            assert [field_of(b) for b in receiver.bodies()] == ["price", "stock"]  # in order
            wait_until(lambda: manager.outbox_depth("ops") == 0)
        finally:
            receiver.stop()
    assert sample(registry, "streamguard_alert_outbox_notifications", target="ops") == 0


def test_gives_up_after_max_attempts_and_on_4xx() -> None:
    receiver = Receiver(statuses=[500, 500, 500, 400])
    try:
        manager, registry = make(AlertTarget("ops", "generic", receiver.url(), max_attempts=3))
        with manager:
            manager.submit(finding("price"))  # 500 x3: gives up
            manager.submit(finding("stock"))  # 400: final at once
            wait_until(
                lambda: (
                    sample(registry, "streamguard_alert_notifications_failed_total", target="ops")
                    == 2
                )  # fmt: skip
            )
        assert receiver.count() == 4
        assert sample(registry, "streamguard_alert_delivery_errors_total",
                      target="ops", reason="http_4xx") == 1  # fmt: skip
    finally:
        receiver.stop()


def test_rate_limit_holds_back_the_excess() -> None:
    now = [0.0]
    receiver = Receiver()
    try:
        target = AlertTarget("ops", "generic", receiver.url(), rate_limit_per_minute=60, burst=2)
        manager, registry = make(target, monotonic=lambda: now[0])
        with manager:
            for field in ("a", "b", "c", "d"):
                manager.submit(finding(field))
            wait_until(
                lambda: (
                    receiver.count() == 2
                    and sample(registry, "streamguard_alert_rate_limited_total", target="ops") >= 1
                )
            )
            # The clock stands still: the other two wait for tokens.
            assert manager.outbox_depth("ops") == 2 and receiver.count() == 2
            now[0] += 1.0  # one token (60 per minute)
            manager.wake()
            wait_until(lambda: receiver.count() == 3)
            assert manager.outbox_depth("ops") == 1
            now[0] += 1.0
            manager.wake()
            wait_until(lambda: receiver.count() == 4)
        assert [field_of(b) for b in receiver.bodies()] == ["a", "b", "c", "d"]
    finally:
        receiver.stop()


def test_a_hanging_receiver_never_blocks_submit_and_the_outbox_stays_bounded() -> None:
    receiver = Receiver(hang=True)
    try:
        target = AlertTarget("ops", "generic", receiver.url(), timeout_s=5.0)
        manager, registry = make(target, max_outbox=5)
        manager.start()
        started = time.perf_counter()
        for i in range(200):
            manager.submit(finding(f"f{i}"))
        elapsed = time.perf_counter() - started
        # 200 submits while the receiver holds the first request: far below one timeout.
        assert elapsed < 2.0, elapsed
        wait_until(lambda: receiver.count() == 1)
        assert manager.outbox_depth("ops") <= 5 + 1  # +1: the request in flight
        dropped = sample(registry, "streamguard_alert_notifications_dropped_total",
                         target="ops", reason="outbox_full")  # fmt: skip
        assert dropped >= 200 - 6
        waiting_bytes = sample(registry, "streamguard_alert_outbox_bytes", target="ops")
        assert 0 < waiting_bytes < 5 * 4096
        receiver.stop()  # releases the hung request; nothing will answer any more
        manager.stop(timeout_s=0.2)
        shutdown = sample(registry, "streamguard_alert_notifications_dropped_total",
                          target="ops", reason="shutdown")  # fmt: skip
        assert shutdown >= 1  # what was still queued is reported, not silently lost
        assert sample(registry, "streamguard_alert_outbox_notifications", target="ops") == 0
    finally:
        receiver.stop()


def test_submit_from_many_threads() -> None:
    receiver = Receiver()
    try:
        manager, _ = make(AlertTarget("ops", "generic", receiver.url()))
        with manager:
            threads = [
                threading.Thread(target=lambda: [manager.submit(finding(f)) for f in "abcde"])
                for _ in range(8)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wait_until(lambda: receiver.count() == 5)
        assert sorted(field_of(b) for b in receiver.bodies()) == list("abcde")
    finally:
        receiver.stop()


def test_secrets_and_urls_stay_out_of_logs_metrics_and_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/{TOKEN}"
    target = AlertTarget("ops", "generic", url, secret=SECRET, max_attempts=2)
    caplog.set_level(logging.DEBUG)
    manager, registry = make(target)
    with manager:
        manager.submit(finding("price"))
        wait_until(
            lambda: (
                sample(registry, "streamguard_alert_notifications_failed_total", target="ops") == 1
            )  # fmt: skip
        )
    exposition = generate_latest(registry).decode()
    for text in (caplog.text, exposition, repr(target), str(target)):
        assert SECRET not in text and TOKEN not in text
    assert "alert target ops" in caplog.text  # the logs do say which target failed


def test_targets_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMGUARD_WEBHOOK_URL", "STREAMGUARD_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMGUARD_WEBHOOK_URL", f"https://hooks.example/{TOKEN}")
    monkeypatch.setenv("STREAMGUARD_WEBHOOK_SECRET", SECRET)
    config = tmp_path / "streamguard.toml"
    config.write_text(
        "[streamguard]\nalert_quiet_period_s = 120\n"
        '[[streamguard.alert_targets]]\nname = "slack-dq"\nkind = "slack"\n'
        f'url = "https://hooks.slack.com/services/{TOKEN}"\nrate_limit_per_minute = 10\n'
        '[[streamguard.alert_targets]]\nname = "pager"\nkind = "pagerduty"\n'
        f'secret = "{SECRET}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    targets = targets_from_settings(settings)
    assert [(t.name, t.kind) for t in targets] == [
        ("webhook", "generic"),
        ("slack-dq", "slack"),
        ("pager", "pagerduty"),
    ]
    assert targets[0].secret == SECRET and targets[1].rate_limit_per_minute == 10
    assert targets[2].url == "https://events.pagerduty.com/v2/enqueue"
    assert settings.alert_quiet_period_s == 120
    for text in (repr(settings), str(settings), str(settings.redacted()), repr(targets)):
        assert SECRET not in text and TOKEN not in text
    assert settings.redacted()["webhook_url"] == "**********"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name", "kind": "generic", "url": "http://x"}, "name"),
        ({"name": "a", "kind": "email", "url": "http://x"}, "kind"),
        ({"name": "a", "kind": "generic", "url": f"ftp://{TOKEN}"}, "http"),
        ({"name": "a", "kind": "pagerduty"}, "routing key"),
        ({"name": "a", "kind": "generic", "url": "http://x", "burst": 0}, "burst"),
    ],
)
def test_bad_targets_are_refused_without_echoing_the_url(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        AlertTarget(**kwargs)
    assert TOKEN not in str(info.value)


def test_a_receiver_that_never_answers_times_out_and_is_retried() -> None:
    receiver = Receiver(hang=True)
    try:
        target = AlertTarget("ops", "generic", receiver.url(), timeout_s=0.2, max_attempts=100)
        manager, registry = make(target)
        manager.start()
        manager.submit(finding("price"))
        wait_until(lambda: receiver.count() >= 2)  # the same notification, tried again
        assert sample(registry, "streamguard_alert_delivery_errors_total",
                      target="ops", reason="timeout") >= 1  # fmt: skip
        assert manager.outbox_depth("ops") == 1
        receiver.stop()
        manager.stop(timeout_s=0.1)
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("status", "reason", "retried"),
    [
        (429, "http_429", True),
        (408, "http_4xx", True),
        (301, "other", False),
        (404, "http_4xx", False),
    ],
)
def test_which_answers_are_retried(status: int, reason: str, retried: bool) -> None:
    receiver = Receiver(statuses=[status])
    try:
        manager, registry = make(AlertTarget("ops", "generic", receiver.url()))
        with manager:
            manager.submit(finding("price"))
            wait_until(
                lambda: (
                    sample(
                        registry,
                        "streamguard_alert_notifications_sent_total",
                        target="ops",
                        status="firing",
                    )  # fmt: skip
                    + sample(registry, "streamguard_alert_notifications_failed_total", target="ops")
                    == 1
                )
            )
        assert receiver.count() == (2 if retried else 1)
        assert sample(registry, "streamguard_alert_delivery_errors_total",
                      target="ops", reason=reason) == 1  # fmt: skip
    finally:
        receiver.stop()
