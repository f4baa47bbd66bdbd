"""Inventory metrics (bounded field labels, counters that only advance) and the JSON
route of the worker's HTTP server."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streamguard.observability.health import Health
from streamguard.observability.inventory import OTHER, InventoryMetrics
from streamguard.observability.metrics import WorkerMetrics
from streamguard.observability.server import MetricsServer


def _pii(registry: CollectorRegistry, stream: str, field: str, kind: str) -> float | None:
    return registry.get_sample_value(
        "streamguard_pii_values_total", {"stream": stream, "field": field, "kind": kind}
    )


def test_field_labels_are_capped_per_stream() -> None:
    registry = CollectorRegistry()
    metrics = InventoryMetrics(registry, max_fields_per_stream=3)
    counts = {(f"f{i}", "email"): 1 for i in range(10)}
    metrics.observe_pii("a", counts)
    metrics.observe_pii("b", {("g", "phone"): 2})
    labels = {
        s.labels["field"]
        for family in registry.collect()
        for s in family.samples
        if s.name == "streamguard_pii_values_total" and s.labels["stream"] == "a"
    }
    assert labels == {"f0", "f1", "f2", OTHER}
    assert _pii(registry, "a", OTHER, "email") == 7
    assert _pii(registry, "b", "g", "phone") == 2  # another stream has its own cap


def test_counters_advance_by_growth_only_and_unknown_kinds_are_bucketed() -> None:
    registry = CollectorRegistry()
    metrics = InventoryMetrics(registry)
    metrics.observe_pii("s", {("x", "email"): 4, ("x", "weird"): 1})
    metrics.observe_pii("s", {("x", "email"): 3})  # a rounding dip: never backwards
    metrics.observe_pii("s", {("x", "email"): 6})
    assert _pii(registry, "s", "x", "email") == 6
    assert _pii(registry, "s", "x", OTHER) == 1
    metrics.observe_fields("s", 12)
    assert registry.get_sample_value("streamguard_inventory_fields", {"stream": "s"}) == 12


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    srv = MetricsServer("127.0.0.1", 0, WorkerMetrics(CollectorRegistry()), Health())
    srv.start()
    yield srv
    srv.stop()


def _get(server: MetricsServer, path: str) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_a_json_route_serves_the_current_body(server: MetricsServer) -> None:
    assert _get(server, "/api/inventory")[0] == 404
    body = [b'{"streams": []}']
    server.add_json_route("/api/inventory", lambda: body[0])
    assert _get(server, "/api/inventory") == (200, "application/json", b'{"streams": []}')
    body[0] = orjson.dumps({"streams": [{"stream": "s"}]})
    status, _, got = _get(server, "/api/inventory?pretty=1")
    assert status == 200 and orjson.loads(got)["streams"][0]["stream"] == "s"
    assert _get(server, "/healthz")[0] == 200  # the fixed routes still answer
