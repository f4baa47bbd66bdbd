"""Anomaly scores: absurd but schema-valid records score well above normal ones (ROC AUC)."""

from __future__ import annotations

import random
import string
from pathlib import Path

import orjson
import pytest

from streamguard.anomaly.level import RunningStats
from streamguard.anomaly.models import NumericAnomaly
from streamguard.anomaly.text import TextSurprise
from streamguard.anomaly.zscore import z_to_score
from streamguard.drift.engine import DriftEngine
from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline
from tests.unit import drift_scenarios as sc


def roc_auc(positives: list[float], negatives: list[float]) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def gibberish(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "#$%&@!?"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(12, 30)))


def absurd_product(record: sc.Record, rng: random.Random, kind: str) -> sc.Record:
    record = dict(record)
    if kind == "price" and isinstance(record.get("price"), float):
        record["price"] = round(record["price"] * 1000, 2)
    elif kind == "stock":
        record["stock"] = 1_000_000
    elif kind == "title":
        record["title"] = gibberish(rng)
    return record


def score_stream(stream: str, records: list[sc.Record]) -> list[float]:
    engine = DriftEngine(stream, embedder=None)
    pipeline = RecordPipeline(stream, observers=[engine])
    scores = []
    for offset, record in enumerate(records):
        outcome = pipeline.process(orjson.dumps(record), SourcePosition("t", 0, offset))
        assert outcome.record is not None, outcome.reasons
        scores.append(outcome.record["_dq"]["anomaly_score"])
    return scores


def test_absurd_products_score_well_above_normal_ones(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(7)
    records = [r for r in sc.synthetic_products(3000) if r["op"] == "upsert"]
    injected: dict[int, str] = {}
    for i in range(600, len(records), 37):  # after a short warm-up
        kind = ("price", "stock", "title")[len(injected) % 3]
        records[i] = absurd_product(records[i], rng, kind)
        injected[i] = kind
    scores = score_stream("product", records)
    normal = [s for i, s in enumerate(scores) if i >= 600 and i not in injected]
    for kind in ("price", "stock", "title"):
        absurd = [scores[i] for i, k in injected.items() if k == kind]
        auc = roc_auc(absurd, normal)
        with capsys.disabled():
            print(f"\n  product anomaly ROC AUC ({kind}): {auc:.4f}")
        assert auc >= 0.97, (kind, auc)
        assert sum(s >= 0.9 for s in absurd) >= 0.8 * len(absurd)
    assert sum(s >= 0.9 for s in normal) <= 0.01 * len(normal)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_absurd_purchases_score_high(capsys: pytest.CaptureFixture[str]) -> None:
    records = sc.synthetic_behavior(4000)
    injected = set()
    for i in range(1500, len(records)):
        record = records[i]
        if record["event_type"] == "purchase" and len(injected) < 40:
            records[i] = {**record, "price": round(record["price"] * 1000, 2)}
            injected.add(i)
    scores = score_stream("behavior", records)
    priced = [
        s for i, s in enumerate(scores) if i >= 1500 and i not in injected and "price" in records[i]
    ]
    auc = roc_auc([scores[i] for i in injected], priced)
    with capsys.disabled():
        print(f"\n  behaviour anomaly ROC AUC (price x1000): {auc:.4f}")
    assert auc >= 0.97, auc


def test_anomaly_findings_written_by_check(tmp_path: Path) -> None:
    records = [r for r in sc.synthetic_products(1500) if r["op"] == "upsert"]
    records[1200] = {**records[1200], "stock": 1_000_000}
    findings = sc.run_check(records, "product", tmp_path)
    anomalies = [f for f in findings if f["kind"] == "anomaly"]
    hit = [f for f in anomalies if f["position"]["offset"] == 1200]
    assert hit and hit[0]["field"] == "stock" and hit[0]["statistic"] >= 0.9
    assert len(anomalies) <= 0.01 * len(records) + 1


def test_numeric_model_learns_per_group_and_ignores_anomalies() -> None:
    model = NumericAnomaly()
    for i in range(200):
        model.score_and_learn("cheap", {"price": 5.0 + i % 3})
        model.score_and_learn("dear", {"price": 900.0 + i % 50})
    # 900 is normal for "dear" but absurd for "cheap": statistics are per group
    assert model.score_one("dear", {"price": 950.0}) == 0.0
    assert model.score_one("cheap", {"price": 950.0}) > 0.9
    # a burst of absurd values shorter than a confirmed level is not learned as normal
    for _ in range(model.confirm - 1):
        model.score_and_learn("cheap", {"price": 5000.0})
    assert model.score_one("cheap", {"price": 5000.0}) > 0.9
    assert model.score_one("cheap", {"price": 6.0}) == 0.0
    stock = NumericAnomaly()
    for i in range(200):
        stock.score_and_learn("g", {"stock": 100.0 + i % 50})
    assert stock.score_one("g", {"stock": 0.0}) == 0.0  # out of stock is ordinary
    assert stock.score_one("g", {"stock": 1e6}) > 0.9
    # a new group borrows the stream-wide statistics until it has its own
    assert model.score_one("new", {"price": 1e12}) > 0.9


def test_half_space_trees_option_scores_in_range() -> None:
    model = NumericAnomaly(half_space_trees=True)
    for i in range(260):
        model.score_and_learn("g", {"price": 10.0 + i % 5, "stock": 50.0 + i % 20})
    normal = model.score_one("g", {"price": 12.0, "stock": 55.0})
    absurd = model.score_one("g", {"price": 10_000.0, "stock": 1e6})
    assert 0.0 <= normal < absurd <= 1.0


def test_text_surprise_and_helpers() -> None:
    text = TextSurprise()
    assert text.score_one("anything") == 0.0  # warming up
    for i in range(200):
        text.learn_one(f"Orbis Premium Laptop Q{i % 9}")
    assert text.score_one("Orbis Premium Laptop Q4") < 0.1
    assert text.score_one("Zq#9x!Vb@3kLw$") > 0.9
    stats = RunningStats(horizon=10)
    for x in range(100):
        stats.update(float(x))
    assert stats.n == 10 and stats.mean > 80  # forgets beyond the horizon
    assert z_to_score(3.0) == 0.0 and 0.99 < z_to_score(20.0) <= 1.0
