"""PopularityRanking against a brute-force count, and its bound."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.recommender import PopularityRanking


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcdefghij"), max_size=120))
def test_order_matches_a_brute_force_count(items: list[str]) -> None:
    ranking = PopularityRanking()
    counts: Counter[str] = Counter()
    for item in items:
        ranking.add(item)
        counts[item] += 1
        ordered = list(ranking)
        assert sorted(ordered) == sorted(counts)
        assert [ranking.count(i) for i in ordered] == sorted(counts.values(), reverse=True)
    assert ranking.total == len(items)


def test_top_skips_excluded_items() -> None:
    ranking = PopularityRanking()
    for item in "aaabbc":
        ranking.add(item)
    assert ranking.top(2, exclude={"a"}) == [("b", 2), ("c", 1)]
    assert ranking.top(0) == []


def test_bounded_ranking_forgets_the_least_popular() -> None:
    ranking = PopularityRanking(max_items=2)
    for item in "aabbc":
        ranking.add(item)
    assert len(ranking) == 2
    assert list(ranking)[0] in {"a", "b"} and list(ranking)[1] == "c"
    assert ranking.total == 5


def test_state_round_trip_and_bad_state() -> None:
    ranking = PopularityRanking()
    for item in "abbccc":
        ranking.add(item)
    pairs = [(str(item), int(count)) for item, count in ranking.state()]
    copy = PopularityRanking.from_state(reversed(pairs), ranking.total)
    assert list(copy) == list(ranking) and copy.total == 6
    copy.add("a")
    copy.add("a")
    assert list(copy)[0] in {"a", "c"} and copy.count("a") == 3
    with pytest.raises(ValueError, match="twice"):
        PopularityRanking.from_state([("a", 1), ("a", 2)], 3)
    with pytest.raises(ValueError, match=">= 1"):
        PopularityRanking(max_items=0)
