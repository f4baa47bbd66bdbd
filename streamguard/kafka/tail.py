"""Follow some topics from their earliest offset in a background thread (no group).

For readers that only watch — ``streamguard demo`` shows findings and recommendations
as they are published. Each record is handed to ``on_record`` in the tail's own thread
(an asyncio loop around a :class:`~streamguard.kafka.partition_reader.PartitionReader`);
:meth:`TopicTail.stop` ends it. Topics that do not exist yet are waited for.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from streamguard.kafka.partition_reader import PartitionReader
from streamguard.kafka.side_reader import SourceRecord

__all__ = ["TopicTail"]

log = logging.getLogger(__name__)


class TopicTail:
    """Every partition of ``topics`` from the start, each record to ``on_record``.

    ``client_options`` (TLS/SASL, timeouts) go to the consumer.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        on_record: Callable[[SourceRecord], None],
        *,
        poll_s: float = 0.5,
        **client_options: Any,
    ) -> None:
        self._reader = PartitionReader(bootstrap, topics, rescan_s=5.0, **client_options)
        self._on_record = on_record
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topic-tail", daemon=True)

    def start(self) -> TopicTail:
        """Start following (returns at once)."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop following and close the consumer."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            asyncio.run(self._follow())
        except Exception:
            log.exception("topic tail failed")

    async def _follow(self) -> None:
        await self._reader.start({})
        try:
            while not self._stop.is_set():
                for record in await self._reader.fetch(self._poll_s):
                    try:
                        self._on_record(record)
                    except Exception:
                        log.exception("topic tail: handling %s failed", record.topic)
        finally:
            await self._reader.stop()
