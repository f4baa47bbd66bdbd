"""Follow some topics from near their end: the last N records of each partition, then on.

For readers that show recent state (``streamguard console``): a topic of millions of
records is never scanned, only its tail. Each topic has its own window (records per
partition read back at start; ``None`` reads from the earliest offset, for small
compacted topics such as the incidents). Topics that do not exist yet are picked up when
they appear, and partitions added later too (within ``rescan_s``). One plain consumer, no
group; runs as a task in the caller's event loop (:meth:`RecentReader.run`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from streamguard.kafka.side_reader import SourceRecord, start_plain_consumer

__all__ = ["RecentReader", "start_offset"]

log = logging.getLogger(__name__)


def start_offset(beginning: int, end: int, window: int | None) -> int:
    """Where to start reading a partition holding ``[beginning, end)`` to see its last
    ``window`` records (all of them when ``window`` is None).

    >>> start_offset(0, 100_000, 500), start_offset(40, 100, 500), start_offset(7, 9, None)
    (99500, 40, 7)
    """
    if window is None:
        return beginning
    return max(beginning, end - max(window, 0))


class RecentReader:
    """The tail of each topic of ``windows`` (topic -> records per partition, or None for
    all), then every new record, each handed to ``on_record`` in the event loop.

    ``client_options`` (TLS/SASL, timeouts) go to the aiokafka consumer. :attr:`following`
    says whether it reads now (what the console's ``/healthz`` reports).
    """

    def __init__(
        self,
        bootstrap: str,
        windows: Mapping[str, int | None],
        *,
        max_records: int = 2_000,
        rescan_s: float = 5.0,
        poll_s: float = 0.5,
        **client_options: Any,
    ) -> None:
        self.bootstrap = bootstrap
        self.windows = dict(windows)
        self.max_records = max_records
        self.rescan_s = rescan_s
        self.poll_s = poll_s
        self.client_options = client_options
        self._assigned: set[tuple[str, int]] = set()
        #: True while :meth:`run` follows the topics: its consumer started and the cluster's
        #: metadata was read (again every ``rescan_s``; a broker gone makes that fail and
        #: ``run`` raise); False before and after.
        self.following = False

    async def run(self, on_record: Callable[[SourceRecord], None]) -> None:
        """Read until cancelled; a failing ``on_record`` is logged and skipped."""
        consumer = await start_plain_consumer(self.bootstrap, **self.client_options)
        try:
            rescan_at = 0.0
            while True:
                if time.monotonic() >= rescan_at:
                    rescan_at = time.monotonic() + self.rescan_s
                    await self._assign(consumer)
                    self.following = True
                if not self._assigned:
                    await asyncio.sleep(self.poll_s)
                    continue
                fetched = await consumer.getmany(
                    timeout_ms=int(self.poll_s * 1000), max_records=self.max_records
                )
                for tp, batch in fetched.items():
                    for r in batch:
                        record = SourceRecord(
                            tp.topic,
                            tp.partition,
                            r.offset,
                            r.key,
                            r.value,
                            (r.timestamp or 0) / 1000.0,
                        )
                        try:
                            on_record(record)
                        except Exception:
                            log.exception("recent reader: handling %s failed", tp.topic)
        finally:
            self.following = False
            await consumer.stop()

    async def _assign(self, consumer: Any) -> None:
        """Assign every partition of the topics that exist; new ones start at their tail,
        those assigned before keep their positions."""
        from aiokafka import TopicPartition

        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public way
        found = {
            (topic, partition)
            for topic in self.windows
            for partition in cluster.partitions_for_topic(topic) or ()
        }
        if found <= self._assigned:
            return
        current = {
            (tp.topic, tp.partition): int(await consumer.position(tp))
            for tp in consumer.assignment()
        }
        fresh = [TopicPartition(*key) for key in sorted(found - self._assigned)]
        consumer.assign([TopicPartition(*key) for key in sorted(found | self._assigned)])
        for key, position in current.items():
            consumer.seek(TopicPartition(*key), position)
        beginning = await consumer.beginning_offsets(fresh)
        end = await consumer.end_offsets(fresh)
        for tp in fresh:
            window = self.windows[tp.topic]
            consumer.seek(tp, start_offset(int(beginning[tp]), int(end[tp]), window))
        log.info("reading the tail of %d new partitions of %s", len(fresh), sorted(self.windows))
        self._assigned |= found
