"""Snapshots: a restored model answers and learns exactly like the original."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from streamguard.recommender import (
    CooccurrenceRecommender,
    RecommenderConfig,
    RecommenderService,
    RefreshPolicy,
    SnapshotError,
    read_snapshot,
    restore,
    snapshot,
    write_atomic,
    write_snapshot,
)
from streamguard.recommender.sequence import SequenceRecommender


def stream(seed: int, n: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    kinds = ["view", "click", "add_to_cart", "purchase", "remove_from_cart"]
    return [
        {
            "user_id": f"u{rng.randrange(30)}",
            "product_id": f"p{int(rng.paretovariate(1.2)) % 80}",
            "event_type": rng.choice(kinds),
            "ts": 1_790_000_000_000 + i * rng.randrange(1, 90_000_000),
        }
        for i in range(n)
    ]


def answers(model: CooccurrenceRecommender | SequenceRecommender) -> list[list[tuple[str, float]]]:
    return [model.recommend(f"u{n}", 10) for n in range(32)]


def test_round_trip_keeps_answers_and_future_learning() -> None:
    config = RecommenderConfig(max_neighbours=5, max_candidates=6, max_history=20)
    original = CooccurrenceRecommender(config)
    events = stream(1, 3000)
    for record in events[:2000]:
        original.learn_one(record)
    original.remove_product("p3")
    copy = restore(snapshot(original))
    assert copy.config == config
    assert copy.version == original.version
    assert copy.size() == original.size()
    assert answers(copy) == answers(original)
    for record in events[2000:]:  # both keep learning the same way
        original.learn_one(record)
        copy.learn_one(record)
    assert answers(copy) == answers(original)
    assert snapshot(copy) == snapshot(original)


def test_method_spelling_and_files(tmp_path: Path) -> None:
    model = CooccurrenceRecommender()
    for record in stream(2, 200):
        model.learn_one(record)
    path = tmp_path / "state" / "recommender.json"
    assert read_snapshot(path) is None  # first start: nothing saved yet
    size = write_snapshot(model, path)
    assert size == path.stat().st_size
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind
    loaded = read_snapshot(path)
    assert loaded is not None and answers(loaded) == answers(model)
    assert answers(restore(snapshot(model))) == answers(model)
    model.learn_one({"user_id": "u1", "product_id": "p1"})
    assert write_atomic(snapshot(model), path) == path.stat().st_size  # replaces it
    again = read_snapshot(path)
    assert again is not None and again.events_learned == model.events_learned


def _valid() -> dict[str, object]:
    model = CooccurrenceRecommender()
    for record in stream(3, 50):
        model.learn_one(record)
    state: dict[str, object] = orjson.loads(snapshot(model))
    return state


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version 2 is not supported"),
        ({"algorithm": "mf"}, "another algorithm"),
        ({"config": {"window": 0}}, "bad config"),
        ({"config": {"surprise": 1}}, "bad config"),
        ({"learned": -1}, "learned"),
        ({"rows": [["p1", 1.0, {"p2": "many"}]]}, "finite number"),
        ({"rows": [["p1", 1.0]]}, "malformed"),
        ({"users": [["u", 0.0, 0.0, None, [], [], {}]]}, "scale"),
        ({"users": [["u", 1.0, -1.0, None, [], [], {}]]}, "prior"),
        ({"users": [["u", 1.0, 0.0, None, [1], [], {}]]}, "list of strings"),
        ({"popularity": {"total": 1, "items": [["p", 0]]}}, "count"),
        ({"unavailable": "p1"}, "list of strings"),
        ({"clock": None, "pair_ref": "x"}, "pair_ref"),
    ],
)
def test_bad_snapshots_are_rejected_with_a_reason(change: dict[str, object], message: str) -> None:
    state = _valid()
    state.update(change)
    with pytest.raises(SnapshotError, match=message):
        restore(orjson.dumps(state))


@pytest.mark.parametrize("data", [b"", b"\x80\x03}q", b"[1, 2]", b'{"format": 1}'])
def test_garbage_is_not_a_snapshot(data: bytes) -> None:
    with pytest.raises(SnapshotError):
        restore(data)


def test_non_finite_numbers_are_rejected() -> None:
    text = snapshot(CooccurrenceRecommender()).replace(b'"pair_ref":0.0', b'"pair_ref":1e999')
    assert text != snapshot(CooccurrenceRecommender())
    with pytest.raises(SnapshotError, match="infinity"):
        restore(text)


def test_a_restarted_service_keeps_the_model(tmp_path: Path) -> None:
    path = tmp_path / "recommender.json"
    events = stream(4, 600)
    before = RecommenderService(policy=RefreshPolicy(min_interval_s=0.0), clock=lambda: 1.0)
    for record in events:
        before.learn(record)
    assert isinstance(before.model, CooccurrenceRecommender)
    write_snapshot(before.model, path)
    published = {r["user_id"]: r["items"] for r in before.due_records()}

    restored = read_snapshot(path)
    assert restored is not None
    after = RecommenderService(restored, RefreshPolicy(min_interval_s=0.0), clock=lambda: 2.0)
    for user_id in published:  # the policy restarts empty: every user publishes once
        after.policy.mark_changed(user_id, 2.0)
    republished = {r["user_id"]: r["items"] for r in after.due_records()}
    assert republished == published
    assert len(published) == 30


def test_learning_does_not_mutate_its_input() -> None:
    model = CooccurrenceRecommender()
    records = stream(5, 200)
    copies = orjson.loads(orjson.dumps(records))
    for record in records:
        model.learn_one(record)
    product = {"product_id": "p1", "op": "upsert", "stock": 0}
    model.update_product(product)
    assert records == copies
    assert product == {"product_id": "p1", "op": "upsert", "stock": 0}
