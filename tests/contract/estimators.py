"""The registry of the contract suite: every detector and scorer, and how to feed it.

A :class:`Case` makes a fresh estimator and feeds it one record the way the worker does
(the record as decoded for record-level detectors, the values the engine extracts for
the small models, the pipeline's hooks for observers), returning what came out: a score,
findings, a snapshot. A new detector joins the suite with one line in :data:`CASES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from streamguard.anomaly.centroid import CentroidNovelty
from streamguard.anomaly.level import LevelShift, RunningStats
from streamguard.anomaly.models import KeyedPrice, NumericAnomaly
from streamguard.anomaly.record import RecordScorer
from streamguard.anomaly.text import TextSurprise
from streamguard.drift.contamination import ContaminationDetector
from streamguard.drift.engine import DriftEngine
from streamguard.drift.gradual import GradualDriftDetector
from streamguard.drift.language import LanguageDriftDetector
from streamguard.drift.schema_drift import SchemaDriftDetector
from streamguard.drift.semantic_drift import SemanticDriftDetector
from streamguard.embed.hashing import HashingEmbedder
from streamguard.events.models import PRODUCT_OPS, ProductEvent
from streamguard.events.records import SourcePosition
from streamguard.inventory import StreamProfile
from streamguard.pipeline import RecordPipeline
from streamguard.quality.completeness import Completeness
from streamguard.quality.detector import DropDetector
from streamguard.quality.dimensions import (
    AnomalyRate,
    Consistency,
    Timeliness,
    Uniqueness,
    Validity,
)
from streamguard.quality.scorer import QualityScorer
from tests.unit import drift_scenarios as sc

Record = dict[str, Any]
Feed = Callable[[Any, Record, int], Any]

NOW = 1_793_491_300.0
EMBED = HashingEmbedder(dim=64).embed
#: A catalogue for consistency: every other product, at a price most events disagree with.
CATALOGUE = {f"p{i:05d}": {"price": 30.0, "currency": "USD"} for i in range(0, 1000, 2)}


def clock() -> float:
    """A fixed clock that pickles (a lambda would not)."""
    return NOW


def pos(i: int) -> SourcePosition:
    return SourcePosition("contract", 0, i)


@dataclass(frozen=True)
class Case:
    """One estimator under contract: ``make()`` a fresh one, ``feed(it, record, i)``."""

    name: str
    stream: str
    make: Callable[[], Any]
    feed: Feed

    def __str__(self) -> str:
        return self.name


# --- what the worker hands each estimator, from one record ------------------------------


def number(value: Any) -> float | None:
    """A JSON number as the engine reads it (bools are not numbers)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def findings(found: list[Any]) -> list[dict[str, Any]]:
    return [f.as_dict() for f in found]


def feed_schema(d: SchemaDriftDetector, record: Record, i: int) -> Any:
    return findings(d.update(record, pos(i)))


def feed_semantic(d: SemanticDriftDetector, record: Record, i: int) -> Any:
    value = text(record.get("category"))
    if value is None:
        return None
    found = d.update(value, EMBED([value])[0], pos(i))
    return None if found is None else found.as_dict()


def feed_numeric(m: NumericAnomaly, record: Record, i: int) -> Any:
    # Every numeric field, known or not: a new feature must not break the model.
    features = {k: x for k, v in record.items() if (x := number(v)) is not None}
    return m.score_and_learn(f"{record.get('category')}:{record.get('currency')}", features)


def feed_surprise(m: TextSurprise, record: Record, i: int) -> Any:
    value = text(record.get("title"))
    return None if value is None else m.score_and_learn(value)


def feed_keyed_price(m: KeyedPrice, record: Record, i: int) -> Any:
    price, product = number(record.get("price")), text(record.get("product_id"))
    if price is None or product is None:
        return None
    return m.score_and_learn((product, text(record.get("currency"))), price)


def feed_running_stats(s: RunningStats, record: Record, i: int) -> Any:
    price = number(record.get("price"))
    if price is not None:
        s.update(math.log1p(max(price, 0.0)))
    return (s.n, s.mean, s.std)


def feed_level_shift(shift: LevelShift, record: Record, i: int) -> Any:
    price = number(record.get("price"))
    if price is None:
        return None
    x = math.log1p(max(price, 0.0))
    # Distance from a fixed usual level (log price ~3, spread 1): the drifted part of the
    # stream (prices x1000 from record 240) is far away, the rest near.
    detected = shift.update(x, abs(x - 3.0))
    return (detected, round(shift.cusum, 9))


def feed_centroid(c: CentroidNovelty, record: Record, i: int) -> Any:
    value = text(record.get("category"))
    if value is None:
        return None
    score = c.score_one(value)
    c.learn_many([value], EMBED([value]))
    return (score, c.usual, c.spread)


def feed_scorer(s: RecordScorer, record: Record, i: int) -> Any:
    result = s.score_and_learn(record)
    value = text(record.get("category"))
    if value is not None:
        s.learn_vectors("category", [value], EMBED([value]))
    return result


_BARE = {
    "behavior": RecordPipeline("behavior", clock=clock),
    "product": RecordPipeline("product", clock=clock),
}


def feed_observer(observer: Any, record: Record, i: int) -> Any:
    """The pipeline's hooks: the record as decoded, then (a fresh copy of) its clean form
    and the decision, from a bare pipeline (no dedupe, so it keeps no state)."""
    source = pos(i)
    observer.on_decoded(record, source)
    outcome = _BARE[observer.stream].process(orjson.dumps(record), source)
    if outcome.record is not None:
        observer.on_clean(outcome.record, source)
    observer.on_outcome(outcome)
    found = observer.drain_findings()
    dq = outcome.record["_dq"] if outcome.record is not None else None
    return dq, [f if isinstance(f, dict) else f.as_dict() for f in found]


def feed_quality(scorer: QualityScorer, record: Record, i: int) -> Any:
    return (*feed_observer(scorer, record, i), scorer.snapshot())


def feed_drop(d: DropDetector, record: Record, i: int) -> Any:
    # A window mean per record: the share of the last record's fields that are numbers.
    values = list(record.values())
    return d.learn_one(sum(number(v) is not None for v in values) / max(1, len(values)))


def windowed(learn: Feed) -> Feed:
    """A quality dimension: learn one, close a window every 10 records, read the score."""

    def feed(dimension: Any, record: Record, i: int) -> Any:
        out = learn(dimension, record, i)
        closed = dimension.close_window() if i % 10 == 9 else None
        return out, closed, dimension.get()

    return feed


# --- fresh estimators, small enough that the sample stream makes them fire ---------------


def schema_detector() -> SchemaDriftDetector:
    return SchemaDriftDetector(
        "product",
        ProductEvent.model_fields,
        group_field="op",
        group_values=PRODUCT_OPS,
        block_size=20,
        warmup=40,
        min_support=5,
        clock=clock,
    )


def semantic_detector() -> SemanticDriftDetector:
    return SemanticDriftDetector("product", "category", block_size=20, warmup=60, clock=clock)


def drift_engine(stream: str) -> DriftEngine:
    return DriftEngine(
        stream,
        embedder=HashingEmbedder(dim=64),
        synchronous=True,
        batch_size=16,
        semantic_options={"block_size": 20, "warmup": 60},
        schema_options={"block_size": 20, "warmup": 40, "min_support": 5},
        clock=clock,
    )


def quality_scorer(stream: str) -> QualityScorer:
    catalogue = CATALOGUE if stream == "behavior" else None  # consistency: behaviour only
    return QualityScorer(
        stream, catalogue=catalogue, clock=clock, window=20, detector_min_windows=3
    )


def record_scorer(stream: str) -> RecordScorer:
    return RecordScorer(
        stream, text_fields=("query",) if stream == "behavior" else ("title", "category")
    )


def learn_record(dimension: Any, record: Record, i: int) -> Any:
    return dimension.learn_one(record)


def learn_status(dimension: Validity, record: Record, i: int) -> Any:
    return dimension.learn_one("valid" if number(record.get("price")) is not None else "quarantine")


def learn_duplicate(dimension: Uniqueness, record: Record, i: int) -> Any:
    return dimension.learn_one(str(record.get("event_id")).endswith(("7", "a")))


def learn_lag(dimension: Timeliness, record: Record, i: int) -> Any:
    return dimension.learn_one(NOW - (number(record.get("price")) or 0.0), NOW)


def learn_anomaly_score(dimension: AnomalyRate, record: Record, i: int) -> Any:
    price = record.get("price")  # raw: a string or a list must be tolerated
    return dimension.learn_one(price / 1000.0 if number(price) is not None else price)


def learn_inventory(profile: StreamProfile, record: Record, i: int) -> Any:
    profile.learn_one(record)
    return profile.snapshot() if i % 50 == 49 else None


#: Every detector and scorer of the package: a new one joins with one line.
CASES: list[Case] = [
    Case("SchemaDriftDetector", "product", schema_detector, feed_schema),
    Case("SemanticDriftDetector", "product", semantic_detector, feed_semantic),
    Case(
        "ContaminationDetector",
        "product",
        lambda: ContaminationDetector(
            "product", "category", warmup=100, recur_window=20, clock=clock
        ),
        feed_semantic,
    ),
    Case(
        "LanguageDriftDetector",
        "product",
        lambda: LanguageDriftDetector(
            "product", "description", block_size=20, warmup=40, min_letters=5, clock=clock
        ),
        lambda d, r, i: (
            (t := text(r.get("description")))
            and ((f := d.update(t, pos(i))) and f.as_dict(), d.last_statistic)
        ),
    ),
    Case(
        "GradualDriftDetector",
        "product",
        lambda: GradualDriftDetector("product", "title", warmup=60, clock=clock),
        lambda d, r, i: (
            (t := text(r.get("title")))  # every 7th title: random characters, repeating
            and ((f := d.update(t, EMBED([t])[0], pos(i))) and f.as_dict(), d.statistic)
        ),
    ),
    Case("NumericAnomaly", "product", lambda: NumericAnomaly(min_count=10), feed_numeric),
    Case("TextSurprise", "product", lambda: TextSurprise(min_count=10), feed_surprise),
    Case("KeyedPrice", "behavior", KeyedPrice, feed_keyed_price),
    Case("RunningStats", "product", lambda: RunningStats(horizon=100), feed_running_stats),
    Case("LevelShift", "product", lambda: LevelShift(confirm=10), feed_level_shift),
    Case("CentroidNovelty", "product", lambda: CentroidNovelty(dim=64), feed_centroid),
    Case("RecordScorer.product", "product", lambda: record_scorer("product"), feed_scorer),
    Case("RecordScorer.behavior", "behavior", lambda: record_scorer("behavior"), feed_scorer),
    Case("DriftEngine.product", "product", lambda: drift_engine("product"), feed_observer),
    Case("DriftEngine.behavior", "behavior", lambda: drift_engine("behavior"), feed_observer),
    Case("QualityScorer.product", "product", lambda: quality_scorer("product"), feed_quality),
    Case("QualityScorer.behavior", "behavior", lambda: quality_scorer("behavior"), feed_quality),
    Case("DropDetector", "product", lambda: DropDetector(min_windows=3, threshold=0.2), feed_drop),
    Case("Completeness", "product", lambda: Completeness("product"), windowed(learn_record)),
    Case("Validity", "product", lambda: Validity(0.3), windowed(learn_status)),
    Case("Uniqueness", "behavior", lambda: Uniqueness(0.3), windowed(learn_duplicate)),
    Case("Timeliness", "behavior", lambda: Timeliness(late_after_s=60), windowed(learn_lag)),
    Case("Consistency", "behavior", lambda: Consistency(CATALOGUE), windowed(learn_record)),
    Case("AnomalyRate", "product", lambda: AnomalyRate(0.5, 0.3), windowed(learn_anomaly_score)),
    Case("StreamProfile", "product", lambda: StreamProfile("product"), learn_inventory),
]


# --- the sample streams -------------------------------------------------------------------


def _product_drift(record: Record, i: int) -> Record:
    """From the drift point: titles land in ``category``, a third of prices as strings,
    and every seventh title is random characters."""
    if i % 7 == 0 and "title" in record:
        record["title"] = "".join("xq#Zp!kw9Vj$3@"[(i * k) % 14] for k in range(1, 16))
    changed = sc.titles_into_category(record, i) or record
    if i % 3 == 0 and number(changed.get("price")) is not None:
        changed["price"] = str(changed["price"])
    return changed


def _behaviour_drift(record: Record, i: int) -> Record:
    """From the drift point: every fifth priced event costs a thousand times more."""
    price = number(record.get("price"))
    if i % 5 == 0 and price is not None:
        record["price"] = round(price * 1000, 2)
    return record


def streams(count: int = 400) -> dict[str, list[Record]]:
    """Clean records, drifting from 60% on, per stream."""
    start = count * 3 // 5
    return {
        "product": sc.drift_from(sc.synthetic_products(count), start, _product_drift),
        "behavior": sc.drift_from(sc.synthetic_behavior(count), start, _behaviour_drift),
    }


_WRONG_TYPES: Record = {
    "price": "9.99",
    "stock": True,
    "quantity": "two",
    "title": 123,
    "category": None,
    "currency": ["EUR"],
    "product_id": {"id": 1},
    "description": 3.5,
    "query": ["red", "shoes"],
    "event_type": 7,
    "op": None,
    "ts": "yesterday",
    "event_id": 42,
}
_OPTIONAL = ("description", "brand", "currency", "price", "stock", "quantity", "query", "title")


def messy(records: list[Record]) -> list[Record]:
    """The same records with unknown fields, missing optional fields, or wrong types."""
    out: list[Record] = [{}, {"event_id": None}, {"unexpected": [1, {"deep": None}]}]
    for i, original in enumerate(records):
        record = dict(original)
        kind = i % 4
        if kind == 0:
            record["zz_unknown"] = {"nested": [1, 2.5, None]}
            record[f"utm_{i % 7}"] = "newsletter"
        elif kind == 1:
            for name in _OPTIONAL:
                record.pop(name, None)
        elif kind == 2:
            record.update({k: v for k, v in _WRONG_TYPES.items() if i % 3 or k in record})
        out.append(record)
    return out
