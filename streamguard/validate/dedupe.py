"""Duplicate detection keyed on ``event_id``, idempotent under redelivery.

A record is a duplicate when another record (a different source position) with the same
``event_id`` was accepted and the two event times are within the window. The same source
record delivered again (at-least-once replay after a crash) is *not* a duplicate, so
reprocessing gives the same decision.

State lives in a ``MutableMapping`` (a dict here; a changelogged Faust table in the
worker) so it can survive restarts. Entries are evicted first-in-first-out beyond
``max_entries``, and once older than the window in processing time (the clock is
injectable). In the worker there is one index per input partition (``scope``), since a
producer's retry of a record lands in the same partition as the original; their keys
carry the partition, so an id seen only in another partition is not a duplicate here
(dedupe is per key partition, whichever worker holds which partitions), and a
:class:`DedupeBudget` bounds the entries of all of them together, so a worker's memory
does not grow with the number of partitions it is given.

Examples
--------
>>> from streamguard.events.records import SourcePosition
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

from streamguard.events.records import SourcePosition

__all__ = ["DedupeBudget", "DedupeIndex", "SeenEntry"]

#: Stored per event_id: [topic, partition, offset, event_time_ms, inserted_at_s].
SeenEntry = Sequence[Any]


class DedupeBudget:
    """One bound on the entries that several indexes hold together, shared equally.

    Each member may hold ``max_entries // members`` entries (never more than its own
    ``max_entries``); the shares are recomputed whenever a member joins or leaves, and a
    member over its new share evicts its oldest entries on its next insert.

    >>> budget = DedupeBudget(max_entries=10)
    >>> a, b = DedupeIndex(budget=budget), DedupeIndex(budget=budget)
    >>> a.max_entries, b.max_entries, len(budget)
    (5, 5, 2)
    >>> budget.leave(b)
    >>> a.max_entries
    10
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"a dedupe budget needs at least one entry, got {max_entries}")
        self.max_entries = max_entries
        self._members: list[DedupeIndex] = []

    def __len__(self) -> int:
        return len(self._members)

    @property
    def entries(self) -> int:
        """Entries its members hold now."""
        return sum(member.entries for member in self._members)

    def join(self, index: DedupeIndex) -> None:
        """Add ``index`` (idempotent) and re-share the budget."""
        if all(member is not index for member in self._members):
            self._members.append(index)
        self._reshare()

    def leave(self, index: DedupeIndex) -> None:
        """Remove ``index`` (if a member) and re-share the budget among the rest."""
        self._members = [member for member in self._members if member is not index]
        self._reshare()

    def _reshare(self) -> None:
        share = max(1, self.max_entries // max(1, len(self._members)))
        for member in self._members:
            member.max_entries = min(member.own_max_entries, share)


class DedupeIndex:
    """Remembers accepted event_ids and their first source position.

    ``max_entries`` bounds this index alone; with a ``budget`` the index joins it and
    holds at most its share (see :class:`DedupeBudget`).
    """

    def __init__(
        self,
        window_s: float = 86_400.0,
        max_entries: int = 1_000_000,
        store: MutableMapping[str, SeenEntry] | None = None,
        clock: Callable[[], float] = time.time,
        scope: tuple[str, int] | None = None,
        budget: DedupeBudget | None = None,
    ) -> None:
        self.window_s = window_s
        self.scope = scope
        self.own_max_entries = max_entries
        #: The bound in force: ``max_entries``, or less while sharing a budget.
        self.max_entries = max_entries
        self._store: MutableMapping[str, SeenEntry] = {} if store is None else store
        # With a scope, keys carry the partition: a worker's table holds every partition it
        # is assigned in one store, and an id first seen in another partition must not
        # decide this one (or a record's outcome would depend on which worker holds which
        # partitions, and change on replay after a rebalance). Dedupe is per key partition.
        self._prefix = f"{scope[1]}:" if scope is not None else ""
        self._clock = clock
        self._window_ms = window_s * 1000.0
        # Insertion order for eviction: (inserted_at_s, event_id).
        self._order: deque[tuple[float, str]] = deque()
        self.reindex()
        if budget is not None:
            budget.join(self)

    def __len__(self) -> int:
        return len(self._store)

    @property
    def entries(self) -> int:
        """Entries this index holds (and may evict): in a shared store, only its own."""
        return len(self._order)

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
        key = self._prefix + event_id if self._prefix else event_id
        seen = store.get(key)
        if seen is not None:
            first = SourcePosition(str(seen[0]), int(seen[1]), int(seen[2]))
            if first == source:
                return None
            if abs(event_time_ms - float(seen[3])) <= self._window_ms:
                return first
        # A tuple of scalars: smaller than a list, and the garbage collector stops
        # tracking it, so a million entries do not slow every full collection.
        store[key] = (source.topic, source.partition, source.offset, event_time_ms, now)
        order.append((now, key))
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
