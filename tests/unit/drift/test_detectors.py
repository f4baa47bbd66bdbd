"""Detectors one by one: schema drift rules, semantic drift warm-up and adaptation, the
engine's async path, findings format and metrics."""

from __future__ import annotations

import pickle
import random
import time
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from streamguard.anomaly.centroid import CentroidNovelty
from streamguard.anomaly.zscore import z_to_score
from streamguard.config import Settings
from streamguard.drift import DriftEngine, SchemaDriftDetector, SemanticDriftDetector
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.records import SourcePosition
from streamguard.observability.drift import DriftMetrics
from streamguard.pipeline import RecordPipeline
from streamguard.wiring import build_engines
from tests.unit import drift_scenarios as sc

EMBED = HashingEmbedder(dim=128).embed


def zero() -> float:
    """A fixed clock that pickles (a lambda would not)."""
    return 0.0


def pos(offset: int) -> SourcePosition:
    return SourcePosition("t", 0, offset)


def feed_schema(detector: SchemaDriftDetector, records: list[dict[str, Any]]) -> list[Any]:
    found = []
    for i, record in enumerate(records):
        found += detector.update(record, pos(i))
    return found


def behaviour_detector() -> SchemaDriftDetector:
    return SchemaDriftDetector(
        "behavior",
        ["event_id", "event_type", "product_id", "query", "price"],
        group_field="event_type",
        group_values=("view", "search"),
        clock=lambda: 0.0,
    )


def test_one_off_unknown_fields_do_not_fire_but_a_persistent_one_does() -> None:
    records = [{"event_id": str(i), "event_type": "view", "product_id": "p"} for i in range(3000)]
    for i in range(500, 3000, 97):
        records[i] = {**records[i], f"junk_{i}": 1}  # a new name every time
    assert feed_schema(behaviour_detector(), records) == []
    for i in range(2000, 3000, 3):
        records[i] = {**records[i], "utm_source": "mail"}  # a third of records: keeps appearing
    found = feed_schema(behaviour_detector(), records)
    assert [(f.field, f.details["change"]) for f in found] == [
        ("utm_source", "new_field:utm_source")
    ]
    assert 2000 <= found[0].position.offset < 2100


def test_event_type_bursts_are_not_missing_fields() -> None:
    # A long burst of searches: product_id is absent there by design, query present.
    views = [{"event_id": str(i), "event_type": "view", "product_id": "p"} for i in range(1000)]
    searches = [{"event_id": f"s{i}", "event_type": "search", "query": "q"} for i in range(1000)]
    mixed = [views[i // 2] if i % 2 else searches[i // 2] for i in range(1000)]
    assert feed_schema(behaviour_detector(), mixed + searches + views) == []


def test_missing_field_fires_once_and_latches() -> None:
    records = [{"event_id": str(i), "event_type": "view", "product_id": "p", "price": 1.0}
               for i in range(2000)]  # fmt: skip
    for i in range(800, 2000):
        del records[i]["price"]
    found = feed_schema(behaviour_detector(), records)
    assert [(f.field, f.details["change"]) for f in found] == [("price", "missing")]
    assert found[0].statistic == pytest.approx(1.0) and found[0].threshold >= 0.3


def test_small_type_noise_does_not_fire() -> None:
    rng = random.Random(1)
    records = [
        {"event_id": str(i), "event_type": "view", "price": "1.0" if rng.random() < 0.03 else 1.0}
        for i in range(4000)
    ]
    assert feed_schema(behaviour_detector(), records) == []


def category_stream(values: list[str], n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(values) for _ in range(n)]


def run_semantic(detector: SemanticDriftDetector, texts: list[str]) -> list[Any]:
    vectors = EMBED(texts)
    found = []
    for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        finding = detector.update(text, vector, pos(i))
        if finding is not None:
            found.append(finding)
    return found


CATEGORIES = ["home/kitchen", "toys/games", "books/fiction", "fashion/shoes", "beauty/skincare",
              "sports/outdoor", "grocery/snacks", "electronics/phones"]  # fmt: skip


def test_nothing_fires_during_warm_up_even_on_garbage() -> None:
    detector = SemanticDriftDetector("product", "category", warmup=500, clock=lambda: 0.0)
    texts = [f"random junk {i} {i * 7919 % 104729}" for i in range(450)]
    assert run_semantic(detector, texts) == [] and not detector.armed


def test_acknowledge_adapts_the_reference() -> None:
    detector = SemanticDriftDetector(
        "product", "category", auto_acknowledge=False, clock=lambda: 0.0
    )
    normal = category_stream(CATEGORIES, 1200)
    titles = [f"Zentek ultra phone {i} with {i % 5} cameras" for i in range(600)]
    found = run_semantic(detector, normal + titles)
    assert len(found) == 1 and detector.is_open  # latched: one finding, not one per block
    detector.acknowledge()
    assert not detector.is_open
    more = [f"Zentek ultra phone {i} with {i % 5} cameras" for i in range(600, 1200)]
    vectors = EMBED(more)
    later = [
        detector.update(t, v, pos(i)) for i, (t, v) in enumerate(zip(more, vectors, strict=True))
    ]
    assert not any(later)  # the new meaning is now the reference


def test_semantic_detector_is_deterministic_and_pickles() -> None:
    texts = category_stream(CATEGORIES, 700) + [f"Orbis laptop {i} pro max" for i in range(300)]
    a = SemanticDriftDetector("product", "category", clock=zero)
    b = SemanticDriftDetector("product", "category", clock=zero)
    fa, fb = run_semantic(a, texts), run_semantic(b, texts)
    assert [f.as_dict() for f in fa] == [f.as_dict() for f in fb] and fa
    clone = pickle.loads(pickle.dumps(a))
    assert clone.blocks_scored == a.blocks_scored


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="block_size"):
        SemanticDriftDetector("product", "title", block_size=5)
    with pytest.raises(ValueError, match="support_quantile"):
        SemanticDriftDetector("product", "title", support_quantile=0.1)
    with pytest.raises(ValueError, match="stream"):
        DriftEngine("orders")
    with pytest.raises(ValueError, match="anomaly_threshold"):
        DriftEngine("product", anomaly_threshold=0.0)


def test_finding_format_matches_design() -> None:
    records = sc.drift_from(sc.synthetic_products(1800), 1200, sc.titles_into_category)
    engine = DriftEngine("product", embedder=HashingEmbedder(), synchronous=True)
    pipeline = RecordPipeline("product", observers=[engine])
    for i, record in enumerate(records):
        pipeline.process(orjson.dumps(record), SourcePosition("events.product", 3, i))
    engine.flush()
    drift = [f for f in engine.drain_findings() if f.kind == "semantic_drift"]
    assert drift, "titles moved into category but nothing fired"
    # the out-of-support block's finding (the stray-rate CUSUM may fire first: issue 26)
    block = [f for f in drift if f.details.get("statistic_name") == "out_of_support_share"]
    assert block and {f.details["statistic_name"] for f in drift} <= {
        "out_of_support_share",
        "stray_rate",
    }
    doc = orjson.loads(block[0].to_json())
    assert doc["position"]["topic"] == "events.product" and doc["position"]["partition"] == 3
    assert doc["detected_at"].endswith("Z") and doc["severity"] in ("warning", "critical")
    assert doc["window"]["recent"] == 100 and doc["statistic"] > doc["threshold"]
    assert any(e.startswith("before: ") for e in doc["examples"])
    assert engine.drain_findings() == []  # drained


def test_async_engine_finds_the_same_drift_through_the_batcher() -> None:
    registry = CollectorRegistry()
    # A queue that holds every text: on a loaded machine the embedding thread may fall
    # behind, and this test is about the findings, not about overload (test_drift_batcher).
    engines = build_engines(
        Settings(model="hashing", max_batch_latency_ms=5, embed_queue_size=100_000),
        ["product"],
        registry=registry,
    )
    engines.start()
    engine = engines["product"]
    records = sc.drift_from(sc.synthetic_products(1800), 1200, sc.boilerplate_description)
    pipeline = RecordPipeline("product", observers=[engine])
    started = time.perf_counter()
    for i, record in enumerate(records):
        pipeline.process(orjson.dumps(record), pos(i))
    hot_path_s = time.perf_counter() - started
    engines.close()
    found = [f for f in engine.drain_findings() if f.kind == "semantic_drift"]
    # the block detector's finding, and the far-repeat CUSUM's (issue 26): one of each
    names = sorted(f.details["statistic_name"] for f in found)
    assert [f.field for f in found] == ["description"] * 2, names
    assert names == ["far_repeat_rate", "out_of_support_share"]
    assert all(1200 <= f.position.offset < 1500 for f in found if f.position is not None)
    engines.update_metrics()
    sample = registry.get_sample_value
    assert (
        sample(
            "streamguard_findings_total",
            {"stream": "product", "kind": "semantic_drift", "field": "description"},
        )
        == 2
    )
    assert sample("streamguard_embedder_texts_total") == engines.batcher.processed  # type: ignore[union-attr]
    assert sample("streamguard_embedding_cache_hits_total") > 0
    assert sample("streamguard_embedder_sampling_ratio") == 1.0
    assert sample("streamguard_anomaly_score_count", {"stream": "product"}) == len(records)
    assert (
        sample(
            "streamguard_drift_threshold",
            {"stream": "product", "field": "description", "detector": "semantic"},
        )
        > 0
    )
    assert hot_path_s < 30  # the pipeline never waited for embeddings  # fmt: skip


def test_metric_labels_stay_bounded() -> None:
    metrics = DriftMetrics(CollectorRegistry())
    for i in range(50):
        metrics.count_finding("product", "schema_drift", f"utm_{i}")
    value = metrics.registry.get_sample_value(
        "streamguard_findings_total",
        {"stream": "product", "kind": "schema_drift", "field": "_other"},
    )
    assert value == 50


def test_engine_without_embedder_still_scores_and_checks_schema() -> None:
    engine = DriftEngine("behavior")
    pipeline = RecordPipeline("behavior", observers=[engine])
    for i, record in enumerate(sc.synthetic_behavior(300)):
        outcome = pipeline.process(orjson.dumps(record), pos(i))
        assert outcome.record is None or 0.0 <= outcome.record["_dq"]["anomaly_score"] <= 1.0
    assert engine.flush() and engine.drain_findings() == [] and engine.semantic == {}
    assert np.isfinite(engine.scorer.numeric.score_one("view:USD", {"price": 3.0}))


def _search(i: int, query: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"e{i}",
            "event_type": "search",
            "user_id": f"u{i % 7}",
            "query": query,
            "ts": 1_800_000_000_000 + i,
        }
    )


def test_a_query_far_from_the_usual_ones_scores_once_embedded() -> None:
    engine = DriftEngine("behavior", embedder=HashingEmbedder(dim=256), synchronous=True)
    pipeline = RecordPipeline("behavior", observers=[engine])
    usual = ["red running shoes", "blue running shoes", "running shoes sale"]

    def score(i: int, query: str) -> float:
        outcome = pipeline.process(_search(i, query), pos(i))
        assert outcome.record is not None, outcome.reasons
        return float(outcome.record["_dq"]["anomaly_score"])

    for i in range(600):
        score(i, usual[i % 3])
    engine.flush()
    # Familiar letters (no character-level surprise) but words never seen: a direction
    # far from the centroid, which only the embedding shows.
    odd = "shoe rung"
    first = score(600, odd)  # not embedded yet: the centroid has no score for it
    engine.flush()
    again = score(601, odd)
    normal = score(602, usual[0])
    assert first < 0.1 and again >= 0.9, (first, again)
    assert normal < 0.1


def test_centroid_scores_a_batch_as_z_to_score_scores_one_cosine() -> None:
    rng = np.random.default_rng(3)
    centroid = CentroidNovelty(dim=16)
    vectors = rng.normal(size=(200, 16)).astype(np.float32) + 2.0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"t{i}" for i in range(200)]
    centroid.learn_many(texts[:50], vectors[:50])
    centroid.learn_many(texts[50:], vectors[50:])
    assert centroid.stats.n == 200
    cosines = np.concatenate([np.linspace(-1.0, 1.0, 41), [centroid.usual]])
    expected = [
        z_to_score((centroid.usual - c) / centroid.spread, 4.0, 3.0) for c in cosines.tolist()
    ]
    assert centroid.score_cosines(cosines).tolist() == pytest.approx(expected, abs=1e-12)
    assert max(expected) > 0.5  # the range covers scoring cosines, not only zeros
    # The second batch was scored against the centroid it moved: same formula, per text.
    latest = (vectors[50:] @ centroid.direction).astype(np.float64)
    assert [centroid.scores[t] for t in texts[50:]] == pytest.approx(
        centroid.score_cosines(latest).tolist(), abs=1e-9
    )
    assert "t0" not in centroid.scores  # the first 50 came during warm-up: unscored


def test_centroid_score_table_stays_bounded() -> None:
    centroid = CentroidNovelty(dim=4, max_texts=150)
    vectors = np.tile(np.array([[1.0, 0.0, 0.0, 0.0]], np.float32), (100, 1))
    centroid.learn_many([f"a{i}" for i in range(100)], vectors)  # warm-up: n reaches 100
    centroid.learn_many([f"b{i}" for i in range(100)], vectors)
    centroid.learn_many([f"c{i}" for i in range(100)], vectors)  # would make 200 > 150
    assert set(centroid.scores) == {f"c{i}" for i in range(100)}
