"""The worker's detector state link: restored when the app is built, saved by a timer and
by the app's shutdown signal, every outcome counted in the worker's metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from streamguard.app.detector_state import DetectorStateLink
from streamguard.app.faust_app import build_app
from streamguard.config import Settings
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import SourcePosition
from streamguard.observability.health import Health
from streamguard.observability.metrics import WorkerMetrics
from streamguard.observability.registry import CollectorRegistry
from streamguard.pipeline import RecordPipeline
from streamguard.wiring import EngineGroup, build_engines, build_scorers, pipeline_observers
from tests.unit import drift_scenarios as sc

STREAMS = ("behavior", "product")


def settings(tmp_path: Path, **more: Any) -> Settings:
    return Settings(model="hashing", data_dir=tmp_path, recommender_enabled=False, **more)


def engines(config: Settings) -> EngineGroup:
    return build_engines(config, STREAMS, embedder=HashingEmbedder(dim=32))


def feed(group: EngineGroup, scorers: Any, count: int) -> None:
    records = sc.synthetic_products(count)
    pipeline = RecordPipeline(
        "product", observers=pipeline_observers(drift=group["product"], quality=scorers["product"])
    )
    for i, record in enumerate(records):
        pipeline.process(orjson.dumps(record), SourcePosition("t", 0, i))


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_a_timer_save_then_a_restore_counts_in_the_metrics(tmp_path: Path) -> None:
    config = settings(tmp_path)
    group, scorers = engines(config), build_scorers(config)
    registry = CollectorRegistry()
    link = DetectorStateLink(config, registry, engines=group, scorers=scorers)
    assert {r.result for r in link.restore()} == {"missing"}
    assert sample(
        registry,
        "streamguard_detector_state_restores_total",
        stream="product",
        detector="drift",
        result="missing",
    )
    group.start()
    try:
        feed(group, scorers, 400)
        group["product"].flush()
        asyncio.run(link.save())
    finally:
        group.close()
    for detector in ("drift", "quality"):
        assert sample(
            registry,
            "streamguard_detector_state_saves_total",
            stream="product",
            detector=detector,
            result="ok",
        )
    size = sample(registry, "streamguard_detector_state_bytes", stream="product", detector="drift")
    assert size is not None and size > 10_000
    assert sample(registry, "streamguard_detector_state_last_save_timestamp_seconds")
    assert sample(registry, "streamguard_detector_state_capture_seconds") is not None

    again = CollectorRegistry()
    fresh_group = engines(config)
    restored = DetectorStateLink(config, again, engines=fresh_group, scorers=build_scorers(config))
    assert {r.result for r in restored.restore()} == {"restored"}
    assert fresh_group["product"].semantic  # the reservoirs are back
    assert sample(
        again,
        "streamguard_detector_state_restores_total",
        stream="product",
        detector="drift",
        result="restored",
    )


def test_the_shutdown_save_takes_the_texts_still_queued(tmp_path: Path) -> None:
    config = settings(tmp_path)
    group, scorers = engines(config), build_scorers(config)
    link = DetectorStateLink(config, CollectorRegistry(), engines=group, scorers=scorers)
    feed(group, scorers, 400)  # the embedding thread is not running: every text waits
    assert group["product"].semantic == {}
    group.start()
    try:
        asyncio.run(link.save_at_shutdown(object(), signal=None))
    finally:
        group.close()
    fresh = engines(config)
    restored = DetectorStateLink(config, CollectorRegistry(), engines=fresh, scorers={})
    assert {r.result for r in restored.restore()} == {"restored"}
    assert set(fresh["product"].semantic) == {"title", "description", "category", "brand"}


def test_a_save_that_cannot_write_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = settings(blocker)
    registry = CollectorRegistry()
    link = DetectorStateLink(config, registry, engines=None, scorers=build_scorers(config))
    asyncio.run(link.save())
    asyncio.run(link.save_at_shutdown(object()))
    assert (
        sample(
            registry,
            "streamguard_detector_state_saves_total",
            stream="behavior",
            detector="quality",
            result="error",
        )
        == 2.0
    )
    assert sample(registry, "streamguard_detector_state_last_save_timestamp_seconds") == 0.0


def test_the_app_restores_at_build_and_saves_on_its_timer_and_at_shutdown(tmp_path: Path) -> None:
    config = settings(tmp_path, detector_snapshot_interval_s=7.0)
    first = build_scorers(config, catalogue=Catalogue())  # the app's has one too
    for _ in range(3):
        first["behavior"].on_outcome(_outcome())
    first["behavior"].close_window()
    DetectorStateLink(config, CollectorRegistry(), engines=None, scorers=first).snapshots.save()

    async def built() -> Any:
        metrics = WorkerMetrics()
        guard = build_app(config, "127.0.0.1:9", metrics, Health())
        return guard, metrics

    guard, metrics = asyncio.run(built())
    assert guard.detector_state is not None
    assert guard.quality["behavior"].snapshot() == first["behavior"].snapshot()
    assert (
        sample(
            metrics.registry,
            "streamguard_detector_state_restores_total",
            stream="behavior",
            detector="quality",
            result="restored",
        )
        == 1.0
    )
    shutdown = guard.app.on_before_shutdown
    assert guard.detector_state.save_at_shutdown in set(shutdown.iter_receivers(guard.app))
    tasks = [
        getattr(getattr(t, "__wrapped__", t), "__wrapped__", None) for t in guard.app._app_tasks
    ]
    assert guard.detector_state.save in tasks  # the timer (Faust wraps it twice)

    off = build_app(
        settings(tmp_path / "off", detector_snapshots=False),
        "127.0.0.1:9",
        WorkerMetrics(),
        Health(),
    )
    assert off.detector_state is None


class Catalogue(dict[str, Any]):
    """A product lookup standing in for the app's table."""


def _outcome() -> Any:
    pipeline = RecordPipeline("behavior")
    return pipeline.process(b'{"event_id": "e1"}', SourcePosition("t", 0, 0))
