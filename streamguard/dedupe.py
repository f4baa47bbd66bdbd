"""Duplicate detection keyed on ``event_id``, idempotent under redelivery.

A record is a duplicate when another record (a different source position) with the same
``event_id`` was accepted and the two event times are within the window. The same source
record delivered again (at-least-once replay after a crash) is *not* a duplicate, so
reprocessing gives the same decision.

State lives in a ``MutableMapping`` (a dict here; a changelogged Faust table in the
worker) so it can survive restarts. Entries are evicted first-in-first-out beyond
``max_entries``, and once older than the window in processing time (the clock is
injectable). In the worker there is one index per input partition (``scope``), since a
producer's retry of a record lands in the same partition as the original.

Examples
--------
>>> from streamguard.records import SourcePosition
>>> index = DedupeIndex(window_s=3600)
>>> a, b = SourcePosition("t", 0, 1), SourcePosition("t", 0, 2)
>>> index.check_and_add("e1", 1_000_000, a) is None      # first sight
True
>>> index.check_and_add("e1", 1_000_000, a) is None      # redelivery of the same record
True
>>> index.check_and_add("e1", 1_000_500, b)              # a second record, same event_id
SourcePosition(topic='t', partition=0, offset=1)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from streamguard.records import SourcePosition

__all__ = ["DedupeIndex", "SeenEntry"]

#: Stored per event_id: [topic, partition, offset, event_time_ms, inserted_at_s].
SeenEntry = Sequence[Any]


class DedupeIndex:
    """Remembers accepted event_ids and their first source position."""

    def __init__(
        self,
        window_s: float = 86_400.0,
        max_entries: int = 1_000_000,
        store: MutableMapping[str, SeenEntry] | None = None,
        clock: Callable[[], float] = time.time,
        scope: tuple[str, int] | None = None,
    ) -> None:
        self.window_s = window_s
        self.scope = scope
        self.max_entries = max_entries
        self._store: MutableMapping[str, SeenEntry] = {} if store is None else store
        self._clock = clock
        self._window_ms = window_s * 1000.0
        # Insertion order for eviction: (inserted_at_s, event_id).
        self._order: deque[tuple[float, str]] = deque()
        self.reindex()

    def __len__(self) -> int:
        return len(self._store)

    def reindex(self) -> None:
        """Rebuild the eviction order from the store (after a restore from a changelog).

        With a ``scope`` (topic, partition), only entries first seen there are this
        index's to evict: a store shared by partitions is evicted by each one's index.
        """
        scope = self.scope
        entries = sorted(
            (float(entry[4]), key)
            for key, entry in self._store.items()
            if scope is None or (entry[0], entry[1]) == scope
        )
        self._order = deque(entries)

    def check_and_add(
        self, event_id: str, event_time_ms: float, source: SourcePosition
    ) -> SourcePosition | None:
        """Return the first record's position if this one duplicates it; else remember it."""
        now = self._clock()
        order = self._order
        # Inline test before the call: nearly every record has nothing to evict.
        if order and (order[0][0] < now - self.window_s or len(order) > self.max_entries):
            self._evict(now)
        store = self._store
        seen = store.get(event_id)
        if seen is not None:
            first = SourcePosition(str(seen[0]), int(seen[1]), int(seen[2]))
            if first == source:
                return None
            if abs(event_time_ms - float(seen[3])) <= self._window_ms:
                return first
        # A tuple of scalars: smaller than a list, and the garbage collector stops
        # tracking it, so a million entries do not slow every full collection.
        store[event_id] = (source.topic, source.partition, source.offset, event_time_ms, now)
        order.append((now, event_id))
        if len(order) > self.max_entries:
            self._evict(now)  # never hold more than max_entries
        return None

    def _evict(self, now: float) -> None:
        order, store = self._order, self._store
        horizon = now - self.window_s
        while order and (len(order) > self.max_entries or order[0][0] < horizon):
            inserted_at, event_id = order.popleft()
            entry = store.get(event_id)
            # Only drop the entry this order slot refers to (it may have been replaced).
            if entry is not None and float(entry[4]) == inserted_at:
                del store[event_id]
