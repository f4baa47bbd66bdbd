"""Popularity with time decay: exact top list, decay, bounds, state round trip."""

from __future__ import annotations

import math
import random

import pytest

from streamguard.recommender import Trending


def brute_force(events: list[tuple[str, float]], half_life_s: float, now: float) -> list[str]:
    scores: dict[str, float] = {}
    for item, ts in events:
        scores[item] = scores.get(item, 0.0) + 0.5 ** ((now - ts) / half_life_s)
    return sorted(scores, key=lambda item: -scores[item])


def test_top_list_is_exact_against_brute_force() -> None:
    rng = random.Random(7)
    trending = Trending(3600.0, leaders=5)
    events: list[tuple[str, float]] = []
    for n in range(3000):
        item, ts = f"p{int(rng.paretovariate(1.1)) % 60 + (n // 500)}", n * 10.0
        events.append((item, ts))
        trending.add(item, ts)
        if n % 250 == 249:
            expected = brute_force(events, 3600.0, ts)[:5]
            assert trending.top()[:5] == expected
    total = sum(trending.share(item) for item in {item for item, _ in events})
    assert total == pytest.approx(1.0)


def test_scores_halve_per_half_life_and_survive_rescaling() -> None:
    trending = Trending(1.0)
    trending.add("a", 0.0)
    trending.add("b", 100.0)  # 2**100 later: stored scores are rescaled on the way
    assert trending.score("b") == pytest.approx(1.0)
    assert trending.score("a") == pytest.approx(2.0**-100)
    assert trending.top() == ["b", "a"]


def test_memory_is_bounded_and_state_round_trips() -> None:
    trending = Trending(60.0, leaders=3, max_items=10)
    for n in range(200):
        trending.add(f"p{n % 17}", float(n))
    assert len(trending) == 10
    copy = Trending(60.0, leaders=3, max_items=10)
    state = trending.state()
    items = [(str(item), float(score)) for item, score in state["items"]]  # type: ignore[attr-defined]
    copy.load(state["clock"], state["ref"], state["total"], items)  # type: ignore[arg-type]
    assert copy.top()[:3] == trending.top()[:3]
    assert copy.share("p16") == pytest.approx(trending.share("p16"))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="half_life_s"):
        Trending(0.0)
    with pytest.raises(ValueError, match="leaders"):
        Trending(1.0, leaders=0)
    assert Trending(math.inf).score("x") == 0.0


def test_ranking_kept_between_adds_matches_a_fresh_sort() -> None:
    rng = random.Random(11)
    trending = Trending(600.0, leaders=8, max_items=40)
    for n in range(4000):
        item = f"p{int(rng.paretovariate(1.05)) % 70 + (n // 700)}"
        trending.add(item, n * 3.0)
        ranked = list(trending.top())  # kept up to date incrementally after the first
        scores = [trending.score(i) for i in ranked]
        assert scores == sorted(scores, reverse=True), n
        fresh = Trending(600.0, leaders=8, max_items=40)
        state = trending.state()
        fresh.load(state["clock"], state["ref"], state["total"], state["items"])  # type: ignore[arg-type]
        assert fresh.top()[:8] == ranked[:8], n
