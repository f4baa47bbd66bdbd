"""Kafka over TLS: StreamGuard's TLS settings reach every client, the worker included.

The embedded broker (this Tansu build) cannot serve TLS itself, so a TLS terminator on
loopback sits in front of it, with a certificate from a throwaway CA made here, and the
broker advertises the terminator's port. Clients do a real TLS handshake and verify the
certificate chain and host name; only the last loopback hop is plaintext.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from streamguard.config import Settings
from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.fault_kinds import FaultMix
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    assert_exactly_one_destination,
    free_port,
    new_worker,
    produce,
    read_outputs,
)

pytestmark = pytest.mark.integration


class TlsTerminator:
    """Accepts TLS on ``port`` and pipes each connection to a plaintext ``upstream``."""

    def __init__(self, port: int, upstream: int, context: ssl.SSLContext) -> None:
        self.port, self._upstream, self._context = port, upstream, context
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-terminator", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    def __enter__(self) -> TlsTerminator:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("TLS terminator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self._context)
        )
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        # Close what the clients left open, so no socket or loop outlives the test.
        for writer in self._writers:
            writer.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)
        except OSError:
            writer.close()
            return
        self._writers.append(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_broker(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker reachable only through TLS on ``127.0.0.1:<port>``; yields the bootstrap."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    tls_port = free_port()
    with EmbeddedBroker(advertised_port=tls_port) as broker:
        with TlsTerminator(tls_port, broker.port, context):
            yield f"127.0.0.1:{tls_port}"


def ca_file(ca: trustme.CA, directory: Path) -> Path:
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_clients_verify_the_certificate_with_the_configured_ca(
    tls_broker: str, ca: trustme.CA, tmp_path: Path
) -> None:
    settings = Settings(security_protocol="SSL", ssl_cafile=ca_file(ca, tmp_path))
    options: dict[str, Any] = settings.kafka_client_options()
    assert isinstance(options["ssl_context"], ssl.SSLContext)

    async def send_one() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=tls_broker, **options)
        await producer.start()
        try:
            meta = await producer.send_and_wait("tls-check", b"hello", key=b"k")
            return int(meta.offset)
        finally:
            await producer.stop()

    assert asyncio.run(send_one()) >= 0


def test_a_certificate_from_another_ca_is_refused(tls_broker: str, tmp_path: Path) -> None:
    stranger = trustme.CA()  # the client trusts only this CA, not the broker's
    settings = Settings(security_protocol="SSL", ssl_cafile=ca_file(stranger, tmp_path))

    async def connect() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=tls_broker, request_timeout_ms=3000, **settings.kafka_client_options()
        )
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect())


def test_the_worker_runs_over_tls(tls_broker: str, ca: trustme.CA, tmp_path: Path) -> None:
    cafile = ca_file(ca, tmp_path)
    client = Settings(security_protocol="SSL", ssl_cafile=cafile).kafka_client_options()
    topics, worker = new_worker(
        tls_broker,
        tmp_path,
        STREAMGUARD_SECURITY_PROTOCOL="SSL",
        STREAMGUARD_SSL_CAFILE=str(cafile),
    )
    try:
        worker.start().wait_ready()
        records = list(generate("both", 300, seed=5, faults=FaultMix.uniform(0.2, "both")))
        placed = asyncio.run(produce(tls_broker, topics, records, **client))
        outputs = asyncio.run(read_outputs(tls_broker, topics, placed, timeout_s=90, **client))
        counts = assert_exactly_one_destination(topics, placed, outputs)
        assert sum(counts.values()) == len(records)
    finally:
        assert worker.stop() == 0
