"""RecommenderFeed: one model from every partition, snapshots that carry the positions
they cover, and a restart that resumes there (no event learned twice), through fakes of
its two seams (RecordSource, ListSender)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard.recommender.feed import FeedTopics, RecommenderFeed, load_service
from streamguard.recommender.model import CooccurrenceRecommender
from streamguard.recommender.models import algorithm_of
from streamguard.recommender.sequence import SequenceRecommender
from streamguard.recommender.snapshot import (
    SnapshotError,
    read_snapshot,
    restore_positions,
    snapshot,
)

TOPICS = FeedTopics(
    behavior="behavior.clean",
    product="product.clean",
    quarantine="quarantine",
    product_source="product",
    recommendations="recommendations",
)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class FakeLog:
    """Topics as lists of values per partition: what the broker holds."""

    partitions: dict[tuple[str, int], list[bytes]] = field(default_factory=dict)

    def append(self, topic: str, partition: int, value: dict[str, Any] | bytes) -> None:
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        self.partitions.setdefault((topic, partition), []).append(data)


class FakeSource:
    """Reads every partition of a FakeLog from given positions, a few records at a time
    (round robin over partitions, each partition in order), like the partition reader."""

    def __init__(self, log: FakeLog, per_fetch: int = 3) -> None:
        self.log = log
        self.per_fetch = per_fetch
        self.cursor: dict[tuple[str, int], int] = {}
        self.started_at: dict[tuple[str, int], int] | None = None
        self.stopped = False

    async def start(self, positions: Mapping[tuple[str, int], int]) -> None:
        self.started_at = dict(positions)
        self.cursor = {key: positions.get(key, 0) for key in self.log.partitions}

    async def fetch(self, timeout_s: float) -> Sequence[Record]:
        out: list[Record] = []
        for key, values in sorted(self.log.partitions.items()):
            start = self.cursor.get(key, 0)
            for offset in range(start, min(start + self.per_fetch, len(values))):
                out.append(Record(key[0], key[1], offset, values[offset]))
            self.cursor[key] = max(start, min(start + self.per_fetch, len(values)))
        if not out:
            await asyncio.sleep(0)
        return out

    @property
    def drained(self) -> bool:
        return all(self.cursor.get(k, 0) >= len(v) for k, v in self.log.partitions.items())

    async def stop(self) -> None:
        self.stopped = True


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def latest(self) -> dict[str, list[str]]:
        lists: dict[str, list[str]] = {}
        for _, key, value in self.sent:
            assert key is not None
            lists[key.decode()] = [i["product_id"] for i in orjson.loads(value)["items"]]
        return lists


def view(user: str, product: str, ts: int, score: float = 0.1) -> dict[str, Any]:
    return {
        "user_id": user,
        "product_id": product,
        "event_type": "view",
        "ts": ts,
        "_dq": {"status": "valid", "anomaly_score": score},
    }


def behaviour_log(n_users: int = 12, per_user: int = 6) -> FakeLog:
    """Users keyed to partitions (user i on partition i % 2), each viewing a run of
    products; events with increasing ts."""
    log = FakeLog()
    ts = 1_790_000_000_000
    for step in range(per_user):
        for u in range(n_users):
            ts += 1000
            log.append(TOPICS.behavior, u % 2, view(f"u{u}", f"p{(u + step) % 9}", ts))
    return log


def feed_for(path: Path | None, algorithm: str = "auto", **kwargs: Any) -> RecommenderFeed:
    service, positions = load_service(
        path or Path("/nonexistent/none.json"), min_interval_s=0, algorithm=algorithm
    )
    return RecommenderFeed(
        service, TOPICS, positions=positions, snapshot_path=path, anomaly_threshold=0.9, **kwargs
    )


async def drain(feed: RecommenderFeed, source: FakeSource, limit: int | None = None) -> int:
    """Fetch and apply until the source is drained or ``limit`` records were applied."""
    applied = 0
    while not source.drained and (limit is None or applied < limit):
        records = await source.fetch(0)
        feed.apply(records)
        applied += len(records)
    return applied


def answers(feed: RecommenderFeed, users: int = 12) -> list[list[tuple[str, float]]]:
    return [list(feed.service.model.recommend(f"u{u}", 5)) for u in range(users)]


# --- positions in the snapshot -----------------------------------------------------------


def test_the_snapshot_stores_the_positions_and_a_restart_resumes_there(tmp_path: Path) -> None:
    path = tmp_path / "service.json"
    log = behaviour_log()
    feed = feed_for(path)
    source = FakeSource(log)

    async def first_part() -> None:
        await source.start(feed.positions)
        await drain(feed, source, limit=30)
        await feed.save()

    asyncio.run(first_part())
    saved = dict(feed.positions)
    assert sum(saved.values()) >= 30
    _, stored = restore_positions(path.read_bytes())
    assert stored == saved

    restarted = feed_for(path)
    assert restarted.positions == saved
    assert restarted.service.model.events_learned == feed.service.model.events_learned
    resumed = FakeSource(log)
    asyncio.run(resumed.start(restarted.positions))
    assert resumed.started_at == saved  # reading resumes where the snapshot stopped


@pytest.mark.parametrize("algorithm", ["item-cooc", "item-seq"])
def test_restart_after_a_crash_learns_each_event_exactly_once(
    tmp_path: Path, algorithm: str
) -> None:
    """Events learned after the last snapshot are lost with the process, and read again
    from the snapshot's positions: the model ends as if it had read the log once."""
    path = tmp_path / "service.json"
    log = behaviour_log()
    total = sum(len(v) for v in log.partitions.values())

    reference = feed_for(None, algorithm)
    asyncio.run(_start_and_drain(reference, FakeSource(log)))
    assert reference.service.model.events_learned == total

    crashed = feed_for(path, algorithm)
    source = FakeSource(log)

    async def until_crash() -> None:
        await source.start(crashed.positions)
        await drain(crashed, source, limit=24)
        await crashed.save()
        await drain(crashed, source, limit=30)  # learned, never snapshotted: the crash

    asyncio.run(until_crash())
    assert crashed.service.model.events_learned > 24

    restarted = feed_for(path)  # auto: whichever algorithm the snapshot holds
    assert algorithm_of(restarted.service.model) == algorithm
    assert 0 < restarted.service.model.events_learned < crashed.service.model.events_learned
    asyncio.run(_start_and_drain(restarted, FakeSource(log)))
    assert restarted.service.model.events_learned == total  # not total + what was replayed
    assert answers(restarted) == answers(reference)
    assert restarted.service.model.size() == reference.service.model.size()


async def _start_and_drain(feed: RecommenderFeed, source: FakeSource) -> None:
    await source.start(feed.positions)
    await drain(feed, source)


def test_a_record_below_its_partitions_position_is_not_learned_again() -> None:
    feed = feed_for(None)
    records = [
        Record(TOPICS.behavior, 0, 0, orjson.dumps(view("u0", "a", 1))),
        Record(TOPICS.behavior, 0, 1, orjson.dumps(view("u0", "b", 2))),
    ]
    assert feed.apply(records) == 2
    assert feed.apply(records) == 0  # a source that repeats itself
    assert feed.service.model.events_learned == 2
    assert feed.positions == {(TOPICS.behavior, 0): 2}


def test_snapshot_positions_are_type_checked() -> None:
    feed = feed_for(None)
    feed.apply([Record(TOPICS.behavior, 3, 7, orjson.dumps(view("u", "a", 1)))])
    data = orjson.loads(feed.snapshot_bytes())
    assert data["positions"] == [[TOPICS.behavior, 3, 8]]
    for bad in ([["t", -1, 0]], [["t", 0, "7"]], [[1, 0, 0]], {"t": 1}):
        data["positions"] = bad
        with pytest.raises(SnapshotError):
            restore_positions(orjson.dumps(data))


def test_the_workers_model_snapshot_still_restores(tmp_path: Path) -> None:
    """A snapshot without positions (the worker's embedded recommender) reads as before."""
    feed = feed_for(None)
    feed.apply([Record(TOPICS.behavior, 0, 0, orjson.dumps(view("u", "a", 1)))])
    path = tmp_path / "model.json"
    served = feed.service.model
    assert isinstance(served, CooccurrenceRecommender | SequenceRecommender)
    path.write_bytes(snapshot(served))
    model = read_snapshot(path)
    assert model is not None and model.events_learned == 1
    assert restore_positions(path.read_bytes())[1] == {}


# --- one model for every partition ---------------------------------------------------------


def test_co_occurrences_from_every_partition_reach_every_user() -> None:
    """Teachers on partition 0 pair `hub` with `left`, those on partition 1 with `right`:
    a user on either partition who views `hub` is recommended both."""
    log = FakeLog()
    for n in range(4):
        log.append(TOPICS.behavior, 0, view(f"t0-{n}", "hub", 10 + n))
        log.append(TOPICS.behavior, 0, view(f"t0-{n}", "left", 20 + n))
        log.append(TOPICS.behavior, 1, view(f"t1-{n}", "hub", 10 + n))
        log.append(TOPICS.behavior, 1, view(f"t1-{n}", "right", 20 + n))
    log.append(TOPICS.behavior, 0, view("probe-0", "hub", 100))
    log.append(TOPICS.behavior, 1, view("probe-1", "hub", 100))
    feed = feed_for(None)
    asyncio.run(_start_and_drain(feed, FakeSource(log)))
    for probe in ("probe-0", "probe-1"):
        top = [p for p, _ in feed.service.model.recommend(probe, 2)]
        assert set(top) == {"left", "right"}, (probe, top)


def test_a_product_delete_on_any_partition_hides_it_for_every_user() -> None:
    log = FakeLog()
    for n in range(4):
        for partition, user in ((0, f"a{n}"), (1, f"b{n}")):
            log.append(TOPICS.behavior, partition, view(user, "hub", 10 + n))
            log.append(TOPICS.behavior, partition, view(user, "gone", 20 + n))
            log.append(TOPICS.behavior, partition, view(user, "kept", 30 + n))
    log.append(TOPICS.behavior, 0, view("probe-0", "hub", 100))
    log.append(TOPICS.behavior, 1, view("probe-1", "hub", 100))
    feed = feed_for(None)
    sender = FakeSender()

    async def scenario() -> None:
        source = FakeSource(log)
        await source.start(feed.positions)
        await drain(feed, source)
        await feed.publish(sender)
        assert {"gone", "kept"} <= set(sender.latest()["probe-1"])
        # The delete lands on product partition 1 (its key's), the stock change on 0.
        log.append(TOPICS.product, 1, {"product_id": "gone", "op": "delete", "ts": 200})
        log.append(TOPICS.product, 0, {"product_id": "kept", "op": "upsert", "stock": 0})
        await drain(feed, source)
        await feed.publish(sender)

    asyncio.run(scenario())
    latest = sender.latest()
    for user in ("probe-0", "probe-1", "a0", "b0"):
        assert not {"gone", "kept"} & set(latest[user]), (user, latest[user])


def test_a_quarantined_product_record_hides_the_product() -> None:
    feed = feed_for(None)
    for n in range(3):
        feed.apply(
            [
                Record(TOPICS.behavior, 0, 2 * n, orjson.dumps(view(f"u{n}", "hub", n))),
                Record(TOPICS.behavior, 0, 2 * n + 1, orjson.dumps(view(f"u{n}", "bad", n))),
            ]
        )
    assert "bad" in [p for p, _ in feed.service.model.recommend("probe", 5)]
    raw = orjson.dumps({"product_id": "bad", "op": "upsert", "price": -1})
    quarantined = [
        # A behaviour record in quarantine does not hide anything.
        {"source": {"topic": "behavior", "partition": 0, "offset": 1}, "raw": raw.decode()},
        {
            "source": {"topic": TOPICS.product_source, "partition": 2, "offset": 5},
            "raw": base64.b64encode(raw).decode(),
            "encoding": "base64",
        },
    ]
    feed.apply(
        [Record(TOPICS.quarantine, 0, i, orjson.dumps(q)) for i, q in enumerate(quarantined)]
    )
    assert "bad" not in [p for p, _ in feed.service.model.recommend("probe", 5)]
    assert not feed.service.model.is_available("bad")


def test_anomalous_and_undecodable_records_are_skipped_but_passed() -> None:
    feed = feed_for(None)
    learned = feed.apply(
        [
            Record(TOPICS.behavior, 0, 0, orjson.dumps(view("u", "a", 1, score=0.95))),
            Record(TOPICS.behavior, 0, 1, b"\xff not json"),
            Record(TOPICS.behavior, 0, 2, None),
            Record(TOPICS.behavior, 0, 3, orjson.dumps(view("u", "b", 2))),
        ]
    )
    assert learned == 1
    assert feed.positions == {(TOPICS.behavior, 0): 4}


# --- the loop ------------------------------------------------------------------------------


def test_run_publishes_keyed_lists_and_snapshots_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "service.json"
    log = behaviour_log()
    feed = feed_for(path, publish_interval_s=0.0, snapshot_interval_s=3600)
    source, sender = FakeSource(log), FakeSender()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(source, sender, stop))
        while not source.drained:
            await asyncio.sleep(0.001)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    assert source.stopped
    assert {topic for topic, _, _ in sender.sent} == {"recommendations"}
    for _, key, value in sender.sent:
        assert key == orjson.loads(value)["user_id"].encode()
    assert set(sender.latest()) == {f"u{u}" for u in range(12)}
    _, positions = restore_positions(path.read_bytes())
    assert positions == {key: len(v) for key, v in log.partitions.items()}


def test_load_service_starts_the_configured_algorithm_and_not_a_snapshot_of_the_other(
    tmp_path: Path,
) -> None:
    from streamguard.recommender.model import CooccurrenceRecommender
    from streamguard.recommender.sequence import SequenceRecommender

    path = tmp_path / "model.json"
    service, positions = load_service(path, algorithm="item-seq")
    assert isinstance(service.model, SequenceRecommender) and positions == {}
    service, positions = load_service(path)  # auto without a snapshot: item-seq
    assert isinstance(service.model, SequenceRecommender) and positions == {}

    cooc = CooccurrenceRecommender()
    cooc.learn_one({"user_id": "ann", "product_id": "tent", "event_type": "view"})
    path.write_bytes(snapshot(cooc, positions={("behavior.clean", 0): 7}))
    restored, positions = load_service(path, algorithm="item-cooc")  # restored as saved
    assert restored.model.events_learned == 1 and positions == {("behavior.clean", 0): 7}
    # auto (the default) keeps the snapshot's algorithm, its state and its positions
    kept, positions = load_service(path)
    assert isinstance(kept.model, CooccurrenceRecommender)
    assert kept.model.events_learned == 1 and positions == {("behavior.clean", 0): 7}
    assert kept.snapshot(positions) == snapshot(cooc, positions={("behavior.clean", 0): 7})
    # A switched algorithm starts empty and re-reads from the start: the old positions
    # describe the other model's state.
    switched, positions = load_service(path, algorithm="item-seq")
    assert isinstance(switched.model, SequenceRecommender)
    assert switched.model.events_learned == 0 and positions == {}
    with pytest.raises(ValueError, match="unknown recommender algorithm"):
        load_service(tmp_path / "none.json", algorithm="item-mf")
