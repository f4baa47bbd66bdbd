"""``streamguard broker``: run the embedded Kafka-compatible broker in the foreground.

Parses the options, starts an :class:`~streamguard.devtools.broker.EmbeddedBroker`,
prints its ``kafka://HOST:PORT`` address and waits for Ctrl-C / SIGTERM. The broker
process dies with this one even on ``kill -9``. ``python -m streamguard.commands.broker``
does the same without the rest of the CLI.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from streamguard.devtools.broker import BrokerError, EmbeddedBroker

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["add_arguments", "run"]

logger = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
_HEALTH_CHECK_INTERVAL_S = 0.5  # how often `streamguard broker` checks its child


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``streamguard broker``."""
    parser.add_argument(
        "--port",
        type=_port_argument,
        default=None,
        help="listener port (default: the port of a loopback kafka:// STREAMGUARD_BROKER "
        "address, else a free one)",
    )
    parser.add_argument(
        "--host",
        default=_LOOPBACK,
        help="IPv4 address to listen on (default: %(default)s; the broker has no auth)",
    )


def _port_argument(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {port}")
    return port


def _port_from_settings(settings: Settings) -> int | None:
    """The port of ``settings.broker`` when it names one loopback address."""
    if settings.is_embedded:
        return None
    addresses = settings.bootstrap_servers().split(",")
    if len(addresses) != 1:
        return None
    host, _, port = addresses[0].strip().rpartition(":")
    if host in (_LOOPBACK, "localhost") and port.isdigit():
        return int(port)
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``streamguard broker``: run the embedded broker in the foreground.

    Prints one line, ``kafka://HOST:PORT``, on stdout once the broker is ready, then
    waits for SIGINT or SIGTERM and stops it. Returns 0 after a clean stop, 1 if the
    broker cannot start or dies on its own.
    """
    port = args.port if args.port is not None else _port_from_settings(settings)
    stop_requested = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop_requested.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _request_stop)
    try:
        broker = EmbeddedBroker(port=port, host=args.host)
        try:
            broker.start()
        except BrokerError as exc:
            print(f"streamguard broker: {exc}", file=sys.stderr)
            return 1
        try:
            print(broker.url, flush=True)
            while not stop_requested.wait(timeout=_HEALTH_CHECK_INTERVAL_S):
                if not broker.running:
                    logger.error("the embedded broker exited on its own:\n%s", broker.log_tail())
                    return 1
        finally:
            broker.stop()
        return 0
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


def _main(argv: list[str] | None = None) -> int:
    """``python -m streamguard.commands.broker``: the same as ``streamguard broker``."""
    from streamguard.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m streamguard.commands.broker")
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
