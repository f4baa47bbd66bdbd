"""The batch flow: source records in, outputs acknowledged, offsets settled.

Every source record takes one path, :meth:`BatchFlow.start`, however it arrived: a
fetch of the batch intake (:mod:`streamguard.app.intake`), a batch of an agent's stream
(``batch_intake`` off), or a range read on the side to fill a gap
(:mod:`streamguard.app.recovery`). In order:

1. **pipeline** (:meth:`BatchFlow._run_pipelines`): each record through its partition's
   :class:`~streamguard.pipeline.RecordPipeline`;
2. **send** (:meth:`BatchFlow._send`): every output and the batch's table writes through
   the producer, one record batch per partition;
3. **acks** (:meth:`BatchFlow._finish`): wait for every acknowledgement; only then
4. **accounting**: the recommender learns, metrics, findings are reported;
5. **ledger** (:meth:`BatchFlow._settle`, after the lag gauges): the batch's offsets go
   to the :class:`~streamguard.kafka.ledger.OffsetLedger`, which alone says what may be
   committed (:func:`streamguard.app.patches.guard_commits`); a skipped range starts a
   gap fill.

``start`` returns after step 2 with a coroutine for steps 3-5, so the caller may start
the next batch before it awaits that one: processing overlaps the broker's round trip,
and offsets still settle only after the acks.

Delivery: at-least-once. Every output is sent, and every send's acknowledgement
awaited, before the ledger counts the records handled; commits never pass what the
ledger counts, and Faust's commit flushes the producer first. A crash anywhere replays
the uncommitted tail; outputs carry ``_dq.source`` / ``source`` so duplicates are
identifiable, and the dedupe state (a changelogged table) makes the replay give the
same decisions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP

from streamguard.app.inventory import InventoryLink
from streamguard.app.pipelines import PartitionPipelines
from streamguard.app.produce import AppSender, Output
from streamguard.app.recommender_link import RecommenderLink
from streamguard.app.recovery import Recovery
from streamguard.app.reporting import FindingsReporter
from streamguard.app.tables import ChangelogBuffer
from streamguard.events.records import Outcome, SourcePosition
from streamguard.kafka.ledger import OffsetLedger
from streamguard.kafka.side_reader import SourceRecord
from streamguard.observability.metrics import WorkerMetrics
from streamguard.pipeline import StreamName

__all__ = ["BatchFlow", "Route"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Route:
    """Where one source topic's records go: its stream's pipelines and clean topic;
    ``on_clean(record, partition)`` sees each clean record (the catalogue's writes)."""

    stream: StreamName | str  # a stream a data contract declares, too
    clean_name: str
    on_clean: Callable[[dict[str, Any], int], None] | None = None


class BatchFlow:
    """Runs batches of source records through the pipeline to Kafka (see module docs)."""

    def __init__(
        self,
        app: faust.App,
        routes: Mapping[str, Route],
        *,
        quarantine_name: str,
        pipelines: PartitionPipelines,
        changelog: ChangelogBuffer,
        sender: AppSender,
        ledger: OffsetLedger,
        recovery: Recovery,
        reporter: FindingsReporter,
        metrics: WorkerMetrics,
        recommender: RecommenderLink | None,
        inventory: InventoryLink | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.quarantine_name = quarantine_name
        self.pipelines = pipelines
        self.changelog = changelog
        self.sender = sender
        self.ledger = ledger
        self.recovery = recovery
        self.reporter = reporter
        self.metrics = metrics
        self.recommender = recommender
        self.inventory = inventory

    async def start(
        self, topic: str, records: list[SourceRecord], *, recovered: bool = False
    ) -> Coroutine[Any, Any, None]:
        """Process and send a batch of one source topic's records; return a coroutine
        that waits for their acknowledgements, then accounts for the batch and settles
        its offsets. Await it before the batch's offsets may be committed.

        ``recovered``: the records were read on the side to fill a gap, behind the
        consumer; the gap fill settles its whole range in the ledger once read, so step
        5 (and the lag gauge, which would read the gap's old offsets) is skipped.
        """
        started = time.perf_counter()
        route = self.routes[topic]
        outcomes = self._run_pipelines(route, records)
        acks = await self._send(route, outcomes)
        return self._finish(
            route, records, outcomes, acks, time.perf_counter() - started, recovered=recovered
        )

    def _run_pipelines(self, route: Route, records: list[SourceRecord]) -> list[Outcome]:
        """1. Each record through its partition's pipeline.

        Synchronous on purpose: no await until the batch's table writes are drained
        (in :meth:`_send`), so another batch (the other topic, a gap fill) cannot
        interleave its writes with these.
        """
        pipelines, on_clean = self.pipelines, route.on_clean
        outcomes = []
        for record in records:
            pipeline = pipelines.get(route.stream, record.topic, record.partition)
            outcome = pipeline.process(
                record.value, SourcePosition(record.topic, record.partition, record.offset)
            )
            if on_clean is not None and outcome.record is not None:
                on_clean(outcome.record, record.partition)
            outcomes.append(outcome)
        return outcomes

    async def _send(self, route: Route, outcomes: list[Outcome]) -> list[asyncio.Future[Any]]:
        """2. Send the outputs and the table writes; return the acks' futures."""
        clean_name, quarantine_name = route.clean_name, self.quarantine_name
        outputs: list[Output] = [
            (clean_name if o.is_clean else quarantine_name, None, o.key, o.value) for o in outcomes
        ]
        outputs += self.changelog.drain()
        # The producer directly (Faust's Topic.send costs ~1 ms a record, measured), one
        # record batch per partition (a future per record was ~20% of the loop).
        return await self.sender.get().send(outputs)

    async def _finish(
        self,
        route: Route,
        records: list[SourceRecord],
        outcomes: list[Outcome],
        acks: list[asyncio.Future[Any]],
        busy_s: float,
        *,
        recovered: bool,
    ) -> None:
        """3. Wait for the acks; 4. account for the batch; 5. settle its offsets."""
        waited = time.perf_counter()
        await asyncio.gather(*acks)
        if self.recommender is not None and route.stream in ("behavior", "product"):
            self.recommender.learn(route.stream, records, outcomes)  # not a contract's stream
        if self.inventory is not None:  # after the acks: off the records' critical path
            self.inventory.observe(route.stream, route.clean_name, records, outcomes)
        now = time.time()
        self.metrics.observe_batch(
            route.stream,
            outcomes,
            # The batch's own time: processing and waiting for its acks, not the next
            # batch's processing that overlapped the wait.
            seconds=busy_s + time.perf_counter() - waited,
            latencies=[now - record.timestamp_s for record in records],
        )
        await self.reporter.report(route.stream)
        if self.recommender is not None:
            self.recommender.publish_soon()
        if recovered:
            return
        self._observe_lag(records)
        await self._settle(records)

    def _observe_lag(self, records: list[SourceRecord]) -> None:
        """The consumer lag of each partition in the batch, after its last record."""
        last_offsets: dict[tuple[str, int], int] = {}
        for record in records:  # a TP per partition, not per record (a hot path)
            last_offsets[record.topic, record.partition] = record.offset
        consumer = self.app.consumer
        for (topic, partition), offset in last_offsets.items():
            tp = TP(topic, partition)
            try:
                highwater = consumer.highwater(tp)
            except Exception as exc:  # lag is best effort, never fatal
                log.debug("no high watermark for %s: %r", tp, exc)
                continue
            if highwater is not None:
                self.metrics.consumer_lag.labels(topic, str(partition)).set(
                    max(highwater - offset - 1, 0)
                )

    async def _settle(self, records: list[SourceRecord]) -> None:
        """Tell the ledger what was handled; fill any range the consumer skipped."""
        consumer: Any = self.app.consumer
        assignment = consumer.assignment()
        ledger = self.ledger
        for record in records:
            topic, partition = record.topic, record.partition
            if not ledger.tracking(topic, partition):
                tp = TP(topic, partition)
                if tp not in assignment:
                    # A record fetched before a revocation, delivered after it: its
                    # output is sent (a harmless duplicate); the partition's owner
                    # accounts for it. Tracking it here would start the ledger without
                    # a committed offset and re-read the partition from its start.
                    continue
                await self.recovery.start_ledger(tp)
            gap = ledger.observe(topic, partition, record.offset)
            if gap is not None:
                self.recovery.start_gap_fill(topic, partition, *gap)
