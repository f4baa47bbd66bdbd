"""Semantic drift with the real all-MiniLM-L6-v2 on CPU (the default model).

Few distinct texts on purpose (MiniLM costs ~10-30 ms per text here): Olist categories
(73 values), MovieLens genres, and synthetic categories. The model loads once per session.
"""

from __future__ import annotations

import orjson
import pytest

from streamguard.config import Settings
from streamguard.drift.engine import DriftEngine
from streamguard.events.records import SourcePosition
from streamguard.pipeline import RecordPipeline
from streamguard.wiring import LazyEmbedder, build_embedder
from tests.unit import drift_scenarios as sc


@pytest.fixture(scope="session")
def minilm() -> LazyEmbedder:
    embedder = build_embedder(Settings(device="cpu"))
    assert isinstance(embedder, LazyEmbedder)
    return embedder


def category_findings(records: list[sc.Record], minilm: LazyEmbedder) -> list[dict[str, object]]:
    """Run only the category field through the engine (keeps the model's work small)."""
    engine = DriftEngine("product", embedder=minilm, synchronous=True, text_fields=("category",))
    pipeline = RecordPipeline("product", observers=[engine])
    for i, record in enumerate(records):
        pipeline.process(orjson.dumps(record), SourcePosition("t", 0, i))
    engine.close()
    return [f.as_dict() for f in engine.drain_findings() if f.kind == "semantic_drift"]


def test_olist_sorted_by_category_is_not_drift(minilm: LazyEmbedder) -> None:
    assert category_findings(sc.sorted_by(sc.olist(), "category")[:8000], minilm) == []


def test_olist_bulk_loads_are_not_drift(minilm: LazyEmbedder) -> None:
    assert category_findings(sc.bulk_loads(sc.olist(), "category")[:6000], minilm) == []


def test_olist_category_losing_its_translation_is_drift(minilm: LazyEmbedder) -> None:
    records = sc.drift_from(sc.olist(6000), 4000, sc.untranslated_category)
    found = category_findings(records, minilm)
    assert found and found[0]["field"] == "category"
    assert 4000 <= found[0]["position"]["offset"] < 4300  # type: ignore[index,operator]


def test_movielens_genres_sorted_are_not_drift(minilm: LazyEmbedder) -> None:
    assert category_findings(sc.sorted_by(sc.movies(), "category")[:5000], minilm) == []


def test_synthetic_titles_into_category_is_drift(minilm: LazyEmbedder) -> None:
    records = sc.drift_from(sc.synthetic_products(1500, seed=4), 1200, sc.titles_into_category)
    found = category_findings(records, minilm)
    assert found and found[0]["field"] == "category"
    assert 1200 <= found[0]["position"]["offset"] < 1500  # type: ignore[index,operator]
