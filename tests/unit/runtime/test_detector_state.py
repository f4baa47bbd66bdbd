"""Detector state across a restart: a restored drift engine and quality scorer go on
exactly like ones that never stopped; a file that does not fit starts them fresh."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard.config import Settings
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline
from streamguard.runtime import state_store
from streamguard.runtime.detector_state import DetectorSnapshots, state_dir
from streamguard.runtime.state_store import Pickled, seal, write_atomic
from streamguard.wiring import EngineGroup, build_engines, build_scorers, pipeline_observers
from tests.unit import drift_scenarios as sc

NOW = 1_793_491_300.0
STREAMS = ("behavior", "product")
WARM = 700  # past the schema and semantic warm-ups, several quality windows


def clock() -> float:
    return NOW


class Catalogue(dict[str, Any]):
    """The worker's product lookup (a Faust table there): the process's, not the state's."""


class Worker:
    """The detectors a worker holds for both streams (synchronous: deterministic)."""

    def __init__(self, settings: Settings, *, synchronous: bool = True) -> None:
        # Lambdas and a dict catalogue: neither is pickled (the worker's own objects).
        self.engines: EngineGroup = build_engines(
            settings,
            STREAMS,
            synchronous=synchronous,
            embedder=HashingEmbedder(dim=64),
            clock=lambda: NOW,
        )
        self.catalogue = Catalogue()
        self.scorers = build_scorers(
            settings, catalogue=self.catalogue, clock=lambda: NOW, max_window_s=1e9
        )
        self.pipelines = {
            stream: RecordPipeline(
                stream,
                clock=clock,
                observers=pipeline_observers(
                    drift=self.engines[stream], quality=self.scorers[stream]
                ),
            )
            for stream in STREAMS
        }
        self.offset = 0

    def snapshots(self, folder: Path, settings: Settings) -> DetectorSnapshots:
        return DetectorSnapshots(folder, settings, engines=self.engines, scorers=self.scorers)

    def run(self, stream: str, records: list[dict[str, Any]]) -> list[Any]:
        """Outcome values, then every finding and drift statistic they led to."""
        values = []
        for record in records:
            outcome = self.pipelines[stream].process(
                orjson.dumps(record), SourcePosition(f"t.{stream}", 0, self.offset)
            )
            self.offset += 1
            values.append(outcome.value)
        engine = self.engines[stream]
        engine.flush()
        findings = [f.as_dict() for f in engine.drain_findings()]
        stats = engine.drain_stats()
        return [values, findings, self.scorers[stream].drain_findings(), stats.drift]


def product_then(change: Callable[[sc.Record, int], sc.Record | None]) -> list[sc.Record]:
    return sc.drift_from(sc.synthetic_products(WARM + 400), WARM, change)


def add_gtin(record: sc.Record, i: int) -> sc.Record:
    record["gtin"] = f"789{i:010d}"
    if i % 50 == 0:
        record["price"] = 99_999.0  # and a few anomalies
    return record


def drop_user(record: sc.Record, i: int) -> sc.Record:
    record.pop("session_id", None)  # completeness falls
    return record


def inputs() -> dict[str, list[sc.Record]]:
    return {
        "product": product_then(add_gtin),
        "behavior": sc.drift_from(sc.synthetic_behavior(WARM + 1200), WARM, drop_user),
    }


def test_restored_detectors_continue_exactly_like_ones_that_never_stopped(
    tmp_path: Path,
) -> None:
    settings = Settings(model="hashing")
    records = inputs()
    never_stopped = Worker(settings)
    for stream in STREAMS:
        never_stopped.run(stream, records[stream][:WARM])
    written = never_stopped.snapshots(tmp_path, settings).save()
    assert sorted(w.path.name for w in written) == [
        "drift-behavior.state",
        "drift-product.state",
        "quality-behavior.state",
        "quality-product.state",
    ]
    assert all(w.error is None and w.size > 0 for w in written)

    restarted, fresh = Worker(settings), Worker(settings)
    results = restarted.snapshots(tmp_path, settings).restore()
    assert {(r.detector, r.stream, r.result) for r in results} == {
        (d, s, "restored") for d in ("drift", "quality") for s in STREAMS
    }
    # The live objects are the new process's: the catalogue is the one it was built with.
    assert restarted.scorers["behavior"].catalogue is restarted.catalogue
    for worker in (restarted, fresh):
        worker.offset = never_stopped.offset
    for stream in STREAMS:
        after = records[stream][WARM:]
        expected = never_stopped.run(stream, after)
        assert restarted.run(stream, after) == expected
        # The scenario is sensitive: a worker that starts fresh does not get there.
        assert fresh.run(stream, after) != expected


def test_a_drift_under_way_at_start_is_found_only_with_the_restored_state(
    tmp_path: Path,
) -> None:
    settings = Settings(model="hashing")
    records = product_then(add_gtin)
    before = Worker(settings)
    before.run("product", records[:WARM])
    before.snapshots(tmp_path, settings).save()

    def new_fields(worker: Worker) -> list[str]:
        _, findings, _, _ = worker.run("product", records[WARM:])
        return [f["field"] for f in findings if f["kind"] == "schema_drift"]

    restarted, fresh = Worker(settings), Worker(settings)
    restarted.snapshots(tmp_path, settings).restore()
    assert "gtin" in new_fields(restarted)
    assert "gtin" not in new_fields(fresh)  # taken as part of the baseline


def saved(tmp_path: Path, settings: Settings | None = None) -> Worker:
    settings = settings or Settings(model="hashing")
    worker = Worker(settings)
    for stream, records in inputs().items():
        worker.run(stream, records[:300])
    worker.snapshots(tmp_path, settings).save()
    return worker


def results(tmp_path: Path, settings: Settings, worker: Worker | None = None) -> dict[str, str]:
    worker = worker or Worker(settings)
    return {
        f"{r.detector}-{r.stream}": r.result for r in worker.snapshots(tmp_path, settings).restore()
    }


@pytest.mark.parametrize(
    ("change", "starts_fresh"),
    [
        ({"anomaly_threshold": 0.8}, {"drift-behavior", "drift-product"}),
        ({"model": "another-model"}, {"drift-behavior", "drift-product"}),
        ({"quality_window": 50}, {"quality-behavior", "quality-product"}),
        ({"quality_late_after_s": 60.0}, {"quality-behavior", "quality-product"}),
    ],
)
def test_a_setting_that_shapes_a_detector_starts_it_fresh(
    tmp_path: Path, change: dict[str, Any], starts_fresh: set[str], caplog: Any
) -> None:
    saved(tmp_path)
    settings = Settings(model="hashing").model_copy(update=change)
    got = results(tmp_path, settings)
    assert {k for k, v in got.items() if v == "config"} == starts_fresh
    assert {k for k, v in got.items() if v == "restored"} == set(got) - starts_fresh
    assert "starting fresh (config:" in caplog.text
    for name in starts_fresh:  # set aside for a look, out of the next start's way
        assert (tmp_path / f"{name}.state.rejected").exists()
        assert not (tmp_path / f"{name}.state").exists()


def test_a_restore_leaves_a_fresh_detector_fresh_when_the_file_does_not_fit(
    tmp_path: Path,
) -> None:
    saved(tmp_path)
    settings = Settings(model="hashing", anomaly_threshold=0.8)
    worker = Worker(settings)
    results(tmp_path, settings, worker)
    assert worker.engines["product"].schema._records == 0
    assert worker.engines["product"].semantic == {}


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (corrupt, "corrupt"),
        (lambda p: p.write_bytes(p.read_bytes()[:1000]), "corrupt"),
        (lambda p: p.write_bytes(b""), "corrupt"),
        (lambda p: p.write_bytes(b"\x80\x05garbage"), "corrupt"),
        (
            lambda p: p.write_bytes(
                state_store.MAGIC + b"\x00\x63" + p.read_bytes()[len(state_store.MAGIC) + 2 :]
            ),
            "version",
        ),
    ],
)
def test_a_damaged_file_starts_the_detector_fresh(
    tmp_path: Path, damage: Callable[[Path], Any], reason: str
) -> None:
    saved(tmp_path)
    damage(tmp_path / "drift-product.state")
    got = results(tmp_path, Settings(model="hashing"))
    assert got.pop("drift-product") == reason
    assert set(got.values()) == {"restored"}


def test_changed_detector_code_starts_it_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(tmp_path)
    monkeypatch.setitem(state_store._SOURCE_DIGESTS, "streamguard.drift.semantic_drift", "new")
    monkeypatch.setitem(state_store._SOURCE_DIGESTS, "streamguard.quality.detector", "new")
    got = results(tmp_path, Settings(model="hashing"))
    assert got == {
        "drift-behavior": "code",
        "drift-product": "code",
        "quality-behavior": "code",
        "quality-product": "code",
    }


class Boom:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.getcwd, ())


def test_a_file_naming_a_class_outside_the_allow_list_is_not_unpickled(
    tmp_path: Path,
) -> None:
    worker = saved(tmp_path)
    snapshots = worker.snapshots(tmp_path, Settings(model="hashing"))
    header = next(c.header for c in snapshots.capture() if c.stream == "product")
    payload = pickle.dumps(Boom(), protocol=5)
    path = tmp_path / "drift-product.state"
    write_atomic(path, seal(Pickled(payload), header))
    got = results(tmp_path, Settings(model="hashing"))
    assert got["drift-product"] == "unreadable"


def test_no_file_is_a_first_start(tmp_path: Path) -> None:
    got = results(tmp_path / "empty", Settings(model="hashing"))
    assert set(got.values()) == {"missing"}


def test_state_files_are_the_workers_own(tmp_path: Path) -> None:
    saved(tmp_path)
    cut_short = tmp_path / "drift-product.state.x1y2.tmp"  # a save killed mid-write
    cut_short.write_bytes(b"half")
    results(tmp_path, Settings(model="hashing"))
    for path in tmp_path.iterdir():
        assert path.suffix == ".state", path  # no temp file left behind
        assert path.stat().st_mode & 0o077 == 0
    assert state_dir(Settings(data_dir=tmp_path)) == tmp_path / "detectors"


def test_engines_with_the_embedding_thread_save_and_restore(tmp_path: Path) -> None:
    settings = Settings(model="hashing")
    records = inputs()
    first = Worker(settings, synchronous=False)
    first.engines.start()
    snapshots = first.snapshots(tmp_path, settings)  # as the worker: before any record
    try:
        # the thread's path into each engine goes through the snapshot lock
        scheduler = first.engines["product"].embedding
        assert scheduler is not None
        assert scheduler.on_vectors != first.engines["product"].on_vectors
        for stream in STREAMS:
            first.run(stream, records[stream][:WARM])
        written = snapshots.save()
        assert all(w.error is None for w in written)
    finally:
        first.engines.close()
    second = Worker(settings, synchronous=False)
    second.engines.start()
    try:
        assert set(results(tmp_path, settings, second).values()) == {"restored"}
        assert set(second.engines["product"].semantic) == set(first.engines["product"].semantic)
        _, findings, _, _ = second.run("product", records["product"][WARM:])
        assert "gtin" in {f["field"] for f in findings if f["kind"] == "schema_drift"}
    finally:
        second.engines.close()
