"""A local receiver for StreamGuard's generic alert webhook (``streamguard demo``).

It listens on 127.0.0.1 only, checks each body against its ``X-StreamGuard-Signature``
header (``sha256=<hex HMAC-SHA256 of the raw body>``), answers 204 to what verifies and
401 to what does not, and keeps the verified JSON bodies for :meth:`WebhookSink.drain`.
It reads only what DESIGN.md's generic webhook body guarantees, so it does not care how
the incidents behind the notifications are modelled.

Examples
--------
>>> import urllib.request
>>> with WebhookSink("s3cret") as sink:
...     body = b'{"status": "firing", "stream": "behavior"}'
...     request = urllib.request.Request(sink.url, data=body, method="POST",
...                                      headers={"X-StreamGuard-Signature": sign(body, "s3cret")})
...     urllib.request.urlopen(request, timeout=5).status
...     [(b["status"], b["stream"]) for _, b in sink.drain()], sink.rejected
204
([('firing', 'behavior')], 0)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import orjson

__all__ = ["WebhookSink", "sign"]

log = logging.getLogger(__name__)

_MAX_BODY = 1_048_576


def sign(body: bytes, secret: str) -> str:
    """The signature header value the worker sends: ``sha256=<hex HMAC-SHA256>``.

    >>> sign(b"{}", "k")[:15]
    'sha256=add853b1'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink:
    """An HTTP server on 127.0.0.1 that verifies and keeps webhook bodies (thread-safe).

    ``clock``: what each body is stamped with when it arrives (default: monotonic).
    """

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._secret = secret
        self._clock = clock
        self._lock = threading.Lock()
        self._bodies: list[tuple[float, dict[str, Any]]] = []
        self.received = 0
        self.rejected = 0
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, _MAX_BODY))
                status = sink._accept(body, self.headers.get("X-StreamGuard-Signature"))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("webhook sink: " + format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-sink", daemon=True
        )

    @property
    def url(self) -> str:
        """Where to POST (``STREAMGUARD_WEBHOOK_URL``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def _accept(self, body: bytes, header: str | None) -> int:
        expected = sign(body, self._secret)
        if header is None or not hmac.compare_digest(header, expected):
            with self._lock:
                self.rejected += 1
            return 401
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            with self._lock:
                self.rejected += 1
            return 400
        with self._lock:
            self.received += 1
            self._bodies.append((self._clock(), parsed))
        return 204

    def drain(self) -> list[tuple[float, dict[str, Any]]]:
        """The verified bodies received since the last call, with their arrival times."""
        with self._lock:
            bodies, self._bodies = self._bodies, []
        return bodies

    def start(self) -> WebhookSink:
        """Start serving (in a daemon thread)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
