"""Headless Chromium driven over the Chrome DevTools Protocol, for tests of HTML pages.

No Selenium, no Playwright download: the system's ``chromium`` (Debian package) is
started with ``--remote-debugging-port=0`` and spoken to over its websocket with aiohttp.
:meth:`Page.load` navigates and waits for the load event; console errors, uncaught
exceptions and log entries of level error are collected in :attr:`Page.errors`;
:meth:`Page.screenshot` writes a full-page PNG.

    async with Browser.launch(tmp_path) as browser:
        page = await browser.new_page()
        await page.load("http://127.0.0.1:8508/")
        assert "behavior" in await page.text() and not page.errors
        await page.screenshot(tmp_path / "streams.png")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Browser", "BrowserError", "Page", "chromium_path"]


class BrowserError(RuntimeError):
    """Chromium did not start, or answered a command with an error."""


def chromium_path() -> str | None:
    """The Chromium binary on PATH (``chromium``, ``chromium-browser``, ``google-chrome``)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Connection:
    """One websocket to the browser; commands by id, events to listeners per session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = message.json()
            if "id" in data:
                future = self._pending.pop(int(data["id"]), None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                queue = self.events.get(str(data.get("sessionId", "")))
                if queue is not None:
                    queue.put_nowait(data)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError("the browser closed the connection"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        command_id = next(self._ids)
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        await self.ws.send_json(message)
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self.ws.close()


class Page:
    """One tab: load URLs, read the text, take screenshots; ``errors`` collects the
    JavaScript console errors, uncaught exceptions and error log entries seen."""

    def __init__(self, connection: _Connection, session: str) -> None:
        self._connection = connection
        self._session = session
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        connection.events[session] = self._events
        self.errors: list[str] = []

    async def _enable(self) -> None:
        for domain in ("Page", "Runtime", "Log"):
            await self._send(f"{domain}.enable")
        await self._send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )

    async def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._connection.send(method, params, self._session)

    def _note(self, event: dict[str, Any]) -> str | None:
        method, params = event.get("method"), event.get("params") or {}
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.errors.append("console.error: " + " ".join(args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails") or {}
            exception = details.get("exception") or {}
            self.errors.append(f"exception: {exception.get('description') or details.get('text')}")
        elif method == "Log.entryAdded":
            entry = params.get("entry") or {}
            if entry.get("level") == "error":
                self.errors.append(f"log: {entry.get('text')} ({entry.get('url', '')})")
        return str(method) if method else None

    async def load(self, url: str, timeout_s: float = 20.0) -> float:
        """Navigate to ``url`` and wait for its load event (raises ``TimeoutError``);
        returns the seconds from the navigation to the load event."""
        started = time.perf_counter()
        answer = await self._send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"loading {url}: {answer['errorText']}")
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{url} did not finish loading in {timeout_s:g} s")
            event = await asyncio.wait_for(self._events.get(), left)
            if self._note(event) == "Page.loadEventFired":
                break
        elapsed = time.perf_counter() - started
        await self.settle()
        return elapsed

    async def settle(self, quiet_s: float = 0.2) -> None:
        """Take the events that arrive within ``quiet_s`` (late console errors)."""
        with contextlib.suppress(TimeoutError):
            while True:
                self._note(await asyncio.wait_for(self._events.get(), quiet_s))

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = await self._send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression}: {answer['exceptionDetails']}")
        return (answer.get("result") or {}).get("value")

    async def text(self) -> str:
        """The rendered text of the page (``document.body.innerText``)."""
        return str(await self.evaluate("document.body ? document.body.innerText : ''"))

    async def screenshot(self, path: Path, max_height: int = 3000, scale: float = 1.0) -> Path:
        """A PNG of the whole page (up to ``max_height`` CSS pixels, times ``scale``)
        written to ``path``."""
        metrics = await self._send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
        width = max(int(size.get("width", 1280)), 1280)
        height = min(max(int(size.get("height", 900)), 300), max_height)
        shot = await self._send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": scale},
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class Browser:
    """A headless Chromium process and its DevTools connection."""

    def __init__(self, process: subprocess.Popen[bytes], connection: _Connection) -> None:
        self.process = process
        self._connection = connection

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, workdir: Path, timeout_s: float = 30.0) -> AsyncIterator[Browser]:
        """Start Chromium with its profile in ``workdir``; stopped (by PID) on exit."""
        binary = chromium_path()
        if binary is None:
            raise BrowserError("no chromium on PATH (Debian: apt-get install chromium)")
        profile = workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a previous run's
        log = (workdir / "chromium.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - the system's browser, fixed arguments
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        session = aiohttp.ClientSession()
        browser: Browser | None = None
        try:
            ws_url = await _devtools_url(profile / "DevToolsActivePort", process, timeout_s)
            ws = await session.ws_connect(ws_url, max_msg_size=64 * 1024 * 1024)
            browser = cls(process, _Connection(ws))
            yield browser
        finally:
            if browser is not None:
                await browser._connection.close()
            await session.close()
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    async def new_page(self) -> Page:
        """A new tab, attached, with Page, Runtime and Log events on."""
        target = await self._connection.send("Target.createTarget", {"url": "about:blank"})
        attached = await self._connection.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self._connection, str(attached["sessionId"]))
        await page._enable()
        return page


async def _devtools_url(path: Path, process: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserError(f"chromium exited with {process.returncode}")
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.1)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout_s:g} s")
