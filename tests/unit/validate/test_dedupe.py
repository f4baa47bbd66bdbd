"""DedupeIndex: event-time window, processing-time eviction, FIFO bound, scope, redelivery;
DedupeBudget: one bound shared by a worker's indexes."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.events.records import SourcePosition
from streamguard.validate.dedupe import DedupeBudget, DedupeIndex, SeenEntry

T0 = 1_800_000_000_000.0  # an event time, ms


class Clock:
    """A settable processing-time clock (seconds)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(offset: int, partition: int = 0, topic: str = "t") -> SourcePosition:
    return SourcePosition(topic, partition, offset)


# --- basic semantics ---------------------------------------------------------------


def test_first_sight_then_duplicate_names_the_first_source() -> None:
    index = DedupeIndex(clock=Clock())
    assert index.check_and_add("e1", T0, at(1)) is None
    assert index.check_and_add("e1", T0 + 5, at(2)) == at(1)
    assert index.check_and_add("e1", T0, at(7, partition=3, topic="u")) == at(1)
    assert len(index) == 1  # duplicates are not remembered


def test_redelivery_is_not_a_duplicate_and_changes_nothing() -> None:
    store: dict[str, SeenEntry] = {}
    index = DedupeIndex(store=store, clock=Clock())
    assert index.check_and_add("e1", T0, at(1)) is None
    before = {k: list(v) for k, v in store.items()}
    for _ in range(3):
        assert index.check_and_add("e1", T0, at(1)) is None
    assert {k: list(v) for k, v in store.items()} == before


def test_redelivery_of_a_duplicate_is_still_a_duplicate() -> None:
    index = DedupeIndex(clock=Clock())
    index.check_and_add("e1", T0, at(1))
    assert index.check_and_add("e1", T0, at(2)) == at(1)
    assert index.check_and_add("e1", T0, at(2)) == at(1)


def test_store_entry_format() -> None:
    store: dict[str, SeenEntry] = {}
    DedupeIndex(store=store, clock=Clock(42.5)).check_and_add("e1", T0, at(9, 4, "topic"))
    assert list(store["e1"]) == ["topic", 4, 9, T0, 42.5]


# --- event-time window -------------------------------------------------------------


def test_event_time_window_is_inclusive() -> None:
    index = DedupeIndex(window_s=10, clock=Clock())
    index.check_and_add("e1", T0, at(1))
    assert index.check_and_add("e1", T0 + 10_000, at(2)) == at(1)
    assert index.check_and_add("e1", T0 - 10_000, at(3)) == at(1)


def test_same_id_beyond_the_event_time_window_is_a_new_event() -> None:
    index = DedupeIndex(window_s=10, clock=Clock())
    index.check_and_add("e1", T0, at(1))
    assert index.check_and_add("e1", T0 + 10_001, at(2)) is None
    # The later sighting is now the one remembered.
    assert index.check_and_add("e1", T0 + 12_000, at(3)) == at(2)
    assert len(index) == 1


# --- processing-time eviction ------------------------------------------------------


def test_entries_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    index = DedupeIndex(window_s=60, clock=clock)
    index.check_and_add("old", T0, at(1))
    clock.now += 30
    index.check_and_add("young", T0, at(2))
    clock.now += 30  # "old" is exactly 60 s old: still kept
    assert index.check_and_add("old", T0, at(3)) == at(1)
    clock.now += 0.001
    assert index.check_and_add("x", T0, at(4)) is None  # any call evicts
    assert len(index) == 2  # "young" and "x"
    assert index.check_and_add("old", T0, at(5)) is None  # forgotten: a new first sight
    assert index.check_and_add("young", T0, at(6)) == at(2)


def test_eviction_drops_everything_once_the_clock_jumps() -> None:
    clock = Clock()
    index = DedupeIndex(window_s=5, clock=clock)
    for i in range(100):
        index.check_and_add(f"e{i}", T0, at(i))
    clock.now += 5.5
    index.check_and_add("last", T0, at(100))
    assert len(index) == 1


# --- max_entries -------------------------------------------------------------------


def test_max_entries_is_a_hard_bound_evicting_first_in_first_out() -> None:
    index = DedupeIndex(max_entries=3, clock=Clock())
    for i in range(10):
        index.check_and_add(f"e{i}", T0, at(i))
        assert len(index) <= 3
    assert len(index) == 3
    for i in (7, 8, 9):
        assert index.check_and_add(f"e{i}", T0, at(100 + i)) == at(i)
    assert index.check_and_add("e6", T0, at(106)) is None  # evicted: a first sight again


def test_fifo_is_by_insertion_not_by_event_time() -> None:
    index = DedupeIndex(max_entries=2, clock=Clock())
    index.check_and_add("late", T0 + 50_000, at(1))
    index.check_and_add("early", T0 - 50_000, at(2))
    index.check_and_add("mid", T0, at(3))
    assert index.check_and_add("early", T0 - 50_000, at(4)) == at(2)
    assert index.check_and_add("mid", T0, at(5)) == at(3)
    assert index.check_and_add("late", T0 + 50_000, at(6)) is None


def test_redelivery_does_not_refresh_an_entry() -> None:
    index = DedupeIndex(max_entries=2, clock=Clock())
    index.check_and_add("a", T0, at(1))
    index.check_and_add("b", T0, at(2))
    index.check_and_add("a", T0, at(1))  # redelivery: not an insertion
    index.check_and_add("c", T0, at(3))
    assert index.check_and_add("b", T0, at(9)) == at(2)
    assert index.check_and_add("c", T0, at(9)) == at(3)
    assert index.check_and_add("a", T0, at(9)) is None


def test_max_entries_of_one() -> None:
    index = DedupeIndex(max_entries=1, clock=Clock())
    index.check_and_add("a", T0, at(1))
    index.check_and_add("b", T0, at(2))
    assert len(index) == 1
    assert index.check_and_add("b", T0, at(3)) == at(2)


# --- restore (reindex) and scope ---------------------------------------------------


def entry(offset: int, inserted_at: float, partition: int = 0) -> list[Any]:
    return ["t", partition, offset, T0, inserted_at]


def test_restored_store_is_evicted_in_insertion_time_order() -> None:
    rows = {f"e{i}": entry(i, 1000.0 + i) for i in range(6)}
    keys = list(rows)
    random.Random(3).shuffle(keys)  # a changelog restore need not keep the order
    store: dict[str, SeenEntry] = {k: rows[k] for k in keys}
    index = DedupeIndex(max_entries=3, store=store, clock=Clock(1010.0))
    index.check_and_add("new", T0, at(99))
    assert sorted(store) == ["e4", "e5", "new"]


def test_restored_store_is_evicted_by_age() -> None:
    store: dict[str, SeenEntry] = {"old": entry(1, 100.0), "recent": entry(2, 900.0)}
    index = DedupeIndex(window_s=300, store=store, clock=Clock(1000.0))
    assert index.check_and_add("recent", T0, at(5)) == at(2)
    assert index.check_and_add("old", T0, at(6)) is None
    assert store["old"][2] == 6


def test_reindex_after_the_store_changed_underneath() -> None:
    store: dict[str, SeenEntry] = {}
    clock = Clock(1000.0)
    index = DedupeIndex(window_s=60, store=store, clock=clock)
    store["restored"] = entry(1, 950.0)  # e.g. a changelog replayed into the table
    index.reindex()
    clock.now = 1011.0
    index.check_and_add("x", T0, at(2))
    assert "restored" not in store


def test_scoped_indexes_share_a_store_but_evict_only_their_own() -> None:
    store: dict[str, SeenEntry] = {}
    clock = Clock()
    p0 = DedupeIndex(max_entries=2, store=store, clock=clock, scope=("t", 0))
    p1 = DedupeIndex(max_entries=2, store=store, clock=clock, scope=("t", 1))
    p1.check_and_add("b0", T0, at(0, partition=1))
    p1.check_and_add("b1", T0, at(1, partition=1))
    for i in range(5):
        p0.check_and_add(f"a{i}", T0, at(i, partition=0))
    assert sorted(store) == ["0:a3", "0:a4", "1:b0", "1:b1"]  # keys carry the partition
    # An id seen only in another partition is not a duplicate here: a record's outcome
    # must not depend on which worker holds which partitions.
    assert p1.check_and_add("a4", T0, at(7, partition=1)) is None


def test_scoped_reindex_only_takes_its_own_entries() -> None:
    store: dict[str, SeenEntry] = {
        "a": entry(1, 100.0, partition=0),
        "b": entry(2, 100.0, partition=1),
        "c": entry(3, 990.0, partition=1),
    }
    index = DedupeIndex(window_s=300, store=store, clock=Clock(1000.0), scope=("t", 1))
    index.check_and_add("d", T0, at(4, partition=1))
    # "b" was this partition's and too old; "a" is partition 0's index's to evict.
    assert sorted(store) == ["1:d", "a", "c"]


def test_unscoped_index_takes_every_entry() -> None:
    store: dict[str, SeenEntry] = {"a": entry(1, 100.0, 0), "b": entry(2, 100.0, 1)}
    DedupeIndex(window_s=300, store=store, clock=Clock(1000.0)).check_and_add("c", T0, at(3))
    assert sorted(store) == ["c"]


# --- a budget shared by indexes --------------------------------------------------------


def test_budget_shares_equally_and_never_above_an_index_own_bound() -> None:
    budget = DedupeBudget(max_entries=90)
    small = DedupeIndex(max_entries=10, budget=budget)
    big = [DedupeIndex(budget=budget) for _ in range(2)]
    assert (small.max_entries, big[0].max_entries, big[1].max_entries) == (10, 30, 30)
    budget.join(small)  # joining twice changes nothing
    assert len(budget) == 3 and big[0].max_entries == 30
    budget.leave(big[1])
    assert (small.max_entries, big[0].max_entries, len(budget)) == (10, 45, 2)


def test_a_new_member_shrinks_the_others_who_evict_their_oldest_on_next_insert() -> None:
    store: dict[str, SeenEntry] = {}
    clock = Clock()
    budget = DedupeBudget(max_entries=6)
    p0 = DedupeIndex(store=store, clock=clock, scope=("t", 0), budget=budget)
    for i in range(6):
        p0.check_and_add(f"a{i}", T0, at(i))
    assert p0.entries == 6
    p1 = DedupeIndex(store=store, clock=clock, scope=("t", 1), budget=budget)
    assert (p0.max_entries, p1.max_entries) == (3, 3)
    p0.check_and_add("a6", T0, at(6))
    assert sorted(store) == ["0:a4", "0:a5", "0:a6"]  # FIFO down to the new share
    for i in range(4):
        p1.check_and_add(f"b{i}", T0, at(i, partition=1))
    assert budget.entries == 6
    assert sorted(store) == ["0:a4", "0:a5", "0:a6", "1:b1", "1:b2", "1:b3"]


def test_a_budget_needs_an_entry() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        DedupeBudget(max_entries=0)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=20),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), max_size=120),
)
def test_members_never_hold_more_than_the_budget(
    max_entries: int, inserts: list[tuple[int, int]]
) -> None:
    store: dict[str, SeenEntry] = {}
    clock = Clock()
    budget = DedupeBudget(max_entries)
    indexes = [
        DedupeIndex(store=store, clock=clock, scope=("t", p), budget=budget) for p in range(4)
    ]
    share = max(1, max_entries // 4)
    for offset, (partition, event) in enumerate(inserts):
        indexes[partition].check_and_add(f"{partition}-{event}", T0, at(offset, partition))
        assert indexes[partition].entries <= share
        assert budget.entries <= max(max_entries, 4)


# --- properties --------------------------------------------------------------------

_steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),  # event_id
        st.integers(min_value=0, max_value=15),  # offset
        st.integers(min_value=0, max_value=3_000),  # event-time delta, ms (< window)
        st.sampled_from([0.0, 0.0, 0.5, 2.0]),  # processing-time advance, s
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_steps, st.integers(min_value=1, max_value=6))
def test_invariants_under_any_sequence(steps: list[tuple[str, int, int, float]], cap: int) -> None:
    clock = Clock()
    index = DedupeIndex(window_s=3, max_entries=cap, clock=clock)
    sources: dict[str, set[SourcePosition]] = {}
    for event_id, offset, delta, advance in steps:
        clock.now += advance
        source = at(offset)
        first = index.check_and_add(event_id, T0 + delta, source)
        assert len(index) <= cap
        if first is not None:
            assert first != source
            assert first in sources[event_id]  # a position seen with this id before
        sources.setdefault(event_id, set()).add(source)
        # Asking again at once gives the same answer (redelivery).
        assert index.check_and_add(event_id, T0 + delta, source) == first


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_replaying_a_partition_gives_the_same_decisions(
    steps: list[tuple[str, int, int, float]],
) -> None:
    # At-least-once: after a crash the whole partition is read again from the start.
    index = DedupeIndex(clock=Clock())
    records = [(event_id, T0 + delta, at(i)) for i, (event_id, _, delta, _) in enumerate(steps)]
    first_pass = [index.check_and_add(*record) for record in records]
    assert [index.check_and_add(*record) for record in records] == first_pass


def test_dedupe_is_per_partition_even_in_a_shared_store() -> None:
    """A worker's table holds all its partitions in one store: an id first seen in
    partition 0 must not make a record of partition 1 a duplicate (README, "Dedupe is per
    input partition"), and each partition still catches its own copies."""
    store: dict[str, Any] = {}
    p0 = DedupeIndex(store=store, clock=Clock(), scope=("t", 0))
    p1 = DedupeIndex(store=store, clock=Clock(), scope=("t", 1))
    assert p0.check_and_add("e1", T0, at(0, partition=0)) is None
    assert p1.check_and_add("e1", T0, at(0, partition=1)) is None  # not a duplicate
    assert p0.check_and_add("e1", T0, at(1, partition=0)) == at(0, partition=0)
    assert p1.check_and_add("e1", T0, at(1, partition=1)) == at(0, partition=1)
    # Each index still evicts only its own entries after a restore.
    p1.reindex()
    assert p0.entries == 1 and p1.entries == 1 and len(store) == 2
