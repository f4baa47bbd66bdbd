"""The raw Metadata probe, against a fake one-connection-at-a-time Kafka server."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from streamguard.devtools.wire_probe import probe_metadata
from streamguard.runtime.ports import free_port


@pytest.fixture
def fake_kafka() -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection-at-a-time server answering Metadata v4; yields (port, replies)."""
    replies: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def kstr(value: str) -> bytes:
        return struct.pack(">h", len(value)) + value.encode()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack(">i", conn.recv(4))[0]
                request = b""
                while len(request) < size:
                    request += conn.recv(size - len(request))
                api_key, version, correlation_id = struct.unpack(">hhi", request[:8])
                assert (api_key, version) == (3, 4)
                mode = replies.pop(0) if replies else b"ok"
                if mode == b"wrong-id":
                    correlation_id += 1
                body = struct.pack(">iii", correlation_id, 0, 1)
                body += struct.pack(">i", 7) + kstr("127.0.0.1") + struct.pack(">ih", port, -1)
                body += kstr("cluster-x") + struct.pack(">ii", 7, 0)
                if mode == b"truncated":
                    body = body[:20]
                conn.sendall(struct.pack(">i", len(body)) + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, replies
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        server.close()
        thread.join(timeout=5)


def test_probe_metadata_reads_cluster_id_and_brokers(fake_kafka: tuple[int, list[bytes]]) -> None:
    port, replies = fake_kafka
    cluster_id, brokers = probe_metadata("127.0.0.1", port, 2.0)
    assert cluster_id == "cluster-x" and brokers == [("127.0.0.1", port)]
    replies.append(b"wrong-id")
    with pytest.raises(ValueError, match="correlation"):
        probe_metadata("127.0.0.1", port, 2.0)
    replies.append(b"truncated")
    with pytest.raises(ValueError, match="truncated"):
        probe_metadata("127.0.0.1", port, 2.0)


def test_probe_metadata_unreachable() -> None:
    with pytest.raises(OSError):
        probe_metadata("127.0.0.1", free_port(), 1.0)
