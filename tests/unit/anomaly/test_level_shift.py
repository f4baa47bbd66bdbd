"""Anomaly lock-in: a lasting change stands out first, then becomes normal within a bound.

A product whose price triples and stays there scores at least the threshold on its first
records, and below it from its ``KeyedPrice.confirm``-th record at the new price on; a
group's (or a new group's) new level is confirmed after ``NumericAnomaly.confirm`` of its
records. A one-off outlier, or a burst shorter than the bound, still scores high and
leaves the model where it was.
"""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path
from typing import Literal

import orjson

from streamguard.anomaly.models import KeyedPrice, NumericAnomaly
from streamguard.drift.engine import DriftEngine
from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline
from tests.unit import drift_scenarios as sc

THRESHOLD = 0.9  # STREAMGUARD_ANOMALY_THRESHOLD's default
KEY_CONFIRM = KeyedPrice().confirm  # 10 records of a product (README: "Anomalous records")
GROUP_CONFIRM = NumericAnomaly().confirm  # 50 records of a group


def score_stream(stream: Literal["behavior", "product"], records: list[sc.Record]) -> list[float]:
    engine = DriftEngine(stream, embedder=None)
    pipeline = RecordPipeline(stream, observers=[engine])
    scores = []
    for offset, record in enumerate(records):
        outcome = pipeline.process(orjson.dumps(record), SourcePosition("t", 0, offset))
        assert outcome.record is not None, outcome.reasons
        scores.append(outcome.record["_dq"]["anomaly_score"])
    return scores


def tripled_from(records: list[sc.Record], product: str, skip: int) -> list[int]:
    """Triple ``product``'s price from its ``skip``-th record on; its changed positions."""
    changed = [i for i, r in enumerate(records) if r.get("product_id") == product][skip:]
    for i in changed:
        records[i] = {**records[i], "price": round(records[i]["price"] * 3, 2)}
    return changed


def test_product_price_tripling_stands_out_then_becomes_normal(tmp_path: Path) -> None:
    records = [r for r in sc.synthetic_products(6000) if r["op"] == "upsert"]
    product = Counter(r["product_id"] for r in records).most_common(1)[0][0]
    changed = tripled_from(records, product, skip=20)
    assert len(changed) >= 10 * KEY_CONFIRM  # the new price holds long enough to tell
    scores = score_stream("product", records)
    after = [scores[i] for i in changed]
    assert all(s >= THRESHOLD for s in after[:3]), after[:3]  # the change is worth a look
    assert all(s < THRESHOLD for s in after[KEY_CONFIRM:]), max(after[KEY_CONFIRM:])
    # through `check` too: findings name the price, only on the first records
    findings = sc.run_check(records, "product", tmp_path)
    flagged = {f["position"]["offset"]: f for f in findings if f["kind"] == "anomaly"}
    assert changed[0] in flagged and flagged[changed[0]]["field"] == "price"
    assert sum(i in flagged for i in changed) <= KEY_CONFIRM
    assert len(flagged) <= 0.01 * len(records) + KEY_CONFIRM


def test_keyed_price_is_not_locked_in_after_a_lasting_change() -> None:
    prices = KeyedPrice()
    key = ("p1", "USD")
    for i in range(100):
        prices.score_and_learn(key, 10.0 + (i % 5) * 0.1)
    scores = [prices.score_and_learn(key, 30.0 + (i % 5) * 0.3) for i in range(1000)]
    assert all(s >= THRESHOLD for s in scores[: KEY_CONFIRM - 1]), scores[:KEY_CONFIRM]
    assert max(scores[KEY_CONFIRM:]) < THRESHOLD  # was 0.926 for all 1,000
    assert prices.score_and_learn(key, 30.5) == 0.0


def test_global_price_shift_recovers_within_the_bound() -> None:
    """Every behaviour price x3 from the middle on: each product recovers on its own."""
    records = sc.synthetic_behavior(6000)
    start = 2000
    for i in range(start, len(records)):
        if isinstance(records[i].get("price"), float):
            records[i] = {**records[i], "price": round(records[i]["price"] * 3, 2)}
    scores = score_stream("behavior", records)
    seen: Counter[tuple[str, str]] = Counter()
    late = []
    for i in range(start, len(records)):
        record = records[i]
        if "price" not in record:
            continue
        key = (record["product_id"], record["currency"])
        seen[key] += 1
        if seen[key] > KEY_CONFIRM:
            late.append(scores[i])
    assert late and max(late) < THRESHOLD
    assert max(scores[start:]) >= THRESHOLD  # the change did stand out


def test_group_level_change_and_new_group_recover() -> None:
    model = NumericAnomaly()
    for i in range(400):
        model.score_and_learn("cheap", {"price": 5.0 + i % 3})
    # a group moves to a new level for good (a currency redenominated, say)
    scores = [model.score_and_learn("cheap", {"price": 5000.0 + i % 3}) for i in range(500)]
    assert scores[0] >= THRESHOLD
    assert max(scores[GROUP_CONFIRM:]) < THRESHOLD
    # a new group priced far above the stream-wide statistics gets its own within the bound
    model = NumericAnomaly()
    for i in range(400):
        model.score_and_learn("cheap", {"price": 5.0 + i % 3})
    fresh = [model.score_and_learn("dear", {"price": 900.0 + i % 50}) for i in range(500)]
    assert fresh[0] >= THRESHOLD
    assert max(fresh[GROUP_CONFIRM:]) < THRESHOLD
    assert model.score_one("cheap", {"price": 6.0}) == 0.0  # the other group kept its own


def test_one_off_outliers_and_short_bursts_do_not_move_the_models() -> None:
    prices = KeyedPrice()
    numeric = NumericAnomaly()
    key = ("p1", "USD")
    for i in range(400):
        prices.score_and_learn(key, 10.0 + (i % 5) * 0.1)
        numeric.score_and_learn("g", {"price": 10.0 + i % 7})
    twin_prices, twin_numeric = pickle.loads(pickle.dumps((prices, numeric)))
    assert prices.score_and_learn(key, 10_000.0) >= THRESHOLD
    assert numeric.score_and_learn("g", {"price": 10_000.0}) >= THRESHOLD
    for i in range(40):  # back to normal: the outlier left nothing behind
        for p, n in ((prices, numeric), (twin_prices, twin_numeric)):
            assert p.score_and_learn(key, 10.0 + (i % 5) * 0.1) == 0.0
            n.score_and_learn("g", {"price": 10.0 + i % 7})
    assert prices._stats[key].mean == twin_prices._stats[key].mean
    assert numeric._stats["g", "price"].mean == twin_numeric._stats["g", "price"].mean
    # a burst shorter than the bound stays anomalous throughout and is not learned
    burst = [prices.score_and_learn(key, 10_000.0) for _ in range(KEY_CONFIRM - 1)]
    group_burst = [
        numeric.score_and_learn("g", {"price": 10_000.0}) for _ in range(GROUP_CONFIRM - 1)
    ]
    assert min(burst) >= THRESHOLD and min(group_burst) >= THRESHOLD
    assert prices.score_and_learn(key, 10.2) == 0.0
    assert numeric.score_one("g", {"price": 12.0}) == 0.0
    assert numeric.score_one("g", {"price": 10_000.0}) >= THRESHOLD
