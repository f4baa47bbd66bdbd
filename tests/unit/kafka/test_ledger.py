"""OffsetLedger: skipped ranges (also a dropped tail) are reported once, and commits never
pass them; StallWatch: when to look for a dropped tail."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamguard.kafka.ledger import OffsetLedger, StallWatch


def test_in_order_offsets_advance_the_commit_point() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=5)
    assert [ledger.observe("t", 0, o) for o in range(5, 9)] == [None] * 4
    assert ledger.committable("t", 0) == 9
    assert ledger.gaps("t", 0) == []


def test_the_first_record_past_the_commit_is_a_gap() -> None:
    # The restart case: Faust dropped the first fetched records of a new assignment.
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=100)
    assert ledger.observe("t", 0, 140) == (100, 140)
    assert ledger.committable("t", 0) == 100
    assert ledger.gaps_detected == 1


def test_a_gap_holds_the_commit_point_until_filled() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=0)
    ledger.observe("t", 0, 0)
    assert ledger.observe("t", 0, 4) == (1, 4)
    for later in (5, 6):
        assert ledger.observe("t", 0, later) is None  # reported once only
        assert ledger.committable("t", 0) == 1
    assert ledger.gaps("t", 0) == [(1, 4)]
    ledger.fill("t", 0, 1, 4)
    assert ledger.committable("t", 0) == 7
    assert ledger.gaps("t", 0) == []


def test_two_gaps_fill_in_any_order() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=0)
    assert ledger.observe("t", 0, 3) == (0, 3)
    assert ledger.observe("t", 0, 8) == (4, 8)
    ledger.fill("t", 0, 4, 8)
    assert ledger.committable("t", 0) == 0  # the first gap still holds it
    assert ledger.gaps("t", 0) == [(0, 3)]
    ledger.fill("t", 0, 0, 3)
    assert ledger.committable("t", 0) == 9


def test_records_redelivered_inside_a_gap_count_as_handled() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=0)
    assert ledger.observe("t", 0, 5) == (0, 5)
    for offset in range(0, 3):  # Faust re-fetched part of it by itself
        assert ledger.observe("t", 0, offset) is None
    assert ledger.committable("t", 0) == 3
    assert ledger.gaps("t", 0) == [(3, 5)]


def test_redelivery_below_the_commit_point_is_harmless() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=10)
    for offset in range(10, 15):
        ledger.observe("t", 0, offset)
    assert ledger.observe("t", 0, 11) is None
    assert ledger.committable("t", 0) == 15


def test_unknown_start_begins_at_the_first_record() -> None:
    ledger = OffsetLedger()
    assert ledger.observe("t", 1, 42) is None
    assert ledger.committable("t", 1) == 43


def test_partitions_are_independent_and_forgotten_on_revoke() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=0)
    ledger.start("t", 1, committed=0)
    assert ledger.observe("t", 0, 2) == (0, 2)
    assert ledger.observe("t", 1, 0) is None
    assert ledger.committable("t", 1) == 1
    ledger.forget("t", 0)
    assert not ledger.tracking("t", 0)
    assert ledger.committable("t", 0) is None
    ledger.fill("t", 0, 0, 2)  # a late fill for a revoked partition is ignored
    assert not ledger.tracking("t", 0)


def test_a_dropped_tail_is_reported_once_and_holds_the_commit_until_filled() -> None:
    # Faust fetched 10..19 (the consumer reads at 20) but delivered only 10..12.
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=10)
    for offset in (10, 11, 12):
        ledger.observe("t", 0, offset)
    assert ledger.report_tail("t", 0, 20) == (13, 20)
    assert ledger.report_tail("t", 0, 20) is None
    assert ledger.committable("t", 0) == 13
    assert ledger.gaps("t", 0) == [(13, 20)]
    # A late delivery of part of it is fine; the side read completes it.
    ledger.observe("t", 0, 13)
    ledger.fill("t", 0, 13, 20)
    assert ledger.committable("t", 0) == 20 and ledger.gaps("t", 0) == []
    # The next record after the tail is in order, not a gap.
    assert ledger.observe("t", 0, 20) is None


def test_no_tail_when_the_position_is_at_the_frontier_or_untracked() -> None:
    ledger = OffsetLedger()
    assert ledger.report_tail("t", 0, 50) is None  # not tracked: the caller starts it
    ledger.start("t", 0, committed=50)
    assert ledger.report_tail("t", 0, 50) is None
    assert ledger.report_tail("t", 0, 49) is None
    assert ledger.frontier("t", 0) == 50


def test_stall_watch_fires_once_per_period_without_progress() -> None:
    watch = StallWatch(stall_s=10.0)
    key = ("t", 0)
    assert not watch.stalled(key, 5, now=0.0)
    assert not watch.stalled(key, 5, now=9.9)
    assert watch.stalled(key, 5, now=10.0)
    assert not watch.stalled(key, 5, now=15.0)  # the clock restarted at 10
    assert watch.stalled(key, 5, now=20.0)
    assert not watch.stalled(key, 6, now=31.0)  # progress restarts it too
    assert not watch.stalled(("t", 1), None, now=31.0)  # partitions are independent
    watch.reset()
    assert not watch.stalled(key, 6, now=45.0)
    watch.forget(key)
    assert not watch.stalled(key, 6, now=60.0)


@given(
    committed=st.integers(0, 50),
    arrivals=st.lists(st.integers(0, 120), max_size=80),
    fill_order=st.randoms(use_true_random=False),
)
def test_commit_point_is_never_past_an_unhandled_offset(
    committed: int, arrivals: list[int], fill_order: object
) -> None:
    """Whatever order records and fills come in, every offset below the commit point was
    either observed or inside a filled gap, and filling every reported gap plus
    observing every offset up to the frontier lets the commit point reach it."""
    ledger = OffsetLedger()
    ledger.start("t", 0, committed)
    handled: set[int] = set(range(committed))
    reported: list[tuple[int, int]] = []
    for offset in arrivals:
        if offset < committed:
            continue  # below the commit: the consumer never delivers these
        gap = ledger.observe("t", 0, offset)
        handled.add(offset)
        if gap is not None:
            reported.append(gap)
        point = ledger.committable("t", 0)
        assert point is not None
        assert all(o in handled for o in range(point))
    fill_order.shuffle(reported)  # type: ignore[attr-defined]
    for start, end in reported:
        ledger.fill("t", 0, start, end)
        handled.update(range(start, end))
        point = ledger.committable("t", 0)
        assert point is not None
        assert all(o in handled for o in range(point))
    if arrivals and any(o >= committed for o in arrivals):
        assert ledger.committable("t", 0) == max(o for o in arrivals if o >= committed) + 1
        assert ledger.gaps("t", 0) == []
