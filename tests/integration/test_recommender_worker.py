"""The worker's recommender through the broker: behaviour events in, recommendation
records out for the right users, at most one per user per refresh interval, and a
restarted worker keeps the model it learned (snapshot in its data dir)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.fault_kinds import GeneratedRecord
from streamguard.testing.worker_harness import (
    WorkerProcess,
    new_worker,
    produce,
)

pytestmark = pytest.mark.integration

MIN_INTERVAL_S = 2.0


def view(user: str, product: str, n: int) -> GeneratedRecord:
    event = {
        "event_id": f"{user}-{product}-{n}",
        "event_type": "view",
        "user_id": user,
        "product_id": product,
        "ts": datetime.now(UTC).isoformat(),
    }
    return GeneratedRecord("behavior", user.encode(), orjson.dumps(event), None, "valid", None)


def wave(users: range, start: int, n: int) -> list[GeneratedRecord]:
    """Each user views three products of a shared run, so items co-occur."""
    return [view(f"u{u}", f"p{(u + i + start) % 12}", n) for u in users for i in range(3)]


async def read_recommendations(
    bootstrap: str, topic: str, until: Any, timeout_s: float
) -> list[tuple[bytes, dict[str, Any]]]:
    """Read the recommendations topic from the start until ``until(records)`` holds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not (partitions := consumer.partitions_for_topic(topic)):
            await consumer._client.force_metadata_update()  # noqa: SLF001 - no public way
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} never appeared")
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: list[tuple[bytes, dict[str, Any]]] = []
        while not until(seen):
            if time.monotonic() > deadline:
                raise TimeoutError(f"recommendations so far: {[r for _, r in seen]}")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                seen += [(m.key, orjson.loads(m.value)) for m in batch]
        return seen
    finally:
        await consumer.stop()


def learned(record: dict[str, Any]) -> int:
    """Events the model had learned when it made ``record`` (from its model_version)."""
    return int(str(record["model_version"]).rsplit("@", 1)[1])


@pytest.mark.parametrize(
    ("algorithm", "after_restart", "tag"),
    [
        ("item-cooc", "item-cooc", "item-cooc-v1@"),
        ("item-seq", "item-seq", "item-seq-v1@"),
        # An upgrade to the default (auto) keeps the item-cooc model and what it learned.
        ("item-cooc", "auto", "item-cooc-v1@"),
    ],
)
def test_recommendations_for_the_right_users_bounded_and_kept_across_restart(
    broker: EmbeddedBroker, tmp_path: Path, algorithm: str, after_restart: str, tag: str
) -> None:
    topics, first = new_worker(
        broker.bootstrap,
        tmp_path,
        name="worker-1",
        STREAMGUARD_RECOMMENDER_MIN_INTERVAL_S=str(MIN_INTERVAL_S),
        STREAMGUARD_RECOMMENDER_ALGORITHM=algorithm,
        STREAMGUARD_RECOMMENDER_CONTENT="false",  # no embedder in the child: model only
    )
    try:
        first.start().wait_ready()
        users = range(20)
        asyncio.run(produce(broker.bootstrap, topics, wave(users, 0, 1)))

        def interacted(user: str) -> set[str]:
            u = int(user[1:])
            return {f"p{(u + i) % 12}" for i in range(3)}

        def settled(seen: list[tuple[bytes, dict[str, Any]]]) -> bool:
            # Eventually each user's latest list is made after all its views were learned
            # (a list made mid-wave may still hold a product the user views next).
            latest = {r["user_id"]: r for _, r in seen}
            return set(latest) >= {f"u{u}" for u in users} and all(
                latest[f"u{u}"]["items"]
                and not interacted(f"u{u}") & {i["product_id"] for i in latest[f"u{u}"]["items"]}
                for u in users
            )

        seen = asyncio.run(
            read_recommendations(broker.bootstrap, topics.recommendations, settled, 60)
        )
        for key, record in seen:
            assert key == record["user_id"].encode()
            assert 0 < len(record["items"]) <= 10, record
            assert record["model_version"].startswith(tag), record

        # A second wave for the same users: at most one list per user per interval.
        asyncio.run(produce(broker.bootstrap, topics, wave(users, 4, 2)))

        def republished(seen: list[tuple[bytes, dict[str, Any]]]) -> bool:
            per_user: defaultdict[str, int] = defaultdict(int)
            for _, r in seen:
                per_user[r["user_id"]] += 1
            return all(per_user[f"u{u}"] >= 2 for u in users)

        seen = asyncio.run(
            read_recommendations(broker.bootstrap, topics.recommendations, republished, 60)
        )
        times: dict[str, list[float]] = defaultdict(list)
        for _, record in seen:
            generated = datetime.fromisoformat(record["generated_at"].replace("Z", "+00:00"))
            times[record["user_id"]].append(generated.timestamp())
        for user, stamps in times.items():
            gaps = [b - a for a, b in zip(sorted(stamps), sorted(stamps)[1:], strict=False)]
            assert all(gap >= MIN_INTERVAL_S - 0.05 for gap in gaps), (user, gaps)
        before_restart = max(learned(r) for _, r in seen)
        assert before_restart >= 60
        assert first.stop() == 0
        assert (tmp_path / "state" / "recommender" / "model.json").is_file()

        # Restart: a brand-new user's list comes from a model that remembers the rest.
        env = {**first.env, "STREAMGUARD_RECOMMENDER_ALGORITHM": after_restart}
        second = WorkerProcess(env, tmp_path / "worker-2.log", first.metrics_port)
        try:
            second.start().wait_ready()
            asyncio.run(produce(broker.bootstrap, topics, [view("newcomer", "p1", 3)]))
            seen = asyncio.run(
                read_recommendations(
                    broker.bootstrap,
                    topics.recommendations,
                    lambda s: any(r["user_id"] == "newcomer" for _, r in s),
                    60,
                )
            )
            newcomer = next(r for _, r in seen if r["user_id"] == "newcomer")
            assert newcomer["model_version"].startswith(tag), newcomer
            assert learned(newcomer) > before_restart
            # What co-occurred with p1 before the restart is recommended now.
            assert newcomer["items"], newcomer
            assert second.stop() == 0
        finally:
            if second.process is not None and second.process.poll() is None:
                second.stop()
    finally:
        if first.process is not None and first.process.poll() is None:
            first.stop()
