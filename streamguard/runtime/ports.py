"""Free TCP ports for servers started on this machine (brokers, metrics, test servers)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (the kernel picked it).

    Racy by nature: another process can take the port before the caller binds it, so
    callers that must succeed retry or check what answers on it.

    >>> port = free_port()
    >>> 1024 <= port <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
