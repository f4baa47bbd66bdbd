"""BatchIntake's drain loop against a scripted consumer: what it hands the handler, what
it leaves to Faust's per-record path, and what it drops around a rebalance.

The real consumer is covered end to end through the broker (tests/integration); here
each fetch is scripted, so every branch is reached on purpose.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from streamguard.app.intake import BatchIntake
from streamguard.kafka.side_reader import SourceRecord


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int | None = 1_700_000_000_000
    key: bytes | None = b"k"
    value: bytes | None = b"{}"


def fetch(topic: str, partition: int, offsets: range) -> dict[TP, list[Record]]:
    return {TP(topic, partition): [Record(topic, partition, o) for o in offsets]}


@dataclass
class ScriptedConsumer:
    """Answers ``_wait_next_records`` from a script, then stops the loop."""

    script: list[dict[TP, list[Record]]]
    flow_active: bool = True
    should_stop: bool = False
    to_faust: list[tuple[TP, int]] = field(default_factory=list)
    seeks: int = 0

    def __post_init__(self) -> None:
        self._stopped = asyncio.Event()
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._buffered_partitions: set[TP] = set()
        self.suspend_flow = asyncio.Event()
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda t: False))

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        if not self.script:
            self._stopped.set()
            return {}, None
        return self.script.pop(0), None

    async def perform_seek(self) -> None:
        self.seeks += 1

    def _to_message(self, tp: TP, record: Record) -> tuple[TP, int]:
        return (tp, record.offset)

    async def callback(self, message: tuple[TP, int]) -> None:
        self.to_faust.append(message)

    async def wait_first(self, *coros: Any) -> None:
        await coros[0]
        coros[1].close()


def run_intake(
    consumer: ScriptedConsumer,
    *,
    max_batch: int = 100,
    on_batch: Any = None,
    created: Any = None,
    on_set_aside: Any = None,
    trace: list[tuple[str, int]] | None = None,
) -> tuple[BatchIntake, list[tuple[str, list[SourceRecord]]]]:
    app = SimpleNamespace(
        consumer=consumer,
        consumer_generation_id=1,
        monitor=SimpleNamespace(stream_inbound_time={}),
    )
    batches: list[tuple[str, list[SourceRecord]]] = []

    async def handle(topic: str, records: list[SourceRecord]) -> Any:
        batches.append((topic, records))
        number = len(batches) - 1
        if trace is not None:
            trace.append(("start", number))
        if on_batch is not None:
            on_batch(app, consumer)

        async def finish() -> None:
            await asyncio.sleep(0)  # the acks: a real wait on the loop
            if trace is not None:
                trace.append(("finish", number))

        return finish()

    async def main() -> BatchIntake:
        intake = BatchIntake(app, ["src"], handle, max_batch=max_batch, on_set_aside=on_set_aside)
        if created is not None:
            created(intake)
        intake.install()
        assert app.consumer._drain_messages == intake.drain
        await intake.drain(SimpleNamespace(_stopped=asyncio.Event()))
        return intake

    return asyncio.run(main()), batches


def test_source_records_arrive_in_batches_that_take_turns_between_partitions() -> None:
    consumer = ScriptedConsumer([fetch("src", 0, range(0, 5)) | fetch("src", 1, range(10, 12))])
    held: list[tuple[bool, bool]] = []

    def look(app: Any, consumer: ScriptedConsumer) -> None:
        held.append((intake_of[0].holds("src", 0), intake_of[0].holds("src", 1)))

    intake_of: list[BatchIntake] = []
    intake, batches = run_intake(consumer, max_batch=4, on_batch=look, created=intake_of.append)
    assert [[(r.partition, r.offset) for r in records] for _, records in batches] == [
        [(0, 0), (1, 10), (0, 1), (1, 11)],
        [(0, 2), (0, 3), (0, 4)],
    ]
    # While a batch is handled, the partitions with records still to come or not yet
    # acknowledged are held (the stall detector must not take them for skipped): the
    # first batch, which completes partition 1, is in flight while the second is
    # processed. None once all are finished.
    assert held == [(True, True), (True, True)]
    assert not intake.holds("src", 0) and not intake.holds("src", 1)
    first = batches[0][1][0]
    assert first.timestamp_s == pytest.approx(1_700_000_000.0)
    assert (first.key, first.value) == (b"k", b"{}")
    assert intake.records_delivered == 7
    # Faust's bookkeeping: read offsets, the ack map (for commits), the livelock clock.
    assert consumer._read_offset[TP("src", 0)] == 4
    assert consumer._read_offset[TP("src", 1)] == 11
    assert set(consumer._acked) == {TP("src", 0), TP("src", 1)}
    assert set(intake.app.monitor.stream_inbound_time) == {TP("src", 0), TP("src", 1)}
    assert not intake.busy


def test_other_topics_take_fausts_per_record_path() -> None:
    consumer = ScriptedConsumer([fetch("changelog", 2, range(7, 10)) | fetch("src", 0, range(2))])
    _, batches = run_intake(consumer)
    assert consumer.to_faust == [(TP("changelog", 2), o) for o in (7, 8, 9)]
    assert consumer._read_offset[TP("changelog", 2)] == 9
    assert [r.offset for _, records in batches for r in records] == [0, 1]


def test_records_below_the_read_offset_are_not_delivered_again() -> None:
    consumer = ScriptedConsumer([fetch("src", 0, range(0, 6))])
    consumer._read_offset[TP("src", 0)] = 3
    _, batches = run_intake(consumer)
    assert [r.offset for r in batches[0][1]] == [3, 4, 5]


def test_a_fetch_that_lands_after_the_flow_stopped_is_dropped_and_seeks_back() -> None:
    consumer = ScriptedConsumer([fetch("src", 0, range(5))])
    consumer.flow_active = False
    reported: list[int] = []
    intake, batches = run_intake(consumer, on_set_aside=reported.append)
    assert batches == []
    assert consumer.seeks == 1
    assert intake.records_dropped == 5 and reported == [5]


def test_a_rebalance_during_a_batch_stops_the_rest_of_the_fetch() -> None:
    def new_generation(app: Any, consumer: ScriptedConsumer) -> None:
        app.consumer_generation_id += 1

    consumer = ScriptedConsumer([fetch("src", 0, range(10)), fetch("src", 0, range(10, 12))])
    reported: list[int] = []
    intake, batches = run_intake(
        consumer, max_batch=4, on_batch=new_generation, on_set_aside=reported.append
    )
    # The first chunk ran; the other 6 of that fetch were dropped; the next fetch (under
    # the new generation) is delivered.
    assert [[r.offset for r in records] for _, records in batches] == [
        [0, 1, 2, 3],
        [10, 11],
    ]
    assert intake.records_dropped == 6 and reported == [6]
    assert not intake.holds("src", 0)  # dropped: no longer on its way


def test_the_next_batch_starts_before_the_previous_finishes_but_not_across_fetches() -> None:
    consumer = ScriptedConsumer([fetch("src", 0, range(10)), fetch("src", 0, range(10, 13))])
    trace: list[tuple[str, int]] = []
    busy: list[bool] = []
    intake_of: list[BatchIntake] = []

    def look(app: Any, consumer: ScriptedConsumer) -> None:
        busy.append(intake_of[0].busy)

    intake, batches = run_intake(
        consumer, max_batch=4, trace=trace, on_batch=look, created=intake_of.append
    )
    assert [len(records) for _, records in batches] == [4, 4, 2, 3]
    # Within the first fetch: one batch in flight while the next is processed, finished
    # in order; the fetch is finished before the next fetch's batch starts.
    assert trace == [
        ("start", 0),
        ("start", 1),
        ("finish", 0),
        ("start", 2),
        ("finish", 1),
        ("finish", 2),
        ("start", 3),
        ("finish", 3),
    ]
    assert busy == [True] * 4 and not intake.busy
    assert intake.records_delivered == 13


def test_a_rebalance_still_finishes_the_batch_in_flight() -> None:
    def new_generation(app: Any, consumer: ScriptedConsumer) -> None:
        app.consumer_generation_id += 1

    trace: list[tuple[str, int]] = []
    consumer = ScriptedConsumer([fetch("src", 0, range(10))])
    intake, _ = run_intake(consumer, max_batch=4, on_batch=new_generation, trace=trace)
    assert trace == [("start", 0), ("finish", 0)]
    assert intake.records_delivered == 4 and intake.records_dropped == 6
    assert not intake.holds("src", 0) and not intake.busy


def test_wait_idle_returns_at_once_when_nothing_is_in_flight() -> None:
    intake, _ = run_intake(ScriptedConsumer([]))
    assert asyncio.run(intake.wait_idle(0.01)) is True
    with pytest.raises(ValueError, match="max_batch"):
        BatchIntake(None, ["src"], intake.handle, max_batch=0)
