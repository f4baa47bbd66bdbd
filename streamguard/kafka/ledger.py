"""Delivery bookkeeping: which source offsets the pipeline has really handled.

At-least-once needs one promise from the consumer: an offset is committed only after
every record before it produced its output. Faust can break it around rebalances and
restarts: it drops records it fetched during a generation change or a flow-control
pause *and acks them* (faust-streaming#216, #221), so a later commit can pass records
no agent ever saw. Seeking the consumer back does not reliably help: its stale read
position can drop the re-read too.

:class:`OffsetLedger` watches the offsets that actually reach the pipeline, per
partition. When a record arrives past the frontier it reports the gap, which the glue
fills by reading exactly that range with a separate plain consumer and running it
through the same pipeline. Commits are clamped to the first offset not yet handled, so
a crash at any point leaves the gap to the next owner. A dropped *tail* has no later
record to reveal it: :class:`StallWatch` notices a partition whose frontier stopped
moving, and :meth:`OffsetLedger.report_tail` turns the consumer's read position past the
frontier into a gap. Pure logic, no Kafka.

Examples
--------
>>> ledger = OffsetLedger()
>>> ledger.start("t", 0, committed=10)
>>> [ledger.observe("t", 0, offset) for offset in (10, 11, 12)]
[None, None, None]
>>> ledger.committable("t", 0)
13
>>> ledger.observe("t", 0, 16)   # 13..15 never arrived: read [13, 16) on the side
(13, 16)
>>> ledger.observe("t", 0, 17), ledger.committable("t", 0), ledger.gaps("t", 0)
(None, 13, [(13, 16)])
>>> ledger.fill("t", 0, 13, 16)  # the side read handled them
>>> ledger.committable("t", 0), ledger.gaps("t", 0)
(18, [])
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["OffsetLedger", "StallWatch"]


@dataclass(slots=True)
class _PartitionState:
    next_offset: int | None  # every offset below it is handled (None: start unknown)
    frontier: int | None  # 1 + the highest offset handled or reported as a gap
    # Handled ranges [start, end) beyond next_offset, sorted and disjoint.
    ahead: list[tuple[int, int]] = field(default_factory=list)
    started_at: int | None = None  # the offset tracking started from (see advanced)


class OffsetLedger:
    """Tracks handled source offsets per (topic, partition); reports skipped ranges.

    ``observe`` is called once per record *after* its output was acknowledged. It returns
    ``(start, end)`` when records ``start..end-1`` were skipped: the caller reads that
    range some other way and then calls :meth:`fill`. Each gap is reported once.
    Redelivered records (below the frontier) are fine: processing is idempotent.
    """

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], _PartitionState] = {}
        self.gaps_detected = 0

    def start(self, topic: str, partition: int, committed: int | None) -> None:
        """Begin tracking a newly assigned partition from its committed offset (or the
        log start when nothing was committed; ``None`` if that is unknown too)."""
        self._partitions[topic, partition] = _PartitionState(
            committed, committed, started_at=committed
        )

    def tracking(self, topic: str, partition: int) -> bool:
        """True once the partition was started or observed."""
        return (topic, partition) in self._partitions

    def forget(self, topic: str, partition: int) -> None:
        """Stop tracking a revoked partition (its next owner starts from the commit)."""
        self._partitions.pop((topic, partition), None)

    def observe(self, topic: str, partition: int, offset: int) -> tuple[int, int] | None:
        """Record that ``offset`` was handled; return a newly skipped range, or None."""
        state = self._partitions.get((topic, partition))
        if state is None:
            state = self._partitions[topic, partition] = _PartitionState(None, None)
        if state.next_offset is None or state.frontier is None:
            state.next_offset = state.frontier = offset + 1
            return None
        gap = None
        if offset > state.frontier:
            gap = (state.frontier, offset)
            self.gaps_detected += 1
        state.frontier = max(state.frontier, offset + 1)
        if offset == state.next_offset and not state.ahead:
            state.next_offset += 1  # the common case: in order, nothing pending
        elif offset >= state.next_offset:
            self._add(state, offset, offset + 1)
        return gap

    def frontier(self, topic: str, partition: int) -> int | None:
        """1 + the highest offset handled or reported as a gap (None: not tracked yet)."""
        state = self._partitions.get((topic, partition))
        return None if state is None else state.frontier

    def report_tail(self, topic: str, partition: int, position: int) -> tuple[int, int] | None:
        """The consumer reads at ``position``: return ``(frontier, position)`` when records
        before it never arrived (each reported once), else None.

        >>> ledger = OffsetLedger()
        >>> ledger.start("t", 0, committed=5)
        >>> ledger.observe("t", 0, 5)
        >>> ledger.report_tail("t", 0, 9), ledger.report_tail("t", 0, 9), ledger.frontier("t", 0)
        ((6, 9), None, 9)
        """
        state = self._partitions.get((topic, partition))
        if state is None or state.frontier is None or position <= state.frontier:
            return None
        gap = (state.frontier, position)
        state.frontier = position
        self.gaps_detected += 1
        return gap

    def fill(self, topic: str, partition: int, start: int, end: int) -> None:
        """Mark ``start..end-1`` handled (read on the side, or absent from the log)."""
        state = self._partitions.get((topic, partition))
        if state is not None and state.next_offset is not None and end > state.next_offset:
            self._add(state, max(start, state.next_offset), end)

    def committable(self, topic: str, partition: int) -> int | None:
        """The highest offset a commit may name (all before it handled), or None if unknown."""
        state = self._partitions.get((topic, partition))
        return None if state is None else state.next_offset

    def advanced(self, topic: str, partition: int) -> bool:
        """True when records were handled past where tracking started. Until then
        :meth:`committable` only echoes the start, a commit that may be stale (a broker
        that lost its log): a caller that commits on the ledger alone must not echo it.

        >>> ledger = OffsetLedger()
        >>> ledger.start("t", 0, committed=81)
        >>> ledger.committable("t", 0), ledger.advanced("t", 0)
        (81, False)
        >>> _ = ledger.observe("t", 0, 81)
        >>> ledger.committable("t", 0), ledger.advanced("t", 0)
        (82, True)
        """
        state = self._partitions.get((topic, partition))
        return state is not None and state.next_offset != state.started_at

    def gaps(self, topic: str, partition: int) -> list[tuple[int, int]]:
        """Ranges below the frontier not handled yet, as ``(start, end)``."""
        state = self._partitions.get((topic, partition))
        if state is None or state.next_offset is None or state.frontier is None:
            return []
        missing, cursor = [], state.next_offset
        for start, end in state.ahead:
            if start > cursor:
                missing.append((cursor, start))
            cursor = max(cursor, end)
        if cursor < state.frontier:
            missing.append((cursor, state.frontier))
        return missing

    @staticmethod
    def _add(state: _PartitionState, start: int, end: int) -> None:
        ahead = state.ahead
        if ahead and ahead[-1][1] == start:
            ahead[-1] = (ahead[-1][0], end)  # appending in order: O(1)
        else:
            bisect.insort(ahead, (start, end))
            merged: list[tuple[int, int]] = []
            for lo, hi in ahead:
                if merged and lo <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
                else:
                    merged.append((lo, hi))
            state.ahead = ahead = merged
        assert state.next_offset is not None
        while ahead and ahead[0][0] <= state.next_offset:
            state.next_offset = max(state.next_offset, ahead.pop(0)[1])


class StallWatch:
    """Says when a partition's frontier has not moved for ``stall_s`` seconds.

    Fed the frontier of each partition periodically (``now``: a monotonic clock), it
    answers True once per ``stall_s`` of no progress, so the caller checks that
    partition's read position at most that often; any progress restarts the clock.

    >>> watch = StallWatch(stall_s=5.0)
    >>> [watch.stalled(("t", 0), 10, now) for now in (0.0, 3.0, 5.0, 6.0, 10.0)]
    [False, False, True, False, True]
    >>> watch.stalled(("t", 0), 11, 11.0)  # progress
    False
    """

    def __init__(self, stall_s: float = 5.0) -> None:
        self.stall_s = stall_s
        self._since: dict[tuple[str, int], tuple[int | None, float]] = {}

    def stalled(self, key: tuple[str, int], frontier: int | None, now: float) -> bool:
        """Whether ``key`` made no progress for ``stall_s`` (then the clock restarts)."""
        last = self._since.get(key)
        if last is None or last[0] != frontier:
            self._since[key] = (frontier, now)
            return False
        if now - last[1] < self.stall_s:
            return False
        self._since[key] = (frontier, now)
        return True

    def forget(self, key: tuple[str, int]) -> None:
        """Drop a revoked partition."""
        self._since.pop(key, None)

    def reset(self) -> None:
        """Restart every clock (e.g. while the consumer is not flowing)."""
        self._since.clear()
