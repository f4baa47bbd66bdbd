"""The content embedder: a model loaded in the background; the index waits for it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from streamguard.embed import backend
from streamguard.embed.base import Embedder
from streamguard.embed.hashing import HashingEmbedder
from streamguard.recommender.content import ContentIndex
from streamguard.recommender.content_embedder import BackgroundEmbedder, content_embedder


def test_the_index_embeds_nothing_until_the_model_is_loaded() -> None:
    release = threading.Event()

    def slow() -> Embedder:
        assert release.wait(30.0)
        return HashingEmbedder(dim=32)

    embedder = BackgroundEmbedder(slow)
    index = ContentIndex(embedder)
    index.queue("p1", "red shoes")
    index.queue("p2", "red boots")
    assert not embedder.ready and index.refresh() == 0 and index.pending == 2
    with pytest.raises(RuntimeError, match="not loaded"):
        embedder.embed(["x"])
    release.set()
    assert embedder.wait(30.0) and embedder.dim == 32
    assert index.refresh() == 2 and "p1" in index


def test_the_model_loads_only_once_a_text_is_to_be_embedded() -> None:
    loads: list[int] = []

    def factory() -> Embedder:
        loads.append(1)
        return HashingEmbedder(dim=8)

    embedder = BackgroundEmbedder(factory)
    index = ContentIndex(embedder)
    assert not index.due and not embedder.started and loads == []  # no text: no model
    index.queue("p1", "red shoes")
    index.refresh()  # asks whether the model is ready: that starts loading it
    assert embedder.started and embedder.wait(30.0) and loads == [1]
    index.refresh()
    assert "p1" in index and loads == [1]


def test_a_model_that_fails_to_load_leaves_content_off(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Embedder:
        raise OSError("no such model")

    embedder = BackgroundEmbedder(broken)
    assert not embedder.wait(30.0)
    assert "content embedder did not load" in caplog.text
    index = ContentIndex(embedder)
    index.queue("p1", "text")
    assert index.refresh() == 0 and index.pending == 1


def test_a_model_loads_on_the_cpu_with_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_load(model: str, device: str, chosen: str, **options: Any) -> Embedder:
        calls.append((model, device, chosen, options["threads"]))
        return HashingEmbedder(dim=16)

    monkeypatch.setattr(backend, "load_embedder", fake_load)
    embedder = content_embedder("some-model", "auto", None)
    assert isinstance(embedder, BackgroundEmbedder) and embedder.wait(30.0)
    assert calls == [("some-model", "cpu", "onnx", 1)]
    assert isinstance(content_embedder("hashing"), HashingEmbedder)
    torch = content_embedder("some-model", "torch")
    assert isinstance(torch, BackgroundEmbedder) and torch.wait(30.0)
    assert calls[-1][2] == "torch"
