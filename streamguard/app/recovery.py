"""Getting back the source records Faust fetched but never delivered.

Faust drops fetched records around flow pauses and generation changes (see
:mod:`streamguard.kafka.ledger`). The batch flow reports every handled offset to the
:class:`~streamguard.kafka.ledger.OffsetLedger`; :class:`Recovery` gives the ledger its
starting points (the group's committed offsets), notices stalled partition tails, and
fills every reported gap by reading the range on the side and running it through the
batch flow's one entry (``handle``), like fetched records. Until a gap is filled the
ledger holds commits below it, so a crash or a revocation meanwhile leaves the range to
the partition's next owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.types import TP

from streamguard.app.intake import BatchHandler
from streamguard.config import Settings
from streamguard.kafka.ledger import OffsetLedger, StallWatch
from streamguard.kafka.side_reader import read_range
from streamguard.observability.metrics import WorkerMetrics

__all__ = ["Recovery"]

log = logging.getLogger(__name__)


class Recovery:
    """Ledger starts, stalled tails and gap fills for the ``sources`` topics' partitions.

    ``handle``: the batch flow's entry for records read on the side (its outputs are
    acknowledged once the awaitable it returns completes). ``held(topic, partition)``:
    True while fetched records of the partition wait to be handled (not skipped).
    """

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        bootstrap: str,
        metrics: WorkerMetrics,
        ledger: OffsetLedger,
        stalls: StallWatch,
        *,
        sources: Collection[str],
        handle: BatchHandler,
        held: Callable[[str, int], bool],
    ) -> None:
        self.app = app
        self.settings = settings
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.ledger = ledger
        self.stalls = stalls
        self.sources = frozenset(sources)
        self._handle = handle
        self._held = held
        self._gap_fills: dict[tuple[str, int], set[asyncio.Future[None]]] = {}

    async def start_ledger(self, tp: TP) -> None:
        """Track an assigned partition in the ledger from its committed offset."""
        self.ledger.start(tp.topic, tp.partition, await self._committed_offset(tp))

    def forget(self, tp: TP) -> None:
        """Drop a revoked partition: its ledger, its stall clock, its gap fills."""
        self.ledger.forget(tp.topic, tp.partition)
        self.stalls.forget((tp.topic, tp.partition))
        for task in self._gap_fills.pop((tp.topic, tp.partition), set()):
            task.cancel()  # the next owner re-reads from the (clamped) commit

    async def recover_stalled_tails(self) -> None:
        """Read on the side what Faust fetched but never delivered at a partition's end.

        The ledger sees a gap when a later record arrives, which on a quiet partition
        may be never. So: a partition whose frontier has not moved for a while, with the
        consumer reading past it, gets the range between read on the side.
        """
        consumer: Any = self.app.consumer
        now = time.monotonic()
        for tp in consumer.assignment():
            key = (tp.topic, tp.partition)
            if tp.topic not in self.sources or not self.stalls.stalled(
                key, self.ledger.frontier(*key), now
            ):
                continue
            if self._held(*key):
                continue  # fetched and on its way (a large fetch takes a while): not lost
            if self._gap_fills.get(key):
                continue  # a side read is still running
            position = await self._position(tp)
            if position is None:
                continue
            if not self.ledger.tracking(*key):  # nothing arrived since the assignment
                await self.start_ledger(tp)
            gap = self.ledger.report_tail(tp.topic, tp.partition, position)
            if gap is not None:
                self.start_gap_fill(tp.topic, tp.partition, *gap)

    def start_gap_fill(self, topic: str, partition: int, start: int, end: int) -> None:
        """Read ``start..end-1`` on the side in the background (see :meth:`_fill_gap`)."""
        log.warning(
            "records %s[%d] offsets %d..%d never reached the pipeline; reading them on the side",
            topic,
            partition,
            start,
            end - 1,
        )
        task = asyncio.ensure_future(self._fill_gap(topic, partition, start, end))
        tasks = self._gap_fills.setdefault((topic, partition), set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _fill_gap(self, topic: str, partition: int, start: int, end: int) -> None:
        """Read ``start..end-1`` with a plain consumer and handle it; retry until done.

        Until it is done the ledger holds commits below ``start``, so a crash or a
        revocation meanwhile leaves the range to the next owner: nothing is lost.
        """
        backoff_s = 1.0
        cursor = start  # resume after what an earlier attempt already handled
        while True:
            try:
                async for batch in read_range(
                    self.bootstrap,
                    topic,
                    partition,
                    cursor,
                    end,
                    **self.settings.kafka_client_options(),
                ):
                    await (await self._handle(topic, batch))
                    self.metrics.skips_recovered.labels(topic).inc(len(batch))
                    cursor = batch[-1].offset + 1
                self.ledger.fill(topic, partition, start, end)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker trouble: keep the gap, retry with back-off
                log.warning(
                    "re-reading %s[%d] from offset %d failed (%r); retrying in %.0f s",
                    topic,
                    partition,
                    cursor,
                    exc,
                    backoff_s,
                )
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 30.0)

    async def _committed_offset(self, tp: TP) -> int | None:
        """The group's committed offset for ``tp``, or the log start if none.

        Faust's cache of committed offsets is filled only after its post-rebalance seek
        (and holds ``None`` for offset 0), so records can arrive before it knows: ask
        the group coordinator instead, through Faust's own consumer thread.
        """
        consumer: Any = self.app.consumer
        committed: int | None = consumer._committed_offset.get(tp)  # noqa: SLF001
        if committed is None:
            committed = await self._ask_group_consumer("committed", tp)
        if committed is None:  # nothing committed yet: the log starts the range
            committed = (await consumer.earliest_offsets(tp)).get(tp)
        return committed

    async def _position(self, tp: TP) -> int | None:
        """The group consumer's read position on ``tp`` (None if it has none now)."""
        try:
            position = await asyncio.wait_for(self._ask_group_consumer("position", tp), 2.0)
        except Exception as exc:  # revoked meanwhile, or no position yet: next time
            log.debug("no read position for %s: %r", tp, exc)
            return None
        return int(position)

    async def _ask_group_consumer(self, method: str, tp: TP) -> Any:
        """``await client.<method>(tp)`` on the aiokafka consumer inside Faust's consumer
        thread (its own event loop); Faust exposes neither committed() nor position()."""
        consumer: Any = self.app.consumer
        thread = consumer._thread  # noqa: SLF001
        client = thread._ensure_consumer()  # noqa: SLF001
        return await thread.call_thread(
            getattr(client, method), TopicPartition(tp.topic, tp.partition)
        )
