"""The co-occurrence recommender: exclusions, weights, recency, cold users, bounds."""

from __future__ import annotations

import math
from typing import Any

import pytest

from streamguard.recommender import CooccurrenceRecommender, RecommenderConfig


def event(user: str, item: str, event_type: str = "view", ts: Any = None) -> dict[str, Any]:
    record: dict[str, Any] = {"user_id": user, "product_id": item, "event_type": event_type}
    if ts is not None:
        record["ts"] = ts
    return record


def items(model: CooccurrenceRecommender, user: str, k: int = 10) -> list[str]:
    return [item for item, _ in model.recommend(user, k)]


def teach(model: CooccurrenceRecommender, sessions: dict[str, list[str]]) -> None:
    for user, session in sessions.items():
        for item in session:
            assert model.learn_one(event(user, item))


def test_recommends_what_followed_the_same_item_for_others() -> None:
    model = CooccurrenceRecommender()
    teach(model, {"a": ["tent", "stove"], "b": ["tent", "stove"], "c": ["tent", "lamp"]})
    model.learn_one(event("d", "tent"))
    assert items(model, "d", 2) == ["stove", "lamp"]
    scores = dict(model.recommend("d", 2))
    assert scores["stove"] > scores["lamp"] > 0


def test_never_recommends_what_the_user_interacted_with() -> None:
    model = CooccurrenceRecommender()
    teach(model, {"a": ["x", "y", "z"], "b": ["x", "y", "z"]})
    model.learn_one(event("c", "x"))
    model.learn_one(event("c", "z"))
    assert "x" not in items(model, "c") and "z" not in items(model, "c")
    assert items(model, "c") == ["y"]
    assert model.seen_by("c") == ["x", "z"]


@pytest.mark.parametrize(
    "product_event",
    [
        {"product_id": "stove", "op": "delete"},
        {"product_id": "stove", "op": "upsert", "stock": 0},
    ],
)
def test_deleted_and_out_of_stock_products_are_excluded(product_event: dict[str, Any]) -> None:
    model = CooccurrenceRecommender()
    teach(model, {"a": ["tent", "stove", "lamp"], "b": ["tent"]})
    assert "stove" in items(model, "b")
    model.update_product(product_event)
    assert "stove" not in items(model, "b")
    assert "stove" not in items(model, "newcomer")  # the popularity fallback too
    model.update_product({"product_id": "stove", "op": "upsert", "stock": 3})
    assert "stove" in items(model, "b")


def test_quarantined_product_is_excluded_by_remove_product() -> None:
    model = CooccurrenceRecommender()
    teach(model, {"a": ["tent", "stove"], "b": ["tent"]})
    model.remove_product("stove")
    assert not model.is_available("stove")
    assert items(model, "b") == []


def test_product_record_without_id_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="product_id"):
        CooccurrenceRecommender().update_product({"op": "delete"})


def test_purchase_weighs_more_than_view() -> None:
    def profile(first: str, second: str) -> list[str]:
        model = CooccurrenceRecommender(RecommenderConfig(user_decay=1.0))
        teach(model, {"a": ["tent", "stove"], "b": ["boots", "socks"]})
        model.learn_one(event("u", "tent", first))
        model.learn_one(event("u", "boots", second))
        return items(model, "u", 2)

    # Without decay between the two, the event type alone decides the order.
    assert profile("purchase", "view") == ["stove", "socks"]
    assert profile("view", "purchase") == ["socks", "stove"]
    assert profile("add_to_cart", "click")[0] == "stove"


def test_recent_interests_rank_first() -> None:
    model = CooccurrenceRecommender()
    teach(model, {"a": ["tent", "stove"], "b": ["boots", "socks"]})
    model.learn_one(event("u", "tent"))
    model.learn_one(event("u", "boots"))
    assert items(model, "u", 2) == ["socks", "stove"]


def test_a_pause_fades_old_interests_more_than_a_burst() -> None:
    def gap(seconds: float) -> float:
        config = RecommenderConfig(user_half_life_s=3600.0, popularity_prior=0.0)
        model = CooccurrenceRecommender(config)
        teach(model, {"a": ["tent", "stove"], "b": ["boots", "socks"]})
        model.learn_one(event("u", "tent", ts=0))
        model.learn_one(event("u", "boots", ts=int(seconds * 1000)))
        scores = dict(model.recommend("u", 2))
        return scores["stove"] / scores["socks"]

    assert gap(0) == pytest.approx(RecommenderConfig().user_decay)
    assert gap(3600) == pytest.approx(gap(0) / 2)  # one half-life later


def test_newer_pairs_outweigh_older_ones() -> None:
    day_ms = 86_400_000
    config = RecommenderConfig(pair_half_life_s=86_400.0, popularity_prior=0.0)
    model = CooccurrenceRecommender(config)
    model.learn_one(event("a", "tent", ts=0))
    model.learn_one(event("a", "old", ts=1))
    model.learn_one(event("b", "tent", ts=10 * day_ms))
    model.learn_one(event("b", "new", ts=10 * day_ms + 1))
    model.learn_one(event("c", "tent", ts=10 * day_ms + 2))
    scores = dict(model.recommend("c", 2))
    assert scores["new"] / scores["old"] == pytest.approx(2**10, rel=1e-6)


def test_cold_user_gets_most_popular_items() -> None:
    model = CooccurrenceRecommender()
    assert model.recommend("anyone") == []
    teach(model, {"a": ["x", "y"], "b": ["y", "z"], "c": ["y"]})
    recommended = model.recommend("stranger", 2)
    assert [item for item, _ in recommended] == ["y", "x"]
    assert recommended[0][1] == pytest.approx(3 / 5)  # share of all interactions


def test_short_lists_are_filled_with_popular_items_not_seen() -> None:
    model = CooccurrenceRecommender(RecommenderConfig(popularity_prior=0.0))
    teach(model, {"a": ["x", "y"], "b": ["p", "p2"], "c": ["p"], "d": ["p"]})
    model.learn_one(event("u", "x"))
    assert items(model, "u", 3) == ["y", "p", "p2"]


def test_events_without_user_or_product_are_not_learned() -> None:
    model = CooccurrenceRecommender()
    assert not model.learn_one({"user_id": "u", "event_type": "search", "query": "tent"})
    assert not model.learn_one({"product_id": "x", "event_type": "view"})
    assert not model.learn_one({"user_id": ["u"], "product_id": "x"})
    assert model.learn_one({"user_id": 7, "product_id": 9, "ts": "garbage"})
    assert model.events_learned == 1 and model.seen_by("7") == ["9"]


def test_timestamps_in_both_formats_and_out_of_order_are_tolerated() -> None:
    model = CooccurrenceRecommender()
    model.learn_one(event("u", "a", ts="2026-11-01T00:00:00.000Z"))
    model.learn_one(event("u", "b", ts=1_700_000_000_000))  # earlier than the first
    model.learn_one(event("v", "a", ts=math.inf))  # not a time: ignored
    assert items(model, "v", 1) == ["b"]


def test_memory_is_bounded() -> None:
    config = RecommenderConfig(
        window=3,
        max_neighbours=4,
        max_candidates=3,
        max_history=5,
        max_users=10,
        max_items=20,
        max_unavailable=7,
    )
    model = CooccurrenceRecommender(config)
    for n in range(2000):
        model.learn_one(event(f"u{n % 37}", f"i{(n * 7919) % 101}"))
    for n in range(50):
        model.remove_product(f"gone{n}")
    size = model.size()
    assert size["users"] == 10 and size["items"] == 20 and size["unavailable"] == 7
    assert size["neighbours"] <= 20 * 4 * 1.5
    assert size["candidates"] <= 10 * 3 * 2
    assert size["history"] <= 10 * 5
    assert len(model.seen_by("u0")) <= 5
    assert len(model.recommend("u0", 10)) == 10  # still answers in full


def test_least_recently_active_user_is_forgotten_first() -> None:
    model = CooccurrenceRecommender(RecommenderConfig(max_users=2))
    model.learn_one(event("a", "x"))
    model.learn_one(event("b", "x"))
    model.learn_one(event("a", "y"))  # a is now more recent than b
    model.learn_one(event("c", "x"))
    assert model.seen_by("b") == [] and model.seen_by("a") == ["x", "y"]


def test_config_rejects_bad_knobs() -> None:
    with pytest.raises(ValueError, match="user_decay"):
        RecommenderConfig(user_decay=0.0)
    with pytest.raises(ValueError, match="event weight"):
        RecommenderConfig(event_weights={"view": -1.0})
    with pytest.raises(ValueError, match="unknown recommender settings"):
        RecommenderConfig.from_dict({"windw": 3})
    assert RecommenderConfig.from_dict(RecommenderConfig().as_dict()) == RecommenderConfig()


def test_popularity_prior_outweighs_thin_evidence_but_not_strong_evidence() -> None:
    def first_choice(pairs: int) -> str:
        model = CooccurrenceRecommender(RecommenderConfig(popularity_prior=10.0))
        for n in range(30):  # "hit" is popular with everyone
            model.learn_one(event(f"fan{n}", "hit"))
        for n in range(pairs):  # "tent" was followed by "stove" this many times
            model.learn_one(event(f"camper{n}", "tent"))
            model.learn_one(event(f"camper{n}", "stove"))
        model.learn_one(event("u", "tent"))
        return items(model, "u", 1)[0]

    assert first_choice(1) == "hit"  # one pair: mostly the popularity prior
    assert first_choice(40) == "stove"  # forty pairs: the co-occurrence


def test_unavailable_items_stay_out_of_blended_lists() -> None:
    model = CooccurrenceRecommender(RecommenderConfig(popularity_prior=10.0))
    teach(model, {"a": ["tent", "stove"], "b": ["hit"], "c": ["hit"], "d": ["tent"]})
    assert set(items(model, "d", 3)) == {"stove", "hit"}
    model.remove_product("hit")
    model.remove_product("stove")
    assert items(model, "d", 3) == []
