"""The micro-batcher and the cache: bounded waits, one pass per batch, sampling under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from streamguard.embed.base import Vectors
from streamguard.embed.batcher import Item, MicroBatcher
from streamguard.embed.cache import EmbeddingCache
from streamguard.embed.hashing import HashingEmbedder


class GatedEmbedder:
    """A fake model that records its batches and can be held to simulate a slow GPU."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder(dim=8)
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    @property
    def dim(self) -> int:
        return 8

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("model exploded")
        self.calls.append(len(texts))
        return self.inner.embed(texts)


def wait_for(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def test_a_lone_text_waits_at_most_about_max_wait() -> None:
    got: list[Item] = []
    model = GatedEmbedder()
    batcher = MicroBatcher(model, on_batch=lambda items, v: got.extend(items), max_wait_ms=20)
    batcher.start()
    try:
        started = time.monotonic()
        batcher.submit("only one", "tag")
        assert wait_for(lambda: got)
        assert time.monotonic() - started < 1.0  # 20 ms nominal; generous on a busy CI box
        assert got == [("only one", "tag")] and model.calls == [1]
    finally:
        batcher.stop()


def test_full_batches_go_in_one_forward_pass_and_repeats_hit_the_cache() -> None:
    rows: list[Vectors] = []
    model = GatedEmbedder()
    model.gate.clear()  # hold the model until everything is queued
    cache = EmbeddingCache()
    batcher = MicroBatcher(
        model, on_batch=lambda items, v: rows.append(v), cache=cache, batch_size=64, max_wait_ms=5
    )
    batcher.start()
    try:
        for i in range(128):
            assert batcher.submit(f"brand {i % 16}")
        model.gate.set()
        assert batcher.flush(5.0)
    finally:
        batcher.stop()
    assert sum(len(r) for r in rows) == 128
    assert sum(model.calls) == 16  # 16 distinct texts embedded once each
    assert max(model.calls) <= 64
    # within a batch repeats are deduped; across batches they hit the cache
    assert cache.misses == 16 and cache.hits == 16
    for block in rows:
        assert np.allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-5)


def test_overload_samples_instead_of_blocking() -> None:
    model = GatedEmbedder()
    model.gate.clear()  # the model is stuck: the queue can only grow
    batcher = MicroBatcher(
        model, on_batch=lambda items, v: None, batch_size=10, max_queue=100, max_wait_ms=1
    )
    batcher.start()
    try:
        started = time.perf_counter()
        accepted = sum(batcher.submit(f"t{i}") for i in range(5000))
        per_submit = (time.perf_counter() - started) / 5000
        assert per_submit < 50e-6  # never waits for the model
        assert accepted <= 100 + 10  # the bound (plus the batch in flight)
        assert batcher.dropped > 0
        model.gate.set()
        assert wait_for(lambda: batcher.sampling_rate < 1.0)  # queue was > half full
        assert batcher.flush(5.0)
        rate = batcher.sampling_rate
        kept = sum(batcher.submit(f"u{i}") for i in range(100))
        assert kept == pytest.approx(100 * rate, abs=2)  # deterministic credit sampling
        assert batcher.stats()["sampled_out"] > 0
    finally:
        batcher.stop()


def test_a_failing_batch_is_counted_and_the_thread_survives() -> None:
    got: list[Item] = []
    model = GatedEmbedder()
    model.fail = True
    batcher = MicroBatcher(model, on_batch=lambda items, v: got.extend(items), max_wait_ms=1)
    batcher.start()
    try:
        batcher.submit("boom")
        assert wait_for(lambda: batcher.errors == 1)
        model.fail = False
        batcher.submit("fine")
        assert wait_for(lambda: got == [("fine", None)])
    finally:
        batcher.stop()


def test_flush_without_a_thread_times_out_and_bad_arguments_are_refused() -> None:
    batcher = MicroBatcher(HashingEmbedder(dim=4), on_batch=lambda items, v: None)
    batcher.submit("queued")
    assert batcher.flush(0.05) is False
    with pytest.raises(ValueError, match="batch_size"):
        MicroBatcher(HashingEmbedder(), on_batch=lambda i, v: None, batch_size=100, max_queue=10)
    with pytest.raises(ValueError, match="max_wait_ms"):
        MicroBatcher(HashingEmbedder(), on_batch=lambda i, v: None, max_wait_ms=0)


class BusyEmbedder(GatedEmbedder):
    """A fake model that burns CPU for each batch, on the ``device`` it claims."""

    def __init__(self, device: str = "cpu") -> None:
        super().__init__()
        self.device = device

    def embed(self, texts: Sequence[str]) -> Vectors:
        deadline = time.perf_counter() + 0.005
        while time.perf_counter() < deadline:  # work, not a sleep: the time is CPU time
            pass
        return super().embed(texts)


@pytest.mark.parametrize(
    ("share", "device", "rest_per_busy"),
    [
        (0.5, "cpu", 1.0),  # rests as long as it worked
        (0.25, "cpu", 3.0),
        (1.0, "cpu", 0.0),  # no limit
        (0.5, "cuda", 0.0),  # a GPU model is never held back
    ],
)
def test_cpu_share_rests_in_proportion_to_batch_time(
    share: float, device: str, rest_per_busy: float
) -> None:
    model = BusyEmbedder(device)
    batcher = MicroBatcher(
        model, on_batch=lambda items, v: None, batch_size=4, max_wait_ms=1, cpu_share=share
    )
    batcher.start()
    try:
        for i in range(12):
            assert batcher.submit(f"text {i}")
        assert batcher.flush(10.0)
    finally:
        batcher.stop()
    busy = sum(seconds for _, seconds in batcher.recent_batches)
    assert busy > 0 and batcher.processed == 12
    assert batcher.rested_s == pytest.approx(busy * rest_per_busy)


def test_stop_cuts_a_rest_short_and_a_bad_share_is_refused() -> None:
    batcher = MicroBatcher(
        BusyEmbedder(), on_batch=lambda items, v: None, max_wait_ms=1, cpu_share=0.001
    )
    batcher.start()
    batcher.submit("one")
    assert wait_for(lambda: batcher.rested_s > 0)  # resting ~5 s after a ~5 ms batch
    started = time.monotonic()
    batcher.stop(timeout=10.0)
    assert time.monotonic() - started < 2.5
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="cpu_share"):
            MicroBatcher(HashingEmbedder(), on_batch=lambda i, v: None, cpu_share=bad)


def test_cache_is_bounded_lru() -> None:
    cache = EmbeddingCache(max_entries=3)
    for text in "abcd":
        cache.put(text, np.zeros(2, np.float32))
    assert len(cache) == 3 and cache.peek("a") is None
    assert cache.get("b") is not None  # b becomes most recent
    cache.put("e", np.zeros(2, np.float32))
    assert cache.peek("c") is None and cache.peek("b") is not None
    with pytest.raises(ValueError):
        EmbeddingCache(0)


class GpuEmbedder(GatedEmbedder):
    """The gated fake, reporting a GPU."""

    device = "cuda"


@pytest.mark.parametrize(
    ("model", "largest", "take"), [(GatedEmbedder(), 64, 64), (GpuEmbedder(), 1000, 4096)]
)
def test_on_a_gpu_a_backlog_goes_in_one_big_batch(
    model: GatedEmbedder, largest: int, take: int
) -> None:
    model.gate.clear()  # the first batch holds the model while a backlog builds up
    rows: list[int] = []
    batcher = MicroBatcher(
        model, on_batch=lambda items, v: rows.append(len(items)), batch_size=64, max_wait_ms=5
    )
    batcher.start()
    try:
        for i in range(64):
            batcher.submit(f"first {i}")
        assert wait_for(lambda: batcher.queue_depth == 0)  # taken: the thread waits on the gate
        for i in range(1000):
            batcher.submit(f"backlog {i}")
        model.gate.set()
        assert batcher.flush(10.0)
    finally:
        batcher.stop()
    assert sum(rows) == 1064 and sum(model.calls) == 1064
    assert max(model.calls) == largest  # on a GPU the whole backlog in one forward pass
    assert batcher.take_size == take
