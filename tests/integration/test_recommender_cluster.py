"""Two workers share the input partitions (their embedded recommenders off) and one
``streamguard recommender`` reads every partition of the clean topics: co-occurrences
learned from users on every partition, whichever worker validated them, combine into one
model, and a product delete reaches the lists of users on every partition."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.recommender.snapshot import restore_positions
from streamguard.sources.fault_kinds import GeneratedRecord
from streamguard.testing.worker_harness import (
    REPO,
    Topics,
    WorkerProcess,
    free_port,
    produce,
    worker_env,
)
from tests.integration.test_recommender_worker import read_recommendations

pytestmark = pytest.mark.integration

PARTITIONS = (0, 1, 2)  # worker_env creates every topic with 3 partitions
SIDES = {p: f"side-{p}" for p in PARTITIONS}


def partition_of(key: str) -> int:
    """The partition the producer's default partitioner (murmur2) gives ``key``."""
    return int(DefaultPartitioner()(key.encode(), list(PARTITIONS), list(PARTITIONS)))


def users_on(partition: int, prefix: str, n: int) -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < n:
        if partition_of(f"{prefix}{i}") == partition:
            found.append(f"{prefix}{i}")
        i += 1
    return found


def now() -> str:
    return datetime.now(UTC).isoformat()


def view(user: str, product: str) -> GeneratedRecord:
    event = {
        "event_id": uuid.uuid4().hex,
        "event_type": "view",
        "user_id": user,
        "product_id": product,
        "ts": now(),
    }
    return GeneratedRecord("behavior", user.encode(), orjson.dumps(event), None, "valid", None)


def delete(product: str) -> GeneratedRecord:
    event = {"event_id": uuid.uuid4().hex, "product_id": product, "op": "delete", "ts": now()}
    return GeneratedRecord("product", product.encode(), orjson.dumps(event), None, "valid", None)


def latest_lists(seen: list[tuple[bytes, dict[str, Any]]]) -> dict[str, set[str]]:
    return {r["user_id"]: {i["product_id"] for i in r["items"]} for _, r in seen}


class RecommenderService:
    """``streamguard recommender`` as a process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "streamguard.cli", "recommender"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


def test_one_model_for_two_workers_and_deletes_reach_every_partition(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics = Topics.unique()
    group = f"streamguard-test-reco-{topics.behavior[-8:]}"
    settings = {
        "STREAMGUARD_APP_ID": group,
        "STREAMGUARD_RECOMMENDER_ENABLED": "false",  # the workers leave it to the service
        "STREAMGUARD_RECOMMENDER_MIN_INTERVAL_S": "0.5",
    }
    workers = []
    for name in ("a", "b"):
        port = free_port()
        env = worker_env(broker.bootstrap, topics, tmp_path / f"state-{name}", port, **settings)
        workers.append(WorkerProcess(env, tmp_path / f"worker-{name}.log", port))
    service_env = {
        **workers[0].env,
        "STREAMGUARD_DATA_DIR": str(tmp_path / "recommender"),
        "STREAMGUARD_RECOMMENDER_SNAPSHOT_INTERVAL_S": "2",
    }
    service: RecommenderService | None = None
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        service = RecommenderService(service_env, tmp_path / "recommender.log")

        # Teachers on partition p pair `hub` with `side-p` (3 teachers per partition).
        teachers = {p: users_on(p, "teacher-", 3) for p in PARTITIONS}
        lessons = [
            record
            for p in PARTITIONS
            for user in teachers[p]
            for record in (view(user, "hub"), view(user, SIDES[p]))
        ]
        placed = asyncio.run(produce(broker.bootstrap, topics, lessons))
        by_partition = defaultdict(set)
        for (_, partition, _), record in placed.items():
            by_partition[partition].add(record.key.decode())
        assert {p: by_partition[p] for p in PARTITIONS} == {p: set(teachers[p]) for p in PARTITIONS}
        every_teacher = {u for users in teachers.values() for u in users}
        asyncio.run(
            read_recommendations(
                broker.bootstrap,
                topics.recommendations,
                lambda seen: set(latest_lists(seen)) >= every_teacher,
                60,
            )
        )
        # Both workers validated some of the lessons (they share the partitions), and
        # neither published a list itself.
        for worker in workers:
            assert worker.metric_sum("streamguard_records_in_total") > 0, worker.log_tail()
            assert worker.metric_sum("streamguard_recommendations_published_total") == 0

        # A probe on each partition views `hub`: every side is recommended to each,
        # whichever worker validated the teachers' events.
        probes = {p: users_on(p, "probe-", 1)[0] for p in PARTITIONS}
        asyncio.run(produce(broker.bootstrap, topics, [view(u, "hub") for u in probes.values()]))

        def probes_see_every_side(seen: list[tuple[bytes, dict[str, Any]]]) -> bool:
            lists = latest_lists(seen)
            return all(set(SIDES.values()) <= lists.get(u, set()) for u in probes.values())

        asyncio.run(
            read_recommendations(
                broker.bootstrap, topics.recommendations, probes_see_every_side, 60
            )
        )

        # Deleting side-1 (its product event lands on one product partition) takes it
        # off the lists of users on every behaviour partition.
        asyncio.run(produce(broker.bootstrap, topics, [delete(SIDES[1])]))
        everyone = every_teacher | set(probes.values())

        def nowhere(seen: list[tuple[bytes, dict[str, Any]]]) -> bool:
            lists = latest_lists(seen)
            return all(SIDES[1] not in lists.get(u, {SIDES[1]}) for u in everyone)

        seen = asyncio.run(
            read_recommendations(broker.bootstrap, topics.recommendations, nowhere, 60)
        )
        lists = latest_lists(seen)
        for probe in probes.values():
            assert {SIDES[0], SIDES[2]} <= lists[probe], (probe, lists[probe])

        # A clean stop writes the snapshot with the offsets it covers: every clean record.
        assert service.stop() == 0, service.log_tail()
        snapshot_file = tmp_path / "recommender" / "recommender" / "service.json"
        model, positions = restore_positions(snapshot_file.read_bytes())
        learned = sum(o for (t, _), o in positions.items() if t == topics.behavior_clean)
        assert learned == len(lessons) + len(probes)
        assert model.events_learned == len(lessons) + len(probes)
        assert not model.is_available(SIDES[1])
        for worker in workers:
            assert worker.stop() == 0
    finally:
        if service is not None and service.process.poll() is None:
            service.stop()
        for worker in workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.stop()
