"""A raw Kafka Metadata request on a plain socket: is *our* broker answering on a port?

:func:`probe_metadata` sends one Metadata v4 request (no topics) and returns the cluster
id and the advertised brokers, with nothing but the standard library: it is how
:class:`~streamguard.devtools.broker.EmbeddedBroker` tells that its own broker (with its
per-instance cluster id) is ready, and that a port some other process grabbed is not.
"""

from __future__ import annotations

import secrets
import socket
import struct

__all__ = ["probe_metadata"]

_METADATA_API_KEY = 3
_METADATA_VERSION = 4  # old enough for every Tansu/Kafka, new enough to carry cluster_id


def probe_metadata(
    host: str, port: int, timeout: float
) -> tuple[str | None, list[tuple[str, int]]]:
    """One Kafka Metadata v4 request (no topics) on a plain socket.

    Returns ``(cluster_id, [(host, port), ...])``; raises ``OSError`` when the broker is
    unreachable and ``ValueError`` when the answer is not a Metadata response.

    >>> from streamguard.runtime.ports import free_port
    >>> probe_metadata("127.0.0.1", free_port(), 1.0)
    Traceback (most recent call last):
    ...
    ConnectionRefusedError: [Errno 111] Connection refused
    """
    correlation_id = secrets.randbelow(2**31)
    client_id = b"streamguard-probe"
    request = (
        struct.pack(">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(client_id))
        + client_id
        + struct.pack(">ib", 0, 0)  # topics: [] (none); allow_auto_topic_creation: false
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        if not 0 < size < 1_048_576:
            raise ValueError(f"implausible response size {size}")
        reader = _Reader(_recv_exactly(sock, size))
    if reader.int32() != correlation_id:
        raise ValueError("response does not match the request's correlation id")
    reader.int32()  # throttle_time_ms
    brokers = []
    for _ in range(reader.int32()):
        reader.int32()  # node_id
        broker_host = reader.string()
        broker_port = reader.int32()
        reader.string()  # rack
        brokers.append((broker_host or "", broker_port))
    return reader.string(), brokers


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("the broker closed the connection")
        data += chunk
    return bytes(data)


class _Reader:
    """Big-endian Kafka primitives from a response body."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def _take(self, count: int) -> bytes:
        end = self._offset + count
        if end > len(self._data):
            raise ValueError("truncated Kafka response")
        chunk, self._offset = self._data[self._offset : end], end
        return chunk

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def string(self) -> str | None:
        (length,) = struct.unpack(">h", self._take(2))
        return None if length < 0 else self._take(length).decode("utf-8", errors="replace")
