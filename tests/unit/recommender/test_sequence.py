"""The sequence-aware recommender: recency, order, bounds, exclusions; ``exclude`` on both."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from streamguard.recommender import CooccurrenceRecommender
from streamguard.recommender.sequence import SequenceConfig, SequenceRecommender


def event(user: str, item: str, ts_s: float | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"user_id": user, "product_id": item, "event_type": "view"}
    if ts_s is not None:
        record["ts"] = int(ts_s * 1000)
    return record


def learn(model: SequenceRecommender | CooccurrenceRecommender, *pairs: str) -> None:
    for pair in pairs:
        user, item = pair.split(":")
        model.learn_one(event(user, item))


def top(model: SequenceRecommender | CooccurrenceRecommender, user: str, k: int = 1) -> list[str]:
    return [item for item, _ in model.recommend(user, k)]


def test_the_last_item_outweighs_older_ones() -> None:
    model = SequenceRecommender(SequenceConfig(popularity_prior=0.0, user_decay=0.5))
    # Others: after "tent" comes "stove", after "book" comes "lamp".
    learn(model, "a:tent", "a:stove", "b:book", "b:lamp")
    learn(model, "u:book", "u:tent")  # u's last item is the tent
    assert top(model, "u") == ["stove"]
    learn(model, "v:tent", "v:book")  # v's last item is the book
    assert top(model, "v") == ["lamp"]


def test_what_the_last_item_led_to_lately_is_boosted() -> None:
    config = SequenceConfig(popularity_prior=0.0, window=1, user_decay=0.5)
    plain = SequenceRecommender(replace(config, transition_depth=0))
    boosted = SequenceRecommender(replace(config, transition_weight=5.0))
    for model in (plain, boosted):
        # After x: y right after it once, z (two steps later) more often.
        learn(model, "a:x", "a:y", "b:z", "b:x", "c:z", "c:x", "d:z", "d:x", "u:x")
    assert top(plain, "u") == ["z"]  # co-occurrence: z is x's strongest neighbour
    assert top(boosted, "u") == ["y"]  # but y is what came right after x


def test_came_next_outweighs_came_before() -> None:
    model = SequenceRecommender(SequenceConfig(backward_weight=0.25, popularity_prior=0.0))
    learn(model, "a:before", "a:mid", "b:mid", "b:after")
    learn(model, "u:mid")
    assert top(model, "u", 2) == ["after", "before"]


def test_seen_unavailable_and_excluded_items_are_never_recommended() -> None:
    model = SequenceRecommender()
    learn(model, "a:x", "a:y", "a:z", "b:x")
    assert set(top(model, "b", 5)) == {"y", "z"}
    model.remove_product("y")
    assert top(model, "b", 5) == ["z"]
    assert model.recommend("b", 5, exclude={"z"}) == []
    model.update_product({"product_id": "y", "op": "upsert", "stock": 3})
    assert set(top(model, "b", 5)) == {"y", "z"}  # available again; x stays seen


def test_new_users_get_the_most_popular_items() -> None:
    model = SequenceRecommender()
    learn(model, "a:x", "b:x", "c:x", "a:y", "b:y", "a:z")
    assert top(model, "newcomer", 3) == ["x", "y", "z"]
    assert top(model, "c", 3) == ["y", "z"]


def test_pair_counts_fade_with_event_time() -> None:
    model = SequenceRecommender(SequenceConfig(pair_half_life_s=86_400.0, popularity_prior=0.0))
    for n in range(3):  # long ago: tent then old
        model.learn_one(event(f"o{n}", "tent", 0.0))
        model.learn_one(event(f"o{n}", "old", 1.0))
    day = 86_400.0
    model.learn_one(event("n", "tent", 10 * day))  # lately, once: tent then new
    model.learn_one(event("n", "new", 10 * day + 1))
    model.learn_one(event("u", "tent", 10 * day + 2))
    assert top(model, "u") == ["new"]


def test_rows_are_added_to_the_profile_when_the_user_is_next_asked_for() -> None:
    config = SequenceConfig(popularity_prior=0.0, transition_depth=0)
    eager, lazy = SequenceRecommender(config), SequenceRecommender(config)
    others = ["a:tent", "a:stove", "b:book", "b:lamp", "c:boots", "c:socks", "c:tent"]
    for model in (eager, lazy):
        learn(model, *others)
    for item in ("book", "boots", "tent"):
        learn(eager, f"u:{item}")
        eager.recommend("u", 3)  # asked after every event: one row added each time
        learn(lazy, f"u:{item}")
    assert lazy.size()["candidates"] == 0  # learning added nothing yet...
    expected = dict(eager.recommend("u", 3))
    assert dict(lazy.recommend("u", 3)) == pytest.approx(expected)  # ...asking did
    assert lazy.size()["candidates"] == eager.size()["candidates"] > 0


def test_a_burst_between_two_lists_adds_its_newest_rows_only() -> None:
    model = SequenceRecommender(SequenceConfig(popularity_prior=0.0, max_pending=1))
    learn(model, "a:tent", "a:stove", "b:book", "b:lamp")
    learn(model, "u:book", "u:tent")  # two items since u was last asked for
    scores = dict(model.recommend("u", 3))
    assert scores["stove"] > 0 and scores.get("lamp", 0.0) == 0.0  # book's row: not added
    learn(model, "v:tent")
    model.recommend("v")
    learn(model, "v:book")  # one item since v was last asked for: its row is added
    assert dict(model.recommend("v", 3))["lamp"] > 0


def test_memory_is_bounded() -> None:
    config = SequenceConfig(max_neighbours=2, max_users=3, max_items=4, max_history=2)
    model = SequenceRecommender(config)
    for n in range(50):
        learn(model, f"u{n % 7}:i{n % 9}", f"u{n % 5}:i{(n * 3) % 11}")
    size = model.size()
    assert size["users"] <= 3 and size["items"] <= 4 and size["history"] <= 3 * 2
    assert size["neighbours"] <= 4 * 4  # rows may reach 2 x max_neighbours
    assert model.events_learned == 100 and model.version == "item-seq-v1@100"


def test_events_without_a_user_or_product_are_not_learned() -> None:
    model = SequenceRecommender()
    assert not model.learn_one({"user_id": "u", "event_type": "search"})
    assert model.learn_one(event("u", "x")) and model.seen_by("u") == ["x"]
    assert model.recommend("u", 0) == []
    with pytest.raises(ValueError, match="product_id"):
        model.update_product({"op": "delete"})


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"transition_depth": -1}, "transition_depth must be >= 0"),
        ({"user_decay": 1.5}, "user_decay must be in"),
        ({"content_blend": math.inf}, "content_blend must be"),
        ({"content_rerank": -1.0}, "content_rerank must be"),
        ({"rerank_depth": 0}, "rerank_depth must be"),
        ({"max_pending": 0}, "max_pending must be"),
        ({"window_decay": 0.0}, "window_decay must be in"),
        ({"pair_half_life_s": 0.0}, "pair_half_life_s must be > 0"),
        ({"popularity_prior": -1.0}, "popularity_prior must be"),
    ],
)
def test_bad_knobs_are_refused(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SequenceConfig(**knobs)


@pytest.mark.parametrize("prior", [0.0, 10.0])
def test_cooccurrence_model_excludes_per_request(prior: float) -> None:
    from streamguard.recommender import RecommenderConfig

    model = CooccurrenceRecommender(RecommenderConfig(popularity_prior=prior))
    learn(model, "a:x", "a:y", "a:z", "a:w", "b:x")
    full = top(model, "b", 3)
    assert len(full) == 3
    bought = {full[0]}
    assert top(model, "b", 3) == full  # exclude does not stick
    trimmed = [item for item, _ in model.recommend("b", 3, exclude=bought)]
    assert trimmed == full[1:]
    assert [i for i, _ in model.recommend("newcomer", 4, exclude={"x"})] == ["y", "z", "w"]


def test_new_users_get_what_is_popular_lately() -> None:
    day = 86_400.0
    model = SequenceRecommender(SequenceConfig(popularity_half_life_s=day))
    for n in range(5):  # long ago, old was the hit
        model.learn_one(event(f"o{n}", "old", 0.0))
    for n in range(2):  # lately, new is
        model.learn_one(event(f"n{n}", "new", 30 * day))
    assert top(model, "newcomer", 2) == ["new", "old"]
    assert top(model, "n0", 2) == ["old"]  # never what the user has seen
    all_time = SequenceRecommender(SequenceConfig(popularity_half_life_s=math.inf))
    for record in [event("o", "old", 0.0), event("p", "old", 0.0), event("n", "new", day)]:
        all_time.learn_one(record)
    assert top(all_time, "newcomer", 2) == ["old", "new"]
