"""The console in a real browser: headless Chromium over the DevTools Protocol loads
every page against a worker fed by the generator with a fault burst, on the embedded
broker, with Prometheus scraping the worker.

Each page must load without a JavaScript console error (the pages carry no script at
all; a 404 for a resource would show as an error too), within a second, and show what
the topics hold: the stream names, the incident the burst opened, a quarantined
record's reason. Screenshots go to ``test-artefacts/console/`` (paths printed).
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streamguard.console.server import ConsoleServer, build_app
from streamguard.console.store import TopicRoles
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.synthetic import generate
from streamguard.testing.browser import Browser
from streamguard.testing.worker_harness import Topics, new_worker, produce, wait_until
from tests.integration.test_alerts_e2e import SHORT, healthy_then_burst
from tests.integration.test_dashboards_prometheus import PrometheusServer

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = (
    Path(os.environ.get("STREAMGUARD_TEST_ARTEFACTS", REPO_ROOT / "test-artefacts")) / "console"
)
CLIENT = {"request_timeout_ms": 5000, "retry_backoff_ms": 50, "metadata_max_age_ms": 5000}
PAGES = {
    "streams": "/",
    "incidents": "/incidents",
    "findings": "/findings",
    "inventory": "/inventory",
    "quarantine": "/quarantine",
    "recommendations": "/recommendations",
}


def api(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def roles_of(topics: Topics) -> TopicRoles:
    return TopicRoles(
        quarantine=topics.quarantine,
        findings=topics.findings,
        incidents=topics.incidents,
        inventory=topics.inventory,
        recommendations=topics.recommendations,
        streams={topics.behavior: "behavior", topics.product: "product"},
    )


async def browse(base: str, workdir: Path) -> dict[str, tuple[str, float, list[str]]]:
    """Each page: its rendered text, load time and console errors; screenshots written."""
    seen = {}
    async with Browser.launch(workdir) as browser:
        page = await browser.new_page()
        await page.load(base + "/healthz")  # the browser's first navigation warms it up
        page.errors.clear()
        for name, path in PAGES.items():
            elapsed = await page.load(base + path)
            text = await page.text()
            shot = await page.screenshot(ARTEFACTS / f"{name}.png")
            print(f"console page {path}: {elapsed:.2f} s, screenshot {shot}")
            seen[name] = (text, elapsed, list(page.errors))
            page.errors.clear()
    return seen


def test_console_pages_in_headless_chromium(broker: EmbeddedBroker, tmp_path: Path) -> None:
    topics, worker = new_worker(
        broker.bootstrap,
        tmp_path,
        **SHORT,
        STREAMGUARD_INVENTORY_PUBLISH_INTERVAL_S="2",
        STREAMGUARD_INVENTORY_CPU_SHARE="1",  # profile every record of the short burst
    )
    prometheus: PrometheusServer | None = None
    server: ConsoleServer | None = None
    try:
        worker.start().wait_ready()
        prometheus = PrometheusServer.start(tmp_path, f"127.0.0.1:{worker.metrics_port}")
        app = build_app(
            broker.bootstrap,
            roles_of(topics),
            client_options=CLIENT,
            prometheus_url=f"http://127.0.0.1:{prometheus.port}",
        )
        server = ConsoleServer(app).start()
        print(f"console at {server.url}")
        products = list(generate("product", 300, seed=7, start=datetime.now(UTC)))
        asyncio.run(produce(broker.bootstrap, topics, products))
        healthy_then_burst(broker.bootstrap, topics)
        base = server.url

        def incident() -> bool:
            found = api(f"{base}/api/incidents")
            return any(i["stream"] == "behavior" for i in found["open"] + found["recent"])

        wait_until(incident, 90, "the console to show the burst's incident")

        def inventories() -> bool:
            streams = api(f"{base}/api/inventory")["streams"]
            return all(streams.get(s, {}).get("fields") for s in ("behavior", "product"))

        wait_until(inventories, 60, "the console to show both streams' inventories")
        found = api(f"{base}/api/incidents")
        incident_id = (found["open"] + found["recent"])[0]["incident_id"]
        quarantined = api(f"{base}/api/quarantine?stream=behavior&reason=unknown_enum&limit=3")
        assert quarantined["records"], quarantined
        record = quarantined["records"][0]
        assert record["source"]["topic"] == topics.behavior

        seen = asyncio.run(browse(base, tmp_path))
        for name, (text, elapsed, errors) in seen.items():
            assert errors == [], (name, errors)
            assert elapsed < 1.0, (name, elapsed)
            assert "StreamGuard" in text, name
        streams_text = seen["streams"][0]
        assert "behavior" in streams_text and "product" in streams_text
        assert incident_id in seen["incidents"][0]
        assert "unknown_enum" in seen["quarantine"][0]
        assert f"{topics.behavior}[" in seen["quarantine"][0]  # source positions shown
        assert "event_type" in seen["inventory"][0]
    finally:
        if server is not None:
            server.stop()
        if prometheus is not None:
            prometheus.stop()
        assert worker.stop() == 0
