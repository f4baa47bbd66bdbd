"""Wiring and running the console: settings -> store + topic reader + app, served.

:func:`build_app` makes the application for a broker (the reader runs as the app's
background task, restarted with back-off if the broker goes away; ``/healthz`` says
whether it follows the topics); :class:`ConsoleServer`
serves it on ``host:port`` in a thread of its own (``streamguard demo``, tests) and
:func:`serve` in the foreground until a signal (``streamguard console``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from streamguard.config import Settings
from streamguard.console.health import ReaderHealth
from streamguard.console.prometheus import PrometheusSource
from streamguard.console.store import ConsoleStore, TopicRoles
from streamguard.console.web import BasicAuth, make_app
from streamguard.kafka.recent import RecentReader
from streamguard.kafka.side_reader import SourceRecord

__all__ = [
    "ConsoleServer",
    "auth_from",
    "build_app",
    "roles_from",
    "serve",
    "start_console",
    "windows_for",
]

log = logging.getLogger(__name__)


def roles_from(settings: Settings) -> TopicRoles:
    """The topics' names from the settings."""
    return TopicRoles(
        quarantine=settings.topic_quarantine,
        findings=settings.topic_findings,
        incidents=settings.topic_incidents,
        inventory=settings.topic_inventory,
        recommendations=settings.topic_recommendations,
        streams={settings.topic_behavior: "behavior", settings.topic_product: "product"},
    )


def windows_for(roles: TopicRoles, scale: int = 1) -> dict[str, int | None]:
    """Records read back per partition at start, per topic: enough for the store's caps,
    never a whole large topic.

    >>> windows_for(TopicRoles())["streamguard.quarantine"]
    2000
    """
    return {
        roles.quarantine: 2_000 * scale,
        roles.findings: 5_000 * scale,
        roles.incidents: 20_000 * scale,
        roles.inventory: 200 * scale,
        roles.recommendations: 100 * scale,
    }


def auth_from(settings: Settings) -> BasicAuth | None:
    """Basic auth when the settings name a console user and password."""
    user, password = settings.console_username, settings.console_password
    if not user or password is None:
        return None
    return BasicAuth(user, password.get_secret_value())


def build_app(
    bootstrap: str,
    roles: TopicRoles,
    *,
    client_options: Mapping[str, Any] | None = None,
    prometheus_url: str | None = None,
    auth: BasicAuth | None = None,
    store: ConsoleStore | None = None,
    windows: Mapping[str, int | None] | None = None,
    health: ReaderHealth | None = None,
) -> web.Application:
    """The console app reading ``roles``' topics from ``bootstrap``; ``health`` hears of
    the reader's attempts and failures (a fresh one by default)."""
    store = store or ConsoleStore(roles)
    health = health if health is not None else ReaderHealth()
    options = dict(client_options or {})
    wanted = dict(windows or windows_for(roles))

    def on_record(record: SourceRecord) -> None:
        store.add(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            record.timestamp_s,
        )

    async def follow() -> None:
        delay = 1.0
        while True:
            reader = RecentReader(bootstrap, wanted, **options)
            health.reading(reader)
            try:
                await reader.run(on_record)
            except Exception as exc:
                log.warning("console: reading the topics failed (%s); again in %.0f s", exc, delay)
                health.failed(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    prometheus = PrometheusSource(prometheus_url) if prometheus_url else None
    return make_app(store, prometheus=prometheus, auth=auth, background=follow, health=health)


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
    return runner, f"http://{shown}:{bound[1]}"


async def serve(
    app: web.Application, host: str, port: int, on_ready: Callable[[str], None]
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; ``on_ready(url)`` once it listens."""
    runner, url = await _start(app, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        on_ready(url)
        await stop.wait()
    finally:
        await runner.cleanup()


class ConsoleServer:
    """``app`` served on ``host:port`` (0: a free port) by a thread with its own loop."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)

    def start(self, timeout_s: float = 10.0) -> ConsoleServer:
        """Start serving; returns once it listens (raises what stopped it otherwise)."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("the console did not start listening")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and the topic reader."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            runner, self.url = await _start(self.app, self.host, self.port)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


def start_console(settings: Settings, bootstrap: str) -> ConsoleServer:
    """The console for the broker at ``bootstrap``, started in a thread on the settings'
    host and port, or on a free port when that one is taken (``streamguard demo``)."""

    def app() -> web.Application:
        return build_app(
            bootstrap,
            roles_from(settings),
            client_options=settings.kafka_client_options(),
            auth=auth_from(settings),
        )

    try:
        return ConsoleServer(app(), settings.console_host, settings.console_port).start()
    except OSError:
        return ConsoleServer(app(), settings.console_host, 0).start()
