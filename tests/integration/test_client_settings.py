"""The worker's Kafka clients take the settings StreamGuard gives them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from streamguard.app.faust_app import build_app
from streamguard.config import Settings
from streamguard.observability.health import Health
from streamguard.observability.metrics import WorkerMetrics


def _read_from_app(tmp_path: Path, read: Callable[[Any], Awaitable[Any]], **settings: Any) -> Any:
    """Build the worker's Faust app (not started) and return ``await read(app)``."""

    async def built() -> Any:
        config = Settings(data_dir=tmp_path, **settings)
        guard = build_app(config, "127.0.0.1:9", WorkerMetrics(), Health())
        return await read(guard.app)

    return asyncio.run(built())


@pytest.mark.parametrize("wait_ms", [20, 750])
def test_group_consumer_fetch_max_wait_comes_from_settings(tmp_path: Path, wait_ms: int) -> None:
    # Faust hard-codes 1500 ms; a broker that answers fetches at the deadline then adds
    # up to 1.5 s to every record (measured: p50 0.3-0.6 s at 300 events/s).
    async def fetch_wait(app: Any) -> Any:
        client = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return client._fetch_max_wait_ms
        finally:
            await client.stop()  # never started: this only releases it

    assert _read_from_app(tmp_path, fetch_wait, fetch_max_wait_ms=wait_ms) == wait_ms


@pytest.mark.parametrize("linger_ms", [0, 20])
def test_producer_linger_comes_from_settings(tmp_path: Path, linger_ms: int) -> None:
    # At 0, a live stream costs one small produce request per output (measured: socket
    # writes were the worker's top own-time entry at 650 events/s).
    async def linger(app: Any) -> Any:
        return app.producer.linger_ms

    assert _read_from_app(tmp_path, linger, producer_linger_ms=linger_ms) == linger_ms
