"""The worker's small HTTP server: /metrics, /healthz and /readyz, off the event loop;
JSON documents added with :meth:`MetricsServer.add_json_route` (``/api/inventory``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamguard.observability.health import Health
from streamguard.observability.metrics import WorkerMetrics

__all__ = ["MetricsServer"]

log = logging.getLogger(__name__)


class MetricsServer:
    """A threaded HTTP server for /metrics, /healthz and /readyz, off the event loop."""

    def __init__(self, host: str, port: int, metrics: WorkerMetrics, health: Health) -> None:
        registry, health_ref = metrics.registry, health
        ready_gauge = metrics.ready
        self._routes: dict[str, Callable[[], bytes]] = {}
        routes = self._routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    ready_gauge.set(1 if health_ref.readiness()[0] else 0)
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok = health_ref.live
                    self._send(200 if ok else 503, b"ok\n" if ok else b"dead\n")
                elif path == "/readyz":
                    ok, conditions = health_ref.readiness()
                    body = "".join(
                        f"{k} {'ok' if v else 'waiting'}\n" for k, v in conditions.items()
                    )
                    self._send(200 if ok else 503, body.encode())
                elif path in routes:
                    self._send(200, routes[path](), "application/json")
                else:
                    self._send(404, b"not found\n")

            def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                log.debug("http: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="streamguard-http", daemon=True
        )

    def add_json_route(self, path: str, body: Callable[[], bytes]) -> None:
        """Serve ``body()`` (JSON bytes, called on the server's threads) at ``path``."""
        self._routes[path] = body

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
