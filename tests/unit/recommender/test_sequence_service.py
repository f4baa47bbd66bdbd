"""The sequence model in the product: content blending, snapshots, the process's choice."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard.config import Settings
from streamguard.recommender import (
    CooccurrenceRecommender,
    RecommenderService,
    RefreshPolicy,
    SnapshotError,
    read_snapshot,
    restore,
    snapshot,
    write_snapshot,
)
from streamguard.recommender.models import RecommenderModel, algorithm_of, new_model
from streamguard.recommender.params import SequenceConfig
from streamguard.recommender.process import RecommenderSpec
from streamguard.recommender.sequence import SequenceRecommender


class FakeContent:
    """A ContentSource over a dict: item -> its neighbours by meaning."""

    def __init__(self, neighbours: dict[str, list[tuple[str, float]]]) -> None:
        self._neighbours = neighbours
        self.asked: list[str] = []

    def neighbours(self, item: str) -> Sequence[tuple[str, float]]:
        self.asked.append(item)
        return self._neighbours.get(item, [])

    def similarity(self, items: Sequence[str], anchors: Sequence[tuple[str, float]]) -> list[float]:
        cosine = {(a, b): value for a, near in self._neighbours.items() for b, value in near}
        return [sum(w * cosine.get((a, item), 0.0) for a, w in anchors) for item in items]

    def __contains__(self, item: object) -> bool:
        return item in self._neighbours


def event(user: str, item: str, ts_s: float | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"user_id": user, "product_id": item, "event_type": "view"}
    if ts_s is not None:
        record["ts"] = int(ts_s * 1000)
    return record


def learn(model: RecommenderModel, *pairs: str) -> None:
    for pair in pairs:
        user, item = pair.split(":")
        model.learn_one(event(user, item))


def top(model: RecommenderModel, user: str, k: int = 3) -> list[str]:
    return [item for item, _ in model.recommend(user, k)]


def stream(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "user_id": f"u{rng.randrange(30)}",
            "product_id": f"p{int(rng.paretovariate(1.2)) % 80}",
            "event_type": "view",
            "ts": 1_790_000_000_000 + i * rng.randrange(1, 90_000_000),
        }
        for i in range(n)
    ]


# --------------------------------------------------------------------- content blending
def _shop(config: SequenceConfig | None = None) -> SequenceRecommender:
    model = SequenceRecommender(config)
    for n in range(6):  # tent and stove go together; boots are bought by everyone
        learn(model, f"o{n}:tent", f"o{n}:stove", f"o{n}:boots")
    learn(model, "u:tent")
    return model


def test_a_product_nobody_touched_is_recommended_by_meaning() -> None:
    model = _shop()
    assert "sleeping-bag" not in top(model, "u", 10)  # co-occurrence cannot know it
    model.attach_content(FakeContent({"tent": [("sleeping-bag", 0.9)]}))
    # The default blend is small (cosines dwarf co-occurrence shares): the untouched
    # product joins the list after the strong co-occurrence evidence...
    assert top(model, "u", 10) == ["stove", "boots", "sleeping-bag"]
    model.content = None  # detached: back to co-occurrence alone
    assert "sleeping-bag" not in top(model, "u", 10)
    # ...and a heavier blend puts meaning first.
    heavy = _shop(SequenceConfig(content_blend=1.0))
    heavy.attach_content(FakeContent({"tent": [("sleeping-bag", 0.9)]}))
    assert top(heavy, "u", 1) == ["sleeping-bag"]


def test_content_does_not_boost_a_product_with_many_interactions() -> None:
    model = _shop(SequenceConfig(content_rerank=0.0))  # the additive path alone
    before = dict(model.recommend("u", 10))
    model.content = FakeContent({"tent": [("boots", 0.9), ("sleeping-bag", 0.9)]})
    after = dict(model.recommend("u", 10))
    # boots (6 interactions, content weight 5/11) gains less than half of what the
    # untouched sleeping bag gets from the same cosine.
    gain = after["boots"] - before["boots"]
    assert 0 < gain < 0.5 * after["sleeping-bag"]
    heavy = SequenceRecommender(SequenceConfig(content_half=5.0, content_rerank=0.0))
    for n in range(200):
        learn(heavy, f"o{n}:tent", f"o{n}:boots")
    learn(heavy, "u:tent")
    plain = dict(heavy.recommend("u", 10))
    heavy.content = FakeContent({"tent": [("boots", 0.9)]})
    assert dict(heavy.recommend("u", 10))["boots"] == pytest.approx(plain["boots"], rel=0.05)


def test_candidates_closer_in_meaning_to_the_last_items_move_up() -> None:
    model = _shop(SequenceConfig(content_blend=0.0))  # the re-ranking alone
    plain = model.recommend("u", 2)
    assert [item for item, _ in plain] == ["stove", "boots"]
    model.content = FakeContent({"tent": [("boots", 0.9)]})
    reranked = dict(model.recommend("u", 2))
    assert list(reranked) == ["boots", "stove"]
    # Multiplicative: exp(content_rerank * cosine) on the co-occurrence score.
    assert reranked["boots"] == pytest.approx(dict(plain)["boots"] * math.exp(0.9))
    assert reranked["stove"] == pytest.approx(dict(plain)["stove"])
    model.content = FakeContent({"tent": [("boots", 0.01)]})
    assert [item for item, _ in model.recommend("u", 2)] == ["stove", "boots"]
    off = _shop(SequenceConfig(content_blend=0.0, content_rerank=0.0))
    off.content = FakeContent({"tent": [("boots", 0.9)]})
    assert off.recommend("u", 2) == plain


def test_content_respects_seen_unavailable_and_excluded_items() -> None:
    model = _shop(SequenceConfig(content_blend=1.0))
    model.content = FakeContent({"tent": [("sleeping-bag", 0.9), ("lamp", 0.8)]})
    assert top(model, "u", 2) == ["sleeping-bag", "lamp"]
    model.remove_product("sleeping-bag")
    assert "sleeping-bag" not in top(model, "u", 10)
    assert "lamp" not in [i for i, _ in model.recommend("u", 10, exclude={"lamp"})]
    learn(model, "u:lamp")
    assert "lamp" not in top(model, "u", 10)


def test_only_the_last_few_items_ask_for_content_and_none_costs_nothing() -> None:
    model = SequenceRecommender(SequenceConfig(content_depth=2))
    learn(model, "u:a", "u:b", "u:c")
    without = model.recommend("u", 5)
    fake = FakeContent({})
    model.content = fake
    assert model.recommend("u", 5) == without  # empty neighbours: same answer
    assert fake.asked == ["c", "b"]


def test_no_re_ranking_when_none_of_the_last_items_has_a_vector() -> None:
    class NoVectors(FakeContent):
        def similarity(
            self, items: Sequence[str], anchors: Sequence[tuple[str, float]]
        ) -> list[float]:
            raise AssertionError("nothing to compare with: not asked")

    model = SequenceRecommender()
    for record in stream(5, 400):
        model.learn_one(record)
    users = [f"u{n}" for n in range(30)]
    without = [model.recommend(u, 10) for u in users]
    model.content = NoVectors({"p-elsewhere": [("p1", 0.9)]})  # a vector, not theirs
    assert [model.recommend(u, 10) for u in users] == without
    model.content = FakeContent({"p1": [("p2", 0.9)], "p2": [("p1", 0.9)]})
    with_vectors = [model.recommend(u, 10) for u in users]
    assert with_vectors != without  # items with a vector: re-ranked (and blended)


# --------------------------------------------------------------------------- snapshots
@pytest.mark.parametrize("popularity_half_life_s", [86_400.0, math.inf])
def test_sequence_snapshot_round_trip_keeps_answers_and_future_learning(
    tmp_path: Path, popularity_half_life_s: float
) -> None:
    config = SequenceConfig(
        max_neighbours=5,
        max_candidates=6,
        max_transitions=3,
        popularity_half_life_s=popularity_half_life_s,
    )
    original = SequenceRecommender(config)
    events = stream(2, 3000)
    for record in events[:2000]:
        original.learn_one(record)
    original.remove_product("p3")
    write_snapshot(original, tmp_path / "seq.json")
    copy = read_snapshot(tmp_path / "seq.json")
    assert isinstance(copy, SequenceRecommender)
    assert copy.config == config and copy.version == original.version
    assert copy.size() == original.size()
    users = [f"u{n}" for n in range(32)] + ["newcomer"]
    assert [copy.recommend(u) for u in users] == [original.recommend(u) for u in users]
    for record in events[2000:]:
        original.learn_one(record)
        copy.learn_one(record)
    assert [copy.recommend(u) for u in users] == [original.recommend(u) for u in users]
    assert snapshot(copy) == snapshot(original)


def test_cooccurrence_snapshots_are_unchanged_and_unknown_algorithms_refused() -> None:
    model = CooccurrenceRecommender()
    learn(model, "a:x", "a:y")
    state = orjson.loads(snapshot(model))
    assert state["algorithm"] == "item-cooc-v1" and "next" not in state
    assert isinstance(restore(snapshot(model)), CooccurrenceRecommender)
    state["algorithm"] = "item-svd-v9"
    with pytest.raises(SnapshotError, match="another algorithm: 'item-svd-v9'"):
        restore(orjson.dumps(state))
    sequence = orjson.loads(snapshot(new_model("item-seq")))
    sequence["next"] = [["x", 1.0, {"y": "lots"}]]
    with pytest.raises(SnapshotError, match="malformed|finite number"):
        restore(orjson.dumps(sequence))


# ------------------------------------------------------------------ the process's choice
def test_the_spec_builds_the_configured_algorithm_and_refuses_unknown_ones() -> None:
    service = RecommenderSpec(algorithm="item-seq", min_interval_s=0.0).build()
    assert isinstance(service.model, SequenceRecommender)
    assert isinstance(RecommenderSpec(algorithm="item-cooc").build().model, CooccurrenceRecommender)
    assert isinstance(RecommenderSpec().build().model, SequenceRecommender)  # auto, no snapshot
    seq = RecommenderSpec(algorithm="item-seq", config=SequenceConfig(window=3)).build()
    assert isinstance(seq.model, SequenceRecommender) and seq.model.config.window == 3
    with pytest.raises(ValueError, match="unknown recommender algorithm"):
        RecommenderSpec(algorithm="item-svd")
    with pytest.raises(TypeError, match="SequenceConfig"):
        RecommenderSpec(algorithm="item-seq", config=CooccurrenceRecommender().config)


def test_a_snapshot_of_the_other_algorithm_starts_an_empty_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "recommender.json"
    old = CooccurrenceRecommender()
    learn(old, "a:x", "a:y")
    write_snapshot(old, path)
    same = RecommenderSpec(snapshot_path=path, algorithm="item-cooc").build()
    assert same.model.events_learned == 2  # same algorithm: restored
    with caplog.at_level(logging.WARNING, logger="streamguard.recommender.process"):
        switched = RecommenderSpec(snapshot_path=path, algorithm="item-seq").build()
    assert isinstance(switched.model, SequenceRecommender)
    assert switched.model.events_learned == 0
    assert "starting an empty item-seq model" in caplog.text
    write_snapshot(switched.model, path)  # and the sequence model restores next time
    again = RecommenderSpec(snapshot_path=path, algorithm="item-seq").build()
    assert algorithm_of(again.model) == "item-seq"


def test_auto_keeps_the_algorithm_of_the_snapshot_and_starts_item_seq_without_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "recommender.json"
    fresh = RecommenderSpec(snapshot_path=path, algorithm="auto").build()
    assert isinstance(fresh.model, SequenceRecommender) and fresh.model.events_learned == 0

    old = CooccurrenceRecommender()  # an upgrade: the file holds yesterday's default model
    learn(old, "a:x", "a:y", "b:x", "b:z", "a:z")
    write_snapshot(old, path)
    with caplog.at_level(logging.WARNING):
        kept = RecommenderSpec(snapshot_path=path, algorithm="auto").build()
    assert isinstance(kept.model, CooccurrenceRecommender)
    assert kept.model.events_learned == 5 and kept.model.size() == old.size()
    assert kept.model.recommend("b", 3) == old.recommend("b", 3)
    assert kept.model.recommend("c", 3) == old.recommend("c", 3)
    assert "starting an empty" not in caplog.text  # nothing dropped, nothing logged

    seq = SequenceRecommender()
    learn(seq, "a:x", "a:y", "b:x")
    write_snapshot(seq, path)
    again = RecommenderSpec(snapshot_path=path).build()  # auto is the default
    assert isinstance(again.model, SequenceRecommender) and again.model.events_learned == 3


def test_a_sequence_snapshot_leaves_the_model_as_it_was_and_restores_it_exactly() -> None:
    # Rows learned since a user's last list are folded in when the list is asked for;
    # a snapshot stores them as they wait, so it neither changes the live model nor
    # makes a restarted one answer otherwise than one that never stopped.
    model, twin = SequenceRecommender(), SequenceRecommender()
    for record in stream(4, 120):
        model.learn_one(record)
        twin.learn_one(record)
    assert model.recommend("u1", 5)  # u1's rows folded; the others' still wait
    twin.recommend("u1", 5)
    data = snapshot(model)
    assert snapshot(model) == data  # a snapshot is a pure read
    copy = restore(data)
    for record in stream(9, 40):
        for m in (model, twin, copy):
            m.learn_one(record)
    users = [f"u{n}" for n in range(30)]
    want = [twin.recommend(u, 5) for u in users]
    assert [model.recommend(u, 5) for u in users] == want
    assert [copy.recommend(u, 5) for u in users] == want
    older = orjson.loads(data)
    del older["pending"]  # written before pending rows were stored: still restores
    assert restore(orjson.dumps(older)).events_learned == model.events_learned - 40


def test_the_service_publishes_sequence_lists_in_the_same_record_format() -> None:
    cooc = RecommenderService(CooccurrenceRecommender(), RefreshPolicy(min_interval_s=0.0))
    seq = RecommenderService(SequenceRecommender(), RefreshPolicy(min_interval_s=0.0))
    for service in (cooc, seq):
        for record in stream(3, 300):
            service.learn(record)
    records = {name: s.due_records() for name, s in (("cooc", cooc), ("seq", seq))}
    assert len(records["seq"]) == len(records["cooc"]) > 0
    for a, b in zip(records["cooc"], records["seq"], strict=True):
        assert set(a) == set(b) and set(a["items"][0]) == set(b["items"][0])
    assert records["seq"][0]["model_version"].startswith("item-seq-v1@")
    assert restore(seq.snapshot()).version == seq.model.version


def test_settings_choose_the_algorithm(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().recommender_algorithm == "auto"
    for name in ("item-seq", "item-cooc", "auto"):
        monkeypatch.setenv("STREAMGUARD_RECOMMENDER_ALGORITHM", name)
        assert Settings().recommender_algorithm == name
    monkeypatch.setenv("STREAMGUARD_RECOMMENDER_ALGORITHM", "item-svd")
    with pytest.raises(ValueError, match="recommender_algorithm"):
        Settings()
