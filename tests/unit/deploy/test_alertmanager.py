"""The shipped Alertmanager config against a real Alertmanager: one notification per
stream, and data-quality alerts inhibited while the workers are down, not ready or lagging.

Alerts are posted straight to Alertmanager's v2 API (as Prometheus would send them).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from streamguard.runtime.ports import free_port
from tests.unit.alert_receiver import Receiver, wait_until
from tests.unit.deploy.test_prometheus_rules import ALERTMANAGER, tool


def alert(name: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "job": "streamguard", "severity": "warning", **labels},
        "annotations": {"summary": name},
    }


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    """The shipped config, pointed at a test receiver, with a one-second group wait.

    Not zero: with no wait Alertmanager may flush a group as soon as its first alert is
    inserted, before the other alerts of the same POST join it (seen in CI).
    """
    receiver = Receiver()
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    for receiver_config in config["receivers"]:
        for hook in receiver_config.get("webhook_configs", []):
            hook["url"] = receiver.url("/alertmanager")
    config["route"]["group_wait"] = "1s"
    for route in config["route"].get("routes", []):
        route["group_wait"] = "1s"
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with (tmp_path / "alertmanager.log").open("w") as log:
        process = subprocess.Popen(
            [
                tool("prometheus-alertmanager"),
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout_s=30)
        yield url, receiver
    finally:
        process.terminate()
        process.wait(timeout=10)
        receiver.stop()


def test_alerts_of_one_stream_arrive_in_one_notification(
    alertmanager: tuple[str, Receiver],
) -> None:
    url, receiver = alertmanager
    posted = [
        alert("StreamGuardQualityScoreLow", stream="behavior"),
        alert("StreamGuardQuarantineRateSpike", stream="behavior"),
        alert("StreamGuardQualityScoreLow", stream="product"),
    ]
    httpx.post(f"{url}/api/v2/alerts", json=posted, timeout=5).raise_for_status()
    wait_until(lambda: receiver.count() >= 2, timeout_s=30)
    bodies = receiver.bodies()
    assert len(bodies) == 2, "one notification per stream"
    groups = {
        body["groupLabels"].get("stream"): sorted(a["labels"]["alertname"] for a in body["alerts"])
        for body in bodies
    }
    assert groups == {
        "behavior": ["StreamGuardQualityScoreLow", "StreamGuardQuarantineRateSpike"],
        "product": ["StreamGuardQualityScoreLow"],
    }


def test_quality_alerts_are_inhibited_while_workers_are_not_ready(
    alertmanager: tuple[str, Receiver],
) -> None:
    url, _ = alertmanager
    posted = [
        alert("StreamGuardWorkerNotReady", instance="w1:9108", severity="critical"),
        alert("StreamGuardQualityScoreLow", stream="behavior"),
        # Another deployment's quality alert is not this job's symptom.
        alert("StreamGuardQualityScoreLow", stream="behavior", job="other"),
    ]
    httpx.post(f"{url}/api/v2/alerts", json=posted, timeout=5).raise_for_status()

    def states() -> dict[tuple[str, str], str]:
        answer = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
        return {
            (a["labels"]["alertname"], a["labels"]["job"]): a["status"]["state"] for a in answer
        }

    wait_until(lambda: len(states()) == 3, timeout_s=30)
    wait_until(lambda: states()[("StreamGuardQualityScoreLow", "streamguard")] == "suppressed", 30)
    got = states()
    assert got[("StreamGuardWorkerNotReady", "streamguard")] == "active"
    assert got[("StreamGuardQualityScoreLow", "other")] == "active"
