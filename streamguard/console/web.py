"""The console's aiohttp application: read-only pages and their JSON, over a store.

Every page has its JSON twin under ``/api/`` (``/`` and ``/api/streams``, ``/incidents``
and ``/api/incidents``, ...). Only GET (and HEAD) routes exist: there is nothing to write.
Parameters that cannot be used get a 400 with a message; HTML is rendered on the server
by Jinja2 with autoescaping, charts are inline SVG, and the Content-Security-Policy
forbids scripts altogether. Optional HTTP basic auth (:class:`BasicAuth`) guards every
route but ``/healthz`` and ``/livez``; the password is compared in constant time and
never logged. ``/healthz`` (the topic reader), ``/livez`` and ``/metrics`` are
:mod:`~streamguard.console.ops`'s.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
import orjson
from aiohttp import web
from markupsafe import Markup

from streamguard.console import views
from streamguard.console.health import ReaderHealth
from streamguard.console.ops import OPEN_PATHS, add_ops_routes, metrics_middleware
from streamguard.console.prometheus import PrometheusSource, PromOverview
from streamguard.console.store import ConsoleStore
from streamguard.observability.console import ConsoleMetrics
from streamguard.report.svg import Series, line_chart

__all__ = ["BasicAuth", "ConsoleContext", "make_app"]

log = logging.getLogger(__name__)

PAGES = (
    ("/", "Streams"),
    ("/incidents", "Incidents"),
    ("/findings", "Findings"),
    ("/inventory", "Inventory"),
    ("/quarantine", "Quarantine"),
    ("/recommendations", "Recommendations"),
)
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class BasicAuth:
    """A user name and password for HTTP basic auth (``repr`` hides the password)."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='**********')"

    def allows(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials.

        >>> auth = BasicAuth("ops", "s3cret")
        >>> auth.allows("Basic " + base64.b64encode(b"ops:s3cret").decode()), auth.allows(None)
        (True, False)
        """
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        same_user = hmac.compare_digest(user.encode(), self.username.encode())
        same_password = hmac.compare_digest(password.encode(), self.password.encode())
        return same_user and same_password


@dataclass
class ConsoleContext:
    """What the handlers read: the store, Prometheus (optional), the clock."""

    store: ConsoleStore
    prometheus: PrometheusSource | None = None
    clock: Callable[[], float] = time.time
    session: aiohttp.ClientSession | None = None

    async def prom(self) -> PromOverview | None:
        """The Prometheus overview, or None without ``--prometheus``."""
        if self.prometheus is None or self.session is None:
            return None
        return await self.prometheus.overview(self.session, self.clock())


CONTEXT = web.AppKey("console_context", ConsoleContext)
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["clock"] = _clock
    env.filters["shown"] = _shown
    env.globals["pages"] = PAGES
    return env


def _pct(value: Any) -> str:
    """A share as a percentage (``–`` for anything else)."""
    return f"{100 * value:.1f}%" if isinstance(value, int | float) else "–"


def _num(value: Any) -> str:
    """A number with thousands separators (``–`` for none, text as it is)."""
    if isinstance(value, bool) or value is None or isinstance(value, jinja2.Undefined):
        return "–"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _shown(value: Any) -> str:
    """A value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("position"), dict) and "detail" in value:
        p = value["position"]
        where = f"{p.get('topic')}[{p.get('partition')}]@{p.get('offset')}"
        return f"{where}: {value['detail']}"
    return orjson.dumps(value, default=str).decode()


def _clock(seconds: Any) -> str:
    """``HH:MM:SS`` UTC of seconds since the epoch."""
    if not isinstance(seconds, int | float):
        return "–"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _render(request: web.Request, template: str, **values: Any) -> web.Response:
    env = request.app[TEMPLATES]
    html = env.get_template(template).render(path=request.path, **values)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def _params(request: web.Request) -> dict[str, str]:
    return {key: request.query.get(key, "") for key in request.query}


# --- handlers -------------------------------------------------------------------------------


async def api_streams(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    views.parse_filters(_params(request), ())
    return web.json_response(views.streams_view(ctx.store, await ctx.prom(), ctx.clock()))


async def page_streams(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    model = views.streams_view(ctx.store, await ctx.prom(), ctx.clock())
    for stream in model["streams"]:
        stream["rate_chart"] = Markup(  # noqa: S704 - our SVG, every label escaped
            line_chart(
                [Series("records/s", stream["rate_series"])],
                title="records in per second",
                width=540,
                height=160,
                y_min=0,
            )
        )
        quality = stream["quality_series"]
        stream["quality_chart"] = (
            Markup(  # noqa: S704 - our SVG, every label escaped
                line_chart(
                    [Series("composite", quality)],
                    title="quality score (last hour)",
                    width=540,
                    height=160,
                    y_min=0,
                    y_max=1,
                )
            )
            if quality
            else None
        )
    return _render(request, "streams.html", model=model)


async def api_incidents(request: web.Request) -> web.Response:
    filters = views.parse_filters(_params(request), ("stream",))
    store = request.app[CONTEXT].store
    return web.json_response(views.incidents_view(store, filters["stream"]))


async def page_incidents(request: web.Request) -> web.Response:
    filters = views.parse_filters(_params(request), ("stream",))
    store = request.app[CONTEXT].store
    return _render(request, "incidents.html", model=views.incidents_view(store, filters["stream"]))


async def api_findings(request: web.Request) -> web.Response:
    filters = views.parse_filters(_params(request), ("stream", "kind"))
    store = request.app[CONTEXT].store
    return web.json_response(views.findings_view(store, filters["stream"], filters["kind"]))


async def page_findings(request: web.Request) -> web.Response:
    filters = views.parse_filters(_params(request), ("stream", "kind"))
    store = request.app[CONTEXT].store
    model = views.findings_view(store, filters["stream"], filters["kind"])
    for series in model["series"]:
        points = series["points"]
        series["chart"] = Markup(  # noqa: S704 - our SVG, every label escaped
            line_chart(
                [Series("statistic", [(p["t"], p["statistic"]) for p in points])],
                threshold=points[-1]["threshold"] if points else None,
                title=f"{series['stream']} {series['kind']} on {series['field']}",
                width=560,
                height=180,
            )
        )
    return _render(request, "findings.html", model=model, filters=filters)


async def api_inventory(request: web.Request) -> web.Response:
    filters = views.parse_filters(_params(request), ("stream",))
    store = request.app[CONTEXT].store
    return web.json_response(views.inventory_view(store, filters["stream"]))


async def page_inventory(request: web.Request) -> web.Response:
    filters = views.parse_filters(_params(request), ("stream",))
    store = request.app[CONTEXT].store
    return _render(request, "inventory.html", model=views.inventory_view(store, filters["stream"]))


async def api_quarantine(request: web.Request) -> web.Response:
    query = views.parse_quarantine_query(_params(request))
    return web.json_response(views.quarantine_view(request.app[CONTEXT].store, query))


async def page_quarantine(request: web.Request) -> web.Response:
    query = views.parse_quarantine_query(_params(request))
    model = views.quarantine_view(request.app[CONTEXT].store, query)
    return _render(request, "quarantine.html", model=model)


async def api_recommendations(request: web.Request) -> web.Response:
    views.parse_filters(_params(request), ())
    return web.json_response(views.recommendations_view(request.app[CONTEXT].store))


async def page_recommendations(request: web.Request) -> web.Response:
    views.parse_filters(_params(request), ())
    model = views.recommendations_view(request.app[CONTEXT].store)
    return _render(request, "recommendations.html", model=model)


# --- middlewares ----------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except views.QueryError as exc:
        if request.path.startswith("/api/"):
            response = web.json_response({"error": str(exc)}, status=400)
        else:
            response = web.Response(text=f"400 Bad Request: {exc}\n", status=400)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("console: %s failed", request.path)
        response = web.json_response({"error": "internal error (see the log)"}, status=500)
    return response


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _auth_middleware(auth: BasicAuth) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS and not auth.allows(request.headers.get("Authorization")):
            raise web.HTTPUnauthorized(
                text="401: authentication required\n",
                headers={"WWW-Authenticate": 'Basic realm="streamguard console"'},
            )
        return await handler(request)

    return check


def make_app(
    store: ConsoleStore,
    *,
    prometheus: PrometheusSource | None = None,
    auth: BasicAuth | None = None,
    clock: Callable[[], float] = time.time,
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    health: ReaderHealth | None = None,
    metrics: ConsoleMetrics | None = None,
) -> web.Application:
    """The console over ``store``; ``background`` (the topic reader) runs as a task for
    the app's lifetime, ``health`` says whether it follows the topics (``/healthz``;
    without it the app is healthy), ``metrics`` (a fresh registry by default) are served
    on ``/metrics``."""
    metrics = metrics if metrics is not None else ConsoleMetrics()
    middlewares: list[Any] = [metrics_middleware(metrics), _headers]
    if auth is not None:
        middlewares.append(_auth_middleware(auth))
    middlewares.append(_errors)
    app = web.Application(middlewares=middlewares)
    context = ConsoleContext(store, prometheus, clock)
    app[CONTEXT] = context
    app[TEMPLATES] = _environment()
    app.router.add_get("/", page_streams)
    app.router.add_get("/incidents", page_incidents)
    app.router.add_get("/findings", page_findings)
    app.router.add_get("/inventory", page_inventory)
    app.router.add_get("/quarantine", page_quarantine)
    app.router.add_get("/recommendations", page_recommendations)
    app.router.add_get("/api/streams", api_streams)
    app.router.add_get("/api/incidents", api_incidents)
    app.router.add_get("/api/findings", api_findings)
    app.router.add_get("/api/inventory", api_inventory)
    app.router.add_get("/api/quarantine", api_quarantine)
    app.router.add_get("/api/recommendations", api_recommendations)
    add_ops_routes(app, store, metrics, health, clock)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        if prometheus is not None:
            context.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=prometheus.timeout_s)
            )
        task = asyncio.create_task(background()) if background is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    log.debug("console: background reader stopped", exc_info=True)
            if context.session is not None:
                await context.session.close()

    app.cleanup_ctx.append(lifetime)
    return app
