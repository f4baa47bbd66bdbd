"""Delivery bookkeeping: which source offsets the pipeline has really handled.

At-least-once needs one promise from the consumer: an offset is committed only after
every record before it produced its output. Faust can break it around rebalances: it
skips records fetched during a generation change or a flow-control pause *and acks
them* (faust-streaming#216, #221), so a later commit can pass records no agent ever
saw. :class:`OffsetLedger` watches the offsets that actually reach the pipeline, per
partition, and says when records were skipped (seek back to re-read them) and how far
a commit may safely go. Pure logic: the Faust glue seeks and clamps commits with it.

Examples
--------
>>> ledger = OffsetLedger()
>>> ledger.start("t", 0, committed=10)
>>> [ledger.observe("t", 0, offset) for offset in (10, 11, 12)]
[None, None, None]
>>> ledger.committable("t", 0)
13
>>> ledger.observe("t", 0, 16)   # 13..15 never arrived: seek back to 13
13
>>> ledger.observe("t", 0, 17), ledger.committable("t", 0)
(None, 13)
>>> ledger.overdue_seeks()       # not yet: the re-read gets ``reseek_after_s``
[]
>>> [ledger.observe("t", 0, offset) for offset in (13, 14, 15, 16, 17)]
[None, None, None, None, None]
>>> ledger.committable("t", 0)
18
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["OffsetLedger"]


@dataclass(slots=True)
class _PartitionState:
    next_offset: int | None  # first offset not yet handled in order (None: unknown)
    highest: int = -1  # highest offset seen since start or the last seek-back
    seek_to: int | None = None  # a seek-back in progress, to this offset
    sought_at: float = 0.0  # when the seek-back was (last) asked for
    attempts: int = 0  # seeks issued for the current seek-back


class OffsetLedger:
    """Tracks handled source offsets per (topic, partition); detects skipped records.

    ``observe`` is called once per record *after* its output was acknowledged. It returns
    an offset to seek back to when records before this one were skipped, else ``None``.
    Records that arrive while a seek-back is pending are still handled (processing is
    idempotent; they come round again), they just do not move the commit point.

    A gap that remains after ``max_attempts`` seek-backs (the re-read keeps starting past
    it) is a real gap in the log, such as transaction markers or compaction, and is
    accepted. If only records
    fetched before the seek arrive for ``reseek_after_s``, :meth:`overdue_seeks` asks for
    the seek again (a consumer may drop the re-read behind a stale read position).
    """

    def __init__(
        self, reseek_after_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._partitions: dict[tuple[str, int], _PartitionState] = {}
        self._reseek_after_s = reseek_after_s
        self._clock = clock
        self.max_attempts = 10
        self.skips_detected = 0

    def start(self, topic: str, partition: int, committed: int | None) -> None:
        """Begin tracking a newly assigned partition from its committed offset."""
        self._partitions[topic, partition] = _PartitionState(committed)

    def tracking(self, topic: str, partition: int) -> bool:
        """True once the partition was started or observed."""
        return (topic, partition) in self._partitions

    def forget(self, topic: str, partition: int) -> None:
        """Stop tracking a revoked partition."""
        self._partitions.pop((topic, partition), None)

    def observe(self, topic: str, partition: int, offset: int) -> int | None:
        """Record that ``offset`` was handled; return an offset to seek back to, or None."""
        state = self._partitions.get((topic, partition))
        if state is None:
            state = self._partitions[topic, partition] = _PartitionState(None)
        expected = state.next_offset
        if state.seek_to is not None:
            if offset > state.highest:  # fetched before the seek took effect
                state.highest = offset
                return None
            # The first record re-read after the seek.
            state.highest = offset
            if offset > state.seek_to and state.attempts < self.max_attempts:
                # The re-read started late: the consumer may have dropped the first
                # records behind a stale read position. Seek again before believing
                # the log has a real gap there.
                state.attempts += 1
                state.sought_at = self._clock()
                return state.seek_to
            state.seek_to = None
            state.next_offset = offset + 1
            return None
        state.highest = max(state.highest, offset)
        if expected is None or offset <= expected:
            # In order, or a redelivery after Faust sought back to the committed offset.
            state.next_offset = offset + 1
            return None
        # Records expected..offset-1 never reached the pipeline.
        state.seek_to = expected
        state.attempts = 1
        state.sought_at = self._clock()
        self.skips_detected += 1
        return expected

    def overdue_seeks(self) -> list[tuple[str, int, int]]:
        """(topic, partition, offset) of seek-backs not resolved within ``reseek_after_s``.

        Call it periodically and seek again; each call restarts the returned ones' clocks.
        """
        now = self._clock()
        overdue = []
        for (topic, partition), state in self._partitions.items():
            if state.seek_to is not None and now - state.sought_at >= self._reseek_after_s:
                state.sought_at = now
                overdue.append((topic, partition, state.seek_to))
        return overdue

    def committable(self, topic: str, partition: int) -> int | None:
        """The highest offset a commit may name (all before it handled), or None if unknown."""
        state = self._partitions.get((topic, partition))
        return None if state is None else state.next_offset
