"""The worker's group consumer takes the fetch settings StreamGuard gives it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streamguard.app.faust_app import build_app
from streamguard.config import Settings
from streamguard.metrics import Health, WorkerMetrics


@pytest.mark.parametrize("wait_ms", [20, 750])
def test_group_consumer_fetch_max_wait_comes_from_settings(tmp_path: Path, wait_ms: int) -> None:
    # Faust hard-codes 1500 ms; a broker that answers fetches at the deadline then adds
    # up to 1.5 s to every record (measured: p50 0.3-0.6 s at 300 events/s).
    async def created_wait() -> Any:
        settings = Settings(fetch_max_wait_ms=wait_ms, data_dir=tmp_path)
        guard = build_app(settings, "127.0.0.1:9", WorkerMetrics(), Health())
        consumer: Any = guard.app.consumer
        client = consumer._thread._create_worker_consumer(guard.app.transport)
        try:
            return client._fetch_max_wait_ms
        finally:
            await client.stop()  # never started: this only releases it

    assert asyncio.run(created_wait()) == wait_ms
