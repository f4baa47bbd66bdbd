"""Source records in fetched batches, past Faust's per-event ``Stream`` path.

Faust hands every fetched record to its agents one by one: a task and two futures per
record to race the delivery against a flow stop, a conductor callback, an ``Event``, a
queue, the stream iterator, the ``take`` buffer, sensors on the way in and out, and an
ack. Profiled on a worker draining a backlog that was ~45% of the event loop's CPU,
several times what the pipeline itself costs (BENCHMARKS.md).

:class:`BatchIntake` replaces the consumer's drain loop (``Consumer._drain_messages``,
the body of Faust's ``Fetcher`` service) with one that takes each fetch's records for
the source topics as a list, in partition order, and awaits ``handle(topic, records)``
on them; records of every other topic (table changelogs, which table recovery and the
global catalogue read through the same consumer) go through Faust's own per-record
callback as before. Faust keeps everything else: group membership, assignment, the
rebalance protocol, seeks to the committed offsets, tables, the producer, commits.

What it keeps of Faust's loop, and why:

- records fetched while the flow is stopped (a rebalance began) make Faust seek back
  to the committed offsets and are dropped; so are records whose consumer generation
  changes before they are delivered, and those below the partition's read offset
  (already read before a seek). Nothing dropped is lost: the offsets do not move past
  it, so it is read again (and :class:`~streamguard.kafka.ledger.OffsetLedger` reads any
  range the consumer skips on the side);
- only records of active partitions (not paused for recovery or buffer pressure);
- the stream's inbound time per partition, which Faust's livelock detector reads.

Commits: Faust commits what its streams acked, and nothing here is acked through Faust,
so the app commits the ledger's frontier for the source partitions instead (see
:func:`streamguard.app.patches.guard_commits`). Faust commits only partitions in its ack map, and on
a revocation drops the revoked ones from it before its last commit (the revoked
partition's next owner starts from the last periodic commit; on a broker that lost its
log, an offset from the old log would be committed into the new one); so each delivered
partition is entered into that map with no offsets, and Faust's bookkeeping holds.

The handler has two phases: ``await handle(topic, records)`` processes the records and
sends their outputs, and returns an awaitable that waits for the outputs'
acknowledgements and accounts for the batch (offsets, metrics). Within one fetch the
intake starts the next batch before it finishes the previous one, so processing
overlaps the broker's round trip (the event loop sat idle ~20% of a backlog's drain
waiting for acks); batches still finish in order, at most one is in flight, and a
fetch is finished before the next one is taken, so a live stream's latency does not
wait on a later fetch. The handler runs inside the fetcher task, so the next fetch
waits for the batch (the consumer thread prefetches meanwhile) and a rebalance can
wait for the batch in flight (:meth:`BatchIntake.wait_idle`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterator
from itertools import zip_longest
from typing import Any

from streamguard.kafka.side_reader import SourceRecord

__all__ = ["BatchHandler", "BatchIntake", "interleave"]

log = logging.getLogger(__name__)

#: ``await handle(topic, records)``: process a batch of one source topic's records and
#: send its outputs; the awaitable it returns completes once they are acknowledged.
BatchHandler = Callable[[str, list[SourceRecord]], Awaitable[Awaitable[None]]]


def interleave(
    runs: list[list[SourceRecord]], size: int
) -> Iterator[tuple[list[SourceRecord], list[tuple[str, int]]]]:
    """Chunks of up to ``size`` records that take turns between ``runs`` (one run per
    partition, in offset order), each with the ``(topic, partition)`` of the runs it
    finished. Taking turns keeps every partition's committed offset moving through a
    large fetch, rather than one partition waiting for the others' whole backlog; and
    within a chunk the partitions alternate record by record (as Faust's scheduler
    does), so the stream's monitors see a mix, not one partition's keys at a time (a
    schema-drift block of one partition's users is not the stream's mix).

    >>> def run(partition, n):
    ...     return [SourceRecord("t", partition, o, None, None, 0.0) for o in range(n)]
    >>> for chunk, done in interleave([run(0, 5), run(1, 2)], size=4):
    ...     print([(r.partition, r.offset) for r in chunk], done)
    [(0, 0), (1, 0), (0, 1), (1, 1)] [('t', 1)]
    [(0, 2), (0, 3), (0, 4)] [('t', 0)]
    """
    cursors = [0] * len(runs)
    queue = deque(i for i, run in enumerate(runs) if run)
    while queue:
        share = max(1, size // len(queue))
        slices: list[list[SourceRecord]] = []
        taken = 0
        done: list[tuple[str, int]] = []
        for _ in range(len(queue)):
            if taken >= size:
                break
            i = queue.popleft()
            run, start = runs[i], cursors[i]
            end = min(start + share, start + size - taken, len(run))
            slices.append(run[start:end])
            taken += end - start
            cursors[i] = end
            if end == len(run):
                done.append((run[0].topic, run[0].partition))
            else:
                queue.append(i)
        if len(slices) == 1:
            yield slices[0], done
        else:
            chunk = [r for turn in zip_longest(*slices) for r in turn if r is not None]
            yield chunk, done


class BatchIntake:
    """Delivers the source topics' records to ``handle`` in batches of up to
    ``max_batch`` (see module docs). Call :meth:`install` before the app starts."""

    def __init__(
        self,
        app: Any,
        topics: Collection[str],
        handle: BatchHandler,
        *,
        max_batch: int,
        on_set_aside: Callable[[int], object] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.app = app
        self.topics = frozenset(topics)
        self.handle = handle
        self.max_batch = max_batch
        self._idle = asyncio.Event()
        self._idle.set()
        # (topic, partition) with fetched records not handled yet (see holds()).
        self._holding: set[tuple[str, int]] = set()
        #: Source records handed to ``handle`` so far.
        self.records_delivered = 0
        #: Fetched records dropped because a rebalance began or ended meanwhile (they
        #: are read again from the committed offsets); each drop is also reported to
        #: ``on_set_aside`` (a metric's ``inc``).
        self.records_dropped = 0
        self._on_set_aside = on_set_aside

    def install(self) -> None:
        """Replace the app's consumer drain loop with :meth:`drain`."""
        consumer: Any = self.app.consumer
        consumer._drain_messages = self.drain  # noqa: SLF001 - Faust has no public hook

    @property
    def busy(self) -> bool:
        """True while a batch is being handled."""
        return not self._idle.is_set()

    def holds(self, topic: str, partition: int) -> bool:
        """True while records of the partition are fetched and waiting here: the
        consumer's position is past them, yet they are on their way, not skipped."""
        return (topic, partition) in self._holding

    async def wait_idle(self, timeout: float) -> bool:
        """Wait for the batch in flight (if any) to finish; False if it did not in time."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def drain(self, fetcher: Any) -> None:
        """The fetcher service's loop: fetch, split by topic, handle (until stopped)."""
        app: Any = self.app
        consumer: Any = app.consumer
        consumer_stopped = consumer._stopped.is_set  # noqa: SLF001
        fetcher_stopped = fetcher._stopped.is_set  # noqa: SLF001
        while not (consumer_stopped() or fetcher_stopped()):
            # Waits while the flow is stopped; fetches only the active partitions.
            records, active = await consumer._wait_next_records(1.0)  # noqa: SLF001
            # A run of ready fetches must still let the loop serve others (as Faust does).
            await asyncio.sleep(0)
            if consumer.should_stop:
                return
            if not records:
                continue
            if not consumer.flow_active:
                # Faust's own getmany does this: a rebalance began after the fetch; go
                # back to the committed offsets (the next fetch waits for the flow).
                self._set_aside(sum(len(batch) for batch in records.values()))
                await consumer.perform_seek()
                continue
            await self._deliver(consumer, records, active, app.consumer_generation_id)

    async def _deliver(self, consumer: Any, records: Any, active: Any, generation: int) -> None:
        read_offset = consumer._read_offset  # noqa: SLF001
        acked = consumer._acked  # noqa: SLF001
        buffered = consumer._buffered_partitions  # noqa: SLF001
        inbound = self.app.monitor.stream_inbound_time
        by_topic: dict[str, list[list[SourceRecord]]] = {}
        now = time.monotonic()
        for tp, fetched in records.items():
            if active is not None and tp not in active and tp not in buffered:
                continue
            r_offset = read_offset[tp]
            if r_offset is not None:
                fetched = [record for record in fetched if record.offset >= r_offset]
            if not fetched:
                continue
            if tp.topic not in self.topics:
                await self._deliver_to_faust(consumer, tp, fetched, r_offset)
                continue
            read_offset[tp] = fetched[-1].offset
            # Faust commits the partitions in its ack map and empties it of revoked ones
            # first; entering ours (no offsets: the ledger names them) keeps both true.
            acked[tp]  # noqa: B018 - a defaultdict: the lookup enters it
            inbound[tp] = now  # Faust's livelock detector: this partition's stream moves
            self._holding.add((tp.topic, tp.partition))
            by_topic.setdefault(tp.topic, []).append(
                [
                    SourceRecord(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        record.timestamp / 1000.0 if record.timestamp is not None else time.time(),
                    )
                    for record in fetched
                ]
            )
        for topic, runs in by_topic.items():
            total, handled = sum(map(len, runs)), 0
            # The batch whose outputs are on their way: (its finish, its size, the
            # partitions it completes).
            in_flight: tuple[Awaitable[None], int, list[tuple[str, int]]] | None = None
            try:
                for chunk, done in interleave(runs, self.max_batch):
                    if not consumer.flow_active or self.app.consumer_generation_id != generation:
                        # A rebalance began (or ended) meanwhile: start no new work. What
                        # is dropped is no longer held here, so the ledger may see it
                        # missing (once the batch in flight is finished: below).
                        self._set_aside(total - handled)
                        break
                    handled += len(chunk)
                    self._idle.clear()
                    finish = await self.handle(topic, chunk)
                    if in_flight is not None:
                        previous, in_flight = in_flight, None
                        await self._finish(*previous)
                    in_flight = (finish, len(chunk), done)
            finally:
                try:
                    if in_flight is not None:
                        await self._finish(*in_flight)
                finally:
                    self._idle.set()
                    if handled < total:
                        self._holding.difference_update(
                            (run[0].topic, run[0].partition) for run in runs
                        )

    async def _finish(
        self, finish: Awaitable[None], size: int, done: list[tuple[str, int]]
    ) -> None:
        await finish
        self.records_delivered += size
        self._holding.difference_update(done)

    def _set_aside(self, count: int) -> None:
        self.records_dropped += count
        if self._on_set_aside is not None and count:
            self._on_set_aside(count)

    @staticmethod
    async def _deliver_to_faust(
        consumer: Any, tp: Any, fetched: list[Any], r_offset: int | None
    ) -> None:
        """Faust's per-record path, exactly as its drain loop takes it."""
        callback = consumer.callback
        acks_enabled = consumer.app.topics.acks_enabled_for(tp.topic)
        for record in fetched:
            offset = record.offset
            if acks_enabled and r_offset and offset - r_offset > 1:
                await consumer._add_gap(tp, r_offset + 1, offset)  # noqa: SLF001
            await consumer.wait_first(
                callback(consumer._to_message(tp, record)),  # noqa: SLF001
                consumer.suspend_flow.wait(),
            )
            consumer._read_offset[tp] = r_offset = offset  # noqa: SLF001
