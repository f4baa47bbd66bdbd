"""The console app over a store fed without a broker: every page and /api/* endpoint,
their shapes and bounds, 400s for bad parameters, no write routes, basic auth, headers,
and page time with 100,000 quarantined records."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streamguard.console.prometheus import PrometheusSource
from streamguard.console.store import ConsoleStore
from streamguard.console.views import MAX_LIMIT
from streamguard.console.web import BasicAuth, make_app
from tests.unit.console.feed import Feed

PAGES = ("/", "/incidents", "/findings", "/inventory", "/quarantine", "/recommendations")
APIS = (
    "/api/streams",
    "/api/incidents",
    "/api/findings",
    "/api/inventory",
    "/api/quarantine",
    "/api/recommendations",
)


def filled_store() -> ConsoleStore:
    store = ConsoleStore()
    feed = Feed(store)
    for i in range(30):
        feed.quarantine(
            "behavior",
            "unknown_enum" if i % 3 else "missing_field",
            offset=i,
            raw=f'{{"user": "u{i}@example.com"}}',
        )
    feed.signals("behavior", 100, 10, at=1.0)
    feed.signals("behavior", 300, 40, at=11.0)
    feed.finding("product", "semantic_drift", "description", 0.5, at=5.0)
    feed.finding("product", "semantic_drift", "description", 0.6, at=9.0)
    feed.incident("inc-1", "behavior", "firing", at=10.0)
    feed.inventory("behavior")
    feed.put(
        "recommendations",
        {
            "user_id": "u1",
            "items": [{"product_id": "p1", "score": 0.5}],
            "model_version": "m1",
            "generated_at": "2027-01-15T08:00:00Z",
        },
    )
    return store


def with_client(
    app: web.Application, body: Callable[[TestClient[Any, Any]], Awaitable[None]]
) -> None:
    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(main())


def test_every_page_renders_the_data() -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        texts = {}
        for path in PAGES:
            response = await client.get(path)
            assert response.status == 200, path
            assert response.content_type == "text/html"
            assert "script-src" not in response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            texts[path] = await response.text()
            assert "<script" not in texts[path]
        assert "behavior" in texts["/"] and "1 open incident" in texts["/"]
        assert "inc-1" in texts["/incidents"] and "quality_drop" in texts["/incidents"]
        assert "<svg" in texts["/findings"] and "threshold 0.3" in texts["/findings"]
        assert "email" in texts["/inventory"] and "not in schema" in texts["/inventory"]
        assert "unknown_enum" in texts["/quarantine"] and "example.com" not in texts["/quarantine"]
        assert "events.behavior[1]@29" in texts["/quarantine"]
        assert "p1" in texts["/recommendations"]

    with_client(make_app(filled_store()), body)


def test_api_shapes() -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        for path in APIS:
            response = await client.get(path)
            assert response.status == 200, path
            assert response.content_type == "application/json"
        streams = await (await client.get("/api/streams")).json()
        (behavior,) = [s for s in streams["streams"] if s["stream"] == "behavior"]
        assert {"rate_per_s", "outcome_shares", "quality", "open_incidents"} <= set(behavior)
        incidents = await (await client.get("/api/incidents")).json()
        assert incidents["open"][0]["incident_id"] == "inc-1"
        quarantine = await (await client.get("/api/quarantine?stream=behavior&limit=5")).json()
        records = quarantine["records"]
        assert len(records) == 5 and quarantine["limit"] == 5
        assert [r["source"]["offset"] for r in records] == [29, 28, 27, 26, 25]  # newest first
        assert all(r["reasons"] and "[email]" in r["raw"] for r in records)
        only = await (await client.get("/api/quarantine?reason=missing_field")).json()
        assert only["records"] and {r["reasons"][0]["code"] for r in only["records"]} == {
            "missing_field"
        }
        inventory = await (await client.get("/api/inventory")).json()
        assert list(inventory["streams"]) == ["behavior"]
        findings = await (await client.get("/api/findings?kind=semantic_drift")).json()
        assert len(findings["series"][0]["points"]) == 2

    with_client(make_app(filled_store()), body)


@pytest.mark.parametrize(
    "query",
    [
        "/api/quarantine?limit=abc",
        "/api/quarantine?limit=0",
        "/api/quarantine?limit=1e3",
        "/api/quarantine?stream=" + "s" * 300,
        "/api/quarantine?nope=1",
        "/api/incidents?limit=3",
        "/api/streams?x=1",
        "/quarantine?limit=-1",
    ],
)
def test_bad_parameters_get_400_with_a_message(query: str) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        response = await client.get(query)
        assert response.status == 400
        text = await response.text()
        assert len(text) > 10
        if query.startswith("/api/"):
            assert (await response.json())["error"]

    with_client(make_app(filled_store()), body)


def test_limit_is_capped() -> None:
    store = ConsoleStore(quarantine_per_stream=2_000)
    feed = Feed(store)
    for i in range(1_500):
        feed.quarantine("behavior", "duplicate", offset=i)

    async def body(client: TestClient[Any, Any]) -> None:
        answer = await (await client.get("/api/quarantine?limit=100000")).json()
        assert answer["limit"] == MAX_LIMIT and answer["limit_capped"] is True
        assert len(answer["records"]) == MAX_LIMIT

    with_client(make_app(store), body)


def test_read_only_no_write_routes() -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            for path in ("/", "/api/quarantine", "/api/incidents"):
                response = await client.request(method, path)
                assert response.status == 405, (method, path)

    with_client(make_app(filled_store()), body)


def test_basic_auth_guards_everything_but_healthz() -> None:
    auth = BasicAuth("ops", "pa55-word")
    assert "pa55-word" not in repr(auth)
    good = "Basic " + base64.b64encode(b"ops:pa55-word").decode()
    bad = "Basic " + base64.b64encode(b"ops:wrong").decode()

    async def body(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/healthz")).status == 200
        for path in ("/", "/api/quarantine"):
            denied = await client.get(path)
            assert denied.status == 401
            assert denied.headers["WWW-Authenticate"].startswith("Basic")
            assert (await client.get(path, headers={"Authorization": bad})).status == 401
            assert (await client.get(path, headers={"Authorization": "Basic %%%"})).status == 401
            assert (await client.get(path, headers={"Authorization": good})).status == 200

    with_client(make_app(filled_store(), auth=auth), body)


def test_pages_stay_fast_with_100k_quarantined_records() -> None:
    store = ConsoleStore()
    feed = Feed(store)
    for i in range(100_000):
        feed.quarantine(
            ("behavior", "product")[i % 2],
            ("duplicate", "unknown_enum")[i % 7 == 0],
            offset=i,
            raw=f'{{"event_id": "e{i}", "email": "x{i}@example.com"}}',
        )

    async def body(client: TestClient[Any, Any]) -> None:
        for path in (*PAGES, *APIS, "/api/quarantine?limit=500", "/quarantine?reason=unknown_enum"):
            started = time.perf_counter()
            response = await client.get(path)
            await response.read()
            elapsed = time.perf_counter() - started
            assert response.status == 200
            assert elapsed < 1.0, (path, elapsed)

    with_client(make_app(store), body)


def test_prometheus_answers_feed_the_overview_and_its_failure_is_shown() -> None:
    async def fake_prometheus(request: web.Request) -> web.Response:
        query = request.query["query"]
        if "records_in" in query:
            result = [{"metric": {"stream": "behavior"}, "values": [[60, "4"], [120, "6"]]}]
            return web.json_response({"status": "success", "data": {"result": result}})
        if "records_out" in query:
            result = [
                {"metric": {"stream": "behavior", "outcome": o}, "value": [120, v]}
                for o, v in (("valid", "80"), ("corrected", "10"), ("quarantine", "10"))
            ]
            return web.json_response({"status": "success", "data": {"result": result}})
        if "composite" in query:
            result = [{"metric": {"stream": "behavior"}, "values": [[60, "0.9"], [120, "0.8"]]}]
            return web.json_response({"status": "success", "data": {"result": result}})
        result = [
            {"metric": {"stream": "behavior", "dimension": d}, "value": [120, v]}
            for d, v in (("composite", "0.8"), ("validity", "0.7"))
        ]
        return web.json_response({"status": "success", "data": {"result": result}})

    async def main() -> None:
        prom_app = web.Application()
        prom_app.router.add_get("/api/v1/query", fake_prometheus)
        prom_app.router.add_get("/api/v1/query_range", fake_prometheus)
        async with TestServer(prom_app) as prom:
            source = PrometheusSource(str(prom.make_url("/")))
            app = make_app(ConsoleStore(), prometheus=source)
            async with TestClient(TestServer(app)) as client:
                view = await (await client.get("/api/streams")).json()
                assert view["source"] == "prometheus"
                (behavior,) = view["streams"]
                assert behavior["rate_per_s"] == 6.0
                assert behavior["outcome_shares"]["valid"] == 0.8
                assert behavior["quality"] == {"composite": 0.8, "validity": 0.7}
                page = await (await client.get("/")).text()
                assert "quality score (last hour)" in page and "0.800" in page
        down = make_app(ConsoleStore(), prometheus=PrometheusSource("http://127.0.0.1:9"))
        async with TestClient(TestServer(down)) as client:
            view = await (await client.get("/api/streams")).json()
            assert view["source"] == "topics" and view["prometheus_error"]
            assert (await client.get("/")).status == 200

    asyncio.run(main())
