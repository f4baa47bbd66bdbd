"""ContentIndex: batched embedding, exact incremental top-k, bounds, text changes."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
import pytest

from streamguard.embed.hashing import HashingEmbedder
from streamguard.recommender.content import ContentIndex, product_text
from streamguard.recommender.content_source import ContentSource


class FakeEmbedder:
    """Random, deterministic, *unnormalised* float64 vectors per text; counts calls."""

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        rows = [
            np.random.default_rng(zlib.crc32(t.encode())).normal(size=self.dim) * 3.0 for t in texts
        ]
        # float64 on purpose: the index must cast and normalise what it is given
        return cast("npt.NDArray[np.float32]", np.array(rows).reshape(len(texts), self.dim))


def _product(pid: str, title: str, **extra: object) -> dict[str, object]:
    return {"product_id": pid, "op": "upsert", "title": title, **extra}


def _brute_force(
    index: ContentIndex, embedder: FakeEmbedder, texts: dict[str, str]
) -> dict[str, list[str]]:
    ids = list(texts)
    raw = embedder.embed([texts[p] for p in ids])
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    scores = unit @ unit.T
    out = {}
    for i, pid in enumerate(ids):
        order = [j for j in np.argsort(-scores[i]) if j != i and scores[i, j] > 0]
        out[pid] = [ids[j] for j in order[: index.k]]
    return out


def test_product_text_uses_title_description_and_genres_or_category() -> None:
    movie = {
        "title": "Heat (1995)",
        "category": "movies/action",
        "attributes": {"genres": ["Action", "Crime", "Thriller"], "year": 1995},
    }
    assert product_text(movie) == "Heat (1995). Action, Crime, Thriller"
    shop = {"title": "Tent", "description": "Two-person dome", "category": "outdoor/camping"}
    assert product_text(shop) == "Tent. Two-person dome. outdoor camping"
    assert product_text({"category": "books"}) == "books"
    assert product_text({"title": "  ", "attributes": {"genres": []}}) is None


def test_observe_only_queues_and_refresh_embeds_one_capped_batch() -> None:
    embedder = FakeEmbedder()
    index = ContentIndex(embedder, k=3)
    for n in range(10):
        assert index.observe(_product(f"p{n}", f"title {n}"))
    assert embedder.calls == [] and index.pending == 10 and len(index) == 0
    assert index.refresh(max_batch=4) == 4
    assert embedder.calls == [4] and index.pending == 6 and len(index) == 4
    assert index.refresh(max_batch=100) == 6
    assert embedder.calls == [4, 6] and index.pending == 0
    assert index.refresh() == 0 and embedder.calls == [4, 6]  # nothing queued: no call


def test_incremental_lists_equal_brute_force_top_k() -> None:
    embedder = FakeEmbedder(dim=6)
    index = ContentIndex(embedder, k=4)
    texts = {f"p{n}": f"product number {n}" for n in range(60)}
    ids = list(texts)
    for start in range(0, 60, 7):  # uneven batches: each enters older lists
        for pid in ids[start : start + 7]:
            index.observe(_product(pid, texts[pid]))
        index.refresh(max_batch=7)
    expected = _brute_force(index, embedder, texts)
    for pid in ids:
        got = index.neighbours(pid)
        assert [item for item, _ in got] == expected[pid]
        assert all(score > 0 for _, score in got)
        assert pid not in [item for item, _ in got]
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)


def test_text_change_and_delete_keep_lists_exact() -> None:
    embedder = FakeEmbedder(dim=6)
    index = ContentIndex(embedder, k=3)
    texts = {f"p{n}": f"item {n}" for n in range(30)}
    for pid, text in texts.items():
        index.observe(_product(pid, text))
    index.refresh(max_batch=100)
    # the same text again queues nothing; a new text does
    assert not index.observe(_product("p1", "item 1"))
    for pid in ("p1", "p2", "p3"):
        texts[pid] = f"a completely new text for {pid}"
        assert index.observe(_product(pid, texts[pid]))
    # a stock change without text keeps the vector
    assert not index.observe({"product_id": "p4", "op": "upsert", "stock": 0})
    assert index.observe({"product_id": "p5", "op": "delete"})
    del texts["p5"]
    assert "p5" not in index and index.neighbours("p5") == ()
    for pid in texts:  # out of every list at once, before the lists are refilled
        assert "p5" not in [item for item, _ in index.neighbours(pid)]
    assert index.due
    index.refresh()
    assert not index.due
    expected = _brute_force(index, embedder, texts)
    for pid in texts:
        assert [item for item, _ in index.neighbours(pid)] == expected[pid], pid


def test_bounded_the_least_recently_seen_goes_first() -> None:
    embedder = FakeEmbedder()
    index = ContentIndex(embedder, k=2, max_items=3)
    for pid in ("a", "b", "c"):
        index.observe(_product(pid, f"text {pid}"))
    index.refresh()
    index.observe(_product("a", "text a"))  # seen again: "b" is now the oldest
    index.observe(_product("d", "text d"))
    index.refresh()
    assert len(index) == 3
    assert "b" not in index and {"a", "c", "d"} <= {p for p in ("a", "c", "d") if p in index}
    for pid in ("a", "c", "d"):
        assert "b" not in [item for item, _ in index.neighbours(pid)]


def test_vectors_are_unit_float32_and_a_changed_dimension_fails() -> None:
    embedder = FakeEmbedder(dim=5)
    index = ContentIndex(embedder, k=2)
    index.observe(_product("a", "x"))
    index.observe(_product("b", "y"))
    index.refresh()
    held = index._vectors[: len(index)]  # the stored rows
    assert held.dtype == np.float32
    assert np.allclose(np.linalg.norm(held, axis=1), 1.0, atol=1e-6)
    embedder.dim = 7
    index.observe(_product("c", "z"))
    with pytest.raises(ValueError, match="dimension"):
        index.refresh()


def test_hashing_embedder_finds_products_sharing_words() -> None:
    index: ContentSource = ContentIndex(HashingEmbedder(dim=512), k=2)
    assert isinstance(index, ContentIndex)
    for pid, title, genres in [
        ("m1", "Toy Story (1995)", ["Animation", "Children", "Comedy"]),
        ("m2", "Toy Story 2 (1999)", ["Animation", "Children", "Comedy"]),
        ("m3", "Heat (1995)", ["Action", "Crime", "Thriller"]),
        ("m4", "Casino (1995)", ["Crime", "Drama"]),
    ]:
        index.observe(_product(pid, title, attributes={"genres": genres}))
    index.refresh()
    assert index.neighbours("m1")[0][0] == "m2"
    assert index.neighbours("m3")[0][0] == "m4"
    assert "m1" in index and "nope" not in index


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        ContentIndex(FakeEmbedder(), k=0)
    with pytest.raises(ValueError):
        ContentIndex(FakeEmbedder()).refresh(max_batch=0)
    assert not ContentIndex(FakeEmbedder()).observe({"title": "no id"})
