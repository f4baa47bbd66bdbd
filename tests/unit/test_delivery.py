"""OffsetLedger: skipped records are detected, re-read, and never committed past."""

from __future__ import annotations

from streamguard.delivery import OffsetLedger


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_in_order_offsets_advance_the_commit_point() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=5)
    assert [ledger.observe("t", 0, o) for o in range(5, 9)] == [None] * 4
    assert ledger.committable("t", 0) == 9


def test_a_skip_asks_for_a_seek_and_holds_the_commit_point_until_re_read() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=0)
    ledger.observe("t", 0, 0)
    assert ledger.observe("t", 0, 4) == 1  # 1..3 never arrived
    assert ledger.skips_detected == 1
    for late in (5, 6):  # fetched before the seek: handled, commit point stays
        assert ledger.observe("t", 0, late) is None
        assert ledger.committable("t", 0) == 1
    for offset in range(1, 7):  # the re-read
        assert ledger.observe("t", 0, offset) is None
    assert ledger.committable("t", 0) == 7


def test_a_re_read_that_starts_late_is_sought_again_before_a_gap_is_accepted() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=10)
    assert ledger.observe("t", 0, 12) == 10
    # Re-reads starting past 10 (a dropped re-read) ask for the seek again...
    for _ in range(ledger.max_attempts - 1):
        assert ledger.observe("t", 0, 11) == 10
    # ...until max_attempts, then the log is taken to have a real gap at 10.
    assert ledger.observe("t", 0, 11) is None
    assert ledger.committable("t", 0) == 12


def test_overdue_seeks_are_retried_after_the_timeout_only() -> None:
    clock = FakeClock()
    ledger = OffsetLedger(reseek_after_s=2.0, clock=clock)
    ledger.start("t", 3, committed=0)
    assert ledger.observe("t", 3, 2) == 0
    clock.now = 1.0
    assert ledger.overdue_seeks() == []
    clock.now = 2.5
    assert ledger.overdue_seeks() == [("t", 3, 0)]
    assert ledger.overdue_seeks() == []  # its clock restarted


def test_redelivery_below_the_commit_point_rewinds_it() -> None:
    ledger = OffsetLedger()
    ledger.start("t", 0, committed=0)
    for offset in range(5):
        ledger.observe("t", 0, offset)
    assert ledger.observe("t", 0, 2) is None  # Faust sought back to a committed offset
    assert ledger.committable("t", 0) == 3


def test_partitions_are_independent_and_forgotten_on_revoke() -> None:
    ledger = OffsetLedger()
    ledger.observe("t", 0, 7)
    ledger.observe("t", 1, 3)
    assert (ledger.committable("t", 0), ledger.committable("t", 1)) == (8, 4)
    ledger.forget("t", 0)
    assert not ledger.tracking("t", 0)
    assert ledger.committable("t", 0) is None
