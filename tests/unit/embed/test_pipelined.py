"""The torch path's pipeline (tokenize ahead, length buckets, host copies) changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from streamguard.embed.transformer import TransformerEmbedder

TEXTS = [
    "A compact espresso machine with a 15-bar pump, milk frother and removable water tank.",
    "x",
    "Zentek wireless earbuds with charging case",
    "",
    "home/garden/tools",
    "Portable solar charger 20000mAh power bank for camping, waterproof, two USB ports",
    "perfume",
    "Men's leather wallet, RFID blocking, brown",
    "cheap gaming mouse",
    "x",
]


@pytest.fixture(scope="module")
def minilm() -> TransformerEmbedder:
    return TransformerEmbedder(device="cpu")


def _padded_reference(model: TransformerEmbedder, texts: list[str]) -> np.ndarray:
    """Today's path before the pipeline: one padded batch from the transformers tokenizer."""
    import torch

    batch = model._tokenizer(
        texts, padding=True, truncation=True, max_length=128, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = model._network(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()


@pytest.mark.parametrize(("bucket_size", "slice_buckets"), [(1, 4), (3, 4), (2, 1), (256, 4)])
def test_buckets_and_slices_give_todays_vectors_in_order(
    minilm: TransformerEmbedder, bucket_size: int, slice_buckets: int
) -> None:
    want = _padded_reference(minilm, TEXTS)
    # (1, 4): three slices of four, each tokenized while the one before runs; (2, 1):
    # the CUDA layout, five slices of one bucket
    minilm.bucket_size, minilm._slice_buckets = bucket_size, slice_buckets
    try:
        got = minilm.embed(TEXTS)
    finally:
        minilm.bucket_size, minilm._slice_buckets = 64, 4  # the CPU defaults
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    cosine = np.sum(got * want, axis=1)
    assert cosine.min() >= 0.999, cosine
    assert np.allclose(got[1], got[9], atol=1e-5)  # the same text, wherever it lands


def test_concurrent_callers_each_get_their_own_rows(minilm: TransformerEmbedder) -> None:
    import threading

    results: dict[int, np.ndarray] = {}

    def call(index: int) -> None:
        results[index] = minilm.embed(TEXTS[index:] + TEXTS[:index])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    base = minilm.embed(TEXTS)
    for index, got in results.items():
        assert np.allclose(np.roll(got, index, axis=0), base, atol=1e-4)


def test_bucket_size_is_validated() -> None:
    with pytest.raises(ValueError, match="bucket_size"):
        TransformerEmbedder(device="cpu", bucket_size=0)
