"""Refresh policy and service: the per-user publish bound, unchanged lists, catalogue."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streamguard.observability.recommender import RecommenderMetrics
from streamguard.recommender import (
    CooccurrenceRecommender,
    RecommenderService,
    RefreshPolicy,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def view(user: str, item: str) -> dict[str, Any]:
    return {"user_id": user, "product_id": item, "event_type": "view"}


def test_publish_rate_per_user_is_bounded() -> None:
    rng = random.Random(5)
    policy = RefreshPolicy(min_interval_s=10.0)
    published: dict[str, list[float]] = defaultdict(list)
    now = 0.0
    for step in range(5000):
        now += rng.expovariate(20.0)  # ~20 changes per second over 5 users
        user = f"u{rng.randrange(5)}"
        policy.mark_changed(user, now)
        if step % 3 == 0:
            for due in policy.due(now):
                # Every list differs, so every due user is published.
                assert policy.accept(due, [f"{step}"], now)
                published[due].append(now)
    assert set(published) == {f"u{n}" for n in range(5)}
    for times in published.values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 10.0
        assert len(times) >= now / 10.0 - 2  # and it does publish about that often


def test_due_users_come_out_once_and_in_due_order() -> None:
    policy = RefreshPolicy(min_interval_s=5.0)
    policy.mark_changed("b", 2.0)
    policy.mark_changed("a", 1.0)
    policy.mark_changed("a", 3.0)  # already pending: keeps its first change time
    assert policy.pending_since("a") == 1.0 and policy.oldest_pending() == 1.0
    assert policy.due(0.5) == []
    assert policy.due(2.5, limit=1) == ["a"]
    assert policy.due(2.5) == ["b"]
    assert policy.due(2.5) == []
    assert policy.pending == 2  # until accepted


def test_unchanged_list_is_not_republished_and_does_not_reset_the_interval() -> None:
    policy = RefreshPolicy(min_interval_s=5.0)
    policy.mark_changed("u", 0.0)
    assert policy.due(0.0) == ["u"] and policy.accept("u", ["x"], 0.0)
    policy.mark_changed("u", 6.0)
    assert policy.due(6.0) == ["u"]
    assert not policy.accept("u", ["x"], 6.0)
    assert policy.pending == 0
    assert policy.last_published("u") == (0.0, ("x",))
    policy.mark_changed("u", 7.0)
    assert policy.due(7.0) == ["u"]  # 7 s after the last real publish


def test_accepting_outside_due_cannot_break_the_bound() -> None:
    policy = RefreshPolicy(min_interval_s=10.0)
    policy.mark_changed("u", 0.0)
    assert policy.accept("u", ["x"], 0.0)  # without asking due(): a stale queue entry
    policy.mark_changed("u", 1.0)
    assert policy.due(1.0) == []
    assert policy.due(10.0) == ["u"]


def test_product_change_marks_users_showing_it() -> None:
    policy = RefreshPolicy(min_interval_s=0.0)
    for user, items in {"a": ["x", "y"], "b": ["y"], "c": ["z"]}.items():
        policy.mark_changed(user, 0.0)
        policy.due(0.0)
        policy.accept(user, items, 0.0)
    assert policy.users_showing("y") == ["a", "b"]
    assert policy.mark_product_changed("y", 1.0) == 2
    assert sorted(policy.due(1.0)) == ["a", "b"]
    policy.accept("a", ["x"], 1.0)
    assert policy.users_showing("y") == ["b"]


def test_policy_memory_is_bounded() -> None:
    policy = RefreshPolicy(min_interval_s=0.0, max_users=3)
    for n in range(10):
        policy.mark_changed(f"u{n}", float(n))
    assert policy.pending == 3
    for user in policy.due(100.0):
        policy.accept(user, [f"p{user}"], 100.0)
    for n in range(10, 20):
        policy.mark_changed(f"u{n}", 200.0)
        for user in policy.due(200.0):
            policy.accept(user, ["p"], 200.0)
    assert sum(policy.last_published(f"u{n}") is not None for n in range(20)) == 3
    assert len(policy.users_showing("p")) == 3


def test_bad_policy_settings() -> None:
    with pytest.raises(ValueError, match="min_interval_s"):
        RefreshPolicy(min_interval_s=-1)
    with pytest.raises(ValueError, match="max_users"):
        RefreshPolicy(max_users=0)


def test_service_publishes_changed_users_with_metrics() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    service = RecommenderService(
        CooccurrenceRecommender(),
        RefreshPolicy(min_interval_s=30.0),
        k=3,
        metrics=RecommenderMetrics(registry),
        clock=clock,
    )
    for user, item in [("a", "tent"), ("a", "stove"), ("b", "tent")]:
        assert service.learn(view(user, item))
    assert not service.learn({"user_id": "b", "event_type": "search", "query": "x"})
    clock.now += 2.0
    records = {r["user_id"]: r for r in service.due_records()}
    assert set(records) == {"a", "b"}
    assert [i["product_id"] for i in records["b"]["items"]] == ["stove"]
    assert records["b"]["model_version"] == "item-cooc-v1@3"
    assert records["b"]["generated_at"].endswith("Z")
    sample = registry.get_sample_value
    assert sample("streamguard_recommender_updates_total") == 3
    assert sample("streamguard_recommender_skipped_events_total") == 1
    assert sample("streamguard_recommendations_published_total") == 2
    assert sample("streamguard_recommendation_staleness_seconds_count") == 2
    assert sample("streamguard_recommendation_staleness_seconds_sum") == pytest.approx(4.0)

    # Deleting a product on b's list republishes b (after the interval), without it.
    service.update_product({"product_id": "stove", "op": "delete"})
    assert service.due_records() == []
    assert sample("streamguard_recommender_pending_users") == 1
    clock.now += 30.0
    assert sample("streamguard_recommender_pending_users") == 1
    (record,) = service.due_records()
    assert record["user_id"] == "b" and record["items"] == []
    service.observe_size()
    assert sample("streamguard_recommender_model_entries", {"structure": "users"}) == 2
    assert sample("streamguard_recommender_oldest_pending_seconds") == 0.0


def test_service_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        RecommenderService(k=0)
