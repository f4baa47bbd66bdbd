"""The console's operational routes and the middleware that counts requests.

* ``/healthz``: 200 ``{"ok": true, "kafka": "following"}`` while the topic reader follows
  the topics, else 503 with ``kafka`` (``connecting``, ``failed``, ``not_started``) and a
  ``reason`` (:class:`~streamguard.console.health.ReaderHealth`). An app without a
  reader (a store fed otherwise) is healthy. Open without credentials.
* ``/livez``: 200 while the process serves (for a liveness probe: a Kafka outage must not
  restart the console). Open without credentials.
* ``/metrics``: :class:`~streamguard.observability.console.ConsoleMetrics` in Prometheus
  text (behind basic auth when the console has it, like every page).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from streamguard.console.health import ReaderHealth
from streamguard.console.store import ConsoleStore
from streamguard.observability.console import ConsoleMetrics, TopicsNow

__all__ = ["OPEN_PATHS", "add_ops_routes", "metrics_middleware", "page_of"]

#: Routes answered without credentials (probes carry none).
OPEN_PATHS = frozenset({"/healthz", "/livez"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_of(request: web.Request) -> str:
    """The route a request matched (its pattern: no query, no path parameters), or
    ``unmatched``: a bounded label, whatever paths clients ask for."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: ConsoleMetrics) -> Any:
    """Counts every answered request by route and status, and times it."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            metrics.observe(page_of(request), exc.status, time.perf_counter() - start)
            raise
        except asyncio.CancelledError:  # the client went away: no answer to count
            raise
        except Exception:
            metrics.observe(page_of(request), 500, time.perf_counter() - start)
            raise
        metrics.observe(page_of(request), response.status, time.perf_counter() - start)
        return response

    return count


def add_ops_routes(
    app: web.Application,
    store: ConsoleStore,
    metrics: ConsoleMetrics,
    health: ReaderHealth | None,
    clock: Callable[[], float],
) -> None:
    """Add ``/healthz``, ``/livez`` and ``/metrics``; point the metrics' scrape-time
    gauges at ``store`` and ``health``."""

    async def healthz(request: web.Request) -> web.Response:
        if health is None:
            return web.json_response({"ok": True})
        ok, body = health.status()
        return web.json_response(body, status=200 if ok else 503)

    async def livez(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def exposition(request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    def topics() -> TopicsNow:
        now = clock()
        ages = {topic: now - at for topic, at in store.topic_latest_s.items()}
        return TopicsNow(store.held(), ages)

    metrics.topics = topics
    metrics.following = (lambda: health.following) if health is not None else (lambda: False)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", exposition)
