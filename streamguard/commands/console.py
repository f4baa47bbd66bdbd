"""``streamguard console``: the read-only web console over StreamGuard's topics.

Binds 127.0.0.1 unless ``--host`` says otherwise; optional basic auth from the settings
(``console_username`` / ``console_password``); ``--prometheus URL`` adds the last hour's
rates, outcome shares and quality scores. With the embedded broker setting it has no
broker to read: give ``--broker kafka://host:port`` (or ``STREAMGUARD_BROKER``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from streamguard.config import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard console``."""
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8508; 0: free)")
    parser.add_argument(
        "--prometheus",
        default=None,
        metavar="URL",
        help="Prometheus to ask, e.g. http://prom:9090 (STREAMGUARD_CONSOLE_PROMETHEUS_URL)",
    )
    parser.add_argument(
        "--broker", default=None, metavar="kafka://HOST:PORT", help="overrides STREAMGUARD_BROKER"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the console until Ctrl-C; 2 when there is no broker to read."""
    from streamguard.console.server import auth_from, build_app, roles_from, serve

    if args.broker is not None:
        try:
            settings = settings.model_copy(update={"broker": Settings(broker=args.broker).broker})
        except ValueError as exc:
            print(f"streamguard console: {exc}", file=sys.stderr)
            return 2
    if settings.is_embedded:
        print(
            "streamguard console: give the broker to read (--broker kafka://host:port or "
            "STREAMGUARD_BROKER); `streamguard demo` starts a console on its own broker",
            file=sys.stderr,
        )
        return 2
    host = args.host or settings.console_host
    port = args.port if args.port is not None else settings.console_port
    auth = auth_from(settings)
    if auth is None and host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"streamguard console: listening on {host} without basic auth "
            "(set STREAMGUARD_CONSOLE_USERNAME and STREAMGUARD_CONSOLE_PASSWORD)",
            file=sys.stderr,
        )
    app = build_app(
        settings.bootstrap_servers(),
        roles_from(settings),
        client_options=settings.kafka_client_options(),
        prometheus_url=args.prometheus or settings.console_prometheus_url,
        auth=auth,
    )

    def ready(url: str) -> None:
        guarded = " (basic auth)" if auth is not None else ""
        print(f"StreamGuard console on {url}{guarded}; Ctrl-C stops it", flush=True)

    asyncio.run(serve(app, host, port, ready))
    return 0
