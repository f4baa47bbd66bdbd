"""The worker through the real embedded broker: every input offset comes out exactly once
in clean or quarantine with the right outcome, also across a kill -9 and restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard.devtools.broker import EmbeddedBroker
from streamguard.sources.fault_kinds import FaultMix, GeneratedRecord
from streamguard.sources.synthetic import generate
from streamguard.testing.worker_harness import (
    Topics,
    WorkerProcess,
    assert_exactly_one_destination,
    committed_by_partition,
    committed_offsets,
    free_port,
    new_worker,
    produce,
    read_outputs,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

MAX_RECORD_BYTES = 16_384


def mixed_records(count: int, seed: int) -> list[GeneratedRecord]:
    """Behaviour and product events where about 40% carry one of every fault kind."""
    faults = FaultMix.uniform(0.4, "both", include_too_large=True)
    return list(
        generate(
            "both",
            count,
            seed=seed,
            faults=faults,
            product_share=0.25,
            too_large_bytes=MAX_RECORD_BYTES + 100,
        )
    )


def records_in(worker: WorkerProcess) -> float:
    """streamguard_records_in_total summed over streams, read from /metrics."""
    return worker.metric_sum("streamguard_records_in_total")


@pytest.fixture
def worker_factory(
    broker: EmbeddedBroker, tmp_path: Path
) -> Iterator[tuple[Topics, WorkerProcess, WorkerProcess]]:
    """Two worker processes (the first run and its restart) sharing group, topics, state."""
    topics, first = new_worker(
        broker.bootstrap,
        tmp_path,
        name="worker-1",
        STREAMGUARD_MAX_RECORD_BYTES=str(MAX_RECORD_BYTES),
    )
    second = first.again(tmp_path / "worker-2.log")
    try:
        yield topics, first, second
    finally:
        for worker in (first, second):
            if worker.process is not None:
                worker.stop()


def test_every_offset_lands_exactly_once_with_the_right_outcome(
    broker: EmbeddedBroker, worker_factory: tuple[Topics, WorkerProcess, WorkerProcess]
) -> None:
    topics, worker, _ = worker_factory
    records = mixed_records(1500, seed=11)
    worker.start().wait_ready()
    placed = asyncio.run(produce(broker.bootstrap, topics, records))
    assert len(placed) == len(records)

    outputs = asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=90))
    counts = assert_exactly_one_destination(topics, placed, outputs)
    assert set(counts) == {"valid", "corrected", "quarantine"}
    faults_seen = {r.fault for r in records if r.fault}
    assert len(faults_seen) >= 20, faults_seen

    # Every clean record carries its scores from the drift engine and the quality model.
    clean = [
        out
        for seen in outputs.by_source.values()
        for topic, out in seen
        if topic != topics.quarantine
    ]
    assert clean
    for record in clean:
        assert 0.0 <= record["_dq"]["anomaly_score"] <= 1.0, record["_dq"]
        assert 0.0 <= record["_dq"]["quality_score"] <= 1.0, record["_dq"]

    # The metrics endpoint counted the same records.
    assert records_in(worker) >= len(records)
    assert "streamguard_consumer_lag_records" in worker.metrics_text()
    assert worker.stop() == 0


def test_kill_9_mid_stream_then_restart_loses_nothing(
    broker: EmbeddedBroker, worker_factory: tuple[Topics, WorkerProcess, WorkerProcess]
) -> None:
    topics, first, second = worker_factory
    records = mixed_records(4000, seed=23)
    first.start().wait_ready()
    placed = asyncio.run(produce(broker.bootstrap, topics, records))

    # Kill it part-way: some records done and committed, most not.
    group = first.env["STREAMGUARD_APP_ID"]

    def committed() -> bool:
        first.check_alive()
        return asyncio.run(committed_offsets(broker.bootstrap, group, topics.behavior, 3)) > 0

    wait_until(lambda: records_in(first) >= 500, 60, "the first worker to process 500 records")
    wait_until(committed, 30, "the first worker to commit offsets")
    first.kill9()
    at_kill = asyncio.run(committed_by_partition(broker.bootstrap, group, topics.behavior, 3))
    # Restart at once, while the dead member may still hold its partitions: the case
    # where Faust drops fetched records in-process (the ledger's side reads fill them).
    second.start().wait_ready()
    outputs = asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=120))
    counts = assert_exactly_one_destination(topics, placed, outputs)
    assert sum(counts.values()) == len(records)
    # The restart resumed from the committed offsets: nothing below them was redone.
    redone = [
        source
        for source in placed
        if source[0] == topics.behavior
        and source[2] < at_kill[source[1]]
        and len(outputs.by_source[source]) > 1
    ]
    assert sum(at_kill.values()) > 0
    assert redone == []
    assert second.stop() == 0


def test_two_workers_in_one_group_one_killed_the_other_takes_over(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics = Topics.unique()
    group = f"streamguard-test-pair-{topics.behavior[-8:]}"
    workers = []
    for name in ("a", "b"):
        port = free_port()
        env = worker_env(
            broker.bootstrap,
            topics,
            tmp_path / f"state-{name}",
            port,
            STREAMGUARD_APP_ID=group,
            STREAMGUARD_MAX_RECORD_BYTES=str(MAX_RECORD_BYTES),
        )
        workers.append(WorkerProcess(env, tmp_path / f"worker-{name}.log", port))
    doomed, survivor = workers
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        records = mixed_records(4000, seed=31)
        placed = asyncio.run(produce(broker.bootstrap, topics, records))
        # Both hold partitions and work; then one dies mid-stream.
        wait_until(
            lambda: records_in(doomed) > 0 and records_in(survivor) > 0,
            60,
            "both workers to process records",
        )
        doomed.kill9()
        outputs = asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=120))
        counts = assert_exactly_one_destination(topics, placed, outputs)
        assert sum(counts.values()) == len(records)
        survivor.check_alive()
        assert survivor.stop() == 0
    finally:
        for worker in workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.stop()


def test_dedupe_state_survives_a_restart(
    broker: EmbeddedBroker, worker_factory: tuple[Topics, WorkerProcess, WorkerProcess]
) -> None:
    """The dedupe index is restored from its changelog: records the first worker accepted
    make their copies, produced after it stopped, duplicates for the second worker."""
    topics, first, second = worker_factory
    originals = list(generate("behavior", 300, seed=41))
    first.start().wait_ready()
    placed = asyncio.run(produce(broker.bootstrap, topics, originals))
    asyncio.run(read_outputs(broker.bootstrap, topics, placed, timeout_s=60))
    assert first.stop() == 0

    copies = asyncio.run(produce(broker.bootstrap, topics, originals))
    first_seen = {record.value: source for source, record in placed.items()}
    second.start().wait_ready()
    outputs = asyncio.run(read_outputs(broker.bootstrap, topics, copies, timeout_s=60))
    for source, record in copies.items():
        original = first_seen[record.value]
        # Each copy (and any at-least-once repeat of it) is a duplicate of its original.
        for topic, out in outputs.by_source[source]:
            assert topic == topics.quarantine, (source, out)
            [reason] = out["reasons"]
            assert reason["code"] == "duplicate"
            assert reason["message"].endswith("/".join(map(str, original))), reason
    assert second.stop() == 0


def test_dedupe_is_per_key_partition(
    broker: EmbeddedBroker, worker_factory: tuple[Topics, WorkerProcess, WorkerProcess]
) -> None:
    """README, "Dedupe is per input partition": a copy of an ``event_id`` under the same key
    is a duplicate; a copy under a key that lands in another partition is delivered clean."""
    from aiokafka.partitioner import DefaultPartitioner

    topics, worker, _ = worker_factory
    [original] = [r for r in generate("behavior", 50, seed=43) if r.expected == "valid"][:1]
    partitioner = DefaultPartitioner()
    partitions = [0, 1, 2]  # worker_env creates every topic with 3 partitions
    home = partitioner(original.key, partitions, partitions)
    elsewhere = next(
        key
        for key in (f"other-user-{i}".encode() for i in range(100))
        if partitioner(key, partitions, partitions) != home
    )
    same_key_copy = replace(original, fault="duplicate_event", expected="quarantine")
    other_key_copy = replace(original, key=elsewhere)

    worker.start().wait_ready()
    first = asyncio.run(produce(broker.bootstrap, topics, [original]))
    asyncio.run(read_outputs(broker.bootstrap, topics, first, timeout_s=60))
    copies = asyncio.run(produce(broker.bootstrap, topics, [same_key_copy, other_key_copy]))
    outputs = asyncio.run(read_outputs(broker.bootstrap, topics, copies, timeout_s=60))
    by_key = {record.key: outputs.by_source[source] for source, record in copies.items()}
    [(same_topic, same_out)] = set_of(by_key[original.key])
    assert same_topic == topics.quarantine
    assert [r["code"] for r in same_out["reasons"]] == ["duplicate"]
    [(other_topic, other_out)] = set_of(by_key[elsewhere])
    assert other_topic == topics.behavior_clean, other_out
    assert other_out["event_id"] == orjson.loads(original.value)["event_id"]
    assert worker.stop() == 0


def set_of(seen: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The outputs of one source position with at-least-once repeats folded together."""
    unique: dict[bytes, tuple[str, dict[str, Any]]] = {}
    for topic, out in seen:
        unique.setdefault(orjson.dumps([topic, out], option=orjson.OPT_SORT_KEYS), (topic, out))
    return list(unique.values())
